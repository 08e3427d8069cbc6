package transformer

import (
	"fmt"
	"math"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
)

// The tests named TestMultiDevice… are the ones scripts/gpu-dataparallel.sh runs on the GPU
// machine: on the pure-Go backend they check the errors and the choice of split axes; on an XLA
// backend (GOMLX_BACKEND=xla:<plugin>) they also compare a sharded model with the plain one.

// gpt2Tiny is tinyConfig as GPT-2: learned positions, LayerNorm, biases everywhere, tied embeddings.
func gpt2Tiny() *Config {
	cfg := tinyConfig()
	cfg.Family, cfg.Norm, cfg.Position, cfg.MLP, cfg.Activation = GPT2, LayerNorm, Learned, Plain, "gelu_new"
	cfg.QKVBias, cfg.OutBias, cfg.MLPBias, cfg.NKVHeads, cfg.TiedEmbeddings = true, true, true, 0, true
	return cfg
}

// The Megatron split: q/k/v/gate and MLP up/gate on their output axis, attn/o and MLP down on their
// input axis, embeddings on the vocabulary (or the model axis when V does not divide), everything
// small replicated, and any axis that does not divide by n replicated.
func TestMultiDeviceShardAxes(t *testing.T) {
	cfg := tinyConfig() // V 50, D 32, H 4, KV 2, dh 8, F 64
	cfg.GatedAttention, cfg.HeadNorm = true, HeadNormConfig{Enabled: true}
	got := shardAxes(cfg, 2)
	want := map[string]int{
		"embed/weights": 0, "unembed/weights": 0, "ln_final/scale": -1,
		"blocks/1/ln1/scale": -1, "blocks/1/ln2/scale": -1, "blocks/1/attn/head_norm/scale": -1,
		"blocks/1/attn/q/weights": 0, "blocks/1/attn/k/weights": 0, "blocks/1/attn/v/weights": 0,
		"blocks/1/attn/gate/weights": 0, "blocks/1/attn/o/weights": 1,
		"blocks/1/mlp/gate/weights": 0, "blocks/1/mlp/up/weights": 0, "blocks/1/mlp/down/weights": 1,
	}
	if len(got) != len(cfg.ParamShapes()) {
		t.Errorf("%d parameters have an axis, the model has %d", len(got), len(cfg.ParamShapes()))
	}
	for name, axis := range want {
		if a, ok := got[name]; !ok || a != axis {
			t.Errorf("n 2: parameter %q %v split on axis %d (present %v), want %d", name, cfg.ParamShapes()[name], a, ok, axis)
		}
	}
	// n 4: KV·dh 16 and V 50 → the vocabulary does not divide, the model axis 32 does.
	if a := shardAxes(cfg, 4); a["embed/weights"] != 1 || a["blocks/0/attn/k/weights"] != 0 {
		t.Errorf("n 4: embed on axis %d (want 1, V 50 does not divide), k on %d (want 0)", a["embed/weights"], a["blocks/0/attn/k/weights"])
	}
	// n 3 divides nothing: all replicated, never an error.
	for name, axis := range shardAxes(cfg, 3) {
		if axis != -1 {
			t.Errorf("n 3: parameter %q %v split on axis %d; no axis divides by 3", name, cfg.ParamShapes()[name], axis)
		}
	}
	g := gpt2Tiny()
	a := shardAxes(g, 2)
	if _, ok := a["unembed/weights"]; ok {
		t.Error("tied embeddings have no unembed/weights, but it got an axis")
	}
	for name, axis := range map[string]int{"pos_embed/weights": 1, "blocks/0/attn/q/bias": -1, "blocks/0/mlp/down/bias": -1, "blocks/0/ln1/bias": -1} {
		if a[name] != axis {
			t.Errorf("gpt2 n 2: parameter %q split on axis %d, want %d", name, a[name], axis)
		}
	}
}

// The refusals say what was asked and what the backend has, and leave the model as it was: it
// still runs plain and no parameter has a sharding spec.
func TestMultiDeviceErrors(t *testing.T) {
	cfg := tinyConfig()
	m := tinyModel(t, cfg)
	be := m.Backend
	have := be.NumDevices()
	for _, c := range []struct {
		n    int
		want string
	}{
		{0, "ShardOver(0): the number of devices must be at least 1"},
		{-2, "ShardOver(-2): the number of devices must be at least 1"},
		{have + 1, fmt.Sprintf("ShardOver(%d): backend %q has %d device(s), fewer than the %d asked", have+1, be.Name(), have, have+1)},
	} {
		if err := m.ShardOver(c.n); err == nil || err.Error() != c.want {
			t.Errorf("ShardOver(%d) = %v, want %q", c.n, err, c.want)
		}
		if err := CheckShardOver(be, c.n); err == nil || err.Error() != c.want {
			t.Errorf("CheckShardOver(%d) = %v, want %q", c.n, err, c.want)
		}
	}
	// One device: GoMLX distributes only over two or more, so ShardOver(1) leaves the model as it
	// is, on every backend.
	if err := m.ShardOver(1); err != nil {
		t.Fatalf("ShardOver(1) on backend %q: %v", be.Name(), err)
	}
	if err := CheckShardOver(be, 1); err != nil {
		t.Errorf("CheckShardOver(1) on backend %q: %v", be.Name(), err)
	}
	if m.ShardedOver() != 0 {
		t.Errorf("after ShardOver(1) and the refusals ShardedOver() = %d, want 0", m.ShardedOver())
	}
	for _, name := range sortedKeys(cfg.ParamShapes()) {
		if s := m.Store.GetVariable("/" + name).ShardingSpec(); s != nil {
			t.Errorf("after ShardOver(1) and the refusals parameter %q has sharding spec %s", name, s)
		}
	}
	if _, err := m.RunWithCache(seqs(2, 6, cfg.VocabSize), "blocks.1.hook_resid_post"); err != nil {
		t.Errorf("a run after ShardOver(1) on backend %q: %v", be.Name(), err)
	}

	store := model.NewStore()
	for name, w := range RandomWeights(cfg, RandomInit{Seed: 3}) {
		if _, err := store.CreateVariable("/"+name, w); err != nil {
			t.Fatal(err)
		}
	}
	shared, err := FromStore(be, cfg, store)
	if err != nil {
		t.Fatal(err)
	}
	want := "ShardOver(1): the model shares its store with a trainer (transformer.FromStore); shard a model built by New or NewRandom"
	if err := shared.ShardOver(1); err == nil || err.Error() != want {
		t.Errorf("ShardOver(1) of a FromStore model = %v, want %q", err, want)
	}
}

// relDiff is max |a − b| / max |b| (equal values, −Inf included, differ by 0).
func relDiff(a, b []float32) float64 {
	scale := 0.0
	for _, v := range b {
		if !math.IsInf(float64(v), 0) {
			scale = math.Max(scale, math.Abs(float64(v)))
		}
	}
	return maxAbsDiff(a, b) / math.Max(scale, 1e-30)
}

// On an XLA backend with two or more devices, a model sharded over two gives the plain model's captures,
// logits and reductions to 1e-5 relative, for a Llama-style (GQA, SwiGLU, RoPE) and a GPT-2-style
// (biases, learned positions, tied embeddings) model, and SetParam on the sharded model reaches the
// next run.
func TestMultiDeviceShardedMatchesSingle(t *testing.T) {
	be := testBackend(t)
	if be.Name() != "xla" || be.NumDevices() < 2 {
		t.Skipf("backend %q with %d device(s): the sharded comparison needs an XLA backend (GOMLX_BACKEND=xla:<plugin>) with 2 or more devices (scripts/gpu-dataparallel.sh)", be.Name(), be.NumDevices())
	}
	n := 2
	const tol = 1e-5
	col0 := Reduction{Point: "blocks.*.attn.hook_pattern", ID: "col0",
		Fn: func(ctx *HookContext, x *Node) []*Node { // x [b, h, q, k]
			c := Slice(x, AxisRange(), AxisRange(), AxisRange(), AxisElem(0)) // [b, h, q, 1]
			return []*Node{ReduceSum(c, 0, 2, 3)}                             // [h]
		}}
	captures := []string{"blocks.*.attn.hook_pattern", "blocks.0.attn.hook_z", "blocks.1.mlp.hook_post", "blocks.*.hook_resid_post"}
	for _, variant := range []string{"llama", "gpt2"} {
		t.Run(variant, func(t *testing.T) {
			cfg := tinyConfig()
			if variant == "gpt2" {
				cfg = gpt2Tiny()
			}
			toks := seqs(4, 12, cfg.VocabSize)
			run := func(m *Model) *Result {
				t.Helper()
				res, err := m.Run(toks, Capture(captures...), Reduce(col0))
				if err != nil {
					t.Fatalf("ShardedOver %d: %v", m.ShardedOver(), err)
				}
				return res
			}
			m := tinyModel(t, cfg)
			plain := run(m) // the plain run leaves the weights on device 0; ShardOver frees them
			if err := m.ShardOver(n); err != nil {
				t.Fatal(err)
			}
			if m.ShardedOver() != n {
				t.Fatalf("ShardedOver() = %d after ShardOver(%d)", m.ShardedOver(), n)
			}
			sharded := run(m)
			compare := func(what string, got, want *Activation) {
				t.Helper()
				if fmt.Sprint(got.Shape) != fmt.Sprint(want.Shape) {
					t.Fatalf("%s: shape %v sharded over %d devices, %v plain", what, got.Shape, n, want.Shape)
				}
				if d := relDiff(got.Data, want.Data); d > tol {
					t.Errorf("%s %v: sharded over %d devices differs from plain by %.3g relative (max %g)", what, want.Shape, n, d, tol)
				}
			}
			for _, name := range plain.Cache.Names() {
				compare(name, sharded.Cache.MustGet(name), plain.Cache.MustGet(name))
			}
			if len(sharded.Cache.Names()) != len(plain.Cache.Names()) {
				t.Errorf("captured %v sharded, %v plain", sharded.Cache.Names(), plain.Cache.Names())
			}
			compare("logits", sharded.Logits, plain.Logits)
			for hook, outs := range plain.Reduced["col0"] {
				compare("reduction col0 at "+hook, sharded.Reduced["col0"][hook][0], outs[0])
			}
			if len(plain.Reduced["col0"]) != cfg.NLayers {
				t.Errorf("reduction col0 at %d hook points, want %d", len(plain.Reduced["col0"]), cfg.NLayers)
			}

			// SetParam on the sharded model: the next run splits the new values (compared with a
			// plain model given the same edit).
			name := "blocks/1/mlp/down/weights"
			w, _, err := m.Param(name)
			if err != nil {
				t.Fatal(err)
			}
			for i := range w {
				w[i] *= 3
			}
			ref := tinyModel(t, cfg)
			for _, x := range []*Model{m, ref} {
				if err := x.SetParam(name, w); err != nil {
					t.Fatal(err)
				}
			}
			edited, want := run(m), run(ref)
			compare("logits after SetParam", edited.Logits, want.Logits)
			if maxAbsDiff(edited.Logits.Data, sharded.Logits.Data) < 1e-4 {
				t.Error("the sharded model's logits did not change after SetParam")
			}
		})
	}
}
