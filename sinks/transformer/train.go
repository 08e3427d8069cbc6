package transformer

import (
	"fmt"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// Forward builds the plain forward pass for training: tokens [b, p] (int32) → logits [b, p, v]
// (float32), reading the canonical parameters ("blocks/0/attn/q/weights", …) from store — the same
// readable pass every analysis runs, without hooks or captures, so gradients flow through exactly
// the computation the findings inspect.
func Forward(store *model.Store, cfg *Config, tokens *Node) *Node {
	return ForwardMixed(store, cfg, tokens, dtypes.Float32)
}

// ForwardMixed is Forward with the matrix products in matmul's dtype (BFloat16 for mixed-precision
// training on a GPU); parameters stay float32, and norms, softmax and the logits are float32.
func ForwardMixed(store *model.Store, cfg *Config, tokens *Node, matmul dtypes.DType) *Node {
	p := &pass{
		cfg: cfg, store: store, g: tokens.Graph(),
		hooks: map[string][]Hook{}, capture: map[string]bool{}, captured: map[string]*Node{}, inputs: map[string]*Node{},
		blocks: cfg.NLayers, matmul: matmul,
	}
	return p.forward(tokens, true)
}

// FromStore wraps a store that already holds every parameter of cfg (e.g. one being trained) as a
// Model for analysis runs. The store is shared, not copied: runs read its current values.
func FromStore(backend compute.Backend, cfg *Config, store *model.Store) (*Model, error) {
	if backend == nil || store == nil {
		return nil, fmt.Errorf("transformer.FromStore: nil backend or store")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	for name, dims := range cfg.ParamShapes() {
		v := store.GetVariable("/" + name)
		if v == nil {
			return nil, fmt.Errorf("transformer.FromStore: the store has no parameter %q %v", name, dims)
		}
		if !equalDims(v.Shape().Dimensions, dims) {
			return nil, fmt.Errorf("transformer.FromStore: parameter %q has shape %v; want %v", name, v.Shape().Dimensions, dims)
		}
	}
	return &Model{Config: cfg, Backend: backend, Store: store, execs: make(map[string]*runExec), stages: make(map[string]*stageExec), sharedStore: true}, nil
}

// DropCompiled forgets the compiled analysis graphs and frees what they hold; the next run compiles
// again.
func (m *Model) DropCompiled() {
	m.runs.Lock() // waits for the runs in flight
	defer m.runs.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dropCompiled()
}

// dropCompiled frees every compiled run graph; m.runs is held for writing (no run in flight) and m.mu.
func (m *Model) dropCompiled() {
	for key, e := range m.execs {
		e.Finalize()
		delete(m.execs, key)
	}
	for key, s := range m.stages {
		s.exec.Finalize()
		delete(m.stages, key)
	}
}
