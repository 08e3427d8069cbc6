package backend

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWithPrecision(t *testing.T) {
	for in, want := range map[string]string{
		"go":                      "go",
		"go:parallelism=2":        "go:parallelism=2",
		"xla:cuda":                "xla:cuda,notf32",
		"xla:/p/plugin.so":        "xla:/p/plugin.so,notf32",
		"xla:cuda,tf32":           "xla:cuda,tf32",
		"xla:/p/plugin.so,notf32": "xla:/p/plugin.so,notf32",
		"xla":                     "xla:notf32",
	} {
		if got := WithPrecision(in); got != want {
			t.Errorf("WithPrecision(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDefaultAndUnknown(t *testing.T) {
	t.Setenv(EnvVar, "")
	if Config() != "go" {
		t.Fatalf("default config %q, want go", Config())
	}
	b, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(Describe(b), "backend:") {
		t.Errorf("Describe: %q", Describe(b))
	}
	t.Setenv(EnvVar, "tpu9000")
	if _, err := New(); err == nil || !strings.Contains(err.Error(), `"tpu9000"`) {
		t.Fatalf("unknown backend: %v", err)
	}
}

// On the pure-Go backend BF16Products just runs fn.
func TestBF16ProductsOnGo(t *testing.T) {
	be, err := NewWithConfig("go")
	if err != nil {
		t.Fatal(err)
	}
	ran := false
	if err := BF16Products(be, func() error { ran = true; return nil }); err != nil || !ran {
		t.Fatalf("ran %v, err %v", ran, err)
	}
}

// The autotuning cache goes into $XLA_FLAGS only for an XLA plugin given by path that knows the
// flag, and never over a setting of the user's.
func TestAutotuneCache(t *testing.T) {
	dir := t.TempDir()
	knows := filepath.Join(dir, "knows.so")
	// The flag name straddles the 4 MiB read boundary: the overlap must still find it.
	blob := append(bytes.Repeat([]byte{0}, 4<<20-10), []byte("--"+autotuneFlag+"\x00")...)
	if err := os.WriteFile(knows, blob, 0o644); err != nil {
		t.Fatal(err)
	}
	old := filepath.Join(dir, "old.so")
	if err := os.WriteFile(old, bytes.Repeat([]byte{1}, 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(dir, "cache")
	t.Setenv(AutotuneCacheEnv, cache)
	for _, c := range []struct {
		config, flags, env, want string
	}{
		{"xla:" + knows + ",notf32", "--xla_gpu_autotune_level=2", cache, "--xla_gpu_autotune_level=2 --" + autotuneFlag + "=" + cache},
		{"xla:" + old, "", cache, ""}, // the plugin does not know the flag
		{"xla:cuda", "", cache, ""},   // no path to check
		{"go", "", cache, ""},         // not XLA
		{"xla:" + knows, "--" + autotuneFlag + "=/x", cache, "--" + autotuneFlag + "=/x"}, // the user's
		{"xla:" + knows, "", "off", ""},
	} {
		t.Setenv("XLA_FLAGS", c.flags)
		t.Setenv(AutotuneCacheEnv, c.env)
		if _, err := withAutotuneCache(c.config); err != nil {
			t.Fatal(err)
		}
		want := c.want
		if want == "" {
			want = c.flags
		}
		if got := os.Getenv("XLA_FLAGS"); got != want {
			t.Errorf("%s with XLA_FLAGS %q, %s=%q: XLA_FLAGS %q, want %q", c.config, c.flags, AutotuneCacheEnv, c.env, got, want)
		}
	}
	if fi, err := os.Stat(cache); err != nil || !fi.IsDir() {
		t.Errorf("cache directory %s not created: %v", cache, err)
	}
}

// CompileForLatency adds its two XLA flags once, keeps what $XLA_FLAGS had, and leaves a flag the
// user set alone.
func TestCompileForLatency(t *testing.T) {
	t.Setenv("XLA_FLAGS", "--xla_dump_to=/tmp/x --xla_gpu_enable_triton_gemm=true")
	added, err := CompileForLatency()
	if err != nil {
		t.Fatal(err)
	}
	if len(added) != 1 || added[0] != "--xla_gpu_autotune_level=0" {
		t.Errorf("added %v, want only the autotune level (the user set the Triton flag)", added)
	}
	if got, want := os.Getenv("XLA_FLAGS"), "--xla_dump_to=/tmp/x --xla_gpu_enable_triton_gemm=true --xla_gpu_autotune_level=0"; got != want {
		t.Errorf("XLA_FLAGS %q, want %q", got, want)
	}
	if again, _ := CompileForLatency(); again != nil {
		t.Errorf("a second call added %v", again)
	}
	t.Setenv("XLA_FLAGS", "")
	if added, _ := CompileForLatency(); len(added) != 2 || os.Getenv("XLA_FLAGS") != "--xla_gpu_autotune_level=0 --xla_gpu_enable_triton_gemm=false" {
		t.Errorf("from empty: added %v, XLA_FLAGS %q", added, os.Getenv("XLA_FLAGS"))
	}
}

// AllocateOnDemand adds the on-demand allocator to an XLA CUDA configuration only, once, and never
// over an allocator the user chose.
func TestAllocateOnDemand(t *testing.T) {
	for in, want := range map[string]string{
		"xla:cuda":                              "xla:cuda,allocator=cuda_async",
		"xla:cuda,notf32":                       "xla:cuda,notf32,allocator=cuda_async",
		"xla:/opt/p/xla_cuda_plugin.so":         "xla:/opt/p/xla_cuda_plugin.so,allocator=cuda_async",
		"xla:cuda,allocator=bfc":                "xla:cuda,allocator=bfc",
		"xla:cpu":                               "xla:cpu",
		"go":                                    "go",
		"":                                      "",
		"go:parallelism=2":                      "go:parallelism=2",
		"xla:/opt/p/pjrt_c_api_cpu_plugin.so,x": "xla:/opt/p/pjrt_c_api_cpu_plugin.so,x",
	} {
		t.Setenv(EnvVar, in)
		added, err := AllocateOnDemand()
		if err != nil {
			t.Fatal(err)
		}
		if got := os.Getenv(EnvVar); got != want || (added != "") != (in != want) {
			t.Errorf("%q: %s=%q (added %q), want %q", in, EnvVar, got, added, want)
		}
		if again, _ := AllocateOnDemand(); again != "" {
			t.Errorf("%q: a second call added %q", in, again)
		}
	}
}
