package main

import (
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"time"

	"github.com/gomlx/compute/dtypes"

	batchpkg "github.com/sinkscope/sinkscope/datasets/batch"
	"github.com/sinkscope/sinkscope/sinks/devstats"
	"github.com/sinkscope/sinkscope/sinks/interventions"
	"github.com/sinkscope/sinkscope/sinks/metrics"
	"github.com/sinkscope/sinkscope/sinks/transformer"
)

var bf16DType = dtypes.BFloat16

// cmdBench measures forward passes with every hook point captured (the heaviest analysis case),
// with only attention patterns, with logits only, and the sink-onset finding (Fig. 3) with its
// statistics on the host and on the device.
func cmdBench(args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	source := fs.String("model", "random:small", "model source")
	batch := fs.Int("batch", 8, "sequences per forward pass")
	seqLen := fs.Int("seq", 64, "tokens per sequence")
	seconds := fs.Float64("seconds", 5, "minimum measuring time per case")
	sweep := fs.Bool("sweep", false, "instead: the paper's λ sweep (Fig. 6: k 10, layers 0–1, observed at layer 2, 8 λ × 2 arms) on --sweep-n random sequences × --seq tokens, in micro-batches of --batch")
	sweepN := fs.Int("sweep-n", 200, "random sequences of the λ sweep (paper: 200)")
	trainSteps := fs.Int("train", 0, "instead: time that many steps of the training loop on random tokens for a random:<preset> architecture, batch --batch × --seq")
	bf16 := fs.Bool("bf16", false, "matrix products in bfloat16 (with --train: mixed-precision training; otherwise the analysis runs, transformer.Model.SetMatmulDType)")
	shard := fs.Int("shard", 0, shardHelp+" (not with --train: see sinkscope train --devices)")
	layered := fs.Bool("layered", false, "run each case stage by stage (one compiled graph per distinct block, shared across layers) instead of one graph of the whole model")
	cpuProfile := fs.String("cpuprofile", "", "write a Go CPU profile of the whole command to this file (go tool pprof reads it): where the host's time goes between device calls")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	if *trainSteps > 0 {
		if *shard != 0 {
			return fmt.Errorf("--shard splits an analysed model's weights; --train times training (data-parallel training: sinkscope train --devices)")
		}
		return benchTrain(*source, *batch, *seqLen, *trainSteps, *bf16)
	}
	l, err := openModel(*source, false, *shard)
	if err != nil {
		return err
	}
	m := l.Model
	m.SetLayered(*layered)
	if *bf16 {
		if err := m.SetMatmulDType(bf16DType); err != nil {
			return err
		}
	}
	if *sweep {
		return benchSweep(m, *sweepN, *seqLen, *batch)
	}
	toks := make([][]int, *batch)
	for b := range toks {
		toks[b] = make([]int, *seqLen)
		for p := range toks[b] {
			toks[b][p] = (b*131 + p*31 + 7) % m.Config.VocabSize
		}
	}
	run := func(opts ...transformer.Option) func() error {
		return func() error { _, err := m.Run(toks, opts...); return err }
	}
	L := m.Config.NLayers
	cases := []struct {
		name string
		fn   func() error
	}{
		{"full capture", run(transformer.Capture("*"))},
		{"full capture, bf16", run(transformer.Capture("*"), transformer.CaptureInBF16())}, // half the bytes, rounded
		{"patterns only", run(transformer.Capture("blocks.*.attn.hook_pattern"), transformer.NoLogits())},
		{"logits only", run()},
		// Fig. 3's finding both ways: the patterns and residuals to the host and reduced there
		// (metrics, float64), or reduced in the graph (devstats: kilobytes leave the device).
		{"sink onset, host", func() error {
			c, err := m.RunWithCache(toks, metrics.SinkProfileNames...)
			if err != nil {
				return err
			}
			if _, err := metrics.SinkProfile(c, L); err != nil {
				return err
			}
			pats := make([]*transformer.Activation, L)
			for l := range pats {
				pats[l] = c.MustGet("pattern", l)
			}
			_, err = metrics.GuSinkScores(pats, 0, metrics.GuEps)
			return err
		}},
		{"sink onset, device", func() error { _, _, err := devstats.SinkOnset(m, toks, len(toks), 0, metrics.GuEps); return err }},
	}
	mode := "one graph of the whole model per run"
	if *layered {
		mode = "stage by stage (one graph per distinct block)"
	}
	fmt.Fprintf(stdout, "batch %d × %d tokens, %s, matrix products in %s\n", *batch, *seqLen, mode, m.MatmulDType())
	for _, c := range cases {
		t0 := time.Now()
		if err := c.fn(); err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		first := time.Since(t0)
		n := 0
		t0 = time.Now()
		for time.Since(t0).Seconds() < *seconds || n < 3 {
			if err := c.fn(); err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			n++
		}
		el := time.Since(t0).Seconds()
		fmt.Fprintf(stdout, "%-18s %9.0f tokens/s  (%d runs, %.1f ms/run; first run with compilation %.2fs)\n",
			c.name, float64(n**batch**seqLen)/el, n, 1000*el/float64(n), first.Seconds())
	}
	return nil
}

// benchSweep times the paper's λ sweep: μ over 800 random sequences, then both arms on n random
// sequences without BOS, with the compilations each arm caused.
func benchSweep(m *transformer.Model, n, seqLen, batch int) error {
	a := interventions.PaperAmplification()
	if a.Observe >= m.Config.NLayers {
		return fmt.Errorf("--sweep observes layer %d; the model has %d layers", a.Observe, m.Config.NLayers)
	}
	t0 := time.Now()
	mu, err := interventions.ValueMean(m, interventions.MeanSpec{N: 800, SeqLen: seqLen, Seed: 7, Batch: batch, Layers: a.Observe})
	if err != nil {
		return err
	}
	meanSec := time.Since(t0).Seconds()
	tokens, err := batchpkg.RandomTokens(n, seqLen, m.Config.VocabSize, 11)
	if err != nil {
		return err
	}
	r, err := interventions.Sweep(m, tokens, a, mu, batch)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s on %d × %d random tokens (micro-batches of %d); μ over %d tokens in %.2fs\n", a, n, seqLen, batch, mu.Tokens, meanSec)
	fmt.Fprintf(stdout, "compilations: centred arm %d, control arm %d\nfirst λ (compilation included) %.3fs, every other λ %.3fs\n",
		r.CompilationsCentred, r.CompilationsControl, r.FirstSeconds, r.PerLambdaSeconds)
	fmt.Fprintf(stdout, "λ        %v\ncentred  %s\ncontrol  %s\n", a.Lambdas, fmtFloats(r.Centred), fmtFloats(r.Control))
	return nil
}
