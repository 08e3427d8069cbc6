// Package metrics computes sinkscope's attention-sink statistics from captured activations, in
// float32/float64 on the host. Each function names the paper item it reproduces.
package metrics

import (
	"fmt"
	"math"

	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// LayerSink is one layer's row of the sink-onset profile (paper Fig. 3).
type LayerSink struct {
	Layer int `json:"layer"`
	// AttnToFirst is the mean attention weight on key 0 over sequences, heads and queries 1..T−1
	// (query 0 can only attend to itself and is left out). The paper's onset threshold reads this.
	AttnToFirst float64 `json:"attn_to_first"`
	// AttnToFirstAllRows is the same mean over queries 0..T−1: the other reading of "mean attention
	// to token 0", which counts query 0's forced self-attention (always 1) and so is higher by
	// (1 − AttnToFirst)/T.
	AttnToFirstAllRows float64 `json:"attn_to_first_all_rows"`
	// AttnToOthers is the mean weight on the other causal entries (keys 1..q of queries 1..T−1).
	AttnToOthers float64 `json:"attn_to_others"`
	// FirstNorm is the mean L2 norm of token 0's residual stream entering the layer; OthersNorm the
	// mean over tokens 1..T−1. NormRatio = FirstNorm / OthersNorm.
	FirstNorm  float64 `json:"first_norm"`
	OthersNorm float64 `json:"others_norm"`
	NormRatio  float64 `json:"norm_ratio"`
}

// SinkOnsetThreshold is the paper's threshold on AttnToFirst for a layer to count as a sink layer.
const SinkOnsetThreshold = 0.8

// SinkProfileNames are the hook points SinkProfile needs: pass them to RunWithCache.
var SinkProfileNames = []string{"blocks.*.attn.hook_pattern", "blocks.*.hook_resid_pre"}

// SinkProfile computes, for every layer, the mean attention to token 0 and the token-0 norm ratio
// (paper Fig. 3) from a cache holding SinkProfileNames. Sequences need at least 2 tokens.
func SinkProfile(cache *transformer.Cache, nLayers int) ([]LayerSink, error) {
	out := make([]LayerSink, nLayers)
	for l := 0; l < nLayers; l++ {
		pat, err := cache.Get("pattern", l)
		if err != nil {
			return nil, err
		}
		resid, err := cache.Get("resid_pre", l)
		if err != nil {
			return nil, err
		}
		if len(pat.Shape) != 4 || pat.Shape[2] != pat.Shape[3] {
			return nil, fmt.Errorf("layer %d: pattern shape %v, want [b, h, q, k]", l, pat.Shape)
		}
		B, H, T := pat.Shape[0], pat.Shape[1], pat.Shape[2]
		if T < 2 {
			return nil, fmt.Errorf("layer %d: need at least 2 positions, got %d", l, T)
		}
		var first, others, row0 float64
		var nFirst, nOthers int
		for b := 0; b < B; b++ {
			for h := 0; h < H; h++ {
				base := (b*H + h) * T * T
				row0 += float64(pat.Data[base])
				for q := 1; q < T; q++ {
					row := pat.Data[base+q*T : base+q*T+T]
					first += float64(row[0])
					nFirst++
					for k := 1; k <= q; k++ {
						others += float64(row[k])
						nOthers++
					}
				}
			}
		}
		D := resid.Shape[2]
		var n0, nRest float64
		for b := 0; b < B; b++ {
			for p := 0; p < T; p++ {
				v := resid.Data[(b*T+p)*D : (b*T+p+1)*D]
				s := 0.0
				for _, x := range v {
					s += float64(x) * float64(x)
				}
				if p == 0 {
					n0 += math.Sqrt(s)
				} else {
					nRest += math.Sqrt(s)
				}
			}
		}
		n0 /= float64(B)
		nRest /= float64(B * (T - 1))
		out[l] = LayerSink{
			Layer: l, AttnToFirst: first / float64(nFirst), AttnToOthers: others / float64(nOthers),
			AttnToFirstAllRows: (first + row0) / float64(nFirst+B*H),
			FirstNorm:          n0, OthersNorm: nRest, NormRatio: n0 / nRest,
		}
	}
	return out, nil
}

// SinkOnset is the first layer whose AttnToFirst exceeds SinkOnsetThreshold, or −1.
func SinkOnset(profile []LayerSink) int {
	for _, l := range profile {
		if l.AttnToFirst > SinkOnsetThreshold {
			return l.Layer
		}
	}
	return -1
}
