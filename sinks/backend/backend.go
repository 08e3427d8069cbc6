// Package backend chooses the GoMLX compute backend sinkscope runs on.
//
// The choice is explicit: $GOMLX_BACKEND when it is set (for example "go", "go:parallelism=2",
// "xla:cuda" or "xla:/abs/path/pjrt_c_api_cuda_plugin.so"), otherwise the pure-Go "go" backend.
// GoMLX's own default prefers XLA and fails offline instead of falling back, so sinkscope never
// relies on it. Every command prints Describe(backend) so a run always says where it ran.
package backend

import (
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/gomlx/compute"
	_ "github.com/gomlx/compute/gobackend" // the pure-Go backend, always available.
)

// EnvVar is the environment variable that selects the backend.
const EnvVar = compute.ConfigEnvVar

// Default is the backend used when $GOMLX_BACKEND is empty.
const Default = "go"

// Config returns the backend configuration that New will use.
func Config() string {
	if c := strings.TrimSpace(os.Getenv(EnvVar)); c != "" {
		return c
	}
	return Default
}

// New returns the backend named by Config. On XLA, TF32 matrix multiplication is turned off unless the
// configuration asks for it ("xla:cuda,tf32"): with TF32 the logits of the parity tests move by
// about 1e-2 and attention probabilities by 1e-3, too much for float32 statistics.
func New() (compute.Backend, error) {
	return NewWithConfig(Config())
}

// NewWithConfig returns the backend for an explicit configuration string.
func NewWithConfig(config string) (compute.Backend, error) {
	name := config
	if i := strings.IndexByte(name, ':'); i >= 0 {
		name = name[:i]
	}
	known := compute.List()
	found := false
	for _, k := range known {
		if k == name {
			found = true
		}
	}
	if !found {
		return nil, fmt.Errorf("backend %q (from %s=%q) is not compiled in; available: %v", name, EnvVar, config, known)
	}
	config = WithPrecision(config)
	if _, err := withAutotuneCache(config); err != nil {
		return nil, err
	}
	b, err := compute.NewWithConfig(config)
	if err != nil {
		return nil, fmt.Errorf("creating backend %q: %w", config, err)
	}
	return b, nil
}

// WithPrecision adds "notf32" to an XLA configuration that says nothing about TF32.
func WithPrecision(config string) string {
	name, opts, _ := strings.Cut(config, ":")
	if name != "xla" || strings.Contains(opts, "tf32") {
		return config
	}
	if opts == "" {
		return config + ":notf32"
	}
	return config + ",notf32"
}

// BF16Products runs fn, which builds or runs graphs whose matrix products all take bfloat16
// operands (mixed-precision training: transformer.ForwardMixed with BFloat16), with XLA's DEFAULT
// precision for the products it compiles, instead of the HIGHEST that "notf32" (New's default, for
// exact float32 statistics) gives every product. go-xla applies HIGHEST to bfloat16 products too, and
// on CUDA that runs them at float32 speed: measured on one H200, training random:gpu-28m (32 × 256
// tokens, bf16 products) went from 205k to 419k tokens/s and random:paper-152m (8 × 1024) from 52.5k
// to 125k with DEFAULT. Operands already bfloat16 lose nothing to DEFAULT; a float32 product compiled
// inside fn would run in TF32, so fn must build none. go-xla reads the setting while it builds a
// graph, so BF16Products holds a lock for fn's duration; graphs built outside it at the same time
// on the same backend would see DEFAULT too, which is why sinkscope builds graphs from one goroutine
// while it trains. Other backends than XLA run fn unchanged.
func BF16Products(b compute.Backend, fn func() error) error {
	precisionMu.Lock()
	defer precisionMu.Unlock()
	restore := defaultDotPrecision(b)
	defer restore()
	return fn()
}

var precisionMu sync.Mutex

// Describe is a one-line description of a backend for command output.
func Describe(b compute.Backend) string {
	if b == nil {
		return "backend: <nil>"
	}
	return fmt.Sprintf("backend: %s (%s), %d device(s)", b.Name(), b.Description(), b.NumDevices())
}
