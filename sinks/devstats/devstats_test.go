package devstats

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/sinkscope/sinkscope/sinks/backend"
	"github.com/sinkscope/sinkscope/sinks/metrics"
	"github.com/sinkscope/sinkscope/sinks/planted"
	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// plantedModel is a model with a planted sink (token 0 of BOS-led sequences): the statistics below
// are far from their no-sink values, so a wrong mask or axis shows.
func plantedModel(t *testing.T) (*transformer.Model, [][]int) {
	t.Helper()
	be, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	p, err := planted.Build(be, planted.DefaultSpec())
	if err != nil {
		t.Fatal(err)
	}
	return p.Model, p.Tokens(11, 24, 3) // 11 sequences: micro-batches of 4 leave a padded last one
}

func close(a, b, tol float64) bool { return math.Abs(a-b) <= tol*math.Max(1, math.Abs(b)) }

func TestSinkOnsetMatchesHost(t *testing.T) {
	m, toks := plantedModel(t)
	L := m.Config.NLayers
	c, err := m.RunWithCache(toks, metrics.SinkProfileNames...)
	if err != nil {
		t.Fatal(err)
	}
	want, err := metrics.SinkProfile(c, L)
	if err != nil {
		t.Fatal(err)
	}
	var pats []*transformer.Activation
	for l := 0; l < L; l++ {
		pats = append(pats, c.MustGet("pattern", l))
	}
	before := m.Compilations()
	for _, k := range []int{0, 5} {
		wantGu, err := metrics.GuSinkScores(pats, k, metrics.GuEps)
		if err != nil {
			t.Fatal(err)
		}
		got, gu, err := SinkOnset(m, toks, 4, k, metrics.GuEps)
		if err != nil {
			t.Fatal(err)
		}
		sunk := false
		for l := range want {
			g, w := got[l], want[l]
			for _, f := range []struct {
				name string
				g, w float64
			}{{"AttnToFirst", g.AttnToFirst, w.AttnToFirst}, {"AttnToFirstAllRows", g.AttnToFirstAllRows, w.AttnToFirstAllRows},
				{"AttnToOthers", g.AttnToOthers, w.AttnToOthers}, {"FirstNorm", g.FirstNorm, w.FirstNorm},
				{"OthersNorm", g.OthersNorm, w.OthersNorm}, {"NormRatio", g.NormRatio, w.NormRatio}} {
				if !close(f.g, f.w, 1e-5) {
					t.Errorf("layer %d %s: device %.7g, host %.7g", l, f.name, f.g, f.w)
				}
			}
			sunk = sunk || w.AttnToFirst > 0.5
			for h := range wantGu.Alpha[l] {
				if !close(gu.Alpha[l][h], wantGu.Alpha[l][h], 1e-5) {
					t.Errorf("k %d layer %d head %d: Gu α device %.7g, host %.7g", k, l, h, gu.Alpha[l][h], wantGu.Alpha[l][h])
				}
			}
			if gu.LayerShare[l] != wantGu.LayerShare[l] || gu.LayerSharePerSample[l] != wantGu.LayerSharePerSample[l] {
				t.Errorf("k %d layer %d: Gu shares device %g/%g, host %g/%g", k, l, gu.LayerShare[l], gu.LayerSharePerSample[l], wantGu.LayerShare[l], wantGu.LayerSharePerSample[l])
			}
		}
		if !sunk {
			t.Fatalf("the planted model shows no sink (profile %+v): the comparison would not test the sink case", want)
		}
		if gu.Share != wantGu.Share || gu.SharePerSample != wantGu.SharePerSample || gu.K != k {
			t.Errorf("k %d: Gu share device %g/%g, host %g/%g", k, gu.Share, gu.SharePerSample, wantGu.Share, wantGu.SharePerSample)
		}
	}
	// 11 sequences in micro-batches of 4 (the last padded) compile one graph per k.
	if got := m.Compilations() - before; got != 2 {
		t.Errorf("two SinkOnset calls built %d graphs, want 2 (one per k)", got)
	}
}

func TestVarianceMatchesHost(t *testing.T) {
	m, toks := plantedModel(t)
	for _, name := range []string{"blocks.0.attn.hook_z", "blocks.1.hook_resid_post"} {
		c, err := m.RunWithCache(toks, name)
		if err != nil {
			t.Fatal(err)
		}
		z, _ := c.Get(name)
		for _, f := range []struct {
			what string
			host func(*transformer.Activation) ([]float64, error)
			dev  func(*transformer.Model, [][]int, int, string) ([]float64, error)
		}{{"within-token", metrics.WithinTokenStd, WithinTokenStd}, {"across-sample", metrics.AcrossSampleStd, AcrossSampleStd}} {
			want, err := f.host(z)
			if err != nil {
				t.Fatal(err)
			}
			for _, batch := range []int{4, 11, 32} {
				got, err := f.dev(m, toks, batch, name)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(want) {
					t.Fatalf("%s std at %s: %d positions, want %d", f.what, name, len(got), len(want))
				}
				for p := range want {
					if !close(got[p], want[p], 1e-4) {
						t.Errorf("%s std at %s, batch %d, position %d: device %.7g, host %.7g", f.what, name, batch, p, got[p], want[p])
					}
				}
			}
		}
	}
}

func TestBadInputs(t *testing.T) {
	m, toks := plantedModel(t)
	for _, c := range []struct {
		err  error
		want string
	}{
		{func() error { _, _, err := SinkOnset(m, toks, 4, 24, metrics.GuEps); return err }(), "k = 24"},
		{func() error { _, _, err := SinkOnset(m, toks, 4, 0, math.NaN()); return err }(), "eps"},
		{func() error { _, _, err := SinkOnset(m, nil, 4, 0, metrics.GuEps); return err }(), "at least one sequence"},
		{func() error { _, err := AcrossSampleStd(m, toks[:1], 4, "blocks.0.attn.hook_z"); return err }(), "at least 2 sequences"},
		{func() error { _, err := WithinTokenStd(m, toks, 0, "blocks.0.attn.hook_z"); return err }(), "batch must be positive"},
		{func() error { _, err := WithinTokenStd(m, toks, 4, "blocks.99.attn.hook_z"); return err }(), "blocks.99.attn.hook_z"},
	} {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("error %v, want one mentioning %q", c.err, c.want)
		}
	}
}

func TestActivationContrastsMatchHost(t *testing.T) {
	m, toks := plantedModel(t)
	const pattern = "blocks.*.mlp.hook_post"
	c, err := m.RunWithCache(toks, pattern)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ActivationContrasts(m, toks, 4, pattern, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != m.Config.NLayers {
		t.Fatalf("%d layers reduced, want %d", len(got), m.Config.NLayers)
	}
	for l := 0; l < m.Config.NLayers; l++ {
		want, err := metrics.ActivationContrast(c.MustGet("mlp.post", l), 3)
		if err != nil {
			t.Fatal(err)
		}
		g := got[fmt.Sprintf("blocks.%d.mlp.hook_post", l)]
		if g == nil {
			t.Fatalf("layer %d missing from %v", l, got)
		}
		for n := range want.First {
			if !close(g.First[n], want.First[n], 1e-5) || !close(g.Rest[n], want.Rest[n], 1e-5) {
				t.Fatalf("layer %d neuron %d: device first/rest %.7g/%.7g, host %.7g/%.7g", l, n, g.First[n], g.Rest[n], want.First[n], want.Rest[n])
			}
		}
		if fmt.Sprint(g.TopByDiff) != fmt.Sprint(want.TopByDiff) || fmt.Sprint(g.Top) != fmt.Sprint(want.Top) {
			t.Errorf("layer %d: device top %v / %v, host %v / %v", l, g.TopByDiff, g.Top, want.TopByDiff, want.Top)
		}
	}
	// The planted super neuron is the top first-token channel of its layer.
	p, _ := planted.Build(m.Backend, planted.DefaultSpec())
	if top := got[fmt.Sprintf("blocks.%d.mlp.hook_post", p.Spec.Layer)].TopByDiff[0]; top != p.Spec.Neuron {
		t.Errorf("top channel of layer %d is %d, the planted neuron is %d", p.Spec.Layer, top, p.Spec.Neuron)
	}
}

func TestAtPositionEqualsCaptureSlice(t *testing.T) {
	m, toks := plantedModel(t)
	c, err := m.RunWithCache(toks, "blocks.*.hook_resid_pre", "blocks.0.attn.hook_z")
	if err != nil {
		t.Fatal(err)
	}
	for _, pos := range []int{0, 7} {
		got, err := AtPosition(m, toks, 4, pos, "blocks.*.hook_resid_pre", "blocks.0.attn.hook_z")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != m.Config.NLayers+1 {
			t.Fatalf("position %d: %d hook points, want %d", pos, len(got), m.Config.NLayers+1)
		}
		for name, a := range got {
			full, _ := c.Get(name)
			B, T := full.Shape[0], full.Shape[1]
			row := len(full.Data) / (B * T)
			if a.Shape[0] != B || a.Shape[1] != 1 || len(a.Data) != B*row || a.Name != name {
				t.Fatalf("%s at %d: shape %v, %d values, name %q; want [%d 1 …], %d values", name, pos, a.Shape, len(a.Data), a.Name, B, B*row)
			}
			for b := 0; b < B; b++ {
				for j := 0; j < row; j++ {
					// Not bit-equal: micro-batches of 4 and one batch of 11 round differently.
					if g, w := a.Data[b*row+j], full.Data[(b*T+pos)*row+j]; !close(float64(g), float64(w), 1e-5) {
						t.Fatalf("%s sample %d position %d value %d: %g, capture %g", name, b, pos, j, g, w)
					}
				}
			}
		}
	}
	if _, err := AtPosition(m, toks, 4, 24, "blocks.0.hook_resid_pre"); err == nil || !strings.Contains(err.Error(), "position 24") {
		t.Errorf("position 24 of 24: error %v, want one naming the position", err)
	}
}

func TestEffectiveRanksMatchHost(t *testing.T) {
	planted, toks := plantedModel(t) // d 128, 24 tokens: Gram matrices over positions [p, p]
	pre, err := transformer.LookupPreset("tiny")
	if err != nil {
		t.Fatal(err)
	}
	tiny, err := transformer.NewRandom(planted.Backend, &pre.Config, pre.Init) // d 64: 80 tokens give [d, d]
	if err != nil {
		t.Fatal(err)
	}
	long := make([][]int, 5)
	for i := range long {
		long[i] = make([]int, 80)
		for p := range long[i] {
			long[i][p] = (i*31 + p*7 + 1) % pre.Config.VocabSize
		}
	}
	names := []string{"blocks.*.hook_resid_pre", "ln_final.hook_normalized"}
	for _, c := range []struct {
		m    *transformer.Model
		toks [][]int
	}{{planted, toks}, {tiny, long}} {
		cache, err := c.m.RunWithCache(c.toks, names...)
		if err != nil {
			t.Fatal(err)
		}
		for _, pat := range names {
			got, err := EffectiveRanks(c.m, c.toks, 2, pat)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) == 0 {
				t.Fatalf("%s: no hook point reduced", pat)
			}
			for name, g := range got {
				a, _ := cache.Get(name)
				_, want, err := metrics.EffectiveRank(a)
				if err != nil {
					t.Fatal(err)
				}
				// The activations themselves differ in the 7th digit (micro-batches of 2 against one
				// batch); the Gram and its eigenvalues are float64 on both sides.
				if !close(g, want, 1e-6) || math.IsNaN(g) {
					t.Errorf("%s (%d tokens, d %d): effective rank device %.10g, host %.10g", name, len(c.toks[0]), c.m.Config.DModel, g, want)
				}
			}
		}
	}
}

// SinkProfile gives SinkOnset's profile and Gu scores (k 0) and, per layer, the host's dominance
// ratio of token 0 and effective rank of the residual stream, from one graph.
func TestSinkProfileMatchesHost(t *testing.T) {
	m, toks := plantedModel(t)
	L := m.Config.NLayers
	c, err := m.RunWithCache(toks, metrics.SinkProfileNames...)
	if err != nil {
		t.Fatal(err)
	}
	wantOnset, wantGu, err := SinkOnset(m, toks, 4, 0, metrics.GuEps)
	if err != nil {
		t.Fatal(err)
	}
	before := m.Compilations()
	prof, gu, rst, err := SinkProfile(m, toks, 4)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Compilations() - before; got != 1 {
		t.Errorf("SinkProfile built %d graphs, want 1", got)
	}
	if len(prof) != L || len(rst.Dominance) != L || len(rst.EffectiveRank) != L {
		t.Fatalf("SinkProfile: %d layers of profile, %d dominance ratios, %d ranks; want %d each", len(prof), len(rst.Dominance), len(rst.EffectiveRank), L)
	}
	dominant := false
	for l := 0; l < L; l++ {
		if prof[l] != wantOnset[l] {
			t.Errorf("layer %d: profile %+v, SinkOnset's %+v", l, prof[l], wantOnset[l])
		}
		resid := c.MustGet("resid_pre", l)
		wantDom, err := metrics.DominanceRatio(resid, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, wantRank, err := metrics.EffectiveRank(resid)
		if err != nil {
			t.Fatal(err)
		}
		if !close(rst.Dominance[l], wantDom, 1e-5) || !close(rst.EffectiveRank[l], wantRank, 1e-6) {
			t.Errorf("layer %d: dominance %.7g, effective rank %.7g; host %.7g, %.7g", l, rst.Dominance[l], rst.EffectiveRank[l], wantDom, wantRank)
		}
		dominant = dominant || wantDom > 5
	}
	if !dominant {
		t.Errorf("no layer of the planted model has a dominant token 0: the dominance comparison would not test the sink case")
	}
	if gu.SharePerSample != wantGu.SharePerSample || gu.Share != wantGu.Share {
		t.Errorf("Gu shares %g/%g, SinkOnset's %g/%g", gu.Share, gu.SharePerSample, wantGu.Share, wantGu.SharePerSample)
	}
}
