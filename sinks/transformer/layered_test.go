package transformer

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/dtypes/bfloat16"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// layeredVariants are architectures whose stages read different weights: learned positions and
// LayerNorm biases (GPT-2, tied unembedding), a learnable KV sink, HeadNorm with gating, sigmoid
// attention, QK-norm with a sliding window.
func layeredVariants() map[string]*Config {
	sink := tinyConfig()
	sink.SinkKV = true
	gated := tinyConfig()
	gated.HeadNorm, gated.GatedAttention = HeadNormConfig{Enabled: true}, true
	sig := tinyConfig()
	sig.Attention, sig.SigmoidBiasLogN = SigmoidAttention, true
	qk := tinyConfig()
	qk.QKNorm, qk.SlidingWindow, qk.QKVBias = true, 4, true
	return map[string]*Config{"llama": tinyConfig(), "gpt2": gpt2Tiny(), "sinkkv": sink, "headnorm+gate": gated, "sigmoid": sig, "qknorm+window": qk}
}

// A run stage by stage returns what the whole-model graph returns: every hook point, the logits,
// reductions in every stage, hooks that read graph inputs and their layer, a per-layer mask.
func TestLayeredMatchesWholeGraph(t *testing.T) {
	for name, cfg := range layeredVariants() {
		t.Run(name, func(t *testing.T) {
			m := tinyModel(t, cfg)
			m.SetLayered(true)
			toks := seqs(3, 9, cfg.VocabSize)
			T := 9
			mask := make([]float32, cfg.NLayers*T*T) // layer l isolates token 3+l
			for l := 0; l < cfg.NLayers; l++ {
				for k := 0; k < T; k++ {
					if k != 3+l {
						mask[l*T*T+(3+l)*T+k] = float32(math.Inf(-1))
					}
				}
			}
			scale := Hook{Point: "blocks.*.hook_mlp_out", ID: "scale-by-layer", Fn: func(ctx *HookContext, x *Node) *Node {
				return Mul(x, AddScalar(ctx.Input("lambda"), float64(ctx.Layer))) // (λ + layer)·x
			}}
			sums := Reduction{Point: "*", ID: "sum-and-max", Fn: func(_ *HookContext, x *Node) []*Node {
				return []*Node{ReduceAllSum(x), ReduceAllMax(x)}
			}}
			shared := []Option{Capture("*"), WithAttentionMask(mask, cfg.NLayers, T, T), Reduce(sums)} // one block graph for all layers
			hooked := append([]Option{WithHooks(scale), WithInput("lambda", 0.5)}, shared...)          // a block graph per layer
			var layered *Result
			for _, opts := range [][]Option{shared, hooked} {
				var err error
				layered, err = m.Run(toks, opts...)
				if err != nil {
					t.Fatal(err)
				}
				m.SetLayered(false)
				whole, err := m.Run(toks, opts...)
				m.SetLayered(true)
				if err != nil {
					t.Fatal(err)
				}
				if len(layered.Cache.Names()) != len(cfg.HookNames()) || len(whole.Cache.Names()) != len(cfg.HookNames()) {
					t.Fatalf("captured %d (layered) and %d (whole) hook points, the model has %d", len(layered.Cache.Names()), len(whole.Cache.Names()), len(cfg.HookNames()))
				}
				for _, n := range cfg.HookNames() {
					assertClose(t, n, layered.Cache.MustGet(n), whole.Cache.MustGet(n))
					a, b := layered.Reduced["sum-and-max"][n], whole.Reduced["sum-and-max"][n]
					if len(a) != 2 || len(b) != 2 {
						t.Fatalf("%s: %d (layered) and %d (whole) reduction outputs, want 2", n, len(a), len(b))
					}
					for i := range a {
						assertClose(t, fmt.Sprintf("%s reduction %d", n, i), a[i], b[i])
					}
				}
				assertClose(t, "logits", layered.Logits, whole.Logits)
			}
			// The mask acted: layer 1 isolates token 4.
			if v, _ := layered.Cache.MustGet("pattern", 1).At(0, 0, 4, 4); math.Abs(float64(v)-1) > 1e-6 && cfg.Attention != SigmoidAttention && !cfg.SinkKV {
				t.Errorf("layer 1 pattern[0,0,4,4] = %g, want 1 (token 4 isolated)", v)
			}
		})
	}
}

func assertClose(t *testing.T, name string, a, b *Activation) {
	t.Helper()
	if a == nil || b == nil {
		t.Fatalf("%s: missing (layered %v, whole %v)", name, a != nil, b != nil)
	}
	if !equalDims(a.Shape, b.Shape) {
		t.Fatalf("%s: shape %v (layered) vs %v (whole)", name, a.Shape, b.Shape)
	}
	x, y := a.Data, b.Data
	if a.Data64 != nil {
		x, y = make([]float32, len(a.Data64)), make([]float32, len(b.Data64))
		for i := range x {
			x[i], y[i] = float32(a.Data64[i]), float32(b.Data64[i])
		}
	}
	for i := range x {
		u, v := float64(x[i]), float64(y[i])
		if math.IsInf(u, -1) && math.IsInf(v, -1) {
			continue // masked scores
		}
		if math.Abs(u-v) > 1e-4*math.Max(1, math.Abs(v)) || math.IsNaN(u) != math.IsNaN(v) {
			t.Fatalf("%s[%d]: %g (layered) vs %g (whole)", name, i, u, v)
		}
	}
}

// The compiled graphs of a run do not grow with depth: capturing every layer's attention pattern
// compiles the embedding, one block and the final stage, for 2 layers as for 8; a second run, other
// tokens, compiles nothing; a run hooking one block adds the graph of that block alone.
func TestBlockGraphSharedAcrossLayers(t *testing.T) {
	for _, L := range []int{2, 8} {
		cfg := tinyConfig()
		cfg.NLayers = L
		m := tinyModel(t, cfg)
		m.SetLayered(true)
		for run := 0; run < 2; run++ {
			if _, err := m.Run(seqs(2, 6, cfg.VocabSize-run), Capture("blocks.*.attn.hook_pattern")); err != nil {
				t.Fatal(err)
			}
			if got := m.Compilations(); got != 3 {
				t.Fatalf("%d layers, run %d: %d graphs compiled, want 3 (embedding, shared block, final)", L, run, got)
			}
		}
		hook := Hook{Point: "blocks.1.attn.hook_z", ID: "double", Fn: func(_ *HookContext, x *Node) *Node { return MulScalar(x, 2) }}
		if _, err := m.Run(seqs(2, 6, cfg.VocabSize), Capture("blocks.*.attn.hook_pattern"), WithHooks(hook)); err != nil {
			t.Fatal(err)
		}
		if got := m.Compilations(); got != 4 {
			t.Fatalf("%d layers: %d graphs after hooking block 1, want 4 (its own block graph added)", L, got)
		}
	}
}

// A hook without an ID is compiled for its run alone, in layered runs as in whole ones, and the
// other stages are still shared.
func TestUnnamedHookStageNotKept(t *testing.T) {
	cfg := tinyConfig()
	m := tinyModel(t, cfg)
	m.SetLayered(true)
	toks := seqs(2, 6, cfg.VocabSize)
	hook := Hook{Point: "blocks.0.hook_resid_post", Fn: func(_ *HookContext, x *Node) *Node { return x }}
	for run := 0; run < 2; run++ {
		if _, err := m.Run(toks, WithHooks(hook)); err != nil {
			t.Fatal(err)
		}
	}
	// Run 1: embedding, hooked block 0, block 1, final (4); run 2: block 0 again (5).
	if got := m.Compilations(); got != 5 {
		t.Fatalf("%d graphs compiled, want 5", got)
	}
	if len(m.stages) != 3 {
		t.Fatalf("%d stages kept, want 3 (the unnamed hook's block graph is dropped)", len(m.stages))
	}
}

// Matrix products in bfloat16 (SetMatmulDType) change every activation after the first product
// by bfloat16 rounding only, in the whole-graph and the staged run alike, and float32 comes back
// exactly when it is set again.
func TestBF16ProductsRounding(t *testing.T) {
	cfg := tinyConfig()
	m := tinyModel(t, cfg)
	toks := seqs(2, 8, cfg.VocabSize)
	ref, err := m.Run(toks, Capture("*"))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.SetMatmulDType(dtypes.BFloat16); err != nil {
		t.Fatal(err)
	}
	for _, layered := range []bool{false, true} {
		m.SetLayered(layered)
		got, err := m.Run(toks, Capture("*"))
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{"blocks.0.attn.hook_q", "blocks.1.hook_resid_post", "logits"} {
			a, b := got.Cache.MustGet(n), ref.Cache.MustGet(n)
			var d2, b2 float64 // relative L2 error: bfloat16 keeps 8 significant bits
			for i := range a.Data {
				d := float64(a.Data[i] - b.Data[i])
				d2 += d * d
				b2 += float64(b.Data[i]) * float64(b.Data[i])
			}
			if rel := math.Sqrt(d2 / b2); rel == 0 || rel > 0.03 {
				t.Errorf("layered %v, %s: relative L2 difference %.3g from float32 products, want bfloat16 rounding (0 < d ≤ 0.03)", layered, n, rel)
			}
		}
	}
	m.SetLayered(false)
	if m.MatmulDType() != dtypes.BFloat16 || m.SetMatmulDType(dtypes.Float16) == nil {
		t.Fatalf("MatmulDType %s; SetMatmulDType(Float16) must fail", m.MatmulDType())
	}
	if err := m.SetMatmulDType(dtypes.Float32); err != nil {
		t.Fatal(err)
	}
	again, err := m.Run(toks, Capture("*"))
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range again.Logits.Data {
		if v != ref.Logits.Data[i] {
			t.Fatalf("logit %d: %g after returning to float32, %g before", i, v, ref.Logits.Data[i])
		}
	}
}

// ObserveRuns reports each run: the graphs it compiled (none when reused), one graph call per stage
// when layered, and the bytes of the outputs read (captures + logits, float32).
func TestObserveRuns(t *testing.T) {
	cfg := tinyConfig()
	B, T := 2, 6
	toks := seqs(B, T, cfg.VocabSize)
	pattern := int64(4 * B * cfg.NHeads * T * T) // one layer's pattern, float32
	logits := int64(4 * B * T * cfg.VocabSize)
	for _, layered := range []bool{false, true} {
		m := tinyModel(t, cfg)
		m.SetLayered(layered)
		var got []RunStat
		m.ObserveRuns(func(s RunStat) { got = append(got, s) })
		for range 2 {
			if _, err := m.Run(toks, Capture("blocks.*.attn.hook_pattern")); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := m.Run(toks[:1], Capture("nope")); err == nil {
			t.Fatal("a run capturing an unknown hook point succeeded")
		}
		m.ObserveRuns(nil)
		if _, err := m.Run(toks, Capture("blocks.*.attn.hook_pattern")); err != nil {
			t.Fatal(err)
		}
		calls, compiled := 1, 1
		if layered {
			calls, compiled = cfg.NLayers+2, 3 // embedding, each block, final; one shared block graph
		}
		if len(got) != 2 {
			t.Fatalf("layered %v: %d runs observed, want 2 (failed and unobserved runs are not reported)", layered, len(got))
		}
		for i, s := range got {
			wantCompiled := compiled
			if i > 0 {
				wantCompiled = 0
			}
			want := int64(cfg.NLayers)*pattern + logits
			if s.Batch != B || s.SeqLen != T || s.Compiled != wantCompiled || s.Calls != calls || s.ToHostBytes != want || s.Started.IsZero() {
				t.Errorf("layered %v, run %d: %+v, want batch %d, seq %d, %d compiled, %d calls, %d bytes", layered, i, s, B, T, wantCompiled, calls, want)
			}
			if s.CallSeconds <= 0 || s.CopySeconds < 0 {
				t.Errorf("layered %v, run %d: call %gs, copy %gs", layered, i, s.CallSeconds, s.CopySeconds)
			}
		}
	}
}

// ParamColumn reads one column, as Param's full copy has it, for float32 and bfloat16 weights.
func TestParamColumn(t *testing.T) {
	cfg := tinyConfig()
	m32 := tinyModel(t, cfg)
	weights := map[string]*tensors.Tensor{}
	for name, shape := range cfg.ParamShapes() {
		vals, _, err := m32.Param(name)
		if err != nil {
			t.Fatal(err)
		}
		half := make([]bfloat16.BFloat16, len(vals))
		for i, v := range vals {
			half[i] = bfloat16.FromFloat32(v)
		}
		weights[name] = tensors.FromFlatDataAndDimensions(half, shape...)
	}
	m16, err := New(m32.Backend, cfg, weights)
	if err != nil {
		t.Fatal(err)
	}
	name := "blocks/1/mlp/down/weights" // [d, f]
	for _, m := range []*Model{m32, m16} {
		full, dims, err := m.Param(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range []int{0, 3, dims[1] - 1} {
			col, err := m.ParamColumn(name, j)
			if err != nil {
				t.Fatal(err)
			}
			if len(col) != dims[0] {
				t.Fatalf("column %d: %d values, want %d", j, len(col), dims[0])
			}
			for i, v := range col {
				if v != full[i*dims[1]+j] {
					t.Fatalf("%s column %d row %d: %g, Param has %g", name, j, i, v, full[i*dims[1]+j])
				}
			}
		}
	}
	for _, c := range []struct {
		name string
		j    int
		want string
	}{
		{name, cfg.DMLP, "outside 0.."},
		{name, -1, "outside 0.."},
		{"blocks/0/ln1/scale", 0, "a column needs a matrix"},
		{"blocks/0/nope", 0, "no parameter"},
	} {
		if _, err := m32.ParamColumn(c.name, c.j); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParamColumn(%q, %d): %v, want an error containing %q", c.name, c.j, err, c.want)
		}
	}
}

// SetLayeredFrom stages the runs that build at least that many blocks and runs shorter ones whole;
// SetLayered(true) stages every run with a block, SetLayered(false) none.
func TestLayeredFrom(t *testing.T) {
	cfg := tinyConfig()
	cfg.NLayers = 4
	toks := seqs(2, 6, cfg.VocabSize)
	short := []Option{Capture("blocks.1.attn.hook_z"), NoLogits()} // builds 2 blocks
	long := []Option{Capture("blocks.1.attn.hook_z")}              // the logits: 4 blocks
	for _, c := range []struct {
		from              int
		shortSt, longStat int // graph calls of each run: 1 whole, blocks + 1 or + 2 staged
	}{
		{0, 1, 1}, {1, 3, 6}, {3, 1, 6}, {5, 1, 1},
	} {
		m := tinyModel(t, cfg)
		m.SetLayeredFrom(c.from)
		var calls []int
		m.ObserveRuns(func(s RunStat) { calls = append(calls, s.Calls) })
		if _, err := m.Run(toks, short...); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Run(toks, long...); err != nil {
			t.Fatal(err)
		}
		if len(calls) != 2 || calls[0] != c.shortSt || calls[1] != c.longStat || m.LayeredFrom() != c.from {
			t.Errorf("SetLayeredFrom(%d): graph calls %v, want [%d %d]", c.from, calls, c.shortSt, c.longStat)
		}
	}
	m := tinyModel(t, cfg)
	m.SetLayered(true)
	if m.LayeredFrom() != 1 {
		t.Errorf("SetLayered(true): LayeredFrom %d, want 1", m.LayeredFrom())
	}
	m.SetLayered(false)
	if m.LayeredFrom() != 0 {
		t.Errorf("SetLayered(false): LayeredFrom %d, want 0", m.LayeredFrom())
	}
}
