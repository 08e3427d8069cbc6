package main

import (
	"flag"
	"fmt"
	"time"

	"github.com/gomlx/compute/dtypes"

	"github.com/sinkscope/sinkscope/sinks/transformer"
)

var bf16DType = dtypes.BFloat16

// cmdBench measures forward passes with every hook point captured (the heaviest analysis case),
// with only attention patterns, and with logits only.
func cmdBench(args []string) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	source := fs.String("model", "random:small", "model source")
	batch := fs.Int("batch", 8, "sequences per forward pass")
	seqLen := fs.Int("seq", 64, "tokens per sequence")
	seconds := fs.Float64("seconds", 5, "minimum measuring time per case")
	if err := fs.Parse(args); err != nil {
		return err
	}
	l, err := openModel(*source, false)
	if err != nil {
		return err
	}
	m := l.Model
	toks := make([][]int, *batch)
	for b := range toks {
		toks[b] = make([]int, *seqLen)
		for p := range toks[b] {
			toks[b][p] = (b*131 + p*31 + 7) % m.Config.VocabSize
		}
	}
	cases := []struct {
		name string
		opts []transformer.Option
	}{
		{"full capture", []transformer.Option{transformer.Capture("*")}},
		{"patterns only", []transformer.Option{transformer.Capture("blocks.*.attn.hook_pattern"), transformer.NoLogits()}},
		{"logits only", nil},
	}
	fmt.Fprintf(stdout, "batch %d × %d tokens\n", *batch, *seqLen)
	for _, c := range cases {
		t0 := time.Now()
		if _, err := m.Run(toks, c.opts...); err != nil {
			return err
		}
		first := time.Since(t0)
		n := 0
		t0 = time.Now()
		for time.Since(t0).Seconds() < *seconds || n < 3 {
			if _, err := m.Run(toks, c.opts...); err != nil {
				return err
			}
			n++
		}
		el := time.Since(t0).Seconds()
		fmt.Fprintf(stdout, "%-14s %9.0f tokens/s  (%d runs, %.1f ms/run; first run with compilation %.2fs)\n",
			c.name, float64(n**batch**seqLen)/el, n, 1000*el/float64(n), first.Seconds())
	}
	return nil
}
