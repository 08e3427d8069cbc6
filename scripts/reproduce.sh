#!/usr/bin/env bash
# The main job: every finding of the paper (sink onset, variance discrepancy, super neurons, dimension
# disparity, QK lock, effective rank) on the built-in models and, when given, your own checkpoint
# (a local HF model directory or an org/name repo id in the HF hub cache). Each run writes ids.json,
# results.json, report.md and its figures (SVG + HTML) under out/reproduce/<model>/.
#
#   scripts/reproduce.sh [MODEL] [FLAGS...]
#
# FLAGS (e.g. --layer 3 --bos off --ids my_ids.npy; see bin/sinkscope reproduce -h) go to MODEL's run,
# or to every built-in run when no MODEL is given. make reproduce MODEL=... ARGS="..." calls this.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
scripts/build.sh
bin=bin/sinkscope

model=""
if [ $# -gt 0 ] && [[ "$1" != -* ]]; then
	model="$1"
	shift
fi
builtin_flags=()
[ -z "$model" ] && builtin_flags=("$@")

run() {
	echo
	echo "=== sinkscope reproduce $*"
	"$bin" reproduce "$@"
}

# The planted model: a random-init Llama-style model with one planted super neuron. The whole chain
# appears by construction (neuron 37 of layer 1 → dimension 17 → sink from layer 2, QK lock).
run --model planted "${builtin_flags[@]}"
# A model that learned its sink: the bb training preset (2 layers x 1 head on Bigram-Backcopy), trained
# here on first use (a few minutes on 2 cores) and cached in ~/.cache/sinkscope/trained.
run --model trained:bb --toy=false "${builtin_flags[@]}"
# The same architecture at random initialisation: variance discrepancy, but no super neuron, no sink.
run --model random:small --toy=false "${builtin_flags[@]}"
# The paper's 152M pre-training architecture at initialisation.
run --model random:paper-152m --toy=false --random 200 "${builtin_flags[@]}"

if [ -n "$model" ]; then
	# The paper's setting: 20 samples x 64 tokens (text when the model has a tokenizer; BOS whenever it
	# defines one), 500 random sequences x 64, the super-neuron layer scanned, disparity and QK lock at
	# the next layer.
	run --model "$model" --toy=false "$@"
fi
echo
echo "results: out/reproduce/"
