package devstats

import (
	"fmt"

	. "github.com/gomlx/gomlx/core/graph"

	"github.com/sinkscope/sinkscope/sinks/metrics"
	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// ActivationContrasts is metrics.ActivationContrast (with topK) of the FFN activation at every layer
// whose hook point matches pattern (e.g. "blocks.*.mlp.hook_post", the W_down inputs), over tokens:
// per sequence, |a| at token 0 and |a| summed over tokens 1..T−1 are taken in the graph ([b, f] each
// leaves the device instead of [b, T, f]), and the host adds sequences up in float64. The result
// maps each matched hook name to its contrast.
func ActivationContrasts(m *transformer.Model, tokens [][]int, batch int, pattern string, topK int) (map[string]*metrics.Contrast, error) {
	if len(tokens) == 0 || len(tokens[0]) < 2 {
		return nil, fmt.Errorf("devstats.ActivationContrasts: need at least one sequence of at least 2 tokens")
	}
	T := len(tokens[0])
	type acc struct{ first, rest []float64 }
	accs := map[string]*acc{}
	n := 0
	err := microBatches(m, tokens, batch, ActivationContrastReductions(pattern), nil, func(res *transformer.Result, real int) error {
		for name, outs := range res.Reduced[contrastID] {
			if len(outs) != 2 || len(outs[0].Shape) != 2 {
				return fmt.Errorf("reduction %q at %s: want two [b, f] outputs, got %d", contrastID, name, len(outs))
			}
			F := outs[0].Shape[1]
			a := accs[name]
			if a == nil {
				a = &acc{make([]float64, F), make([]float64, F)}
				accs[name] = a
			}
			for b := 0; b < real; b++ {
				for f := 0; f < F; f++ {
					a.first[f] += float64(outs[0].Data[b*F+f])
					a.rest[f] += float64(outs[1].Data[b*F+f])
				}
			}
		}
		n += real
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("devstats.ActivationContrasts at %s: %w", pattern, err)
	}
	out := make(map[string]*metrics.Contrast, len(accs))
	for name, a := range accs {
		for f := range a.first {
			a.first[f] /= float64(n)
			a.rest[f] /= float64(n * (T - 1))
		}
		c, err := metrics.ContrastFromMeans(a.first, a.rest, topK)
		if err != nil {
			return nil, fmt.Errorf("devstats.ActivationContrasts at %s: %w", name, err)
		}
		out[name] = c
	}
	return out, nil
}

// contrastID names ActivationContrasts' reduction.
const contrastID = "first-token-contrast"

// ActivationContrastReductions are the reductions ActivationContrasts runs at pattern (see Share):
// per sequence, |a| at token 0 and |a| summed over tokens 1..T−1, [b, f] each.
func ActivationContrastReductions(pattern string) []transformer.Reduction {
	return []transformer.Reduction{{Point: pattern, ID: contrastID, Fn: func(_ *transformer.HookContext, x *Node) []*Node {
		if x.Rank() != 3 {
			panic(fmt.Sprintf("the contrast needs an activation [b, p, f], got shape %s", x.Shape()))
		}
		a := Abs(x)                                                            // [b, p, f]
		first := Squeeze(Slice(a, AxisRange(), AxisElem(0), AxisRange()), 1)   // [b, f]
		rest := ReduceSum(Slice(a, AxisRange(), AxisRange(1), AxisRange()), 1) // [b, f]
		return []*Node{first, rest}
	}}}
}
