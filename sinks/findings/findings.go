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
	"maps"
	"slices"
	"sync"

	"github.com/sinkscope/sinkscope/sinks/devstats"
	"github.com/sinkscope/sinkscope/sinks/metrics"
	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// NeuronLayerAuto asks for the super-neuron layer to be found by ScanNeurons (the default):
// every layer's strongest token-0 channel is reported and the strongest layer is analysed.
const NeuronLayerAuto = -1

// Setting is what the findings run on.
type Setting struct {
	Model *transformer.Model
	// Main is the main batch (paper: 20 text samples × 64 tokens, BOS prepended when the model has
	// one); MainBOS says whether position 0 of every sequence is the BOS token.
	Main    [][]int
	MainBOS bool
	// Random is the random-token batch of Fig. 4b (paper: 500 sequences × 64, no BOS).
	Random [][]int
	// Batch bounds the sequences per forward pass (memory); 0 means 16.
	Batch int
	// NeuronLayer is the layer searched for super neurons (paper: 1 for Llama-2-7B), any layer of
	// the model; the disparity and the QK lock are read at the next layer (the final norm when it
	// is the last layer, and then there is no QK lock). NeuronLayerAuto: Resolve scans the layers.
	NeuronLayer int
	// Scan is the layer scan that chose NeuronLayer (nil when NeuronLayer was given).
	Scan *NeuronScan
	// VarianceLayers are the layers of Fig. 4a (paper: 0, 1, 2).
	VarianceLayers []int

	shared *sharedRun // see ShareMainRun; nil: every finding runs the main batch itself
}

// sharedRun is one run of the main batch capturing the hook points of several findings.
type sharedRun struct {
	names map[string]bool
	mu    sync.Mutex         // guards cache: findings may run at once (Options.Overlap)
	cache *transformer.Cache // nil until the first finding that reads from it
}

// ShareMainRun declares the hook points that the findings to come will capture from the main
// batch (Reproduce passes MainCaptures). The first finding that reads a subset of them runs the
// main batch once capturing all of them — one compiled graph instead of one per finding, which on
// a GPU is seconds per graph for a 7B model — and the later ones read that run's cache. The forward
// pass is the same; only which activations leave the device differs, so each finding's values are
// those of its own run up to float32 rounding (XLA may fuse two graphs differently). The
// activations stay on the host until ShareMainRun() without names drops them.
func (s *Setting) ShareMainRun(names ...string) {
	if len(names) == 0 {
		s.shared = nil
		return
	}
	p := &sharedRun{names: map[string]bool{}}
	for _, n := range names {
		p.names[n] = true
	}
	s.shared = p
}

// MainCaptures are the main-batch hook points that RunVariance, RunWOPreservation,
// RunSuperNeurons and RunQKLockNext capture on this setting (its neuron layer must be known).
func (s *Setting) MainCaptures() ([]string, error) {
	l, err := s.neuronLayer()
	if err != nil {
		return nil, err
	}
	names := varianceNames(s.varianceLayers())
	names = append(names, woNames(l)...)
	names = append(names, neuronNames(s.Model.Config, l)...)
	if next := l + 1; next < s.Model.Config.NLayers {
		names = append(names, qkNames(next)...)
	}
	return names, nil
}

func varianceNames(layers []int) []string {
	var names []string
	for _, l := range layers {
		names = append(names, fmt.Sprintf("blocks.%d.attn.hook_z", l))
	}
	return names
}

func woNames(l int) []string {
	return []string{fmt.Sprintf("blocks.%d.attn.hook_z", l), fmt.Sprintf("blocks.%d.hook_attn_out", l)}
}

// neuronNames are RunSuperNeurons' captures: the FFN activation, the pre-activation of Fig. 9's
// cosine (W_up's output in SwiGLU, whose gate row is the cosine row; the pre-activation itself in a
// GELU MLP) and the normalised FFN input.
func neuronNames(cfg *transformer.Config, l int) []string {
	pre := "mlp.hook_pre"
	if cfg.MLP == transformer.SwiGLU {
		pre = "mlp.hook_up"
	}
	return []string{fmt.Sprintf("blocks.%d.mlp.hook_post", l), fmt.Sprintf("blocks.%d.%s", l, pre), fmt.Sprintf("blocks.%d.ln2.hook_normalized", l)}
}

func qkNames(layer int) []string {
	return []string{fmt.Sprintf("blocks.%d.attn.hook_q", layer), fmt.Sprintf("blocks.%d.attn.hook_k", layer),
		fmt.Sprintf("blocks.%d.ln1.hook_normalized", layer)}
}

func (s *Setting) varianceLayers() []int {
	layers := s.VarianceLayers
	if len(layers) == 0 {
		layers = []int{0, 1, 2}
		if s.Model.Config.NLayers < 3 {
			layers = layers[:s.Model.Config.NLayers]
		}
	}
	return layers
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
	if len(s.Main) == 0 {
		return fmt.Errorf("findings: empty main batch")
	}
	if len(s.Main[0]) < 2 {
		return fmt.Errorf("findings: main batch sequences have %d token(s); the findings compare token 0 with later tokens, so give at least 2", len(s.Main[0]))
	}
	if s.NeuronLayer != NeuronLayerAuto && (s.NeuronLayer < 0 || s.NeuronLayer >= L) {
		return fmt.Errorf("findings: NeuronLayer (--layer) %d is outside 0..%d for a %d-layer model (or use auto: %d)", s.NeuronLayer, L-1, L, NeuronLayerAuto)
	}
	for _, l := range s.VarianceLayers {
		if l < 0 || l >= L {
			return fmt.Errorf("findings: VarianceLayers has layer %d, outside 0..%d", l, L-1)
		}
	}
	return nil
}

// Resolve validates the setting and, when NeuronLayer is NeuronLayerAuto, runs ScanNeurons and
// sets NeuronLayer to the strongest layer (Scan keeps every layer's candidate).
func (s *Setting) Resolve() error {
	if err := s.Validate(); err != nil {
		return err
	}
	if s.NeuronLayer != NeuronLayerAuto {
		return nil
	}
	scan, err := ScanNeurons(s)
	if err != nil {
		return fmt.Errorf("super-neuron layer scan: %w", err)
	}
	s.Scan, s.NeuronLayer = scan, scan.Best
	return nil
}

// neuronLayer is the resolved NeuronLayer, or an error that says to call Resolve.
func (s *Setting) neuronLayer() (int, error) {
	if s.NeuronLayer == NeuronLayerAuto {
		return 0, fmt.Errorf("findings: NeuronLayer is auto; call Setting.Resolve (Prepare does) to scan the layers first")
	}
	if err := s.Validate(); err != nil {
		return 0, err
	}
	return s.NeuronLayer, nil
}

func (s *Setting) run(tokens [][]int, names ...string) (*transformer.Cache, error) {
	if p := s.shared; p != nil && isMain(s, tokens) && p.covers(names) {
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.cache == nil {
			all := slices.Sorted(maps.Keys(p.names))
			c, err := s.Model.RunWithCacheBatched(tokens, s.batch(), all...)
			if err != nil {
				return nil, err
			}
			p.cache = c
		}
		return p.cache, nil
	}
	return s.Model.RunWithCacheBatched(tokens, s.batch(), names...)
}

// isMain is whether tokens is the setting's main batch itself (the same slice).
func isMain(s *Setting, tokens [][]int) bool {
	return len(tokens) > 0 && len(tokens) == len(s.Main) && &tokens[0] == &s.Main[0]
}

func (p *sharedRun) covers(names []string) bool {
	for _, n := range names {
		if !p.names[n] {
			return false
		}
	}
	return true
}

// LayerCandidate is one layer's strongest token-0 FFN channel (see ScanNeurons).
type LayerCandidate struct {
	Layer int `json:"layer"`
	// Neuron is the channel with the largest First − Rest (mean |activation| at token 0 minus at
	// tokens 1..T−1, of the W_down input); First and Rest are its two means.
	Neuron int     `json:"neuron"`
	First  float64 `json:"first"`
	Rest   float64 `json:"rest"`
	// NeuronByRatio is the channel with the largest First / Rest (the other contrast reading).
	NeuronByRatio int     `json:"neuron_by_ratio"`
	Ratio         float64 `json:"ratio"` // First / Rest of NeuronByRatio
	// DownDim is the residual dimension Neuron writes most (argmax_j |W_down[j, Neuron]|) and
	// DownMax that |weight|.
	DownDim int     `json:"down_dim"`
	DownMax float64 `json:"down_max"`
	// Selectivity = (First − Rest) / (First + Rest), in [−1, 1]: 1 for a channel silent outside
	// token 0 (a super neuron "fires almost only on token 0"), 0 for one that fires alike everywhere.
	Selectivity float64 `json:"selectivity"`
	// Strength = (First − Rest) · DownMax · Selectivity: how much more the channel writes into one
	// residual dimension at token 0 than at the other tokens, discounted when it fires broadly.
	Strength float64 `json:"strength"`
	// FeedsAttention is false for the last layer: its FFN output reaches no later attention layer,
	// so it cannot make a sink; the scan picks among the other layers (of a 1-layer model, layer 0).
	FeedsAttention bool `json:"feeds_attention"`
}

// NeuronScan is the super-neuron layer scan: one candidate per layer and the strongest layer.
type NeuronScan struct {
	Layers []LayerCandidate `json:"layers"`
	Best   int              `json:"best_layer"`
	Rule   string           `json:"rule"`
}

// ScanRule says how ScanNeurons picks the layer (for reports).
const ScanRule = "largest strength = (First − Rest) · max|W_down[:, n]| · selectivity among the layers whose FFN feeds a later attention layer, n each layer's top First − Rest channel"

// ScanNeurons looks for the super neuron in every layer instead of assuming Llama-2-7B's layer 1:
// per layer, the FFN channel (W_down input, blocks.{L}.mlp.hook_post) that fires most on token 0
// relative to the other tokens of the main batch, how strongly it writes into one residual
// dimension, and the layer where that is strongest. Works for gated (SwiGLU) and plain (GELU) MLPs.
func ScanNeurons(s *Setting) (*NeuronScan, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	cfg := s.Model.Config
	L, D := cfg.NLayers, cfg.DModel
	// The contrast is reduced on the device (devstats; metrics.ActivationContrast is its host
	// reference): [b, f] per layer leaves it instead of every layer's [b, T, f] FFN activation
	// (1.8 GB for Llama-2-7B's 32 layers over 20 × 64 tokens).
	cons, err := devstats.ActivationContrasts(s.Model, s.Main, s.batch(), scanPoint, 1)
	if err != nil {
		return nil, err
	}
	scan := &NeuronScan{Rule: ScanRule}
	for l := 0; l < L; l++ {
		con := cons[fmt.Sprintf("blocks.%d.mlp.hook_post", l)]
		if con == nil {
			return nil, fmt.Errorf("layer %d: no FFN contrast (blocks.%d.mlp.hook_post was not reduced)", l, l)
		}
		n := con.OrderByDiff[0]
		down, err := s.Model.ParamColumn(fmt.Sprintf("blocks/%d/mlp/down/weights", l), n) // W_down[:, n]: [d]
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", l, err)
		}
		col, err := metrics.DownColumnSparsity(down, D, 1, 0, 1)
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", l, err)
		}
		cand := LayerCandidate{Layer: l, Neuron: n, First: con.First[n], Rest: con.Rest[n],
			NeuronByRatio: con.Order[0], Ratio: con.Score[con.Order[0]],
			DownDim: col.TopDims[0], DownMax: col.SortedAbs[0], FeedsAttention: l < L-1 || L == 1}
		if sum := cand.First + cand.Rest; sum > 0 {
			cand.Selectivity = (cand.First - cand.Rest) / sum
		}
		cand.Strength = (cand.First - cand.Rest) * cand.DownMax * cand.Selectivity
		scan.Layers = append(scan.Layers, cand)
		if cand.FeedsAttention && (l == 0 || cand.Strength > scan.Layers[scan.Best].Strength) {
			scan.Best = l
		}
	}
	return scan, nil
}

// scanPoint is where ScanNeurons reads every layer's FFN activation (the W_down inputs).
const scanPoint = "blocks.*.mlp.hook_post"

// SinkOnset is paper Fig. 3 plus Gu et al.'s sink scores.
type SinkOnset struct {
	Profile []metrics.LayerSink `json:"profile"`
	Onset   int                 `json:"onset_layer"` // −1: no layer above 0.8
	Gu      *metrics.GuScores   `json:"gu"`
}

// RunSinkOnset computes the per-layer attention to token 0, the token-0 norm ratio, the onset layer
// and Gu et al.'s α_0 per (layer, head) with ε = 0.3, on the main batch.
func RunSinkOnset(s *Setting) (*SinkOnset, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	// The sums are taken on the device (package devstats): only kilobytes leave it, where the
	// patterns are B·H·T² floats per layer. metrics.SinkProfile and metrics.GuSinkScores are the
	// host reference the devstats tests compare against.
	prof, gu, err := devstats.SinkOnset(s.Model, s.Main, s.batch(), 0, metrics.GuEps)
	if err != nil {
		return nil, err
	}
	return &SinkOnset{Profile: prof, Onset: metrics.SinkOnset(prof), Gu: gu}, nil
}

// LayerCurve is one per-position curve with its σ_v/√(t+1) fit.
type LayerCurve struct {
	Layer int `json:"layer"`
	// Std is the population std (divide by n), the reading sinkscope plots; StdBessel the
	// Bessel-corrected one (divide by n − 1, torch's default and the authors' notebook), larger by
	// √(n/(n−1)) with n = BesselN values per std (hidden size for Fig. 4a, samples for Fig. 4b).
	Std       []float64               `json:"std"`
	StdBessel []float64               `json:"std_bessel"`
	BesselN   int                     `json:"bessel_n"`
	Fit       *metrics.InverseSqrtFit `json:"fit"`
}

// Variance is paper Fig. 4a (main batch, within-token std of the W_O input per position, several
// layers), Fig. 4b (random tokens, across-sample std per position at the neuron layer) and the toy
// check.
type Variance struct {
	Main   []LayerCurve       `json:"main"`
	Random *LayerCurve        `json:"random,omitempty"`
	Toy    *metrics.ToyResult `json:"toy,omitempty"`
}

// RunVariance computes Fig. 4a on the main batch, Fig. 4b on the random batch (when given), and the
// toy block when toy is true.
func RunVariance(s *Setting, toy bool) (*Variance, error) {
	nl, err := s.neuronLayer()
	if err != nil {
		return nil, err
	}
	layers := s.varianceLayers()
	// The main batch's W_O inputs come to the host (20 × 64 tokens: 63 MB for three layers of a 7B
	// model), where the stds are float64: a float32 std on the device differs in the 7th digit, and on
	// a nearly flat curve (a model without the discrepancy) the fit's R² = 1 − SS_res/SS_tot magnifies
	// that into the 3rd. The random batch (500 × 64: 524 MB) is reduced on the device (package
	// devstats, metrics.AcrossSampleStd its host reference): its W_O inputs never leave it.
	c, err := s.run(s.Main, varianceNames(layers)...)
	if err != nil {
		return nil, err
	}
	v := &Variance{}
	for _, l := range layers {
		z := c.MustGet("z", l)
		std, err := metrics.WithinTokenStd(z)
		if err != nil {
			return nil, err
		}
		curve, err := layerCurve(std, l, z.Shape[2]*z.Shape[3])
		if err != nil {
			return nil, err
		}
		v.Main = append(v.Main, *curve)
	}
	if len(s.Random) > 1 {
		std, err := devstats.AcrossSampleStd(s.Model, s.Random, s.batch(), fmt.Sprintf("blocks.%d.attn.hook_z", nl))
		if err != nil {
			return nil, err
		}
		if v.Random, err = layerCurve(std, nl, len(s.Random)); err != nil {
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

// layerCurve fits σ_v/√(t+1) to layer l's per-position std of the W_O input (hook_z) and adds the
// Bessel-corrected curve for n values per std.
func layerCurve(std []float64, l int, n int) (*LayerCurve, error) {
	fit, err := metrics.FitInverseSqrt(std)
	if err != nil {
		return nil, err
	}
	f := metrics.BesselFactor(n)
	bessel := make([]float64, len(std))
	for i, v := range std {
		bessel[i] = v * f
	}
	return &LayerCurve{Layer: l, Std: std, StdBessel: bessel, BesselN: n, Fit: fit}, nil
}

// RunWOPreservation is paper Fig. 7 at the neuron layer: within-token std per position of the W_O
// input and of the attention output, and their rank correlation.
func RunWOPreservation(s *Setting) (*metrics.WOPreservation, error) {
	l, err := s.neuronLayer()
	if err != nil {
		return nil, err
	}
	c, err := s.run(s.Main, woNames(l)...)
	if err != nil {
		return nil, err
	}
	return metrics.WOPreserve(c.MustGet("z", l), c.MustGet("attn_out", l))
}

// SuperNeurons is paper Fig. 8 (row norms of W_gate and W_up), the activation-contrast ranking,
// Fig. 9 (selective activation of the chosen neuron) and Fig. 10 (its down-projection column).
type SuperNeurons struct {
	Layer int `json:"layer"`
	// GateNorm ranks the rows of W_gate (nil for a plain GELU MLP, which has none); UpNorm the rows
	// of W_up (GPT-2: c_fc).
	GateNorm *metrics.RowNorms `json:"gate_row_norms,omitempty"`
	UpNorm   *metrics.RowNorms `json:"up_row_norms"`
	Contrast *metrics.Contrast `json:"contrast"`
	// Neuron is the super neuron studied in Fig. 9–10: the top of the activation contrast by
	// difference (the channel that adds the most to token 0). NeuronByRatio is the top by ratio
	// (the selectivity reading, which can promote weak channels); ByNorm the top of the W_up
	// row-norm ranking (the paper's method). They coincide in Llama-2-7B, not always in small models.
	Neuron        int `json:"neuron"`
	NeuronByRatio int `json:"neuron_by_ratio"`
	ByNorm        int `json:"neuron_by_row_norm"`
	// SelectiveRow names the weight row of Fig. 9's cosine: "gate" (SwiGLU) or "up" (GELU MLP,
	// whose up projection is the pre-activation).
	SelectiveRow string              `json:"selective_row"`
	Selective    *metrics.Selective  `json:"selective"`
	Down         *metrics.DownColumn `json:"down_column"`
}

// RunSuperNeurons ranks the FFN channels of the neuron layer and describes the chosen neuron.
func RunSuperNeurons(s *Setting, topK int) (*SuperNeurons, error) {
	l, err := s.neuronLayer()
	if err != nil {
		return nil, err
	}
	cfg := s.Model.Config
	F, D := cfg.DMLP, cfg.DModel
	param := func(name string) ([]float32, error) {
		w, _, err := s.Model.Param(fmt.Sprintf("blocks/%d/mlp/%s/weights", l, name))
		return w, err
	}
	up, err := param("up")
	if err != nil {
		return nil, err
	}
	down, err := param("down")
	if err != nil {
		return nil, err
	}
	r := &SuperNeurons{Layer: l}
	if r.UpNorm, err = metrics.RowNormRanking(up, F, D, topK); err != nil {
		return nil, err
	}
	// The cosine row and the pre-activation value of Fig. 9 (names: neuronNames).
	row := up
	r.SelectiveRow = "up"
	if cfg.MLP == transformer.SwiGLU {
		gate, err := param("gate")
		if err != nil {
			return nil, err
		}
		if r.GateNorm, err = metrics.RowNormRanking(gate, F, D, topK); err != nil {
			return nil, err
		}
		row, r.SelectiveRow = gate, "gate"
	}
	names := neuronNames(cfg, l)
	preName := names[1]
	c, err := s.run(s.Main, names...)
	if err != nil {
		return nil, err
	}
	if r.Contrast, err = metrics.ActivationContrast(c.MustGet("mlp.post", l), topK); err != nil {
		return nil, err
	}
	r.Neuron, r.NeuronByRatio, r.ByNorm = r.Contrast.OrderByDiff[0], r.Contrast.Order[0], r.UpNorm.Order[0]
	n := r.Neuron
	if r.Selective, err = metrics.SelectiveActivation(c.MustGet("ln2.normalized", l), c.MustGet(preName), row[n*D:(n+1)*D], n); err != nil {
		return nil, err
	}
	if r.Down, err = metrics.DownColumnSparsity(down, D, F, n, min(10, D)); err != nil {
		return nil, err
	}
	return r, nil
}

// Disparity is paper Table 1 and the dominance ratio per layer. The paper does not say where the
// massive dimension is picked, so both readings are kept: in the residual stream entering Layer
// (before the norm: Dim, the paper's reading as far as known — Llama-2-7B's 2533 is a residual
// massive-activation dimension) and on the normalised vector itself (after the norm: DimAfterNorm,
// where the norm's scale can promote another dimension).
type Disparity struct {
	// Layer is the layer whose input norm is read (NeuronLayer + 1); when the neuron layer is the
	// last one, Layer = NLayers and the final norm is read. Norm names the hook read.
	Layer int    `json:"layer"`
	Norm  string `json:"norm"`
	// Dim is token 0's massive dimension entering Layer (before the norm), DimValue its mean |x|.
	Dim      int     `json:"massive_dim"`
	DimValue float64 `json:"massive_dim_mean_abs"`
	// Disparity is at the norm's output for Dim, token 0: the mean of per-sample ratios; Pooled the
	// ratio of batch means (the authors' computation).
	Disparity float64 `json:"disparity"`
	Pooled    float64 `json:"disparity_pooled"`
	// DimAfterNorm is token 0's largest mean-|x| dimension at the norm's output, with both
	// disparities for it.
	DimAfterNorm       int       `json:"massive_dim_after_norm"`
	DimAfterNormValue  float64   `json:"massive_dim_after_norm_mean_abs"`
	DisparityAfterNorm float64   `json:"disparity_after_norm_dim"`
	PooledAfterNorm    float64   `json:"disparity_pooled_after_norm_dim"`
	Dominance          []float64 `json:"dominance_per_layer"` // max|x|/mean|x| of token 0 entering each layer
}

// RunDisparity finds token 0's massive dimension entering the layer after the neuron layer and
// measures the disparity after that layer's input norm (the final norm after the last layer), and
// the dominance ratio of every layer.
func RunDisparity(s *Setting) (*Disparity, error) {
	nl, err := s.neuronLayer()
	if err != nil {
		return nil, err
	}
	L := s.Model.Config.NLayers
	next := nl + 1
	post, norm := fmt.Sprintf("blocks.%d.hook_resid_post", nl), "ln_final.hook_normalized"
	if next < L {
		norm = fmt.Sprintf("blocks.%d.ln1.hook_normalized", next)
	}
	// Every statistic here reads token 0 only: the activations are sliced at position 0 on the device
	// (devstats.AtPosition), 1/T of the transfer, and the host functions run on [b, 1, d] unchanged.
	// Every layer's points are sliced, not only the neuron layer's: the run does not depend on the
	// layer scan, so Reproduce's shared run computes it with the scan's statistics (a few MB more).
	at0, err := devstats.AtPosition(s.Model, s.Main, s.batch(), 0, disparityPoints...)
	if err != nil {
		return nil, err
	}
	x := at0[norm]
	d := &Disparity{Layer: next, Norm: norm}
	if d.Dim, d.DimValue, err = metrics.MassiveDim(at0[post], 0); err != nil {
		return nil, err
	}
	if d.DimAfterNorm, d.DimAfterNormValue, err = metrics.MassiveDim(x, 0); err != nil {
		return nil, err
	}
	for _, v := range []struct {
		dim           int
		ratio, pooled *float64
	}{{d.Dim, &d.Disparity, &d.Pooled}, {d.DimAfterNorm, &d.DisparityAfterNorm, &d.PooledAfterNorm}} {
		if *v.ratio, err = metrics.DimensionDisparity(x, 0, v.dim); err != nil {
			return nil, err
		}
		if *v.pooled, err = metrics.DimensionDisparityPooled(x, 0, v.dim); err != nil {
			return nil, err
		}
	}
	for l := 0; l < L; l++ {
		r, err := metrics.DominanceRatio(at0[fmt.Sprintf("blocks.%d.hook_resid_pre", l)], 0)
		if err != nil {
			return nil, err
		}
		d.Dominance = append(d.Dominance, r)
	}
	return d, nil
}

// disparityPoints are the hook points RunDisparity slices at token 0: every layer's input, output
// and normalised attention input, and the final norm's output (it reads the neuron layer's output,
// the next norm and every layer's input).
var disparityPoints = []string{"blocks.*.hook_resid_pre", "blocks.*.hook_resid_post", "blocks.*.ln1.hook_normalized", "ln_final.hook_normalized"}

// ShareMainStatistics makes ScanNeurons (through Resolve), RunSinkOnset, RunDisparity and
// RunEffectiveRank read one run of the main batch that computes all their statistics on the device
// (devstats.Share; Reproduce calls it) instead of a run each: on a GPU each run compiles its own
// graphs, about a second per stage graph of a 7B model, and stage by stage every block asks the
// same of its hook points, so the run compiles one block graph for all layers. It needs no neuron
// layer. The values are those of separate runs; stop drops the shared run's outputs.
func (s *Setting) ShareMainStatistics() (stop func()) {
	var rs []transformer.Reduction
	rs = append(rs, devstats.ActivationContrastReductions(scanPoint)...)
	rs = append(rs, devstats.SinkOnsetReductions(0)...)
	rs = append(rs, devstats.AtPositionReductions(0, disparityPoints...)...)
	rs = append(rs, devstats.EffectiveRankReductions(rankPoints...)...)
	return devstats.Share(s.Model, s.Main, s.batch(), rs...)
}

// rankPoints are RunEffectiveRank's hook points: every layer's input, then the final norm's output.
var rankPoints = []string{"blocks.*.hook_resid_pre", "ln_final.hook_normalized"}

// QKLock is paper Fig. 12 at one layer.
type QKLock struct {
	Layer int                `json:"layer"`
	Dim   int                `json:"massive_dim"`
	Heads []metrics.HeadLock `json:"heads"`
}

// RunQKLock measures, per head of layer, how the query side locks onto the key direction that the
// massive dimension dim writes.
func RunQKLock(s *Setting, layer, dim int) (*QKLock, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
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
	c, err := s.run(s.Main, qkNames(layer)...)
	if err != nil {
		return nil, err
	}
	heads, err := metrics.QKLock(s.Model.Config, wq, wk, dim, c.MustGet("attn.q", layer), c.MustGet("attn.k", layer), c.MustGet("ln1.normalized", layer))
	if err != nil {
		return nil, fmt.Errorf("layer %d: %w", layer, err)
	}
	return &QKLock{Layer: layer, Dim: dim, Heads: heads}, nil
}

// RunQKLockNext is RunQKLock where the chain leads: the layer whose input norm d was read, at d's
// massive dimension. It returns nil, nil when there is no such layer (the neuron layer is the last
// one, d read the final norm).
func RunQKLockNext(s *Setting, d *Disparity) (*QKLock, error) {
	if d == nil {
		return nil, fmt.Errorf("findings: RunQKLockNext needs the disparity result (RunDisparity) for its layer and massive dimension")
	}
	if d.Layer >= s.Model.Config.NLayers {
		return nil, nil
	}
	return RunQKLock(s, d.Layer, d.Dim)
}

// RunEffectiveRank is paper Fig. 21: the effective rank of each layer's input hidden states
// (mean over the main batch's samples), and of the final norm's output as the last entry.
func RunEffectiveRank(s *Setting) ([]float64, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	L := s.Model.Config.NLayers
	// Each sequence's Gram matrix is formed on the device in float64 (devstats; metrics.EffectiveRank
	// is the host reference): [p, p] per sequence and layer leaves it, not the [p, d] hidden states.
	ranks, err := devstats.EffectiveRanks(s.Model, s.Main, s.batch(), rankPoints...)
	if err != nil {
		return nil, err
	}
	var out []float64
	for l := 0; l < L; l++ {
		r, ok := ranks[fmt.Sprintf("blocks.%d.hook_resid_pre", l)]
		if !ok {
			return nil, fmt.Errorf("effective rank: layer %d's input was not reduced", l)
		}
		out = append(out, r)
	}
	return append(out, ranks["ln_final.hook_normalized"]), nil
}
