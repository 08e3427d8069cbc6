package metrics

import (
	"math"

	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// EffectiveRank is the effective rank of the hidden states (paper Fig. 21 and the main table's
// "effective rank" column): for each sample, the [T × d] matrix X = x[b] has singular values σ_i;
// with p_i = σ_i / Σσ, its effective rank is exp(−Σ p_i ln p_i), between 1 (rank one) and
// min(T, d) (all σ equal). mean is the average over samples. x is [b, p, d], e.g.
// blocks.{L}.hook_resid_post.
//
// The σ_i come from the eigenvalues of the smaller Gram matrix (X·Xᵀ when T ≤ d, else Xᵀ·X) in
// float64; eigenvalues below n·1e-15 of the largest (rounding noise, possibly negative) count as
// zero, so singular values under about 3e-8·√n of the largest are not resolved. An all-zero
// sample has effective rank 0 (the authors' convention); a sample holding NaN or ±Inf gives NaN.
func EffectiveRank(x *transformer.Activation) (perSample []float64, mean float64, err error) {
	if err := checkAct("EffectiveRank", "x", x, "[b, p, d]", 3); err != nil {
		return nil, 0, err
	}
	B, T, D := x.Shape[0], x.Shape[1], x.Shape[2]
	perSample = make([]float64, B)
	for b := 0; b < B; b++ {
		perSample[b] = effectiveRank(x.Data[b*T*D:(b+1)*T*D], T, D)
		mean += perSample[b]
	}
	return perSample, mean / float64(B), nil
}

// effectiveRank of one row-major [rows, cols] matrix.
func effectiveRank(m []float32, rows, cols int) float64 {
	n := min(rows, cols)
	g := make([]float64, n*n)
	if rows <= cols { // m·mᵀ
		for i := 0; i < rows; i++ {
			for j := i; j < rows; j++ {
				v := dot32(m[i*cols:(i+1)*cols], m[j*cols:(j+1)*cols])
				g[i*n+j], g[j*n+i] = v, v
			}
		}
	} else { // mᵀ·m
		for r := 0; r < rows; r++ {
			row := m[r*cols : (r+1)*cols]
			for i := 0; i < cols; i++ {
				for j := i; j < cols; j++ {
					g[i*n+j] += float64(row[i]) * float64(row[j])
				}
			}
		}
		for i := 0; i < n; i++ {
			for j := 0; j < i; j++ {
				g[i*n+j] = g[j*n+i]
			}
		}
	}
	return EffectiveRankFromGram(g, n)
}

// EffectiveRankFromGram is the effective rank of a sample from its Gram matrix g ([n, n] row-major
// float64, m·mᵀ or mᵀ·m, n = min(rows, cols)), e.g. as computed on the device (package devstats):
// the singular values are the square roots of g's eigenvalues. g is overwritten.
func EffectiveRankFromGram(g []float64, n int) float64 {
	trace := 0.0 // the sum of squares of the sample: NaN or Inf if the data are not finite
	for i := 0; i < n; i++ {
		trace += g[i*n+i]
	}
	if math.IsNaN(trace) || math.IsInf(trace, 0) {
		return math.NaN()
	}
	ev := symEigenvaluesFlat(g, n)
	if len(ev) == 0 || ev[0] <= 0 {
		return 0
	}
	tol := float64(n) * 1e-15 * ev[0]
	sigma := make([]float64, 0, n)
	total := 0.0
	for _, l := range ev {
		if l > tol {
			s := math.Sqrt(l)
			sigma = append(sigma, s)
			total += s
		}
	}
	h := 0.0
	for _, s := range sigma {
		p := s / total
		h -= p * math.Log(p)
	}
	return math.Exp(h)
}
