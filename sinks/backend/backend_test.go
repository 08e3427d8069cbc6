package backend

import (
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
