package transformer

import (
	"math"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// halfEinsum computes every product of the forward pass as Einsum does, in bfloat16: the same axes
// in the same order, values within bfloat16 rounding of the float32 product of the same operands.
func TestHalfEinsumMatchesEinsum(t *testing.T) {
	be := testBackend(t)
	cases := []struct {
		eq     string
		da, db []int
	}{
		{"bpi,oi->bpo", []int{2, 5, 8}, []int{6, 8}},
		{"bqhd,bkhd->bhqk", []int{2, 5, 3, 4}, []int{2, 5, 3, 4}},
		{"bhqk,bkhd->bqhd", []int{2, 3, 5, 5}, []int{2, 5, 3, 4}},
		{"bphe,dhe->bpd", []int{2, 5, 3, 4}, []int{6, 3, 4}},
		{"bphe,dhe->bphd", []int{2, 5, 3, 4}, []int{6, 3, 4}},
		{"bpd,vd->bpv", []int{2, 5, 6}, []int{7, 6}},
		{"bqhd,hd->bhq", []int{2, 5, 3, 4}, []int{3, 4}},
	}
	fill := func(dims []int, seed int) *tensors.Tensor {
		n := 1
		for _, d := range dims {
			n *= d
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(math.Sin(float64(i*7+seed))) * 2
		}
		return tensors.FromFlatDataAndDimensions(v, dims...)
	}
	for _, c := range cases {
		out := MustExecOnceN(be, func(a, b *Node) []*Node {
			ah, bh := ConvertDType(a, dtypes.BFloat16), ConvertDType(b, dtypes.BFloat16)
			half := halfEinsum(c.eq, ah, bh)
			want := Einsum(c.eq, ConvertDType(ah, dtypes.Float32), ConvertDType(bh, dtypes.Float32))
			return []*Node{ConvertDType(half, dtypes.Float32), want}
		}, fill(c.da, 1), fill(c.db, 2))
		got, want := out[0], out[1]
		if got.Shape().DType != dtypes.Float32 || !got.Shape().Equal(want.Shape()) {
			t.Errorf("%s: shape %s, Einsum's %s", c.eq, got.Shape(), want.Shape())
			continue
		}
		g, w := tensors.MustCopyFlatData[float32](got), tensors.MustCopyFlatData[float32](want)
		for i := range w {
			if d := math.Abs(float64(g[i] - w[i])); d > 1e-2*math.Max(1, math.Abs(float64(w[i]))) {
				t.Errorf("%s: element %d = %g, Einsum %g", c.eq, i, g[i], w[i])
				break
			}
		}
	}
}

// In mixed-precision training every matrix product of the step, forward and backward, multiplies
// bfloat16 operands (graph.Einsum's gradient multiplied float32 copies of them in the backward pass).
func TestMixedPrecisionGradientProductsAreBF16(t *testing.T) {
	be := testBackend(t)
	for _, variant := range []string{"llama", "sinkkv", "gated"} {
		cfg := tinyConfig()
		switch variant {
		case "sinkkv":
			cfg.SinkKV = true
		case "gated":
			cfg.GatedAttention = true
		}
		store := model.NewStore()
		weights := RandomWeights(cfg, RandomInit{Seed: 3, Std: 0.1})
		for _, name := range cfg.ParamNames() {
			if _, err := store.CreateVariable("/"+name, weights[name]); err != nil {
				t.Fatal(err)
			}
		}
		g := NewGraph(be, "mixed-grad")
		tokens := Parameter(g, "tokens", shapes.Make(dtypes.Int32, 2, 8))
		loss := ReduceAllSum(ForwardMixed(store, cfg, tokens, dtypes.BFloat16))
		var params []*Node
		for _, name := range cfg.ParamNames() {
			params = append(params, store.GetVariable("/"+name).NodeValue(g))
		}
		_ = Gradient(loss, params...)
		products, wide := 0, 0
		for _, n := range g.Nodes() {
			if n.Type() != NodeTypeDotGeneral {
				continue
			}
			products++
			for _, in := range n.Inputs() {
				if in.DType() != dtypes.BFloat16 {
					wide++
					t.Errorf("%s: a product multiplies a %s operand %s: %s", variant, in.DType(), in.Shape(), n)
					break
				}
			}
		}
		if products < 3*7*cfg.NLayers || wide > 0 {
			t.Errorf("%s: %d products in the step's graph (%d with a wider operand); want at least %d forward and backward, all bfloat16", variant, products, wide, 3*7*cfg.NLayers)
		}
		g.Finalize()
	}
}
