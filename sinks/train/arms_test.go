package train

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sinkscope/sinkscope/sinks/hf"
	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// arms are the architectures of the sink-removal comparison, on the tiny test model.
func arms() []struct {
	name string
	cfg  transformer.Config
} {
	base := tinyOptions(1).Model
	var out []struct {
		name string
		cfg  transformer.Config
	}
	add := func(name string, edit func(c *transformer.Config)) {
		c := base
		edit(&c)
		out = append(out, struct {
			name string
			cfg  transformer.Config
		}{name, c})
	}
	add("baseline", func(c *transformer.Config) {})
	add("headnorm-per-head", func(c *transformer.Config) {
		c.HeadNorm = transformer.HeadNormConfig{Enabled: true, InitFirstToken: true}
	})
	add("headnorm-shared", func(c *transformer.Config) {
		c.HeadNorm = transformer.HeadNormConfig{Enabled: true, SharedGamma: true, InitFirstToken: true}
	})
	add("sigmoid", func(c *transformer.Config) { c.Attention, c.SigmoidBiasLogN = transformer.SigmoidAttention, true })
	add("gated", func(c *transformer.Config) { c.GatedAttention = true })
	add("sink-kv", func(c *transformer.Config) { c.SinkKV = true })
	return out
}

// Weight decay by name: every parameter of every arm gets the decision of its kind, listed here
// independently of Decays; a parameter of a kind not listed fails the test (decide it first).
func TestDecays(t *testing.T) {
	decayed := map[string]bool{
		"embed/weights": true, "pos_embed/weights": true, "unembed/weights": true,
		"attn/q/weights": true, "attn/k/weights": true, "attn/v/weights": true, "attn/o/weights": true, "attn/gate/weights": true,
		"mlp/gate/weights": true, "mlp/up/weights": true, "mlp/down/weights": true,
		"ln1/scale": false, "ln1/bias": false, "ln2/scale": false, "ln2/bias": false, "ln_final/scale": false, "ln_final/bias": false,
		"attn/q/bias": false, "attn/k/bias": false, "attn/v/bias": false, "attn/o/bias": false,
		"mlp/gate/bias": false, "mlp/up/bias": false, "mlp/down/bias": false,
		"attn/q_norm/scale": false, "attn/k_norm/scale": false, "attn/head_norm/scale": false,
		"attn/sink/key": false, "attn/sink/value": false,
	}
	kind := func(name string) string {
		parts := strings.Split(name, "/")
		if parts[0] == "blocks" {
			parts = parts[2:] // blocks/{L}/…
		}
		return strings.Join(parts, "/")
	}
	var cfgs []transformer.Config
	for _, a := range arms() {
		cfgs = append(cfgs, a.cfg)
	}
	gpt2 := transformer.Config{Family: transformer.GPT2, VocabSize: 16, DModel: 16, NLayers: 1, NHeads: 2, DMLP: 32, MaxSeqLen: 8,
		Norm: transformer.LayerNorm, NormEps: 1e-5, Position: transformer.Learned, MLP: transformer.Plain, Activation: "gelu_new",
		QKVBias: true, OutBias: true, MLPBias: true, BOSTokenID: -1, EOSTokenID: -1,
		SinkKV: true, GatedAttention: true, HeadNorm: transformer.HeadNormConfig{Enabled: true}}
	qwen3 := cfgs[0]
	qwen3.Family, qwen3.QKNorm, qwen3.MLPBias, qwen3.NKVHeads = transformer.Qwen3, true, true, 2
	cfgs = append(cfgs, gpt2, qwen3)
	seen := map[string]bool{}
	for _, c := range cfgs {
		shapes := c.ParamShapes()
		for _, name := range c.ParamNames() {
			want, ok := decayed[kind(name)]
			if !ok {
				t.Errorf("%s: no decay decision for parameters of kind %q", name, kind(name))
				continue
			}
			seen[kind(name)] = true
			for _, path := range []string{name, "/" + name} {
				if got := Decays(path); got != want {
					t.Errorf("Decays(%q) = %v, want %v (shape %v)", path, got, want, shapes[name])
				}
			}
		}
	}
	for k := range decayed {
		if !seen[k] {
			t.Errorf("no test config has a parameter of kind %q", k)
		}
	}
	// Per-head γ and the sink vectors are matrices: a rule by rank would decay them.
	if s := cfgs[1].ParamShapes()["blocks/0/attn/head_norm/scale"]; len(s) != 2 {
		t.Errorf("per-head γ has shape %v, expected rank 2", s)
	}
}

// One AdamW step on parameters whose gradient is exactly zero (every W_O is zero, so nothing
// before it in the attention reaches the loss): the decayed matrices shrink by exactly 1 − lr·wd,
// while HeadNorm γ and the sink key and value, matrices too, stay as they were.
func TestNoWeightDecayOnGammaAndSink(t *testing.T) {
	be := newBackend(t)
	opts := tinyOptions(1)
	opts.Opt.Warmup, opts.Opt.LR, opts.Opt.WeightDecay = 0, 0.01, 0.1
	opts.EvalEvery, opts.SinkEvery, opts.SaveEvery = 0, 0, 0
	opts.Model.SinkKV, opts.Model.GatedAttention = true, true
	opts.Model.HeadNorm = transformer.HeadNormConfig{Enabled: true, InitGamma: 0.7}
	cfg := opts.Model
	w := transformer.RandomWeights(&cfg, opts.Init)
	for _, name := range cfg.ParamNames() {
		switch {
		case strings.HasSuffix(name, "attn/o/weights"):
			w[name] = tensors.FromShape(w[name].Shape()) // zeros
		case strings.Contains(name, "/sink/"):
			vals := tensors.MustCopyFlatData[float32](w[name])
			for i := range vals {
				vals[i] = 0.5 + 0.01*float32(i)
			}
			w[name] = tensors.FromFlatDataAndDimensions(vals, w[name].Shape().Dimensions...)
		}
	}
	initDir := filepath.Join(t.TempDir(), "init")
	if err := hf.Save(initDir, &cfg, w, nil); err != nil {
		t.Fatal(err)
	}
	opts.InitFrom = initDir
	dir := t.TempDir()
	if _, err := Run(context.Background(), be, dir, opts, chainStream{16, 16}, nil); err != nil {
		t.Fatal(err)
	}
	ck, err := hf.Load(filepath.Join(dir, "ckpt-0000001"), nil)
	if err != nil {
		t.Fatal(err)
	}
	factor := float32(1 - opts.Opt.LR*opts.Opt.WeightDecay)
	for l := 0; l < cfg.NLayers; l++ {
		for _, c := range []struct {
			name  string
			decay bool
		}{{"attn/head_norm/scale", false}, {"attn/sink/key", false}, {"attn/sink/value", false}, {"ln1/scale", false},
			{"attn/q/weights", true}, {"attn/v/weights", true}, {"attn/gate/weights", true}} {
			name := fmt.Sprintf("blocks/%d/%s", l, c.name)
			before, after := tensors.MustCopyFlatData[float32](w[name]), tensors.MustCopyFlatData[float32](ck.Weights[name])
			for i := range before {
				want := before[i]
				if c.decay {
					want = before[i] * factor
				}
				if math.Abs(float64(after[i]-want)) > 1e-7*math.Abs(float64(want)) {
					t.Errorf("%s[%d]: %g after one step, want %g (zero gradient, decay %v)", name, i, after[i], want, c.decay)
					break
				}
			}
		}
	}
}

// Every arm trains (finite losses, its own parameters move), and its checkpoint — config.json plus
// model.safetensors, as the findings load it — gives back the same model: the same config and
// bit-identical logits. A checkpoint of one arm never resumes as another.
func TestArmsTrainSaveAndLoad(t *testing.T) {
	be := newBackend(t)
	toks := [][]int{{0, 3, 4, 5, 1, 9, 10, 11}, {0, 7, 8, 2, 3, 4, 12, 13}}
	for i, arm := range arms() {
		t.Run(arm.name, func(t *testing.T) {
			opts := tinyOptions(4)
			opts.Model, opts.EvalEvery, opts.SinkEvery, opts.SaveEvery = arm.cfg, 0, 0, 0
			dir := t.TempDir()
			s, err := Run(context.Background(), be, dir, opts, chainStream{16, 16}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if math.IsNaN(s.Loss) || math.IsNaN(s.ValLoss) || s.Sink == nil {
				t.Fatalf("loss %g, validation loss %g, sink statistics %v", s.Loss, s.ValLoss, s.Sink)
			}
			ckpts, err := Checkpoints(dir)
			if err != nil || len(ckpts) != 1 {
				t.Fatalf("checkpoints %v, %v", ckpts, err)
			}
			loaded, err := hf.Load(ckpts[0].Dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := configKey(loaded.Config), configKey(&arm.cfg); got != want {
				t.Fatalf("the checkpoint's config reads back as\n  %s\nwant\n  %s", got, want)
			}
			init := transformer.RandomWeights(&arm.cfg, opts.Init)
			for _, name := range arm.cfg.ParamNames() {
				if !strings.Contains(name, "head_norm") && !strings.Contains(name, "/sink/") && !strings.Contains(name, "attn/gate") {
					continue
				}
				a, b := tensors.MustCopyFlatData[float32](init[name]), tensors.MustCopyFlatData[float32](loaded.Weights[name])
				moved := false
				for j := range a {
					moved = moved || a[j] != b[j]
				}
				if !moved {
					t.Errorf("%s did not change in training", name)
				}
			}

			// The loaded model computes what the trained one does.
			store, _, err := loadCheckpoint(ckpts[0], &arm.cfg)
			if err != nil {
				t.Fatal(err)
			}
			trained, err := transformer.FromStore(be, &arm.cfg, store)
			if err != nil {
				t.Fatal(err)
			}
			fromFile, err := transformer.New(be, loaded.Config, loaded.Weights)
			if err != nil {
				t.Fatal(err)
			}
			want, err := trained.Run(toks)
			if err != nil {
				t.Fatal(err)
			}
			got, err := fromFile.Run(toks)
			if err != nil {
				t.Fatal(err)
			}
			for j := range want.Logits.Data {
				if want.Logits.Data[j] != got.Logits.Data[j] {
					t.Fatalf("logit %d: %g trained, %g loaded", j, want.Logits.Data[j], got.Logits.Data[j])
				}
			}

			// Another arm with the same parameters (the sigmoid arm has the baseline's) is refused.
			other := arms()[(i+1)%len(arms())].cfg
			if arm.name == "baseline" {
				other = arms()[3].cfg // sigmoid: the same parameter names and shapes
			}
			if _, _, err := loadCheckpoint(ckpts[0], &other); err == nil || !strings.Contains(err.Error(), "does not match this run's model") {
				t.Errorf("resuming %s as another arm: %v", arm.name, err)
			}
		})
	}
}
