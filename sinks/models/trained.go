package models

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gomlx/compute"

	"github.com/sinkscope/sinkscope/sinks/backend"
	"github.com/sinkscope/sinkscope/sinks/train"
)

// CacheEnv names the environment variable that overrides where trained:<preset> models are kept
// (default: the user's cache directory, e.g. ~/.cache/sinkscope/trained).
const CacheEnv = "SINKSCOPE_CACHE"

// Trained says how a trained:<preset> model came to be.
type Trained struct {
	Preset  string
	Seed    uint64
	Dir     string  // the run directory (log.jsonl, checkpoints)
	Steps   int     // training steps
	Seconds float64 // training wall time (all calls together)
	Cached  bool    // loaded from an earlier run, not trained by this call
}

// TrainedDir is where trained:<preset>@seed lives.
func TrainedDir(preset string, seed uint64) (string, error) {
	root := os.Getenv(CacheEnv)
	if root == "" {
		c, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("no cache directory for trained models (set $%s): %w", CacheEnv, err)
		}
		root = filepath.Join(c, "sinkscope")
	}
	return filepath.Join(root, "trained", fmt.Sprintf("%s-seed%d", preset, seed)), nil
}

// openTrained opens trained:<preset>[@seed]: the final checkpoint of the preset's run in the cache,
// training it first (or finishing an interrupted run) when it is not there. Progress lines go to
// stderr.
func openTrained(be compute.Backend, source, rest string, opts *Options) (*Loaded, error) {
	return openTrainedWith(be, source, rest, opts, nil)
}

// openTrainedWith is openTrained with a progress callback (nil: lines on stderr).
func openTrainedWith(be compute.Backend, source, rest string, opts *Options, progress func(train.Progress)) (*Loaded, error) {
	name, seedStr, hasSeed := strings.Cut(rest, "@")
	seed := uint64(1)
	if hasSeed {
		var err error
		if seed, err = strconv.ParseUint(seedStr, 10, 64); err != nil {
			return nil, fmt.Errorf("model source %q: seed %q is not a non-negative integer", source, seedStr)
		}
	}
	p, err := train.LookupPreset(name)
	if err != nil {
		return nil, fmt.Errorf("model source %q: %w", source, err)
	}
	ropts, data, err := p.Recipe(seed)
	if err != nil {
		return nil, fmt.Errorf("model source %q: %w", source, err)
	}
	dir, err := TrainedDir(name, seed)
	if err != nil {
		return nil, err
	}
	info := &Trained{Preset: name, Seed: seed, Dir: dir, Steps: ropts.Opt.Steps, Cached: true}
	ck, err := train.Checkpoints(dir)
	if err != nil {
		return nil, err
	}
	if len(ck) == 0 || ck[len(ck)-1].Step < ropts.Opt.Steps {
		info.Cached = false
		fmt.Fprintf(os.Stderr, "%s: training preset %s (seed %d) into %s — once; later runs load it\n", source, name, seed, dir)
		if progress == nil {
			progress = func(pr train.Progress) {
				if pr.Step%max(pr.Steps/10, 1) == 0 {
					fmt.Fprintf(os.Stderr, "  step %d/%d loss %.4f (%.0f tokens/s)\n", pr.Step, pr.Steps, pr.Record.Loss, pr.Record.TokensPS)
				}
			}
		}
		if _, err := train.Run(context.Background(), be, dir, ropts, data, progress); err != nil {
			return nil, fmt.Errorf("model source %q: %w", source, err)
		}
		if ck, err = train.Checkpoints(dir); err != nil {
			return nil, err
		}
	}
	final := ck[len(ck)-1]
	st, err := train.ReadState(final)
	if err != nil {
		return nil, fmt.Errorf("model source %q: %w", source, err)
	}
	info.Seconds = st.Seconds
	l, err := openHF(be, final.Dir, opts)
	if err != nil {
		return nil, fmt.Errorf("model source %q: %w", source, err)
	}
	l.Source, l.Kind, l.Trained = source, "trained", info
	return l, nil
}

// EnsureTrained trains trained:<preset>[@seed] into the cache unless its final checkpoint is already
// there, reporting each step to progress (nil: lines on stderr), and says how it came to be. Use it
// before opening the source when the training should be shown (e.g. as a notebook progress bar).
func EnsureTrained(be compute.Backend, source string, progress func(train.Progress)) (*Trained, error) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(source), "trained:")
	if !ok {
		return nil, fmt.Errorf("EnsureTrained: %q is not a trained:<preset>[@seed] source", source)
	}
	if be == nil {
		var err error
		if be, err = backend.New(); err != nil {
			return nil, err
		}
	}
	l, err := openTrainedWith(be, source, rest, &Options{}, progress)
	if err != nil {
		return nil, err
	}
	return l.Trained, nil
}
