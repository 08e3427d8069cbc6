package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/schollz/progressbar/v3"

	"github.com/sinkscope/sinkscope/sinks/backend"
	"github.com/sinkscope/sinkscope/sinks/train"
)

// cmdTrain trains a preset recipe into a run directory (resuming it when it has checkpoints).
func cmdTrain(args []string) error {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	preset := fs.String("preset", "bb", "training recipe: "+strings.Join(train.PresetNames(), ", "))
	seed := fs.Uint64("seed", 1, "seed of the initial weights and the data")
	run := fs.String("run", "", "run directory (default runs/<preset>-seed<seed>); an existing run resumes from its newest checkpoint")
	steps := fs.Int("steps", 0, "override the preset's number of steps (the schedule follows)")
	lr := fs.Float64("lr", 0, "override the preset's peak learning rate")
	batch := fs.Int("batch", 0, "override the preset's batch (windows per step)")
	accum := fs.Int("accum", 0, "gradient accumulation: micro-batches per step (the batch must divide by it)")
	stopAfter := fs.Int("stop-after", 0, "end this call after that many steps in total (a later call resumes)")
	devices := fs.Int("devices", 0, "data-parallel training on devices 0..N-1 of an XLA backend (GOMLX_BACKEND=xla:<plugin>): "+
		"each micro-batch is split over them and XLA places the gradient all-reduce in the one compiled step; "+
		"needs --accum 1 and a batch that divides by N; 0 or 1: the plain single-device step (GoMLX distributes over two or more devices). "+
		"Not part of the recipe: a run may resume with another --devices")
	bf16 := fs.Bool("bf16", false, "matrix products in bfloat16 (mixed precision, for GPUs); weights and optimizer state stay float32; "+
		"presets that already compute in bfloat16 (the GPU ones) keep doing so without it")
	list := fs.Bool("list", false, "list the presets and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *list {
		for _, n := range train.PresetNames() {
			p, _ := train.LookupPreset(n)
			fmt.Fprintf(stdout, "%-12s %s\n", n, p.Doc)
		}
		return nil
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %v (flags come as --name value)", fs.Args())
	}
	p, err := train.LookupPreset(*preset)
	if err != nil {
		return fmt.Errorf("--preset: %w", err)
	}
	opts, data, err := p.Recipe(*seed)
	if err != nil {
		return err
	}
	if *steps < 0 || *lr < 0 || *batch < 0 || *accum < 0 || *stopAfter < 0 || *devices < 0 {
		return fmt.Errorf("--steps, --lr, --batch, --accum, --stop-after and --devices must not be negative")
	}
	if *steps > 0 {
		opts.Opt.Steps = *steps
		opts.Opt.Warmup = min(opts.Opt.Warmup, *steps)
	}
	if *lr > 0 {
		opts.Opt.LR = *lr
	}
	if *batch > 0 {
		opts.Batch = *batch
	}
	if *accum > 0 {
		opts.Accum = *accum
	}
	opts.StopAfter = *stopAfter
	opts.Devices = *devices
	opts.BF16 = opts.BF16 || *bf16 // a flag left out keeps the preset's choice
	dir := *run
	if dir == "" {
		dir = filepath.Join("runs", fmt.Sprintf("%s-seed%d", *preset, *seed))
	}
	be, err := backend.New()
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, backend.Describe(be))
	c := opts.Model
	fmt.Fprintf(stdout, "preset %s, seed %d: %s\nmodel: %s, %d layers, d %d, %d heads, MLP %d, %.2fM parameters\ndata: %s\nrun: %s\n",
		p.Name, *seed, p.Doc, c.Family, c.NLayers, c.DModel, c.NHeads, c.DMLP, float64(c.NumParams())/1e6, data.Name(), dir)
	if opts.Devices > 0 {
		fmt.Fprintf(stdout, "data-parallel: each step's %d windows split over devices 0..%d\n", opts.Batch, opts.Devices-1)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	progress := func(pr train.Progress) {
		if pr.Step%max(pr.Steps/20, 1) == 0 || pr.Step == pr.Steps {
			fmt.Fprintln(os.Stderr, progressLine(pr))
		}
	}
	var bar *progressbar.ProgressBar
	if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		bar = progressbar.NewOptions(opts.Opt.Steps, progressbar.OptionSetWriter(os.Stderr), progressbar.OptionShowCount(),
			progressbar.OptionSetWidth(24), progressbar.OptionClearOnFinish())
		progress = func(pr train.Progress) {
			bar.Describe(progressLine(pr))
			_ = bar.Set(pr.Step)
		}
	}
	s, err := train.Run(ctx, be, dir, opts, data, progress)
	if bar != nil {
		_ = bar.Finish()
	}
	if s != nil && s.Step > s.Resumed {
		fmt.Fprintf(stdout, "\n%s", trainSummary(s, opts.Opt.Steps))
	}
	return err
}

// progressLine is one line of training progress.
func progressLine(pr train.Progress) string {
	r := pr.Record
	line := fmt.Sprintf("step %d/%d loss %.4f lr %.2g %.0f tok/s", pr.Step, pr.Steps, r.Loss, r.LR, r.TokensPS)
	if r.ValLoss > 0 {
		line += fmt.Sprintf(" val %.4f", r.ValLoss)
	}
	if r.Sink != nil {
		a, l := r.Sink.MaxAttnToFirst()
		line += fmt.Sprintf(" attn→tok0 %.3f (layer %d)", a, l)
	}
	return line
}

// trainSummary describes a finished (or stopped) training call.
func trainSummary(s *train.Summary, steps int) string {
	var b strings.Builder
	state := "finished"
	if s.Step < steps {
		state = fmt.Sprintf("stopped at step %d of %d (run the same command to resume)", s.Step, steps)
	}
	fmt.Fprintf(&b, "training %s: %d steps, %.1f s in all", state, s.Step, s.Seconds)
	if s.Resumed > 0 {
		fmt.Fprintf(&b, " (resumed from step %d)", s.Resumed)
	}
	fmt.Fprintf(&b, "\nloss %.4f, validation %.4f\n", s.Loss, s.ValLoss)
	if s.Sink != nil {
		a, l := s.Sink.MaxAttnToFirst()
		fmt.Fprintf(&b, "attention to token 0 per layer %s (largest %.3f at layer %d), Sink₀^0.3 %.3f\n", fmtFloats(s.Sink.AttnToFirst), a, l, s.Sink.GuSink)
	}
	fmt.Fprintf(&b, "checkpoint: %s (open it with: sinkscope reproduce --model %s)\nlog: %s\n", s.Checkpoint, s.Checkpoint, filepath.Join(s.Dir, "log.jsonl"))
	return b.String()
}

func fmtFloats(x []float64) string {
	parts := make([]string, len(x))
	for i, v := range x {
		parts[i] = fmt.Sprintf("%.3f", v)
	}
	return "[" + strings.Join(parts, " ") + "]"
}
