// Command sinkscope runs sinkscope's analyses from the command line.
//
//	sinkscope reproduce --model SOURCE  every finding: figures (SVG + HTML), results.json, report.md
//	sinkscope sinks --model SOURCE      per-layer attention to token 0 and token-0 norm (paper Fig. 3)
//	sinkscope hooks --model SOURCE      the model's hook points and their shapes
//	sinkscope bench [--model SOURCE]    forward-pass throughput with every hook point captured
//	sinkscope train --preset bb         train a recipe into runs/<preset>-seed<seed>/ (resumes)
//	sinkscope compare --preset P        every sink-removing arm × seeds: results/<preset>/ (resumes)
//
// SOURCE is random:<preset>[@seed], planted[@seed], a local HF model directory, or an org/name hub repo id (see
// package sinks/models). Every command prints the backend it runs on ($GOMLX_BACKEND, default "go").
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// stdout receives the commands' output (tests replace it).
var stdout io.Writer = os.Stdout

const usage = `usage: sinkscope <command> [flags]

commands:
  reproduce  every finding of the paper on one model: figures (SVG + HTML), results.json, report.md
  train      train a preset recipe (e.g. bb: a 2-layer model that grows a BOS sink) into runs/, resumably
  compare    pre-train a preset under every sink-removing arm (HeadNorm, sigmoid, gated, KV sink) × seeds
  sinks      per-layer attention to token 0 and token-0 norm ratio (paper Fig. 3)
  hooks      list a model's hook points with their shapes
  bench      forward-pass tokens/s with every hook point captured

Run "sinkscope <command> -h" for the flags of a command.
`

func main() {
	servePprof()
	os.Exit(run(os.Args[1:], os.Stderr))
}

// run runs one command line (without the program name) and returns the exit status: 0 on success
// and for -h, 1 when the command failed, 2 for usage errors.
func run(args []string, stderr io.Writer) int {
	if len(args) < 1 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "sinks":
		err = cmdSinks(args[1:])
	case "hooks":
		err = cmdHooks(args[1:])
	case "bench":
		err = cmdBench(args[1:])
	case "reproduce":
		err = cmdReproduce(args[1:])
	case "train":
		err = cmdTrain(args[1:])
	case "compare":
		err = cmdCompare(args[1:])
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "sinkscope: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case errors.Is(err, flag.ErrHelp): // "-h": the flags were printed
		return 0
	case err != nil:
		fmt.Fprintf(stderr, "sinkscope %s: %v\n", args[0], err)
		return 1
	}
	return 0
}
