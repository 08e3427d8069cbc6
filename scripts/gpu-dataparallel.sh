#!/usr/bin/env bash
# Builds what the multi-device paths need on the GPU machine (no Go there) — data-parallel training
# (sinkscope train --devices N, sinks/train/parallel.go) and weights split over devices for analysis
# (sinkscope reproduce/sinks/bench --shard N, sinks/transformer/shard.go) — and prints the commands
# to run there:
#
#  1. the sinks/train test binary, run from sinks/train: TestDataParallel* compare the distributed
#     step on 2 devices with the plain single-device step from the same seed (losses per step,
#     final weights and optimizer state to 1e-5 relative) and resume a run stopped half-way on the
#     other path. Then the sinks/transformer test binary, run from sinks/transformer:
#     TestMultiDevice* check ShardOver's errors and compare a small model whose weights are split
#     over 2 devices with the plain model (captures, logits, a reduction and a SetParam edit, to
#     1e-5 relative). GoMLX distributes only over two or more devices (on one H200 it refused a
#     one-device distributed step, and a one-device AutoSharding graph did not compile without a
#     device assignment), so on a one-GPU machine the comparisons skip and only the error checks run;
#  2. on a 2-GPU machine, `sinkscope train` on paper-152m for 30 steps at batch 16 × 1024 tokens
#     with --devices 0 (plain) and 2, and the mean tokens/s of the last 20 steps of each
#     (the first ones pay XLA's compilation). The preset's corpus is the Go source tree, carried as
#     gpucarry/gosrc.tgz and found through $GOROOT. Then the PyTorch DDP twin (scripts/ddp_twin.py:
#     the same architecture, global batch and bf16 products) on 1 and 2 GPUs.
#
#   scripts/gpu-dataparallel.sh [test|scaling]     default test
#
# test builds part 1 only (gpucarry/train.test.gz, about 13 MiB, and transformer.test.gz, about
# 6 MiB); scaling builds both parts (the two test binaries, sinkscope.gz, gosrc.tgz: about 51 MiB,
# which with the tracked tree, about 12 MiB, is just under the GPU machine's 64 MiB limit on what
# travels: carry nothing else in gpucarry then; the 2-GPU machine is a fresh start anyway).
# Carry: gpucarry.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
part="${1:-test}"
case "$part" in
test | scaling) ;;
*) echo "usage: scripts/gpu-dataparallel.sh [test|scaling]" >&2; exit 2 ;;
esac
mkdir -p gpucarry
rm -f gpucarry/train.test gpucarry/train.test.gz gpucarry/transformer.test gpucarry/transformer.test.gz gpucarry/gosrc.tgz
CGO_ENABLED=1 go test -c -ldflags="-s -w" -o gpucarry/train.test ./sinks/train
gzip -9 gpucarry/train.test
CGO_ENABLED=1 go test -c -ldflags="-s -w" -o gpucarry/transformer.test ./sinks/transformer
gzip -9 gpucarry/transformer.test
if [ "$part" = scaling ]; then
  rm -f gpucarry/sinkscope gpucarry/sinkscope.gz
  CGO_ENABLED=1 go build -ldflags="-s -w" -o gpucarry/sinkscope ./cmd/sinkscope
  gzip -9 gpucarry/sinkscope
  (cd "$(go env GOROOT)" && find src -name '*.go' | sort | tar czf - -T -) >gpucarry/gosrc.tgz
fi
cat <<'CMD'
# on the GPU machine (carry: gpucarry):
gunzip -kf gpucarry/*.gz && chmod +x gpucarry/train.test gpucarry/transformer.test
plugin=$(ls /opt/torch/.venv/lib/python3.*/site-packages/jax_plugins/xla_cuda*/xla_cuda_plugin.so | head -1)
export GOMLX_NO_AUTO_INSTALL=1 GOPJRT_CUDA_CHECKS=0 GOMLX_BACKEND=xla:$plugin
grep -q xla_gpu_per_fusion_autotune_cache_dir "$plugin" && export XLA_FLAGS=--xla_gpu_per_fusion_autotune_cache_dir=/tmp/xla-autotune
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
(cd sinks/train && ../../gpucarry/train.test -test.run 'TestDataParallel|TestMultiDevice' -test.v)
(cd sinks/transformer && ../../gpucarry/transformer.test -test.run 'TestMultiDevice' -test.v)
CMD
[ "$part" = test ] && exit 0
cat <<'CMD'
# on a 2-GPU machine, in addition: tokens/s of paper-152m on 1 (plain) and 2 devices
mkdir -p gpucarry/goroot && tar xzf gpucarry/gosrc.tgz -C gpucarry/goroot
for n in 0 2; do
  GOROOT=$PWD/gpucarry/goroot gpucarry/sinkscope train --preset paper-152m --bf16 --batch 16 --accum 1 --steps 30 \
    --devices $n --run /tmp/dataparallel-$n 2>&1 | tail -3
  grep -o '"tokens_per_s":[0-9.e+]*' /tmp/dataparallel-$n/log.jsonl | tail -n 20 | cut -d: -f2 |
    awk -v n=$n '{s += $1} END {printf "devices %d: %.0f tokens/s (mean of the last %d steps)\n", n, s/NR, NR}'
done
# the PyTorch DDP twin, same architecture, global batch and bf16 products, on 1 and 2 GPUs
for n in 1 2; do
  /opt/torch/.venv/bin/python scripts/ddp_twin.py --procs $n --device cuda --model paper-152m --batch 16 --seq 1024 --bf16
done
CMD
