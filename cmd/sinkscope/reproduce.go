package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"

	batchpkg "github.com/sinkscope/sinkscope/datasets/batch"
	"github.com/sinkscope/sinkscope/plots"
	"github.com/sinkscope/sinkscope/sinks/backend"
	"github.com/sinkscope/sinkscope/sinks/findings"
	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// cmdReproduce runs every finding of the paper on one model and writes the token ids, results.json
// and report.md, then the figures (SVG + HTML).
func cmdReproduce(args []string) error {
	fs := flag.NewFlagSet("reproduce", flag.ContinueOnError)
	source := fs.String("model", "", "model source: random:<preset>[@seed], planted[@seed], an HF model directory, or org/name")
	out := fs.String("out", "", "output directory (default out/reproduce/<model>)")
	samples := fs.Int("samples", 20, "main-batch sequences (paper: 20)")
	seqLen := fs.Int("seq", 64, "tokens per sequence, BOS included (paper: 64)")
	random := fs.Int("random", 500, "random-token sequences for Fig. 4b (paper: 500; 0 skips it)")
	bosFlag := fs.String("bos", "auto", "BOS at position 0 of the main batch: on, off, or auto (on when the tokenizer or config.json defines a BOS token)")
	data := fs.String("data", "auto", "main batch: text, random or auto (text when the model has a tokenizer, else random tokens)")
	layer := fs.String("layer", "auto", "super-neuron layer, or auto: scan every layer and take the strongest (Llama-2-7B: 1); disparity and QK lock are read at the next layer")
	ids := fs.String("ids", "", "main-batch token ids from a file (.npy [n, T] integers or .json [[…]]), used instead of --data/--samples/--seq/--bos")
	randomIDs := fs.String("random-ids", "", "random-batch token ids from a file (.npy or .json), used instead of --random")
	batch := fs.Int("batch", 16, "sequences per forward pass")
	seed := fs.Uint64("seed", 0, "seed for the batches")
	toy := fs.Bool("toy", true, "also run the random-init toy block (d 768, 12 heads, T 64)")
	bf16 := fs.Bool("bf16", false, "keep checkpoint weights in bfloat16 (half the memory; compute stays float32)")
	shard := fs.Int("shard", 0, shardHelp)
	bf16Products := fs.Bool("bf16-products", false, "matrix products in bfloat16 with float32 accumulation, as a bf16 model in transformers (a GPU's bfloat16 units); the residual stream, norms, softmax and statistics stay float32, and the report's backend line says so")
	layered := autoFlag("auto")
	fs.Var(&layered, "layered", "which runs go stage by stage, one compiled graph per distinct block shared across layers, instead of one graph each: on (a bare --layered), off, or auto: on XLA backends the runs of at least "+strconv.Itoa(transformer.AutoLayeredFrom)+" blocks (same numbers; see BENCHMARKS.md)")
	overlap := autoFlag("auto")
	fs.Var(&overlap, "overlap", "run the findings that do not depend on each other at the same time (the layer scan beside the interventions, and so on): on (a bare --overlap), off, or auto: on for XLA backends, where compiling each graph takes the host seconds that the device can use, off on the pure-Go backend; same numbers")
	svg := fs.Bool("svg", true, "write an SVG per figure (needs node and the npm packages); HTML is always written")
	autotune := fs.Bool("autotune", false, "let XLA time candidate kernels for each matrix product (and use generated Triton kernels) on a GPU: faster kernels, slower compiles; off, reproduce compiles for the first result (see BENCHMARKS.md)")
	trace := fs.Bool("trace", false, "print where each step's time went: the model's runs, graphs compiled, device calls, outputs copied to the host, and the rest")
	echarts := fs.String("echarts", "", "path of echarts.min.js for the HTML figures (default: next to this binary, $"+plots.EChartsEnv+", or the checkout's node_modules)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *source == "" {
		return fmt.Errorf("--model is required (e.g. --model random:small or --model /path/to/hf_model)")
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %v (flags come as --name value)", fs.Args())
	}
	if *shard < 0 {
		return fmt.Errorf("--shard %d: want 0 (one device) or the number of devices to split the weights over", *shard)
	}
	if *samples <= 0 || *seqLen < 2 || *batch <= 0 || *random < 0 {
		return fmt.Errorf("--samples and --batch must be positive, --seq at least 2 and --random at least 0 (got %d, %d, %d, %d)", *samples, *batch, *seqLen, *random)
	}
	p := findings.Params{Samples: *samples, SeqLen: *seqLen, Random: *random, Data: *data, BOS: *bosFlag,
		Batch: *batch, Seed: *seed, BF16Weights: *bf16, Shard: *shard, Layered: string(layered), BF16Products: *bf16Products}
	var err error
	if p.NeuronLayer, err = parseLayer(*layer); err != nil {
		return err
	}
	if *ids != "" {
		if p.MainIDs, err = batchpkg.ReadIDs(*ids); err != nil {
			return fmt.Errorf("--ids: %w", err)
		}
		p.MainIDsFrom = *ids
	}
	if *randomIDs != "" {
		if p.RandomIDs, err = batchpkg.ReadIDs(*randomIDs); err != nil {
			return fmt.Errorf("--random-ids: %w", err)
		}
		p.RandomIDsFrom = *randomIDs
	}
	if *echarts != "" {
		if err := os.Setenv(plots.EChartsEnv, *echarts); err != nil {
			return err
		}
		if _, err := plots.EChartsJSPath(); err != nil {
			return fmt.Errorf("--echarts: %w", err)
		}
	}
	var latency []string
	if !*autotune {
		if latency, err = backend.CompileForLatency(); err != nil {
			return err
		}
	}
	start := time.Now()
	var tr *runTrace
	if *trace {
		tr = newRunTrace(os.Stderr, start)
		p.ObserveRuns = tr.observe
	}
	// GPU memory as buffers need it: XLA's default pool held 3 GB more on a 7B model (BENCHMARKS.md).
	alloc, err := backend.AllocateOnDemand()
	if err != nil {
		return err
	}
	be, err := backend.New()
	if err != nil {
		return err
	}
	overlapOn := overlap == "on" || (overlap == "auto" && be.Name() == "xla")
	// Reproduce scans, in the run that also computes sink onset, disparity and effective rank
	// (beside the interventions with --overlap).
	p.DeferScan = true
	s, desc, _, err := findings.Prepare(be, *source, p)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "prepared (model loaded, batches built) in %.1fs\n", time.Since(start).Seconds())
	if len(latency) > 0 && s.Model.Backend.Name() == "xla" {
		desc.Backend += ", compiled for latency (" + strings.Join(latency, " ") + "; --autotune to tune)"
	}
	if alloc != "" {
		desc.Backend += ", GPU memory taken on demand (" + alloc + " added to $" + backend.EnvVar + "; give an allocator there to choose another)"
	}
	if tr != nil {
		tr.span("prepare (loading, batches)")
	}
	fmt.Fprintln(stdout, desc.Backend)
	fmt.Fprintf(stdout, "model: %s\nmain batch: %s\nrandom batch: %s\n", desc.Model, desc.Main, desc.Random)
	dir := *out
	if dir == "" {
		dir = filepath.Join("out", "reproduce", safeName(*source))
	}
	// A progress bar on a terminal; one line per step otherwise (logs, CI).
	// Without a terminal each step's line carries the seconds since the command started, so a log
	// shows where the time went (loading, compiling, the findings). With --trace each step ends with
	// where its time went; overlapped steps share the model, so their runs are summed over all of
	// them, printed when the last one ends.
	progress := func(st findings.Step) {
		if st.End {
			if tr != nil && !overlapOn {
				tr.span(st.Name)
			} else if tr != nil {
				fmt.Fprintf(os.Stderr, "  ended %s: %.1fs\n", st.Name, st.Seconds)
			}
			return
		}
		switch {
		case tr != nil && st.Name == "figures" && overlapOn:
			tr.spanOverlapped("the findings (the steps above, overlapped)")
		case tr != nil && st.Name == "done":
			tr.span("figures")
		}
		fmt.Fprintf(os.Stderr, "[%d/%d] %s (%.1fs)\n", st.Done, st.Of, st.Name, time.Since(start).Seconds())
	}
	var bar *progressbar.ProgressBar
	if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 && tr == nil {
		bar = progressbar.NewOptions(10, progressbar.OptionSetWriter(os.Stderr), progressbar.OptionSetDescription("reproduce"),
			progressbar.OptionShowCount(), progressbar.OptionSetWidth(24), progressbar.OptionClearOnFinish())
		progress = func(st findings.Step) {
			bar.ChangeMax(st.Of)
			if !st.End {
				bar.Describe(st.Name)
			}
			_ = bar.Set(st.Done)
		}
	}
	res, err := findings.Reproduce(s, desc, dir, findings.Options{Toy: *toy, NoSVG: !*svg, Overlap: overlapOn, Progress: progress})
	if bar != nil {
		_ = bar.Finish()
	}
	if res != nil {
		if res.Scan != nil {
			fmt.Fprintf(stdout, "super-neuron layer: %d (scanned; --layer N to choose)\n", res.NeuronLayer)
		}
		fmt.Fprintf(stdout, "\n%s", findings.Report(res))
		kinds := "SVG + HTML"
		if !res.SVG {
			kinds = "HTML"
		}
		fmt.Fprintf(stdout, "\nwrote ids.json, results.json, report.md and %d figures (%s) to %s in %.1fs\n", len(res.Figures), kinds, dir, res.Seconds)
		if n := len(res.FigureErrors); n > 0 {
			fmt.Fprintf(stdout, "%d figure problem(s), listed in report.md; the numbers are all in results.json\n", n)
		}
	}
	return err
}

// parseLayer reads --layer: "auto" or a layer index.
func parseLayer(s string) (int, error) {
	if s == "auto" {
		return findings.NeuronLayerAuto, nil
	}
	l, err := strconv.Atoi(s)
	if err != nil || l < 0 {
		return 0, fmt.Errorf("--layer %q: want auto or a layer index ≥ 0", s)
	}
	return l, nil
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// safeName turns a model source into a directory name.
func safeName(source string) string {
	s := strings.Trim(unsafeName.ReplaceAllString(filepath.Base(strings.TrimRight(source, "/")), "_"), "_")
	if strings.Contains(source, ":") && !strings.Contains(source, "/") {
		s = strings.Trim(unsafeName.ReplaceAllString(source, "_"), "_")
	}
	if s == "" {
		return "model"
	}
	return s
}

// autoFlag is a flag that is on, off or auto (true and false too; a bare --name is on): reproduce's
// --layered and --overlap.
type autoFlag string

func (f *autoFlag) String() string { return string(*f) }

func (f *autoFlag) Set(s string) error {
	switch s {
	case "on", "true":
		*f = "on"
	case "off", "false":
		*f = "off"
	case "auto":
		*f = "auto"
	default:
		return fmt.Errorf("want on, off or auto")
	}
	return nil
}

func (f *autoFlag) IsBoolFlag() bool { return true }
