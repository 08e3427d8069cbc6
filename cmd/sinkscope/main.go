// Command sinkscope runs sinkscope's analyses from the command line.
//
//	sinkscope reproduce --model SOURCE  every finding: figures (SVG + HTML), results.json, report.md
//	sinkscope sinks --model SOURCE      per-layer attention to token 0 and token-0 norm (paper Fig. 3)
//	sinkscope hooks --model SOURCE      the model's hook points and their shapes
//	sinkscope bench [--model SOURCE]    forward-pass throughput with every hook point captured
//
// SOURCE is random:<preset>[@seed], planted[@seed], a local HF model directory, or an org/name hub repo id (see
// package sinks/models). Every command prints the backend it runs on ($GOMLX_BACKEND, default "go").
package main

import (
	"fmt"
	"io"
	"os"
)

// stdout receives the commands' output (tests replace it).
var stdout io.Writer = os.Stdout

const usage = `usage: sinkscope <command> [flags]

commands:
  reproduce  every finding of the paper on one model: figures (SVG + HTML), results.json, report.md
  sinks      per-layer attention to token 0 and token-0 norm ratio (paper Fig. 3)
  hooks      list a model's hook points with their shapes
  bench      forward-pass tokens/s with every hook point captured

Run "sinkscope <command> -h" for the flags of a command.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "sinks":
		err = cmdSinks(os.Args[2:])
	case "hooks":
		err = cmdHooks(os.Args[2:])
	case "bench":
		err = cmdBench(os.Args[2:])
	case "reproduce":
		err = cmdReproduce(os.Args[2:])
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "sinkscope: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "sinkscope %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}
