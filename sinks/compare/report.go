package compare

import (
	"bytes"
	"fmt"
	"math"
	"path/filepath"
	"strings"

	"github.com/sinkscope/sinkscope/internal/atomicfile"
	"github.com/sinkscope/sinkscope/internal/jsonsafe"
	"github.com/sinkscope/sinkscope/plots"
)

// write puts summary.json, summary.md, the figures' HTML page and their SVGs into dir.
func (s *Summary) write(dir string) error {
	js, err := jsonsafe.MarshalIndent(s)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, "summary.json"), js); err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, "summary.md"), []byte(s.Markdown())); err != nil {
		return err
	}
	figs, err := s.Figures()
	if err != nil {
		return err
	}
	var page bytes.Buffer
	if err := plots.WriteHTML(&page, figs...); err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, FiguresFile), page.Bytes()); err != nil {
		return err
	}
	// A static SVG per figure for viewers without scripts; it needs node and the npm packages, so a
	// machine without them gets the HTML page alone.
	for _, f := range figs {
		if err := plots.SaveSVG(f, filepath.Join(dir, f.ID()+".svg")); err != nil {
			s.SVGError = err.Error()
			break
		}
	}
	return nil
}

// FiguresFile is the HTML page with every figure of a report (ECharts inlined: it works offline).
const FiguresFile = "figures.html"

// Markdown is the comparison as a report: the setting, one table row per arm, and the notes.
func (s *Summary) Markdown() string {
	var b strings.Builder
	p := s.Plan
	fmt.Fprintf(&b, "# Sink-removing arms on preset %s\n\n", p.Preset)
	fmt.Fprintf(&b, "Data: %s. Arms: %s. Seeds: %v (the same data order for every arm of a seed). ", s.Data, strings.Join(p.Arms, ", "), p.Seeds)
	if len(s.Runs) > 0 {
		fmt.Fprintf(&b, "%d steps per run.", s.Runs[0].Steps)
	}
	fmt.Fprintf(&b, "\n\nTarget loss %.4f: %s. Losses are trailing means over %d steps; intervals are 95%% percentile bootstraps over seeds (%d resamples, paired with the baseline's seed).\n\n",
		s.Target, s.TargetRule, s.Window, s.Resamples)
	b.WriteString("| arm | seeds | final train loss | final val loss | Δ val vs baseline [95% CI] | steps to target | speed-up [95% CI] | max attention to token 0 | Gu Sink₀^0.3 | max disparity | mean eff. rank | super-neuron strength | tokens/s |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, a := range s.Arms {
		steps := fmt.Sprintf("%s (%d/%d reached)", pm(a.StepsToTarget, "%.0f"), a.Reached, a.Seeds)
		speed := a.SpeedUp.String()
		if a.SpeedUp == nil && a.SpeedUpNote != "" && a.Arm != Baseline {
			speed = "— (" + a.SpeedUpNote + ")"
		}
		if a.Arm == Baseline {
			speed = "1"
		}
		delta := "—"
		if a.ValLossDelta != nil {
			delta = fmt.Sprintf("%+.4f [%+.4f, %+.4f]", a.ValLossDelta.Value, a.ValLossDelta.Lo, a.ValLossDelta.Hi)
		}
		fmt.Fprintf(&b, "| %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", a.Arm, a.Seeds,
			pm(a.FinalLoss, "%.4f"), pm(a.FinalValLoss, "%.4f"), delta, steps, speed,
			pm(a.MaxAttnToFirst, "%.3f"), pm(a.GuSink, "%.3f"), pm(a.MaxDisparity, "%.1f"), pm(a.EffectiveRank, "%.1f"),
			pm(a.NeuronStrength, "%.3g"), pm(a.TokensPS, "%.0f"))
	}
	b.WriteString("\nPer layer, mean over seeds of the final attention to token 0 (queries 1..T−1):\n\n")
	b.WriteString("| arm | " + layerHeader(s) + " |\n|---|" + strings.Repeat("---|", layers(s)) + "\n")
	for _, a := range s.Arms {
		fmt.Fprintf(&b, "| %s |", a.Arm)
		for _, v := range a.AttnToFirst {
			fmt.Fprintf(&b, " %.3f |", v)
		}
		b.WriteString("\n")
	}
	b.WriteString("\nDefinitions: max attention to token 0 is the largest per-layer mean over heads, sequences and queries 1..T−1 on " +
		fmt.Sprintf("%d validation windows; the disparity is |x₀[dim]| / mean |x₀[others]| at each layer's input-norm output, dim the massive dimension of that layer (mean of per-sequence ratios; summary.json also has the ratio of batch means), largest over layers ≥ 1; the effective rank is exp(entropy) of the normalised singular values of the residual stream entering each layer, averaged over layers; the super-neuron strength is findings.ScanNeurons' (First − Rest) · max|W_down column| · selectivity of the strongest layer.\n", FinalWindows))
	if s.Heads == 1 && s.has("headnorm") && s.has("headnorm-shared") {
		b.WriteString("\nWith one head per layer, per-head and shared γ are the same parameterisation (γ [1, d_head] and [d_head], the same first-token init): the two HeadNorm arms train identically and their rows must agree.\n")
	}
	if len(s.Missing) > 0 {
		b.WriteString("\nNot finished (left out): " + strings.Join(s.Missing, "; ") + "\n")
	}
	b.WriteString("\nPer run:\n\n| run | final train loss | final val loss | steps to target | max attention to token 0 (layer) | seconds |\n|---|---|---|---|---|---|\n")
	for _, r := range s.Runs {
		fmt.Fprintf(&b, "| %s | %.4f | %.4f | %d | %.3f (%d) | %.0f |\n", r.Name(), r.FinalLoss, r.FinalValLoss, r.StepsToTarget, r.Final.MaxAttnToFirst, r.Final.SinkLayer, r.Seconds)
	}
	return b.String()
}

func layers(s *Summary) int {
	if len(s.Arms) == 0 {
		return 0
	}
	return len(s.Arms[0].AttnToFirst)
}

func layerHeader(s *Summary) string {
	var h []string
	for l := 0; l < layers(s); l++ {
		h = append(h, fmt.Sprintf("layer %d", l))
	}
	return strings.Join(h, " | ")
}

// pm prints a Stat as "mean ± std" ("mean" for one seed, "—" for none).
func pm(st Stat, format string) string {
	switch {
	case st.N == 0 || math.IsNaN(st.Mean):
		return "—"
	case st.N == 1:
		return fmt.Sprintf(format, st.Mean)
	}
	return fmt.Sprintf(format+" ± "+format, st.Mean, st.Std)
}

// Figures are the comparison's charts: the smoothed training loss, the validation loss and the
// attention to token 0 against the step (mean over seeds with a min–max band), and the final
// attention to token 0 per layer.
func (s *Summary) Figures() ([]*plots.Figure, error) {
	sub := fmt.Sprintf("%s, seeds %v; mean over seeds, band min–max", s.Plan.Preset, s.Plan.Seeds)
	type pick func(c *Curve) ([]int, []float64)
	curves := func(id, title, y string, f pick) (*plots.Figure, error) {
		var arms []plots.Arm
		for _, a := range s.Plan.Arms {
			var xs [][]int
			var ys [][]float64
			for _, r := range s.runsOf(a) {
				x, y := f(r.Curve)
				xs, ys = append(xs, x), append(ys, y)
			}
			if arm, ok := band(a, xs, ys); ok {
				arms = append(arms, arm)
			}
		}
		return plots.LossCurves(arms, plots.LineOptions{Options: plots.Options{ID: id, Title: title, Subtitle: sub}, XName: "step", YName: y})
	}
	loss, err := curves("compare_loss", "Training loss", fmt.Sprintf("loss (trailing mean, %d steps)", s.Window),
		func(c *Curve) ([]int, []float64) { return c.Steps, c.Smoothed })
	if err != nil {
		return nil, err
	}
	val, err := curves("compare_val_loss", "Validation loss", "validation loss",
		func(c *Curve) ([]int, []float64) { return c.ValSteps, c.ValLoss })
	if err != nil {
		return nil, err
	}
	sink, err := curves("compare_sink", "Attention to token 0 during training", "largest per-layer attention to token 0",
		func(c *Curve) ([]int, []float64) { return c.SinkSteps, c.AttnToFirst })
	if err != nil {
		return nil, err
	}
	var series []plots.Series
	var x []int
	for _, a := range s.Arms {
		series = append(series, plots.Series{Name: a.Arm, Values: a.AttnToFirst})
	}
	for l := 0; l < layers(s); l++ {
		x = append(x, l)
	}
	perLayer, err := plots.PositionLines(x, series, plots.LineOptions{Options: plots.Options{ID: "compare_attention_by_layer",
		Title: "Final attention to token 0 per layer", Subtitle: fmt.Sprintf("%s, mean over seeds, %d validation windows", s.Plan.Preset, FinalWindows)},
		XName: "layer", YName: "attention to token 0"})
	if err != nil {
		return nil, err
	}
	return []*plots.Figure{loss, val, sink, perLayer}, nil
}

// band is one arm's curve over seeds at the steps every seed logged: the mean, min and max.
func band(name string, xs [][]int, ys [][]float64) (plots.Arm, bool) {
	if len(xs) == 0 {
		return plots.Arm{}, false
	}
	count := map[int]int{}
	for _, x := range xs {
		for _, s := range x {
			count[s]++
		}
	}
	a := plots.Arm{Name: name}
	for _, s := range xs[0] {
		if count[s] != len(xs) {
			continue
		}
		lo, hi, sum := math.Inf(1), math.Inf(-1), 0.0
		for k := range xs {
			v := valueAt(xs[k], ys[k], s)
			lo, hi, sum = math.Min(lo, v), math.Max(hi, v), sum+v
		}
		a.Steps = append(a.Steps, s)
		a.Mean = append(a.Mean, sum/float64(len(xs)))
		a.Lo, a.Hi = append(a.Lo, lo), append(a.Hi, hi)
	}
	if len(xs) == 1 {
		a.Lo, a.Hi = nil, nil
	}
	return a, len(a.Steps) > 0
}

func valueAt(x []int, y []float64, step int) float64 {
	for i, s := range x {
		if s == step {
			return y[i]
		}
	}
	return math.NaN()
}

// LiveFigure is the training loss of every run of p logged so far (trailing mean over window
// steps), one line per run, for watching a comparison train (runs without a log yet are left out).
func LiveFigure(p Plan, window int) (*plots.Figure, error) {
	var arms []plots.Arm
	for _, r := range p.Runs() {
		c, err := ReadCurve(p.RunDir(r), window)
		if err != nil {
			continue
		}
		arms = append(arms, plots.Arm{Name: r.Name(), Steps: c.Steps, Mean: c.Smoothed})
	}
	if len(arms) == 0 {
		return nil, fmt.Errorf("compare: no run of %s has logged a step yet", p.Dir)
	}
	return plots.LossCurves(arms, plots.LineOptions{Options: plots.Options{ID: "compare_live", Title: "Training loss (live)",
		Subtitle: fmt.Sprintf("%s: every run so far, trailing mean", p.Preset)}, XName: "step", YName: "loss"})
}

// has reports whether arm is in the report.
func (s *Summary) has(arm string) bool {
	for _, a := range s.Arms {
		if a.Arm == arm {
			return true
		}
	}
	return false
}
