#!/usr/bin/env bash
# The main job: every finding of the paper (sink onset, variance discrepancy, super neurons, dimension
# disparity, QK lock, effective rank) on the built-in models and, when given, your own checkpoint
# (a local HF model directory or an org/name repo id in the HF hub cache). Each run writes its figures
# (SVG + HTML), results.json and report.md under out/reproduce/<model>/.
#
#   scripts/reproduce.sh [MODEL]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
bin=bin/sinkscope
go build -o "$bin" ./cmd/sinkscope

run() {
	echo
	echo "=== sinkscope reproduce $*"
	"$bin" reproduce "$@"
}

# The planted model: a random-init Llama-style model with one planted super neuron. The whole chain
# appears by construction (neuron 37 of layer 1 → dimension 17 → sink from layer 2, QK lock).
run --model planted
# The same architecture at random initialisation: variance discrepancy, but no super neuron, no sink.
run --model random:small --toy=false
# The paper's 152M pre-training architecture at initialisation.
run --model random:paper-152m --toy=false --random 200

if [ $# -gt 0 ] && [ -n "$1" ]; then
	# The paper's setting: 20 text samples x 64 tokens (BOS when the tokenizer has one), 500 random
	# sequences x 64, super neurons in layer 1, disparity and QK lock at layer 2.
	run --model "$1" --toy=false
fi
echo
echo "results: out/reproduce/"
