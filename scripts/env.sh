# Sourced by every sinkscope script: the Go toolchain and build settings the project needs.
#
# GoMLX v0.28 declares go 1.27: the go command fetches this toolchain from the Go module proxy once.
export GOTOOLCHAIN="${GOTOOLCHAIN:-go1.27.3}"
# SIMD kernels for GoMLX's pure-Go backend (about 10x faster, bit-identical results).
export GOEXPERIMENT="${GOEXPERIMENT:-simd}"
# The pure-Go backend unless the caller chose another (e.g. xla:cuda or xla:/abs/path/plugin.so).
export GOMLX_BACKEND="${GOMLX_BACKEND:-go}"
# Never let GoMLX try to download PJRT plugins (there may be no network).
export GOMLX_NO_AUTO_INSTALL="${GOMLX_NO_AUTO_INSTALL:-1}"

_sinkscope_toolchain_dir() {
	# A toolchain module unpacked by scripts/setup.sh when the machine's Go is too old to switch.
	local cache="${GOMODCACHE:-${GOPATH:-$HOME/go}/pkg/mod}"
	local arch
	arch="$(uname -m)"; case "$arch" in x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; esac
	echo "$cache/golang.org/toolchain@v0.0.1-${GOTOOLCHAIN}.linux-${arch}"
}
for _d in /usr/local/go/bin "$(_sinkscope_toolchain_dir)/bin"; do
	if [ -x "$_d/go" ] && ! command -v go >/dev/null 2>&1; then export PATH="$_d:$PATH"; fi
done
if [ -x "$(_sinkscope_toolchain_dir)/bin/go" ]; then export PATH="$(_sinkscope_toolchain_dir)/bin:$PATH"; fi
export PATH="${GOPATH:-$HOME/go}/bin:$PATH"
unset _d
