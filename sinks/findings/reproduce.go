package findings

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/sinkscope/sinkscope/datasets/batch"
	"github.com/sinkscope/sinkscope/internal/atomicfile"
	"github.com/sinkscope/sinkscope/internal/jsonsafe"
	"github.com/sinkscope/sinkscope/plots"
	"github.com/sinkscope/sinkscope/sinks/interventions"
	"github.com/sinkscope/sinkscope/sinks/metrics"
)

// Results holds every number of one reproduction run (results.json).
type Results struct {
	Model   string    `json:"model"`
	Backend string    `json:"backend"`
	Main    string    `json:"main_batch"`
	Random  string    `json:"random_batch"`
	Inputs  Inputs    `json:"inputs"`
	Started time.Time `json:"started"`
	Seconds float64   `json:"seconds"`
	// Graphs is the number of model graphs the run compiled (each costs seconds on a GPU): one per
	// structure of run (captures, reductions, hooks) and input shape; StepGraphs per step, by name,
	// when the steps ran one after another (not Options.Overlap).
	Graphs     int            `json:"graphs_compiled"`
	StepGraphs map[string]int `json:"graphs_per_step,omitempty"`
	// NeuronLayer is the super-neuron layer the findings read; Scan, when present, is the layer
	// scan that chose it (absent when the layer was given).
	NeuronLayer int                     `json:"neuron_layer"`
	Scan        *NeuronScan             `json:"super_neuron_layer_scan,omitempty"`
	Sink        *SinkOnset              `json:"fig3_sink_onset"`
	Variance    *Variance               `json:"fig4_variance"`
	WO          *metrics.WOPreservation `json:"fig7_wo_preservation"`
	Neurons     *SuperNeurons           `json:"fig8_10_super_neurons"`
	Disparity   *Disparity              `json:"table1_disparity"`
	QK          *QKLock                 `json:"fig12_qk_lock"`
	// QKSkipped says why there is no QK lock (the neuron layer is the last layer).
	QKSkipped string    `json:"fig12_qk_lock_skipped,omitempty"`
	Rank      []float64 `json:"fig21_effective_rank"`
	// Mask and Amplification are the interventions of Figs. 5 and 6; InterventionsSkipped says why
	// they did not run (a short batch, no random batch, a one-layer model).
	Mask                 *interventions.MaskResult          `json:"fig5_mask,omitempty"`
	Amplification        *interventions.AmplificationResult `json:"fig6_amplification,omitempty"`
	InterventionsSkipped string                             `json:"fig5_fig6_skipped,omitempty"`
	// Removal and TargetSweep go beyond the paper (RunSinkRemoval, RunTargetSweep); Reproduce
	// leaves them empty.
	Removal     *SinkRemoval                 `json:"beyond_sink_removal,omitempty"`
	TargetSweep *interventions.PositionSweep `json:"beyond_target_sweep,omitempty"`
	// Definitions puts both readings of each definition the paper leaves open side by side.
	Definitions []Definition `json:"open_definitions"`
	// Errors lists the findings that failed (their numbers are absent; the others are kept).
	Errors []string `json:"errors,omitempty"`
	// Figures lists the figures written; FigureErrors those that could not be drawn.
	Figures      []string `json:"figures"`
	FigureErrors []string `json:"figure_errors,omitempty"`
	SVG          bool     `json:"svg_written"`
}

// Inputs records the exact token ids a run used (also written to ids.json beside results.json),
// so every number can be recomputed elsewhere.
type Inputs struct {
	File   string      `json:"file"` // "ids.json": {"main": [[…]], "random": [[…]]}
	Main   BatchRecord `json:"main"`
	Random BatchRecord `json:"random"`
}

// BatchRecord describes one batch of token ids.
type BatchRecord struct {
	N      int    `json:"n"`
	SeqLen int    `json:"seq_len"`
	BOS    bool   `json:"bos_at_position_0"`
	SHA256 string `json:"sha256"` // batch.IDsHash: SHA-256 of the ids' compact JSON
	// IDs are inlined for the main batch (small); the random batch is only in the ids file.
	IDs [][]int `json:"ids,omitempty"`
}

func batchRecord(ids [][]int, bos, inline bool) BatchRecord {
	if len(ids) == 0 {
		return BatchRecord{}
	}
	r := BatchRecord{N: len(ids), SeqLen: len(ids[0]), BOS: bos, SHA256: batch.IDsHash(ids)}
	if inline {
		r.IDs = ids
	}
	return r
}

// Describe says what a reproduction ran on, for the report.
type Describe struct {
	Model, Backend, Main, Random string
}

// Step is one unit of work of Reproduce, for progress reporting: Progress is called when a step
// starts (Done: the steps finished so far, Of: all of them) and, with End set, when it ends, with its
// Seconds.
type Step struct {
	Name    string
	Done    int
	Of      int
	End     bool
	Seconds float64
}

// Options configure Reproduce.
type Options struct {
	Toy   bool // also run the random-init toy block
	NoSVG bool // skip the SVG files (they need node); HTML files are always attempted
	// Overlap runs the findings that do not depend on each other at the same time: the layer scan
	// (whose run also computes sink onset, disparity and effective rank) beside the interventions,
	// then the variance, W_O and super-neuron findings (one shared capture run) beside the read-outs
	// of the scan's statistics, and the QK lock after both. On a GPU most of a large model's time is
	// compiling graphs on the host, which then overlaps with the other steps' compiling and device
	// work; the numbers are those of the steps one after another (the same graphs on the same
	// inputs). Progress may then be called from several goroutines (never at once), and
	// Results.StepGraphs stays empty (the graphs compiled cannot be told apart by step).
	Overlap  bool
	Progress func(Step) // see Step; may be nil
}

// reproduceStep is one step of Reproduce; after names the steps it waits for (Options.Overlap).
type reproduceStep struct {
	name  string
	after []string
	fn    func() error
}

// Reproduce runs every finding on the setting and writes into dir: ids.json (the token ids used),
// results.json with every number and report.md listing the paper's values next to ours — both
// before any figure is drawn — then one SVG and one HTML file per figure, and results.json and
// report.md again with the figure list. A figure that cannot be drawn (no ECharts, no node) is
// recorded in FigureErrors and never loses the numbers; a finding that fails is recorded in Errors,
// the others still run, and Reproduce returns an error naming the failed findings after writing
// everything it has. Without a super-neuron layer (a failed scan) the findings that read it do not
// run.
func Reproduce(s *Setting, d Describe, dir string, o Options) (*Results, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	r := &Results{Model: d.Model, Backend: d.Backend, Main: d.Main, Random: d.Random, Started: time.Now()}
	if err := writeIDs(dir, s, r); err != nil {
		return nil, err
	}
	stopShare := func() {}
	defer func() { stopShare() }() // drop the shared main-batch statistics
	defer s.ShareMainRun()         // drop the shared main-batch activations
	const scan = "super-neuron layer scan"
	before := *s
	steps := []reproduceStep{
		{scan, nil, func() error {
			// The layer scan, sink onset, disparity and effective rank reduce the main batch on the
			// device: one run, the scan's, computes all four (one set of compiled graphs, not four).
			stopShare = s.ShareMainStatistics()
			if err := s.Resolve(); err != nil {
				return err
			}
			// Figs. 4a and 7–9 and the QK lock read a few hook points each from the main batch: one
			// shared run captures them all (one compiled graph instead of four).
			names, err := s.MainCaptures()
			if err != nil {
				return err
			}
			s.ShareMainRun(names...)
			return nil
		}},
		{"sink onset (Fig. 3)", []string{scan}, func() (err error) { r.Sink, err = RunSinkOnset(s); return }},
		{"variance discrepancy (Fig. 4, toy)", []string{scan}, func() (err error) { r.Variance, err = RunVariance(s, o.Toy); return }},
		{"W_O preservation (Fig. 7)", []string{"variance discrepancy (Fig. 4, toy)"}, func() (err error) { r.WO, err = RunWOPreservation(s); return }},
		{"super neurons (Fig. 8-10)", []string{"W_O preservation (Fig. 7)"}, func() (err error) { r.Neurons, err = RunSuperNeurons(s, 5); return }},
		{"dimension disparity (Table 1)", []string{"sink onset (Fig. 3)"}, func() (err error) { r.Disparity, err = RunDisparity(s); return }},
		{"QK lock (Fig. 12)", []string{"dimension disparity (Table 1)", "super neurons (Fig. 8-10)"}, func() (err error) {
			if r.QK, err = RunQKLockNext(s, r.Disparity); err == nil && r.QK == nil {
				r.QKSkipped = fmt.Sprintf("the super-neuron layer %d is the last layer: no later attention layer to lock", s.NeuronLayer)
			}
			return
		}},
		{"effective rank (Fig. 21)", []string{"dimension disparity (Table 1)"}, func() (err error) { r.Rank, err = RunEffectiveRank(s); return }},
		{"interventions (Figs. 5-6)", nil, func() (err error) {
			// They read neither the neuron layer nor the shared runs: a copy of the setting made
			// before the scan sets them (with Overlap the scan runs meanwhile).
			if r.InterventionsSkipped = interventionsSkipped(&before); r.InterventionsSkipped != "" {
				return nil
			}
			if r.Mask, err = RunMaskIntervention(&before, MaskToken); err != nil {
				return err
			}
			r.Amplification, err = RunAmplification(&before, AmplificationFor(s.Model.Config.NLayers))
			return
		}},
	}
	total := len(steps) + 1
	graphs0 := s.Model.Compilations()
	if o.Overlap {
		r.Errors = runOverlapped(steps, scan, total, o.Progress)
	} else {
		r.StepGraphs = map[string]int{}
		needsScan, scanFailed := afterScan(steps, scan), false
		for i, st := range steps {
			if scanFailed && needsScan[st.name] {
				continue // without a neuron layer it cannot run
			}
			if o.Progress != nil {
				o.Progress(Step{Name: st.name, Done: i, Of: total})
			}
			before, started := s.Model.Compilations(), time.Now()
			err := st.fn()
			r.StepGraphs[st.name] = s.Model.Compilations() - before
			if o.Progress != nil {
				o.Progress(Step{Name: st.name, Done: i + 1, Of: total, End: true, Seconds: time.Since(started).Seconds()})
			}
			if err != nil {
				r.Errors = append(r.Errors, fmt.Sprintf("%s: %v", st.name, err))
				scanFailed = scanFailed || st.name == scan
			}
		}
	}
	r.NeuronLayer, r.Scan = s.NeuronLayer, s.Scan
	r.Graphs = s.Model.Compilations() - graphs0
	r.Definitions = Definitions(r)
	r.Seconds = time.Since(r.Started).Seconds()
	// The numbers first: a figure failure below cannot lose them.
	if err := writeResults(dir, r); err != nil {
		return nil, err
	}
	if o.Progress != nil {
		o.Progress(Step{Name: "figures", Done: len(steps), Of: total})
	}
	writeFigures(dir, r, o.NoSVG)
	r.Seconds = time.Since(r.Started).Seconds()
	if err := writeResults(dir, r); err != nil {
		return nil, err
	}
	if o.Progress != nil {
		o.Progress(Step{Name: "done", Done: total, Of: total})
	}
	if len(r.Errors) > 0 {
		return r, fmt.Errorf("%d finding(s) failed (the others are in %s): %s", len(r.Errors), filepath.Join(dir, "results.json"), strings.Join(r.Errors, "; "))
	}
	return r, nil
}

// afterScan marks the scan's step and every step after it, directly or not (steps wait only for
// earlier steps).
func afterScan(steps []reproduceStep, scan string) map[string]bool {
	needs := make(map[string]bool, len(steps))
	for _, st := range steps {
		needs[st.name] = st.name == scan
		for _, a := range st.after {
			needs[st.name] = needs[st.name] || needs[a]
		}
	}
	return needs
}

// runOverlapped runs each step in its own goroutine once the steps it waits for have ended
// (Options.Overlap) and returns the failures in the steps' order. When the scan fails, the steps
// after it (directly or not) do not run. progress is called under a lock.
func runOverlapped(steps []reproduceStep, scan string, total int, progress func(Step)) []string {
	done := make(map[string]chan struct{}, len(steps))
	for _, st := range steps {
		done[st.name] = make(chan struct{})
	}
	errs := make([]error, len(steps))
	needsScan := afterScan(steps, scan)
	var mu sync.Mutex // guards finished and the progress calls
	finished := 0
	report := func(st Step) {
		mu.Lock()
		defer mu.Unlock()
		if st.End {
			finished++
		}
		st.Done, st.Of = finished, total
		if progress != nil {
			progress(st)
		}
	}
	scanFailed := make(chan struct{})
	var wg sync.WaitGroup
	for i, st := range steps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(done[st.name])
			for _, a := range st.after {
				<-done[a]
			}
			if st.name != scan && needsScan[st.name] {
				select {
				case <-scanFailed:
					return // without a neuron layer it cannot run
				default:
				}
			}
			report(Step{Name: st.name})
			started := time.Now()
			errs[i] = st.fn()
			report(Step{Name: st.name, End: true, Seconds: time.Since(started).Seconds()})
			if errs[i] != nil && st.name == scan {
				close(scanFailed)
			}
		}()
	}
	wg.Wait()
	var out []string
	for i, err := range errs {
		if err != nil {
			out = append(out, fmt.Sprintf("%s: %v", steps[i].name, err))
		}
	}
	return out
}

// writeIDs writes ids.json and records the batches in r.Inputs.
func writeIDs(dir string, s *Setting, r *Results) error {
	r.Inputs = Inputs{File: "ids.json", Main: batchRecord(s.Main, s.MainBOS, true), Random: batchRecord(s.Random, false, false)}
	b, err := json.Marshal(map[string][][]int{"main": s.Main, "random": s.Random})
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, "ids.json"), append(b, '\n'))
}

// writeResults writes results.json and report.md.
func writeResults(dir string, r *Results) error {
	js, err := jsonsafe.MarshalIndent(r)
	if err != nil {
		return fmt.Errorf("encoding results.json: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(dir, "results.json"), js); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, "report.md"), []byte(Report(r)))
}

// writeFigures draws every figure as HTML (and SVG unless noSVG), recording each failure in
// r.FigureErrors instead of stopping.
func writeFigures(dir string, r *Results, noSVG bool) {
	fail := func(format string, args ...any) {
		r.FigureErrors = append(r.FigureErrors, fmt.Sprintf(format, args...))
	}
	figs, err := Figures(r)
	if err != nil {
		fail("building the figures: %v", err)
		return
	}
	var svgs [][]byte
	if !noSVG {
		if svgs, err = plots.RenderSVGs(context.Background(), figs...); err != nil {
			fail("SVG files (they need node and the npm packages; --svg=false skips them): %v", err)
			svgs = nil
		}
	}
	r.SVG = svgs != nil
	for i, f := range figs {
		name := f.ID()
		if svgs != nil {
			if err := atomicfile.Write(filepath.Join(dir, name+".svg"), svgs[i]); err != nil {
				fail("%s.svg: %v", name, err)
			}
		}
		if err := plots.SaveHTML(f, filepath.Join(dir, name+".html")); err != nil {
			fail("%s.html: %v", name, err)
			continue
		}
		r.Figures = append(r.Figures, name)
	}
}

// Report renders the results as Markdown, the paper's values (Llama-2-7B) next to ours.
func Report(r *Results) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# sinkscope reproduction\n\n")
	fmt.Fprintf(&b, "- model: %s\n- %s\n- main batch: %s\n- random batch: %s\n- token ids: %s (main sha256 %.12s)\n- run: %s, %.1f s\n\n",
		r.Model, r.Backend, r.Main, r.Random, r.Inputs.File, r.Inputs.Main.SHA256, r.Started.Format(time.RFC3339), r.Seconds)
	if len(r.Errors) > 0 {
		b.WriteString("**Findings that failed** (their rows are missing below):\n\n")
		for _, e := range r.Errors {
			fmt.Fprintf(&b, "- %s\n", e)
		}
		b.WriteString("\n")
	}
	b.WriteString("Paper values are Llama-2-7B's (layers counted from 0). Ours are this model's; a small or\n")
	b.WriteString("random-init model is not expected to match them — the point is the same measurement.\n\n")
	if sc := r.Scan; sc != nil {
		fmt.Fprintf(&b, "## Super-neuron layer scan\n\nEvery layer's strongest token-0 FFN channel; the findings read layer %d (%s).\n\n", sc.Best, sc.Rule)
		b.WriteString("| layer | neuron (by First − Rest) | mean \\|a\\| token 0 | mean \\|a\\| others | selectivity | top W_down dim | strength | neuron by ratio (ratio) |\n|---|---|---|---|---|---|---|---|\n")
		for _, c := range sc.Layers {
			mark := ""
			switch {
			case c.Layer == sc.Best:
				mark = " **←**"
			case !c.FeedsAttention:
				mark = " (last: feeds no attention)"
			}
			fmt.Fprintf(&b, "| %d%s | %d | %.4g | %.4g | %.3f | %d | %.4g | %d (%.3g) |\n", c.Layer, mark, c.Neuron, c.First, c.Rest, c.Selectivity, c.DownDim, c.Strength, c.NeuronByRatio, c.Ratio)
		}
		b.WriteString("\n")
	} else {
		fmt.Fprintf(&b, "Super-neuron layer: %d (given, not scanned).\n\n", r.NeuronLayer)
	}
	b.WriteString("## Findings\n\n| item | measurement | paper (Llama-2-7B) | ours |\n|---|---|---|---|\n")
	row := func(item, what, paper, ours string) {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", item, what, paper, ours)
	}
	if r.Sink != nil {
		onset := "none"
		if r.Sink.Onset >= 0 {
			onset = fmt.Sprintf("layer %d", r.Sink.Onset)
		}
		row("Fig. 3", fmt.Sprintf("sink onset (first layer with attention to token 0 > %.1f, queries 1..T−1)", metrics.SinkOnsetThreshold), "layer 2", onset)
		if p, ok := peakSink(r.Sink); ok {
			row("Fig. 3", "largest mean attention to token 0 (queries 1..T−1)", "≈ 1 from layer 2", fmt.Sprintf("%.3f (layer %d)", p.AttnToFirst, p.Layer))
			row("Fig. 3", "token-0 norm ratio ‖x₀‖ / mean ‖xᵢ‖ entering that layer", "spikes at the onset", fmt.Sprintf("%.3g", p.NormRatio))
		}
		if r.Sink.Gu != nil {
			row("Gu et al.", "Sink₀^ε, ε = 0.3 (share of heads with α₀ > ε; per sample)", "high in trained LLMs",
				fmt.Sprintf("%.3f (batch-mean α: %.3f)", r.Sink.Gu.SharePerSample, r.Sink.Gu.Share))
		}
	}
	if v := r.Variance; v != nil {
		for _, c := range v.Main {
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
		row("Fig. 7", fmt.Sprintf("layer %d: W_O preserves the discrepancy (rank correlation before vs after W_O)", r.NeuronLayer), "τ ≈ 0.32 (definition unknown)", fmt.Sprintf("τ-b %.3f, Spearman %.3f", r.WO.KendallTau, r.WO.Spearman))
	}
	if n := r.Neurons; n != nil {
		row("Fig. 8", fmt.Sprintf("layer %d: top W_up row-norm neuron", n.Layer), "7890 (layer 1)", fmt.Sprintf("%d", n.ByNorm))
		row("Fig. 9", "neuron firing on token 0 (activation contrast, by difference)", "7890",
			fmt.Sprintf("%d (token 0 %.3g vs others %.3g)", n.Neuron, n.Contrast.First[n.Neuron], n.Contrast.Rest[n.Neuron]))
		if n.Down != nil && len(n.Down.TopDims) > 0 {
			row("Fig. 10", "top dimension of its W_down column, kurtosis", "2533, heavy-tailed", fmt.Sprintf("%d, kurtosis %.3g", n.Down.TopDims[0], n.Down.Kurtosis))
		}
	}
	if d := r.Disparity; d != nil {
		where := fmt.Sprintf("layer %d's input norm", d.Layer)
		if strings.HasPrefix(d.Norm, "ln_final") {
			where = "the final norm"
		}
		row("Table 1", fmt.Sprintf("massive dimension of token 0 entering %s", where), "2533", fmt.Sprintf("%d (mean |x| %.3g)", d.Dim, d.DimValue))
		row("Table 1", fmt.Sprintf("dimension disparity at %s (from batch means; per-sample mean)", where), "262.88 (from batch means)", fmt.Sprintf("%.2f; %.2f", d.Pooled, d.Disparity))
	}
	if q := r.QK; q != nil && len(q.Heads) > 0 {
		align, pos, posW, _ := qkMeans(q)
		locked := 0
		for _, h := range q.Heads {
			if h.PositiveShare > 0.95 {
				locked++
			}
		}
		row("Fig. 12", fmt.Sprintf("layer %d: mean alignment, mean share of queries scoring token 0 > 0", q.Layer), "≈ 100% in locked heads",
			fmt.Sprintf("%.3f, %.1f%% (%d of %d heads > 95%%); against ±W_K[:, dim] as the authors: %.1f%%", align, 100*pos, locked, len(q.Heads), 100*posW))
	} else if r.QKSkipped != "" {
		row("Fig. 12", "QK lock", "≈ 100% in locked heads", "skipped: "+r.QKSkipped)
	}
	if len(r.Rank) > 0 {
		row("Fig. 21", "effective rank: first layer input vs final norm output", "see paper", fmt.Sprintf("%.1f vs %.1f", r.Rank[0], r.Rank[len(r.Rank)-1]))
	}
	interventionRows(r, row)
	if len(r.Definitions) > 0 {
		b.WriteString("\n## Open definitions: both readings\n\nWhere the paper leaves a definition open, both readings are computed; the findings above use reading A.\n\n")
		b.WriteString("| item | quantity | reading A | reading B | the paper's number |\n|---|---|---|---|---|\n")
		for _, d := range r.Definitions {
			fmt.Fprintf(&b, "| %s | %s | %s: %s | %s: %s | %s |\n", d.Item, d.Quantity, d.A.Name, d.A.Text(), d.B.Name, d.B.Text(), d.Paper)
		}
	}
	b.WriteString("\n## Figures\n\n")
	for _, f := range r.Figures {
		if r.SVG {
			fmt.Fprintf(&b, "- [%s](%s.html) ([svg](%s.svg))\n", f, f, f)
		} else {
			fmt.Fprintf(&b, "- [%s](%s.html)\n", f, f)
		}
	}
	if len(r.Figures) == 0 && len(r.FigureErrors) == 0 {
		b.WriteString("(not drawn yet)\n")
	}
	for _, e := range r.FigureErrors {
		fmt.Fprintf(&b, "- not drawn: %s\n", e)
	}
	return b.String()
}

// peakSink is the layer with the largest attention to token 0.
func peakSink(s *SinkOnset) (metrics.LayerSink, bool) {
	var best metrics.LayerSink
	for i, p := range s.Profile {
		if i == 0 || p.AttnToFirst > best.AttnToFirst {
			best = p
		}
	}
	return best, len(s.Profile) > 0
}

// qkMeans are the QK lock's head means: alignment, positive share against k₀, share against
// ±W_K[:, dim] (sign-aware) and against W_K[:, dim] (unsigned).
func qkMeans(q *QKLock) (align, pos, signed, unsigned float64) {
	for _, h := range q.Heads {
		align += h.Alignment
		pos += h.PositiveShare
		signed += h.WeightShare
		unsigned += h.WeightShareUnsigned
	}
	n := float64(len(q.Heads))
	return align / n, pos / n, signed / n, unsigned / n
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
