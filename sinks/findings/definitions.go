package findings

import (
	"fmt"
	"math"
)

// Definition is one quantity the paper leaves open, computed under both readings. Reading A is the
// one the findings (figures, onset, chosen neuron) use; Paper says which reading the paper's or
// the authors' number corresponds to, when known.
type Definition struct {
	Item     string  `json:"item"`
	Quantity string  `json:"quantity"`
	A        Reading `json:"a"`
	B        Reading `json:"b"`
	Paper    string  `json:"paper"`
}

// Reading is one reading's value: a number, or an index (a layer, neuron or dimension).
type Reading struct {
	Name  string  `json:"name"`
	Value float64 `json:"value"`
	Index bool    `json:"index,omitempty"` // Value is an integer index
}

// Text formats the value for reports.
func (r Reading) Text() string {
	switch {
	case r.Index:
		return fmt.Sprintf("%d", int(r.Value))
	case math.IsNaN(r.Value):
		return "n/a"
	}
	return fmt.Sprintf("%.4g", r.Value)
}

// Definitions lists both readings of every open definition that the results cover.
func Definitions(r *Results) []Definition {
	var out []Definition
	add := func(item, quantity, paper string, a, b Reading) {
		out = append(out, Definition{Item: item, Quantity: quantity, A: a, B: b, Paper: paper})
	}
	num := func(name string, v float64) Reading { return Reading{Name: name, Value: v} }
	idx := func(name string, v int) Reading { return Reading{Name: name, Value: float64(v), Index: true} }
	if s := r.Sink; s != nil {
		if p, ok := peakSink(s); ok {
			add("Fig. 3", fmt.Sprintf("mean attention to token 0, layer %d", p.Layer), "not stated; the 0.8 onset threshold is applied to reading A",
				num("queries 1..T−1", p.AttnToFirst), num("queries 0..T−1 (query 0 always 1)", p.AttnToFirstAllRows))
		}
		if g := s.Gu; g != nil {
			add("Gu et al.", fmt.Sprintf("Sink₀^ε, ε = %.1f", g.Eps), "Gu et al.'s code: reading A (per sample)",
				num("α thresholded per sample", g.SharePerSample), num("α averaged over samples, then thresholded", g.Share))
		}
	}
	if v := r.Variance; v != nil && len(v.Main) > 0 {
		c := v.Main[0]
		add("Fig. 4a", fmt.Sprintf("within-token std of the W_O input at t = 0, layer %d (n = %d)", c.Layer, c.BesselN),
			"the authors' notebook: reading B (torch's default std)", num("population (÷ n)", first(c.Std)), num("Bessel (÷ n − 1)", first(c.StdBessel)))
	}
	if w := r.WO; w != nil {
		add("Fig. 7", "rank correlation of the std curves before and after W_O", "τ ≈ 0.32, definition unknown",
			num("Kendall τ-b", w.KendallTau), num("Spearman ρ", w.Spearman))
	}
	if n := r.Neurons; n != nil && n.Contrast != nil {
		add("Fig. 9", fmt.Sprintf("super neuron of layer %d by activation contrast", n.Layer),
			fmt.Sprintf("not stated (the paper ranks row norms: neuron %d here)", n.ByNorm),
			idx("First − Rest (difference)", n.Neuron), idx("First ÷ Rest (ratio)", n.NeuronByRatio))
	}
	if d := r.Disparity; d != nil {
		add("Table 1", "massive dimension of token 0", "inferred A: Llama-2-7B's 2533 is a residual massive-activation dimension",
			idx("picked before the norm (residual stream)", d.Dim), idx("picked after the norm", d.DimAfterNorm))
		add("Table 1", "dimension disparity at the norm's output", "262.88 from batch means (the authors' notebook): reading B",
			num("mean of per-sample ratios", d.Disparity), num("ratio of batch means", d.Pooled))
		if d.DimAfterNorm != d.Dim {
			add("Table 1", "dimension disparity (batch means) for the two massive dimensions", "inferred A",
				num(fmt.Sprintf("dim %d (before the norm)", d.Dim), d.Pooled), num(fmt.Sprintf("dim %d (after the norm)", d.DimAfterNorm), d.PooledAfterNorm))
		}
	}
	if q := r.QK; q != nil && len(q.Heads) > 0 {
		_, _, signed, unsigned := qkMeans(q)
		add("Fig. 12", fmt.Sprintf("share of queries scoring the massive dimension's key > 0, layer %d (head mean)", q.Layer),
			"the authors' notebook scores against W_K[:, dim]: reading B if it ignores the sign; A is the key token 0 gets",
			num("sign-aware: sign(x₀[dim])·W_K[:, dim]", signed), num("unsigned W_K[:, dim]", unsigned))
	}
	return out
}
