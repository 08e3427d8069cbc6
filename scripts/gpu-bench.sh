#!/usr/bin/env bash
# Builds the GPU binary for the analysis benchmarks on the GPU machine (no Go there) and prints the
# command to run there: `sinkscope bench` on random:paper-152m (full capture, patterns only, logits
# only, and the sink-onset finding with its statistics on the host and on the device) beside the
# PyTorch twin (scripts/bench_twin.py --device cuda: the same architecture, float32 without TF32,
# hooks copying to the host; its sinkonset case reduces on the GPU too), at batch 8 and 64 × 64
# tokens, one after the other in one call; then the training loop (`sinkscope bench --train`, bf16
# products) beside the twin's training step (bf16 autocast, eager and torch.compile) and the JAX twin
# (scripts/bench_jax_twin.py, one jitted step, bf16 products) for gpu-28m (batch 32 × 256) and
# paper-152m (batch 8 × 1024). `workflow` times the 7B workflow: a Llama-2-7B-shaped random
# checkpoint (bf16, 3 shards, written there by scripts/make_random_llama.py), the PyTorch twin
# (scripts/reproduce_twin.py: the same inputs with transformers), `sinkscope reproduce --bf16
# --bf16-products --trace` (bfloat16 products, as the twin; the defaults: --overlap=auto,
# --layered=auto, compiled for latency, GPU memory on demand) twice, the twin again, then with the
# steps one after another (--overlap=off), with float32 products, and with XLA's GEMM autotuning
# (--autotune) and no tuning cache; each with its peak GPU memory from nvidia-smi sampled every
# 100 ms. `profile` dumps the compiled training step of sinkscope and of the JAX twin (gpu-28m, XLA's --xla_dump_to)
# and times both programs' GPU kernels the same way (scripts/profile_hlo.py). Carry: gpucarry.
#
#   scripts/gpu-bench.sh analysis|train|workflow|profile [SECONDS]     default 5 s per case
#
# Each part is one command of a few minutes on the GPU machine; the first command on a fresh
# machine also pays its start.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
part="${1:-}"
secs="${2:-5}"
case "$part" in
analysis | train | workflow | profile) ;;
*) echo "usage: scripts/gpu-bench.sh analysis|train|workflow|profile [SECONDS]" >&2; exit 2 ;;
esac
mkdir -p gpucarry
rm -f gpucarry/sinkscope gpucarry/sinkscope.gz
CGO_ENABLED=1 go build -ldflags="-s -w" -o gpucarry/sinkscope ./cmd/sinkscope
gzip -9 gpucarry/sinkscope
cp node_modules/echarts/dist/echarts.min.js gpucarry/ # reproduce's HTML figures look next to the binary
cat <<CMD
# on the GPU machine (carry: gpucarry):
gunzip -k gpucarry/sinkscope.gz && chmod +x gpucarry/sinkscope
plugin=\$(ls /opt/torch/.venv/lib/python3.*/site-packages/jax_plugins/xla_cuda*/xla_cuda_plugin.so | head -1)
export GOMLX_NO_AUTO_INSTALL=1 GOPJRT_CUDA_CHECKS=0 GOMLX_BACKEND=xla:\$plugin
grep -q xla_gpu_per_fusion_autotune_cache_dir "\$plugin" && export XLA_FLAGS=--xla_gpu_per_fusion_autotune_cache_dir=/tmp/xla-autotune
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
CMD
if [ "$part" = analysis ]; then cat <<CMD
for b in 8 64; do
  gpucarry/sinkscope bench --model random:paper-152m --batch \$b --seconds $secs
  /opt/torch/.venv/bin/python scripts/bench_twin.py --device cuda --model paper-152m --batch \$b \\
    --cases logits,patterns,capture,capture_bf16,sinkonset --seconds $secs
done
# first-call compile without GEMM autotuning (analysis graphs run once; training needs the tuning)
XLA_FLAGS="\$XLA_FLAGS --xla_gpu_autotune_level=0" gpucarry/sinkscope bench --model random:paper-152m --batch 8 --seconds $secs
CMD
elif [ "$part" = profile ]; then cat <<CMD
# the compiled training steps as XLA received them, then each program's kernels timed alike
rm -rf /tmp/dump-sinkscope /tmp/dump-jax
XLA_FLAGS="\$XLA_FLAGS --xla_dump_to=/tmp/dump-sinkscope --xla_dump_hlo_as_text" \
  gpucarry/sinkscope bench --model random:gpu-28m --train 5 --bf16 --batch 32 --seq 256
XLA_FLAGS="\$XLA_FLAGS --xla_dump_to=/tmp/dump-jax --xla_dump_hlo_as_text" \
  /opt/torch/.venv/bin/python scripts/bench_jax_twin.py --model gpu-28m --batch 32 --seq 256 --bf16 --seconds 1
for f in \$(ls -S /tmp/dump-sinkscope/*Trainer*.before_optimizations.txt | head -1) \
         \$(ls -S /tmp/dump-jax/*jit_step*.before_optimizations.txt | head -1); do
  /opt/torch/.venv/bin/python scripts/profile_hlo.py "\$f" --iters 20 --top 30
done
CMD
elif [ "$part" = workflow ]; then cat <<CMD
# peak GPU memory of a command: nvidia-smi's used memory sampled every 100 ms while it runs
peak() { nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 100 > /tmp/mem.txt & local p=\$!
  local s=\$(date +%s%N); timeout 240 "\$@"; echo "rc \$?, wall \$(( (\$(date +%s%N) - s) / 1000000 )) ms"; kill \$p; echo "peak GPU memory \$(sort -n /tmp/mem.txt | tail -1) MiB (idle \$(sort -n /tmp/mem.txt | head -1))"; }
/opt/torch/.venv/bin/python scripts/make_random_llama.py /tmp/llama7b --shape llama2-7b
unset XLA_FLAGS; export HOME=/tmp/home-bench; mkdir -p \$HOME   # no XLA tuning cache from earlier runs
# \$1: a name, then reproduce's flags; --trace prints where each step's time went
rep() { local name=\$1; shift; echo "== sinkscope reproduce \$*"
  peak gpucarry/sinkscope reproduce --model /tmp/llama7b --svg=false --trace --out /tmp/rep-\$name "\$@"; }
echo "== PyTorch twin"; peak /opt/torch/.venv/bin/python scripts/reproduce_twin.py /tmp/llama7b
rep first --bf16 --bf16-products    # the defaults: --overlap, --layered=auto, compiled for latency, memory on demand
rep again --bf16 --bf16-products
echo "== PyTorch twin again"; peak /opt/torch/.venv/bin/python scripts/reproduce_twin.py /tmp/llama7b
rep seq --bf16 --bf16-products --overlap=off   # the steps one after another
rep f32 --bf16                      # float32 products
rep autotune --bf16 --bf16-products --autotune   # XLA's GEMM tuning, cache empty
tail -3 /tmp/rep-first/report.md; grep -o '"graphs_compiled":[^,]*' /tmp/rep-first/results.json
CMD
else cat <<CMD
for mb in gpu-28m:32:256 paper-152m:8:1024; do
  IFS=: read m b t <<<"\$mb"
  gpucarry/sinkscope bench --model random:\$m --train 60 --bf16 --batch \$b --seq \$t
  for c in "" --compile; do
    /opt/torch/.venv/bin/python scripts/bench_twin.py --device cuda --model \$m --batch \$b --seq \$t \
      --cases train --bf16 \$c --seconds $secs
  done
  /opt/torch/.venv/bin/python scripts/bench_jax_twin.py --model \$m --batch \$b --seq \$t --bf16 --seconds $secs
done
CMD
fi
