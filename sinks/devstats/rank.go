package devstats

import (
	"fmt"

	. "github.com/gomlx/gomlx/core/graph"

	"github.com/sinkscope/sinkscope/sinks/metrics"
	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// EffectiveRanks is metrics.EffectiveRank (the mean over sequences) of every hook point matching the
// patterns (activations [b, p, d], e.g. "blocks.*.hook_resid_pre"), over tokens, in one run: each sequence's Gram
// matrix (x·xᵀ [p, p] when p ≤ d, else xᵀ·x [d, d]) is formed in the graph in float64 — exact
// products of the float32 activations, as the host version sums them — and only the Gram matrices
// leave the device; the eigenvalues are taken on the host. The result maps each matched hook name to
// its mean effective rank.
func EffectiveRanks(m *transformer.Model, tokens [][]int, batch int, patterns ...string) (map[string]float64, error) {
	if len(patterns) == 0 {
		return nil, fmt.Errorf("devstats.EffectiveRanks: give at least one hook name or pattern")
	}
	rs := EffectiveRankReductions(patterns...)
	sums := map[string]float64{}
	n := 0
	err := microBatches(m, tokens, batch, rs, nil, func(res *transformer.Result, real int) error {
		for _, r := range rs {
			id := r.ID
			for name := range res.Reduced[id] {
				s, err := rankSum(res, id, name, 0, real)
				if err != nil {
					return err
				}
				sums[name] += s
			}
		}
		n += real
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("devstats.EffectiveRanks at %v: %w", patterns, err)
	}
	for name := range sums {
		sums[name] /= float64(n)
	}
	return sums, nil
}

// EffectiveRankReductions are the reductions EffectiveRanks runs (see Share): each pattern's
// per-sequence float64 Gram matrix.
func EffectiveRankReductions(patterns ...string) []transformer.Reduction {
	gram := func(_ *transformer.HookContext, x *Node) []*Node { return []*Node{gramF64(x)} }
	rs := make([]transformer.Reduction, len(patterns))
	for i, p := range patterns {
		rs[i] = transformer.Reduction{Point: p, ID: fmt.Sprintf("gram-f64-%d", i), Fn: gram}
	}
	return rs
}

// rankSum is the sum over the first real samples of metrics.EffectiveRankFromGram of output i of
// reduction id at hook name, a float64 Gram matrix per sample [b, n, n] (gramF64).
func rankSum(res *transformer.Result, id, name string, i, real int) (float64, error) {
	outs := res.Reduced[id][name]
	if i >= len(outs) {
		return 0, fmt.Errorf("reduction %q at %s returned %d outputs, want at least %d", id, name, len(outs), i+1)
	}
	g := outs[i]
	if len(g.Shape) != 3 || g.Shape[0] < real || g.Shape[1] != g.Shape[2] || g.Data64 == nil {
		return 0, fmt.Errorf("reduction %q at %s: output %d: want a float64 [b ≥ %d, n, n] Gram matrix, got shape %v", id, name, i, real, g.Shape)
	}
	k, sum := g.Shape[1], 0.0
	for b := 0; b < real; b++ {
		gram := append([]float64(nil), g.Data64[b*k*k:(b+1)*k*k]...) // EffectiveRankFromGram works in place
		sum += metrics.EffectiveRankFromGram(gram, k)
	}
	return sum, nil
}
