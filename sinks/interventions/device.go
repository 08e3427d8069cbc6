package interventions

import (
	"fmt"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"

	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// The interventions read attention patterns through sums taken in the compiled graph: per sequence,
// each key column's sum over heads and later queries ([b, T]) and, for the layers of the figures'
// maps, the head-summed pattern ([b, T, T]). A 32-layer model's patterns over 16 × 64 tokens are
// 268 MB per micro-batch; these sums are 8 KB per layer, and a Fig. 6 sweep of 200 sequences × 16
// λ values moved 1.7 GB to the host before. The host adds the real rows of each micro-batch in
// float64; the capture-and-sum versions in the tests are the reference.

const (
	columnsID = "interventions.columns"  // [b, T]: Σ over heads and queries i > k of A[b, h, i, k]
	headMapID = "interventions.head-map" // [b, T, T]: Σ over heads of A[b, h, q, k]
)

// columnSums is, per sequence, each key column's sum over heads and the queries after it:
// x [b, h, q, k] → [b, k]. Heads are summed first, so the masking product is h times smaller (the
// pure-Go backend multiplies broadcast operands element by element).
func columnSums(x *Node) *Node {
	g := x.Graph()
	T := x.Shape().Dim(2)
	q := Iota(g, shapes.Make(dtypes.Int32, T, T), 0)                   // [q, k] query index
	k := Iota(g, shapes.Make(dtypes.Int32, T, T), 1)                   // [q, k] key index
	later := InsertAxes(ConvertDType(GreaterThan(q, k), x.DType()), 0) // [1, q, k]: 1 where q > k
	return ReduceSum(Mul(ReduceSum(x, 1), later), 1)                   // [b, q, k] → [b, k]
}

// patternReductions are the reductions of a run that reads the sink score of every column at the
// layers and the head-summed maps at mapLayers. Each statistic keeps one ID at all its layers, so
// stage by stage the blocks that ask for the same ones share a compiled graph.
func patternReductions(layers, mapLayers []int) []transformer.Reduction {
	columns := func(_ *transformer.HookContext, x *Node) []*Node { return []*Node{columnSums(x)} }
	headMap := func(_ *transformer.HookContext, x *Node) []*Node { return []*Node{ReduceSum(x, 1)} } // [b, q, k]
	var rs []transformer.Reduction
	for _, l := range layers {
		rs = append(rs, transformer.Reduction{Point: patternName(l), ID: columnsID, Fn: columns})
	}
	for _, l := range mapLayers {
		rs = append(rs, transformer.Reduction{Point: patternName(l), ID: headMapID, Fn: headMap})
	}
	return rs
}

func patternName(l int) string { return fmt.Sprintf("blocks.%d.attn.hook_pattern", l) }

// reduced returns the one output of reduction id at hook name, its first real rows, checking that it
// is [b, dims...].
func reduced(r *transformer.Result, id, name string, real int, dims ...int) (*transformer.Activation, error) {
	outs := r.Reduced[id][name]
	if len(outs) != 1 {
		return nil, fmt.Errorf("reduction %q at %s returned %d outputs, want 1", id, name, len(outs))
	}
	a := outs[0]
	ok := len(a.Shape) == 1+len(dims) && a.Shape[0] >= real
	for i, d := range dims {
		ok = ok && a.Shape[1+i] == d
	}
	if !ok {
		return nil, fmt.Errorf("reduction %q at %s: shape %v, want [b ≥ %d %v]", id, name, a.Shape, real, dims)
	}
	return a.Rows(real), nil
}

// columnScoresAt runs tokens in micro-batches with patternReductions(layers, mapLayers) and returns
// the sink score of every column k < T−1 at each of the layers ([i][k] for layers[i]; every layer
// when layers is nil) and the head- and sequence-mean maps [q][k] of mapLayers.
func columnScoresAt(m *transformer.Model, tokens [][]int, batch int, layers, mapLayers []int, opts ...transformer.Option) ([][]float64, [][][]float64, error) {
	H, T := m.Config.NHeads, len(tokens[0])
	if T < 2 {
		return nil, nil, fmt.Errorf("sink scores need sequences of at least 2 tokens, got %d", T)
	}
	if layers == nil {
		for l := range m.Config.NLayers {
			layers = append(layers, l)
		}
	}
	sums := make([][]float64, len(layers)) // [i][k]
	for i := range sums {
		sums[i] = make([]float64, T-1)
	}
	maps := make([][][]float64, len(mapLayers))
	for i := range maps {
		maps[i] = make([][]float64, T)
		for q := range maps[i] {
			maps[i][q] = make([]float64, T)
		}
	}
	n := 0 // sequences summed
	rs := patternReductions(layers, mapLayers)
	for _, mb := range microBatches(tokens, batch) {
		run := append([]transformer.Option{transformer.Reduce(rs...), transformer.NoLogits()}, opts...)
		r, err := m.Run(mb.Seqs, run...)
		if err != nil {
			return nil, nil, fmt.Errorf("sequences %d..%d: %w", mb.Lo, mb.Hi-1, err)
		}
		real := mb.Real()
		for i, l := range layers {
			c, err := reduced(r, columnsID, patternName(l), real, T)
			if err != nil {
				return nil, nil, err
			}
			for j, v := range c.Data { // [b, k]
				if k := j % T; k < T-1 {
					sums[i][k] += float64(v)
				}
			}
		}
		for i, l := range mapLayers {
			c, err := reduced(r, headMapID, patternName(l), real, T, T)
			if err != nil {
				return nil, nil, err
			}
			for j, v := range c.Data { // [b, q, k]
				maps[i][(j/T)%T][j%T] += float64(v)
			}
		}
		n += real
	}
	scores := make([][]float64, len(layers))
	for i := range scores {
		scores[i] = make([]float64, T-1)
		for k := range scores[i] {
			scores[i][k] = sums[i][k] / float64(n*H*(T-k-1))
		}
	}
	for _, mp := range maps {
		for _, row := range mp {
			for j := range row {
				row[j] /= float64(n * H)
			}
		}
	}
	return scores, maps, nil
}
