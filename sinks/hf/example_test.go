package hf_test

import (
	"fmt"
	"path/filepath"

	. "github.com/gomlx/gomlx/core/graph"

	"github.com/sinkscope/sinkscope/sinks/backend"
	"github.com/sinkscope/sinkscope/sinks/hf"
	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// Load a checkpoint, capture attention patterns, and sweep an intervention whose values are graph
// inputs: the whole sweep runs on one compiled graph.
func Example() {
	be, err := backend.New()
	if err != nil {
		panic(err)
	}
	// A local HF model directory or an "org/name" repo id from the HF hub cache.
	ckpt, err := hf.Load(filepath.Join(parityDir, "llama3"), nil)
	if err != nil {
		panic(err)
	}
	m, err := transformer.New(be, ckpt.Config, ckpt.Weights)
	if err != nil {
		panic(err)
	}
	tokens := [][]int{{1, 17, 42, 99, 7, 3, 250, 11, 64, 5, 31, 8}}    // BOS is the caller's choice
	cache, err := m.RunWithCache(tokens, "blocks.*.attn.hook_pattern") // only these are materialised
	if err != nil {
		panic(err)
	}
	pattern := cache.MustGet("pattern", -1) // the last layer, [b, h, q, k]
	fmt.Println(pattern.Name, pattern.Shape)

	// Scale the W_O input of one target token by λ in layer 0: λ and the target are graph inputs.
	scaleAtTarget := transformer.Hook{Point: "blocks.0.attn.hook_z", ID: "scale-at-target",
		Fn: func(ctx *transformer.HookContext, z *Node) *Node { // z [b, p, h, dh]
			pos := ConvertDType(IotaLike(z, 1), z.DType())
			at := ConvertDType(Equal(pos, ctx.Input("target")), z.DType())
			return Mul(z, Add(OneMinus(at), Mul(at, ctx.Input("lambda"))))
		}}
	for _, lambda := range []float64{1, 5, 10} {
		if _, err := m.Run(tokens, transformer.WithHooks(scaleAtTarget),
			transformer.WithInput("lambda", lambda), transformer.WithInput("target", 9)); err != nil {
			panic(err)
		}
	}
	fmt.Println("graphs compiled:", m.Compilations())
	// Output:
	// blocks.1.attn.hook_pattern [1 4 12 12]
	// graphs compiled: 2
}
