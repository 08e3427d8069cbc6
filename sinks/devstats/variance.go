package devstats

import (
	"fmt"
	"math"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// WithinTokenStd is metrics.WithinTokenStd of the activation at hook point name (exact, e.g.
// "blocks.1.attn.hook_z") over tokens: per sequence and position the population std over the hidden
// coordinates, taken in the graph ([b, p] leaves the device), averaged over sequences on the host.
func WithinTokenStd(m *transformer.Model, tokens [][]int, batch int, name string) ([]float64, error) {
	const id = "within-token-std"
	var sum []float64
	n := 0
	r := transformer.Reduction{Point: name, ID: id, Fn: func(_ *transformer.HookContext, x *Node) []*Node {
		x = flattenTokens(x) // [b, p, n]
		mean := ReduceAndKeep(x, ReduceMean, -1)
		return []*Node{Sqrt(ReduceMean(Square(Sub(x, mean)), -1))} // [b, p]
	}}
	err := microBatches(m, tokens, batch, []transformer.Reduction{r}, nil, func(res *transformer.Result, real int) error {
		outs := res.Reduced[id][name]
		if len(outs) != 1 || len(outs[0].Shape) != 2 {
			return fmt.Errorf("reduction %q at %s: want one [b, p] output, got %d", id, name, len(outs))
		}
		P := outs[0].Shape[1]
		if sum == nil {
			sum = make([]float64, P)
		}
		for b := 0; b < real; b++ {
			for p := 0; p < P; p++ {
				sum[p] += float64(outs[0].Data[b*P+p])
			}
		}
		n += real
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("devstats.WithinTokenStd at %s: %w", name, err)
	}
	for p := range sum {
		sum[p] /= float64(n)
	}
	return sum, nil
}

// AcrossSampleStd is metrics.AcrossSampleStd of the activation at hook point name over tokens: for
// each position p and hidden coordinate j the population std across sequences, then the mean over
// j. Each micro-batch reduces to its per-(p, j) mean and sum of squared deviations ([p, n] each, the
// padded rows weighted 0), and the host merges micro-batches in float64 (Chan et al.'s pairwise
// update), so no sample's activation leaves the device.
func AcrossSampleStd(m *transformer.Model, tokens [][]int, batch int, name string) ([]float64, error) {
	const id, wName = "across-sample-moments", "devstats.row_weights"
	if len(tokens) < 2 {
		return nil, fmt.Errorf("devstats.AcrossSampleStd at %s: a std across samples needs at least 2 sequences, got %d", name, len(tokens))
	}
	r := transformer.Reduction{Point: name, ID: id, Fn: func(ctx *transformer.HookContext, x *Node) []*Node {
		x = flattenTokens(x)                                             // [b, p, n]
		w := ctx.Input(wName)                                            // [b]: 1 for real rows, 0 for padding
		cnt := ReduceAllSum(w)                                           // []
		wb := Reshape(w, w.Shape().Dim(0), 1, 1)                         // [b, 1, 1]
		mean := Div(ReduceSum(Mul(x, wb), 0), cnt)                       // [p, n]
		m2 := ReduceSum(Mul(Square(Sub(x, InsertAxes(mean, 0))), wb), 0) // [p, n]
		return []*Node{mean, m2}
	}}
	var mean, m2 []float64
	var count float64
	opts := func(real, size int) []transformer.Option {
		w := make([]float32, size)
		for i := 0; i < real; i++ {
			w[i] = 1
		}
		return []transformer.Option{transformer.WithInput(wName, tensors.FromFlatDataAndDimensions(w, size))}
	}
	err := microBatches(m, tokens, batch, []transformer.Reduction{r}, opts, func(res *transformer.Result, real int) error {
		outs := res.Reduced[id][name]
		if len(outs) != 2 || len(outs[0].Shape) != 2 || len(outs[0].Data) != len(outs[1].Data) {
			return fmt.Errorf("reduction %q at %s: want two [p, n] outputs, got %d", id, name, len(outs))
		}
		bm, bm2, nb := outs[0].Data, outs[1].Data, float64(real)
		if mean == nil {
			mean, m2 = make([]float64, len(bm)), make([]float64, len(bm))
		}
		for j := range bm {
			d := float64(bm[j]) - mean[j]
			tot := count + nb
			mean[j] += d * nb / tot
			m2[j] += float64(bm2[j]) + d*d*count*nb/tot
		}
		count += nb
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("devstats.AcrossSampleStd at %s: %w", name, err)
	}
	P := len(tokens[0])
	N := len(mean) / P
	out := make([]float64, P)
	for p := 0; p < P; p++ {
		total := 0.0
		for j := 0; j < N; j++ {
			total += math.Sqrt(m2[p*N+j] / count)
		}
		out[p] = total / float64(N)
	}
	return out, nil
}

// flattenTokens reshapes [b, p, …] to [b, p, n] (n the product of the trailing axes).
func flattenTokens(x *Node) *Node {
	d := x.Shape().Dimensions
	n := 1
	for _, v := range d[2:] {
		n *= v
	}
	return Reshape(x, d[0], d[1], n)
}
