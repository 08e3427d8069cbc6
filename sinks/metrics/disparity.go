package metrics

import (
	"fmt"
	"math"

	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// checkTokenArgs validates x [b, p, d] and a position, for the per-token statistics below.
func checkTokenArgs(fn string, x *transformer.Activation, pos int) error {
	if err := checkAct(fn, "x", x, "[b, p, d]", 3); err != nil {
		return err
	}
	return checkIndex(fn, "pos", pos, x.Shape[1], fmt.Sprintf("positions of x %v", x.Shape))
}

// MassiveDim finds the massive-activation dimension of the token at position pos (paper Table 1;
// Llama-2-7B: dim 2533 at token 0): the hidden dimension with the largest mean |x[b, pos, j]| over
// the batch, and that mean. x is [b, p, d], e.g. blocks.{L}.hook_resid_pre or ln1.hook_normalized.
// Ties go to the lower dimension.
func MassiveDim(x *transformer.Activation, pos int) (dim int, meanAbs float64, err error) {
	const fn = "MassiveDim"
	if err := checkTokenArgs(fn, x, pos); err != nil {
		return 0, 0, err
	}
	B, P, D := x.Shape[0], x.Shape[1], x.Shape[2]
	m := make([]float64, D)
	for b := 0; b < B; b++ {
		for j, v := range x.Data[(b*P+pos)*D : (b*P+pos+1)*D] {
			m[j] += math.Abs(float64(v))
		}
	}
	for j := range m {
		if m[j] > m[dim] {
			dim = j
		}
	}
	return dim, m[dim] / float64(B), nil
}

// DimensionDisparity is paper Table 1's dimension disparity (Llama-2-7B: 262.88 for token 0, dim
// 2533, at layer 2's input norm): for each sample, |x[b, pos, dim]| divided by the mean of
// |x[b, pos, j]| over the other dimensions j ≠ dim, then the mean of these per-sample ratios over
// the batch. x is the next layer's normalised input [b, p, d] (blocks.{L+1}.ln1.hook_normalized),
// d ≥ 2. A sample whose other dimensions are all zero is an error (the ratio is infinite).
//
// The authors' notebook divides the batch means instead (mean |x[dim]| ÷ mean of the per-sample
// means of the others): DimensionDisparityPooled. The two agree when the ratio varies little
// across samples, as for token 0.
func DimensionDisparity(x *transformer.Activation, pos, dim int) (float64, error) {
	target, others, err := disparityTerms("DimensionDisparity", x, pos, dim)
	if err != nil {
		return 0, err
	}
	r := 0.0
	for b := range target {
		r += target[b] / others[b]
	}
	return r / float64(len(target)), nil
}

// DimensionDisparityPooled is the dimension disparity as the authors' notebook computes it (paper
// Table 1): the batch mean of |x[b, pos, dim]| divided by the batch mean of
// mean_{j≠dim} |x[b, pos, j]|. Arguments as DimensionDisparity.
func DimensionDisparityPooled(x *transformer.Activation, pos, dim int) (float64, error) {
	target, others, err := disparityTerms("DimensionDisparityPooled", x, pos, dim)
	if err != nil {
		return 0, err
	}
	var t, o float64
	for b := range target {
		t += target[b]
		o += others[b]
	}
	return t / o, nil
}

// disparityTerms returns, per sample, |x[dim]| and the mean |x[j]| over j ≠ dim at position pos.
func disparityTerms(fn string, x *transformer.Activation, pos, dim int) (target, others []float64, err error) {
	if err := checkTokenArgs(fn, x, pos); err != nil {
		return nil, nil, err
	}
	B, P, D := x.Shape[0], x.Shape[1], x.Shape[2]
	if err := checkIndex(fn, "dim", dim, D, fmt.Sprintf("hidden dimensions of x %v", x.Shape)); err != nil {
		return nil, nil, err
	}
	if D < 2 {
		return nil, nil, fmt.Errorf("%s: x has shape %v; the disparity needs at least 2 hidden dimensions", fn, x.Shape)
	}
	target, others = make([]float64, B), make([]float64, B)
	for b := 0; b < B; b++ {
		row := x.Data[(b*P+pos)*D : (b*P+pos+1)*D]
		s := 0.0
		for j, v := range row {
			if j != dim {
				s += math.Abs(float64(v))
			}
		}
		if s == 0 {
			return nil, nil, fmt.Errorf("%s: sample %d of x (%s) is zero outside dim %d at position %d; the disparity is infinite", fn, b, x.Name, dim, pos)
		}
		target[b] = math.Abs(float64(row[dim]))
		others[b] = s / float64(D-1)
	}
	return target, others, nil
}

// DominanceRatio is how far one dimension dominates the token at position pos, without naming it
// (a companion of paper Table 1): per sample max_j |x[b, pos, j]| ÷ mean_j |x[b, pos, j]| (all d
// dimensions), then the mean over the batch. 1 for a flat vector, d for a basis vector. x is
// [b, p, d]; an all-zero token is an error.
func DominanceRatio(x *transformer.Activation, pos int) (float64, error) {
	const fn = "DominanceRatio"
	if err := checkTokenArgs(fn, x, pos); err != nil {
		return 0, err
	}
	B, P, D := x.Shape[0], x.Shape[1], x.Shape[2]
	r := 0.0
	for b := 0; b < B; b++ {
		var mx, s float64
		for _, v := range x.Data[(b*P+pos)*D : (b*P+pos+1)*D] {
			a := math.Abs(float64(v))
			s += a
			mx = math.Max(mx, a)
		}
		if s == 0 {
			return 0, fmt.Errorf("%s: sample %d of x (%s) is all zeros at position %d", fn, b, x.Name, pos)
		}
		r += mx / (s / float64(D))
	}
	return r / float64(B), nil
}
