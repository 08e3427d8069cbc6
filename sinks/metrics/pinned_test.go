package metrics

// Hand-computed values for the definitions that the other tests leave loose: Fig. 3's token-0
// norm ratio and all-rows attention, the onset threshold at its boundary, Gu et al.'s per-sample
// reading, and the sign invariance of the QK-lock alignment.

import (
	"fmt"
	"testing"

	"github.com/sinkscope/sinkscope/sinks/backend"
	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// The residual stream entering layer 0 is the token embedding, so embeddings of chosen norms pin
// FirstNorm, OthersNorm and their ratio; zero query weights make attention uniform over the
// causal keys, which pins the three attention readings. Guards: the ratio inverted, FirstNorm
// divided by B·T instead of B, OthersNorm by B·T, the all-rows formula, the diagonal left out of
// AttnToOthers.
func TestSinkProfileHandComputed(t *testing.T) {
	be, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	pre, err := transformer.LookupPreset("tiny")
	if err != nil {
		t.Fatal(err)
	}
	cfg := pre.Config
	m, err := transformer.NewRandom(be, &cfg, pre.Init)
	if err != nil {
		t.Fatal(err)
	}
	D := cfg.DModel
	emb := make([]float32, cfg.VocabSize*D)
	// Token 1 is (3, 4, 0, …): norm 5; token 2 norm 1, token 3 norm 3, token 4 norm 2.
	emb[1*D+0], emb[1*D+1], emb[2*D+2], emb[3*D+3], emb[4*D+4] = 3, 4, 1, 3, 2
	if err := m.SetParam("embed/weights", emb); err != nil {
		t.Fatal(err)
	}
	zeroQ := make([]float32, cfg.NHeads*cfg.HeadDim()*D)
	for l := range cfg.NLayers {
		if err := m.SetParam(fmt.Sprintf("blocks/%d/attn/q/weights", l), zeroQ); err != nil {
			t.Fatal(err)
		}
	}
	cache, err := m.RunWithCache([][]int{{1, 2, 2}, {3, 2, 4}}, SinkProfileNames...)
	if err != nil {
		t.Fatal(err)
	}
	prof, err := SinkProfile(cache, cfg.NLayers)
	if err != nil {
		t.Fatal(err)
	}
	// Token 0: norms 5 and 3, mean 4 over the 2 samples; others: 1, 1, 1, 2, mean 1.25.
	l0 := prof[0]
	if !near(l0.FirstNorm, 4, 1e-6) || !near(l0.OthersNorm, 1.25, 1e-6) || !near(l0.NormRatio, 3.2, 1e-6) {
		t.Errorf("layer 0 norms: first %g (want 4), others %g (want 1.25), ratio %g (want 3.2)", l0.FirstNorm, l0.OthersNorm, l0.NormRatio)
	}
	// Uniform attention, T = 3: key 0 gets 1/2 and 1/3 from queries 1, 2 (and 1 from query 0);
	// the other causal entries of queries 1, 2 get 1/2, 1/3, 1/3.
	for _, l := range prof {
		if !near(l.AttnToFirst, 5./12, 1e-6) || !near(l.AttnToFirstAllRows, 11./18, 1e-6) || !near(l.AttnToOthers, 7./18, 1e-6) {
			t.Errorf("layer %d: to first %g (want 5/12), all rows %g (want 11/18), to others %g (want 7/18)",
				l.Layer, l.AttnToFirst, l.AttnToFirstAllRows, l.AttnToOthers)
		}
	}
}

// The onset is the first layer whose attention to token 0 is strictly above the paper's 0.8.
// Guards: another threshold, ≥ instead of >, the last layer instead of the first.
func TestSinkOnsetThresholdBoundary(t *testing.T) {
	profile := func(attn ...float64) []LayerSink {
		p := make([]LayerSink, len(attn))
		for i, a := range attn {
			p[i] = LayerSink{Layer: i, AttnToFirst: a}
		}
		return p
	}
	for _, c := range []struct {
		attn []float64
		want int
	}{
		{[]float64{0.79}, -1},
		{[]float64{0.79, 0.81}, 1},
		{[]float64{0.3, 0.79, 0.81, 0.95}, 2},
		{[]float64{0.8, 0.8}, -1},
		{[]float64{0.81, 0.2, 0.9}, 0},
	} {
		if got := SinkOnset(profile(c.attn...)); got != c.want {
			t.Errorf("SinkOnset(attention to token 0 %v) = %d, want %d", c.attn, got, c.want)
		}
	}
}

// One layer, 2 samples × 2 heads, T = 4: α₀ is 0.625 for (sample 0, head 0) and (sample 1,
// head 1), 0.25 for the other two. Averaged over samples both heads have 0.4375 > 0.3 (Share 1);
// per sample half the (sample, head) pairs are above (SharePerSample 0.5). Guard: the two readings
// swapped or merged.
func TestGuSharePerSampleHandComputed(t *testing.T) {
	rows := [][]float32{{1}, {0.6, 0.4}, {0.5, 0.2, 0.3}, {0.4, 0.2, 0.2, 0.2}} // α₀ = 2.5/4
	diag := [][]float32{{1}, {0, 1}, {0, 0, 1}, {0, 0, 0, 1}}                   // α₀ = 1/4
	const T = 4
	data := make([]float32, 4*T*T)
	for i, m := range [][][]float32{rows, diag, diag, rows} { // (b, h) = (0,0), (0,1), (1,0), (1,1)
		for q, r := range m {
			copy(data[(i*T+q)*T:], r)
		}
	}
	g, err := GuSinkScores([]*transformer.Activation{act("pattern", []int{2, 2, T, T}, data...)}, 0, 0.3)
	if err != nil {
		t.Fatal(err)
	}
	if !near(g.Alpha[0][0], 0.4375, 1e-7) || !near(g.Alpha[0][1], 0.4375, 1e-7) {
		t.Errorf("α₀ = %v, want [0.4375 0.4375]", g.Alpha[0])
	}
	if g.Share != 1 || g.LayerShare[0] != 1 || g.SharePerSample != 0.5 || g.LayerSharePerSample[0] != 0.5 {
		t.Errorf("Share %g, LayerShare %v (want 1, [1]); SharePerSample %g, LayerSharePerSample %v (want 0.5, [0.5])",
			g.Share, g.LayerShare, g.SharePerSample, g.LayerSharePerSample)
	}
}

// The alignment is |cos| between the principal query direction and W_K[:, dim], whose sign is
// arbitrary: flipping W_K must not change it. Head 0's W_Q block is diag(3, 1) on dims 0, 1, so its
// principal direction is ±e₀; W_K[:, 2] is ±(−3, 4): alignment 0.6 either way.
// Guard: the absolute value removed.
func TestQKLockAlignmentSignInvariant(t *testing.T) {
	cfg := &transformer.Config{DModel: 3, NHeads: 1, NKVHeads: 1, DHead: 2}
	wq := []float32{3, 0, 0, 0, 1, 0}
	q := act("q", []int{1, 2, 1, 2}, 0, 0, 1, 1)
	k := act("k", []int{1, 2, 1, 2}, 1, 0, 0, 0)
	x := act("x", []int{1, 2, 3}, 0, 0, 1, 0, 0, 1)
	for _, s := range []float32{1, -1} {
		wk := []float32{0, 0, -3 * s, 0, 0, 4 * s}
		locks, err := QKLock(cfg, wq, wk, 2, q, k, x)
		if err != nil {
			t.Fatal(err)
		}
		if a := locks[0].Alignment; !near(a, 0.6, 1e-9) {
			t.Errorf("W_K[:, dim] = %v: alignment %g, want 0.6 (|cos|, independent of the sign)", []float32{wk[2], wk[5]}, a)
		}
	}
}

// Token statistics at a position other than 0: x [1, 2, 3] is (1, 1, 1) at position 0 and
// (2, −8, 2) at position 1. Guard: the position ignored (token 0 read instead).
func TestTokenStatsAtPosition1(t *testing.T) {
	x := act("x", []int{1, 2, 3}, 1, 1, 1, 2, -8, 2)
	dim, m, err := MassiveDim(x, 1)
	if err != nil || dim != 1 || m != 8 {
		t.Errorf("MassiveDim(x, 1) = %d, %g, %v; want 1, 8", dim, m, err)
	}
	for _, c := range []struct {
		name string
		f    func() (float64, error)
		want float64
	}{
		{"DimensionDisparity", func() (float64, error) { return DimensionDisparity(x, 1, 1) }, 4},
		{"DimensionDisparityPooled", func() (float64, error) { return DimensionDisparityPooled(x, 1, 1) }, 4},
		{"DominanceRatio", func() (float64, error) { return DominanceRatio(x, 1) }, 2},
	} {
		if got, err := c.f(); err != nil || !near(got, c.want, 1e-12) {
			t.Errorf("%s at position 1 = %g, %v; want %g", c.name, got, err, c.want)
		}
	}
}
