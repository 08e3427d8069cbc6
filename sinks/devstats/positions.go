package devstats

import (
	"fmt"
	"slices"

	. "github.com/gomlx/gomlx/core/graph"

	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// AtPosition captures the hook points matching patterns (names or globs) at one position only: a
// map from hook name to its activation [b, 1, …] over all of tokens (micro-batches concatenated,
// padded rows dropped), sliced in the graph so the other positions never leave the device. Token-0
// statistics (massive dimension, disparity, dominance) then run unchanged on the host, 1/T of the
// transfer.
func AtPosition(m *transformer.Model, tokens [][]int, batch, pos int, patterns ...string) (map[string]*transformer.Activation, error) {
	if len(tokens) == 0 || len(tokens[0]) == 0 {
		return nil, fmt.Errorf("devstats.AtPosition: need at least one non-empty sequence")
	}
	if T := len(tokens[0]); pos < 0 || pos >= T {
		return nil, fmt.Errorf("devstats.AtPosition: position %d is outside the %d positions [0, %d)", pos, T, T)
	}
	if len(patterns) == 0 {
		return nil, fmt.Errorf("devstats.AtPosition: give at least one hook name or pattern")
	}
	rs := AtPositionReductions(pos, patterns...)
	out := map[string]*transformer.Activation{}
	err := microBatches(m, tokens, batch, rs, nil, func(res *transformer.Result, real int) error {
		for _, r := range rs {
			for name, outs := range res.Reduced[r.ID] {
				a := outs[0].Rows(real)
				if prev := out[name]; prev != nil {
					prev.Data = append(prev.Data, a.Data...)
					prev.Shape[0] += real
					continue
				}
				// A copy: the result may be a Share's, read again by the next statistic.
				a = &transformer.Activation{Name: name, Shape: slices.Clone(a.Shape), Data: slices.Clone(a.Data)}
				if hp, ok := m.Config.HookPointByName(name); ok {
					a.Dims = hp.Dims
				}
				out[name] = a
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("devstats.AtPosition: %w", err)
	}
	return out, nil
}

// AtPositionReductions are the reductions AtPosition runs (see Share): each pattern's activation
// [b, p, …] sliced at position pos.
func AtPositionReductions(pos int, patterns ...string) []transformer.Reduction {
	rs := make([]transformer.Reduction, len(patterns))
	for i, p := range patterns {
		rs[i] = transformer.Reduction{Point: p, ID: fmt.Sprintf("at-position-%d-%d", pos, i), Fn: func(_ *transformer.HookContext, x *Node) []*Node {
			if x.Rank() < 2 {
				panic(fmt.Sprintf("AtPosition needs an activation [b, p, …], got shape %s", x.Shape()))
			}
			axes := make([]SliceAxisSpec, x.Rank())
			for k := range axes {
				axes[k] = AxisRange()
			}
			axes[1] = AxisElem(pos)
			return []*Node{Slice(x, axes...)} // [b, 1, …]
		}}
	}
	return rs
}
