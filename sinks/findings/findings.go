// Package findings runs the paper's findings on a model, one function per finding: each chooses the
// hook points it needs, runs the model in micro-batches (only those points are materialised), and
// computes the statistics of package metrics. Results are plain structs with every number, ready for
// results.json, a report, a notebook or a figure.
//
// The findings follow the causal chain of "The Structural Origin of Attention Sink" (PAPER.md):
// variance discrepancy (Fig. 4a/4b, the toy block, Fig. 7) → super neurons (Fig. 8–10) → dimension
// disparity (Table 1) → sink onset (Fig. 3) and the QK lock (Fig. 12), plus effective rank (Fig. 21).
package findings

import (
	"fmt"

	"github.com/sinkscope/sinkscope/sinks/metrics"
	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// Setting is what the findings run on.
type Setting struct {
	Model *transformer.Model
	// Text is the text batch (paper: 20 samples × 64 tokens, BOS prepended when the model has one).
	Text [][]int
	// Random is the random-token batch of Fig. 4b (paper: 500 sequences × 64, no BOS).
	Random [][]int
	// Batch bounds the sequences per forward pass (memory); 0 means 16.
	Batch int
	// NeuronLayer is the layer searched for super neurons (paper: 1 for Llama-2-7B); the disparity
	// and the QK lock are read at the next layer.
	NeuronLayer int
	// VarianceLayers are the layers of Fig. 4a (paper: 0, 1, 2).
	VarianceLayers []int
}

func (s *Setting) batch() int {
	if s.Batch <= 0 {
		return 16
	}
	return s.Batch
}

// Validate checks the setting against the model.
func (s *Setting) Validate() error {
	if s.Model == nil {
		return fmt.Errorf("findings: no model")
	}
	L := s.Model.Config.NLayers
	if len(s.Text) == 0 {
		return fmt.Errorf("findings: empty text batch")
	}
	if s.NeuronLayer < 0 || s.NeuronLayer+1 >= L {
		return fmt.Errorf("findings: NeuronLayer %d must be in 0..%d (the next layer is read too) for a %d-layer model", s.NeuronLayer, L-2, L)
	}
	for _, l := range s.VarianceLayers {
		if l < 0 || l >= L {
			return fmt.Errorf("findings: VarianceLayers has layer %d, outside 0..%d", l, L-1)
		}
	}
	return nil
}

func (s *Setting) run(tokens [][]int, names ...string) (*transformer.Cache, error) {
	return s.Model.RunWithCacheBatched(tokens, s.batch(), names...)
}

// SinkOnset is paper Fig. 3 plus Gu et al.'s sink scores.
type SinkOnset struct {
	Profile []metrics.LayerSink `json:"profile"`
	Onset   int                 `json:"onset_layer"` // −1: no layer above 0.8
	Gu      *metrics.GuScores   `json:"gu"`
}

// RunSinkOnset computes the per-layer attention to token 0, the token-0 norm ratio, the onset layer
// and Gu et al.'s α_0 per (layer, head) with ε = 0.3, on the text batch.
func RunSinkOnset(s *Setting) (*SinkOnset, error) {
	c, err := s.run(s.Text, metrics.SinkProfileNames...)
	if err != nil {
		return nil, err
	}
	L := s.Model.Config.NLayers
	prof, err := metrics.SinkProfile(c, L)
	if err != nil {
		return nil, err
	}
	var patterns []*transformer.Activation
	for l := 0; l < L; l++ {
		patterns = append(patterns, c.MustGet("pattern", l))
	}
	gu, err := metrics.GuSinkScores(patterns, 0, 0.3)
	if err != nil {
		return nil, err
	}
	return &SinkOnset{Profile: prof, Onset: metrics.SinkOnset(prof), Gu: gu}, nil
}

// LayerCurve is one per-position curve with its σ_v/√(t+1) fit.
type LayerCurve struct {
	Layer int                     `json:"layer"`
	Std   []float64               `json:"std"`
	Fit   *metrics.InverseSqrtFit `json:"fit"`
}

// Variance is paper Fig. 4a (text, within-token std of the W_O input per position, several layers),
// Fig. 4b (random tokens, across-sample std per position at the neuron layer) and the toy check.
type Variance struct {
	Text   []LayerCurve       `json:"text"`
	Random *LayerCurve        `json:"random,omitempty"`
	Toy    *metrics.ToyResult `json:"toy,omitempty"`
}

// RunVariance computes Fig. 4a on the text batch, Fig. 4b on the random batch (when given), and the
// toy block when toy is true.
func RunVariance(s *Setting, toy bool) (*Variance, error) {
	layers := s.VarianceLayers
	if len(layers) == 0 {
		layers = []int{0, 1, 2}
		if s.Model.Config.NLayers < 3 {
			layers = layers[:s.Model.Config.NLayers]
		}
	}
	var names []string
	for _, l := range layers {
		names = append(names, fmt.Sprintf("blocks.%d.attn.hook_z", l))
	}
	c, err := s.run(s.Text, names...)
	if err != nil {
		return nil, err
	}
	v := &Variance{}
	for _, l := range layers {
		curve, err := layerCurve(c, l, metrics.WithinTokenStd)
		if err != nil {
			return nil, err
		}
		v.Text = append(v.Text, *curve)
	}
	if len(s.Random) > 1 {
		l := s.NeuronLayer
		c, err := s.run(s.Random, fmt.Sprintf("blocks.%d.attn.hook_z", l))
		if err != nil {
			return nil, err
		}
		if v.Random, err = layerCurve(c, l, metrics.AcrossSampleStd); err != nil {
			return nil, err
		}
	}
	if toy {
		t, err := metrics.ToyBlock(metrics.DefaultToyConfig())
		if err != nil {
			return nil, err
		}
		v.Toy = t
	}
	return v, nil
}

// layerCurve applies a per-position statistic to layer l's W_O input (hook_z) and fits σ_v/√(t+1).
func layerCurve(c *transformer.Cache, l int, stat func(*transformer.Activation) ([]float64, error)) (*LayerCurve, error) {
	std, err := stat(c.MustGet("z", l))
	if err != nil {
		return nil, err
	}
	fit, err := metrics.FitInverseSqrt(std)
	if err != nil {
		return nil, err
	}
	return &LayerCurve{Layer: l, Std: std, Fit: fit}, nil
}

// RunWOPreservation is paper Fig. 7 at the neuron layer: within-token std per position of the W_O
// input and of the attention output, and their rank correlation.
func RunWOPreservation(s *Setting) (*metrics.WOPreservation, error) {
	l := s.NeuronLayer
	c, err := s.run(s.Text, fmt.Sprintf("blocks.%d.attn.hook_z", l), fmt.Sprintf("blocks.%d.hook_attn_out", l))
	if err != nil {
		return nil, err
	}
	return metrics.WOPreserve(c.MustGet("z", l), c.MustGet("attn_out", l))
}

// SuperNeurons is paper Fig. 8 (row norms of W_gate and W_up), the activation-contrast ranking,
// Fig. 9 (selective activation of the chosen neuron) and Fig. 10 (its down-projection column).
type SuperNeurons struct {
	Layer    int               `json:"layer"`
	GateNorm *metrics.RowNorms `json:"gate_row_norms"`
	UpNorm   *metrics.RowNorms `json:"up_row_norms"`
	Contrast *metrics.Contrast `json:"contrast"`
	// Neuron is the super neuron studied in Fig. 9–10: the top of the activation-contrast ranking
	// (the channel that fires on token 0); ByNorm is the top of the W_up row-norm ranking (the
	// paper's method), which coincides with Neuron in Llama-2-7B but not always in small models.
	Neuron    int                 `json:"neuron"`
	ByNorm    int                 `json:"neuron_by_row_norm"`
	Selective *metrics.Selective  `json:"selective"`
	Down      *metrics.DownColumn `json:"down_column"`
}

// RunSuperNeurons ranks the FFN channels of the neuron layer and describes the chosen neuron.
func RunSuperNeurons(s *Setting, topK int) (*SuperNeurons, error) {
	cfg := s.Model.Config
	if cfg.MLP != transformer.SwiGLU {
		return nil, fmt.Errorf("findings: super neurons need a gated (SwiGLU) MLP; %s has %q", cfg.Family, cfg.MLP)
	}
	l := s.NeuronLayer
	F, D := cfg.DMLP, cfg.DModel
	gate, _, err := s.Model.Param(fmt.Sprintf("blocks/%d/mlp/gate/weights", l))
	if err != nil {
		return nil, err
	}
	up, _, err := s.Model.Param(fmt.Sprintf("blocks/%d/mlp/up/weights", l))
	if err != nil {
		return nil, err
	}
	down, _, err := s.Model.Param(fmt.Sprintf("blocks/%d/mlp/down/weights", l))
	if err != nil {
		return nil, err
	}
	r := &SuperNeurons{Layer: l}
	if r.GateNorm, err = metrics.RowNormRanking(gate, F, D, topK); err != nil {
		return nil, err
	}
	if r.UpNorm, err = metrics.RowNormRanking(up, F, D, topK); err != nil {
		return nil, err
	}
	c, err := s.run(s.Text, fmt.Sprintf("blocks.%d.mlp.hook_post", l), fmt.Sprintf("blocks.%d.mlp.hook_up", l),
		fmt.Sprintf("blocks.%d.ln2.hook_normalized", l))
	if err != nil {
		return nil, err
	}
	if r.Contrast, err = metrics.ActivationContrast(c.MustGet("mlp.post", l), topK); err != nil {
		return nil, err
	}
	r.Neuron, r.ByNorm = r.Contrast.Order[0], r.UpNorm.Order[0]
	n := r.Neuron
	if r.Selective, err = metrics.SelectiveActivation(c.MustGet("ln2.normalized", l), c.MustGet("mlp.up", l), gate[n*D:(n+1)*D], n); err != nil {
		return nil, err
	}
	if r.Down, err = metrics.DownColumnSparsity(down, D, F, n, 10); err != nil {
		return nil, err
	}
	return r, nil
}

// Disparity is paper Table 1 and the dominance ratio per layer.
type Disparity struct {
	Layer     int       `json:"layer"` // the layer whose input norm is read (NeuronLayer + 1)
	Dim       int       `json:"massive_dim"`
	DimValue  float64   `json:"massive_dim_mean_abs"` // mean |x[Dim]| of token 0 entering Layer
	Disparity float64   `json:"disparity"`            // at Layer's ln1 output, token 0 (mean of per-sample ratios)
	Pooled    float64   `json:"disparity_pooled"`     // the same from batch means (the authors' computation)
	Dominance []float64 `json:"dominance_per_layer"`  // max|x|/mean|x| of token 0 entering each layer
}

// RunDisparity finds token 0's massive dimension entering the layer after the neuron layer and
// measures the disparity after that layer's input norm, and the dominance ratio of every layer.
func RunDisparity(s *Setting) (*Disparity, error) {
	L := s.Model.Config.NLayers
	next := s.NeuronLayer + 1
	c, err := s.run(s.Text, "blocks.*.hook_resid_pre", fmt.Sprintf("blocks.%d.ln1.hook_normalized", next))
	if err != nil {
		return nil, err
	}
	d := &Disparity{Layer: next}
	if d.Dim, d.DimValue, err = metrics.MassiveDim(c.MustGet("resid_pre", next), 0); err != nil {
		return nil, err
	}
	if d.Disparity, err = metrics.DimensionDisparity(c.MustGet("ln1.normalized", next), 0, d.Dim); err != nil {
		return nil, err
	}
	if d.Pooled, err = metrics.DimensionDisparityPooled(c.MustGet("ln1.normalized", next), 0, d.Dim); err != nil {
		return nil, err
	}
	for l := 0; l < L; l++ {
		r, err := metrics.DominanceRatio(c.MustGet("resid_pre", l), 0)
		if err != nil {
			return nil, err
		}
		d.Dominance = append(d.Dominance, r)
	}
	return d, nil
}

// QKLock is paper Fig. 12 at one layer.
type QKLock struct {
	Layer int                `json:"layer"`
	Dim   int                `json:"massive_dim"`
	Heads []metrics.HeadLock `json:"heads"`
}

// RunQKLock measures, per head of layer, how the query side locks onto the key direction that the
// massive dimension dim writes.
func RunQKLock(s *Setting, layer, dim int) (*QKLock, error) {
	if layer < 0 || layer >= s.Model.Config.NLayers {
		return nil, fmt.Errorf("findings: QK lock layer %d is outside 0..%d", layer, s.Model.Config.NLayers-1)
	}
	wq, _, err := s.Model.Param(fmt.Sprintf("blocks/%d/attn/q/weights", layer))
	if err != nil {
		return nil, err
	}
	wk, _, err := s.Model.Param(fmt.Sprintf("blocks/%d/attn/k/weights", layer))
	if err != nil {
		return nil, err
	}
	c, err := s.run(s.Text, fmt.Sprintf("blocks.%d.attn.hook_q", layer), fmt.Sprintf("blocks.%d.attn.hook_k", layer))
	if err != nil {
		return nil, err
	}
	heads, err := metrics.QKLock(s.Model.Config, wq, wk, dim, c.MustGet("attn.q", layer), c.MustGet("attn.k", layer))
	if err != nil {
		return nil, err
	}
	return &QKLock{Layer: layer, Dim: dim, Heads: heads}, nil
}

// RunEffectiveRank is paper Fig. 21: the effective rank of each layer's input hidden states
// (mean over the text samples), and of the final norm's output as the last entry.
func RunEffectiveRank(s *Setting) ([]float64, error) {
	L := s.Model.Config.NLayers
	c, err := s.run(s.Text, "blocks.*.hook_resid_pre", "ln_final.hook_normalized")
	if err != nil {
		return nil, err
	}
	var out []float64
	for l := 0; l <= L; l++ {
		a := c.MustGet("ln_final.hook_normalized")
		if l < L {
			a = c.MustGet("resid_pre", l)
		}
		_, mean, err := metrics.EffectiveRank(a)
		if err != nil {
			return nil, err
		}
		out = append(out, mean)
	}
	return out, nil
}
