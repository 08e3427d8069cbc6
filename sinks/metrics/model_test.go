package metrics

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/sinkscope/sinkscope/sinks/backend"
	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// On a randomly initialised model the attention is nearly uniform, so the W_O input of token t
// averages t+1 value vectors: the variance discrepancy exists at initialisation (paper Sec. 3.1).
// The other metrics run on the same captured activations and weights.
func TestMetricsOnRandomModel(t *testing.T) {
	be, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	cfg := &transformer.Config{Family: transformer.Llama, VocabSize: 256, DModel: 64, NLayers: 2, NHeads: 4, NKVHeads: 2,
		DMLP: 128, MaxSeqLen: 32, Norm: transformer.RMSNorm, NormEps: 1e-6, Position: transformer.RoPE, RopeTheta: 10000,
		MLP: transformer.SwiGLU, Activation: "silu", BOSTokenID: -1}
	m, err := transformer.NewRandom(be, cfg, transformer.RandomInit{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	const B, T = 16, 32
	rng := rand.New(rand.NewPCG(5, 6))
	toks := make([][]int, B)
	for b := range toks {
		toks[b] = make([]int, T)
		for p := range toks[b] {
			toks[b][p] = rng.IntN(cfg.VocabSize)
		}
	}
	cache, err := m.RunWithCache(toks, "blocks.0.attn.hook_z", "blocks.0.hook_attn_out", "blocks.*.attn.hook_pattern",
		"blocks.0.attn.hook_q", "blocks.0.attn.hook_k", "blocks.0.mlp.hook_post", "blocks.*.hook_resid_post", "blocks.*.ln1.hook_normalized")
	if err != nil {
		t.Fatal(err)
	}
	z := cache.MustGet("z", 0)
	zCopy := slices.Clone(z.Data)

	std, err := WithinTokenStd(z)
	if err != nil {
		t.Fatal(err)
	}
	pos := make([]float64, T)
	for i := range pos {
		pos[i] = float64(i)
	}
	fit, err := FitInverseSqrt(std)
	if err != nil {
		t.Fatal(err)
	}
	tau := KendallTauB(pos, std)
	t.Logf("hook_z within-token std: first %.4g, last %.4g, τ(position, std) %.3f, σ_v %.4g, R² %.4f", std[0], std[T-1], tau, fit.SigmaV, fit.R2)
	if !(std[0] > 3*std[T-1]) || tau > -0.8 || fit.R2 < 0.9 {
		t.Errorf("no variance discrepancy at init: std[0] %g, std[%d] %g, τ %g, R² %g", std[0], T-1, std[T-1], tau, fit.R2)
	}

	across, err := AcrossSampleStd(z)
	if err != nil {
		t.Fatal(err)
	}
	if !(across[0] > 3*across[T-1]) {
		t.Errorf("across-sample std: first %g, last %g", across[0], across[T-1])
	}

	wo, err := WOPreserve(z, cache.MustGet("attn_out", 0))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("W_O preservation: τ %.3f, ρ %.3f", wo.KendallTau, wo.Spearman)
	if wo.KendallTau < 0.5 {
		t.Errorf("W_O should keep the decay at init: τ = %g", wo.KendallTau)
	}

	// Uniform causal attention gives α_0 = mean_i 1/(i+1) = H_T/T and no sink heads.
	pats := []*transformer.Activation{cache.MustGet("pattern", 0), cache.MustGet("pattern", 1)}
	gu, err := GuSinkScores(pats, 0, GuEps)
	if err != nil {
		t.Fatal(err)
	}
	harmonic := 0.0
	for i := 1; i <= T; i++ {
		harmonic += 1 / float64(i)
	}
	for l, row := range gu.Alpha {
		for h, a := range row {
			if math.Abs(a-harmonic/T) > 0.02 {
				t.Errorf("layer %d head %d: α_0 = %g, uniform attention gives %g", l, h, a, harmonic/T)
			}
		}
	}
	if gu.Share != 0 {
		t.Errorf("Sink_0^0.3 = %g at init, want 0", gu.Share)
	}

	wq, _, err := m.Param("blocks/0/attn/q/weights")
	if err != nil {
		t.Fatal(err)
	}
	wk, _, err := m.Param("blocks/0/attn/k/weights")
	if err != nil {
		t.Fatal(err)
	}
	dim, _, err := MassiveDim(cache.MustGet("ln1.normalized", 1), 0)
	if err != nil {
		t.Fatal(err)
	}
	locks, err := QKLock(cfg, wq, wk, dim, cache.MustGet("q", 0), cache.MustGet("k", 0), cache.MustGet("ln1.normalized", 0))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range locks {
		if !(l.Alignment >= 0 && l.Alignment <= 1) || !(l.PositiveShare >= 0 && l.PositiveShare <= 1) || math.IsNaN(l.MeanScore) {
			t.Errorf("head %d: %+v out of range", l.Head, l)
		}
	}

	per, mean, err := EffectiveRank(cache.MustGet("resid_post", 1))
	if err != nil {
		t.Fatal(err)
	}
	if len(per) != B || !(mean > 1 && mean <= T) {
		t.Errorf("effective rank %g (per sample %v), want in (1, %d]", mean, per, T)
	}

	if _, err := ActivationContrast(cache.MustGet("mlp.post", 0), 5); err != nil {
		t.Error(err)
	}
	if !slices.Equal(z.Data, zCopy) {
		t.Error("a metric modified its input activation")
	}
}
