#!/usr/bin/env bash
# sinkscope against a PyTorch CPU twin of the same model (make bench-cpu): a Llama-style 4-layer,
# d 128 GQA model on a batch of 8 × 64 tokens, float32, in four cases:
#
#   logits    forward pass, logits only                 Go: BenchmarkForwardLogits (sinks/transformer)
#   patterns  every layer's attention pattern, no logits    BenchmarkForwardPatterns
#   capture   every hook point copied back to the host      BenchmarkForwardFullCapture
#   train     one AdamW step (forward, loss, backward)      BenchmarkTrainStep (sinks/train)
#
# The twin is scripts/bench_twin.py (Debian's python3-torch 1.13 on OpenBLAS, one thread). The
# two run one after the other, each case for at least $BENCH_SECONDS seconds (default 3). The last
# line is the ratios, sinkscope tokens/s over PyTorch tokens/s (above 1: sinkscope is faster).
#
# Installs what is missing (python3-torch, and libopenblas0-pthread, without which torch runs on the
# reference BLAS, about 10× slower); needs root (or sudo) only then.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

log() { printf '[bench-cpu] %s\n' "$*" >&2; }

seconds="${BENCH_SECONDS:-3}"
threads="${TORCH_THREADS:-1}"
python=/usr/bin/python3 # Debian's, where python3-torch lives (not a pyenv or venv python3 on PATH)

source scripts/apt.sh
apt_install python3 python3-torch python3-numpy libopenblas0-pthread
"$python" -c 'import torch' || { log "$python cannot import torch"; exit 1; }
go mod download

cpu="$(grep -m1 '^model name' /proc/cpuinfo | sed 's/^model name[[:space:]]*:[[:space:]]*//')"
log "machine: $(nproc) cores, ${cpu:-unknown CPU}"

# 1. sinkscope: the Go benchmarks, one package after the other (-p 1).
log "sinkscope: go test -bench (-benchtime ${seconds}s)"
goout="$(go test -p 1 -count 1 -run '^$' -benchtime "${seconds}s" \
	-bench '^Benchmark(ForwardLogits|ForwardPatterns|ForwardFullCapture|TrainStep)$' \
	./sinks/transformer/ ./sinks/train/)"
printf '%s\n' "$goout" | grep '^Benchmark' >&2
go_tps() { # the tokens/s metric of one benchmark
	printf '%s\n' "$goout" | awk -v name="$1" '$1 ~ "^"name"(-[0-9]+)?$" { for (i = 2; i < NF; i++) if ($(i+1) == "tokens/s") print $i }'
}

# 2. PyTorch.
log "pytorch: scripts/bench_twin.py --threads $threads --seconds $seconds"
pyout="$("$python" scripts/bench_twin.py --threads "$threads" --seconds "$seconds")"
printf '%s\n' "$pyout" >&2
py_tps() { printf '%s' "$pyout" | "$python" -c "import json, sys; print(json.load(sys.stdin)['$1']['tokens_per_s'])"; }

# 3. The table, then the ratios as the last line.
ratios=""
printf '\nmachine: %s cores, %s; torch %s, %s thread(s); batch 8 × 64, %ss per case\n\n' "$(nproc)" "${cpu:-unknown CPU}" \
	"$(printf '%s' "$pyout" | "$python" -c 'import json, sys; print(json.load(sys.stdin)["torch"])')" "$threads" "$seconds"
printf '| %-8s | %18s | %16s | %8s |\n' case "sinkscope tokens/s" "pytorch tokens/s" ratio
printf '|%s|%s|%s|%s|\n' ---------- -------------------: -----------------: ---------:
for c in logits:BenchmarkForwardLogits patterns:BenchmarkForwardPatterns capture:BenchmarkForwardFullCapture train:BenchmarkTrainStep; do
	name="${c%%:*}"
	g="$(go_tps "${c#*:}")"
	p="$(py_tps "$name")"
	r="$(awk -v g="$g" -v p="$p" 'BEGIN { printf "%.2f", g / p }')"
	printf '| %-8s | %18.0f | %16.0f | %7sx |\n' "$name" "$g" "$p" "$r"
	ratios="$ratios $name ${r}x"
done
echo
echo "sinkscope/pytorch tokens/s:$ratios"
