package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sinkscope/sinkscope/sinks/backend"
	"github.com/sinkscope/sinkscope/sinks/compare"
	"github.com/sinkscope/sinkscope/sinks/train"
)

// cmdCompare pre-trains a preset under every sink-removing arm and seed and writes the comparison.
func cmdCompare(args []string) error {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	preset := fs.String("preset", "bb-compare", "training recipe: "+strings.Join(train.PresetNames(), ", "))
	armList := fs.String("arms", "all", "comma-separated arms, or all: "+strings.Join(compare.ArmNames(), ", "))
	seedList := fs.String("seeds", "1,2,3", "comma-separated seeds (every arm of a seed sees the same data order)")
	steps := fs.Int("steps", 0, "override the preset's number of steps (the schedule follows)")
	target := fs.Float64("target", 0, "target loss for steps-to-target (0: the baseline's mean final smoothed loss)")
	out := fs.String("out", "", "output directory (default results/<preset>); existing runs resume or are reused")
	bf16 := fs.Bool("bf16", false, "matrix products in bfloat16 (mixed precision, for GPUs)")
	devices := fs.Int("devices", 0, "train every run data-parallel on devices 0..N-1 of an XLA backend (see sinkscope train --devices; "+
		"the preset must have accumulation 1 and a batch that divides by N); 0: one device")
	reportOnly := fs.Bool("report", false, "do not train: write the report from the runs that are finished")
	listArms := fs.Bool("list", false, "list the arms and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *listArms {
		for _, a := range compare.Arms() {
			fmt.Fprintf(stdout, "%-16s %s\n", a.Name, a.Doc)
		}
		return nil
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %v (flags come as --name value)", fs.Args())
	}
	arms, err := compare.ParseArms(*armList)
	if err != nil {
		return fmt.Errorf("--arms: %w", err)
	}
	seeds, err := parseSeeds(*seedList)
	if err != nil {
		return fmt.Errorf("--seeds: %w", err)
	}
	if *steps < 0 {
		return fmt.Errorf("--steps %d must not be negative", *steps)
	}
	if *devices < 0 {
		return fmt.Errorf("--devices %d must not be negative", *devices)
	}
	if *target < 0 {
		return fmt.Errorf("--target %g must not be negative", *target)
	}
	dir := *out
	if dir == "" {
		dir = filepath.Join("results", *preset)
	}
	p := compare.Plan{Preset: *preset, Arms: arms, Seeds: seeds, Steps: *steps, Target: *target, Dir: dir, BF16: *bf16, Devices: *devices}
	if err := p.Validate(); err != nil {
		return err
	}
	be, err := backend.New()
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, backend.Describe(be))
	var s *compare.Summary
	if *reportOnly {
		s, err = compare.Report(be, p)
	} else {
		runs := p.Runs()
		fmt.Fprintf(stdout, "preset %s: %d arms × %d seeds = %d runs into %s\n", p.Preset, len(arms), len(seeds), len(runs), dir)
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
		defer stop()
		s, err = compare.Run(ctx, be, p, func(pr compare.Progress) {
			if pr.Step%max(pr.Steps/10, 1) == 0 || pr.Step == pr.Steps {
				fmt.Fprintf(os.Stderr, "[run %d/%d %s] %s\n", pr.Index+1, pr.Of, pr.Run.Name(), progressLine(pr.Progress))
			}
		})
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\n%s\nwrote summary.json, summary.md and figures to %s\n", s.Markdown(), dir)
	return nil
}

// parseSeeds reads "1,2,3" or a range "1-5".
func parseSeeds(list string) ([]uint64, error) {
	var out []uint64
	for _, part := range strings.Split(list, ",") {
		part = strings.TrimSpace(part)
		if lo, hi, ok := strings.Cut(part, "-"); ok {
			a, err1 := strconv.ParseUint(lo, 10, 64)
			b, err2 := strconv.ParseUint(hi, 10, 64)
			if err1 != nil || err2 != nil || b < a {
				return nil, fmt.Errorf("bad seed range %q (want e.g. 1-3)", part)
			}
			for s := a; s <= b; s++ {
				out = append(out, s)
			}
			continue
		}
		s, err := strconv.ParseUint(part, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bad seed %q", part)
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no seed")
	}
	return out, nil
}
