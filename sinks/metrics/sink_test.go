package metrics

import (
	"fmt"
	"math"
	"testing"

	"github.com/sinkscope/sinkscope/sinks/backend"
	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// Zeroed query weights give uniform causal attention, whose sink profile is known in closed form;
// a mask that leaves each query only key 0 and itself gives exactly 1/2 on key 0.
func TestSinkProfileKnownPatterns(t *testing.T) {
	be, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	cfg := &transformer.Config{Family: transformer.Llama, VocabSize: 16, DModel: 8, NLayers: 2, NHeads: 2, DMLP: 16,
		MaxSeqLen: 16, Norm: transformer.RMSNorm, NormEps: 1e-6, Position: transformer.RoPE, RopeTheta: 10000,
		MLP: transformer.SwiGLU, Activation: "silu", BOSTokenID: -1}
	// Zero query weights make every score 0: attention is uniform over the causal keys, so the mean
	// weight on key 0 over queries 1..T−1 is mean_q 1/(q+1).
	w := transformer.RandomWeights(cfg, transformer.RandomInit{Seed: 3})
	m, err := transformer.New(be, cfg, w)
	if err != nil {
		t.Fatal(err)
	}
	for l := 0; l < cfg.NLayers; l++ {
		name := fmt.Sprintf("blocks/%d/attn/q/weights", l)
		q, _, _ := m.Param(name)
		if err := m.SetParam(name, make([]float32, len(q))); err != nil {
			t.Fatal(err)
		}
	}
	T := 6
	toks := [][]int{{1, 2, 3, 4, 5, 6}, {6, 5, 4, 3, 2, 1}}
	cache, err := m.RunWithCache(toks, SinkProfileNames...)
	if err != nil {
		t.Fatal(err)
	}
	prof, err := SinkProfile(cache, cfg.NLayers)
	if err != nil {
		t.Fatal(err)
	}
	want := 0.0
	wantOthers, n := 0.0, 0
	for q := 1; q < T; q++ {
		want += 1 / float64(q+1)
		wantOthers += float64(q) / float64(q+1)
		n += q
	}
	want /= float64(T - 1)
	wantOthers /= float64(n)
	for _, l := range prof {
		if math.Abs(l.AttnToFirst-want) > 1e-6 || math.Abs(l.AttnToOthers-wantOthers) > 1e-6 {
			t.Errorf("layer %d: to first %g (want %g), to others %g (want %g)", l.Layer, l.AttnToFirst, want, l.AttnToOthers, wantOthers)
		}
		if l.NormRatio <= 0 || math.IsNaN(l.NormRatio) {
			t.Errorf("layer %d: norm ratio %g", l.Layer, l.NormRatio)
		}
	}
	if SinkOnset(prof) != -1 {
		t.Errorf("uniform attention has no sink, onset %d", SinkOnset(prof))
	}

	// Queries ≥ 1 may see only key 0 and themselves: with zero scores the weight on key 0 is 1/2.
	mask := make([]float32, T*T)
	for q := 1; q < T; q++ {
		for k := 1; k < q; k++ {
			mask[q*T+k] = float32(math.Inf(-1))
		}
	}
	res, err := m.Run(toks, transformer.Capture(SinkProfileNames...), transformer.WithAttentionMask(mask, T, T), transformer.NoLogits())
	if err != nil {
		t.Fatal(err)
	}
	prof, err = SinkProfile(res.Cache, cfg.NLayers)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range prof {
		if math.Abs(l.AttnToFirst-0.5) > 1e-6 {
			t.Errorf("masked layer %d: to first %g, want 0.5", l.Layer, l.AttnToFirst)
		}
	}
}
