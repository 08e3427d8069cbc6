package metrics

import (
	"fmt"
	"math"

	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// GuEps is the threshold ε of Gu et al.'s sink metric (ICLR 2025, "When Attention Sink Emerges"),
// used with sequences of 64 tokens: pass it to GuSinkScores unless a study varies ε.
const GuEps = 0.3

// GuScores are Gu et al.'s attention-sink scores for key position K (the neighbouring-results row
// of the paper's comparison; K = 0 is the first token).
type GuScores struct {
	// Alpha[layer][head] is α_K = mean over queries i ≥ K of A[i, K] (the causal column of key K,
	// diagonal included), then averaged over the sequences of the batch.
	Alpha [][]float64 `json:"alpha"`
	// LayerShare[layer] is the share of that layer's heads with α_K > Eps.
	LayerShare []float64 `json:"layer_share"`
	// Share is Sink_K^ε: the share of all (layer, head) pairs with α_K > Eps, α_K averaged over the
	// sequences first (threshold on the batch-mean α).
	Share float64 `json:"share"`
	// SharePerSample is the other reading of Sink_K^ε: α_K thresholded for each sequence, then the
	// share of (sequence, layer, head) triples above Eps; LayerSharePerSample per layer. Gu et al.'s
	// released code computes this one (importance scores per sample, then the mean of the indicator
	// over samples, layers and heads).
	SharePerSample      float64   `json:"share_per_sample"`
	LayerSharePerSample []float64 `json:"layer_share_per_sample"`
	K                   int       `json:"k"`
	Eps                 float64   `json:"eps"`
}

// GuSinkScores computes Gu et al.'s sink metric from one attention pattern per layer
// ([b, h, q, k], q = k = T, e.g. blocks.{L}.attn.hook_pattern), for key position k in [0, T) and
// threshold eps (Gu et al. use GuEps = 0.3 with T = 64). Layers may differ in head count but each
// must be a square pattern covering position k.
func GuSinkScores(patterns []*transformer.Activation, k int, eps float64) (*GuScores, error) {
	const fn = "GuSinkScores"
	if len(patterns) == 0 {
		return nil, fmt.Errorf("%s: patterns is empty; want one [b, h, q, k] pattern per layer", fn)
	}
	if math.IsNaN(eps) || math.IsInf(eps, 0) {
		return nil, fmt.Errorf("%s: eps is %v; want a finite threshold (Gu et al.: %g)", fn, eps, GuEps)
	}
	out := &GuScores{Alpha: make([][]float64, len(patterns)), LayerShare: make([]float64, len(patterns)),
		LayerSharePerSample: make([]float64, len(patterns)), K: k, Eps: eps}
	var above, total, aboveS, totalS int
	for l, pat := range patterns {
		arg := fmt.Sprintf("patterns[%d]", l)
		if err := checkAct(fn, arg, pat, "[b, h, q, k]", 4); err != nil {
			return nil, err
		}
		B, H, T := pat.Shape[0], pat.Shape[1], pat.Shape[2]
		if pat.Shape[3] != T {
			return nil, fmt.Errorf("%s: %s (%s) has shape %v; want a square causal pattern [b, h, T, T]", fn, arg, pat.Name, pat.Shape)
		}
		if err := checkIndex(fn, "k", k, T, fmt.Sprintf("key position of %s with %d positions", arg, T)); err != nil {
			return nil, err
		}
		alpha := make([]float64, H)
		n, nS := 0, 0
		for h := 0; h < H; h++ {
			s := 0.0
			for b := 0; b < B; b++ {
				base := (b*H + h) * T * T
				col := 0.0
				for i := k; i < T; i++ {
					col += float64(pat.Data[base+i*T+k])
				}
				col /= float64(T - k)
				if col > eps {
					nS++
				}
				s += col
			}
			alpha[h] = s / float64(B)
			if alpha[h] > eps {
				n++
			}
		}
		out.Alpha[l] = alpha
		out.LayerShare[l] = float64(n) / float64(H)
		out.LayerSharePerSample[l] = float64(nS) / float64(B*H)
		above += n
		total += H
		aboveS += nS
		totalS += B * H
	}
	out.Share = float64(above) / float64(total)
	out.SharePerSample = float64(aboveS) / float64(totalS)
	return out, nil
}
