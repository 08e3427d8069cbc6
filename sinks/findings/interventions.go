package findings

import (
	"fmt"

	"github.com/sinkscope/sinkscope/plots"
	"github.com/sinkscope/sinkscope/sinks/interventions"
)

// MaskToken is the token Fig. 5 isolates: the tenth token, position 9.
const MaskToken = 9

// RunMaskIntervention is Fig. 5 on the main batch: token k may attend only to itself in every
// layer; the sink score of column k per layer before and after, and head-mean maps at the first,
// middle and last layer. The main batch needs more than k+1 tokens.
func RunMaskIntervention(s *Setting, k int) (*interventions.MaskResult, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return interventions.RunMask(s.Model, s.Main, interventions.IsolateToken(k), k, s.batch())
}

// AmplificationFor is the paper's Fig. 6 setting fitted to a model of nLayers layers: k = 10,
// changed layers 0 and 1 and read at layer 2 when the model has more than 2 layers, else changed at
// layer 0 and read at layer 1.
func AmplificationFor(nLayers int) interventions.Amplification {
	a := interventions.PaperAmplification()
	if nLayers <= a.Observe {
		a.Observe = max(nLayers-1, 1)
		a.Layers = a.Layers[:a.Observe]
	}
	return a
}

// AmplificationSamples is the number of random sequences the Fig. 6 sweep reads (paper: 200).
const AmplificationSamples = 200

// RunAmplification is Fig. 6 on the random batch (no BOS): μ is the value mean over the whole
// random batch in the layers before the observation layer (computed once per model and batch), and the λ sweep of both arms reads its first
// AmplificationSamples sequences.
func RunAmplification(s *Setting, a interventions.Amplification) (*interventions.AmplificationResult, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if len(s.Random) < 2 {
		return nil, fmt.Errorf("the amplification sweep reads the random batch, and there is none (give Params.Random > 1)")
	}
	mu, err := interventions.ValueMeanUpTo(s.Model, s.Random, s.batch(), a.Observe)
	if err != nil {
		return nil, err
	}
	return interventions.Sweep(s.Model, s.Random[:min(AmplificationSamples, len(s.Random))], a, mu, s.batch())
}

// interventionsSkipped says why Reproduce cannot run Figs. 5 and 6 on s ("" when it can).
func interventionsSkipped(s *Setting) string {
	a := AmplificationFor(s.Model.Config.NLayers)
	switch {
	case s.Model.Config.NLayers < 2:
		return "a one-layer model has no later layer to read the intervention at"
	case len(s.Main[0]) < MaskToken+2:
		return fmt.Sprintf("the main batch has %d tokens; isolating token %d needs at least %d", len(s.Main[0]), MaskToken, MaskToken+2)
	case len(s.Random) < 2:
		return "no random batch for the amplification sweep"
	case len(s.Random[0]) < a.Position+2:
		return fmt.Sprintf("the random batch has %d tokens; amplifying token %d needs at least %d", len(s.Random[0]), a.Position, a.Position+2)
	}
	return ""
}

// interventionFigures are Fig. 5 (the sink score of column k per layer before and after, and the
// masked head-mean maps with column k outlined) and Fig. 6 (both λ curves).
func interventionFigures(r *Results, opt func(id, title, subtitle string) plots.Options) ([]*plots.Figure, error) {
	var figs []*plots.Figure
	if m := r.Mask; m != nil {
		cols, before, after := []int{m.K}, [][]float64{m.Before}, [][]float64{m.After}
		if len(m.Columns) > 0 {
			cols, before, after = m.Columns, m.ColumnsBefore, m.ColumnsAfter
		}
		var series []plots.Series
		for i, k := range cols {
			series = append(series, plots.Series{Name: fmt.Sprintf("token %d, unmodified", k), Values: before[i], Dashed: true},
				plots.Series{Name: fmt.Sprintf("token %d, %s", k, m.Mask), Values: after[i]})
		}
		f, err := plots.PositionLines(positions(len(m.Before)), series,
			plots.LineOptions{Options: opt("fig5_mask_sink_score", fmt.Sprintf("Attention to tokens %v by layer, masked vs not (Fig. 5)", cols), r.Model), XName: "layer", YName: "mean attention to k"})
		if err != nil {
			return nil, err
		}
		figs = append(figs, f)
		for i, l := range m.MapLayers {
			f, err := plots.HeadMeanHeatmap(toF32Matrix(m.MapsAfter[i]), nil, plots.HeatmapOptions{
				Options:       opt(fmt.Sprintf("fig5_mask_layer%d", l), fmt.Sprintf("Head-mean attention, layer %d, %s (Fig. 5)", l, m.Mask), r.Model),
				HighlightKeys: cols})
			if err != nil {
				return nil, err
			}
			figs = append(figs, f)
		}
	}
	if a := r.Amplification; a != nil {
		s := a.Amplification
		f, err := plots.LambdaSweep(s.Lambdas, []plots.Series{
			{Name: "o' = μ + λ(o − μ)", Values: a.Centred},
			{Name: "o' = λ·o (control)", Values: a.Control, Dashed: true},
		}, plots.LineOptions{Options: opt("fig6_amplification", fmt.Sprintf("Attention to tokens %v at layer %d vs λ (Fig. 6)", s.Targets(), s.Observe), fmt.Sprintf("W_O input of tokens %v scaled in layers %v", s.Targets(), s.Layers)), XName: "λ", YName: "mean attention to k"})
		if err != nil {
			return nil, err
		}
		figs = append(figs, f)
	}
	return figs, nil
}

// interventionRows are the report rows of Figs. 5 and 6.
func interventionRows(r *Results, row func(item, what, paper, ours string)) {
	if m := r.Mask; m != nil && len(m.After) > 0 {
		L := len(m.After) - 1
		row("Fig. 5", fmt.Sprintf("token %d attends only to itself in every layer: attention to it at the last layer, unmodified → isolated", m.K),
			"a new sink column at k", fmt.Sprintf("%.3f → %.3f", m.Before[L], m.After[L]))
	}
	if a := r.Amplification; a != nil && len(a.Centred) > 0 {
		s, n := a.Amplification, len(a.Centred)-1
		row("Fig. 6", fmt.Sprintf("attention to token %d at layer %d, λ %g → %g: μ + λ(o − μ); control λ·o", s.Position, s.Observe, s.Lambdas[0], s.Lambdas[n]),
			"rises with λ; control: no sink", fmt.Sprintf("%.3f → %.3f; %.3f → %.3f", a.Centred[0], a.Centred[n], a.Control[0], a.Control[n]))
	} else if r.InterventionsSkipped != "" {
		row("Figs. 5–6", "interventions", "new sinks", "skipped: "+r.InterventionsSkipped)
	}
}

func toF32Matrix(x [][]float64) [][]float32 {
	out := make([][]float32, len(x))
	for i, row := range x {
		out[i] = toF32(row)
	}
	return out
}
