package devstats

import (
	"reflect"
	"testing"

	"github.com/sinkscope/sinkscope/sinks/metrics"
	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// Under a Share, sink onset, token-0 slices, effective ranks and FFN activation contrasts read one
// run per micro-batch (one graph, not four), give exactly the values of their own runs (the same forward pass and
// reductions on the pure-Go backend), read alike twice, and a statistic the share does not cover,
// or other tokens, runs on its own.
func TestShareServesStatistics(t *testing.T) {
	m, toks := plantedModel(t)
	const batch = 4
	resid, norm, post := "blocks.*.hook_resid_pre", "ln_final.hook_normalized", "blocks.*.mlp.hook_post"
	type all struct {
		prof  []metrics.LayerSink
		gu    *metrics.GuScores
		at0   map[string]*transformer.Activation
		ranks map[string]float64
		cons  map[string]*metrics.Contrast
	}
	stats := func() all {
		var a all
		var err error
		if a.prof, a.gu, err = SinkOnset(m, toks, batch, 0, metrics.GuEps); err != nil {
			t.Fatal(err)
		}
		if a.at0, err = AtPosition(m, toks, batch, 0, resid, "blocks.2.hook_resid_post"); err != nil {
			t.Fatal(err)
		}
		if a.ranks, err = EffectiveRanks(m, toks, batch, resid, norm); err != nil {
			t.Fatal(err)
		}
		if a.cons, err = ActivationContrasts(m, toks, batch, post, 3); err != nil {
			t.Fatal(err)
		}
		return a
	}
	before := m.Compilations()
	alone := stats()
	aloneGraphs := m.Compilations() - before

	var rs []transformer.Reduction
	rs = append(rs, SinkOnsetReductions(0)...)
	rs = append(rs, AtPositionReductions(0, resid, "blocks.2.hook_resid_post")...)
	rs = append(rs, EffectiveRankReductions(resid, norm)...)
	rs = append(rs, ActivationContrastReductions(post)...)
	stop := Share(m, toks, batch, rs...)
	var runs int
	m.ObserveRuns(func(transformer.RunStat) { runs++ })
	before = m.Compilations()
	shared, again := stats(), stats()
	if g := m.Compilations() - before; g != 1 || aloneGraphs != 4 {
		t.Errorf("%d graphs compiled alone, %d shared; want 4 and 1", aloneGraphs, g)
	}
	if want := (len(toks) + batch - 1) / batch; runs != want {
		t.Errorf("shared: %d runs for two reads of four statistics, want %d (one per micro-batch)", runs, want)
	}
	for name, got := range map[string]all{"shared": shared, "read again": again} {
		if !reflect.DeepEqual(got.prof, alone.prof) || !reflect.DeepEqual(got.gu, alone.gu) || !reflect.DeepEqual(got.ranks, alone.ranks) ||
			!reflect.DeepEqual(got.cons, alone.cons) || len(got.cons) == 0 {
			t.Errorf("%s: sink profile, Gu scores, ranks or contrasts differ from the statistics' own runs", name)
		}
		for n, a := range alone.at0 {
			if b := got.at0[n]; b == nil || !reflect.DeepEqual(a.Shape, b.Shape) || !reflect.DeepEqual(a.Data, b.Data) {
				t.Errorf("%s: token-0 slice of %s differs", name, n)
			}
		}
	}

	// Not covered: another position, other tokens (a copy of the slice); after stop, nothing is.
	runs = 0
	if _, err := AtPosition(m, toks, batch, 1, resid); err != nil {
		t.Fatal(err)
	}
	other := append([][]int(nil), toks...)
	if _, err := EffectiveRanks(m, other, batch, resid, norm); err != nil {
		t.Fatal(err)
	}
	stop()
	if _, _, err := SinkOnset(m, toks, batch, 0, metrics.GuEps); err != nil {
		t.Fatal(err)
	}
	if want := 3 * ((len(toks) + batch - 1) / batch); runs != want {
		t.Errorf("%d runs for three uncovered statistics, want %d", runs, want)
	}
}
