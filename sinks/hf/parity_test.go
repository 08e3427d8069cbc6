package hf_test

import (
	"encoding/binary"
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"github.com/gomlx/compute/dtypes"

	"github.com/sinkscope/sinkscope/sinks/backend"
	"github.com/sinkscope/sinkscope/sinks/hf"
	"github.com/sinkscope/sinkscope/sinks/safetensors"
	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// parityDir holds tiny random checkpoints saved by HF transformers and the activations transformers
// computed for them (see its README and make_fixtures.py).
const parityDir = "../transformer/testdata/parity"

// Tolerances of the parity contract: logits within 1e-4, attention probabilities within 1e-5.
const (
	logitsTol = 1e-4
	attnTol   = 1e-5
	actTol    = 1e-4 // intermediate activations
)

// TestParityWithTransformers loads each fixture through the real loader and compares every
// reference tensor with the matching hook point.
func TestParityWithTransformers(t *testing.T) {
	be, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s", backend.Describe(be))
	for _, arch := range []string{"llama2", "llama3", "mistral", "qwen2", "qwen3", "gpt2"} {
		t.Run(arch, func(t *testing.T) {
			dir := filepath.Join(parityDir, arch)
			ck, err := hf.Load(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			cfg := ck.Config
			m, err := transformer.New(be, cfg, ck.Weights)
			if err != nil {
				t.Fatal(err)
			}
			ref, err := safetensors.Open(filepath.Join(dir, "expected.safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			defer ref.Close()
			tokens := readTokens(t, ref)
			res, err := m.Run(tokens, transformer.Capture("*"))
			if err != nil {
				t.Fatal(err)
			}
			c := res.Cache
			L := cfg.NLayers
			compare(t, ref, "logits", res.Logits, logitsTol)
			for l := 0; l < L; l++ {
				compare(t, ref, fmt.Sprintf("attn.%d", l), c.MustGet("pattern", l), attnTol)
				compare(t, ref, fmt.Sprintf("resid_post.%d", l), c.MustGet("resid_post", l), actTol)
				compare(t, ref, fmt.Sprintf("z.%d", l), c.MustGet("z", l), actTol) // [b,p,h,dh] = [b,p,h·dh] flat
				compare(t, ref, fmt.Sprintf("mlp_post.%d", l), c.MustGet("mlp.post", l), actTol)
				compare(t, ref, fmt.Sprintf("q.%d", l), c.MustGet("attn.q", l), actTol)
				compare(t, ref, fmt.Sprintf("k.%d", l), c.MustGet("attn.k", l), actTol)
			}
			// HF's hidden_states: embeddings, block outputs, and the last block's output after the
			// final norm.
			embed := c.MustGet("hook_embed")
			if cfg.Position == transformer.Learned {
				pos := c.MustGet("hook_pos_embed")
				sum := &transformer.Activation{Name: "hook_embed + hook_pos_embed", Shape: embed.Shape, Data: make([]float32, len(embed.Data))}
				for i := range sum.Data {
					sum.Data[i] = embed.Data[i] + pos.Data[i]
				}
				embed = sum
			}
			compare(t, ref, "hidden.0", embed, actTol)
			compare(t, ref, fmt.Sprintf("hidden.%d", L), c.MustGet("ln_final.hook_normalized"), actTol)
			if cfg.Position == transformer.RoPE {
				want, err := ref.ReadFloat32("inv_freq")
				if err != nil {
					t.Fatal(err)
				}
				got := transformer.RopeInvFreq(cfg)
				for i := range want {
					if rel := math.Abs(float64(got[i]-want[i])) / float64(want[i]); rel > 1e-6 {
						t.Errorf("inv_freq[%d] = %g, transformers %g", i, got[i], want[i])
					}
				}
			}
		})
	}
}

// Weights kept in bfloat16 (the GPU option) compute in float32 from the same values: the llama3
// fixture is stored in bf16, so its parity must hold unchanged.
func TestParityBFloat16Weights(t *testing.T) {
	be, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(parityDir, "llama3")
	ck, err := hf.Load(dir, &hf.Options{DType: dtypes.BFloat16})
	if err != nil {
		t.Fatal(err)
	}
	if dt := ck.Weights["embed/weights"].DType(); dt != dtypes.BFloat16 {
		t.Fatalf("embed/weights loaded as %s, want bfloat16", dt)
	}
	m, err := transformer.New(be, ck.Config, ck.Weights)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := safetensors.Open(filepath.Join(dir, "expected.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	res, err := m.Run(readTokens(t, ref), transformer.Capture("blocks.*.attn.hook_pattern"))
	if err != nil {
		t.Fatal(err)
	}
	compare(t, ref, "logits", res.Logits, logitsTol)
	compare(t, ref, "attn.1", res.Cache.MustGet("pattern", 1), attnTol)
}

func readTokens(t *testing.T, ref *safetensors.File) [][]int {
	t.Helper()
	raw, info, err := ref.ReadRaw("tokens")
	if err != nil {
		t.Fatal(err)
	}
	if info.DType != safetensors.I64 || len(info.Shape) != 2 {
		t.Fatalf("tokens: dtype %s shape %v, want I64 [b, p]", info.DType, info.Shape)
	}
	B, T := int(info.Shape[0]), int(info.Shape[1])
	out := make([][]int, B)
	for b := range out {
		out[b] = make([]int, T)
		for p := range out[b] {
			out[b][p] = int(int64(binary.LittleEndian.Uint64(raw[8*(b*T+p):])))
		}
	}
	return out
}

// compare checks max |ours − transformers| ≤ tol over the flattened tensors, which must have the
// same number of elements (our per-head layouts flatten to HF's concatenated-head layouts).
func compare(t *testing.T, ref *safetensors.File, name string, got *transformer.Activation, tol float64) {
	t.Helper()
	want, err := ref.ReadFloat32(name)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if len(want) != len(got.Data) {
		info, _ := ref.Info(name)
		t.Fatalf("%s: transformers has %v (%d values), %s has %v (%d values)", name, info.Shape, len(want), got.Name, got.Shape, len(got.Data))
	}
	maxDiff, at := 0.0, 0
	for i := range want {
		d := math.Abs(float64(want[i] - got.Data[i]))
		if d > maxDiff || math.IsNaN(d) {
			maxDiff, at = d, i
		}
	}
	if maxDiff > tol || math.IsNaN(maxDiff) {
		t.Errorf("%s vs %s: max |diff| = %.3g at flat index %d (ours %g, transformers %g), tolerance %g", got.Name, name, maxDiff, at, got.Data[at], want[at], tol)
	} else {
		t.Logf("%-14s max |diff| %.2g", name, maxDiff)
	}
}
