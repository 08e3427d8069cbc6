package transformer

import (
	"fmt"
	"math"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
)

// A reduction at every layer's pattern returns the per-head sum of column 0 and matches the same
// sum taken on the host from the captured pattern; a second run with other tokens reuses the graph.
func TestReduceMatchesCapture(t *testing.T) {
	cfg := tinyConfig()
	m := tinyModel(t, cfg)
	col0 := Reduction{Point: "blocks.*.attn.hook_pattern", ID: "col0-per-head",
		Fn: func(ctx *HookContext, x *Node) []*Node { // x [b, h, q, k]
			c := Slice(x, AxisRange(), AxisRange(), AxisRange(), AxisElem(0)) // [b, h, q, 1]
			return []*Node{ReduceSum(c, 0, 2, 3), ReduceSum(x)}               // [h], []
		}}
	toks := seqs(3, 10, cfg.VocabSize)
	for run, tk := range [][][]int{toks, seqs(3, 10, cfg.VocabSize-7)} {
		res, err := m.Run(tk, Capture("blocks.*.attn.hook_pattern"), Reduce(col0), NoLogits())
		if err != nil {
			t.Fatal(err)
		}
		for l := 0; l < cfg.NLayers; l++ {
			pat := res.Cache.MustGet("pattern", l)
			name := "blocks." + string(rune('0'+l)) + ".attn.hook_pattern"
			outs := res.Reduced["col0-per-head"][name]
			if len(outs) != 2 {
				t.Fatalf("layer %d: %d outputs, want 2 (got %v)", l, len(outs), res.Reduced)
			}
			B, H, T := pat.Shape[0], pat.Shape[1], pat.Shape[2]
			if len(outs[0].Shape) != 1 || outs[0].Shape[0] != H || len(outs[1].Shape) != 0 {
				t.Fatalf("layer %d: output shapes %v %v, want [%d] []", l, outs[0].Shape, outs[1].Shape, H)
			}
			total := 0.0
			for h := 0; h < H; h++ {
				want := 0.0
				for b := 0; b < B; b++ {
					for q := 0; q < T; q++ {
						v, _ := pat.At(b, h, q, 0)
						want += float64(v)
					}
				}
				if got := float64(outs[0].Data[h]); math.Abs(got-want) > 1e-5*math.Max(1, want) {
					t.Fatalf("layer %d head %d: column-0 sum %g on the device, %g on the host", l, h, got, want)
				}
			}
			for _, v := range pat.Data {
				total += float64(v)
			}
			if got := float64(outs[1].Data[0]); math.Abs(got-total) > 1e-4*total { // rows sum to 1: B·H·T
				t.Fatalf("layer %d: pattern sum %g on the device, %g on the host", l, got, total)
			}
		}
		if run == 1 && m.Compilations() != 1 {
			t.Fatalf("%d graphs built for two runs of the same structure and shapes, want 1", m.Compilations())
		}
	}
	// Without the capture only the reductions leave the device, and the graph stops at the last
	// block a reduction reads.
	res, err := m.Run(toks, Reduce(Reduction{Point: "blocks.0.attn.hook_pattern", ID: "sum",
		Fn: func(_ *HookContext, x *Node) []*Node { return []*Node{ReduceSum(x)} }}), NoLogits())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Cache.acts) != 0 || res.Logits != nil || len(res.Reduced["sum"]) != 1 {
		t.Fatalf("reduction-only run returned cache %v, logits %v, reductions %v", res.Cache.Names(), res.Logits != nil, res.Reduced)
	}
}

func TestReduceBadInputs(t *testing.T) {
	cfg := tinyConfig()
	m := tinyModel(t, cfg)
	toks := seqs(2, 8, cfg.VocabSize)
	sum := func(_ *HookContext, x *Node) []*Node { return []*Node{ReduceSum(x)} }
	for _, c := range []struct {
		r    []Reduction
		want string
	}{
		{[]Reduction{{Point: "blocks.9.attn.hook_pattern", ID: "a", Fn: sum}}, "blocks.9.attn.hook_pattern"},
		{[]Reduction{{Point: "blocks.0.attn.hook_pattern", Fn: sum}}, "no ID"},
		{[]Reduction{{Point: "blocks.0.attn.hook_pattern", ID: "a"}}, "no function"},
		{[]Reduction{{Point: "blocks.1.attn.hook_pattern", ID: "a", Fn: sum}, {Point: "blocks.*.attn.hook_pattern", ID: "a", Fn: sum}}, "given twice at blocks.1.attn.hook_pattern"},
		{[]Reduction{{Point: "blocks.0.attn.hook_pattern", ID: "a",
			Fn: func(*HookContext, *Node) []*Node { return nil }}}, "returned no outputs"},
	} {
		_, err := m.Run(toks, Reduce(c.r...), NoLogits())
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("reductions %v: error %v, want one mentioning %q", c.r, err, c.want)
		}
	}
}

// One reduction ID at chosen layers: each layer's output is under its own hook name, as with a glob
// over all of them, and stage by stage the blocks that ask for it share one compiled graph.
func TestReduceOneIDAtSeveralPoints(t *testing.T) {
	cfg := tinyConfig()
	cfg.NLayers = 4
	toks := seqs(2, 8, cfg.VocabSize)
	sum := func(_ *HookContext, x *Node) []*Node { return []*Node{ReduceSum(x, 1, 2, 3)} } // [b]
	at := func(layers ...int) []Reduction {
		var rs []Reduction
		for _, l := range layers {
			rs = append(rs, Reduction{Point: fmt.Sprintf("blocks.%d.attn.hook_pattern", l), ID: "rows", Fn: sum})
		}
		return rs
	}
	glob, err := tinyModel(t, cfg).Run(toks, Reduce(Reduction{Point: "blocks.*.attn.hook_pattern", ID: "rows", Fn: sum}), NoLogits())
	if err != nil {
		t.Fatal(err)
	}
	for _, layered := range []bool{false, true} {
		m := tinyModel(t, cfg)
		m.SetLayered(layered)
		res, err := m.Run(toks, Reduce(at(0, 2, 3)...), NoLogits())
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Reduced["rows"]) != 3 {
			t.Fatalf("layered %v: outputs at %d hook points, want 3", layered, len(res.Reduced["rows"]))
		}
		for _, l := range []int{0, 2, 3} {
			name := fmt.Sprintf("blocks.%d.attn.hook_pattern", l)
			got, want := res.Reduced["rows"][name], glob.Reduced["rows"][name]
			if len(got) != 1 || len(got[0].Data) != 2 || math.Abs(float64(got[0].Data[0]-want[0].Data[0])) > 1e-5 {
				t.Errorf("layered %v, %s: %v, the glob run gave %v", layered, name, got, want)
			}
		}
		// embedding, the reducing block (layers 0, 2, 3), the plain block (layer 1)
		if want := map[bool]int{false: 1, true: 3}[layered]; m.Compilations() != want {
			t.Errorf("layered %v: %d graphs compiled, want %d", layered, m.Compilations(), want)
		}
	}
}

// A reduction sees the activation after the hooks at its point: scaling hook_z by 3 triples the
// reduced sum, and the later layers are unaffected by the reduction itself (the logits are those of
// the hooked run without it).
func TestReduceSeesHookedValue(t *testing.T) {
	cfg := tinyConfig()
	m := tinyModel(t, cfg)
	toks := seqs(2, 9, cfg.VocabSize)
	sum := Reduction{Point: "blocks.0.attn.hook_z", ID: "sum-abs",
		Fn: func(_ *HookContext, x *Node) []*Node { return []*Node{ReduceAllSum(Abs(x))} }}
	triple := Hook{Point: "blocks.0.attn.hook_z", ID: "triple", Fn: func(_ *HookContext, x *Node) *Node { return MulScalar(x, 3) }}
	plain, err := m.Run(toks, Reduce(sum))
	if err != nil {
		t.Fatal(err)
	}
	hooked, err := m.Run(toks, Reduce(sum), WithHooks(triple))
	if err != nil {
		t.Fatal(err)
	}
	hookedOnly, err := m.Run(toks, WithHooks(triple))
	if err != nil {
		t.Fatal(err)
	}
	a := float64(plain.Reduced["sum-abs"]["blocks.0.attn.hook_z"][0].Data[0])
	b := float64(hooked.Reduced["sum-abs"]["blocks.0.attn.hook_z"][0].Data[0])
	if a == 0 || math.Abs(b-3*a) > 1e-4*b {
		t.Fatalf("reduced sum %g without the hook, %g with it; want 3×", a, b)
	}
	for i, v := range hooked.Logits.Data {
		if v != hookedOnly.Logits.Data[i] {
			t.Fatalf("logit %d: %g with the reduction, %g without: a reduction must not change the run", i, v, hookedOnly.Logits.Data[i])
		}
	}
}
