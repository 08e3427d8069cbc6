package metrics

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"sync"
)

// ToyConfig configures the paper's theory check at initialisation (Sec. 3.1, "toy" row of the
// figure list): one randomly initialised causal multi-head attention on random inputs.
type ToyConfig struct {
	D         int     `json:"d"`
	Heads     int     `json:"heads"`
	T         int     `json:"t"`
	Samples   int     `json:"samples"` // model width, heads (D divisible by Heads), positions, input sequences
	WeightStd float64 `json:"weight_std"`
	InputStd  float64 `json:"input_std"` // q, k, v weights ~ N(0, WeightStd²); inputs ~ N(0, InputStd²)
	Seed      uint64  `json:"seed"`      // the same seed always gives the same result
}

// DefaultToyConfig is the paper's setting: d 768, 12 heads, T 64, weights N(0, 0.02²/24)
// (std 0.02/√(2·12), nanoGPT's residual-projection scale for 12 layers), inputs N(0, 0.02²),
// averaged over 32 input sequences.
func DefaultToyConfig() ToyConfig {
	return ToyConfig{D: 768, Heads: 12, T: 64, Samples: 32, WeightStd: 0.02 / math.Sqrt(24), InputStd: 0.02, Seed: 0}
}

// ToyResult is the outcome of ToyBlock.
type ToyResult struct {
	Config ToyConfig `json:"config"`
	// Std[t] is the population std of the attention output (softmax·V of all heads, concatenated:
	// the W_O input) at position t, pooled over the Samples × D values at that position.
	Std []float64      `json:"std"`
	Fit InverseSqrtFit `json:"fit"` // Std against σ_v/√(t+1)
}

// ToyBlock runs the paper's toy check of the variance discrepancy at initialisation: a single
// causal multi-head attention with weights W_Q, W_K, W_V [D, D] ~ N(0, WeightStd²) (no biases, no
// RoPE, no output projection), applied to Samples independent inputs x [T, D] ~ N(0, InputStd²):
//
//	q, k, v = x·W_Qᵀ, x·W_Kᵀ, x·W_Vᵀ;   o_t = Σ_{j≤t} softmax_j(q_t·k_j / √dh) v_j   per head
//
// With such small weights the attention is nearly uniform, so o_t averages t+1 independent value
// vectors and its std follows σ_v/√(t+1) with σ_v = InputStd·WeightStd·√D. It is computed in
// float64, in parallel over samples; the result does not depend on the number of goroutines.
//
// The authors' notebook applies an RMSNorm before the attention (so the attention input has unit
// RMS, not InputStd) and plots one sample's std over the hidden dimension; because the attention
// is near-uniform either way, that only rescales σ_v (InputStd = 1 reproduces its scale).
func ToyBlock(c ToyConfig) (*ToyResult, error) {
	const fn = "ToyBlock"
	switch {
	case c.D <= 0 || c.Heads <= 0 || c.D%c.Heads != 0:
		return nil, fmt.Errorf("%s: D %d and Heads %d must be positive with D divisible by Heads", fn, c.D, c.Heads)
	case c.T < 2:
		return nil, fmt.Errorf("%s: T %d; want at least 2 positions", fn, c.T)
	case c.Samples < 1:
		return nil, fmt.Errorf("%s: Samples %d; want at least 1", fn, c.Samples)
	case !(c.WeightStd > 0) || math.IsInf(c.WeightStd, 0):
		return nil, fmt.Errorf("%s: WeightStd %v; want a finite std > 0", fn, c.WeightStd)
	case !(c.InputStd > 0) || math.IsInf(c.InputStd, 0):
		return nil, fmt.Errorf("%s: InputStd %v; want a finite std > 0", fn, c.InputStd)
	}
	D, T := c.D, c.T
	// W_Q, W_K and W_V stacked as one [3D, D] matrix, rows in nn.Linear [out, in] order.
	w := make([]float64, 3*D*D)
	wr := rand.New(rand.NewPCG(c.Seed, mix64(0)))
	for i := range w {
		w[i] = wr.NormFloat64() * c.WeightStd
	}
	// Per sample and position: sum and sum of squares of the D output values.
	sums := make([][2][]float64, c.Samples)
	workers := min(runtime.GOMAXPROCS(0), c.Samples)
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := newToyBuffers(D, T)
			for s := range next {
				sums[s] = toySample(c, w, buf, s)
			}
		}()
	}
	for s := 0; s < c.Samples; s++ {
		next <- s
	}
	close(next)
	wg.Wait()

	n := float64(c.Samples * D)
	std := make([]float64, T)
	for t := 0; t < T; t++ {
		var sum, sq float64
		for s := 0; s < c.Samples; s++ { // fixed order: deterministic whatever the scheduling
			sum += sums[s][0][t]
			sq += sums[s][1][t]
		}
		mean := sum / n
		std[t] = math.Sqrt(math.Max(sq/n-mean*mean, 0))
	}
	fit, err := FitInverseSqrt(std)
	if err != nil {
		return nil, err
	}
	return &ToyResult{Config: c, Std: std, Fit: *fit}, nil
}

type toyBuffers struct {
	x, qkv, out, p []float64
}

func newToyBuffers(D, T int) *toyBuffers {
	return &toyBuffers{x: make([]float64, T*D), qkv: make([]float64, T*3*D), out: make([]float64, T*D), p: make([]float64, T)}
}

// toySample runs sample s through the toy attention and returns, per position, the sum and the
// sum of squares of the output values.
func toySample(c ToyConfig, w []float64, buf *toyBuffers, s int) [2][]float64 {
	D, T, H := c.D, c.T, c.Heads
	dh := D / H
	rng := rand.New(rand.NewPCG(c.Seed, mix64(uint64(s)+1)))
	x := buf.x // [T, D]
	for i := range x {
		x[i] = rng.NormFloat64() * c.InputStd
	}
	qkv := buf.qkv // [T, 3D]: q | k | v
	for t := 0; t < T; t++ {
		xt := x[t*D : (t+1)*D]
		row := qkv[t*3*D : (t+1)*3*D]
		for o := range row {
			row[o] = dot64(xt, w[o*D:(o+1)*D])
		}
	}
	out, p := buf.out, buf.p // out [T, D]
	scale := 1 / math.Sqrt(float64(dh))
	for h := 0; h < H; h++ {
		qo, ko, vo := h*dh, D+h*dh, 2*D+h*dh
		for t := 0; t < T; t++ {
			q := qkv[t*3*D+qo : t*3*D+qo+dh]
			mx := math.Inf(-1)
			for j := 0; j <= t; j++ { // causal: keys 0..t
				p[j] = dot64(q, qkv[j*3*D+ko:j*3*D+ko+dh]) * scale
				mx = math.Max(mx, p[j])
			}
			z := 0.0
			for j := 0; j <= t; j++ {
				p[j] = math.Exp(p[j] - mx)
				z += p[j]
			}
			o := out[t*D+h*dh : t*D+(h+1)*dh]
			clear(o)
			for j := 0; j <= t; j++ {
				pj := p[j] / z
				v := qkv[j*3*D+vo : j*3*D+vo+dh]
				for e := range o {
					o[e] += pj * v[e]
				}
			}
		}
	}
	res := [2][]float64{make([]float64, T), make([]float64, T)}
	for t := 0; t < T; t++ {
		for _, v := range out[t*D : (t+1)*D] {
			res[0][t] += v
			res[1][t] += v * v
		}
	}
	return res
}

// mix64 is the SplitMix64 finaliser: distinct, well-spread PCG stream seeds from small integers.
func mix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
