package interventions

import (
	"fmt"
	"math"
	"time"

	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// DefaultRemovalLambdas scale token 0's deviation from μ from removed (0) to untouched (1).
var DefaultRemovalLambdas = []float64{0, 0.25, 0.5, 0.75, 1}

// Removal is the reverse of Amplification (beyond the paper): at AmplifyPoint of the listed Layers,
// the W_O input of the target Positions becomes o' = μ + λ(o − μ) with λ ≤ 1 — λ = 0 replaces it by
// the value mean, removing its deviation — or o' = λ·o in the control arm (λ = 0 zeroes it). The
// run reads the next-token loss and accuracy and the attention to the targets in every layer, so
// the sink's function shows in what the model loses without it.
type Removal struct {
	Point     string    `json:"point"`
	Layers    []int     `json:"layers"`
	Positions []int     `json:"positions"`
	Lambdas   []float64 `json:"lambdas"`
}

// FirstTokenRemoval removes token 0's deviation from μ in the given layers, λ DefaultRemovalLambdas.
func FirstTokenRemoval(layers ...int) Removal {
	return Removal{Point: AmplifyPoint, Layers: layers, Positions: []int{0}, Lambdas: append([]float64(nil), DefaultRemovalLambdas...)}
}

// String prints the intervention in one line.
func (r Removal) String() string {
	return fmt.Sprintf("remove{%s of tokens %v in layers %v, λ %v}", r.Point, r.Positions, r.Layers, r.Lambdas)
}

// Validate checks the intervention against a model of nLayers layers and T-token sequences.
func (r Removal) Validate(nLayers, T int) error {
	if r.Point != AmplifyPoint {
		return fmt.Errorf("remove: hook point %q is not supported (only %q)", r.Point, AmplifyPoint)
	}
	if len(r.Layers) == 0 {
		return fmt.Errorf("remove: no layer to change")
	}
	if err := checkLayers(r.Layers, nLayers); err != nil {
		return fmt.Errorf("remove: %w", err)
	}
	if len(r.Positions) == 0 {
		return fmt.Errorf("remove: no target position")
	}
	if err := checkTargets(r.Positions, T); err != nil {
		return fmt.Errorf("remove: %w", err)
	}
	if len(r.Lambdas) == 0 {
		return fmt.Errorf("remove: no λ value")
	}
	return nil
}

// RemovalArm is one arm of a removal sweep, per λ.
type RemovalArm struct {
	Loss     []float64 `json:"loss"`     // mean next-token cross-entropy in nats over all positions
	Accuracy []float64 `json:"accuracy"` // share of positions whose argmax logit is the label
	// Attention[i][l] is the attention to the targets at layer l for λ i: the mean over targets of
	// their columns' sink scores.
	Attention [][]float64 `json:"attention"`
}

// RemovalResult is a removal sweep's outcome in the centred arm (o' = μ + λ(o − μ)) and the control
// arm (o' = λ·o), with the graphs compiled (both arms share them: one per micro-batch shape).
type RemovalResult struct {
	Removal      Removal    `json:"removal"`
	Centred      RemovalArm `json:"centred"`
	Control      RemovalArm `json:"control"`
	Compilations int        `json:"compilations"`
	Sequences    int        `json:"sequences"`
	SeqLen       int        `json:"seq_len"`
	Seconds      float64    `json:"seconds"`
}

// Remove runs the removal sweep of both arms on inputs with next-token labels (same shape, e.g.
// stream.Split of data windows) in micro-batches of at most batch sequences (0: 16). mu is the value
// mean of the model (ValueMean) for every layer.
func Remove(m *transformer.Model, inputs, labels [][]int, r Removal, mu *Mean, batch int) (*RemovalResult, error) {
	start := time.Now()
	cfg := m.Config
	if len(inputs) == 0 || len(inputs) != len(labels) {
		return nil, fmt.Errorf("remove: %d input and %d label sequences, want the same positive number", len(inputs), len(labels))
	}
	T := len(inputs[0])
	if err := r.Validate(cfg.NLayers, T); err != nil {
		return nil, err
	}
	if mu == nil || mu.Layers != cfg.NLayers {
		return nil, fmt.Errorf("remove: need the value mean of all %d layers (see ValueMean)", cfg.NLayers)
	}
	if batch <= 0 {
		batch = 16
	}
	H, dh := mu.Heads, mu.HeadDim
	res := &RemovalResult{Removal: r, Sequences: len(inputs), SeqLen: T}
	built := 0 // graphs the runs compiled
	for arm, c := range [][]float32{mu.Data, make([]float32, len(mu.Data))} {
		out := &res.Centred
		if arm == 1 {
			out = &res.Control
		}
		for _, lambda := range r.Lambdas {
			opts := append(scaleOptions(r.Point, cfg.NLayers, T, H, dh, r.Layers, r.Positions, lambda, c), transformer.CountCompiled(&built))
			loss, acc, attn, err := lossAndAttention(m, inputs, labels, r.Positions, batch, opts)
			if err != nil {
				return nil, fmt.Errorf("%s, λ %g: %w", r, lambda, err)
			}
			out.Loss, out.Accuracy, out.Attention = append(out.Loss, loss), append(out.Accuracy, acc), append(out.Attention, attn)
		}
	}
	res.Compilations = built
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// lossAndAttention runs inputs with opts and returns the mean next-token cross-entropy, the
// accuracy, and per layer the mean over targets of their columns' sink scores.
func lossAndAttention(m *transformer.Model, inputs, labels [][]int, targets []int, batch int, opts []transformer.Option) (float64, float64, []float64, error) {
	L, T := m.Config.NLayers, len(inputs[0])
	sums := make([][]float64, L) // [layer][k]
	counts := make([][]int, L)
	for l := range sums {
		sums[l], counts[l] = make([]float64, T-1), make([]int, T-1)
	}
	var nll float64
	var correct, n int
	for _, mb := range microBatches(inputs, batch) {
		lo, hi := mb.Lo, mb.Hi
		r, err := m.Run(mb.Seqs, append([]transformer.Option{transformer.Capture("blocks.*.attn.hook_pattern")}, opts...)...)
		if err != nil {
			return 0, 0, nil, fmt.Errorf("sequences %d..%d: %w", lo, hi-1, err)
		}
		s, c, err := crossEntropy(r.Logits.Rows(hi-lo), labels[lo:hi])
		if err != nil {
			return 0, 0, nil, fmt.Errorf("sequences %d..%d: %w", lo, hi-1, err)
		}
		nll, correct, n = nll+s, correct+c, n+(hi-lo)*T
		for l := 0; l < L; l++ {
			pat, err := r.Cache.Get("pattern", l) // [b, h, q, k]
			if err != nil {
				return 0, 0, nil, err
			}
			if err := addColumns(sums[l], counts[l], pat.Rows(hi-lo)); err != nil {
				return 0, 0, nil, fmt.Errorf("layer %d: %w", l, err)
			}
		}
	}
	attn := make([]float64, L)
	for l := range attn {
		cols := divide(sums[l], counts[l])
		for _, k := range targets {
			attn[l] += cols[k] / float64(len(targets))
		}
	}
	return nll / float64(n), float64(correct) / float64(n), attn, nil
}

// crossEntropy sums −log softmax(logits)[label] over logits [b, p, v] and counts the positions
// whose argmax is the label.
func crossEntropy(logits *transformer.Activation, labels [][]int) (float64, int, error) {
	s := logits.Shape
	if len(s) != 3 || s[0] != len(labels) {
		return 0, 0, fmt.Errorf("logits shape %v, want [%d, p, v]", s, len(labels))
	}
	B, T, V := s[0], s[1], s[2]
	var nll float64
	var correct int
	for b := 0; b < B; b++ {
		if len(labels[b]) != T {
			return 0, 0, fmt.Errorf("sequence %d has %d labels, want %d", b, len(labels[b]), T)
		}
		for p := 0; p < T; p++ {
			row := logits.Data[(b*T+p)*V : (b*T+p+1)*V] // [v]
			y := labels[b][p]
			if y < 0 || y >= V {
				return 0, 0, fmt.Errorf("sequence %d position %d: label %d outside the vocabulary [0, %d)", b, p, y, V)
			}
			best := 0
			for j, x := range row {
				if x > row[best] {
					best = j
				}
			}
			var z float64
			for _, x := range row {
				z += math.Exp(float64(x - row[best]))
			}
			nll += math.Log(z) - float64(row[y]-row[best])
			if best == y {
				correct++
			}
		}
	}
	return nll, correct, nil
}

// MaskLossResult is the next-token loss, accuracy and attention to the targets of a masked run
// next to the unmodified one (Arm's slices have one entry: index 0).
type MaskLossResult struct {
	Mask    Mask       `json:"mask"`
	Targets []int      `json:"targets"`
	Before  RemovalArm `json:"before"`
	After   RemovalArm `json:"after"`
	Seconds float64    `json:"seconds"`
}

// MaskLoss runs inputs with next-token labels without and with the mask (e.g. HideTokens([]int{0}),
// which takes the first-token sink away) and reads the loss, the accuracy and, per layer, the mean
// attention to the targets, in micro-batches of at most batch sequences (0: 16).
func MaskLoss(m *transformer.Model, inputs, labels [][]int, mask Mask, targets []int, batch int) (*MaskLossResult, error) {
	start := time.Now()
	if len(inputs) == 0 || len(inputs) != len(labels) {
		return nil, fmt.Errorf("mask loss: %d input and %d label sequences, want the same positive number", len(inputs), len(labels))
	}
	L, T := m.Config.NLayers, len(inputs[0])
	data, dims, err := mask.Build(L, T)
	if err != nil {
		return nil, err
	}
	if err := checkTargets(targets, T); err != nil {
		return nil, fmt.Errorf("mask loss: %w", err)
	}
	if batch <= 0 {
		batch = 16
	}
	res := &MaskLossResult{Mask: mask, Targets: append([]int(nil), targets...)}
	for i, opts := range [][]transformer.Option{nil, {transformer.WithAttentionMask(data, dims...)}} {
		loss, acc, attn, err := lossAndAttention(m, inputs, labels, targets, batch, opts)
		if err != nil {
			return nil, fmt.Errorf("mask loss (%s, masked %v): %w", mask, i == 1, err)
		}
		arm := RemovalArm{Loss: []float64{loss}, Accuracy: []float64{acc}, Attention: [][]float64{attn}}
		if i == 0 {
			res.Before = arm
		} else {
			res.After = arm
		}
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// PositionSweep is the sink score at k when token k alone is scaled at one λ, for every k in
// Positions (beyond the paper: which positions can become a sink).
type PositionSweep struct {
	Amplification Amplification `json:"amplification"` // Lambdas[0] is the λ; Position(s) are ignored
	Positions     []int         `json:"positions"`
	Unmodified    []float64     `json:"unmodified"` // column k's score with no intervention
	Centred       []float64     `json:"centred"`    // o'_k = μ + λ(o_k − μ)
	Control       []float64     `json:"control"`    // o'_k = λ·o_k
	Compilations  int           `json:"compilations"`
	Seconds       float64       `json:"seconds"`
}

// SweepPositions runs a's changed layers and observation layer at λ = a.Lambdas[0] with each target
// k in positions in turn (both arms), on tokens in micro-batches of at most batch sequences. k is a
// graph input: the sweep compiles at most one graph per micro-batch shape.
func SweepPositions(m *transformer.Model, tokens [][]int, a Amplification, positions []int, mu *Mean, batch int) (*PositionSweep, error) {
	start := time.Now()
	if len(tokens) == 0 || len(positions) == 0 {
		return nil, fmt.Errorf("position sweep: %d sequences and %d positions, want both > 0", len(tokens), len(positions))
	}
	T := len(tokens[0])
	a.Position, a.Positions = positions[0], nil
	if err := a.Validate(m.Config.NLayers, T); err != nil {
		return nil, err
	}
	if err := checkTargets(positions, T); err != nil {
		return nil, fmt.Errorf("position sweep: %w", err)
	}
	if mu == nil || mu.Layers < a.Observe {
		return nil, fmt.Errorf("position sweep: need the value mean of layers 0..%d (see ValueMean)", a.Observe-1)
	}
	H, dh, lambda := mu.Heads, mu.HeadDim, a.Lambdas[0]
	centre := mu.Data[:a.Observe*H*dh] // [Observe, h, dh]
	res := &PositionSweep{Amplification: a, Positions: append([]int(nil), positions...)}
	built := 0 // graphs the runs compiled
	count := transformer.CountCompiled(&built)
	plain, err := observedColumns(m, tokens, a.Observe, batch, append(a.options(T, H, dh, 1, centre), count))
	if err != nil {
		return nil, fmt.Errorf("position sweep, unmodified run: %w", err)
	}
	for _, k := range positions {
		res.Unmodified = append(res.Unmodified, plain[k])
		for arm, c := range [][]float32{centre, make([]float32, len(centre))} {
			b := a
			b.Position = k
			cols, err := observedColumns(m, tokens, a.Observe, batch, append(b.options(T, H, dh, lambda, c), count))
			if err != nil {
				return nil, fmt.Errorf("position sweep, %s: %w", b, err)
			}
			if arm == 0 {
				res.Centred = append(res.Centred, cols[k])
			} else {
				res.Control = append(res.Control, cols[k])
			}
		}
	}
	res.Compilations = built
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}
