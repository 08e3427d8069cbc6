package metrics

import (
	"math"
	"slices"
	"testing"

	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// patternOf builds a [b, h, T, T] pattern from lower-triangular rows: rows[b][h][i] holds the
// weights of query i on keys 0..i.
func patternOf(rows [][][][]float32) *transformer.Activation {
	B, H, T := len(rows), len(rows[0]), len(rows[0][0])
	data := make([]float32, B*H*T*T)
	for b := range rows {
		for h := range rows[b] {
			for i, r := range rows[b][h] {
				copy(data[((b*H+h)*T+i)*T:], r)
			}
		}
	}
	return act("pattern", []int{B, H, T, T}, data...)
}

var (
	identity4 = [][]float32{{1}, {0, 1}, {0, 0, 1}, {0, 0, 0, 1}}
	uniform4  = [][]float32{{1}, {0.5, 0.5}, {1. / 3, 1. / 3, 1. / 3}, {0.25, 0.25, 0.25, 0.25}}
	mixed4    = [][]float32{{1}, {0.6, 0.4}, {0.5, 0.2, 0.3}, {0.4, 0.2, 0.2, 0.2}}
)

func TestGuSinkScores(t *testing.T) {
	layers := []*transformer.Activation{
		patternOf([][][][]float32{{mixed4, identity4}, {identity4, identity4}}),
		patternOf([][][][]float32{{uniform4, uniform4}, {uniform4, identity4}}),
	}
	// Key 0: mixed4 gives (1 + .6 + .5 + .4)/4 = 0.625, identity 1/4, uniform (1 + 1/2 + 1/3 + 1/4)/4.
	u0 := (1 + 0.5 + 1./3 + 0.25) / 4
	g, err := GuSinkScores(layers, 0, GuEps)
	if err != nil {
		t.Fatal(err)
	}
	closeAll(t, "α_0 layer 0", g.Alpha[0], []float64{(0.625 + 0.25) / 2, 0.25}, 1e-7)
	closeAll(t, "α_0 layer 1", g.Alpha[1], []float64{u0, (u0 + 0.25) / 2}, 1e-7)
	closeAll(t, "layer share", g.LayerShare, []float64{0.5, 1}, 0)
	if g.Share != 0.75 || g.K != 0 || g.Eps != GuEps {
		t.Errorf("Sink_0^0.3 = %g (want 0.75), K %d, Eps %g", g.Share, g.K, g.Eps)
	}
	// Key 1 averages queries 1..3: mixed4 (.4 + .2 + .2)/3, identity 1/3, uniform (1/2 + 1/3 + 1/4)/3.
	u1 := (0.5 + 1./3 + 0.25) / 3
	g, err = GuSinkScores(layers, 1, 0.32)
	if err != nil {
		t.Fatal(err)
	}
	closeAll(t, "α_1 layer 0", g.Alpha[0], []float64{(0.8/3 + 1./3) / 2, 1. / 3}, 1e-7)
	closeAll(t, "α_1 layer 1", g.Alpha[1], []float64{u1, (u1 + 1./3) / 2}, 1e-7)
	if g.Share != 0.75 {
		t.Errorf("Sink_1^0.32 = %g, want 0.75", g.Share)
	}
}

func TestWOPreserve(t *testing.T) {
	// Within-token stds: before [2, 1, 0.5], after [1, 0.6, 0.7]. Pairs (0,1) and (0,2) are
	// concordant, (1,2) discordant: τ = 1/3; ranks [3 2 1] vs [3 1 2]: ρ = 0.5.
	z := act("hook_z", []int{1, 3, 1, 2}, -2, 2, 0, 2, 1, 2)
	out := act("hook_attn_out", []int{1, 3, 2}, 0, 2, 0, 1.2, 3, 4.4)
	w, err := WOPreserve(z, out)
	if err != nil {
		t.Fatal(err)
	}
	closeAll(t, "before", w.Before, []float64{2, 1, 0.5}, 1e-12)
	closeAll(t, "after", w.After, []float64{1, 0.6, 0.7}, 1e-6)
	if !near(w.KendallTau, 1./3, 1e-12) || !near(w.Spearman, 0.5, 1e-12) {
		t.Errorf("τ = %g (want 1/3), ρ = %g (want 0.5)", w.KendallTau, w.Spearman)
	}
}

func TestRowNormRanking(t *testing.T) {
	r, err := RowNormRanking([]float32{3, 4, 0, 1, 1, 1}, 3, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	closeAll(t, "norms", r.Norms, []float64{5, 1, math.Sqrt2}, 1e-12)
	if !slices.Equal(r.Order, []int{0, 2, 1}) || !slices.Equal(r.Top, []int{0}) || !near(r.Mean, (6+math.Sqrt2)/3, 1e-12) {
		t.Errorf("order %v (want [0 2 1]), top %v (want [0]), mean %g", r.Order, r.Top, r.Mean)
	}
}

func TestActivationContrast(t *testing.T) {
	// One sample, 3 positions, 2 neurons: neuron 0 is 4, −1, 1 (first 4, rest 1), neuron 1 is
	// 0.5, 1, −3 (first 0.5, rest 2).
	c, err := ActivationContrast(act("hook_post", []int{1, 3, 2}, 4, 0.5, -1, 1, 1, -3), 2)
	if err != nil {
		t.Fatal(err)
	}
	closeAll(t, "first", c.First, []float64{4, 0.5}, 0)
	closeAll(t, "rest", c.Rest, []float64{1, 2}, 0)
	closeAll(t, "score", c.Score, []float64{4, 0.25}, 1e-9)
	if !slices.Equal(c.Order, []int{0, 1}) || !slices.Equal(c.Top, []int{0, 1}) {
		t.Errorf("order %v top %v, want [0 1]", c.Order, c.Top)
	}
}

func TestSelectiveActivation(t *testing.T) {
	// Gate row e0. Inputs: sample 0 [2 0] then [0 3]; sample 1 [1 1] then [−1 0].
	in := act("ln2", []int{2, 2, 2}, 2, 0, 0, 3, 1, 1, -1, 0)
	up := act("up", []int{2, 2, 2}, 0, 10, 0, 0.5, 0, 20, 0, -0.5)
	s, err := SelectiveActivation(in, up, []float32{1, 0}, 1)
	if err != nil {
		t.Fatal(err)
	}
	closeAll(t, "cos", s.Cos, []float64{(1 + 1/math.Sqrt2) / 2, -0.5}, 1e-7)
	closeAll(t, "up", s.Up, []float64{15, 0}, 0)
	if s.Neuron != 1 {
		t.Errorf("neuron %d", s.Neuron)
	}
}

func TestDownColumnSparsity(t *testing.T) {
	// W_down [5, 2]; column 1 is 0, 0, −10, 0, 0: excess kurtosis 0.25 (as 0,0,0,0,10).
	w := []float32{1, 0, 2, 0, 3, -10, 4, 0, 5, 0}
	dc, err := DownColumnSparsity(w, 5, 2, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	closeAll(t, "sorted |w|", dc.SortedAbs, []float64{10, 0, 0, 0, 0}, 0)
	if !near(dc.Kurtosis, 0.25, 1e-12) || dc.TopDims[0] != 2 || dc.TopValues[0] != -10 || len(dc.TopDims) != 2 {
		t.Errorf("kurtosis %g (want 0.25), top dims %v values %v (want 2, −10 first)", dc.Kurtosis, dc.TopDims, dc.TopValues)
	}
	// Column 0 is 1..5: kurtosis −1.3, top dims 4, 3.
	dc, err = DownColumnSparsity(w, 5, 2, 0, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !near(dc.Kurtosis, -1.3, 1e-12) || !slices.Equal(dc.TopDims, []int{4, 3}) || !slices.Equal(dc.TopValues, []float64{5, 4}) {
		t.Errorf("column 0: kurtosis %g, top %v %v", dc.Kurtosis, dc.TopDims, dc.TopValues)
	}
}

// disparityData is [2, 2, 3]: token 0 is [1 −10 1] and [2 8 1]; token 1 is [1 1 1] and zeros.
var disparityData = []float32{1, -10, 1, 1, 1, 1, 2, 8, 1, 0, 0, 0}

func TestDisparity(t *testing.T) {
	x := act("ln1", []int{2, 2, 3}, disparityData...)
	dim, m, err := MassiveDim(x, 0)
	if err != nil || dim != 1 || m != 9 {
		t.Errorf("MassiveDim(pos 0) = %d, %g, %v; want 1, 9", dim, m, err)
	}
	if dim, m, _ := MassiveDim(x, 1); dim != 0 || m != 0.5 {
		t.Errorf("MassiveDim(pos 1) = %d, %g; want the lowest tied dim 0, 0.5", dim, m)
	}
	// Per sample 10/1 and 8/1.5; pooled 9 / 1.25.
	if r, err := DimensionDisparity(x, 0, 1); err != nil || !near(r, (10+8/1.5)/2, 1e-12) {
		t.Errorf("DimensionDisparity = %g, %v; want %g", r, err, (10+8/1.5)/2)
	}
	if r, err := DimensionDisparityPooled(x, 0, 1); err != nil || !near(r, 7.2, 1e-12) {
		t.Errorf("DimensionDisparityPooled = %g, %v; want 7.2", r, err)
	}
	// max/mean per sample: 10/4 and 8/(11/3).
	if r, err := DominanceRatio(x, 0); err != nil || !near(r, (2.5+24./11)/2, 1e-12) {
		t.Errorf("DominanceRatio = %g, %v; want %g", r, err, (2.5+24./11)/2)
	}
	// A basis vector has dominance d.
	if r, _ := DominanceRatio(act("e", []int{1, 1, 4}, 0, 0, 3, 0), 0); !near(r, 4, 1e-12) {
		t.Errorf("DominanceRatio(basis vector) = %g, want 4", r)
	}
}

func TestQKLock(t *testing.T) {
	// 4 query heads on 2 kv heads (dh 2, D 3), massive dim 0. Kv head 0 writes dim 0 along
	// [1 0], kv head 1 along [0 1]. Heads 0 and 2 have principal query direction [1 0], heads 1
	// and 3 [0 1]: aligned heads are 0 (group 0) and 3 (group 1).
	cfg := &transformer.Config{DModel: 3, NHeads: 4, NKVHeads: 2, DHead: 2}
	wk := []float32{
		1, 0, 0, 0, 1, 0, // kv head 0
		0, 0, 1, 1, 0, 0, // kv head 1
	}
	wq := []float32{
		5, 0, 0, 0, 1, 0, // head 0
		1, 0, 0, 0, 5, 0, // head 1
		5, 0, 0, 0, 1, 0, // head 2
		1, 0, 0, 0, 5, 0, // head 3
	}
	// One sample, 2 positions. k_0 = [1 0] (group 0), [0 −1] (group 1); the query at position 0
	// is ignored (−100 everywhere), at position 1 it scores 2, −1, −3, 3.
	k := act("k", []int{1, 2, 2, 2}, 1, 0, 0, -1, 9, 9, 9, 9)
	q := act("q", []int{1, 2, 4, 2}, -100, -100, -100, -100, -100, -100, -100, -100, 2, 0, -1, 5, 0, 3, 0, -3)
	// Token 0's normalised input has +2 on the massive dimension 0.
	x := act("x", []int{1, 2, 3}, 2, 7, 7, 1, 1, 1)
	locks, err := QKLock(cfg, wq, wk, 0, q, k, x)
	if err != nil {
		t.Fatal(err)
	}
	wantAlign := []float64{1, 0, 0, 1}
	wantShare := []float64{1, 0, 0, 1}
	wantScore := []float64{2, -1, -3, 3}
	// Against the weight directions [1 0] (group 0) and [0 1] (group 1) instead of token 0's keys:
	// heads 2 and 3 flip, because k_0 of group 1 points along −[0 1].
	wantWeight := []float64{1, 0, 1, 0}
	// With a negative massive value the key that dim writes is −W_K[:, dim]: the sign-aware share
	// flips, the unsigned (literal) one does not.
	xNeg := act("x", []int{1, 2, 3}, -2, 7, 7, 1, 1, 1)
	neg, err := QKLock(cfg, wq, wk, 0, q, k, xNeg)
	if err != nil {
		t.Fatal(err)
	}
	for h, l := range locks {
		if l.WeightShare != wantWeight[h] || l.WeightShareUnsigned != wantWeight[h] {
			t.Errorf("head %d: weight share %g, unsigned %g, want both %g", h, l.WeightShare, l.WeightShareUnsigned, wantWeight[h])
		}
		if neg[h].WeightShare != 1-wantWeight[h] || neg[h].WeightShareUnsigned != wantWeight[h] {
			t.Errorf("head %d, negative x_0[dim]: weight share %g (want %g), unsigned %g (want %g)", h,
				neg[h].WeightShare, 1-wantWeight[h], neg[h].WeightShareUnsigned, wantWeight[h])
		}
		if l.Head != h || !near(l.Alignment, wantAlign[h], 1e-12) || l.PositiveShare != wantShare[h] || !near(l.MeanScore, wantScore[h]/math.Sqrt2, 1e-12) {
			t.Errorf("head %d: %+v; want alignment %g, share %g, score %g", h, l, wantAlign[h], wantShare[h], wantScore[h]/math.Sqrt2)
		}
	}
}

// A W_Q block with a planted dominant direction along the massive dimension's key gives
// alignment ≈ 1; one orthogonal to it ≈ 0.
func TestQKLockPlanted(t *testing.T) {
	const D, dh, dim = 8, 4, 3
	cfg := &transformer.Config{DModel: D, NHeads: 2, NKVHeads: 1, DHead: dh}
	key := []float64{1, 2, 0, -2}   // W_K[:, dim]
	other := []float64{2, -1, 0, 0} // orthogonal to key
	wk := make([]float32, dh*D)
	wq := make([]float32, 2*dh*D)
	for i := 0; i < dh; i++ {
		for j := 0; j < D; j++ {
			wk[i*D+j] = float32(0.1 * math.Cos(float64(i+3*j)))
			noise := 0.02 * math.Sin(float64(5*i+7*j+1))
			r := 1 + 0.3*float64(j)
			wq[i*D+j] = float32(4*key[i]/3*r + noise)
			wq[(dh+i)*D+j] = float32(4*other[i]/math.Sqrt(5)*r + noise)
		}
		wk[i*D+dim] = float32(key[i])
	}
	q := act("q", []int{1, 2, 2, dh}, make([]float32, 2*2*dh)...)
	k := act("k", []int{1, 2, 1, dh}, make([]float32, 2*dh)...)
	locks, err := QKLock(cfg, wq, wk, dim, q, k, act("x", []int{1, 2, D}, make([]float32, 2*D)...))
	if err != nil {
		t.Fatal(err)
	}
	if locks[0].Alignment < 0.999 || locks[1].Alignment > 0.01 {
		t.Errorf("planted alignment %g (want ≈ 1), orthogonal %g (want ≈ 0)", locks[0].Alignment, locks[1].Alignment)
	}
}

func TestEffectiveRank(t *testing.T) {
	// Sample 0: the 4×4 identity (4 equal singular values: rank 4). Sample 1: the rank-1 matrix
	// a·bᵀ (rank 1).
	a, b := []float32{1, 2, 3, -1}, []float32{1, -1, 2, 0.5}
	data := make([]float32, 32)
	for i := 0; i < 4; i++ {
		data[i*4+i] = 1
		for j := 0; j < 4; j++ {
			data[16+i*4+j] = a[i] * b[j]
		}
	}
	per, mean, err := EffectiveRank(act("resid", []int{2, 4, 4}, data...))
	if err != nil {
		t.Fatal(err)
	}
	closeAll(t, "effective rank", per, []float64{4, 1}, 1e-9)
	if !near(mean, 2.5, 1e-9) {
		t.Errorf("mean %g, want 2.5", mean)
	}
	// Singular values 3 and 1: p = 3/4, 1/4. The 3×2 layout takes the Xᵀ·X path, 2×3 the X·Xᵀ one.
	want := math.Exp(-(0.75*math.Log(0.75) + 0.25*math.Log(0.25)))
	for _, x := range []*transformer.Activation{
		act("tall", []int{1, 3, 2}, 3, 0, 0, 1, 0, 0),
		act("wide", []int{1, 2, 3}, 0, 3, 0, 0, 0, -1),
	} {
		per, _, err := EffectiveRank(x)
		if err != nil || !near(per[0], want, 1e-12) {
			t.Errorf("%s: effective rank %v, %v; want %g", x.Name, per, err, want)
		}
	}
	if per, _, _ := EffectiveRank(act("zero", []int{1, 2, 2}, 0, 0, 0, 0)); per[0] != 0 {
		t.Errorf("all-zero sample: %g, want 0", per[0])
	}
	if per, _, _ := EffectiveRank(act("nan", []int{1, 2, 2}, 1, 0, 0, float32(math.NaN()))); !math.IsNaN(per[0]) {
		t.Errorf("sample with a NaN: %g, want NaN", per[0])
	}
}

// Every metric rejects malformed input with an error, never a panic.
func TestBadInputs(t *testing.T) {
	good3 := act("x", []int{2, 3, 2}, varianceData...)
	good4 := act("z", []int{2, 3, 1, 2}, varianceData...)
	pat := patternOf([][][][]float32{{identity4}})
	cfg := &transformer.Config{DModel: 3, NHeads: 4, NKVHeads: 2, DHead: 2}
	wq, wk := make([]float32, 8*3), make([]float32, 4*3)
	q := act("q", []int{1, 2, 4, 2}, make([]float32, 16)...)
	k := act("k", []int{1, 2, 2, 2}, make([]float32, 8)...)
	xq := act("x", []int{1, 2, 3}, make([]float32, 6)...)
	cases := map[string]func() error{
		"Gu empty":      func() error { _, err := GuSinkScores(nil, 0, GuEps); return err },
		"Gu nil layer":  func() error { _, err := GuSinkScores([]*transformer.Activation{pat, nil}, 0, GuEps); return err },
		"Gu rank":       func() error { _, err := GuSinkScores([]*transformer.Activation{good3}, 0, GuEps); return err },
		"Gu not square": func() error { _, err := GuSinkScores([]*transformer.Activation{good4}, 0, GuEps); return err },
		"Gu k high":     func() error { _, err := GuSinkScores([]*transformer.Activation{pat}, 4, GuEps); return err },
		"Gu k negative": func() error { _, err := GuSinkScores([]*transformer.Activation{pat}, -1, GuEps); return err },
		"Gu eps NaN":    func() error { _, err := GuSinkScores([]*transformer.Activation{pat}, 0, math.NaN()); return err },
		"Gu data short": func() error {
			_, err := GuSinkScores([]*transformer.Activation{act("p", []int{1, 1, 2, 2}, 1, 0, 1)}, 0, GuEps)
			return err
		},
		"Within nil":        func() error { _, err := WithinTokenStd(nil); return err },
		"Within rank 2":     func() error { _, err := WithinTokenStd(act("x", []int{3, 4}, make([]float32, 12)...)); return err },
		"Within empty axis": func() error { _, err := WithinTokenStd(act("x", []int{0, 3, 2})); return err },
		"Within data long":  func() error { _, err := WithinTokenStd(act("x", []int{1, 1, 2}, 1, 2, 3)); return err },
		"Across one sample": func() error { _, err := AcrossSampleStd(act("x", []int{1, 3, 2}, make([]float32, 6)...)); return err },
		"Across rank 5":     func() error { _, err := AcrossSampleStd(act("x", []int{1, 1, 1, 1, 1}, 0)); return err },
		"Fit one value":     func() error { _, err := FitInverseSqrt([]float64{1}); return err },
		"Fit NaN":           func() error { _, err := FitInverseSqrt([]float64{1, math.NaN()}); return err },
		"Toy heads": func() error {
			_, err := ToyBlock(ToyConfig{D: 10, Heads: 3, T: 4, Samples: 1, WeightStd: 1, InputStd: 1})
			return err
		},
		"Toy T": func() error {
			_, err := ToyBlock(ToyConfig{D: 4, Heads: 2, T: 1, Samples: 1, WeightStd: 1, InputStd: 1})
			return err
		},
		"Toy samples": func() error {
			_, err := ToyBlock(ToyConfig{D: 4, Heads: 2, T: 4, WeightStd: 1, InputStd: 1})
			return err
		},
		"Toy weight std": func() error { _, err := ToyBlock(ToyConfig{D: 4, Heads: 2, T: 4, Samples: 1, InputStd: 1}); return err },
		"Toy input std": func() error {
			_, err := ToyBlock(ToyConfig{D: 4, Heads: 2, T: 4, Samples: 1, WeightStd: 1, InputStd: math.Inf(1)})
			return err
		},
		"WO nil out":        func() error { _, err := WOPreserve(good4, nil); return err },
		"WO out rank":       func() error { _, err := WOPreserve(good4, good4); return err },
		"WO batch mismatch": func() error { _, err := WOPreserve(good4, act("o", []int{1, 3, 2}, make([]float32, 6)...)); return err },
		"WO one position": func() error {
			_, err := WOPreserve(act("z", []int{1, 1, 2}, 1, 2), act("o", []int{1, 1, 2}, 1, 2))
			return err
		},
		"RowNorm length":    func() error { _, err := RowNormRanking(make([]float32, 5), 2, 3, 1); return err },
		"RowNorm no rows":   func() error { _, err := RowNormRanking(nil, 0, 3, 0); return err },
		"RowNorm topK high": func() error { _, err := RowNormRanking(make([]float32, 6), 2, 3, 3); return err },
		"RowNorm topK neg":  func() error { _, err := RowNormRanking(make([]float32, 6), 2, 3, -1); return err },
		"Contrast nil":      func() error { _, err := ActivationContrast(nil, 1); return err },
		"Contrast one pos": func() error {
			_, err := ActivationContrast(act("a", []int{2, 1, 3}, make([]float32, 6)...), 1)
			return err
		},
		"Contrast topK":      func() error { _, err := ActivationContrast(good3, 3); return err },
		"Contrast rank 4":    func() error { _, err := ActivationContrast(good4, 1); return err },
		"Selective gate len": func() error { _, err := SelectiveActivation(good3, good3, []float32{1}, 0); return err },
		"Selective gate 0":   func() error { _, err := SelectiveActivation(good3, good3, []float32{0, 0}, 0); return err },
		"Selective neuron":   func() error { _, err := SelectiveActivation(good3, good3, []float32{1, 0}, 2); return err },
		"Selective shapes": func() error {
			_, err := SelectiveActivation(good3, act("u", []int{2, 2, 2}, make([]float32, 8)...), []float32{1, 0}, 0)
			return err
		},
		"Selective nil up":  func() error { _, err := SelectiveActivation(good3, nil, []float32{1, 0}, 0); return err },
		"Down length":       func() error { _, err := DownColumnSparsity(make([]float32, 5), 2, 3, 0, 1); return err },
		"Down neuron":       func() error { _, err := DownColumnSparsity(make([]float32, 6), 2, 3, 3, 1); return err },
		"Down neuron neg":   func() error { _, err := DownColumnSparsity(make([]float32, 6), 2, 3, -1, 1); return err },
		"Down topK":         func() error { _, err := DownColumnSparsity(make([]float32, 6), 2, 3, 0, 3); return err },
		"Massive pos":       func() error { _, _, err := MassiveDim(good3, 3); return err },
		"Massive rank":      func() error { _, _, err := MassiveDim(good4, 0); return err },
		"Disparity dim":     func() error { _, err := DimensionDisparity(good3, 0, 2); return err },
		"Disparity pos":     func() error { _, err := DimensionDisparity(good3, -1, 0); return err },
		"Disparity one dim": func() error { _, err := DimensionDisparity(act("x", []int{1, 1, 1}, 5), 0, 0); return err },
		"Disparity zeros": func() error {
			_, err := DimensionDisparity(act("x", []int{1, 2, 3}, disparityData[6:]...), 1, 0)
			return err
		},
		"Pooled dim":      func() error { _, err := DimensionDisparityPooled(good3, 0, 5); return err },
		"Dominance zeros": func() error { _, err := DominanceRatio(act("x", []int{2, 2, 3}, disparityData...), 1); return err },
		"Dominance nil":   func() error { _, err := DominanceRatio(nil, 0); return err },
		"QK nil cfg":      func() error { _, err := QKLock(nil, wq, wk, 0, q, k, xq); return err },
		"QK bad cfg": func() error {
			_, err := QKLock(&transformer.Config{DModel: 3, NHeads: 3, NKVHeads: 2, DHead: 2}, wq, wk, 0, q, k, xq)
			return err
		},
		"QK wq length": func() error { _, err := QKLock(cfg, wq[1:], wk, 0, q, k, xq); return err },
		"QK wk length": func() error { _, err := QKLock(cfg, wq, wq, 0, q, k, xq); return err },
		"QK dim":       func() error { _, err := QKLock(cfg, wq, wk, 3, q, k, xq); return err },
		"QK q heads":   func() error { _, err := QKLock(cfg, wq, wk, 0, k, k, xq); return err },
		"QK k positions": func() error {
			_, err := QKLock(cfg, wq, wk, 0, q, act("k", []int{1, 1, 2, 2}, 0, 0, 0, 0), xq)
			return err
		},
		"QK one position": func() error {
			_, err := QKLock(cfg, wq, wk, 0, act("q", []int{1, 1, 4, 2}, make([]float32, 8)...), act("k", []int{1, 1, 2, 2}, 0, 0, 0, 0), xq)
			return err
		},
		"QK nil k":     func() error { _, err := QKLock(cfg, wq, wk, 0, q, nil, xq); return err },
		"QK nil xNorm": func() error { _, err := QKLock(cfg, wq, wk, 0, q, k, nil); return err },
		"QK xNorm shape": func() error {
			_, err := QKLock(cfg, wq, wk, 0, q, k, act("x", []int{1, 2, 2}, 0, 0, 0, 0))
			return err
		},
		"Rank nil":      func() error { _, _, err := EffectiveRank(nil); return err },
		"Rank rank 4":   func() error { _, _, err := EffectiveRank(good4); return err },
		"Rank data":     func() error { _, _, err := EffectiveRank(act("x", []int{1, 2, 2}, 1)); return err },
		"Rank neg axis": func() error { _, _, err := EffectiveRank(act("x", []int{1, -2, -2}, 1, 2, 3, 4)); return err },
	}
	for name, f := range cases {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("panicked: %v", r)
				}
			}()
			err := f()
			if err == nil {
				t.Fatal("no error")
			}
			t.Log(err)
		})
	}
}
