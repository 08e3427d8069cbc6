package metrics

import (
	"fmt"
	"math"

	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// checkAct validates an activation argument of function fn: not nil, one of the accepted ranks,
// every axis non-empty, and as many values as its shape holds. want describes the expected layout
// ("[b, p, d]") for the message.
func checkAct(fn, arg string, a *transformer.Activation, want string, ranks ...int) error {
	if a == nil {
		return fmt.Errorf("%s: %s is nil; want an activation %s", fn, arg, want)
	}
	ok := false
	for _, r := range ranks {
		if len(a.Shape) == r {
			ok = true
		}
	}
	if !ok {
		return fmt.Errorf("%s: %s (%s) has shape %v (rank %d); want %s", fn, arg, a.Name, a.Shape, len(a.Shape), want)
	}
	n := 1
	for i, d := range a.Shape {
		if d <= 0 {
			return fmt.Errorf("%s: %s (%s) has shape %v: axis %d has size %d; want %s with every axis non-empty", fn, arg, a.Name, a.Shape, i, d, want)
		}
		n *= d
	}
	if len(a.Data) != n {
		return fmt.Errorf("%s: %s (%s) has shape %v (%d values) but holds %d values", fn, arg, a.Name, a.Shape, n, len(a.Data))
	}
	return nil
}

// tokenRows reads an activation [b, p, ...] as b·p rows of n values each (the trailing axes
// flattened): [b, p, h, dh] gives rows of h·dh, [b, p, d] rows of d.
func tokenRows(a *transformer.Activation) (b, p, n int) {
	b, p, n = a.Shape[0], a.Shape[1], 1
	for _, d := range a.Shape[2:] {
		n *= d
	}
	return b, p, n
}

// checkMatrix validates a row-major float32 matrix argument.
func checkMatrix(fn, arg string, m []float32, rows, cols int) error {
	if rows <= 0 || cols <= 0 {
		return fmt.Errorf("%s: %s has shape [%d, %d]; both sizes must be positive", fn, arg, rows, cols)
	}
	if len(m) != rows*cols {
		return fmt.Errorf("%s: %s holds %d values; want %d for shape [%d, %d]", fn, arg, len(m), rows*cols, rows, cols)
	}
	return nil
}

// checkIndex validates an index argument against [0, n).
func checkIndex(fn, arg string, i, n int, axis string) error {
	if i < 0 || i >= n {
		return fmt.Errorf("%s: %s %d is out of range [0, %d) (%s)", fn, arg, i, n, axis)
	}
	return nil
}

// checkTopK validates a top-k count against [0, n].
func checkTopK(fn string, k, n int) error {
	if k < 0 || k > n {
		return fmt.Errorf("%s: topK %d is out of range [0, %d]", fn, k, n)
	}
	return nil
}

// stdPop is the population standard deviation of float32 values, two-pass in float64.
func stdPop(x []float32) float64 {
	mean := 0.0
	for _, v := range x {
		mean += float64(v)
	}
	mean /= float64(len(x))
	ss := 0.0
	for _, v := range x {
		d := float64(v) - mean
		ss += d * d
	}
	return math.Sqrt(ss / float64(len(x)))
}
