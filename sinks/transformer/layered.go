package transformer

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// Layered execution: a run is a chain of stages — the embedding, one stage per block, the final
// norm and unembedding — each a compiled graph whose weights are graph inputs. Blocks that ask the
// same of their hook points (the same captures, reductions and hooks, by name relative to the
// block) share one compiled graph, called once per layer with that layer's weights: a 32-layer
// model capturing every attention pattern compiles three small graphs (embedding, block, final)
// instead of one graph of 32 blocks, and the residual stream passes from stage to stage on the
// device. The arithmetic is the whole-graph pass's, stage by stage. It is opt-in (SetLayered,
// SetLayeredFrom).
//
// Sharing across layers relies on the contracts of Hook and Reduction: a reduction's graph depends
// only on its ID (its HookContext names the layer the shared graph was first built for), and a
// hooked block is compiled for its own layer, because hooks may read HookContext.Layer.

type stageKind int

const (
	stageEmbed stageKind = iota
	stageBlock
	stageFinal
)

// stage is one step of a layered run.
type stage struct {
	kind  stageKind
	layer int // the block, −1 for the embedding and the final stage
}

func (s stage) String() string {
	switch s.kind {
	case stageEmbed:
		return "the embedding"
	case stageFinal:
		return "the final norm and unembedding"
	}
	return fmt.Sprintf("block %d", s.layer)
}

// prefix is the hook-name prefix of the stage's hook points ("blocks.3." for block 3).
func (s stage) prefix() string {
	if s.kind == stageBlock {
		return fmt.Sprintf("blocks.%d.", s.layer)
	}
	return ""
}

// stageExec is a compiled stage with the layout of its outputs: the residual stream (not for the
// final stage), the captures (relative names, forward order), the logits if asked, the reductions.
type stageExec struct {
	exec    *Exec
	capture []string
	logits  bool
	layout  outLayout // the reductions, hooks relative to the stage
	builds  buildCount
	lastUse int // m.clock of the last run using it (m.mu)
	users   int // runs using it now (m.mu); never evicted while > 0
}

// maxStages bounds the compiled stages a model keeps.
const maxStages = 64

// stageParams are the canonical names of the weights a stage reads, in input order.
func stageParams(cfg *Config, s stage) []string {
	shapes := cfg.ParamShapes()
	var names []string
	switch s.kind {
	case stageEmbed:
		names = append(names, "embed/weights")
		if cfg.Position == Learned {
			names = append(names, "pos_embed/weights")
		}
	case stageFinal:
		for _, n := range []string{"ln_final/scale", "ln_final/bias", "unembed/weights"} {
			if _, ok := shapes[n]; ok {
				names = append(names, n)
			}
		}
		if cfg.TiedEmbeddings {
			names = append(names, "embed/weights")
		}
	case stageBlock:
		pre := fmt.Sprintf("blocks/%d/", s.layer)
		for n := range shapes {
			if strings.HasPrefix(n, pre) {
				names = append(names, n)
			}
		}
		sort.Strings(names) // the same suffix order in every layer
	}
	return names
}

// stageHookNames are the hook points of a stage (exact names).
func stageHookNames(cfg *Config, s stage) map[string]bool {
	out := map[string]bool{}
	for _, hp := range cfg.HookPoints() {
		switch {
		case s.kind == stageBlock && hp.Layer == s.layer,
			s.kind == stageEmbed && (hp.Name == "hook_embed" || hp.Name == "hook_pos_embed"),
			s.kind == stageFinal && (hp.Name == "ln_final.hook_normalized" || hp.Name == "logits"):
			out[hp.Name] = true
		}
	}
	return out
}

// stageRequest is what a run asks of one stage, with hook names relative to the stage.
type stageRequest struct {
	capture []string // relative, forward order
	hooks   map[string][]Hook
	reduce  map[string][]Reduction
	key     string
	share   bool
	inputs  []string // the run's named inputs (WithInput), given to stages with hooks or reductions only
}

func (m *Model) stageRequest(pl *runPlan, s stage) *stageRequest {
	names := stageHookNames(m.Config, s)
	pre := s.prefix()
	r := &stageRequest{hooks: map[string][]Hook{}, reduce: map[string][]Reduction{}, share: true}
	for _, n := range pl.capture {
		if names[n] {
			r.capture = append(r.capture, strings.TrimPrefix(n, pre))
		}
	}
	var b strings.Builder
	kind := [...]string{"embed", "block", "final"}[s.kind]
	fmt.Fprintf(&b, "%s|capture=%s|bf16=%v", kind, strings.Join(r.capture, ","), pl.bf16 && len(r.capture) > 0)
	if s.kind == stageBlock {
		fmt.Fprintf(&b, "|mask=%v", pl.mask != nil)
	}
	if s.kind == stageFinal {
		fmt.Fprintf(&b, "|nologits=%v", pl.noLogits)
	}
	b.WriteString("|hooks=")
	stageSubset(&b, r.hooks, pl.hooks, names, pre, func(h Hook) string {
		if h.ID == "" {
			r.share = false
		}
		return h.ID
	})
	if len(r.hooks) > 0 && s.kind == stageBlock {
		fmt.Fprintf(&b, "|layer=%d", s.layer) // hooks may read HookContext.Layer
	}
	b.WriteString("|reduce=")
	stageSubset(&b, r.reduce, pl.reduce, names, pre, func(x Reduction) string { return x.ID })
	if len(r.hooks) > 0 || len(r.reduce) > 0 { // only hooks and reductions read named inputs
		r.inputs = pl.inputNames
		fmt.Fprintf(&b, "|inputs=%s", strings.Join(r.inputs, ","))
	}
	r.key = b.String()
	return r
}

// stageSubset copies into out the entries of all at the stage's hook points (names), keyed by name
// without the stage prefix, and writes each as "name=ID;" to the stage key b, in name order.
func stageSubset[T any](b *strings.Builder, out, all map[string][]T, names map[string]bool, prefix string, id func(T) string) {
	for _, n := range sortedKeys(all) {
		if !names[n] {
			continue
		}
		rel := strings.TrimPrefix(n, prefix)
		for _, x := range all[n] {
			fmt.Fprintf(b, "%s=%s;", rel, id(x))
		}
		out[rel] = all[n]
	}
}

// runStages are the stages a run goes through: the embedding, its pl.blocks blocks, and the final
// norm and unembedding when the run builds every block and wants anything from them.
func runStages(cfg *Config, pl *runPlan) []stage {
	stages := []stage{{kind: stageEmbed, layer: -1}}
	for l := 0; l < pl.blocks; l++ {
		stages = append(stages, stage{kind: stageBlock, layer: l})
	}
	if pl.blocks == cfg.NLayers {
		fin := stage{kind: stageFinal, layer: -1}
		wanted := !pl.noLogits
		for n := range stageHookNames(cfg, fin) {
			if len(pl.hooks[n]) > 0 || len(pl.reduce[n]) > 0 || slices.Contains(pl.capture, n) {
				wanted = true
			}
		}
		if wanted {
			stages = append(stages, fin)
		}
	}
	return stages
}

// runLayered runs the plan stage by stage (see the comment at the top of this file); m.runs is held
// for reading.
func (m *Model) runLayered(pl *runPlan) (*Result, error) {
	cfg := m.Config
	stages := runStages(cfg, pl)
	var masks []*tensors.Tensor // per layer [T, T], from a [L, T, T] mask
	if pl.mask != nil && pl.mask.Rank() == 3 {
		flat := tensors.MustCopyFlatData[float32](pl.mask)
		n := pl.T * pl.T
		masks = make([]*tensors.Tensor, cfg.NLayers)
		for l := range masks {
			masks[l] = tensors.FromFlatDataAndDimensions(flat[l*n:(l+1)*n], pl.T, pl.T)
		}
	}

	m.mu.Lock()
	m.clock++
	clock := m.clock
	m.mu.Unlock()
	res := newResult(cfg)
	var x *tensors.Tensor // the residual stream between stages [b, p, d], on the device
	defer func() {
		if x != nil {
			x.FinalizeAll()
		}
	}()
	for _, s := range stages {
		if err := m.runStage(pl, s, clock, masks, res, &x); err != nil {
			return nil, err
		}
	}
	if res.Logits == nil && !pl.noLogits {
		return nil, fmt.Errorf("the run produced no logits")
	}
	return res, nil
}

// runStage runs one stage of a layered run (runLayered) on the residual stream *x (the tokens for
// the embedding), replaces *x by the stream it returns and collects its outputs into res.
func (m *Model) runStage(pl *runPlan, s stage, clock int, masks []*tensors.Tensor, res *Result, x **tensors.Tensor) error {
	cfg := m.Config
	req := m.stageRequest(pl, s)
	se, err := m.stage(pl, s, req, clock)
	if err != nil {
		return err
	}
	defer func() {
		m.mu.Lock()
		se.users--
		m.mu.Unlock()
		if !req.share {
			se.exec.Finalize()
		}
	}()
	args := []any{*x}
	if s.kind == stageEmbed {
		args[0] = pl.tok
	}
	weights, err := m.onDevice(stageParams(cfg, s), pl.inputs, req.inputs)
	if err != nil {
		return fmt.Errorf("%s: %w", s, err)
	}
	args = append(args, weights...)
	if s.kind == stageBlock && pl.mask != nil {
		if masks != nil {
			args = append(args, masks[s.layer])
		} else {
			args = append(args, pl.mask)
		}
	}
	outs, err := pl.timedCall(&se.builds, func() ([]*tensors.Tensor, error) { return callExec(se.exec, args) })
	if err != nil {
		return fmt.Errorf("running %s of the model on tokens [%d %d]: %w", s, pl.B, pl.T, err)
	}
	defer func() {
		for _, o := range outs {
			o.FinalizeAll()
		}
	}()
	if s.kind != stageFinal {
		if *x != nil {
			(*x).FinalizeAll()
		}
		*x, outs = outs[0], outs[1:]
	}
	pre := s.prefix()
	names := make([]string, len(se.capture))
	for i, rel := range se.capture {
		names[i] = pre + rel
	}
	if err := pl.timedCollect(res, cfg, outs, names, se.logits, se.layout.get(), func(rel string) string { return pre + rel }); err != nil {
		return fmt.Errorf("%s: %w", s, err)
	}
	return nil
}

// onDevice returns the named parameters, then the named inputs of the run, each on the device: the
// first run to use a tensor copies it there, under m.mu (GoMLX reads a tensor's placement without
// its lock when it is passed to a graph, so two runs must not be the first at once).
func (m *Model) onDevice(params []string, inputs map[string]*tensors.Tensor, inputNames []string) ([]any, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]any, 0, len(params)+len(inputNames))
	for _, name := range params {
		t, err := m.paramValue(name)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	for _, n := range inputNames {
		out = append(out, inputs[n])
	}
	for _, t := range out {
		if t := t.(*tensors.Tensor); !t.IsOnDevice(0) {
			if err := t.MaterializeOnDevice(m.Backend, true, 0); err != nil {
				return nil, fmt.Errorf("copying %s to the device: %w", t.Shape(), err)
			}
		}
	}
	return out, nil
}

// stage returns the graph of a stage, counted as in use until the caller releases it (users):
// shared by every stage with the same request, or, for a request with an unnamed hook, built for
// this call alone (the caller finalizes it). The graph is built and compiled at its first call,
// outside m.mu. clock is the run's (m.clock when it started).
func (m *Model) stage(pl *runPlan, s stage, req *stageRequest, clock int) (*stageExec, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if se := m.stages[req.key]; se != nil && req.share {
		se.lastUse = max(se.lastUse, clock)
		se.users++
		return se, nil
	}
	cfg := m.Config
	params := stageParams(cfg, s)
	inputNames := req.inputs
	hasMask := s.kind == stageBlock && pl.mask != nil
	captureDType := dtypes.Float32
	if pl.bf16 {
		captureDType = dtypes.BFloat16
	}
	pre := s.prefix()
	se := &stageExec{lastUse: clock, users: 1}
	withLogits := s.kind == stageFinal && !pl.noLogits
	fn := func(inputs []*Node) []*Node {
		m.compiles.Add(1) // once per graph build
		se.builds.add()
		p := &pass{
			cfg:      cfg,
			g:        inputs[0].Graph(),
			matmul:   m.matmul,
			hooks:    make(map[string][]Hook),
			reduce:   make(map[string][]Reduction),
			capture:  make(map[string]bool),
			captured: make(map[string]*Node),
			inputs:   make(map[string]*Node),
			params:   make(map[string]*Node),
		}
		for rel, hs := range req.hooks {
			p.hooks[pre+rel] = hs
		}
		for rel, rs := range req.reduce {
			p.reduce[pre+rel] = rs
		}
		for _, rel := range req.capture {
			p.capture[pre+rel] = true
		}
		i := 1
		for _, name := range params {
			p.params[name] = inputs[i]
			i++
		}
		for _, n := range inputNames {
			p.inputs[n] = inputs[i]
			i++
		}
		if hasMask {
			p.attnMask = inputs[i] // [T, T]: this layer's
		}
		var x, logits *Node // the residual stream leaving the stage (not the final one), the logits
		switch s.kind {
		case stageEmbed:
			x = p.embed(inputs[0])
		case stageBlock:
			mask, rope := p.blockConsts(inputs[0].Shape().Dim(1))
			x = p.block(s.layer, inputs[0], mask, rope)
		case stageFinal:
			if logits = p.final(inputs[0]); !withLogits {
				logits = nil
			}
		}
		capture := make([]string, len(req.capture))
		for i, rel := range req.capture {
			capture[i] = pre + rel
		}
		outs, slots := p.outputs(capture, captureDType, logits, pre, s.String()) // as runWhole's
		se.layout.set(slots)
		if x != nil {
			outs = append([]*Node{x}, outs...)
		}
		return outs
	}
	e, err := NewExec(m.Backend, fn)
	if err != nil {
		return nil, fmt.Errorf("creating the executor of %s: %w", s, err)
	}
	se.exec = e.WithName("transformer.Run." + [...]string{"embed", "block", "final"}[s.kind])
	se.capture = req.capture
	se.logits = withLogits
	if req.share {
		for len(m.stages) >= maxStages { // drop the least recently used stages not in use
			oldest := ""
			for k, e := range m.stages {
				if e.users == 0 && (oldest == "" || e.lastUse < m.stages[oldest].lastUse) {
					oldest = k
				}
			}
			if oldest == "" {
				break // every kept stage is in a run now
			}
			m.stages[oldest].exec.Finalize()
			delete(m.stages, oldest)
		}
		m.stages[req.key] = se
	}
	return se, nil
}

// SetLayered makes every later run execute stage by stage — the embedding, each block, the final
// norm and unembedding — with one compiled graph per distinct stage, shared by every block that asks
// the same of its hook points (see the top of layered.go); false (the default) compiles one graph of
// the whole model per run structure. The results agree up to float32 rounding (XLA fuses across
// block boundaries in one graph). A sharded model (ShardOver) always runs whole. SetLayeredFrom
// chooses per run.
func (m *Model) SetLayered(on bool) {
	if on {
		m.SetLayeredFrom(1)
	} else {
		m.SetLayeredFrom(0)
	}
}

// AutoLayeredFrom is the block count from which runs go stage by stage in the automatic choice of
// findings.Params.Layered and the commands' --layered=auto on XLA backends.
const AutoLayeredFrom = 8

// SetLayeredFrom makes later runs that build at least blocks blocks execute stage by stage
// (SetLayered), and shorter ones as one graph; blocks ≤ 0 runs every run whole (the default).
//
// Which is faster depends on where the time goes. A graph of the whole model compiles in time that
// grows with its blocks, while stage graphs are one block each and shared across layers; but each
// stage is a separate device call that waits for the device (0.5–0.7 ms on an H200), so runs
// repeated many times are faster whole. Measured on one H200 with a Llama-2-7B-shaped model
// (BENCHMARKS.md), `reproduce` compiled a 32-block graph in about 9 s and a stage graph in about
// 1 s; runs of up to 4 blocks (the variance step, the λ sweep of Fig. 6) were faster whole, runs of
// 32 blocks (sink onset, effective rank, Fig. 5) several times faster staged: AutoLayeredFrom
// splits them. On the pure-Go backend compilation is cheap and one graph is faster.
func (m *Model) SetLayeredFrom(blocks int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.layeredFrom = max(blocks, 0)
}

// LayeredFrom is the block count set by SetLayeredFrom (0: every run whole).
func (m *Model) LayeredFrom() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.layeredFrom
}
