package findings

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sinkscope/sinkscope/internal/atomicfile"
	"github.com/sinkscope/sinkscope/plots"
	"github.com/sinkscope/sinkscope/sinks/metrics"
)

// Results holds every number of one reproduction run (results.json).
type Results struct {
	Model     string                  `json:"model"`
	Backend   string                  `json:"backend"`
	Text      string                  `json:"text_batch"`
	Random    string                  `json:"random_batch"`
	Started   time.Time               `json:"started"`
	Seconds   float64                 `json:"seconds"`
	Sink      *SinkOnset              `json:"fig3_sink_onset"`
	Variance  *Variance               `json:"fig4_variance"`
	WO        *metrics.WOPreservation `json:"fig7_wo_preservation"`
	Neurons   *SuperNeurons           `json:"fig8_10_super_neurons,omitempty"`
	Disparity *Disparity              `json:"table1_disparity"`
	QK        *QKLock                 `json:"fig12_qk_lock"`
	Rank      []float64               `json:"fig21_effective_rank"`
	Figures   []string                `json:"figures"`
	SVG       bool                    `json:"svg_written"`
}

// Describe says what a reproduction ran on, for the report.
type Describe struct {
	Model, Backend, Text, Random string
}

// Step is one unit of work of Reproduce, for progress reporting.
type Step struct {
	Name string
	Done int
	Of   int
}

// Options configure Reproduce.
type Options struct {
	Toy      bool       // also run the random-init toy block
	NoSVG    bool       // skip the SVG files (they need node); HTML files are always written
	Progress func(Step) // called before each step; may be nil
}

// Reproduce runs every finding on the setting and writes, into dir, one SVG and one HTML file per
// figure, results.json with every number, and report.md listing the paper's values next to ours.
func Reproduce(s *Setting, d Describe, dir string, o Options) (*Results, error) {
	toy, progress := o.Toy, o.Progress
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	r := &Results{Model: d.Model, Backend: d.Backend, Text: d.Text, Random: d.Random, Started: time.Now()}
	steps := []struct {
		name string
		fn   func() error
	}{
		{"sink onset (Fig. 3)", func() (err error) { r.Sink, err = RunSinkOnset(s); return }},
		{"variance discrepancy (Fig. 4, toy)", func() (err error) { r.Variance, err = RunVariance(s, toy); return }},
		{"W_O preservation (Fig. 7)", func() (err error) { r.WO, err = RunWOPreservation(s); return }},
		{"super neurons (Fig. 8-10)", func() (err error) {
			if s.Model.Config.MLP != "swiglu" {
				return nil
			}
			r.Neurons, err = RunSuperNeurons(s, 5)
			return
		}},
		{"dimension disparity (Table 1)", func() (err error) { r.Disparity, err = RunDisparity(s); return }},
		{"QK lock (Fig. 12)", func() (err error) { r.QK, err = RunQKLock(s, r.Disparity.Layer, r.Disparity.Dim); return }},
		{"effective rank (Fig. 21)", func() (err error) { r.Rank, err = RunEffectiveRank(s); return }},
	}
	total := len(steps) + 1
	for i, st := range steps {
		if progress != nil {
			progress(Step{Name: st.name, Done: i, Of: total})
		}
		if err := st.fn(); err != nil {
			return nil, fmt.Errorf("%s: %w", st.name, err)
		}
	}
	if progress != nil {
		progress(Step{Name: "figures", Done: len(steps), Of: total})
	}
	figs, err := Figures(r)
	if err != nil {
		return nil, err
	}
	var svgs [][]byte
	if !o.NoSVG {
		if svgs, err = plots.RenderSVGs(context.Background(), figs...); err != nil {
			return nil, fmt.Errorf("rendering SVGs (use NoSVG / --svg=false where node is not installed): %w", err)
		}
	}
	r.SVG = svgs != nil
	for i, f := range figs {
		name := f.ID()
		if svgs != nil {
			if err := atomicfile.Write(filepath.Join(dir, name+".svg"), svgs[i]); err != nil {
				return nil, err
			}
		}
		if err := plots.SaveHTML(f, filepath.Join(dir, name+".html")); err != nil {
			return nil, err
		}
		r.Figures = append(r.Figures, name)
	}
	r.Seconds = time.Since(r.Started).Seconds()
	if progress != nil {
		progress(Step{Name: "done", Done: total, Of: total})
	}
	raw, err := encodeNaNSafe(r)
	if err != nil {
		return nil, fmt.Errorf("encoding results.json: %w", err)
	}
	var js bytes.Buffer
	if err := json.Indent(&js, raw, "", "  "); err != nil {
		return nil, err
	}
	js.WriteByte('\n')
	if err := atomicfile.Write(filepath.Join(dir, "results.json"), js.Bytes()); err != nil {
		return nil, err
	}
	if err := atomicfile.Write(filepath.Join(dir, "report.md"), []byte(Report(r))); err != nil {
		return nil, err
	}
	return r, nil
}

// Report renders the results as Markdown, the paper's values (Llama-2-7B) next to ours.
func Report(r *Results) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# sinkscope reproduction\n\n")
	fmt.Fprintf(&b, "- model: %s\n- %s\n- text batch: %s\n- random batch: %s\n- run: %s, %.1f s\n\n",
		r.Model, r.Backend, r.Text, r.Random, r.Started.Format(time.RFC3339), r.Seconds)
	b.WriteString("Paper values are Llama-2-7B's (layers counted from 0). Ours are this model's; a small or\n")
	b.WriteString("random-init model is not expected to match them — the point is the same measurement.\n\n")
	b.WriteString("| item | measurement | paper (Llama-2-7B) | ours |\n|---|---|---|---|\n")
	row := func(item, what, paper, ours string) {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", item, what, paper, ours)
	}
	if r.Sink != nil {
		onset := "none"
		if r.Sink.Onset >= 0 {
			onset = fmt.Sprintf("layer %d", r.Sink.Onset)
		}
		row("Fig. 3", "sink onset (first layer with attention to token 0 > 0.8)", "layer 2", onset)
		maxA, at := 0.0, 0
		for _, p := range r.Sink.Profile {
			if p.AttnToFirst > maxA {
				maxA, at = p.AttnToFirst, p.Layer
			}
		}
		row("Fig. 3", "largest mean attention to token 0", "≈ 1 from layer 2", fmt.Sprintf("%.3f (layer %d)", maxA, at))
		if r.Sink.Gu != nil {
			row("Gu et al.", "Sink₀^ε, ε = 0.3 (share of heads with α₀ > ε)", "high in trained LLMs", fmt.Sprintf("%.3f", r.Sink.Gu.Share))
		}
	}
	if v := r.Variance; v != nil {
		for _, c := range v.Text {
			row("Fig. 4a", fmt.Sprintf("layer %d: within-token std of the W_O input, t = 0 ÷ mean over t ≥ 1", c.Layer), "token 0 highest",
				fmt.Sprintf("%.4g ÷ %.4g = %.2f", first(c.Std), meanFrom(c.Std, 1), first(c.Std)/meanFrom(c.Std, 1)))
		}
		if v.Random != nil {
			row("Fig. 4b", fmt.Sprintf("layer %d, random tokens: across-sample std t = 0 vs T−1", v.Random.Layer), "token 0 highest",
				fmt.Sprintf("%.4g vs %.4g (fit R² %.2f)", first(v.Random.Std), last(v.Random.Std), v.Random.Fit.R2))
		}
		if v.Toy != nil {
			row("toy", "random-init block: std of attention output vs σ_v/√(t+1)", "follows the curve",
				fmt.Sprintf("σ_v %.3g, R² %.3f", v.Toy.Fit.SigmaV, v.Toy.Fit.R2))
		}
	}
	if r.WO != nil {
		row("Fig. 7", "W_O preserves the discrepancy: Kendall τ (before vs after W_O)", "≈ 0.32 (definition unknown)", fmt.Sprintf("τ-b %.3f, Spearman %.3f", r.WO.KendallTau, r.WO.Spearman))
	}
	if n := r.Neurons; n != nil {
		row("Fig. 8", fmt.Sprintf("layer %d: top W_up row-norm neuron", n.Layer), "7890 (layer 1)", fmt.Sprintf("%d", n.ByNorm))
		row("Fig. 9", "neuron firing on token 0 (activation contrast)", "7890", fmt.Sprintf("%d (contrast %.3g)", n.Neuron, n.Contrast.Score[n.Neuron]))
		if n.Down != nil && len(n.Down.TopDims) > 0 {
			row("Fig. 10", "top dimension of its W_down column, kurtosis", "2533, heavy-tailed", fmt.Sprintf("%d, kurtosis %.3g", n.Down.TopDims[0], n.Down.Kurtosis))
		}
	}
	if d := r.Disparity; d != nil {
		row("Table 1", fmt.Sprintf("massive dimension of token 0 entering layer %d", d.Layer), "2533", fmt.Sprintf("%d (mean |x| %.3g)", d.Dim, d.DimValue))
		row("Table 1", fmt.Sprintf("dimension disparity at layer %d's input norm (per-sample mean; from batch means)", d.Layer), "262.88 (from batch means)", fmt.Sprintf("%.2f; %.2f", d.Disparity, d.Pooled))
	}
	if q := r.QK; q != nil && len(q.Heads) > 0 {
		var align, pos, posW float64
		locked := 0
		for _, h := range q.Heads {
			align += h.Alignment
			pos += h.PositiveShare
			posW += h.WeightShare
			if h.PositiveShare > 0.95 {
				locked++
			}
		}
		n := float64(len(q.Heads))
		row("Fig. 12", fmt.Sprintf("layer %d: mean alignment, mean share of queries scoring token 0 > 0", q.Layer), "≈ 100% in locked heads",
			fmt.Sprintf("%.3f, %.1f%% (%d of %d heads > 95%%); against W_K[:, dim] as the authors: %.1f%%", align/n, 100*pos/n, locked, len(q.Heads), 100*posW/n))
	}
	if len(r.Rank) > 0 {
		row("Fig. 21", "effective rank: first layer input vs final norm output", "see paper", fmt.Sprintf("%.1f vs %.1f", r.Rank[0], r.Rank[len(r.Rank)-1]))
	}
	b.WriteString("\n## Figures\n\n")
	for _, f := range r.Figures {
		if r.SVG {
			fmt.Fprintf(&b, "- [%s](%s.html) ([svg](%s.svg))\n", f, f, f)
		} else {
			fmt.Fprintf(&b, "- [%s](%s.html)\n", f, f)
		}
	}
	return b.String()
}

func first(x []float64) float64 {
	if len(x) == 0 {
		return math.NaN()
	}
	return x[0]
}

func last(x []float64) float64 {
	if len(x) == 0 {
		return math.NaN()
	}
	return x[len(x)-1]
}

// meanFrom is the mean of x[from:], NaN when empty.
func meanFrom(x []float64, from int) float64 {
	if len(x) <= from {
		return math.NaN()
	}
	s := 0.0
	for _, v := range x[from:] {
		s += v
	}
	return s / float64(len(x)-from)
}
