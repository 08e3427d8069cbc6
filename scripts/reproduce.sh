#!/usr/bin/env bash
# The main job: per-layer attention to token 0 and token-0 norm ratio (paper Fig. 3) for the built-in
# models and, when given, your own checkpoint (a local HF model directory or an org/name repo id in
# the HF hub cache). Results also go to out/reproduce/*.json.
#
#   scripts/reproduce.sh [MODEL]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
out=out/reproduce
mkdir -p "$out"
bin=bin/sinkscope
[ -x "$bin" ] || go build -o "$bin" ./cmd/sinkscope

run() {
	local name="$1"; shift
	echo
	echo "=== $name"
	"$bin" sinks --json "$out/$name.json" "$@"
}

# The paper's 152M pre-training architecture at random initialisation, on 20 random-token sequences
# of 64 tokens: no sink yet (sinks are learned), but token 0's residual norm already stands out.
run paper-152m-init --model random:paper-152m --data random --samples 20 --seq 64

# A real HF-format checkpoint read through the loader (a tiny random Llama-3-style model with GQA,
# llama3 rope scaling and bf16 weights, saved by transformers).
run hf-llama3-tiny --model sinks/transformer/testdata/parity/llama3 --data random --samples 20 --seq 64

if [ $# -gt 0 ] && [ -n "$1" ]; then
	# The paper's setting: 20 text samples x 64 tokens with BOS prepended when the model has one.
	run user-model --model "$1" --samples 20 --seq 64
fi
echo
echo "results: $out/"
