package models

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/sinkscope/sinkscope/sinks/backend"
	"github.com/sinkscope/sinkscope/sinks/hf"
	"github.com/sinkscope/sinkscope/sinks/train"
	"github.com/sinkscope/sinkscope/sinks/transformer"
)

func TestOpenSources(t *testing.T) {
	be, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	l, err := Open(be, "random:tiny@5", nil)
	if err != nil {
		t.Fatal(err)
	}
	if l.Kind != "random" || l.Model.Config.NLayers != 2 || l.Tokenizer != nil {
		t.Fatalf("random:tiny@5 opened as %+v", l)
	}
	// The seed decides the weights; the same seed gives the same weights.
	a, _, _ := l.Model.Param("blocks/0/attn/q/weights")
	l2, _ := Open(be, "random:tiny@5", nil)
	b, _, _ := l2.Model.Param("blocks/0/attn/q/weights")
	l3, _ := Open(be, "random:tiny@6", nil)
	c, _, _ := l3.Model.Param("blocks/0/attn/q/weights")
	if a[0] != b[0] || a[0] == c[0] {
		t.Fatalf("seeded weights: %g %g %g", a[0], b[0], c[0])
	}

	l, err = Open(be, "../transformer/testdata/parity/qwen2", nil)
	if err != nil {
		t.Fatal(err)
	}
	if l.Kind != "hf" || l.Model.Config.Family != "qwen2" || !strings.Contains(l.Describe(), "2 kv heads") {
		t.Fatalf("qwen2 fixture: %s", l.Describe())
	}

	for src, want := range map[string]string{
		"":                     "empty model source",
		"random:huge":          `unknown preset "huge"`,
		"random:tiny@-1":       `seed "-1"`,
		"/nonexistent/model":   "/nonexistent/model",
		"../transformer/hooks": "",
	} {
		_, err := Open(be, src, nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Open(%q): %v, want an error containing %q", src, err, want)
		}
	}
}

// trained:<preset> trains on first use into the cache, then loads the cached final checkpoint.
func TestTrainedSource(t *testing.T) {
	t.Setenv(CacheEnv, t.TempDir())
	be, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	l, err := Open(be, "trained:bb-tiny@2", nil)
	if err != nil {
		t.Fatal(err)
	}
	if l.Kind != "trained" || l.Trained == nil || l.Trained.Cached || l.Trained.Steps != 30 || l.Trained.Seed != 2 || l.Model.Config.BOSTokenID != 0 {
		t.Fatalf("first open: kind %q, %+v, BOS %d", l.Kind, l.Trained, l.Model.Config.BOSTokenID)
	}
	again, err := Open(be, "trained:bb-tiny@2", nil)
	if err != nil || !again.Trained.Cached || again.Trained.Seconds != l.Trained.Seconds {
		t.Fatalf("second open: %v, %+v", err, again.Trained)
	}
	if d := again.Describe(); !strings.Contains(d, "preset bb-tiny seed 2, 30 steps (trained in") {
		t.Errorf("Describe: %s", d)
	}
	for src, want := range map[string]string{
		"trained:nope":       `unknown training preset "nope"`,
		"trained:bb-tiny@-1": `seed "-1" is not a non-negative integer`,
	} {
		if _, err := Open(be, src, nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error containing %q", src, err, want)
		}
	}
}

// EnsureTrained reports each training step, and then finds the cached model without training.
func TestEnsureTrained(t *testing.T) {
	t.Setenv(CacheEnv, t.TempDir())
	steps := 0
	tr, err := EnsureTrained(nil, "trained:bb-tiny", func(p train.Progress) { steps = p.Step })
	if err != nil || tr.Cached || steps != 30 {
		t.Fatalf("first call: %+v, %v, last step reported %d", tr, err, steps)
	}
	steps = 0
	if tr, err = EnsureTrained(nil, "trained:bb-tiny", func(p train.Progress) { steps = p.Step }); err != nil || !tr.Cached || steps != 0 {
		t.Fatalf("second call: %+v, %v, %d steps reported", tr, err, steps)
	}
	if _, err := EnsureTrained(nil, "planted", nil); err == nil || !strings.Contains(err.Error(), "not a trained:<preset>[@seed] source") {
		t.Errorf("planted: %v", err)
	}
}

// A checkpoint of a sink-removal arm (its options in config.json's "sinkscope" object, its
// parameters in model.safetensors) opens as that arm, says so, and computes what was saved.
func TestOpenArmCheckpoint(t *testing.T) {
	be, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	p, err := transformer.LookupPreset("tiny")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		edit func(c *transformer.Config)
		want string
	}{
		{func(c *transformer.Config) {
			c.HeadNorm = transformer.HeadNormConfig{Enabled: true, SharedGamma: true, InitFirstToken: true}
		}, "HeadNorm (shared γ)"},
		{func(c *transformer.Config) { c.Attention, c.SigmoidBiasLogN = transformer.SigmoidAttention, true }, "sigmoid attention (−log n bias)"},
		{func(c *transformer.Config) { c.SinkKV, c.GatedAttention = true, true }, "gated attention, learnable key/value sink"},
	} {
		cfg := p.Config
		c.edit(&cfg)
		w := transformer.RandomWeights(&cfg, p.Init)
		want, err := transformer.New(be, &cfg, transformer.RandomWeights(&cfg, p.Init))
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(t.TempDir(), "arm")
		if err := hf.Save(dir, &cfg, w, nil); err != nil {
			t.Fatal(err)
		}
		l, err := Open(be, dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(l.Describe(), c.want) {
			t.Errorf("Describe() = %q, want it to name %q", l.Describe(), c.want)
		}
		toks := [][]int{{1, 2, 3, 4, 5}}
		a, err := want.Run(toks)
		if err != nil {
			t.Fatal(err)
		}
		b, err := l.Model.Run(toks)
		if err != nil {
			t.Fatal(err)
		}
		for i := range a.Logits.Data {
			if a.Logits.Data[i] != b.Logits.Data[i] {
				t.Fatalf("%s: logit %d is %g saved, %g opened", c.want, i, a.Logits.Data[i], b.Logits.Data[i])
			}
		}
	}
}
