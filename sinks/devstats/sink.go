package devstats

import (
	"fmt"
	"math"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"

	"github.com/sinkscope/sinkscope/sinks/metrics"
	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// SinkOnset is metrics.SinkProfile and metrics.GuSinkScores(patterns, k, eps) of m on tokens, run in
// micro-batches of batch sequences, with the sums over queries, keys and hidden dimensions taken in
// the graph. Per layer and sample only [h] attention sums, [h] Gu column means and [T] residual norms
// leave the device.
func SinkOnset(m *transformer.Model, tokens [][]int, batch, k int, eps float64) ([]metrics.LayerSink, *metrics.GuScores, error) {
	prof, gu, _, err := sinkOnset("devstats.SinkOnset", m, tokens, batch, k, eps, false)
	return prof, gu, err
}

// ResidualStats are, per layer, statistics of the residual stream entering it (hook_resid_pre):
// metrics.DominanceRatio of token 0 and metrics.EffectiveRank (the mean over sequences).
type ResidualStats struct {
	Dominance     []float64
	EffectiveRank []float64
}

// SinkProfile is SinkOnset(m, tokens, batch, 0, metrics.GuEps) together with the ResidualStats of
// every layer, in one run: the statistics a training run logs every few steps. Besides SinkOnset's
// sums, per layer and sample one dominance ratio and one float64 Gram matrix of the residual stream
// (x·xᵀ [p, p] when p ≤ d, else xᵀ·x [d, d], as EffectiveRanks) leave the device.
func SinkProfile(m *transformer.Model, tokens [][]int, batch int) ([]metrics.LayerSink, *metrics.GuScores, *ResidualStats, error) {
	return sinkOnset("devstats.SinkProfile", m, tokens, batch, 0, metrics.GuEps, true)
}

// SinkOnsetReductions are the reductions SinkOnset runs for key position k (see Share).
func SinkOnsetReductions(k int) []transformer.Reduction {
	rs, _, _ := sinkReductions(k, false)
	return rs
}

// sinkReductions are sinkOnset's reductions (with resid, SinkProfile's) and their two IDs.
func sinkReductions(k int, resid bool) (rs []transformer.Reduction, patID, normID string) {
	patID, normID = fmt.Sprintf("sink-pattern-k%d", k), "token-norms"
	if resid {
		normID = "token-norms-dominance-gram"
	}
	rs = []transformer.Reduction{
		{Point: "blocks.*.attn.hook_pattern", ID: patID, Fn: func(_ *transformer.HookContext, x *Node) []*Node {
			return patternSums(x, k)
		}},
		{Point: "blocks.*.hook_resid_pre", ID: normID, Fn: func(_ *transformer.HookContext, x *Node) []*Node {
			norms := Sqrt(ReduceSum(Square(x), -1)) // x [b, p, d] → [b, p]
			if !resid {
				return []*Node{norms}
			}
			return []*Node{norms, dominance(x), gramF64(x)}
		}},
	}
	return rs, patID, normID
}

// sinkOnset is SinkOnset, and with resid also the ResidualStats of every layer.
func sinkOnset(fn string, m *transformer.Model, tokens [][]int, batch, k int, eps float64, resid bool) ([]metrics.LayerSink, *metrics.GuScores, *ResidualStats, error) {
	if len(tokens) == 0 || len(tokens[0]) < 2 {
		return nil, nil, nil, fmt.Errorf("%s: need at least one sequence of at least 2 tokens", fn)
	}
	T := len(tokens[0])
	if k < 0 || k >= T {
		return nil, nil, nil, fmt.Errorf("%s: key position k = %d is outside the %d positions [0, %d)", fn, k, T, T)
	}
	if math.IsNaN(eps) || math.IsInf(eps, 0) {
		return nil, nil, nil, fmt.Errorf("%s: eps is %v; want a finite threshold (Gu et al.: %g)", fn, eps, metrics.GuEps)
	}
	rs, patID, normID := sinkReductions(k, resid)
	L := m.Config.NLayers
	type acc struct {
		first, row0, others, n0, nRest []float64   // per head / scalars summed over samples
		gu                             [][]float64 // per sample, per head
		dominance, rank                float64     // summed over samples
		samples                        int
	}
	accs := make([]acc, L)
	err := microBatches(m, tokens, batch, rs, nil, func(res *transformer.Result, real int) error {
		for l := 0; l < L; l++ {
			pn, rn := fmt.Sprintf("blocks.%d.attn.hook_pattern", l), fmt.Sprintf("blocks.%d.hook_resid_pre", l)
			outs := res.Reduced[patID][pn]
			if len(outs) != 4 || len(outs[0].Shape) != 2 {
				return fmt.Errorf("layer %d: reduction %q returned %d outputs", l, patID, len(outs))
			}
			B, H := outs[0].Shape[0], outs[0].Shape[1]
			parts := make([]*transformer.Activation, 4)
			for i := range parts {
				a, err := output(res, patID, pn, i, B, H)
				if err != nil {
					return fmt.Errorf("layer %d: %w", l, err)
				}
				parts[i] = a
			}
			norms, err := output(res, normID, rn, 0, B, T)
			if err != nil {
				return fmt.Errorf("layer %d: %w", l, err)
			}
			a := &accs[l]
			if resid {
				dom, err := output(res, normID, rn, 1, B)
				if err != nil {
					return fmt.Errorf("layer %d: %w", l, err)
				}
				rank, err := rankSum(res, normID, rn, 2, real)
				if err != nil {
					return fmt.Errorf("layer %d: %w", l, err)
				}
				a.rank += rank
				for b := 0; b < real; b++ {
					a.dominance += float64(dom.Data[b])
				}
			}
			if a.first == nil {
				a.first, a.row0, a.others = make([]float64, H), make([]float64, H), make([]float64, H)
				a.n0, a.nRest = make([]float64, 1), make([]float64, 1)
			}
			for b := 0; b < real; b++ {
				row := make([]float64, H)
				for h := 0; h < H; h++ {
					i := b*H + h
					a.first[h] += float64(parts[0].Data[i])
					a.row0[h] += float64(parts[1].Data[i])
					a.others[h] += float64(parts[2].Data[i])
					row[h] = float64(parts[3].Data[i])
				}
				a.gu = append(a.gu, row)
				a.n0[0] += float64(norms.Data[b*T])
				for p := 1; p < T; p++ {
					a.nRest[0] += float64(norms.Data[b*T+p])
				}
			}
			a.samples += real
		}
		return nil
	})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%s: %w", fn, err)
	}
	prof := make([]metrics.LayerSink, L)
	gu := &metrics.GuScores{Alpha: make([][]float64, L), LayerShare: make([]float64, L), LayerSharePerSample: make([]float64, L), K: k, Eps: eps}
	var above, total, aboveS, totalS int
	for l, a := range accs {
		B, H := float64(a.samples), len(a.first)
		var first, row0, others float64
		for h := 0; h < H; h++ {
			first, row0, others = first+a.first[h], row0+a.row0[h], others+a.others[h]
		}
		nFirst := B * float64(H) * float64(T-1)
		nOthers := B * float64(H) * float64(T*(T-1)/2)
		n0, nRest := a.n0[0]/B, a.nRest[0]/(B*float64(T-1))
		prof[l] = metrics.LayerSink{Layer: l, AttnToFirst: first / nFirst, AttnToOthers: others / nOthers,
			AttnToFirstAllRows: (first + row0) / (nFirst + B*float64(H)),
			FirstNorm:          n0, OthersNorm: nRest, NormRatio: n0 / nRest}
		alpha := make([]float64, H)
		n, nS := 0, 0
		for h := 0; h < H; h++ {
			for _, row := range a.gu {
				alpha[h] += row[h]
				if row[h] > eps {
					nS++
				}
			}
			alpha[h] /= B
			if alpha[h] > eps {
				n++
			}
		}
		gu.Alpha[l], gu.LayerShare[l], gu.LayerSharePerSample[l] = alpha, float64(n)/float64(H), float64(nS)/(B*float64(H))
		above, total, aboveS, totalS = above+n, total+H, aboveS+nS, totalS+a.samples*H
	}
	gu.Share, gu.SharePerSample = float64(above)/float64(total), float64(aboveS)/float64(totalS)
	if !resid {
		return prof, gu, nil, nil
	}
	rst := &ResidualStats{}
	for _, a := range accs {
		rst.Dominance = append(rst.Dominance, a.dominance/float64(a.samples))
		rst.EffectiveRank = append(rst.EffectiveRank, a.rank/float64(a.samples))
	}
	return prof, gu, rst, nil
}

// dominance is metrics.DominanceRatio's per-sample term at token 0 of x [b, p, d]: max_j |x[b, 0, j]|
// ÷ mean_j |x[b, 0, j]| → [b]. An all-zero token gives NaN or Inf here (the host version errors).
func dominance(x *Node) *Node {
	x0 := Abs(Squeeze(Slice(x, AxisRange(), AxisElem(0), AxisRange()), 1)) // [b, d]
	return Div(ReduceMax(x0, -1), ReduceMean(x0, -1))                      // [b]
}

// gramF64 is the float64 Gram matrix of each sequence of x [b, p, d]: x·xᵀ [b, p, p] when p ≤ d,
// else xᵀ·x [b, d, d] (the same nonzero eigenvalues, the smaller matrix).
func gramF64(x *Node) *Node {
	if x.Rank() != 3 {
		panic(fmt.Sprintf("the effective rank needs an activation [b, p, d], got shape %s", x.Shape()))
	}
	x = ConvertDType(x, dtypes.Float64)
	if x.Shape().Dim(1) <= x.Shape().Dim(2) {
		return Einsum("bpd,bqd->bpq", x, x) // [b, p, p]
	}
	return Einsum("bpd,bpe->bde", x, x) // [b, d, d]
}

// patternSums reduces a pattern x [b, h, q, k] to four [b, h] tensors: the attention on key 0 summed
// over queries 1..T−1; query 0's weight on key 0; the weight on keys 1..q summed over queries
// 1..T−1; and Gu et al.'s α_k, the mean of column k over queries k..T−1.
func patternSums(x *Node, k int) []*Node {
	g := x.Graph()
	T := x.Shape().Dim(2)
	q := positionIndex(g, 0, T, T)   // [q, k] query index
	key := positionIndex(g, 1, T, T) // [q, k] key index
	zero := ScalarZero(g, q.DType())
	one := OnesLike(zero)
	mask := func(cond *Node) *Node { return InsertAxes(ConvertDType(cond, x.DType()), 0, 0) } // [1, 1, q, k] 0/1
	firstMask := mask(And(Equal(key, zero), GreaterOrEqual(q, one)))
	row0Mask := mask(And(Equal(key, zero), Equal(q, zero)))
	othersMask := mask(And(And(GreaterOrEqual(key, one), GreaterOrEqual(q, one)), LessOrEqual(key, q)))
	kk := Scalar(g, q.DType(), k)
	guMask := mask(And(Equal(key, kk), GreaterOrEqual(q, kk)))
	sum := func(m *Node) *Node { return ReduceSum(Mul(x, m), 2, 3) } // [b, h]
	return []*Node{sum(firstMask), sum(row0Mask), sum(othersMask), DivScalar(sum(guMask), float64(T-k))}
}
