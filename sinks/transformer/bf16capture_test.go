package transformer

import (
	"testing"

	"github.com/gomlx/compute/dtypes/bfloat16"
	. "github.com/gomlx/gomlx/core/graph"
)

// CaptureInBF16 returns each captured value rounded to bfloat16 (exactly what rounding the float32
// capture gives), labels it, and leaves the logits and a reduction exact.
func TestCaptureInBF16(t *testing.T) {
	cfg := tinyConfig()
	m := tinyModel(t, cfg)
	toks := seqs(3, 10, cfg.VocabSize)
	sum := Reduction{Point: "blocks.0.hook_resid_post", ID: "sum", Fn: func(_ *HookContext, x *Node) []*Node {
		return []*Node{ReduceSum(x, 1)} // [b, p, d] → [b, d]
	}}
	points := []string{"blocks.*.attn.hook_pattern", "blocks.0.hook_resid_post"}
	exact, err := m.Run(toks, Capture(points...), Reduce(sum))
	if err != nil {
		t.Fatal(err)
	}
	half, err := m.Run(toks, Capture(points...), Reduce(sum), CaptureInBF16())
	if err != nil {
		t.Fatal(err)
	}
	names := exact.Cache.Names()
	if len(names) < 3 {
		t.Fatalf("captured %v, want the patterns of every layer and one residual stream", names)
	}
	changed := 0
	for _, name := range names {
		e, h := exact.Cache.MustGet(name), half.Cache.MustGet(name)
		if e.Rounded != "" || h.Rounded != "bfloat16" {
			t.Errorf("%s: Rounded %q (float32 run) and %q (bfloat16 run), want \"\" and \"bfloat16\"", name, e.Rounded, h.Rounded)
		}
		for i, x := range e.Data {
			want := bfloat16.FromFloat32(x).Float32()
			if h.Data[i] != want {
				t.Fatalf("%s[%d]: %g, want %g (the float32 value %g rounded to bfloat16)", name, i, h.Data[i], want, x)
			}
			if want != x {
				changed++
			}
		}
	}
	if changed == 0 {
		t.Errorf("no captured value changed in bfloat16: the comparison does not test the rounding")
	}
	for i, x := range exact.Logits.Data {
		if half.Logits.Data[i] != x {
			t.Fatalf("logits[%d]: %g with bfloat16 captures, %g without: the logits must stay float32", i, half.Logits.Data[i], x)
		}
	}
	e, h := exact.Reduced["sum"]["blocks.0.hook_resid_post"][0], half.Reduced["sum"]["blocks.0.hook_resid_post"][0]
	for i, x := range e.Data {
		if h.Data[i] != x {
			t.Fatalf("reduction[%d]: %g with bfloat16 captures, %g without: reductions must stay float32", i, h.Data[i], x)
		}
	}
}
