package findings

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sinkscope/sinkscope/sinks/interventions"
)

// Reproduce writes Figs. 5 and 6 under fig5_mask and fig6_amplification, equal to the interventions
// package run directly on the same batches, with their figures and report rows; the amplification
// sweep compiles at most one graph for both arms.
func TestReproduceInterventions(t *testing.T) {
	s := indPlanted(t) // 6 × 24 main batch with BOS, 12 × 24 random batch
	dir := t.TempDir()
	r, err := Reproduce(s, Describe{Model: "planted"}, dir, Options{NoSVG: true})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Mask *interventions.MaskResult          `json:"fig5_mask"`
		Amp  *interventions.AmplificationResult `json:"fig6_amplification"`
	}
	if err := json.Unmarshal(raw, &back); err != nil || back.Mask == nil || back.Amp == nil {
		t.Fatalf("results.json fig5_mask / fig6_amplification: %v (%+v)", err, back)
	}
	mask, err := interventions.RunMask(s.Model, s.Main, interventions.IsolateToken(MaskToken), MaskToken, 16)
	if err != nil {
		t.Fatal(err)
	}
	back.Mask.Seconds, mask.Seconds = 0, 0
	indCompare(t, "fig5_mask", back.Mask, mask)
	if back.Mask.Mask.String() != "mask{isolate [9] in all layers}" {
		t.Errorf("replayable mask %s", back.Mask.Mask)
	}
	mu, err := interventions.ValueMeanOn(s.Model, s.Random, 16)
	if err != nil {
		t.Fatal(err)
	}
	a := AmplificationFor(s.Model.Config.NLayers)
	amp, err := interventions.Sweep(s.Model, s.Random, a, mu, 16)
	if err != nil {
		t.Fatal(err)
	}
	indCompare(t, "fig6 centred", back.Amp.Centred, amp.Centred)
	indCompare(t, "fig6 control", back.Amp.Control, amp.Control)
	// At most one graph: none when another test's Reproduce on this shared model compiled it.
	if back.Amp.CompilationsCentred > 1 || back.Amp.CompilationsControl != 0 {
		t.Errorf("Reproduce's sweep compiled %d + %d graphs, want at most 1 + 0", back.Amp.CompilationsCentred, back.Amp.CompilationsControl)
	}
	want := map[string]bool{"fig5_mask_sink_score": true, "fig5_mask_layer0": true, "fig5_mask_layer3": true, "fig5_mask_layer5": true, "fig6_amplification": true}
	for _, f := range r.Figures {
		delete(want, f)
	}
	if len(want) > 0 {
		t.Errorf("figures %v lack %v", r.Figures, want)
	}
	report, _ := os.ReadFile(filepath.Join(dir, "report.md"))
	for _, item := range []string{"| Fig. 5 |", "| Fig. 6 |"} {
		if !strings.Contains(string(report), item) {
			t.Errorf("report.md has no %s row", item)
		}
	}
}

func TestInterventionsSkipped(t *testing.T) {
	s := indPlanted(t)
	short := *s
	short.Main = [][]int{s.Main[0][:8]}
	if why := interventionsSkipped(&short); !strings.Contains(why, "8 tokens") {
		t.Errorf("short main batch: %q", why)
	}
	short = *s
	short.Random = nil
	if why := interventionsSkipped(&short); !strings.Contains(why, "no random batch") {
		t.Errorf("no random batch: %q", why)
	}
	if _, err := RunAmplification(&short, AmplificationFor(6)); err == nil {
		t.Error("RunAmplification without a random batch: no error")
	}
	if a := AmplificationFor(2); a.Observe != 1 || len(a.Layers) != 1 || a.Layers[0] != 0 {
		t.Errorf("AmplificationFor(2) = %s", a)
	}
}
