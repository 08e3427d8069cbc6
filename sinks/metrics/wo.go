package metrics

import (
	"fmt"

	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// WOPreservation compares the variance discrepancy before and after the output projection W_O
// (paper Fig. 7).
type WOPreservation struct {
	// Before[p] and After[p] are the within-token std curves (as WithinTokenStd) of the W_O input
	// (hook_z) and of the attention block output (hook_attn_out).
	Before []float64 `json:"before"`
	After  []float64 `json:"after"`
	// KendallTau (τ-b) and Spearman are rank correlations between Before and After over positions:
	// +1 when W_O keeps the positions' order of spread exactly.
	KendallTau float64 `json:"kendall_tau"`
	Spearman   float64 `json:"spearman"`
}

// WOPreserve measures whether W_O preserves the variance discrepancy (paper Fig. 7, layer 1):
// z is the W_O input [b, p, h, dh] (or [b, p, d]) and attnOut the same layer's hook_attn_out
// [b, p, d], from the same run (same b and p, at least 2 positions).
//
// The paper reports "Kendall τ ≈ 0.32" without saying between which series; the authors' notebook
// only plots the std of the W_O input. We use Kendall's τ-b between the before and after curves
// over positions (and give Spearman's ρ alongside); a different pairing (e.g. per sample, or std
// against position) would give a different number.
func WOPreserve(z, attnOut *transformer.Activation) (*WOPreservation, error) {
	const fn = "WOPreserve"
	if err := checkAct(fn, "z", z, "[b, p, h, dh] or [b, p, d]", 3, 4); err != nil {
		return nil, err
	}
	if err := checkAct(fn, "attnOut", attnOut, "[b, p, d]", 3); err != nil {
		return nil, err
	}
	if z.Shape[0] != attnOut.Shape[0] || z.Shape[1] != attnOut.Shape[1] {
		return nil, fmt.Errorf("%s: z has shape %v but attnOut has shape %v; batch and positions must match", fn, z.Shape, attnOut.Shape)
	}
	if z.Shape[1] < 2 {
		return nil, fmt.Errorf("%s: z has shape %v; a rank correlation over positions needs at least 2 positions", fn, z.Shape)
	}
	before, err := WithinTokenStd(z)
	if err != nil {
		return nil, err
	}
	after, err := WithinTokenStd(attnOut)
	if err != nil {
		return nil, err
	}
	return &WOPreservation{Before: before, After: after, KendallTau: KendallTauB(before, after), Spearman: Spearman(before, after)}, nil
}
