package metrics

import (
	"fmt"
	"math"

	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// RowNorms ranks the rows of a weight matrix by L2 norm (paper Fig. 8).
type RowNorms struct {
	Norms []float64 `json:"norms"` // L2 norm of each row, in the original row order
	Order []int     `json:"order"` // row indices by decreasing norm (ties: lower index first)
	Top   []int     `json:"top"`   // Order[:topK]: the super-neuron candidates
	Mean  float64   `json:"mean"`  // mean row norm (the figure's reference line)
}

// RowNormRanking identifies super-neuron candidates by weight norm (paper Fig. 8): w is a row-major
// [rows, cols] matrix, typically blocks/{L}/mlp/gate/weights or mlp/up/weights [F, D] (one row per
// FFN neuron); topK in [0, rows] (the paper marks the top 5).
func RowNormRanking(w []float32, rows, cols, topK int) (*RowNorms, error) {
	const fn = "RowNormRanking"
	if err := checkMatrix(fn, "w", w, rows, cols); err != nil {
		return nil, err
	}
	if err := checkTopK(fn, topK, rows); err != nil {
		return nil, err
	}
	r := &RowNorms{Norms: make([]float64, rows)}
	for i := 0; i < rows; i++ {
		row := w[i*cols : (i+1)*cols]
		r.Norms[i] = math.Sqrt(dot32(row, row))
		r.Mean += r.Norms[i]
	}
	r.Mean /= float64(rows)
	r.Order = descendingOrder(r.Norms)
	r.Top = append([]int(nil), r.Order[:topK]...)
	return r, nil
}

// Contrast ranks FFN neurons by how selectively they fire on token 0, for small trained models
// whose token-0 channel is not a weight-norm outlier (a complement to paper Fig. 8). The paper
// gives no formula, so both readings are kept: the ratio First/Rest (selectivity: a weak channel
// that is silent elsewhere ranks high) and the difference First − Rest (magnitude: the channel
// that adds the most to token 0). The sinkscope findings pick the super neuron by difference.
type Contrast struct {
	// Score[n] = First[n] / (Rest[n] + 1e-12): the ratio reading; Order ranks by it.
	Score []float64 `json:"score"`
	// Diff[n] = First[n] − Rest[n]: the difference reading; OrderByDiff ranks by it.
	Diff        []float64 `json:"diff"`
	OrderByDiff []int     `json:"order_by_diff"`
	TopByDiff   []int     `json:"top_by_diff"`
	// First[n] is the mean |a| of neuron n at position 0 over the batch; Rest[n] its mean |a| over
	// the batch and positions 1..p−1.
	First []float64 `json:"first"`
	Rest  []float64 `json:"rest"`
	Order []int     `json:"order"` // neurons by decreasing Score (ties: lower index first)
	Top   []int     `json:"top"`   // Order[:topK]
}

// ActivationContrast scores every neuron of an FFN activation act [b, p, f] (e.g.
// blocks.{L}.mlp.hook_post, the W_down input) by its first-token contrast; act needs at least 2
// positions, topK is in [0, f].
func ActivationContrast(act *transformer.Activation, topK int) (*Contrast, error) {
	const fn = "ActivationContrast"
	if err := checkAct(fn, "act", act, "[b, p, f]", 3); err != nil {
		return nil, err
	}
	B, P, F := act.Shape[0], act.Shape[1], act.Shape[2]
	if P < 2 {
		return nil, fmt.Errorf("%s: act (%s) has shape %v; the contrast needs at least 2 positions", fn, act.Name, act.Shape)
	}
	if err := checkTopK(fn, topK, F); err != nil {
		return nil, err
	}
	first, rest := make([]float64, F), make([]float64, F)
	for b := 0; b < B; b++ {
		for p := 0; p < P; p++ {
			acc := rest
			if p == 0 {
				acc = first
			}
			for n, v := range act.Data[(b*P+p)*F : (b*P+p+1)*F] {
				acc[n] += math.Abs(float64(v))
			}
		}
	}
	for n := 0; n < F; n++ {
		first[n] /= float64(B)
		rest[n] /= float64(B * (P - 1))
	}
	return ContrastFromMeans(first, rest, topK)
}

// ContrastFromMeans builds the contrast from each neuron's mean |a| at token 0 (first) and at the
// other tokens (rest), e.g. as reduced on the device (package devstats); it keeps the slices.
func ContrastFromMeans(first, rest []float64, topK int) (*Contrast, error) {
	const fn = "ContrastFromMeans"
	F := len(first)
	if len(rest) != F || F == 0 {
		return nil, fmt.Errorf("%s: first has %d neurons and rest %d; want the same positive count", fn, F, len(rest))
	}
	if err := checkTopK(fn, topK, F); err != nil {
		return nil, err
	}
	c := &Contrast{Score: make([]float64, F), Diff: make([]float64, F), First: first, Rest: rest}
	for n := 0; n < F; n++ {
		c.Score[n] = first[n] / (rest[n] + 1e-12)
		c.Diff[n] = first[n] - rest[n]
	}
	c.Order = descendingOrder(c.Score)
	c.Top = append([]int(nil), c.Order[:topK]...)
	c.OrderByDiff = descendingOrder(c.Diff)
	c.TopByDiff = append([]int(nil), c.OrderByDiff[:topK]...)
	return c, nil
}

// Selective is a super neuron's per-position behaviour (paper Fig. 9).
type Selective struct {
	Neuron int `json:"neuron"`
	// Cos[p] is the mean over samples of cos(x[b, p, :], gate row): how well the normalised FFN
	// input at position p points along the neuron's gate weights. A zero input vector counts as 0.
	Cos []float64 `json:"cos"`
	// Up[p] is the mean over samples of the neuron's raw up-projection value at position p.
	Up []float64 `json:"up"`
}

// SelectiveActivation measures the selective activation of FFN neuron `neuron` (paper Fig. 9):
// ffnIn is the normalised FFN input [b, p, d] (blocks.{L}.ln2.hook_normalized), up the same
// layer's up projection [b, p, f] (mlp.hook_up, same b and p), gateRow the neuron's row of
// mlp/gate/weights (length d, not all zero), neuron in [0, f).
func SelectiveActivation(ffnIn *transformer.Activation, up *transformer.Activation, gateRow []float32, neuron int) (*Selective, error) {
	const fn = "SelectiveActivation"
	if err := checkAct(fn, "ffnIn", ffnIn, "[b, p, d]", 3); err != nil {
		return nil, err
	}
	if err := checkAct(fn, "up", up, "[b, p, f]", 3); err != nil {
		return nil, err
	}
	B, P, D := ffnIn.Shape[0], ffnIn.Shape[1], ffnIn.Shape[2]
	F := up.Shape[2]
	if up.Shape[0] != B || up.Shape[1] != P {
		return nil, fmt.Errorf("%s: ffnIn has shape %v but up has shape %v; batch and positions must match", fn, ffnIn.Shape, up.Shape)
	}
	if len(gateRow) != D {
		return nil, fmt.Errorf("%s: gateRow has %d values; want d = %d (ffnIn shape %v)", fn, len(gateRow), D, ffnIn.Shape)
	}
	gNorm := math.Sqrt(dot32(gateRow, gateRow))
	if gNorm == 0 {
		return nil, fmt.Errorf("%s: gateRow is all zeros; the cosine is undefined", fn)
	}
	if err := checkIndex(fn, "neuron", neuron, F, fmt.Sprintf("FFN width of up %v", up.Shape)); err != nil {
		return nil, err
	}
	s := &Selective{Neuron: neuron, Cos: make([]float64, P), Up: make([]float64, P)}
	for b := 0; b < B; b++ {
		for p := 0; p < P; p++ {
			x := ffnIn.Data[(b*P+p)*D : (b*P+p+1)*D]
			if xn := math.Sqrt(dot32(x, x)); xn > 0 {
				s.Cos[p] += dot32(x, gateRow) / (xn * gNorm)
			}
			s.Up[p] += float64(up.Data[(b*P+p)*F+neuron])
		}
	}
	for p := 0; p < P; p++ {
		s.Cos[p] /= float64(B)
		s.Up[p] /= float64(B)
	}
	return s, nil
}

// DownColumn describes the down-projection column of one FFN neuron (paper Fig. 10).
type DownColumn struct {
	Neuron    int       `json:"neuron"`
	SortedAbs []float64 `json:"sorted_abs"` // |W_down[:, neuron]| in decreasing order
	// Kurtosis is the excess (Fisher) kurtosis of the signed column values with population
	// moments, scipy.stats.kurtosis's default as in the authors' notebook: 0 for a Gaussian
	// column, large when a few dimensions carry the weight.
	Kurtosis  float64   `json:"kurtosis"`
	TopDims   []int     `json:"top_dims"`   // the topK residual dimensions with the largest |weight|
	TopValues []float64 `json:"top_values"` // their signed weights
}

// DownColumnSparsity analyses how a super neuron writes into the residual stream (paper Fig. 10):
// wDown is blocks/{L}/mlp/down/weights, row-major [d, f]; neuron in [0, f); topK in [0, d] (the
// paper lists the top 10).
func DownColumnSparsity(wDown []float32, d, f, neuron, topK int) (*DownColumn, error) {
	const fn = "DownColumnSparsity"
	if err := checkMatrix(fn, "wDown", wDown, d, f); err != nil {
		return nil, err
	}
	if err := checkIndex(fn, "neuron", neuron, f, "column of wDown [d, f]"); err != nil {
		return nil, err
	}
	if err := checkTopK(fn, topK, d); err != nil {
		return nil, err
	}
	col := make([]float64, d)
	abs := make([]float64, d)
	for j := 0; j < d; j++ {
		col[j] = float64(wDown[j*f+neuron])
		abs[j] = math.Abs(col[j])
	}
	order := descendingOrder(abs)
	dc := &DownColumn{Neuron: neuron, SortedAbs: make([]float64, d), Kurtosis: Kurtosis(col),
		TopDims: append([]int(nil), order[:topK]...), TopValues: make([]float64, topK)}
	for i, j := range order {
		dc.SortedAbs[i] = abs[j]
	}
	for i, j := range dc.TopDims {
		dc.TopValues[i] = col[j]
	}
	return dc, nil
}
