package findings

import (
	"fmt"
	"strings"

	"github.com/sinkscope/sinkscope/datasets/bb"
	"github.com/sinkscope/sinkscope/datasets/stream"
	"github.com/sinkscope/sinkscope/plots"
	"github.com/sinkscope/sinkscope/sinks/interventions"
)

// SinkRemoval is the reverse of Figs. 5 and 6 (beyond the paper): the first-token sink taken away
// at inference, and what it costs in next-token loss and accuracy. Hide forbids every query to
// attend to token 0; Scale moves token 0's W_O input towards μ in every layer (λ = 0: μ itself).
type SinkRemoval struct {
	Data  string                        `json:"data"` // what the loss is measured on
	Hide  *interventions.MaskLossResult `json:"hide"`
	Scale *interventions.RemovalResult  `json:"scale"`
}

// NextTokenData are n sequences with next-token labels for source: Bigram-Backcopy validation
// windows (63 inputs) for a "trained:bb" model, else the main batch shifted by one token.
func NextTokenData(s *Setting, source string, n int) (inputs, labels [][]int, what string, err error) {
	if strings.HasPrefix(source, "trained:bb") {
		st, err := bb.NewStream(bb.DefaultTask(), 63, 1)
		if err != nil {
			return nil, nil, "", err
		}
		w, err := st.Val(0, n)
		if err != nil {
			return nil, nil, "", err
		}
		inputs, labels = stream.Split(w)
		return inputs, labels, fmt.Sprintf("%d Bigram-Backcopy validation windows × 63", n), nil
	}
	if len(s.Main) == 0 || len(s.Main[0]) < 3 {
		return nil, nil, "", fmt.Errorf("next-token data: the main batch needs sequences of at least 3 tokens")
	}
	rows := s.Main[:min(n, len(s.Main))]
	for _, r := range rows {
		inputs, labels = append(inputs, r[:len(r)-1]), append(labels, r[1:])
	}
	return inputs, labels, fmt.Sprintf("the main batch shifted by one token (%d × %d)", len(inputs), len(inputs[0])), nil
}

// RunSinkRemoval takes the first-token sink away on n sequences of NextTokenData, with μ the value
// mean of the random batch.
func RunSinkRemoval(s *Setting, source string, n int) (*SinkRemoval, error) {
	mu, err := randomMean(s)
	if err != nil {
		return nil, err
	}
	in, lab, what, err := NextTokenData(s, source, n)
	if err != nil {
		return nil, err
	}
	r := &SinkRemoval{Data: what}
	if r.Hide, err = interventions.MaskLoss(s.Model, in, lab, interventions.HideTokens([]int{0}), []int{0}, s.batch()); err != nil {
		return nil, err
	}
	all := make([]int, s.Model.Config.NLayers)
	for l := range all {
		all[l] = l
	}
	if r.Scale, err = interventions.Remove(s.Model, in, lab, interventions.FirstTokenRemoval(all...), mu, s.batch()); err != nil {
		return nil, err
	}
	return r, nil
}

// RunTargetSweep scales token k alone at λ = a.Lambdas[0] for each k in positions (beyond the paper)
// on the first AmplificationSamples sequences of the random batch.
func RunTargetSweep(s *Setting, a interventions.Amplification, positions []int) (*interventions.PositionSweep, error) {
	mu, err := randomMean(s)
	if err != nil {
		return nil, err
	}
	return interventions.SweepPositions(s.Model, s.Random[:min(AmplificationSamples, len(s.Random))], a, positions, mu, s.batch())
}

// randomMean is μ over the random batch (computed once per model and batch).
func randomMean(s *Setting) (*interventions.Mean, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if len(s.Random) < 2 {
		return nil, fmt.Errorf("μ is the value mean of the random batch, and there is none (give Params.Random > 1)")
	}
	return interventions.ValueMeanOn(s.Model, s.Random, s.batch())
}

// beyondFigures are the sink-removal figures (loss vs λ with the hidden-sink loss; attention to
// token 0 per layer) and the target sweep.
func beyondFigures(r *Results, opt func(id, title, subtitle string) plots.Options) ([]*plots.Figure, error) {
	var figs []*plots.Figure
	if rm := r.Removal; rm != nil && rm.Scale != nil && rm.Hide != nil {
		sc, n := rm.Scale, len(rm.Scale.Removal.Lambdas)
		hidden := make([]float64, n)
		for i := range hidden {
			hidden[i] = rm.Hide.After.Loss[0]
		}
		f, err := plots.LambdaSweep(sc.Removal.Lambdas, []plots.Series{
			{Name: "o'₀ = μ + λ(o₀ − μ)", Values: sc.Centred.Loss},
			{Name: "o'₀ = λ·o₀ (control)", Values: sc.Control.Loss, Dashed: true},
			{Name: "token 0 hidden (mask)", Values: hidden, Dashed: true},
		}, plots.LineOptions{Options: opt("beyond_sink_removal_loss", "Next-token loss without the first-token sink", rm.Data), XName: "λ (token 0's W_O input, all layers)", YName: "loss (nats)"})
		if err != nil {
			return nil, err
		}
		figs = append(figs, f)
		L := len(rm.Hide.Before.Attention[0])
		f, err = plots.PositionLines(positions(L), []plots.Series{
			{Name: "unmodified", Values: rm.Hide.Before.Attention[0]},
			{Name: "o'₀ = μ (λ = 0)", Values: sc.Centred.Attention[0]},
			{Name: "token 0 hidden", Values: rm.Hide.After.Attention[0], Dashed: true},
		}, plots.LineOptions{Options: opt("beyond_sink_removal_attention", "Attention to token 0 by layer, sink removed", rm.Data), XName: "layer", YName: "mean attention to token 0"})
		if err != nil {
			return nil, err
		}
		figs = append(figs, f)
	}
	if ts := r.TargetSweep; ts != nil {
		a := ts.Amplification
		f, err := plots.PositionLines(ts.Positions, []plots.Series{
			{Name: "unmodified", Values: ts.Unmodified},
			{Name: fmt.Sprintf("o'ₖ = μ + %g(oₖ − μ)", a.Lambdas[0]), Values: ts.Centred},
			{Name: fmt.Sprintf("o'ₖ = %g·oₖ (control)", a.Lambdas[0]), Values: ts.Control, Dashed: true},
		}, plots.LineOptions{Options: opt("beyond_target_sweep", fmt.Sprintf("Attention to token k at layer %d when token k is scaled, by k", a.Observe), fmt.Sprintf("W_O input of token k scaled in layers %v", a.Layers)), XName: "target position k", YName: "mean attention to k"})
		if err != nil {
			return nil, err
		}
		figs = append(figs, f)
	}
	return figs, nil
}

// TargetPositions are the targets 0, step, 2·step, … that T-token sequences allow (k < T−1).
func TargetPositions(T, step int) []int {
	var ks []int
	for k := 0; k < T-1; k += max(step, 1) {
		ks = append(ks, k)
	}
	return ks
}
