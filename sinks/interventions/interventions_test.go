package interventions

import (
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gomlx/compute"

	"github.com/sinkscope/sinkscope/datasets/batch"
	"github.com/sinkscope/sinkscope/sinks/backend"
	"github.com/sinkscope/sinkscope/sinks/models"
	"github.com/sinkscope/sinkscope/sinks/transformer"
)

var (
	beOnce sync.Once
	be     compute.Backend
	beErr  error
)

func testBackend(t *testing.T) compute.Backend {
	t.Helper()
	beOnce.Do(func() { be, beErr = backend.New() })
	if beErr != nil {
		t.Fatal(beErr)
	}
	return be
}

func open(t *testing.T, source string) *models.Loaded {
	t.Helper()
	l, err := models.Open(testBackend(t), source, nil)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// plantedTokens are n random sequences of T tokens on the planted model: BOS at position 0, no
// other BOS, except that position k is also BOS when bosAtK.
func plantedTokens(t *testing.T, l *models.Loaded, n, T, k int, bosAtK bool) [][]int {
	t.Helper()
	bos, _ := l.BOSID()
	toks, err := batch.RandomTokens(n, T, l.Model.Config.VocabSize, 7, bos)
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range toks {
		row[0] = bos
		if bosAtK {
			row[k] = bos
		}
	}
	return toks
}

// The planted model's sink is BOS-specific by construction: its super neuron fires only on the
// hidden state BOS has with no context. A BOS token at position 9 that sees the context (it
// attends to everything before it) gets no attention in the unmodified run (measured 0.000 in
// layers 2–5), while isolating it makes its state exactly position 0's, the neuron fires, and it
// shares the sink with position 0 (measured 0.50 in layers 2–5: two identical sink keys split the
// mass). 0.4 is far above both the unmodified 0.000 and what uniform attention would give column 9
// (about 0.03 over queries 10..63).
func TestMaskIsolatedTokenBecomesSinkOnPlanted(t *testing.T) {
	l := open(t, "planted")
	const k, T = 9, 64
	sinkLayer := l.Planted.Spec.Layer + 1 // the first layer the planted QK lock acts on
	res, err := RunMask(l.Model, plantedTokens(t, l, 16, T, k, true), IsolateToken(k), k, 8)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("BOS copy at %d, before %.3f, after %.3f", k, res.Before, res.After)
	for layer := sinkLayer; layer < l.Model.Config.NLayers; layer++ {
		if res.After[layer] < 0.4 {
			t.Errorf("layer %d: isolated token %d has sink score %.3f, want > 0.4", layer, k, res.After[layer])
		}
		if res.Before[layer] > 0.05 {
			t.Errorf("layer %d: unmodified run has sink score %.3f at %d, want < 0.05", layer, res.Before[layer], k)
		}
	}
	// The maps: first/middle/last layer, rows are probability distributions, and the isolated
	// row is all on the diagonal.
	if len(res.MapsAfter) != 3 || res.MapLayers[2] != l.Model.Config.NLayers-1 {
		t.Fatalf("map layers %v, %d maps", res.MapLayers, len(res.MapsAfter))
	}
	for i, mp := range res.MapsAfter {
		if math.Abs(mp[k][k]-1) > 1e-5 {
			t.Errorf("layer %d map: A[%d,%d] = %g, want 1 (isolated)", res.MapLayers[i], k, k, mp[k][k])
		}
		for q, row := range mp {
			s := 0.0
			for _, x := range row {
				s += x
			}
			if math.Abs(s-1) > 1e-4 {
				t.Fatalf("layer %d map row %d sums to %g", res.MapLayers[i], q, s)
			}
		}
	}

	// An ordinary token isolated in every layer does not become a sink on this model: its
	// context-free state is not BOS's, so the neuron stays silent (measured ≤ 0.034 everywhere).
	plain, err := RunMask(l.Model, plantedTokens(t, l, 16, T, k, false), IsolateToken(k), k, 8)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ordinary token at %d, before %.3f, after %.3f", k, plain.Before, plain.After)
	for layer, s := range plain.After {
		if s > 0.1 {
			t.Errorf("layer %d: an isolated ordinary token got sink score %.3f on the planted model", layer, s)
		}
	}
}

// Isolating only in layers 0..Layer (before the sink layer) is enough on the planted model: the
// state is fixed once the neuron fired. Isolating only in the last layer is not.
func TestMaskLayerSubset(t *testing.T) {
	l := open(t, "planted")
	const k, T = 9, 32
	toks := plantedTokens(t, l, 8, T, k, true)
	L := l.Model.Config.NLayers
	early := make([]int, l.Planted.Spec.Layer+1)
	for i := range early {
		early[i] = i
	}
	res, err := RunMask(l.Model, toks, IsolateToken(k, early...), k, 8)
	if err != nil {
		t.Fatal(err)
	}
	late, err := RunMask(l.Model, toks, IsolateToken(k, L-1), k, 8)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("isolated in %v: %.3f; in [%d]: %.3f", early, res.After, L-1, late.After)
	if res.After[L-1] < 0.3 {
		t.Errorf("isolated in layers %v: last-layer sink score %.3f, want > 0.3", early, res.After[L-1])
	}
	if late.After[L-1] > 0.05 {
		t.Errorf("isolated in the last layer only: sink score %.3f, want < 0.05", late.After[L-1])
	}
}

func TestMaskBuild(t *testing.T) {
	m := Mask{Layers: []int{1}, Isolate: []int{2}, Prefix: []PrefixRule{{Query: 3, Keys: 2}}}
	data, dims, err := m.Build(3, 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(dims) != 3 || dims[0] != 3 || dims[1] != 4 || dims[2] != 4 {
		t.Fatalf("dims %v", dims)
	}
	inf := math.Inf(-1)
	for l := 0; l < 3; l++ {
		for q := 0; q < 4; q++ {
			for c := 0; c < 4; c++ {
				want := 0.0
				if l == 1 && ((q == 2 && c != 2) || (q == 3 && c >= 2)) {
					want = inf
				}
				if got := float64(data[(l*4+q)*4+c]); got != want {
					t.Errorf("mask[%d,%d,%d] = %v, want %v", l, q, c, got, want)
				}
			}
		}
	}
	if _, dims, _ := IsolateToken(1).Build(3, 4); len(dims) != 2 {
		t.Errorf("an all-layer mask should be [T, T], got dims %v", dims)
	}
	// Printable and JSON round trip.
	b, err := m.JSON()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseMask(b)
	if err != nil || back.String() != m.String() {
		t.Errorf("round trip: %s -> %s (%v)", m, back, err)
	}
	if s := m.String(); !strings.Contains(s, "isolate [2]") || !strings.Contains(s, "layers [1]") {
		t.Errorf("String() = %q", s)
	}
}

func TestBadInputs(t *testing.T) {
	for _, c := range []struct {
		m    Mask
		want string
	}{
		{Mask{}, "no rule"},
		{IsolateToken(8), "position 8"},
		{IsolateToken(-1), "position -1"},
		{IsolateToken(1, 3), "layer 3"},
		{IsolateToken(1, 0, 0), "layer 0 is listed twice"},
		{Mask{Prefix: []PrefixRule{{Query: 9, Keys: 1}}}, "query 9"},
		{Mask{Prefix: []PrefixRule{{Query: 2, Keys: 0}}}, "keeps 0 keys"},
	} {
		if _, _, err := c.m.Build(3, 8); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one with %q", c.m, err, c.want)
		}
	}
	a := PaperAmplification()
	for _, c := range []struct {
		edit func(*Amplification)
		want string
	}{
		{func(a *Amplification) { a.Observe = 6 }, "observation layer 6"},
		{func(a *Amplification) { a.Layers = []int{0, 2} }, "layer 2 is out of range"},
		{func(a *Amplification) { a.Position = 63 }, "target position 63"},
		{func(a *Amplification) { a.Point = "attn.hook_v" }, `"attn.hook_v"`},
		{func(a *Amplification) { a.Lambdas = nil }, "no λ"},
		{func(a *Amplification) { a.Layers = nil }, "no layer"},
	} {
		b := a
		c.edit(&b)
		if err := b.Validate(6, 64); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one with %q", b, err, c.want)
		}
	}
	if err := a.Validate(6, 64); err != nil {
		t.Errorf("paper setting: %v", err)
	}
	// The runners check the same things, and the sink score checks its column.
	l := open(t, "planted")
	toks := plantedTokens(t, l, 2, 16, 0, false)
	if _, err := RunMask(l.Model, toks, IsolateToken(3), 15, 2); err == nil || !strings.Contains(err.Error(), "sink column 15") {
		t.Errorf("RunMask with k = T−1: %v", err)
	}
	if _, err := Sweep(l.Model, toks, a, nil, 2); err == nil || !strings.Contains(err.Error(), "target position 10") && !strings.Contains(err.Error(), "value mean") {
		t.Errorf("Sweep without μ: %v", err)
	}
	if _, err := SinkScore(&transformer.Activation{Name: "x", Shape: []int{1, 1, 4, 3}}, 0); err == nil || !strings.Contains(err.Error(), "[1 1 4 3]") {
		t.Errorf("SinkScore on a bad shape: %v", err)
	}
}

// The sink score and RunMask's unmodified column against a plain loop over a captured pattern.
func TestSinkScoreIndependent(t *testing.T) {
	l := open(t, "planted")
	const k, T = 5, 24
	toks := plantedTokens(t, l, 6, T, k, true)
	c, err := l.Model.RunWithCache(toks, "blocks.*.attn.hook_pattern")
	if err != nil {
		t.Fatal(err)
	}
	res, err := RunMask(l.Model, toks, IsolateToken(k), k, 4) // two micro-batches: 4 + 2
	if err != nil {
		t.Fatal(err)
	}
	for layer := 0; layer < l.Model.Config.NLayers; layer++ {
		pat := c.MustGet("pattern", layer)
		var sum float64
		var n int
		for b := 0; b < pat.Shape[0]; b++ {
			for h := 0; h < pat.Shape[1]; h++ {
				for i := k + 1; i < T; i++ {
					v, err := pat.At(b, h, i, k)
					if err != nil {
						t.Fatal(err)
					}
					sum += float64(v)
					n++
				}
			}
		}
		want := sum / float64(n)
		got, err := SinkScore(pat, k)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(got-want) > 1e-12 || math.Abs(res.Before[layer]-want) > 1e-6 {
			t.Errorf("layer %d: SinkScore %g, RunMask before %g, loop %g", layer, got, res.Before[layer], want)
		}
	}
}

// The amplification hook changes exactly the target token's hook_z in the chosen layers, to
// μ + λ(o − μ), and λ = 1 leaves the run unchanged.
func TestAmplifyHookIndependent(t *testing.T) {
	l := open(t, "planted")
	m := l.Model
	const T = 16
	toks := plantedTokens(t, l, 3, T, 0, false)
	mu, err := ValueMean(m, MeanSpec{N: 8, SeqLen: 16, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	a := Amplification{Point: AmplifyPoint, Layers: []int{1}, Position: 4, Observe: 3, Lambdas: []float64{1}}
	H, dh := mu.Heads, mu.HeadDim
	names := []string{"blocks.0.attn.hook_z", "blocks.1.attn.hook_z"}
	plain, err := m.RunWithCache(toks, names...)
	if err != nil {
		t.Fatal(err)
	}
	for _, lambda := range []float64{1, 7} {
		r, err := m.Run(toks, append([]transformer.Option{transformer.Capture(names...), transformer.NoLogits()}, a.options(T, H, dh, lambda, mu.Data[:a.Observe*H*dh])...)...)
		if err != nil {
			t.Fatal(err)
		}
		for layer, name := range names {
			z0, z1 := plain.MustGet(name), r.Cache.MustGet(name) // [b, p, h, dh]
			for b := 0; b < 3; b++ {
				for p := 0; p < T; p++ {
					for h := 0; h < H; h++ {
						for j := 0; j < dh; j++ {
							o, _ := z0.At(b, p, h, j)
							got, _ := z1.At(b, p, h, j)
							want := float64(o)
							if layer == 1 && p == a.Position {
								c := float64(mu.Data[(layer*H+h)*dh+j])
								want = c + lambda*(float64(o)-c)
							}
							if math.Abs(float64(got)-want) > 1e-5*(1+math.Abs(want)) {
								t.Fatalf("λ %g, %s[%d,%d,%d,%d] = %g, want %g", lambda, name, b, p, h, j, got, want)
							}
						}
					}
				}
			}
		}
	}
}

// μ against a plain mean of captured values, with grouped-query attention: query heads 2h and
// 2h+1 share kv head h's mean. The cache returns the same Mean on a second call.
func TestValueMeanGQA(t *testing.T) {
	p, err := transformer.LookupPreset("tiny")
	if err != nil {
		t.Fatal(err)
	}
	cfg := p.Config
	cfg.NKVHeads = 2
	m, err := transformer.NewRandom(testBackend(t), &cfg, p.Init)
	if err != nil {
		t.Fatal(err)
	}
	spec := MeanSpec{N: 5, SeqLen: 12, Seed: 1, Batch: 2}
	mu, err := ValueMean(m, spec)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := ValueMean(m, spec); again != mu {
		t.Error("second ValueMean call did not return the cached mean")
	}
	toks, _ := batch.RandomTokens(spec.N, spec.SeqLen, cfg.VocabSize, spec.Seed)
	c, err := m.RunWithCache(toks, "blocks.*.attn.hook_v")
	if err != nil {
		t.Fatal(err)
	}
	H, G, dh := cfg.NHeads, 2, cfg.HeadDim()
	for layer := 0; layer < cfg.NLayers; layer++ {
		v := c.MustGet("v", layer) // [b, p, g, dh]
		for h := 0; h < H; h++ {
			for j := 0; j < dh; j++ {
				var s float64
				for b := 0; b < spec.N; b++ {
					for q := 0; q < spec.SeqLen; q++ {
						x, _ := v.At(b, q, h/(H/G), j)
						s += float64(x)
					}
				}
				want := s / float64(spec.N*spec.SeqLen)
				if got := float64(mu.Data[(layer*H+h)*dh+j]); math.Abs(got-want) > 1e-6 {
					t.Fatalf("layer %d head %d dim %d: μ %g, want %g", layer, h, j, got, want)
				}
			}
		}
	}
}

// ValueMeanUpTo reads only the layers it is asked for, agrees with the all-layer mean on them, is
// served from a cached Mean of more layers, and rejects a layer count out of range.
func TestValueMeanUpTo(t *testing.T) {
	p, err := transformer.LookupPreset("tiny")
	if err != nil {
		t.Fatal(err)
	}
	cfg := p.Config
	cfg.NLayers = 3
	toks, _ := batch.RandomTokens(4, 10, cfg.VocabSize, 5)
	fresh := func() *transformer.Model {
		m, err := transformer.NewRandom(testBackend(t), &cfg, p.Init)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	m := fresh()
	part, err := ValueMeanUpTo(m, toks, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	if part.Layers != 2 || len(part.Data) != 2*part.Heads*part.HeadDim {
		t.Fatalf("ValueMeanUpTo(2): %d layers, %d values", part.Layers, len(part.Data))
	}
	all, err := ValueMeanOn(m, toks, 2) // more layers than cached: computed again
	if err != nil {
		t.Fatal(err)
	}
	if all.Layers != 3 {
		t.Fatalf("ValueMeanOn after ValueMeanUpTo(2): %d layers, want 3", all.Layers)
	}
	for i, x := range part.Data {
		if math.Abs(float64(x-all.Data[i])) > 1e-6 {
			t.Fatalf("value %d: %g from 2 layers, %g from all", i, x, all.Data[i])
		}
	}
	if again, _ := ValueMeanUpTo(m, toks, 2, 1); again != all {
		t.Error("ValueMeanUpTo(1) after the all-layer mean did not return the cached mean")
	}
	for _, bad := range []int{0, 4} {
		if _, err := ValueMeanUpTo(fresh(), toks, 2, bad); err == nil || !strings.Contains(err.Error(), "layers") {
			t.Errorf("ValueMeanUpTo(%d layers of 3): error %v, want one naming the layers", bad, err)
		}
	}
}

// On the trained Bigram-Backcopy model (2 layers, a learned BOS sink) the paper's Fig. 6 holds:
// scaling token k's layer-0 W_O input about μ makes it a sink at layer 1, monotonically in λ
// (measured 0.030 → 0.170 for λ 1 → 30 on 64 × 64 random tokens), while plain scaling does not
// (measured 0.030 → 0.004: it falls). The whole sweep of both arms compiles one graph, and a
// second sweep with another target and layer set compiles none.
func TestAmplificationTrained(t *testing.T) {
	dir, err := filepath.Abs("../findings/testdata/trained_bb")
	if err != nil {
		t.Fatal(err)
	}
	l := open(t, dir)
	m := l.Model
	bos, _ := l.BOSID()
	mu, err := ValueMean(m, MeanSpec{N: 64, SeqLen: 64, Seed: 3, Exclude: []int{bos}})
	if err != nil {
		t.Fatal(err)
	}
	toks, err := batch.RandomTokens(64, 64, m.Config.VocabSize, 11, bos)
	if err != nil {
		t.Fatal(err)
	}
	a := PaperAmplification()
	a.Layers, a.Observe = []int{0}, 1 // the model has 2 layers
	res, err := Sweep(m, toks, a, mu, 16)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s\ncentred %.4f\ncontrol %.4f\ncompilations %d + %d, first λ %.2fs, then %.3fs per λ",
		a, res.Centred, res.Control, res.CompilationsCentred, res.CompilationsControl, res.FirstSeconds, res.PerLambdaSeconds)
	for i := 1; i < len(res.Centred); i++ {
		if res.Centred[i] < res.Centred[i-1] {
			t.Errorf("centred arm not monotone: λ %g → %g gives %.4f → %.4f", a.Lambdas[i-1], a.Lambdas[i], res.Centred[i-1], res.Centred[i])
		}
	}
	last := len(a.Lambdas) - 1
	if res.Centred[last] < 4*res.Centred[0] {
		t.Errorf("centred arm at λ %g: %.4f, want at least 4× the λ = 1 score %.4f", a.Lambdas[last], res.Centred[last], res.Centred[0])
	}
	if res.Control[last] > res.Control[0] {
		t.Errorf("control arm rises: %.4f → %.4f", res.Control[0], res.Control[last])
	}
	if math.Abs(res.Centred[0]-res.Control[0]) > 1e-6 {
		t.Errorf("λ = 1 must be the same run in both arms: %.6f vs %.6f", res.Centred[0], res.Control[0])
	}
	if res.CompilationsCentred != 1 || res.CompilationsControl != 0 {
		t.Errorf("compilations %d (centred) + %d (control), want 1 + 0", res.CompilationsCentred, res.CompilationsControl)
	}
	b := a
	b.Position, b.Layers = 20, []int{0}
	b.Lambdas = []float64{3, 9}
	before := m.Compilations()
	if _, err := Sweep(m, toks, b, mu, 16); err != nil {
		t.Fatal(err)
	}
	if n := m.Compilations() - before; n != 0 {
		t.Errorf("a sweep with another target and λ values compiled %d graphs, want 0", n)
	}
	// A 2-layer model has two maps, not a repeated last layer (figure IDs must differ).
	mr, err := RunMask(m, toks[:4], IsolateToken(9), 9, 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(mr.MapLayers) != 2 || mr.MapLayers[1] != 1 || len(mr.MapsAfter) != 2 {
		t.Errorf("map layers %v (%d maps), want [0 1]", mr.MapLayers, len(mr.MapsAfter))
	}
	// The intervention is data: JSON and back.
	j, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseAmplification(j)
	if err != nil || back.String() != a.String() {
		t.Errorf("round trip %s -> %s (%v)", a, back, err)
	}
}

// A sweep whose sequences do not fill the last micro-batch (7 sequences in micro-batches of 3)
// compiles one graph, and the padded rows do not count: its scores equal a one-batch sweep's, and
// so does μ.
func TestSweepPaddedLastBatch(t *testing.T) {
	p, err := transformer.LookupPreset("tiny")
	if err != nil {
		t.Fatal(err)
	}
	cfg := p.Config
	cfg.NLayers = 3
	toks, _ := batch.RandomTokens(7, 16, cfg.VocabSize, 9)
	a := Amplification{Point: AmplifyPoint, Layers: []int{0, 1}, Position: 4, Observe: 2, Lambdas: []float64{1, 5, 20}}
	sweep := func(size int) (*Mean, *AmplificationResult) {
		m, err := transformer.NewRandom(testBackend(t), &cfg, p.Init)
		if err != nil {
			t.Fatal(err)
		}
		mu, err := ValueMeanUpTo(m, toks, size, a.Observe)
		if err != nil {
			t.Fatal(err)
		}
		r, err := Sweep(m, toks, a, mu, size)
		if err != nil {
			t.Fatal(err)
		}
		return mu, r
	}
	muPad, padded := sweep(3)
	muOne, whole := sweep(7)
	if padded.CompilationsCentred != 1 || padded.CompilationsControl != 0 {
		t.Errorf("7 sequences in micro-batches of 3 compiled %d + %d graphs, want 1 + 0", padded.CompilationsCentred, padded.CompilationsControl)
	}
	for i := range whole.Centred {
		if math.Abs(padded.Centred[i]-whole.Centred[i]) > 1e-6 || math.Abs(padded.Control[i]-whole.Control[i]) > 1e-6 {
			t.Errorf("λ %g: padded %g / %g, one batch %g / %g", a.Lambdas[i], padded.Centred[i], padded.Control[i], whole.Centred[i], whole.Control[i])
		}
	}
	for i := range muOne.Data {
		if math.Abs(float64(muPad.Data[i]-muOne.Data[i])) > 1e-6 {
			t.Fatalf("μ value %d: %g padded, %g in one batch", i, muPad.Data[i], muOne.Data[i])
		}
	}
	if muPad.Tokens != 7*16 {
		t.Errorf("μ averaged %d tokens, want %d", muPad.Tokens, 7*16)
	}
}

// RunMask's unmodified run shares the masked run's graph (an all-zero additive mask): its column
// scores must equal those of a plain run without any mask, and a mask run on a model that has
// compiled nothing yet compiles one graph, not two.
func TestMaskUnmodifiedRunIsPlain(t *testing.T) {
	l := open(t, "planted")
	const k, T = 9, 32
	toks := plantedTokens(t, l, 8, T, k, true)
	before := l.Model.Compilations()
	res, err := RunMask(l.Model, toks, IsolateToken(k), k, 8)
	if err != nil {
		t.Fatal(err)
	}
	if n := l.Model.Compilations() - before; n != 1 {
		t.Errorf("RunMask compiled %d graphs, want 1 (the unmodified and masked runs share one)", n)
	}
	L := l.Model.Config.NLayers
	plain, _, err := columnScores(l.Model, toks, 8, []int{0}) // no mask option at all
	if err != nil {
		t.Fatal(err)
	}
	for layer := 0; layer < L; layer++ {
		if got, want := res.Before[layer], plain[layer][k]; got != want {
			t.Errorf("layer %d: unmodified sink score %.9g, plain run %.9g; want them equal", layer, got, want)
		}
	}
	if res.After[L-1] <= res.Before[L-1] {
		t.Errorf("the mask changed nothing at the last layer: %.4f → %.4f", res.Before[L-1], res.After[L-1])
	}
}
