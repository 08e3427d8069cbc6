# Sourced by every sinkscope script: the Go toolchain and build settings the project needs.
# GoMLX v0.28 declares go 1.27; the go command fetches this toolchain from the module proxy once.
export GOTOOLCHAIN="${GOTOOLCHAIN:-go1.27.3}"
# SIMD kernels for GoMLX's pure-Go backend (about 10x faster, bit-identical results).
export GOEXPERIMENT="${GOEXPERIMENT:-simd}"
# The pure-Go backend unless the caller chose another (e.g. xla:cuda or xla:/path/to/pjrt_plugin.so).
export GOMLX_BACKEND="${GOMLX_BACKEND:-go}"
export PATH="$(go env GOPATH 2>/dev/null || echo "$HOME/go")/bin:/usr/local/go/bin:$PATH"
