#!/usr/bin/env bash
# Warm-cell latency of the notebooks' GoNB kernel (make bench-notebook): starts the installed `gonb`
# kernel through Jupyter, runs the notebooks' set-up cell and a cell importing what they import, then
# trivial cells with new source each time (GoNB compiles and links every cell into a new program),
# and prints the medians, split into goimports, `go get`, `go build` and the run of the cell.
#
#   scripts/bench-notebook.sh              the installed kernel, 3 kernels × 4 warm cells
#   scripts/bench-notebook.sh --compare    also the kernel without the -ldflags=-w that setup.sh
#                                          gives it (the kernel as it was before), rounds alternating
#   scripts/bench-notebook.sh --rounds 5 --cells 6
#
# The last line is the installed kernel's median warm cell. Needs scripts/setup.sh (Jupyter, GoNB);
# the first kernel also waits for any package of the notebooks' import graph missing from the Go
# build cache (setup.sh warms it).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

for tool in jupyter gonb goimports; do
	command -v "$tool" >/dev/null 2>&1 || { echo "bench-notebook: $tool not found; run scripts/setup.sh" >&2; exit 1; }
done
# Debian's python3, where python3-nbclient and jupyter_client live (not a pyenv or venv python3 on PATH).
exec /usr/bin/python3 scripts/bench_notebook.py --root "$PWD" "$@"
