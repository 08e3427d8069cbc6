package backend

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// AutotuneCacheEnv names the directory where XLA keeps the results of its GPU matrix-product
// autotuning between processes ("off" keeps none). Unset: <user cache dir>/sinkscope/xla-autotune.
const AutotuneCacheEnv = "SINKSCOPE_XLA_AUTOTUNE_CACHE"

// autotuneFlag is XLA's flag for a persistent per-fusion autotuning cache.
const autotuneFlag = "xla_gpu_per_fusion_autotune_cache_dir"

// withAutotuneCache adds XLA's persistent autotuning cache to $XLA_FLAGS before an XLA plugin starts,
// and returns the directory ("" when it adds none). On a GPU, most of a first compilation is XLA
// timing candidate kernels for each distinct matrix-product shape (measured on one H200, paper-152m,
// every hook point captured, batch 8: 48.7 s for the first compile in a process, 4.8 s for the same
// products with their tunings cached), and XLA forgets the tunings when the process ends; the
// cache keeps them, so only the first command to meet a shape pays. It is added only when the
// plugin is given by path and names the flag (an XLA build without it would refuse to start on an
// unknown flag), when $XLA_FLAGS does not set it already, and unless $SINKSCOPE_XLA_AUTOTUNE_CACHE
// is "off". Cached tunings are per fusion and device, so a changed model or GPU tunes anew.
func withAutotuneCache(config string) (string, error) {
	name, opts, _ := strings.Cut(config, ":")
	if name != "xla" {
		return "", nil
	}
	dir := strings.TrimSpace(os.Getenv(AutotuneCacheEnv))
	if dir == "off" || strings.Contains(os.Getenv("XLA_FLAGS"), autotuneFlag) {
		return "", nil
	}
	plugin, _, _ := strings.Cut(opts, ",")
	if !filepath.IsAbs(plugin) {
		return "", nil // "xla:cuda": go-xla finds the plugin; sinkscope cannot check its flags
	}
	if ok, err := fileContains(plugin, []byte(autotuneFlag)); err != nil || !ok {
		return "", nil // go-xla reports an unreadable plugin itself
	}
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return "", nil
		}
		dir = filepath.Join(base, "sinkscope", "xla-autotune")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("the XLA autotuning cache %s (%s): %w", dir, AutotuneCacheEnv, err)
	}
	flags := strings.TrimSpace(os.Getenv("XLA_FLAGS") + " --" + autotuneFlag + "=" + dir)
	return dir, os.Setenv("XLA_FLAGS", flags)
}

// fileContains reports whether the file holds the byte string, reading it in 4 MiB pieces that
// overlap by len(s)−1 bytes.
func fileContains(path string, s []byte) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	buf := make([]byte, 4<<20)
	keep := 0
	for {
		n, err := io.ReadFull(r, buf[keep:])
		if bytes.Contains(buf[:keep+n], s) {
			return true, nil
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		keep = min(len(s)-1, keep+n)
		copy(buf, buf[len(buf)-keep:])
	}
}

// latencyFlags are the XLA flags of CompileForLatency: no timing of candidate kernels for each
// matrix product, and matrix products through cuBLAS's own choice of kernel instead of generated
// Triton kernels (which without tuning fall back to a default tiling).
var latencyFlags = []string{"xla_gpu_autotune_level=0", "xla_gpu_enable_triton_gemm=false"}

// CompileForLatency makes XLA GPU backends created later in this process compile for the first
// result rather than for the fastest kernels: it adds latencyFlags to $XLA_FLAGS (each unless
// $XLA_FLAGS sets that flag already) and returns the ones it added. For a one-shot analysis that
// runs each graph a few times the tuning costs more than it saves: on one H200 a Llama-2-7B-shaped
// `reproduce --bf16 --bf16-products` took 34.1 s in a fresh process with these flags, 43.3 s with
// XLA's tuning and an empty tuning cache and 33.2 s with the cache filled (BENCHMARKS.md). Training
// keeps the tuning: its step runs thousands of times. The flags are XLA's GPU options and change
// nothing on other backends; they must be set before the first XLA backend of the process starts.
func CompileForLatency() ([]string, error) {
	flags := os.Getenv("XLA_FLAGS")
	var added []string
	for _, f := range latencyFlags {
		name, _, _ := strings.Cut(f, "=")
		if strings.Contains(flags, name) {
			continue
		}
		flags = strings.TrimSpace(flags + " --" + f)
		added = append(added, "--"+f)
	}
	if len(added) == 0 {
		return nil, nil
	}
	return added, os.Setenv("XLA_FLAGS", flags)
}
