package transformer

import (
	"strings"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/support/exceptions"
)

// halfEinsum is Einsum for two half-precision (bfloat16) operands whose gradient products stay in
// half precision, as mixed-precision training in PyTorch (autocast) and JAX computes them.
//
// Why not graph.Einsum: for half-precision operands GoMLX's Dot sets a float32 accumulator, and its
// DotGeneral gradient does its products in the accumulator's dtype, so the backward pass of a
// bfloat16 product converted both operands to float32 and ran float32 products (on an H200, 146 of
// the 219 products of a gpu-28m training step were float32 before this). Here the forward product is built
// without an explicit accumulator (the result is bfloat16; XLA's GPU kernels accumulate bfloat16
// products in float32 all the same), so its gradient products take the incoming gradient's dtype,
// bfloat16, and those get GoMLX's float32 accumulator like any bfloat16 product.
//
// eq is a two-operand equation of single-letter axes with no repeated letter in an operand and
// every output letter in an operand: a letter in both operands and the output is a batch axis, in
// both operands only a contracted axis, in one operand and the output a free axis.
func halfEinsum(eq string, a, b *Node) *Node {
	ins, out, ok := strings.Cut(eq, "->")
	as, bs, ok2 := strings.Cut(ins, ",")
	if !ok || !ok2 || len(as) != a.Rank() || len(bs) != b.Rank() {
		exceptions.Panicf("halfEinsum(%q): want `ab,cd->e` with one letter per axis of %s and %s", eq, a.Shape(), b.Shape())
	}
	var aBatch, bBatch, aContract, bContract []int
	var order []byte // the letters of General's result: batch axes, then a's free axes, then b's
	for i := range len(as) {
		c := as[i]
		j, o := strings.IndexByte(bs, c), strings.IndexByte(out, c)
		switch {
		case j >= 0 && o >= 0:
			aBatch, bBatch = append(aBatch, i), append(bBatch, j)
			order = append(order, c)
		case j >= 0:
			aContract, bContract = append(aContract, i), append(bContract, j)
		case o < 0:
			exceptions.Panicf("halfEinsum(%q): axis %q of the first operand is neither in the second nor in the output", eq, c)
		}
	}
	for _, src := range []string{as, bs} {
		for i := range len(src) {
			c := src[i]
			if strings.IndexByte(out, c) >= 0 && strings.IndexByte(string(order), c) < 0 {
				order = append(order, c)
			}
		}
	}
	for i := range len(bs) {
		if strings.IndexByte(as, bs[i]) < 0 && strings.IndexByte(out, bs[i]) < 0 {
			exceptions.Panicf("halfEinsum(%q): axis %q of the second operand is neither in the first nor in the output", eq, bs[i])
		}
	}
	if len(order) != len(out) {
		exceptions.Panicf("halfEinsum(%q): the output names an axis of no operand", eq)
	}
	y := Dot(a, b).WithAccumulatorDType(dtypes.InvalidDType).General(aContract, aBatch, bContract, bBatch)
	perm := make([]int, len(out))
	identity := true
	for i := range len(out) {
		perm[i] = strings.IndexByte(string(order), out[i])
		identity = identity && perm[i] == i
	}
	if identity {
		return y
	}
	return TransposeAllAxes(y, perm...)
}
