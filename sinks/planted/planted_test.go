package planted

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/sinkscope/sinkscope/sinks/backend"
	"github.com/sinkscope/sinkscope/sinks/metrics"
	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// The test batch: 16 BOS-led sequences of 64 tokens, drawn with a seed other than the calibration's.
const (
	testSeqs = 16
	testLen  = 64
	testSeed = 2024
)

var (
	buildOnce sync.Once
	shared    *Planted
	buildErr  error
)

// model builds the default planted model once; tests that remove the neuron build their own.
func model(t *testing.T) *Planted {
	t.Helper()
	buildOnce.Do(func() {
		be, err := backend.New()
		if err != nil {
			buildErr = err
			return
		}
		shared, buildErr = Build(be, DefaultSpec())
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return shared
}

// chain holds the statistics of each link, measured on one batch.
type chain struct {
	// Contrast[f] = mean |post| at position 0 / mean |post| at positions 1.. for neuron f at Layer.
	Contrast []float64
	// FirstPost is the super neuron's mean |post| at position 0.
	FirstPost float64
	// MaxGateOthers is the largest gate pre-activation of the super neuron at positions 1..
	MaxGateOthers float64
	// FirstAbs[j] = mean |resid_pre| of token 0 at Layer+1, dimension j.
	FirstAbs []float64
	// Disparity = mean over sequences of |x[Dim]| / mean_{j≠Dim} |x[j]| at Layer+1's ln1 output, position 0.
	Disparity float64
	// Profile is metrics.SinkProfile.
	Profile []metrics.LayerSink
	// MassiveRatio = |token 0's resid[Dim]| / median |resid| over all positions and dimensions, at Layer+1's input.
	MassiveRatio float64
	// Positive[h] is the share of queries 1.. of head h at Layer+1 with q_i·k_0 > 0 (before RoPE).
	Positive []float64
	// ScoreGap is the mean over heads and queries 1.. at Layer+1 of the (scaled, RoPE-applied) score of
	// key 0 minus the mean score of keys 1..q.
	ScoreGap float64
}

func measure(t *testing.T, p *Planted, toks [][]int) chain {
	t.Helper()
	s := p.Spec
	L, cfg := s.Layer, &s.Config
	names := append([]string{
		fmt.Sprintf("blocks.%d.mlp.hook_post", L),
		fmt.Sprintf("blocks.%d.mlp.hook_gate", L),
		fmt.Sprintf("blocks.%d.ln1.hook_normalized", L+1),
		fmt.Sprintf("blocks.%d.attn.hook_q", L+1),
		fmt.Sprintf("blocks.%d.attn.hook_k", L+1),
		fmt.Sprintf("blocks.%d.attn.hook_attn_scores", L+1),
	}, metrics.SinkProfileNames...)
	cache, err := p.Model.RunWithCache(toks, names...)
	if err != nil {
		t.Fatal(err)
	}
	B, T, D, F := len(toks), len(toks[0]), cfg.DModel, cfg.DMLP
	var c chain

	post := cache.MustGet("mlp.hook_post", L)
	first, others := make([]float64, F), make([]float64, F)
	for b := 0; b < B; b++ {
		for tt := 0; tt < T; tt++ {
			row := post.Data[(b*T+tt)*F : (b*T+tt+1)*F]
			for f, v := range row {
				if tt == 0 {
					first[f] += math.Abs(float64(v)) / float64(B)
				} else {
					others[f] += math.Abs(float64(v)) / float64(B*(T-1))
				}
			}
		}
	}
	c.FirstPost = first[s.Neuron]
	c.Contrast = make([]float64, F)
	for f := range first {
		c.Contrast[f] = first[f] / others[f]
	}
	gate := cache.MustGet("mlp.hook_gate", L)
	c.MaxGateOthers = math.Inf(-1)
	for b := 0; b < B; b++ {
		for tt := 1; tt < T; tt++ {
			c.MaxGateOthers = math.Max(c.MaxGateOthers, float64(gate.Data[(b*T+tt)*F+s.Neuron]))
		}
	}

	resid := cache.MustGet("resid_pre", L+1)
	c.FirstAbs = make([]float64, D)
	for b := 0; b < B; b++ {
		for j := 0; j < D; j++ {
			c.FirstAbs[j] += math.Abs(float64(resid.Data[b*T*D+j])) / float64(B)
		}
	}
	all := make([]float64, len(resid.Data))
	for i, v := range resid.Data {
		all[i] = math.Abs(float64(v))
	}
	sort.Float64s(all)
	c.MassiveRatio = c.FirstAbs[s.Dim] / all[len(all)/2]
	ln1 := cache.MustGet("ln1.normalized", L+1)
	for b := 0; b < B; b++ {
		x := ln1.Data[b*T*D : b*T*D+D]
		rest := 0.0
		for j, v := range x {
			if j != s.Dim {
				rest += math.Abs(float64(v))
			}
		}
		c.Disparity += math.Abs(float64(x[s.Dim])) / (rest / float64(D-1)) / float64(B)
	}

	c.Profile, err = metrics.SinkProfile(cache, cfg.NLayers)
	if err != nil {
		t.Fatal(err)
	}

	q, k := cache.MustGet("attn.q", L+1), cache.MustGet("attn.k", L+1) // [b, p, h, dh], [b, p, g, dh]
	H, KV, dh := cfg.NHeads, cfg.KVHeads(), cfg.HeadDim()
	c.Positive = make([]float64, H)
	for h := 0; h < H; h++ {
		g := h / (H / KV)
		n := 0
		for b := 0; b < B; b++ {
			k0 := k.Data[((b*T)*KV+g)*dh : ((b*T)*KV+g+1)*dh]
			for i := 1; i < T; i++ {
				qi := q.Data[((b*T+i)*H+h)*dh : ((b*T+i)*H+h+1)*dh]
				s := 0.0
				for e := range qi {
					s += float64(qi[e]) * float64(k0[e])
				}
				if s > 0 {
					n++
				}
			}
		}
		c.Positive[h] = float64(n) / float64(B*(T-1))
	}
	sc := cache.MustGet("attn.attn_scores", L+1) // [b, h, q, k]
	for b := 0; b < B; b++ {
		for h := 0; h < H; h++ {
			for i := 1; i < T; i++ {
				row := sc.Data[((b*H+h)*T+i)*T : ((b*H+h)*T+i+1)*T]
				rest := 0.0
				for k := 1; k <= i; k++ {
					rest += float64(row[k])
				}
				c.ScoreGap += (float64(row[0]) - rest/float64(i)) / float64(B*H*(T-1))
			}
		}
	}
	return c
}

func argmax(x []float64) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

// rowNorms returns the L2 norms of the rows of an [R, C] parameter.
func rowNorms(t *testing.T, m *transformer.Model, name string) []float64 {
	t.Helper()
	w, dims, err := m.Param(name)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]float64, dims[0])
	for r := range out {
		s := 0.0
		for _, v := range w[r*dims[1] : (r+1)*dims[1]] {
			s += float64(v) * float64(v)
		}
		out[r] = math.Sqrt(s)
	}
	return out
}

func logProfile(t *testing.T, label string, prof []metrics.LayerSink) {
	t.Helper()
	var sb strings.Builder
	for _, l := range prof {
		fmt.Fprintf(&sb, " L%d %.3f (norm ratio %.1f)", l.Layer, l.AttnToFirst, l.NormRatio)
	}
	t.Logf("%s attention to token 0:%s", label, sb.String())
}

func TestChainByConstruction(t *testing.T) {
	p := model(t)
	s := p.Spec
	c := measure(t, p, p.Tokens(testSeqs, testLen, testSeed))

	// (a) The super neuron fires on token 0 only and has the outlying gate/up rows.
	n := s.Neuron
	t.Logf("(a) neuron %d contrast %.3g (next best %.3g); max gate pre-activation elsewhere %.2f vs %.2f at token 0; output at token 0 %.2f",
		n, c.Contrast[n], secondBest(c.Contrast, n), c.MaxGateOthers, s.GatePre, p.FirstOutput)
	if c.MaxGateOthers >= 0 {
		t.Errorf("(a) the gate pre-activation reaches %.3f at a position other than 0, want < 0 everywhere", c.MaxGateOthers)
	}
	if c.Contrast[n] < 50 {
		t.Errorf("(a) neuron %d: |post| at token 0 is only %.3g× its mean elsewhere, want >= 50", n, c.Contrast[n])
	}
	if got := argmax(c.Contrast); got != n {
		t.Errorf("(a) arg-max of the token-0 contrast is neuron %d (%.3g), want %d (%.3g)", got, c.Contrast[got], n, c.Contrast[n])
	}
	for _, name := range []string{"gate", "up"} {
		norms := rowNorms(t, p.Model, fmt.Sprintf("blocks/%d/mlp/%s/weights", s.Layer, name))
		t.Logf("(a) W_%s row norm of neuron %d: %.3f, next largest %.3f", name, n, norms[n], secondBest(norms, n))
		if got := argmax(norms); got != n {
			t.Errorf("(a) largest W_%s row norm is neuron %d, want %d", name, got, n)
		}
	}

	// (b) Dimension disparity.
	t.Logf("(b) token 0 at layer %d input: |x[%d]| = %.2f (%.0f× the median |resid|), next largest dimension %.3f; disparity %.1f",
		s.Layer+1, s.Dim, c.FirstAbs[s.Dim], c.MassiveRatio, secondBest(c.FirstAbs, s.Dim), c.Disparity)
	if got := argmax(c.FirstAbs); got != s.Dim {
		t.Errorf("(b) token 0's largest residual dimension is %d, want %d", got, s.Dim)
	}
	if c.Disparity <= 20 {
		t.Errorf("(b) disparity %.2f, want > 20", c.Disparity)
	}

	// (c) Sink from Layer+1 on, none up to Layer.
	logProfile(t, "(c)", c.Profile)
	for _, l := range c.Profile {
		switch {
		case l.Layer <= s.Layer && l.AttnToFirst >= 0.5:
			t.Errorf("(c) layer %d attends %.3f to token 0 before the super neuron, want < 0.5", l.Layer, l.AttnToFirst)
		case l.Layer > s.Layer && l.AttnToFirst <= 0.8:
			t.Errorf("(c) layer %d attends %.3f to token 0, want > 0.8", l.Layer, l.AttnToFirst)
		}
	}
	if on := metrics.SinkOnset(c.Profile); on != s.Layer+1 {
		t.Errorf("(c) sink onset at layer %d, want %d", on, s.Layer+1)
	}

	// (d) QK lock: nearly every query scores token 0's key positively (before RoPE).
	t.Logf("(d) share of positive q·k_0 per head at layer %d: %v; score of key 0 above the others' mean: %.2f", s.Layer+1, roundAll(c.Positive), c.ScoreGap)
	for h, v := range c.Positive {
		if v <= 0.95 {
			t.Errorf("(d) head %d: %.3f of the queries score token 0 positively, want > 0.95", h, v)
		}
	}
}

func TestRemoveNeuron(t *testing.T) {
	be, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	p, err := Build(be, DefaultSpec())
	if err != nil {
		t.Fatal(err)
	}
	s := p.Spec
	toks := p.Tokens(testSeqs, testLen, testSeed)
	with := measure(t, p, toks)
	before := snapshot(t, p.Model)
	if err := p.RemoveNeuron(); err != nil {
		t.Fatal(err)
	}
	if !p.Removed() {
		t.Error("Removed() is false after RemoveNeuron")
	}
	// Only the neuron's weights changed.
	after := snapshot(t, p.Model)
	for name, w := range before {
		for i, v := range w {
			if after[name][i] != v && !neuronWeight(p, name, i) {
				t.Fatalf("RemoveNeuron changed %s[%d] (%g → %g), which is not the super neuron's", name, i, v, after[name][i])
			}
		}
	}
	without := measure(t, p, toks)
	logProfile(t, "(e) without the neuron,", without.Profile)
	L := s.Layer + 1
	t.Logf("(e) layer %d: attention to token 0 %.3f → %.3f; disparity %.1f → %.2f; token 0's |x[%d]| %.2f → %.3f; neuron |post| at token 0 %.2f → %.2f; positive q·k_0 %v → %v; score gap %.2f → %.2f",
		L, with.Profile[L].AttnToFirst, without.Profile[L].AttnToFirst, with.Disparity, without.Disparity,
		s.Dim, with.FirstAbs[s.Dim], without.FirstAbs[s.Dim], with.FirstPost, without.FirstPost,
		roundAll(with.Positive), roundAll(without.Positive), with.ScoreGap, without.ScoreGap)
	if a := without.Profile[L].AttnToFirst; a >= 0.3 {
		t.Errorf("(e) without the neuron layer %d still attends %.3f to token 0, want < 0.3", L, a)
	}
	for _, l := range without.Profile {
		if l.AttnToFirst >= 0.3 {
			t.Errorf("(e) without the neuron layer %d attends %.3f to token 0, want < 0.3", l.Layer, l.AttnToFirst)
		}
	}
	if without.Disparity >= 5 {
		t.Errorf("(e) without the neuron the disparity is %.2f, want < 5", without.Disparity)
	}
	// Layers up to Layer are untouched by the removal (the neuron only acts from its own output on).
	for l := 0; l <= s.Layer; l++ {
		if d := math.Abs(with.Profile[l].AttnToFirst - without.Profile[l].AttnToFirst); d > 1e-6 {
			t.Errorf("(e) layer %d changed by %g when the neuron was removed", l, d)
		}
	}
	// And it comes back.
	if err := p.RestoreNeuron(); err != nil {
		t.Fatal(err)
	}
	again := measure(t, p, toks)
	if d := math.Abs(again.Profile[L].AttnToFirst - with.Profile[L].AttnToFirst); d > 1e-5 {
		t.Errorf("after RestoreNeuron layer %d attends %.4f to token 0, was %.4f", L, again.Profile[L].AttnToFirst, with.Profile[L].AttnToFirst)
	}
}

func snapshot(t *testing.T, m *transformer.Model) map[string][]float32 {
	t.Helper()
	out := make(map[string][]float32)
	for _, name := range m.Config.ParamNames() {
		w, _, err := m.Param(name)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = w
	}
	return out
}

// neuronWeight reports whether flat index i of parameter name is one of the super neuron's weights.
func neuronWeight(p *Planted, name string, i int) bool {
	s := p.Spec
	D, F := s.Config.DModel, s.Config.DMLP
	switch name {
	case fmt.Sprintf("blocks/%d/mlp/gate/weights", s.Layer), fmt.Sprintf("blocks/%d/mlp/up/weights", s.Layer):
		return i/D == s.Neuron
	case fmt.Sprintf("blocks/%d/mlp/down/weights", s.Layer):
		return i%F == s.Neuron
	}
	return false
}

// Other placements and seeds: the detectors' targets move with the spec, and the sink starts at
// Layer+1 every time, also on 256-token sequences.
func TestOtherSpecs(t *testing.T) {
	be, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		edit func(s *Spec)
	}{
		{"layer 0", func(s *Spec) { s.Layer = 0 }},
		{"layer 3, neuron 500, dim 100", func(s *Spec) { s.Layer, s.Neuron, s.Dim = 3, 500, 100 }},
		{"last possible layer, neuron 0, dim 0", func(s *Spec) { s.Layer, s.Neuron, s.Dim, s.QueryDim = 4, 0, 0, 127 }},
		{"seed 7", func(s *Spec) { s.Seed = 7 }},
		{"seed 8, BOS 0", func(s *Spec) { s.Seed, s.BOS, s.Config.BOSTokenID = 8, 0, -1 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := DefaultSpec()
			tc.edit(&s)
			p, err := Build(be, s)
			if err != nil {
				t.Fatal(err)
			}
			for _, T := range []int{testLen, s.Config.MaxSeqLen} {
				c := measure(t, p, p.Tokens(4, T, testSeed))
				if got := argmax(c.Contrast); got != s.Neuron || c.Contrast[s.Neuron] < 50 {
					t.Errorf("T=%d: contrast arg-max %d (%.3g), want neuron %d with >= 50 (%.3g)", T, got, c.Contrast[got], s.Neuron, c.Contrast[s.Neuron])
				}
				if got := argmax(c.FirstAbs); got != s.Dim || c.Disparity <= 20 {
					t.Errorf("T=%d: token 0's largest dimension %d, want %d; disparity %.1f", T, got, s.Dim, c.Disparity)
				}
				if on := metrics.SinkOnset(c.Profile); on != s.Layer+1 {
					t.Errorf("T=%d: sink onset %d, want %d", T, on, s.Layer+1)
				}
				for _, l := range c.Profile[s.Layer+1:] {
					if l.AttnToFirst <= 0.8 {
						t.Errorf("T=%d: layer %d attends %.3f to token 0, want > 0.8", T, l.Layer, l.AttnToFirst)
					}
				}
			}
		})
	}
}

func TestTokens(t *testing.T) {
	p := model(t)
	toks := p.Tokens(8, 100, 7)
	if len(toks) != 8 {
		t.Fatalf("got %d sequences, want 8", len(toks))
	}
	for b, seq := range toks {
		if len(seq) != 100 || seq[0] != p.Spec.BOS {
			t.Fatalf("sequence %d: length %d, first token %d", b, len(seq), seq[0])
		}
		for i, tok := range seq[1:] {
			if tok == p.Spec.BOS || tok < 0 || tok >= p.Spec.Config.VocabSize {
				t.Fatalf("sequence %d position %d: token %d", b, i+1, tok)
			}
		}
	}
	again := p.Tokens(8, 100, 7)
	for b := range toks {
		for i := range toks[b] {
			if toks[b][i] != again[b][i] {
				t.Fatal("the same seed gave different tokens")
			}
		}
	}
	if p.Tokens(0, 10, 1) != nil || p.Tokens(3, 0, 1) != nil {
		t.Error("Tokens with n or seqLen < 1 should be nil")
	}
}

func TestBadSpecs(t *testing.T) {
	be, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		field string
		edit  func(s *Spec)
	}{
		{"Layer", func(s *Spec) { s.Layer = s.Config.NLayers - 1 }},
		{"Layer", func(s *Spec) { s.Layer = -1 }},
		{"Neuron", func(s *Spec) { s.Neuron = s.Config.DMLP }},
		{"Dim", func(s *Spec) { s.Dim = -3 }},
		{"QueryDim", func(s *Spec) { s.QueryDim = s.Config.DModel }},
		{"QueryDim must differ from Dim", func(s *Spec) { s.QueryDim = s.Dim }},
		{"BOS", func(s *Spec) { s.BOS = s.Config.VocabSize; s.Config.BOSTokenID = -1 }},
		{"Config.BOSTokenID", func(s *Spec) { s.Config.BOSTokenID = 5 }},
		{"Config.MLP", func(s *Spec) { s.Config.MLP = transformer.Plain }},
		{"Config.Norm", func(s *Spec) { s.Config.Norm = transformer.LayerNorm }},
		{"Config.QKNorm", func(s *Spec) { s.Config.QKNorm = true }},
		{"Config: ", func(s *Spec) { s.Config.DModel = 0 }},
		{"Massive", func(s *Spec) { s.Massive = 0 }},
		{"GatePre", func(s *Spec) { s.GatePre = math.NaN() }},
		{"LockPairs", func(s *Spec) { s.LockPairs = s.Config.HeadDim() }},
		{"CalibLen", func(s *Spec) { s.CalibLen = 1 }},
	}
	for _, tc := range cases {
		s := DefaultSpec()
		tc.edit(&s)
		_, err := Build(be, s)
		if err == nil {
			t.Errorf("spec with a bad %s built without error", tc.field)
			continue
		}
		if !strings.Contains(err.Error(), tc.field) {
			t.Errorf("bad %s: error %q does not name it", tc.field, err)
		}
	}
	if _, err := Build(nil, DefaultSpec()); err == nil {
		t.Error("Build with a nil backend did not fail")
	}
}

func secondBest(x []float64, skip int) float64 {
	best := math.Inf(-1)
	for i, v := range x {
		if i != skip && v > best {
			best = v
		}
	}
	return best
}

func roundAll(x []float64) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = math.Round(v*1000) / 1000
	}
	return out
}
