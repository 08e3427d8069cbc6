// Package devstats computes the findings' statistics inside the compiled graph (transformer
// reductions), so a run moves kilobytes of per-sample sums to the host instead of the activations
// they summarise: the attention patterns of a 32-layer model over 20 × 64 tokens are 335 MB, their
// sink statistics a few kilobytes. The float64 host versions in package metrics stay the reference:
// every function here returns metrics' types and is tested against its host twin.
//
// Sums inside the graph are float32 (the paper's statistics are float32); outputs keep a leading
// sample axis wherever the host has to drop the padded rows of the last micro-batch or threshold per
// sample, and the host adds micro-batches up in float64. Every micro-batch has the same shape (the
// last is padded with copies of its first sequence), so a whole batch compiles one graph.
package devstats

import (
	"fmt"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"

	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// microBatches runs tokens through m in transformer.MicroBatches of at most batch sequences with the
// reductions and the options opts gives for a micro-batch's real rows and size, calling fn with each
// result and the number of real (unpadded) rows at its front. A run without options that a Share of
// m covers reads the shared run's results instead.
func microBatches(m *transformer.Model, tokens [][]int, batch int, rs []transformer.Reduction, opts func(real, size int) []transformer.Option,
	fn func(res *transformer.Result, real int) error) error {
	if opts == nil {
		if sh := sharedFor(m, tokens, batch, rs); sh != nil {
			return sh.each(m, fn)
		}
	}
	return runMicroBatches(m, tokens, batch, rs, opts, fn)
}

// runMicroBatches is microBatches without a share.
func runMicroBatches(m *transformer.Model, tokens [][]int, batch int, rs []transformer.Reduction, opts func(real, size int) []transformer.Option,
	fn func(res *transformer.Result, real int) error) error {
	if len(tokens) == 0 {
		return fmt.Errorf("empty batch: need at least one token sequence")
	}
	if batch <= 0 {
		return fmt.Errorf("batch must be positive, got %d", batch)
	}
	for _, mb := range transformer.MicroBatches(tokens, batch) {
		o := []transformer.Option{transformer.Reduce(rs...), transformer.NoLogits()}
		if opts != nil {
			o = append(o, opts(mb.Real(), len(mb.Seqs))...)
		}
		res, err := m.Run(mb.Seqs, o...)
		if err != nil {
			return fmt.Errorf("sequences %d..%d: %w", mb.Lo, mb.Hi-1, err)
		}
		if err := fn(res, mb.Real()); err != nil {
			return err
		}
	}
	return nil
}

// output returns output i of reduction id at hook name, checking its shape.
func output(res *transformer.Result, id, name string, i int, shape ...int) (*transformer.Activation, error) {
	outs := res.Reduced[id][name]
	if i >= len(outs) {
		return nil, fmt.Errorf("reduction %q at %s returned %d outputs, want at least %d", id, name, len(outs), i+1)
	}
	a := outs[i]
	if len(a.Shape) != len(shape) {
		return nil, fmt.Errorf("reduction %q at %s: output %d has shape %v, want %v", id, name, i, a.Shape, shape)
	}
	for k := range shape {
		if a.Shape[k] != shape[k] {
			return nil, fmt.Errorf("reduction %q at %s: output %d has shape %v, want %v", id, name, i, a.Shape, shape)
		}
	}
	return a, nil
}

// positionIndex is an int32 iota along axis of a tensor of dims (for masks built in the graph).
func positionIndex(g *Graph, axis int, dims ...int) *Node {
	return Iota(g, shapes.Make(dtypes.Int32, dims...), axis)
}
