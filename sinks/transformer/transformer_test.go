package transformer

import (
	"math"
	"strings"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/sinkscope/sinkscope/sinks/backend"
)

func testBackend(t testing.TB) compute.Backend {
	t.Helper()
	b, err := backend.New()
	if err != nil {
		t.Fatalf("backend: %v", err)
	}
	return b
}

func tinyConfig() *Config {
	return &Config{
		Family: Llama, VocabSize: 50, DModel: 32, NLayers: 2, NHeads: 4, NKVHeads: 2, DMLP: 64,
		MaxSeqLen: 32, Norm: RMSNorm, NormEps: 1e-6, Position: RoPE, RopeTheta: 10000,
		MLP: SwiGLU, Activation: "silu", BOSTokenID: 1, EOSTokenID: 2,
	}
}

func tinyModel(t testing.TB, cfg *Config) *Model {
	t.Helper()
	m, err := NewRandom(testBackend(t), cfg, RandomInit{Seed: 7, Std: 0.2})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func seqs(B, T, V int) [][]int {
	out := make([][]int, B)
	for b := range out {
		out[b] = make([]int, T)
		for p := range out[b] {
			out[b][p] = (b*7 + p*13 + 3) % V
		}
	}
	return out
}

func TestCaptureEverythingShapes(t *testing.T) {
	for _, variant := range []string{"llama", "gpt2", "headnorm", "gated", "sigmoid", "qknorm", "sinkkv", "gpt2-sinkkv"} {
		t.Run(variant, func(t *testing.T) {
			cfg := tinyConfig()
			switch variant {
			case "gpt2":
				cfg.Family, cfg.Norm, cfg.Position, cfg.MLP, cfg.Activation = GPT2, LayerNorm, Learned, Plain, "gelu_new"
				cfg.QKVBias, cfg.OutBias, cfg.MLPBias, cfg.NKVHeads, cfg.TiedEmbeddings = true, true, true, 0, true
			case "headnorm":
				cfg.HeadNorm = HeadNormConfig{Enabled: true, InitGamma: 0.5}
			case "gated":
				cfg.GatedAttention = true
			case "sigmoid":
				cfg.Attention, cfg.SigmoidBiasLogN = SigmoidAttention, true
			case "qknorm":
				cfg.QKNorm, cfg.DHead = true, 16
			case "sinkkv":
				cfg.SinkKV = true
			case "gpt2-sinkkv":
				cfg.Family, cfg.Norm, cfg.Position, cfg.MLP, cfg.Activation = GPT2, LayerNorm, Learned, Plain, "gelu_new"
				cfg.QKVBias, cfg.OutBias, cfg.MLPBias, cfg.NKVHeads, cfg.TiedEmbeddings = true, true, true, 0, true
				cfg.SinkKV, cfg.HeadNorm, cfg.GatedAttention = true, HeadNormConfig{Enabled: true, SharedGamma: true}, true
			}
			m := tinyModel(t, cfg)
			B, T := 2, 9
			res, err := m.Run(seqs(B, T, cfg.VocabSize), Capture("*"))
			if err != nil {
				t.Fatal(err)
			}
			sizes := map[string]int{"b": B, "p": T, "q": T, "k": T, "h": cfg.NHeads, "g": cfg.KVHeads(), "dh": cfg.HeadDim(), "d": cfg.DModel, "f": cfg.DMLP, "v": cfg.VocabSize}
			for _, hp := range cfg.HookPoints() {
				a, err := res.Cache.Get(hp.Name)
				if err != nil {
					t.Fatalf("%s: %v", hp.Name, err)
				}
				if len(a.Shape) != len(hp.Dims) {
					t.Fatalf("%s: shape %v, dims %v", hp.Name, a.Shape, hp.Dims)
				}
				for i, d := range hp.Dims {
					if a.Shape[i] != sizes[d] {
						t.Errorf("%s: axis %s has size %d, want %d", hp.Name, d, a.Shape[i], sizes[d])
					}
				}
			}
			// Causal structure of the pattern: zero above the diagonal; softmax rows sum to one, with
			// the sink's weight when there is a sink.
			for l := 0; l < cfg.NLayers; l++ {
				pat := res.Cache.MustGet("pattern", l)
				var sink *Activation
				if cfg.SinkKV {
					sink = res.Cache.MustGet("sink_weight", l)
				}
				for b := 0; b < B; b++ {
					for h := 0; h < cfg.NHeads; h++ {
						for q := 0; q < T; q++ {
							sum := 0.0
							if sink != nil {
								v, _ := sink.At(b, h, q)
								if !(v > 0 && v < 1) {
									t.Fatalf("layer %d head %d query %d: sink weight %g", l, h, q, v)
								}
								sum += float64(v)
							}
							for k := 0; k < T; k++ {
								v, _ := pat.At(b, h, q, k)
								if k > q && v != 0 {
									t.Fatalf("layer %d head %d: pattern[%d,%d] = %g above the diagonal", l, h, q, k, v)
								}
								sum += float64(v)
							}
							if cfg.Attention != SigmoidAttention && math.Abs(sum-1) > 1e-5 {
								t.Fatalf("layer %d head %d query %d: row sums to %g", l, h, q, sum)
							}
						}
					}
				}
			}
			// The logits returned equal the captured logits hook point.
			lg := res.Cache.MustGet("logits")
			for i := range lg.Data {
				if lg.Data[i] != res.Logits.Data[i] {
					t.Fatalf("logits differ at %d", i)
				}
			}
			// hook_attn_out is the sum over heads of hook_result (plus bias).
			out := res.Cache.MustGet("attn_out", 0)
			r := res.Cache.MustGet("result", 0)
			var bias []float32
			if cfg.OutBias {
				bias, _, _ = m.Param("blocks/0/attn/o/bias")
			}
			for b := 0; b < B; b++ {
				for p := 0; p < T; p++ {
					for d := 0; d < cfg.DModel; d++ {
						s := 0.0
						for h := 0; h < cfg.NHeads; h++ {
							v, _ := r.At(b, p, h, d)
							s += float64(v)
						}
						if bias != nil {
							s += float64(bias[d])
						}
						v, _ := out.At(b, p, d)
						if math.Abs(s-float64(v)) > 1e-4 {
							t.Fatalf("attn_out[%d,%d,%d] = %g, sum of results %g", b, p, d, v, s)
						}
					}
				}
			}
		})
	}
}

// A λ sweep and a target-position sweep run one compiled graph: both values are graph inputs.
func TestSweepCompilesOnce(t *testing.T) {
	cfg := tinyConfig()
	m := tinyModel(t, cfg)
	toks := seqs(2, 12, cfg.VocabSize)
	scale := Hook{
		Point: "blocks.0.attn.hook_z", ID: "scale-z-at-target",
		Fn: func(ctx *HookContext, z *Node) *Node { // z [b, p, h, dh]
			g := ctx.Graph()
			T := z.Shape().Dim(1)
			pos := ConvertDType(Iota(g, shapes.Make(dtypes.Int32, 1, T, 1, 1), 1), z.DType())
			at := ConvertDType(Equal(pos, ctx.Input("target")), z.DType()) // 1 at the target position
			factor := Add(OneMinus(at), Mul(at, ctx.Input("lambda")))
			return Mul(z, factor)
		},
	}
	base, err := m.Run(toks, Capture("blocks.0.attn.hook_z"), WithHooks(scale), WithInput("lambda", 1.0), WithInput("target", 0))
	if err != nil {
		t.Fatal(err)
	}
	before := m.Compilations()
	if before != 1 {
		t.Fatalf("first run built %d graphs, want 1", before)
	}
	z0 := base.Cache.MustGet("z", 0)
	for _, target := range []int{3, 5, 9} {
		for _, lambda := range []float64{2, 5, 10} {
			res, err := m.Run(toks, Capture("blocks.0.attn.hook_z"), WithHooks(scale), WithInput("lambda", lambda), WithInput("target", target))
			if err != nil {
				t.Fatal(err)
			}
			z := res.Cache.MustGet("z", 0)
			// The hooked value is λ·z at the target position and unchanged elsewhere.
			for p := 0; p < 12; p++ {
				want := 1.0
				if p == target {
					want = lambda
				}
				a, _ := z0.At(1, p, 2, 3)
				b, _ := z.At(1, p, 2, 3)
				if math.Abs(float64(b)-want*float64(a)) > 1e-5*math.Max(1, math.Abs(float64(b))) {
					t.Fatalf("target %d λ %g: z[1,%d,2,3] = %g, want %g", target, lambda, p, b, want*float64(a))
				}
			}
		}
	}
	if got := m.Compilations(); got != before {
		t.Fatalf("the sweep built %d new graphs; want 0 (values are graph inputs)", got-before)
	}
}

func TestAttentionMaskIsolatesToken(t *testing.T) {
	cfg := tinyConfig()
	m := tinyModel(t, cfg)
	T := 10
	toks := seqs(1, T, cfg.VocabSize)
	for _, target := range []int{4, 7} {
		mask := make([]float32, T*T)
		for k := 0; k < T; k++ {
			if k != target {
				mask[target*T+k] = float32(math.Inf(-1))
			}
		}
		res, err := m.Run(toks, Capture("*.hook_pattern"), WithAttentionMask(mask, T, T), NoLogits())
		if err != nil {
			t.Fatal(err)
		}
		for l := 0; l < cfg.NLayers; l++ {
			pat := res.Cache.MustGet("pattern", l)
			for h := 0; h < cfg.NHeads; h++ {
				for k := 0; k < T; k++ {
					v, _ := pat.At(0, h, target, k)
					want := float32(0)
					if k == target {
						want = 1
					}
					if math.Abs(float64(v-want)) > 1e-6 {
						t.Fatalf("layer %d head %d: pattern[%d,%d] = %g, want %g", l, h, target, k, v, want)
					}
				}
			}
		}
	}
	if got := m.Compilations(); got != 1 {
		t.Fatalf("two masks built %d graphs, want 1", got)
	}
}

func TestBadInputs(t *testing.T) {
	cfg := tinyConfig()
	m := tinyModel(t, cfg)
	cases := []struct {
		name   string
		tokens [][]int
		opts   []Option
		want   string
	}{
		{"empty batch", nil, nil, "empty batch"},
		{"token out of range", [][]int{{1, 2, 50}}, nil, "position 2 is out of the vocabulary"},
		{"negative token", [][]int{{-1}}, nil, "out of the vocabulary"},
		{"ragged", [][]int{{1, 2}, {1}}, nil, "equal lengths"},
		{"too long", seqs(1, 33, 50), nil, "exceeds the model's maximum of 32"},
		{"unknown hook", seqs(1, 4, 50), []Option{Capture("blocks.0.attn.hook_patern")}, "matches no hook point"},
		{"layer out of range", seqs(1, 4, 50), []Option{Capture("blocks.5.*")}, "matches no hook point"},
		{"mask shape", seqs(1, 4, 50), []Option{WithAttentionMask(make([]float32, 9), 3, 3)}, "do not fit 4 tokens"},
		{"mask NaN", seqs(1, 3, 50), []Option{WithAttentionMask([]float32{0, 0, 0, 0, float32(math.NaN()), 0, 0, 0, 0}, 3, 3)}, "is NaN"},
		{"missing input", seqs(1, 4, 50), []Option{WithHooks(Hook{Point: "blocks.0.hook_resid_pre", ID: "x", Fn: func(ctx *HookContext, x *Node) *Node { return Mul(x, ctx.Input("lambda")) }})}, `asks for input "lambda"`},
		{"shape-changing hook", seqs(1, 4, 50), []Option{WithHooks(Hook{Point: "blocks.0.hook_resid_pre", ID: "y", Fn: func(ctx *HookContext, x *Node) *Node { return ReduceSum(x, -1) }})}, "changed the shape"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := m.Run(c.tokens, c.opts...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got error %v, want one containing %q", err, c.want)
			}
		})
	}
	res, err := m.Run(seqs(1, 4, 50), Capture("blocks.*.attn.hook_pattern"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := res.Cache.Get("pattern", 2); err == nil || !strings.Contains(err.Error(), "out of range") {
		t.Errorf("layer 2 of 2: %v", err)
	}
	if a, err := res.Cache.Get("pattern", -1); err != nil || a.Name != "blocks.1.attn.hook_pattern" {
		t.Errorf("layer -1: %v %v", a, err)
	}
	if _, err := res.Cache.Get("resid_pre", 0); err == nil || !strings.Contains(err.Error(), "was not captured") {
		t.Errorf("uncaptured: %v", err)
	}
	pat := res.Cache.MustGet("pattern", 0)
	if _, err := pat.At(0, 4, 0, 0); err == nil || !strings.Contains(err.Error(), "axis h") {
		t.Errorf("head out of range: %v", err)
	}
	if _, err := pat.Sub(0, 1, 9); err == nil {
		t.Errorf("query out of range: no error")
	}
}

func TestConfigValidate(t *testing.T) {
	cfg := tinyConfig()
	cfg.NKVHeads = 3
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "multiple of NKVHeads") {
		t.Fatalf("got %v", err)
	}
	cfg = tinyConfig()
	cfg.RopeScaling = &RopeScaling{Type: "yarn"}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), `"yarn"`) {
		t.Fatalf("got %v", err)
	}
	weights := RandomWeights(tinyConfig(), RandomInit{Seed: 1})
	delete(weights, "blocks/1/mlp/up/weights")
	if _, err := New(testBackend(t), tinyConfig(), weights); err == nil || !strings.Contains(err.Error(), `missing parameter "blocks/1/mlp/up/weights"`) {
		t.Fatalf("got %v", err)
	}
}

func TestActivationMatrix(t *testing.T) {
	a := &Activation{Name: "x", Shape: []int{2, 3, 2}, Data: []float32{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}}
	m, err := a.Matrix(1)
	if err != nil || len(m) != 3 || m[2][1] != 11 || m[0][0] != 6 {
		t.Fatalf("Matrix(1) = %v, %v", m, err)
	}
	m[0][0] = -1
	if a.Data[6] != 6 {
		t.Fatal("Matrix must copy")
	}
	if _, err := a.Matrix(); err == nil || !strings.Contains(err.Error(), "exactly 2 axes") {
		t.Fatalf("rank 3: %v", err)
	}
	if _, err := a.Matrix(2); err == nil {
		t.Fatal("index 2 of 2: no error")
	}
}

func TestRunWithCacheBatchedEqualsOneRun(t *testing.T) {
	cfg := tinyConfig()
	m := tinyModel(t, cfg)
	toks := seqs(5, 7, cfg.VocabSize)
	whole, err := m.RunWithCache(toks, "blocks.1.attn.hook_z", "blocks.0.hook_resid_post")
	if err != nil {
		t.Fatal(err)
	}
	before := m.Compilations()
	parts, err := m.RunWithCacheBatched(toks, 2, "blocks.1.attn.hook_z", "blocks.0.hook_resid_post")
	if err != nil {
		t.Fatal(err)
	}
	// 5 sequences at 2: micro-batches 2, 2, 1 padded to 2: one graph.
	if got := m.Compilations() - before; got != 1 {
		t.Errorf("5 sequences in micro-batches of 2 compiled %d graphs, want 1", got)
	}
	for _, name := range whole.Names() {
		a, b := whole.MustGet(name), parts.MustGet(name)
		if !equalDims(a.Shape, b.Shape) {
			t.Fatalf("%s: shapes %v vs %v", name, a.Shape, b.Shape)
		}
		for i := range a.Data {
			if math.Abs(float64(a.Data[i]-b.Data[i])) > 1e-5 {
				t.Fatalf("%s[%d]: %g vs %g", name, i, a.Data[i], b.Data[i])
			}
		}
	}
	if _, err := m.RunWithCacheBatched(toks, 0, "logits"); err == nil {
		t.Fatal("batch 0: no error")
	}
	for _, c := range [][3]int{{20, 16, 10}, {500, 16, 16}, {5, 2, 2}, {3, 8, 3}, {16, 16, 16}, {17, 16, 9}} {
		if got := MicroBatch(c[0], c[1]); got != c[2] {
			t.Errorf("MicroBatch(%d, %d) = %d, want %d", c[0], c[1], got, c[2])
		}
	}
}

// Editing a weight after a run must change the next run's output without a new compilation: the
// compiled graphs read the weights as parameters, not as constants (a graph holding its own copy of
// the weights took a paper-152m reproduce past 24 GB).
func TestSetParamAfterRun(t *testing.T) {
	cfg := tinyConfig()
	m := tinyModel(t, cfg)
	toks := seqs(1, 5, cfg.VocabSize)
	before, err := m.Run(toks)
	if err != nil {
		t.Fatal(err)
	}
	w, _, _ := m.Param("blocks/1/mlp/down/weights")
	for i := range w {
		w[i] *= 3
	}
	if err := m.SetParam("blocks/1/mlp/down/weights", w); err != nil {
		t.Fatal(err)
	}
	compiled := m.Compilations()
	after, err := m.Run(toks)
	if err != nil {
		t.Fatal(err)
	}
	if n := m.Compilations() - compiled; n != 0 {
		t.Errorf("the run after SetParam compiled %d graphs, want 0 (weights must be graph parameters)", n)
	}
	diff := 0.0
	for i := range before.Logits.Data {
		diff = math.Max(diff, math.Abs(float64(before.Logits.Data[i]-after.Logits.Data[i])))
	}
	if diff < 1e-4 {
		t.Fatalf("logits unchanged (max diff %g) after SetParam", diff)
	}
	if err := m.SetParam("blocks/1/mlp/down/weights", w[:3]); err == nil {
		t.Fatal("wrong length: no error")
	}
}

// Without logits, a run builds only the blocks up to the last one read: the captured values are
// the same as in a full run.
func TestRunStopsAfterLastReadBlock(t *testing.T) {
	cfg := tinyConfig()
	cfg.NLayers = 4
	m := tinyModel(t, cfg)
	toks := seqs(2, 6, cfg.VocabSize)
	full, err := m.Run(toks, Capture("blocks.1.attn.hook_z", "blocks.3.hook_resid_post"))
	if err != nil {
		t.Fatal(err)
	}
	part, err := m.RunWithCache(toks, "blocks.1.attn.hook_z")
	if err != nil {
		t.Fatal(err)
	}
	a, b := full.Cache.MustGet("z", 1), part.MustGet("z", 1)
	for i := range a.Data {
		if a.Data[i] != b.Data[i] {
			t.Fatalf("z[%d]: %g (full run) vs %g (stopped run)", i, a.Data[i], b.Data[i])
		}
	}
	for _, c := range []struct {
		capture []string
		hooks   map[string][]Hook
		noLog   bool
		want    int
	}{
		{[]string{"blocks.1.attn.hook_z"}, nil, true, 2},
		{[]string{"hook_embed"}, nil, true, 0},
		{[]string{"blocks.0.hook_resid_pre"}, map[string][]Hook{"blocks.2.hook_resid_post": nil}, true, 3},
		{[]string{"blocks.1.attn.hook_z"}, nil, false, 4},
		{[]string{"ln_final.hook_normalized"}, nil, true, 4},
	} {
		if got := blocksNeeded(cfg, c.capture, c.hooks, nil, c.noLog); got != c.want {
			t.Errorf("blocksNeeded(%v, hooks %v, noLogits %v) = %d, want %d", c.capture, c.hooks, c.noLog, got, c.want)
		}
	}
}
