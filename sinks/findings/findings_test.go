package findings

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sinkscope/sinkscope/sinks/backend"
	"github.com/sinkscope/sinkscope/sinks/metrics"
	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// The generic detectors, run on the planted model, must find exactly what was planted: the
// neuron, the massive dimension, the sink at the next layer and the QK lock — and lose them when
// the neuron is removed.
func TestFindingsOnPlantedModel(t *testing.T) {
	be, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	p := PaperParams()
	p.Samples, p.Random = 12, 64
	s, _, l, err := Prepare(be, "planted", p)
	if err != nil {
		t.Fatal(err)
	}
	spec := l.Planted.Spec
	for _, seq := range s.Main {
		if seq[0] != spec.BOS {
			t.Fatalf("planted sequences must start with BOS %d, got %v", spec.BOS, seq[:3])
		}
	}
	sink, err := RunSinkOnset(s)
	if err != nil {
		t.Fatal(err)
	}
	if sink.Onset != spec.Layer+1 || sink.Profile[spec.Layer+1].AttnToFirst < 0.8 || sink.Profile[spec.Layer].AttnToFirst > 0.5 {
		t.Errorf("sink onset %d (want %d); attention to token 0 at layers %d, %d: %.3f, %.3f",
			sink.Onset, spec.Layer+1, spec.Layer, spec.Layer+1, sink.Profile[spec.Layer].AttnToFirst, sink.Profile[spec.Layer+1].AttnToFirst)
	}
	neurons, err := RunSuperNeurons(s, 5)
	if err != nil {
		t.Fatal(err)
	}
	if neurons.Neuron != spec.Neuron || neurons.ByNorm != spec.Neuron || neurons.GateNorm.Order[0] != spec.Neuron {
		t.Errorf("super neuron: contrast %d, W_up norm %d, W_gate norm %d; planted %d", neurons.Neuron, neurons.ByNorm, neurons.GateNorm.Order[0], spec.Neuron)
	}
	if neurons.Down.TopDims[0] != spec.Dim {
		t.Errorf("down column's top dimension %d, planted %d", neurons.Down.TopDims[0], spec.Dim)
	}
	// Selective activation: the gate row points towards token 0's FFN input and away from the rest.
	sel := neurons.Selective
	for p := 1; p < len(sel.Cos); p++ {
		if sel.Cos[p] > sel.Cos[0]-0.3 || sel.Cos[0] <= 0 {
			t.Errorf("selective activation: cos at t=0 %.3f, at t=%d %.3f", sel.Cos[0], p, sel.Cos[p])
			break
		}
	}
	disp, err := RunDisparity(s)
	if err != nil {
		t.Fatal(err)
	}
	if disp.Dim != spec.Dim || disp.Disparity < 50 {
		t.Errorf("disparity: dim %d (planted %d), ratio %.1f", disp.Dim, spec.Dim, disp.Disparity)
	}
	qk, err := RunQKLock(s, disp.Layer, disp.Dim)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range qk.Heads {
		if h.PositiveShare < 0.95 || h.Alignment < 0.5 {
			t.Errorf("layer %d head %d: positive share %.3f, alignment %.3f", qk.Layer, h.Head, h.PositiveShare, h.Alignment)
		}
	}

	// Remove the neuron: the chain is gone.
	if err := l.Planted.RemoveNeuron(); err != nil {
		t.Fatal(err)
	}
	s.Model = l.Planted.Model
	sink, err = RunSinkOnset(s)
	if err != nil {
		t.Fatal(err)
	}
	disp, err = RunDisparity(s)
	if err != nil {
		t.Fatal(err)
	}
	if sink.Onset != -1 || sink.Profile[spec.Layer+1].AttnToFirst > 0.3 || disp.Disparity > 5 {
		t.Errorf("without the neuron: onset %d, attention to token 0 at layer %d %.3f, disparity %.2f",
			sink.Onset, spec.Layer+1, sink.Profile[spec.Layer+1].AttnToFirst, disp.Disparity)
	}
}

// Reproduce writes every figure as SVG and HTML, results.json and the report.
func TestReproduceWritesEverything(t *testing.T) {
	if testing.Short() {
		t.Skip("renders figures with node")
	}
	p := PaperParams()
	p.Samples, p.Random, p.SeqLen = 20, 37, 24 // 20 and 37 at batch 16: uneven micro-batches
	p.DeferScan = true                         // the scan's graphs are counted too
	s, d, _, err := Prepare(nil, "planted", p)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	var steps []string
	r, err := Reproduce(s, d, dir, Options{Progress: func(st Step) { steps = append(steps, st.Name) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Figures) < 10 || len(steps) < 8 {
		t.Fatalf("%d figures, steps %v", len(r.Figures), steps)
	}
	t.Logf("graphs compiled: %d in all, per step %v", r.Graphs, r.StepGraphs)
	// Every step compiles a bounded number of graphs whatever the batch sizes (micro-batches are
	// padded to one shape): a new graph per run structure, not per batch.
	sum := 0
	for name, n := range r.StepGraphs {
		sum += n
		if n > maxStepGraphs[name] {
			t.Errorf("step %q compiled %d graphs, want at most %d", name, n, maxStepGraphs[name])
		}
	}
	if sum != r.Graphs || r.Graphs > 6 {
		t.Errorf("%d graphs compiled in all (steps add up to %d), want at most 6", r.Graphs, sum)
	}
	for _, f := range r.Figures {
		for _, ext := range []string{".svg", ".html"} {
			b, err := os.ReadFile(filepath.Join(dir, f+ext))
			if err != nil || len(b) < 1000 {
				t.Errorf("%s%s: %d bytes, %v", f, ext, len(b), err)
			}
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res map[string]any
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatalf("results.json: %v", err)
	}
	disp := res["table1_disparity"].(map[string]any)
	if int(disp["massive_dim"].(float64)) != 17 {
		t.Errorf("results.json disparity: %v", disp)
	}
	report, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil || !strings.Contains(string(report), "| Table 1 | dimension disparity") {
		t.Errorf("report.md: %v\n%s", err, report)
	}
}

func TestSettingValidation(t *testing.T) {
	p := PaperParams()
	p.Samples, p.Random, p.NeuronLayer = 2, 0, 5
	if _, _, _, err := Prepare(nil, "random:tiny", p); err == nil || !strings.Contains(err.Error(), "NeuronLayer (--layer) 5 is outside 0..1") {
		t.Fatalf("layer 5 of a 2-layer model: %v", err)
	}
}

// Figures accepts partial results (notebooks plot one finding at a time).
func TestFiguresFromPartialResults(t *testing.T) {
	for _, r := range []*Results{
		{},
		{Neurons: &SuperNeurons{Layer: 1}},
		{Variance: &Variance{}},
		{QK: &QKLock{}},
		{Disparity: &Disparity{}},
	} {
		if _, err := Figures(r); err != nil {
			t.Errorf("Figures(%+v): %v", r, err)
		}
	}
}

// maxStepGraphs bounds the graphs each reproduce step may compile on the planted model.
// The main batch (20 sequences at 16) runs as 2 × 10 and the random batch (37) as 13 + 13 + 11
// padded to 13: one graph per run structure.
var maxStepGraphs = map[string]int{
	"super-neuron layer scan": 1, "sink onset (Fig. 3)": 0, "variance discrepancy (Fig. 4, toy)": 2,
	// Figs. 7–10 and the QK lock read the variance step's shared main-batch run (ShareMainRun).
	// Sink onset, disparity and effective rank read the scan's shared statistics (ShareMainStatistics).
	"W_O preservation (Fig. 7)": 0, "super neurons (Fig. 8-10)": 0, "dimension disparity (Table 1)": 0,
	"QK lock (Fig. 12)": 0, "effective rank (Fig. 21)": 0, "interventions (Figs. 5-6)": 3,
}

// ShareMainRun: the four findings that read hook points from the main batch get the same values
// from one shared run as from their own runs, and compile one graph between them instead of four.
func TestShareMainRunMatchesSeparateRuns(t *testing.T) {
	p := PaperParams()
	p.Samples, p.Random = 12, 16
	type out struct {
		v  *Variance
		wo *metrics.WOPreservation
		sn *SuperNeurons
		qk *QKLock
		n  int // graphs compiled by the four
	}
	run := func(share bool) out {
		s, _, _, err := Prepare(nil, "planted", p)
		if err != nil {
			t.Fatal(err)
		}
		if share {
			names, err := s.MainCaptures()
			if err != nil {
				t.Fatal(err)
			}
			s.ShareMainRun(names...)
		}
		disp, err := RunDisparity(s) // not shared (a device reduction); the QK lock needs its layer
		if err != nil {
			t.Fatal(err)
		}
		s.Random = nil // Fig. 4b's random batch is a reduction of its own; only the main batch here
		before := s.Model.Compilations()
		var o out
		if o.v, err = RunVariance(s, false); err != nil {
			t.Fatal(err)
		}
		if o.wo, err = RunWOPreservation(s); err != nil {
			t.Fatal(err)
		}
		if o.sn, err = RunSuperNeurons(s, 5); err != nil {
			t.Fatal(err)
		}
		if o.qk, err = RunQKLockNext(s, disp); err != nil || o.qk == nil {
			t.Fatalf("QK lock: %v, %v", o.qk, err)
		}
		o.n = s.Model.Compilations() - before
		return o
	}
	sep, shared := run(false), run(true)
	if sep.n != 4 || shared.n != 1 {
		t.Errorf("graphs compiled: %d separately, %d shared; want 4 and 1", sep.n, shared.n)
	}
	close := func(what string, a, b float64) {
		if math.Abs(a-b) > 1e-5*math.Max(1, math.Abs(a)) {
			t.Errorf("%s: %.9g separately, %.9g shared", what, a, b)
		}
	}
	for i := range sep.v.Main {
		for q := range sep.v.Main[i].Std {
			close(fmt.Sprintf("Fig. 4a layer %d std at %d", sep.v.Main[i].Layer, q), sep.v.Main[i].Std[q], shared.v.Main[i].Std[q])
		}
	}
	close("Fig. 7 Kendall τ", sep.wo.KendallTau, shared.wo.KendallTau)
	if sep.sn.Neuron != shared.sn.Neuron || sep.sn.ByNorm != shared.sn.ByNorm {
		t.Errorf("super neuron %d/%d separately, %d/%d shared", sep.sn.Neuron, sep.sn.ByNorm, shared.sn.Neuron, shared.sn.ByNorm)
	}
	for q := range sep.sn.Selective.Cos {
		close(fmt.Sprintf("Fig. 9 cosine at %d", q), sep.sn.Selective.Cos[q], shared.sn.Selective.Cos[q])
	}
	for h := range sep.qk.Heads {
		close(fmt.Sprintf("QK lock head %d mean score", h), sep.qk.Heads[h].MeanScore, shared.qk.Heads[h].MeanScore)
		if sep.qk.Heads[h].PositiveShare != shared.qk.Heads[h].PositiveShare {
			t.Errorf("QK lock head %d: positive share %v separately, %v shared", h, sep.qk.Heads[h].PositiveShare, shared.qk.Heads[h].PositiveShare)
		}
	}
}

// Params.Layered: on stages every run, off none, auto the long runs on XLA backends only (the
// pure-Go backend here), anything else is an error that names the choices.
func TestLayeredParam(t *testing.T) {
	be, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]int{"on": 1, "off": 0, "": 0, "auto": 0} {
		if be.Name() == "xla" && (in == "" || in == "auto") {
			want = transformer.AutoLayeredFrom
		}
		if got, err := layeredFrom(be, in); err != nil || got != want {
			t.Errorf("Layered %q on %s: %d, %v; want %d", in, be.Name(), got, err, want)
		}
	}
	if _, err := layeredFrom(be, "always"); err == nil || !strings.Contains(err.Error(), "want on, off or auto") {
		t.Errorf("Layered \"always\": %v", err)
	}
}

// Staged (Layered "on") and whole-graph reproductions give the same findings, as do the findings
// run one by one without Reproduce's shared main-batch statistics, and a staged reproduction with
// its steps overlapped (Options.Overlap, the layer scan deferred to Reproduce) gives exactly the
// staged numbers; the staged reproduction compiles a bounded number of graphs (stage graphs are
// shared across layers).
func TestReproduceLayeredMatchesWhole(t *testing.T) {
	params := func(layered string) Params {
		p := PaperParams()
		p.Samples, p.Random, p.SeqLen, p.Layered = 12, 24, 24, layered
		return p
	}
	run := func(layered string, overlap bool) *Results {
		p := params(layered)
		p.DeferScan = overlap
		s, d, _, err := Prepare(nil, "planted", p)
		if err != nil {
			t.Fatal(err)
		}
		if overlap && s.Scan != nil {
			t.Fatal("Prepare scanned the layers with DeferScan")
		}
		r, err := Reproduce(s, d, t.TempDir(), Options{NoSVG: true, Overlap: overlap})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	whole, staged, overlapped := run("off", false), run("on", false), run("on", true)
	t.Logf("graphs compiled: whole %d %v, staged %d %v", whole.Graphs, whole.StepGraphs, staged.Graphs, staged.StepGraphs)
	// 15 when written: embedding, final and the distinct blocks of each step's runs; a graph per
	// layer and run structure would be over 30 for the planted model's 6 layers.
	if staged.Graphs > 20 {
		t.Errorf("staged: %d graphs compiled, want at most 20", staged.Graphs)
	}
	numbers := func(fields map[string]any) any {
		b, err := json.Marshal(fields)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	all := func(r *Results) any {
		return numbers(map[string]any{"sink": r.Sink, "variance": r.Variance, "wo": r.WO, "neurons": r.Neurons,
			"disparity": r.Disparity, "qk": r.QK, "rank": r.Rank, "mask": r.Mask, "amplification": r.Amplification})
	}
	if n := sameNumbers(t, "whole vs staged", all(whole), all(staged)); n < 1000 {
		t.Errorf("only %d numbers compared", n)
	}
	// The same graphs on the same inputs: bit for bit, the scan's choice included.
	a, _ := json.Marshal(stripTimings(all(staged)))
	b, _ := json.Marshal(stripTimings(all(overlapped)))
	if string(a) != string(b) || overlapped.Scan == nil || overlapped.NeuronLayer != staged.NeuronLayer {
		t.Errorf("overlapped steps: the numbers differ from the staged run one step after another (neuron layer %d vs %d)", overlapped.NeuronLayer, staged.NeuronLayer)
		sameNumbers(t, "staged vs overlapped", all(staged), all(overlapped))
	}
	if overlapped.StepGraphs != nil || len(overlapped.Errors) > 0 {
		t.Errorf("overlapped: graphs per step %v (want none: not attributable), errors %v", overlapped.StepGraphs, overlapped.Errors)
	}

	s, _, _, err := Prepare(nil, "planted", params("off"))
	if err != nil {
		t.Fatal(err)
	}
	sink, err := RunSinkOnset(s)
	if err != nil {
		t.Fatal(err)
	}
	disp, err := RunDisparity(s)
	if err != nil {
		t.Fatal(err)
	}
	rank, err := RunEffectiveRank(s)
	if err != nil {
		t.Fatal(err)
	}
	one := numbers(map[string]any{"sink": sink, "disparity": disp, "rank": rank})
	if n := sameNumbers(t, "shared vs one by one", numbers(map[string]any{"sink": whole.Sink, "disparity": whole.Disparity, "rank": whole.Rank}), one); n < 100 {
		t.Errorf("only %d numbers compared", n)
	}
}

// stripTimings drops the timings from a decoded JSON value (keys ending in "seconds").
func stripTimings(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range x {
			if !strings.HasSuffix(k, "seconds") {
				out[k] = stripTimings(e)
			}
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = stripTimings(e)
		}
		return out
	}
	return v
}

// sameNumbers compares two JSON values (decoded), numbers within float32 rounding, other values
// exactly, skipping timings and compilation counts; it returns how many numbers it compared.
func sameNumbers(t *testing.T, what string, a, b any) int {
	t.Helper()
	compared := 0
	var walk func(path string, a, b any)
	walk = func(path string, a, b any) {
		switch x := a.(type) {
		case map[string]any:
			y, ok := b.(map[string]any)
			if !ok || len(x) != len(y) {
				t.Errorf("%s, %s: %v vs %v", what, path, a, b)
				return
			}
			for k := range x {
				if !strings.HasSuffix(k, "seconds") && !strings.HasPrefix(k, "compilations") { // timings and graph counts differ
					walk(path+"."+k, x[k], y[k])
				}
			}
		case []any:
			y, ok := b.([]any)
			if !ok || len(x) != len(y) {
				t.Errorf("%s, %s: lengths differ", what, path)
				return
			}
			for i := range x {
				walk(fmt.Sprintf("%s[%d]", path, i), x[i], y[i])
			}
		case float64:
			y, ok := b.(float64)
			if !ok || math.Abs(x-y) > 1e-5+1e-3*math.Abs(x) {
				t.Errorf("%s, %s: %v vs %v", what, path, a, b)
			}
			compared++
		default:
			if fmt.Sprint(a) != fmt.Sprint(b) {
				t.Errorf("%s, %s: %v vs %v", what, path, a, b)
			}
		}
	}
	walk("results", a, b)
	return compared
}

// runOverlapped starts a step only after the steps it waits for have ended, runs independent steps
// at the same time, skips every step after a failed scan (directly or not) but not the others, and
// reports each step's start and end once, with the count of ended steps.
func TestRunOverlapped(t *testing.T) {
	for _, scanFails := range []bool{false, true} {
		var mu sync.Mutex
		ended := map[string]bool{}
		ran := map[string]bool{}
		both := make(chan struct{}) // "c" and "d" wait for each other: they must run at once
		step := func(name string, after []string, fn func() error) reproduceStep {
			return reproduceStep{name, after, func() error {
				mu.Lock()
				for _, a := range after {
					if !ended[a] {
						t.Errorf("%s started before %s ended", name, a)
					}
				}
				ran[name] = true
				mu.Unlock()
				err := fn()
				mu.Lock()
				ended[name] = true
				mu.Unlock()
				return err
			}}
		}
		steps := []reproduceStep{
			step("scan", nil, func() error {
				if scanFails {
					return fmt.Errorf("no layer")
				}
				return nil
			}),
			step("a", []string{"scan"}, func() error { return nil }),
			step("b", []string{"a"}, func() error { return fmt.Errorf("b broke") }),
			step("c", nil, func() error {
				select {
				case both <- struct{}{}:
					return nil
				case <-time.After(20 * time.Second):
					return fmt.Errorf("c ran alone")
				}
			}),
			step("d", nil, func() error {
				select {
				case <-both:
					return nil
				case <-time.After(20 * time.Second):
					return fmt.Errorf("d ran alone")
				}
			}),
		}
		var events []Step
		errs := runOverlapped(steps, "scan", 6, func(st Step) { events = append(events, st) })
		wantRan := map[string]bool{"scan": true, "a": !scanFails, "b": !scanFails, "c": true, "d": true}
		for name, want := range wantRan {
			if ran[name] != want {
				t.Errorf("scan fails %v: step %s ran %v, want %v", scanFails, name, ran[name], want)
			}
		}
		wantErrs := []string{"b: b broke"}
		if scanFails {
			wantErrs = []string{"scan: no layer"}
		}
		if fmt.Sprint(errs) != fmt.Sprint(wantErrs) {
			t.Errorf("scan fails %v: errors %q, want %q", scanFails, errs, wantErrs)
		}
		starts, ends := 0, 0
		for _, e := range events {
			if e.End {
				ends++
				if e.Done != ends || e.Of != 6 {
					t.Errorf("end event %+v: want Done %d of 6", e, ends)
				}
			} else {
				starts++
			}
		}
		if n := len(ran); starts != n || ends != n {
			t.Errorf("scan fails %v: %d starts and %d ends reported for %d steps run", scanFails, starts, ends, n)
		}
	}
}
