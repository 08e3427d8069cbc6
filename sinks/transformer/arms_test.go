package transformer

import (
	"fmt"
	"math"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// The sink-removing arms must really change the model. The paper's released code trained the
// softmax baseline for its sigmoid arm (the flag never reached the model); these tests build each
// arm from the same shared weights as the baseline and check that it computes something else, and
// the right something else.

// armModel builds a model of cfg whose parameters shared with base's config take base's values;
// the arm's own parameters are drawn from the same seed.
func armModel(t *testing.T, cfg *Config, base map[string]*tensors.Tensor) *Model {
	t.Helper()
	w := RandomWeights(cfg, RandomInit{Seed: 7, Std: 0.2})
	for name, v := range base {
		if _, ok := w[name]; ok {
			w[name] = tensors.FromFlatDataAndDimensions(tensors.MustCopyFlatData[float32](v), v.Shape().Dimensions...)
		}
	}
	m, err := New(testBackend(t), cfg, w)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// maxAbsDiff is the largest |a − b|, with equal values (−Inf included) differing by 0.
func maxAbsDiff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		if a[i] != b[i] {
			d = math.Max(d, math.Abs(float64(a[i]-b[i])))
		}
	}
	return d
}

func TestSigmoidArmIsNotTheBaseline(t *testing.T) {
	base := tinyConfig()
	shared := RandomWeights(base, RandomInit{Seed: 7, Std: 0.2})
	sigmoid, noBias := tinyConfig(), tinyConfig()
	sigmoid.Attention, sigmoid.SigmoidBiasLogN = SigmoidAttention, true
	noBias.Attention = SigmoidAttention
	models := map[string]*Model{"baseline": armModel(t, base, shared), "sigmoid": armModel(t, sigmoid, shared), "sigmoid-no-bias": armModel(t, noBias, shared)}
	for _, T := range []int{8, 16} {
		toks := seqs(2, T, base.VocabSize)
		res := map[string]*Result{}
		for name, m := range models {
			r, err := m.Run(toks, Capture("*.hook_attn_scores", "*.hook_pattern"))
			if err != nil {
				t.Fatal(err)
			}
			res[name] = r
		}
		// Same weights: the layer-0 scores are identical; the logits are not.
		s0 := res["baseline"].Cache.MustGet("attn_scores", 0).Data
		if d := maxAbsDiff(s0, res["sigmoid"].Cache.MustGet("attn_scores", 0).Data); d != 0 {
			t.Fatalf("T %d: layer-0 scores differ by %g between arms with the same weights", T, d)
		}
		for _, arm := range []string{"sigmoid", "sigmoid-no-bias"} {
			if d := maxAbsDiff(res["baseline"].Logits.Data, res[arm].Logits.Data); !(d > 1e-3) {
				t.Errorf("T %d: %s logits equal the baseline's (max diff %g): the arm trains the baseline", T, arm, d)
			}
		}
		for l := 0; l < base.NLayers; l++ {
			scores := res["sigmoid"].Cache.MustGet("attn_scores", l)
			pat := res["sigmoid"].Cache.MustGet("pattern", l)
			plain := res["sigmoid-no-bias"].Cache.MustGet("pattern", l)
			farFromOne := 0
			for b := 0; b < 2; b++ {
				for h := 0; h < base.NHeads; h++ {
					for q := 0; q < T; q++ {
						sum := 0.0
						for k := 0; k <= q; k++ {
							p, _ := pat.At(b, h, q, k)
							sum += float64(p)
							// Each weight is σ(score − log T) exactly.
							s, _ := scores.At(b, h, q, k)
							want := 1 / (1 + math.Exp(-(float64(s) - math.Log(float64(T)))))
							if math.Abs(float64(p)-want) > 1e-6 {
								t.Fatalf("T %d layer %d [%d,%d,%d,%d]: weight %g, σ(score − log T) = %g", T, l, b, h, q, k, p, want)
							}
						}
						if math.Abs(sum-1) > 0.1 {
							farFromOne++
						}
					}
				}
			}
			if farFromOne < 2*base.NHeads*T/2 {
				t.Errorf("T %d layer %d: only %d of %d sigmoid rows are more than 0.1 from summing to 1", T, l, farFromOne, 2*base.NHeads*T)
			}
			// Layer 0 sees the same input in both sigmoid arms: logit(p) differs by exactly −log T.
			if l == 0 {
				for i, p := range pat.Data {
					if p == 0 {
						continue // masked
					}
					q := plain.Data[i]
					shift := math.Log(float64(p)/(1-float64(p))) - math.Log(float64(q)/(1-float64(q)))
					if math.Abs(shift+math.Log(float64(T))) > 1e-3 {
						t.Fatalf("T %d: the bias shifts logit(weight) by %g, want −log %d = %g", T, shift, T, -math.Log(float64(T)))
					}
				}
			}
		}
	}
}

func TestGatedAndHeadNormArmsAreNotTheBaseline(t *testing.T) {
	base := tinyConfig()
	shared := RandomWeights(base, RandomInit{Seed: 7, Std: 0.2})
	toks := seqs(2, 9, base.VocabSize)
	baseline := armModel(t, base, shared)
	want, err := baseline.Run(toks, Capture("blocks.0.attn.hook_z", "blocks.0.hook_attn_out"))
	if err != nil {
		t.Fatal(err)
	}
	for _, arm := range []string{"gated", "headnorm"} {
		cfg := tinyConfig()
		if arm == "gated" {
			cfg.GatedAttention = true
		} else {
			cfg.HeadNorm = HeadNormConfig{Enabled: true, InitFirstToken: true}
		}
		got, err := armModel(t, cfg, shared).Run(toks, Capture("blocks.0.attn.hook_z", "blocks.0.hook_attn_out"))
		if err != nil {
			t.Fatal(err)
		}
		// The arm acts after pattern·V: hook_z of layer 0 is the baseline's, what W_O receives is not.
		if d := maxAbsDiff(want.Cache.MustGet("z", 0).Data, got.Cache.MustGet("z", 0).Data); d != 0 {
			t.Errorf("%s: layer-0 hook_z differs from the baseline's by %g", arm, d)
		}
		if d := maxAbsDiff(want.Cache.MustGet("attn_out", 0).Data, got.Cache.MustGet("attn_out", 0).Data); !(d > 1e-3) {
			t.Errorf("%s: layer-0 attention output equals the baseline's (max diff %g)", arm, d)
		}
		if d := maxAbsDiff(want.Logits.Data, got.Logits.Data); !(d > 1e-3) {
			t.Errorf("%s: logits equal the baseline's (max diff %g)", arm, d)
		}
	}
}

// With its zero initial key and value the sink takes weight p_sink = 1/(1 + Σ_k exp(s_k)) from
// every row and gives nothing back: the layer-0 pattern is the baseline's times 1 − p_sink.
func TestSinkKVArmAtInit(t *testing.T) {
	base := tinyConfig()
	shared := RandomWeights(base, RandomInit{Seed: 7, Std: 0.2})
	cfg := tinyConfig()
	cfg.SinkKV = true
	w := RandomWeights(cfg, RandomInit{Seed: 7, Std: 0.2})
	for _, name := range []string{"blocks/1/attn/sink/key", "blocks/0/attn/sink/value"} {
		if d := w[name].Shape().Dimensions; len(d) != 2 || d[0] != cfg.KVHeads() || d[1] != cfg.HeadDim() {
			t.Fatalf("%s has shape %v, want [%d %d]", name, d, cfg.KVHeads(), cfg.HeadDim())
		}
		for i, v := range tensors.MustCopyFlatData[float32](w[name]) {
			if v != 0 {
				t.Fatalf("%s[%d] = %g at init, want 0", name, i, v)
			}
		}
	}
	T := 9
	toks := seqs(2, T, base.VocabSize)
	want, err := armModel(t, base, shared).Run(toks, Capture("blocks.0.attn.hook_pattern"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := armModel(t, cfg, shared).Run(toks, Capture("blocks.0.attn.hook_pattern", "blocks.0.attn.hook_sink_weight", "blocks.0.attn.hook_attn_scores"))
	if err != nil {
		t.Fatal(err)
	}
	pb, ps := want.Cache.MustGet("pattern", 0), got.Cache.MustGet("pattern", 0)
	sink, scores := got.Cache.MustGet("sink_weight", 0), got.Cache.MustGet("attn_scores", 0)
	for b := 0; b < 2; b++ {
		for h := 0; h < cfg.NHeads; h++ {
			for q := 0; q < T; q++ {
				p, _ := sink.At(b, h, q)
				den := 1.0
				for k := 0; k <= q; k++ {
					s, _ := scores.At(b, h, q, k)
					den += math.Exp(float64(s))
				}
				if math.Abs(float64(p)-1/den) > 1e-6 {
					t.Fatalf("[%d,%d,%d]: sink weight %g, want 1/(1 + Σ exp(s)) = %g", b, h, q, p, 1/den)
				}
				for k := 0; k <= q; k++ {
					x, _ := pb.At(b, h, q, k)
					y, _ := ps.At(b, h, q, k)
					if math.Abs(float64(y)-float64(x)*(1-float64(p))) > 1e-6 {
						t.Fatalf("[%d,%d,%d,%d]: pattern %g, baseline·(1 − p_sink) = %g", b, h, q, k, y, float64(x)*(1-float64(p)))
					}
				}
			}
		}
	}
	if d := maxAbsDiff(want.Logits.Data, got.Logits.Data); !(d > 1e-4) {
		t.Errorf("SinkKV logits equal the baseline's (max diff %g)", d)
	}
}

func TestSinkKVValidate(t *testing.T) {
	cfg := tinyConfig()
	cfg.SinkKV, cfg.Attention = true, SigmoidAttention
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "SinkKV needs softmax attention") {
		t.Errorf("SinkKV with sigmoid attention: %v", err)
	}
	for _, c := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.HeadNorm = HeadNormConfig{InitFirstToken: true} }, "HeadNorm.Enabled is not"},
		{func(c *Config) { c.HeadNorm = HeadNormConfig{Enabled: true, InitFirstToken: true, InitGamma: 2} }, "both set γ's initial value"},
		{func(c *Config) {
			c.HeadNorm, c.Attention = HeadNormConfig{Enabled: true, InitFirstToken: true}, SigmoidAttention
		}, "cannot be combined with SigmoidAttention"},
		{func(c *Config) { c.HeadNorm, c.SinkKV = HeadNormConfig{Enabled: true, InitFirstToken: true}, true }, "cannot be combined with SinkKV"},
		{func(c *Config) { c.HeadNorm = HeadNormConfig{Enabled: true, Eps: -1} }, "HeadNorm.Eps must be > 0"},
	} {
		cfg := tinyConfig()
		c.edit(cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want an error containing %q", err, c.want)
		}
	}
}

// firstTokenZ runs m with the layer inputs replaced by FirstTokenInputs (one token: it attends only
// to itself) and returns each layer's hook_z [h][dh]: the first token's aggregated output, computed
// by the graph.
func firstTokenZ(t *testing.T, m *Model, seed uint64) [][][]float64 {
	t.Helper()
	c := m.Config
	xs := FirstTokenInputs(c, seed)
	opts := []Option{Capture("blocks.*.attn.hook_z"), NoLogits(), WithHooks(Hook{
		Point: "blocks.*.hook_resid_pre", ID: "first-token-dummy",
		Fn: func(ctx *HookContext, x *Node) *Node { return ctx.Input(fmt.Sprintf("dummy%d", ctx.Layer)) },
	})}
	for l, x := range xs {
		f := make([]float32, len(x))
		for i, v := range x {
			f[i] = float32(v)
		}
		opts = append(opts, WithInput(fmt.Sprintf("dummy%d", l), tensors.FromFlatDataAndDimensions(f, 1, 1, c.DModel)))
	}
	res, err := m.Run([][]int{{0}}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	out := make([][][]float64, c.NLayers)
	for l := range out {
		z := res.Cache.MustGet("z", l)
		out[l] = make([][]float64, c.NHeads)
		for h := range out[l] {
			for i := 0; i < c.HeadDim(); i++ {
				v, _ := z.At(0, 0, h, i)
				out[l][h] = append(out[l][h], float64(v))
			}
		}
	}
	return out
}

func popStd(x []float64) float64 {
	_, v := meanVar(x)
	return math.Sqrt(v)
}

// InitFirstToken's γ is the std of the first token's aggregated output (hook_z at position 0) of
// the model's own forward pass on the dummy input: per head, or over all heads for a shared γ.
// Checked against the graph (RMSNorm with GQA; LayerNorm with biases) to float32 precision.
func TestInitFirstTokenGamma(t *testing.T) {
	llama := &Config{Family: Llama, VocabSize: 50, DModel: 128, NLayers: 2, NHeads: 4, NKVHeads: 2, DHead: 32, DMLP: 64,
		MaxSeqLen: 16, Norm: RMSNorm, NormEps: 1e-6, Position: RoPE, RopeTheta: 10000, MLP: SwiGLU, Activation: "silu", BOSTokenID: -1, EOSTokenID: -1}
	gpt2 := &Config{Family: GPT2, VocabSize: 50, DModel: 96, NLayers: 2, NHeads: 3, DMLP: 64, MaxSeqLen: 16, Norm: LayerNorm, NormEps: 1e-5,
		Position: Learned, MLP: Plain, Activation: "gelu_new", QKVBias: true, OutBias: true, MLPBias: true, TiedEmbeddings: true, BOSTokenID: -1, EOSTokenID: -1}
	for _, base := range []*Config{llama, gpt2} {
		for _, shared := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/shared=%v", base.Family, shared), func(t *testing.T) {
				cfg := *base
				cfg.HeadNorm = HeadNormConfig{Enabled: true, SharedGamma: shared, InitFirstToken: true}
				init := RandomInit{Seed: 11, Std: 0.02}
				w := RandomWeights(&cfg, init)
				m, err := New(testBackend(t), &cfg, w)
				if err != nil {
					t.Fatal(err)
				}
				// Every other weight is drawn as without InitFirstToken.
				plain := cfg
				plain.HeadNorm.InitFirstToken = false
				for name, v := range RandomWeights(&plain, init) {
					if !strings.HasSuffix(name, "head_norm/scale") && maxAbsDiff(tensors.MustCopyFlatData[float32](v), tensors.MustCopyFlatData[float32](w[name])) != 0 {
						t.Errorf("%s differs from the draw without InitFirstToken", name)
					}
				}
				zs := firstTokenZ(t, m, init.Seed)
				H, dh := cfg.NHeads, cfg.HeadDim()
				for l := 0; l < cfg.NLayers; l++ {
					gamma, _, _ := m.Param(fmt.Sprintf("blocks/%d/attn/head_norm/scale", l))
					var all []float64
					for h := 0; h < H; h++ {
						all = append(all, zs[l][h]...)
					}
					for h := 0; h < H; h++ {
						want, row := popStd(zs[l][h]), gamma
						if shared {
							want = popStd(all)
						} else {
							row = gamma[h*dh : (h+1)*dh]
						}
						for i, g := range row {
							if math.Abs(float64(g)-want) > 1e-4*want {
								t.Fatalf("layer %d head %d: γ[%d] = %g, std of the first token's hook_z = %g", l, h, i, g, want)
							}
						}
						// Far from the default 1: N(0, 0.02²) weights give std ≈ 0.02·√D.
						if e := 0.02 * math.Sqrt(float64(cfg.DModel)); math.Abs(want-e) > 0.5*e || math.Abs(float64(row[0])-1) < 0.5 {
							t.Errorf("layer %d head %d: γ %g, expected about 0.02·√D = %g", l, h, row[0], e)
						}
					}
				}
			})
		}
	}
}

// The dummy N(0, 1) token stands for any first token: γ is one draw of the distribution of the
// first token's output std over real inputs, here the layer-0 outputs of 200 sequences with
// different first tokens (their normalised embeddings are N(0, 1)-like). γ must lie within 4
// standard deviations of that distribution's mean (the per-sequence stds vary by about
// 1/√(2·d_head) = 6% relative for d_head 128, so 4 sd ≈ 25%: loose, but it would catch a wrong
// orientation of W_V, a missing norm or a wrong scale, and the exact check is
// TestInitFirstTokenGamma).
func TestInitFirstTokenMatchesRealInputs(t *testing.T) {
	cfg := &Config{Family: Llama, VocabSize: 256, DModel: 128, NLayers: 1, NHeads: 1, DHead: 128, DMLP: 256,
		MaxSeqLen: 8, Norm: RMSNorm, NormEps: 1e-6, Position: RoPE, RopeTheta: 10000, MLP: SwiGLU, Activation: "silu",
		HeadNorm: HeadNormConfig{Enabled: true, InitFirstToken: true}, BOSTokenID: -1, EOSTokenID: -1}
	m, err := NewRandom(testBackend(t), cfg, RandomInit{Seed: 1, Std: 0.02})
	if err != nil {
		t.Fatal(err)
	}
	gamma, _, _ := m.Param("blocks/0/attn/head_norm/scale")
	toks := make([][]int, 200)
	for i := range toks {
		toks[i] = []int{i, 3}
	}
	c, err := m.RunWithCache(toks, "blocks.0.attn.hook_z")
	if err != nil {
		t.Fatal(err)
	}
	z := c.MustGet("z", 0)
	stds := make([]float64, len(toks))
	for b := range toks {
		var v []float64
		for i := 0; i < 128; i++ {
			x, _ := z.At(b, 0, 0, i)
			v = append(v, float64(x))
		}
		stds[b] = popStd(v)
	}
	mean, variance := meanVar(stds)
	t.Logf("d 128, 1 head, d_head 128, init std 0.02, seed 1: γ = %.5f; first-token output std over 200 real first tokens %.5f ± %.5f; 0.02·√128 = %.5f",
		gamma[0], mean, math.Sqrt(variance), 0.02*math.Sqrt(128))
	if math.Abs(float64(gamma[0])-mean) > 4*math.Sqrt(variance) {
		t.Errorf("γ %g is more than 4 sd from the mean first-token output std %g ± %g", gamma[0], mean, math.Sqrt(variance))
	}
	for i, g := range gamma {
		if g != gamma[0] {
			t.Fatalf("γ[%d] = %g ≠ γ[0] = %g: one head's γ is one value", i, g, gamma[0])
		}
	}
}

func TestFirstTokenGammaErrors(t *testing.T) {
	cfg := tinyConfig()
	cfg.HeadNorm = HeadNormConfig{Enabled: true, InitFirstToken: true}
	w := RandomWeights(cfg, RandomInit{Seed: 1})
	delete(w, "blocks/1/attn/v/weights")
	if _, err := FirstTokenGamma(cfg, w, 1); err == nil || !strings.Contains(err.Error(), `"blocks/1/attn/v/weights"`) {
		t.Errorf("missing W_V: %v", err)
	}
}
