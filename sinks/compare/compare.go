package compare

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/gomlx/compute"

	"github.com/sinkscope/sinkscope/datasets/stream"
	"github.com/sinkscope/sinkscope/internal/atomicfile"
	"github.com/sinkscope/sinkscope/sinks/train"
)

// Plan is a comparison: every arm × every seed of one training preset.
type Plan struct {
	Preset string   `json:"preset"`
	Arms   []string `json:"arms"`
	Seeds  []uint64 `json:"seeds"`
	// Steps overrides the preset's number of steps (0: the preset's); the learning-rate schedule
	// follows it.
	Steps int `json:"steps,omitempty"`
	// Target is the loss whose first crossing (by the smoothed training loss) is a run's
	// steps-to-target; 0: the baseline's mean final smoothed loss (see TargetRule).
	Target float64 `json:"target,omitempty"`
	// Dir holds the runs (Dir/runs/<arm>-seed<seed>) and the report (summary.json, summary.md,
	// figures); by convention results/<preset>.
	Dir string `json:"-"`
	// BF16 computes the matrix products in bfloat16 (GPU runs).
	BF16 bool `json:"bf16,omitempty"`
	// Devices trains every run data-parallel (train.Options.Devices); not part of the plan, so a
	// comparison may resume on other devices.
	Devices int `json:"-"`
}

// Validate checks the plan: a known preset and arms, at least one seed, no repeats.
func (p *Plan) Validate() error {
	if _, err := train.LookupPreset(p.Preset); err != nil {
		return fmt.Errorf("compare: %w", err)
	}
	if len(p.Arms) == 0 {
		return fmt.Errorf("compare: no arm (known arms: %v)", ArmNames())
	}
	seen := map[string]bool{}
	for _, a := range p.Arms {
		if _, err := LookupArm(a); err != nil {
			return err
		}
		if seen[a] {
			return fmt.Errorf("compare: arm %q is listed twice", a)
		}
		seen[a] = true
	}
	if len(p.Seeds) == 0 {
		return fmt.Errorf("compare: no seed")
	}
	seeds := map[uint64]bool{}
	for _, s := range p.Seeds {
		if seeds[s] {
			return fmt.Errorf("compare: seed %d is listed twice", s)
		}
		seeds[s] = true
	}
	if p.Steps < 0 {
		return fmt.Errorf("compare: steps %d must not be negative", p.Steps)
	}
	if p.Target < 0 {
		return fmt.Errorf("compare: target loss %g must not be negative", p.Target)
	}
	if p.Dir == "" {
		return fmt.Errorf("compare: no output directory")
	}
	return nil
}

// RunID names one run of a comparison.
type RunID struct {
	Arm  string `json:"arm"`
	Seed uint64 `json:"seed"`
}

// Name is the run's directory name under Dir/runs: "<arm>-seed<seed>".
func (r RunID) Name() string { return fmt.Sprintf("%s-seed%d", r.Arm, r.Seed) }

// RunDir is the directory of run r.
func (p *Plan) RunDir(r RunID) string { return filepath.Join(p.Dir, "runs", r.Name()) }

// Runs lists the plan's runs in the order they train: seed by seed, every arm of a seed in turn,
// so that an interrupted comparison already holds complete seeds.
func (p *Plan) Runs() []RunID {
	var out []RunID
	for _, s := range p.Seeds {
		for _, a := range p.Arms {
			out = append(out, RunID{Arm: a, Seed: s})
		}
	}
	return out
}

// Recipe is run r's training options and data: the preset's recipe for r's seed (the same data
// order for every arm), with the arm applied and the plan's overrides.
func (p *Plan) Recipe(r RunID) (train.Options, stream.Stream, error) {
	preset, err := train.LookupPreset(p.Preset)
	if err != nil {
		return train.Options{}, nil, err
	}
	arm, err := LookupArm(r.Arm)
	if err != nil {
		return train.Options{}, nil, err
	}
	opts, data, err := recipeOf(preset, r.Seed)
	if err != nil {
		return train.Options{}, nil, fmt.Errorf("compare: %s: %w", r.Name(), err)
	}
	if p.Steps > 0 {
		opts.Opt.Steps = p.Steps
		opts.Opt.Warmup = min(opts.Opt.Warmup, max(p.Steps/10, 1))
	}
	opts.BF16 = opts.BF16 || p.BF16
	opts.Devices = p.Devices
	arm.Apply(&opts.Model)
	if err := opts.Model.Validate(); err != nil {
		return train.Options{}, nil, fmt.Errorf("compare: arm %s on preset %s: %w", r.Arm, p.Preset, err)
	}
	return opts, data, nil
}

// Progress is reported after every training step of every run.
type Progress struct {
	Run       RunID
	Index, Of int // this run's index in Runs() and their number
	train.Progress
}

// Run trains every run of the plan that is not finished (resuming interrupted ones), analyses each
// final checkpoint, and writes the report (see Report). progress, when not nil, is called after
// every step.
func Run(ctx context.Context, be compute.Backend, p Plan, progress func(Progress)) (*Summary, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(p.Dir, "runs"), 0o755); err != nil {
		return nil, err
	}
	plan, _ := json.MarshalIndent(p, "", "  ")
	if err := atomicfile.Write(filepath.Join(p.Dir, "plan.json"), append(plan, '\n')); err != nil {
		return nil, err
	}
	runs := p.Runs()
	for i, r := range runs {
		opts, data, err := p.Recipe(r)
		if err != nil {
			return nil, err
		}
		if f, err := finalOf(nil, p, r); err == nil && f != nil {
			continue // finished and analysed (its weights may even be gone, as in committed results)
		}
		var report func(train.Progress)
		if progress != nil {
			report = func(tp train.Progress) { progress(Progress{Run: r, Index: i, Of: len(runs), Progress: tp}) }
		}
		if _, err := train.Run(ctx, be, p.RunDir(r), opts, data, report); err != nil {
			return nil, fmt.Errorf("compare: run %s (%d of %d): %w", r.Name(), i+1, len(runs), err)
		}
		if _, err := finalOf(be, p, r); err != nil {
			return nil, fmt.Errorf("compare: analysing run %s: %w", r.Name(), err)
		}
	}
	return Report(be, p)
}

// recipes caches each (preset, seed)'s recipe: opening a text stream reads and tokenizes its corpus
// (minutes for the Go source corpus), and a comparison asks for the same seed's recipe once per arm
// and again for every report. Streams are pure functions of their seed, so one serves every arm.
var (
	recipesMu sync.Mutex
	recipes   = map[string]cachedRecipe{}
)

type cachedRecipe struct {
	opts train.Options
	data stream.Stream
}

func recipeOf(p train.Preset, seed uint64) (train.Options, stream.Stream, error) {
	key := fmt.Sprintf("%s@%d", p.Name, seed)
	recipesMu.Lock()
	defer recipesMu.Unlock()
	if c, ok := recipes[key]; ok {
		return c.opts, c.data, nil
	}
	opts, data, err := p.Recipe(seed)
	if err != nil {
		return opts, nil, err
	}
	recipes[key] = cachedRecipe{opts, data}
	return opts, data, nil
}
