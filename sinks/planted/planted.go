package planted

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// Spec describes a planted model: the architecture, the random initialisation, where the chain is
// planted and how strong each planted piece is. DefaultSpec gives working values; every magnitude
// is documented with the quantity it controls.
type Spec struct {
	// Config is the architecture: Llama-style (RMSNorm, SwiGLU, softmax attention, no QK norm).
	// Its BOSTokenID must be −1 or BOS; Build sets it to BOS.
	Config transformer.Config

	// Seed, Std and ResidualStd are the random initialisation of every weight (transformer.RandomInit):
	// matrices ~ N(0, Std²), attn/o and mlp/down ~ N(0, ResidualStd²) (0: Std).
	Seed        uint64
	Std         float64
	ResidualStd float64

	// Layer is the block whose MLP holds the super neuron; the sink starts at Layer+1.
	Layer int
	// Neuron is the super neuron's index in Layer's MLP (a row of W_gate and W_up, a column of W_down).
	Neuron int
	// Dim is the residual dimension the super neuron writes its massive activation into.
	Dim int
	// BOS is the beginning-of-sequence token; every sequence starts with it (see Tokens).
	BOS int

	// QueryDim is the residual dimension of the shared query offset, QueryOffset its size: every token
	// embedding except BOS's gets +QueryOffset in QueryDim, a direction all non-BOS tokens share.
	QueryDim    int
	QueryOffset float64

	// GatePre and UpPre are the super neuron's gate and up pre-activations at position 0 (in the
	// units of the model's own activations). Its output there is act(GatePre)·UpPre.
	GatePre, UpPre float64
	// Suppress is β in the gate row α(û − β·m̂): how strongly the gate is pushed negative on the
	// direction m̂ that the FFN inputs of the other positions share.
	Suppress float64
	// Massive is the value the super neuron writes into dimension Dim at position 0: W_down[Dim, Neuron]
	// is set to Massive / (the neuron's output at position 0).
	Massive float64

	// LockQ and LockK are the norms, per head, of the vectors added to W_Q[:, QueryDim] and W_K[:, Dim]
	// in every layer after Layer. Both vectors are the same unit vector v of the head's LockPairs
	// slowest RoPE pairs.
	LockQ, LockK float64
	LockPairs    int

	// CalibSeqs and CalibLen size the batch of random BOS-led sequences on which the shared FFN
	// input m is measured while building (its seed is derived from Seed).
	CalibSeqs, CalibLen int
}

// DefaultSpec is a small Llama-style model (vocab 512, d 128, 6 layers, 4 heads, SwiGLU 512, RoPE,
// 256 positions) at the paper's initialisation (N(0, 0.02²), residual projections N(0, (0.02/√(2L))²)),
// with the super neuron at layer 1, neuron 37, writing into dimension 17, and BOS = 1.
func DefaultSpec() Spec {
	const layers = 6
	return Spec{
		Config: transformer.Config{Family: transformer.Llama, VocabSize: 512, DModel: 128, NLayers: layers,
			NHeads: 4, DMLP: 512, MaxSeqLen: 256, Norm: transformer.RMSNorm, NormEps: 1e-6,
			Position: transformer.RoPE, RopeTheta: 10000, MLP: transformer.SwiGLU, Activation: "silu",
			TiedEmbeddings: true, BOSTokenID: 1, EOSTokenID: -1},
		Seed:        1337,
		Std:         0.02,
		ResidualStd: 0.02 / math.Sqrt(2*layers),
		Layer:       1,
		Neuron:      37,
		Dim:         17,
		BOS:         1,
		QueryDim:    91,
		QueryOffset: 0.3,
		GatePre:     10,
		UpPre:       10,
		Suppress:    2,
		Massive:     25,
		LockQ:       1,
		LockK:       1,
		LockPairs:   2,
		CalibSeqs:   16,
		CalibLen:    64,
	}
}

// Validate checks the spec, naming every offending field.
func (s *Spec) Validate() error {
	var errs []string
	bad := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	c := &s.Config
	if err := c.Validate(); err != nil {
		bad("Config: %v", err)
	}
	if c.Norm != transformer.RMSNorm {
		bad("Config.Norm must be %q (the disparity argument needs a norm without mean subtraction), got %q", transformer.RMSNorm, c.Norm)
	}
	if c.MLP != transformer.SwiGLU {
		bad("Config.MLP must be %q (the super neuron has a gate and an up row), got %q", transformer.SwiGLU, c.MLP)
	}
	if c.Attention != "" && c.Attention != transformer.SoftmaxAttention {
		bad("Config.Attention must be softmax, got %q", c.Attention)
	}
	if c.QKNorm {
		bad("Config.QKNorm must be false (QK norm would bound the planted score)")
	}
	if c.BOSTokenID != -1 && c.BOSTokenID != s.BOS {
		bad("Config.BOSTokenID is %d but BOS is %d (use −1 or the same id)", c.BOSTokenID, s.BOS)
	}
	if c.VocabSize < 2 {
		bad("Config.VocabSize must be >= 2 (BOS and at least one other token), got %d", c.VocabSize)
	}
	if c.NLayers > 0 && (s.Layer < 0 || s.Layer+1 >= c.NLayers) {
		bad("Layer %d is out of range: need 0 <= Layer and Layer+1 < NLayers (%d)", s.Layer, c.NLayers)
	}
	if c.DMLP > 0 && (s.Neuron < 0 || s.Neuron >= c.DMLP) {
		bad("Neuron %d is out of range [0, %d) (Config.DMLP)", s.Neuron, c.DMLP)
	}
	if c.DModel > 0 && (s.Dim < 0 || s.Dim >= c.DModel) {
		bad("Dim %d is out of range [0, %d) (Config.DModel)", s.Dim, c.DModel)
	}
	if c.DModel > 0 && (s.QueryDim < 0 || s.QueryDim >= c.DModel) {
		bad("QueryDim %d is out of range [0, %d) (Config.DModel)", s.QueryDim, c.DModel)
	}
	if s.QueryDim == s.Dim {
		bad("QueryDim must differ from Dim (both %d)", s.Dim)
	}
	if c.VocabSize > 0 && (s.BOS < 0 || s.BOS >= c.VocabSize) {
		bad("BOS %d is out of range [0, %d) (Config.VocabSize)", s.BOS, c.VocabSize)
	}
	pos := func(name string, v float64) {
		if !(v > 0) || math.IsInf(v, 0) {
			bad("%s must be a finite value > 0, got %g", name, v)
		}
	}
	pos("Std", s.Std)
	if !(s.ResidualStd >= 0) || math.IsInf(s.ResidualStd, 0) {
		bad("ResidualStd must be a finite value >= 0, got %g", s.ResidualStd)
	}
	pos("QueryOffset", s.QueryOffset)
	pos("GatePre", s.GatePre)
	pos("UpPre", s.UpPre)
	if !(s.Suppress >= 0) || math.IsInf(s.Suppress, 0) {
		bad("Suppress must be a finite value >= 0, got %g", s.Suppress)
	}
	pos("Massive", s.Massive)
	pos("LockQ", s.LockQ)
	pos("LockK", s.LockK)
	if dh := c.HeadDim(); dh > 0 && (s.LockPairs < 1 || s.LockPairs > dh/2) {
		bad("LockPairs %d is out of range [1, %d] (half the head dimension)", s.LockPairs, dh/2)
	}
	if s.CalibSeqs < 1 {
		bad("CalibSeqs must be >= 1, got %d", s.CalibSeqs)
	}
	if s.CalibLen < 2 || (c.MaxSeqLen > 0 && s.CalibLen > c.MaxSeqLen) {
		bad("CalibLen %d is out of range [2, %d] (Config.MaxSeqLen)", s.CalibLen, c.MaxSeqLen)
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid planted spec: %s", strings.Join(errs, "; "))
	}
	return nil
}

// Planted is a random-init model with the planted chain, plus what was measured and planted while
// building it (for notebooks: each planted piece can be plotted against the model's activations).
type Planted struct {
	Model *transformer.Model
	Spec  Spec

	// FirstInput is u, token 0's FFN input at Layer (blocks.{Layer}.ln2.hook_normalized, position 0),
	// measured before the neuron was planted; û = u/|u| is the super neuron's preferred direction.
	FirstInput []float32
	// SharedInput is m, the mean FFN input at Layer over positions 1.. of the calibration batch.
	SharedInput []float32
	// GateRow, UpRow ([D]) and DownCol ([D]) are the planted weights of the super neuron.
	GateRow, UpRow, DownCol []float32
	// FirstOutput is the neuron's output act(gate)·up at position 0 when planted.
	FirstOutput float64
	// LockChannels are the head-dimension channels of the lock vector v (the LockPairs slowest RoPE pairs).
	LockChannels []int

	removed bool
}

// Parameter names of the super neuron's weights.
func (p *Planted) gateName() string { return fmt.Sprintf("blocks/%d/mlp/gate/weights", p.Spec.Layer) }
func (p *Planted) upName() string   { return fmt.Sprintf("blocks/%d/mlp/up/weights", p.Spec.Layer) }
func (p *Planted) downName() string { return fmt.Sprintf("blocks/%d/mlp/down/weights", p.Spec.Layer) }

// Build creates the random model, plants the query offset and the QK lock, measures what token 0 and
// the other tokens produce at Layer's FFN input, and plants the super neuron there.
func Build(be compute.Backend, s Spec) (*Planted, error) {
	if be == nil {
		return nil, fmt.Errorf("planted.Build: nil backend")
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	cfg := s.Config // the model's own copy
	cfg.BOSTokenID = s.BOS
	s.Config = cfg
	D, dh := cfg.DModel, cfg.HeadDim()
	H, KV := cfg.NHeads, cfg.KVHeads()

	w := flatten(transformer.RandomWeights(&cfg, transformer.RandomInit{Seed: s.Seed, Std: s.Std, ResidualStd: s.ResidualStd}))

	// (1) The shared query offset: every token but BOS gets +QueryOffset in QueryDim.
	emb := w["embed/weights"] // [V, D]
	for tok := 0; tok < cfg.VocabSize; tok++ {
		if tok != s.BOS {
			emb[tok*D+s.QueryDim] += float32(s.QueryOffset)
		}
	}

	// (2) The QK lock in every layer after Layer: W_Q[:, QueryDim] and W_K[:, Dim] get the same unit
	// vector v (the slowest RoPE pairs of each head), scaled by LockQ and LockK.
	channels := lockChannels(dh, s.LockPairs)
	vAmp := 1 / math.Sqrt(float64(len(channels)))
	for l := s.Layer + 1; l < cfg.NLayers; l++ {
		q := w[fmt.Sprintf("blocks/%d/attn/q/weights", l)] // [H·dh, D]
		for h := 0; h < H; h++ {
			for _, c := range channels {
				q[(h*dh+c)*D+s.QueryDim] += float32(s.LockQ * vAmp)
			}
		}
		k := w[fmt.Sprintf("blocks/%d/attn/k/weights", l)] // [KV·dh, D]
		for g := 0; g < KV; g++ {
			for _, c := range channels {
				k[(g*dh+c)*D+s.Dim] += float32(s.LockK * vAmp)
			}
		}
	}
	p := &Planted{Spec: s, LockChannels: channels}

	// (3) Measure u (token 0's FFN input at Layer) and m (the other positions' mean FFN input) on the
	// model without the neuron (the neuron's own weights do not affect its input).
	m, err := newModel(be, &cfg, w)
	if err != nil {
		return nil, err
	}
	ln2 := fmt.Sprintf("blocks.%d.ln2.hook_normalized", s.Layer)
	calib := p.Tokens(s.CalibSeqs, s.CalibLen, s.Seed^0xca11b)
	cache, err := m.RunWithCache(calib, ln2)
	if err != nil {
		return nil, fmt.Errorf("measuring the FFN input of layer %d: %w", s.Layer, err)
	}
	x, err := cache.Get(ln2)
	if err != nil {
		return nil, err
	}
	B, T := x.Shape[0], x.Shape[1]
	u := make([]float64, D)
	mean := make([]float64, D)
	for b := 0; b < B; b++ {
		for t := 0; t < T; t++ {
			row := x.Data[(b*T+t)*D : (b*T+t+1)*D]
			for j, v := range row {
				if t == 0 {
					u[j] += float64(v) / float64(B)
				} else {
					mean[j] += float64(v) / float64(B*(T-1))
				}
			}
		}
	}
	p.FirstInput, p.SharedInput = toF32(u), toF32(mean)

	// (4) The super neuron: gate row α(û − β·m̂⊥), up row (UpPre/|u|)·û, where m̂⊥ is m without its
	// component along û, normalised. Then gate(u) = GatePre and up(u) = UpPre exactly.
	uNorm := norm(u)
	uHat := scale(u, 1/uNorm)
	mPerp := axpy(-dot(mean, uHat), uHat, mean)
	mHat := make([]float64, D)
	if s.Suppress > 0 {
		n := norm(mPerp)
		if !(n > 1e-6*uNorm) {
			return nil, fmt.Errorf("the other positions' mean FFN input at layer %d is parallel to token 0's (|m⊥| = %g): nothing to suppress; set Suppress to 0 or raise QueryOffset", s.Layer, n)
		}
		mHat = scale(mPerp, 1/n)
	}
	alpha := s.GatePre / uNorm
	gate := make([]float64, D)
	for j := range gate {
		gate[j] = alpha * (uHat[j] - s.Suppress*mHat[j])
	}
	p.GateRow = toF32(gate)
	p.UpRow = toF32(scale(uHat, s.UpPre/uNorm))
	p.setNeuron(w, p.GateRow, p.UpRow, nil)

	// The neuron's output at position 0, measured with the planted rows (whatever the activation).
	if m, err = newModel(be, &cfg, w); err != nil {
		return nil, err
	}
	post := fmt.Sprintf("blocks.%d.mlp.hook_post", s.Layer)
	c0, err := m.RunWithCache([][]int{{s.BOS}}, post)
	if err != nil {
		return nil, fmt.Errorf("measuring the super neuron's output: %w", err)
	}
	a, err := c0.Get(post)
	if err != nil {
		return nil, err
	}
	p.FirstOutput = float64(a.Data[s.Neuron])
	if !(math.Abs(p.FirstOutput) > 1e-3) {
		return nil, fmt.Errorf("the planted neuron's output at position 0 is %g: raise GatePre or UpPre", p.FirstOutput)
	}

	// (5) Down column: Massive/FirstOutput in Dim; elsewhere the random column divided by FirstOutput,
	// so at position 0 those entries write no more than a random neuron with output 1 would.
	down := w[p.downName()] // [D, F]
	F := cfg.DMLP
	p.DownCol = make([]float32, D)
	for i := 0; i < D; i++ {
		p.DownCol[i] = float32(float64(down[i*F+s.Neuron]) / p.FirstOutput)
	}
	p.DownCol[s.Dim] = float32(s.Massive / p.FirstOutput)
	p.setNeuron(w, nil, nil, p.DownCol)
	if p.Model, err = newModel(be, &cfg, w); err != nil {
		return nil, err
	}
	return p, nil
}

// RemoveNeuron zeroes the super neuron: its gate and up rows and its down column. Everything else is
// unchanged, so any difference in the model's behaviour is the neuron's doing.
//
// p.Model is replaced by a fresh model holding the edited weights (a backend may bake weights into
// compiled graphs as constants, so editing the old model's store would not reach graphs it already
// compiled); re-read p.Model after calling it.
func (p *Planted) RemoveNeuron() error {
	zero := make([]float32, p.Spec.Config.DModel)
	if err := p.rebuild(zero, zero, zero); err != nil {
		return err
	}
	p.removed = true
	return nil
}

// RestoreNeuron puts the planted super neuron back after RemoveNeuron (replacing p.Model like it).
func (p *Planted) RestoreNeuron() error {
	if err := p.rebuild(p.GateRow, p.UpRow, p.DownCol); err != nil {
		return err
	}
	p.removed = false
	return nil
}

// Removed reports whether the super neuron is currently removed.
func (p *Planted) Removed() bool { return p.removed }

// rebuild replaces p.Model by a model with the current weights, the neuron's set to gate, up and down.
func (p *Planted) rebuild(gate, up, down []float32) error {
	w := make(map[string][]float32)
	for _, name := range p.Model.Config.ParamNames() {
		v, _, err := p.Model.Param(name)
		if err != nil {
			return err
		}
		w[name] = v
	}
	p.setNeuron(w, gate, up, down)
	m, err := newModel(p.Model.Backend, p.Model.Config, w)
	if err != nil {
		return err
	}
	p.Model = m
	return nil
}

// setNeuron writes the super neuron's gate row, up row and down column into w (nil: leave as is).
func (p *Planted) setNeuron(w map[string][]float32, gate, up, down []float32) {
	D, F, n := p.Spec.Config.DModel, p.Spec.Config.DMLP, p.Spec.Neuron
	if gate != nil {
		copy(w[p.gateName()][n*D:(n+1)*D], gate) // [F, D]
	}
	if up != nil {
		copy(w[p.upName()][n*D:(n+1)*D], up) // [F, D]
	}
	for i, v := range down { // [D, F]
		w[p.downName()][i*F+n] = v
	}
}

// newModel builds a model from flat float32 weights (copied, so w stays the caller's).
func newModel(be compute.Backend, cfg *transformer.Config, w map[string][]float32) (*transformer.Model, error) {
	shapes := cfg.ParamShapes()
	t := make(map[string]*tensors.Tensor, len(w))
	for name, v := range w {
		t[name] = tensors.FromFlatDataAndDimensions(append([]float32(nil), v...), shapes[name]...)
	}
	return transformer.New(be, cfg, t)
}

// flatten copies float32 tensors into flat slices.
func flatten(t map[string]*tensors.Tensor) map[string][]float32 {
	out := make(map[string][]float32, len(t))
	for name, v := range t {
		out[name] = tensors.MustCopyFlatData[float32](v)
	}
	return out
}

// Tokens returns n sequences of seqLen tokens: BOS, then tokens drawn uniformly from the vocabulary
// without BOS. The same seed gives the same tokens. n or seqLen below 1 gives nil.
func (p *Planted) Tokens(n, seqLen int, seed uint64) [][]int {
	if n < 1 || seqLen < 1 {
		return nil
	}
	rng := rand.New(rand.NewPCG(seed, 0x70c5))
	V := p.Spec.Config.VocabSize
	out := make([][]int, n)
	for i := range out {
		seq := make([]int, seqLen)
		seq[0] = p.Spec.BOS
		for t := 1; t < seqLen; t++ {
			tok := rng.IntN(V - 1)
			if tok >= p.Spec.BOS {
				tok++
			}
			seq[t] = tok
		}
		out[i] = seq
	}
	return out
}

// lockChannels are the head-dimension channels of the pairs slowest under RoPE (HF rotate_half
// layout: pair j is channels j and j + dh/2, frequency θ^(−2j/dh), slowest for the largest j).
func lockChannels(dh, pairs int) []int {
	var out []int
	for j := dh/2 - pairs; j < dh/2; j++ {
		out = append(out, j, j+dh/2)
	}
	return out
}

func dot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

func norm(a []float64) float64 { return math.Sqrt(dot(a, a)) }

func scale(a []float64, k float64) []float64 {
	out := make([]float64, len(a))
	for i, v := range a {
		out[i] = k * v
	}
	return out
}

// axpy returns k·x + y.
func axpy(k float64, x, y []float64) []float64 {
	out := make([]float64, len(y))
	for i := range y {
		out[i] = k*x[i] + y[i]
	}
	return out
}

func toF32(a []float64) []float32 {
	out := make([]float32, len(a))
	for i, v := range a {
		out[i] = float32(v)
	}
	return out
}
