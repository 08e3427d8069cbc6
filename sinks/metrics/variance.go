package metrics

import (
	"fmt"
	"math"

	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// WithinTokenStd is the variance-discrepancy curve of paper Fig. 4a (text) and of Fig. 7 (W_O
// input, layer 1): for each position p, the population standard deviation over the hidden
// dimension of one token's vector, averaged over the samples of the batch:
//
//	out[p] = mean_b std_j z[b, p, j]
//
// z is the W_O input [b, p, h, dh] (blocks.{L}.attn.hook_z, all heads concatenated: j runs over
// h·dh values) or any [b, p, d] activation. The authors' notebook uses torch's default
// Bessel-corrected std, larger by √(n/(n−1)) (1.0001 at n = 4096): immaterial for the curve.
func WithinTokenStd(z *transformer.Activation) ([]float64, error) {
	if err := checkAct("WithinTokenStd", "z", z, "[b, p, h, dh] or [b, p, d]", 3, 4); err != nil {
		return nil, err
	}
	B, P, N := tokenRows(z)
	out := make([]float64, P)
	for b := 0; b < B; b++ {
		for p := 0; p < P; p++ {
			row := (b*P + p) * N
			out[p] += stdPop(z.Data[row : row+N])
		}
	}
	for p := range out {
		out[p] /= float64(B)
	}
	return out, nil
}

// BesselFactor is √(n/(n−1)): a population std of n values times it is the Bessel-corrected
// (sample) std, torch's default. NaN for n < 2.
func BesselFactor(n int) float64 {
	if n < 2 {
		return math.NaN()
	}
	return math.Sqrt(float64(n) / float64(n-1))
}

// AcrossSampleStd is the variance-discrepancy curve of paper Fig. 4b (random tokens): for each
// position p and hidden coordinate j, the population standard deviation across the b samples,
// then the mean over coordinates:
//
//	out[p] = mean_j std_b z[b, p, j]
//
// z is [b, p, h, dh] (j over h·dh) or [b, p, d], with at least 2 samples.
func AcrossSampleStd(z *transformer.Activation) ([]float64, error) {
	const fn = "AcrossSampleStd"
	if err := checkAct(fn, "z", z, "[b, p, h, dh] or [b, p, d]", 3, 4); err != nil {
		return nil, err
	}
	B, P, N := tokenRows(z)
	if B < 2 {
		return nil, fmt.Errorf("%s: z (%s) has shape %v: a std across samples needs at least 2 samples", fn, z.Name, z.Shape)
	}
	out := make([]float64, P)
	mean := make([]float64, N)
	ss := make([]float64, N)
	for p := 0; p < P; p++ {
		clear(mean)
		clear(ss)
		for b := 0; b < B; b++ { // two passes over the samples, row by row
			for j, v := range z.Data[(b*P+p)*N : (b*P+p+1)*N] {
				mean[j] += float64(v)
			}
		}
		for j := range mean {
			mean[j] /= float64(B)
		}
		for b := 0; b < B; b++ {
			for j, v := range z.Data[(b*P+p)*N : (b*P+p+1)*N] {
				d := float64(v) - mean[j]
				ss[j] += d * d
			}
		}
		total := 0.0
		for _, s := range ss {
			total += math.Sqrt(s / float64(B))
		}
		out[p] = total / float64(N)
	}
	return out, nil
}

// InverseSqrtFit is the least-squares fit of a std-vs-position curve to the aggregation law of the
// paper's theory (Sec. 3.1 and the toy check): std(t) ≈ σ_v / √(t+1), t = 0..T−1.
type InverseSqrtFit struct {
	SigmaV float64   `json:"sigma_v"` // fitted σ_v: the std of one un-averaged value vector
	Curve  []float64 `json:"curve"`   // σ_v / √(t+1) per position
	// R2 = 1 − SS_res / SS_tot, SS_tot around the mean of the data (NaN if the data are constant);
	// RMSE = √(SS_res / T).
	R2   float64 `json:"r2"`
	RMSE float64 `json:"rmse"`
}

// FitInverseSqrt fits std(t) ≈ σ_v/√(t+1) by least squares in closed form: with g_t = 1/√(t+1),
// σ_v = Σ std_t g_t / Σ g_t². std needs at least 2 finite values.
func FitInverseSqrt(std []float64) (*InverseSqrtFit, error) {
	const fn = "FitInverseSqrt"
	if len(std) < 2 {
		return nil, fmt.Errorf("%s: std has %d values; want at least 2 positions", fn, len(std))
	}
	var sg, gg, mean float64
	for t, s := range std {
		if math.IsNaN(s) || math.IsInf(s, 0) {
			return nil, fmt.Errorf("%s: std[%d] is %v; want finite values", fn, t, s)
		}
		g := 1 / math.Sqrt(float64(t+1))
		sg += s * g
		gg += g * g
		mean += s
	}
	mean /= float64(len(std))
	fit := &InverseSqrtFit{SigmaV: sg / gg, Curve: make([]float64, len(std))}
	var ssRes, ssTot float64
	for t, s := range std {
		fit.Curve[t] = fit.SigmaV / math.Sqrt(float64(t+1))
		ssRes += (s - fit.Curve[t]) * (s - fit.Curve[t])
		ssTot += (s - mean) * (s - mean)
	}
	fit.RMSE = math.Sqrt(ssRes / float64(len(std)))
	if ssTot == 0 {
		fit.R2 = math.NaN()
	} else {
		fit.R2 = 1 - ssRes/ssTot
	}
	return fit, nil
}
