package findings

import (
	"fmt"

	"github.com/sinkscope/sinkscope/plots"
	"github.com/sinkscope/sinkscope/sinks/metrics"
)

// Figures builds the paper's figures from a reproduction's results; each figure's ID is its file
// name (fig3_sink_onset, fig4a_variance_text, …). Findings that did not run are skipped.
func Figures(r *Results) ([]*plots.Figure, error) {
	var figs []*plots.Figure
	add := func(f *plots.Figure, err error) error {
		if err != nil {
			return err
		}
		figs = append(figs, f)
		return nil
	}
	opt := func(id, title, subtitle string) plots.Options {
		return plots.Options{ID: id, Title: title, Subtitle: subtitle}
	}
	if s := r.Sink; s != nil {
		if err := add(SinkOnsetFigure(s, opt("fig3_sink_onset", "Sink onset by layer (Fig. 3)", r.Model))); err != nil {
			return nil, err
		}
		if s.Gu != nil {
			scores := make([][]float32, len(s.Gu.Alpha))
			for l, row := range s.Gu.Alpha {
				scores[l] = toF32(row)
			}
			if err := add(plots.SinkGrid(scores, plots.SinkGridOptions{Options: opt("gu_alpha_grid", "α₀ per layer and head (Gu et al.)", r.Model), ValueName: "α₀"})); err != nil {
				return nil, err
			}
		}
	}
	if v := r.Variance; v != nil {
		if len(v.Main) > 0 {
			var series []plots.Series
			for _, c := range v.Main {
				series = append(series, plots.Series{Name: fmt.Sprintf("layer %d", c.Layer), Values: c.Std})
			}
			if err := add(plots.PositionLines(positions(len(v.Main[0].Std)), series, plots.LineOptions{
				Options: opt("fig4a_variance_text", "Std of the W_O input per position, main batch (Fig. 4a)", r.Model), XName: "position", YName: "within-token std"})); err != nil {
				return nil, err
			}
		}
		if c := v.Random; c != nil {
			if err := add(plots.PositionLines(positions(len(c.Std)), []plots.Series{
				{Name: fmt.Sprintf("layer %d", c.Layer), Values: c.Std},
				{Name: "σ_v/√(t+1)", Values: c.Fit.Curve, Dashed: true},
			}, plots.LineOptions{Options: opt("fig4b_variance_random", "Std across random sequences per position (Fig. 4b)", r.Random), XName: "position", YName: "std across samples"})); err != nil {
				return nil, err
			}
		}
		if t := v.Toy; t != nil {
			if err := add(plots.PositionLines(positions(len(t.Std)), []plots.Series{
				{Name: "random-init block", Values: t.Std},
				{Name: "σ_v/√(t+1)", Values: t.Fit.Curve, Dashed: true},
			}, plots.LineOptions{Options: opt("toy_variance_theory", "Attention output std at initialisation vs theory", fmt.Sprintf("d %d, %d heads, T %d", t.Config.D, t.Config.Heads, t.Config.T)), XName: "position", YName: "std"})); err != nil {
				return nil, err
			}
		}
	}
	if w := r.WO; w != nil {
		if err := add(plots.PositionLines(positions(len(w.Before)), []plots.Series{
			{Name: "W_O input", Values: w.Before},
			{Name: "attention output (after W_O)", Values: w.After},
		}, plots.LineOptions{Options: opt("fig7_wo_preservation", "W_O preserves the variance discrepancy (Fig. 7)", fmt.Sprintf("Kendall τ-b %.3f", w.KendallTau)), XName: "position", YName: "within-token std"})); err != nil {
			return nil, err
		}
	}
	if n := r.Neurons; n != nil {
		for _, x := range []struct {
			id, name string
			norms    *metrics.RowNorms
		}{{"fig8_up_row_norms", "W_up", n.UpNorm}, {"fig8_gate_row_norms", "W_gate", n.GateNorm}} {
			if x.norms == nil {
				continue
			}
			if err := add(plots.SortedValues(toF32(x.norms.Norms), 5, plots.SortedOptions{Options: opt(x.id, fmt.Sprintf("Row norms of %s, layer %d (Fig. 8)", x.name, n.Layer), r.Model),
				IndexName: "neuron", YName: "L2 norm", ShowMean: true})); err != nil {
				return nil, err
			}
		}
		if s := n.Selective; s != nil {
			if err := add(plots.DualAxisLayers(positions(len(s.Cos)),
				plots.Series{Name: "cos(FFN input, gate row)", Values: s.Cos},
				plots.Series{Name: "up projection", Values: s.Up},
				plots.DualAxisOptions{Options: opt("fig9_selective_activation", fmt.Sprintf("Neuron %d fires on token 0 (Fig. 9)", n.Neuron), fmt.Sprintf("layer %d", n.Layer)), XName: "position"})); err != nil {
				return nil, err
			}
		}
		if d := n.Down; d != nil && len(d.TopDims) > 0 {
			if err := add(plots.SortedValues(toF32(d.SortedAbs), 0, plots.SortedOptions{Options: opt("fig10_down_column", fmt.Sprintf("|W_down[:, %d]| sorted (Fig. 10)", n.Neuron), fmt.Sprintf("kurtosis %.3g, top dimension %d", d.Kurtosis, d.TopDims[0])),
				IndexName: "rank", YName: "|weight|"})); err != nil {
				return nil, err
			}
		}
	}
	if d := r.Disparity; d != nil && len(d.Dominance) > 0 {
		if err := add(plots.PositionLines(positions(len(d.Dominance)), []plots.Series{{Name: "max|x₀| / mean|x₀|", Values: d.Dominance}},
			plots.LineOptions{Options: opt("dominance_per_layer", "Dominance ratio of token 0 by layer", fmt.Sprintf("disparity %.2f at layer %d (dim %d)", d.Disparity, d.Layer, d.Dim)), XName: "layer", YName: "ratio", LogY: allPositive(d.Dominance)})); err != nil {
			return nil, err
		}
	}
	if q := r.QK; q != nil && len(q.Heads) > 0 {
		var align, share []float64
		for _, h := range q.Heads {
			align = append(align, h.Alignment)
			share = append(share, h.PositiveShare)
		}
		if err := add(plots.PositionLines(positions(len(q.Heads)), []plots.Series{
			{Name: "alignment |cos(u₁(W_Q), W_K[:, dim])|", Values: align},
			{Name: "share of queries scoring token 0 > 0", Values: share},
		}, plots.LineOptions{Options: opt("fig12_qk_lock", fmt.Sprintf("QK lock per head, layer %d (Fig. 12)", q.Layer), fmt.Sprintf("massive dimension %d", q.Dim)), XName: "head", YName: "value", CategoryX: true})); err != nil {
			return nil, err
		}
	}
	if len(r.Rank) > 0 {
		if err := add(plots.PositionLines(positions(len(r.Rank)), []plots.Series{{Name: "effective rank", Values: r.Rank}},
			plots.LineOptions{Options: opt("fig21_effective_rank", "Effective rank of the hidden states (Fig. 21)", "last point: final norm output"), XName: "layer", YName: "effective rank"})); err != nil {
			return nil, err
		}
	}
	more, err := interventionFigures(r, opt)
	if err != nil {
		return nil, err
	}
	beyond, err := beyondFigures(r, opt)
	if err != nil {
		return nil, err
	}
	return append(append(figs, more...), beyond...), nil
}

// SinkOnsetFigure is Fig. 3: attention to token 0 (left axis, threshold 0.8, onset marked) and the
// token-0 norm ratio (right axis) per layer.
func SinkOnsetFigure(s *SinkOnset, o plots.Options) (*plots.Figure, error) {
	var layers []int
	var toFirst, ratio []float64
	for _, p := range s.Profile {
		layers = append(layers, p.Layer)
		toFirst = append(toFirst, p.AttnToFirst)
		ratio = append(ratio, p.NormRatio)
	}
	return plots.DualAxisLayers(layers,
		plots.Series{Name: "attention to token 0", Values: toFirst},
		plots.Series{Name: "‖x₀‖ / mean ‖xᵢ‖", Values: ratio},
		plots.DualAxisOptions{Options: o, Threshold: 0.8, MarkOnset: true, LogRight: allPositive(ratio)})
}

func positions(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

func toF32(x []float64) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(v)
	}
	return out
}

func allPositive(x []float64) bool {
	for _, v := range x {
		if !(v > 0) {
			return false
		}
	}
	return len(x) > 0
}
