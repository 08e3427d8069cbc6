package transformer

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// Family names the architecture a checkpoint comes from. It only decides defaults and loading quirks:
// the forward pass is driven by the explicit fields of Config.
type Family string

const (
	Llama   Family = "llama"   // Llama-2 (MHA) and Llama-3 (GQA, llama3 rope scaling).
	Mistral Family = "mistral" // Llama layout plus an optional sliding window.
	Qwen2   Family = "qwen2"   // Llama layout plus q/k/v biases.
	Qwen3   Family = "qwen3"   // Llama layout plus per-head RMSNorm on q and k (before RoPE).
	GPT2    Family = "gpt2"    // Learned positions, LayerNorm, GELU (tanh), Conv1D weights, biases everywhere.
)

// NormKind is the normalisation used before attention, before the MLP and before the unembedding.
type NormKind string

const (
	RMSNorm   NormKind = "rmsnorm"   // x / sqrt(mean(x²) + eps) · γ
	LayerNorm NormKind = "layernorm" // (x − mean) / sqrt(var + eps) · γ + β
)

// PositionKind is how positions enter the model.
type PositionKind string

const (
	RoPE    PositionKind = "rope"    // rotary embeddings on q and k (HF "rotate_half" convention).
	Learned PositionKind = "learned" // a learned position table added to the token embedding.
)

// MLPKind is the feed-forward block.
type MLPKind string

const (
	SwiGLU MLPKind = "swiglu" // down(act(gate(x)) ⊙ up(x))
	Plain  MLPKind = "plain"  // down(act(up(x))), GPT-2's c_fc → gelu → c_proj
)

// AttentionKind is how scores become attention weights.
type AttentionKind string

const (
	SoftmaxAttention AttentionKind = "softmax" // softmax over the causal keys.
	// SigmoidAttention is element-wise sigmoid(score + b) over the causal keys, with b = −log(n) by default
	// (n = the number of keys); no normalisation across keys, so no sink is forced.
	SigmoidAttention AttentionKind = "sigmoid"
)

// RopeScaling is the "llama3" frequency scaling of Llama-3.1 and later (rope_scaling in config.json).
type RopeScaling struct {
	Type                          string  `json:"rope_type"` // only "llama3" is supported; "default" means none.
	Factor                        float64 `json:"factor"`
	LowFreqFactor                 float64 `json:"low_freq_factor"`
	HighFreqFactor                float64 `json:"high_freq_factor"`
	OriginalMaxPositionEmbeddings int     `json:"original_max_position_embeddings"`
}

// HeadNormConfig configures head-wise RMSNorm on each head's attention output (the paper's HeadNorm):
// ô = o / RMS(o) ⊙ γ over the head dimension, inserted after softmax·V and before W_O.
type HeadNormConfig struct {
	Enabled bool
	// SharedGamma uses one γ of shape [d_head] for all heads; otherwise γ is [heads, d_head].
	SharedGamma bool
	Eps         float64 // default 1e-6 (see Epsilon)
	// InitGamma is γ's initial value for freshly initialised models (RandomWeights). 0 means 1.
	InitGamma float64
	// InitFirstToken initialises γ as the paper does: the std of the first token's aggregated
	// attention output at random init, measured per layer on a dummy N(0, 1) input (see
	// RandomWeights for exactly what is computed). It replaces InitGamma, which must then be 0.
	InitFirstToken bool `json:",omitempty"`
}

// Epsilon is the eps of the head-wise RMSNorm: Eps, or 1e-6 when unset.
func (h HeadNormConfig) Epsilon() float64 {
	if h.Eps == 0 {
		return 1e-6
	}
	return h.Eps
}

// Config describes a decoder-only transformer. Fields mirror HF config.json where they exist.
type Config struct {
	Family Family

	VocabSize int // V
	DModel    int // D, hidden_size
	NLayers   int // L
	NHeads    int // H, query heads
	NKVHeads  int // key/value heads (GQA when < NHeads); 0 means NHeads
	DHead     int // per-head dimension; 0 means DModel / NHeads
	DMLP      int // F, intermediate_size
	MaxSeqLen int // max_position_embeddings (n_positions for GPT-2)

	Norm    NormKind
	NormEps float64

	Position    PositionKind
	RopeTheta   float64
	RopeScaling *RopeScaling // nil: plain RoPE

	MLP        MLPKind
	Activation string // "silu", "gelu_new" (tanh approximation), "gelu" (erf)

	QKVBias bool // biases on q/k/v projections (Qwen2, GPT-2)
	OutBias bool // bias on the attention output projection (GPT-2)
	MLPBias bool // biases on the MLP projections (GPT-2)
	QKNorm  bool // RMSNorm over d_head on q and k before RoPE (Qwen3)

	TiedEmbeddings bool // unembedding reuses the embedding matrix
	SlidingWindow  int  // 0: none. Otherwise key j is visible from query i iff i−window < j ≤ i (Mistral)

	// AttnScale multiplies q·k; 0 means 1/sqrt(DHead).
	AttnScale float64

	Attention AttentionKind // default SoftmaxAttention
	// SigmoidBiasLogN adds b = −log(T) to the scores of SigmoidAttention (T = sequence length), the
	// usual choice that keeps the initial attention mass near one; false means b = 0.
	SigmoidBiasLogN bool
	HeadNorm        HeadNormConfig
	// GatedAttention multiplies each head's output element-wise by sigmoid(x·W_gate) (Qiu et al. 2025),
	// at the same insertion point as HeadNorm; x is the attention block's normalised input.
	GatedAttention bool
	// SinkKV gives every attention layer a learnable key/value sink (Gu et al. 2025's "learnable KV
	// bias", StreamingLLM's sink token as parameters): one key and one value vector per key/value
	// head, initialised to zero, that every query scores (q·k_sink·scale with q after RoPE, no RoPE
	// on k_sink, never masked, not even by WithAttentionMask) alongside its causal keys. The softmax runs over [sink, keys] and the output gains
	// p_sink·v_sink. hook_pattern keeps the real keys only (its rows sum to 1 − p_sink);
	// hook_sink_weight holds p_sink. Softmax attention only.
	SinkKV bool `json:",omitempty"`

	// BOSTokenID is the tokenizer's beginning-of-sequence id, −1 if none. The model never adds it:
	// callers choose explicitly whether sequences start with BOS.
	BOSTokenID int
	EOSTokenID int
}

// KVHeads returns the number of key/value heads.
func (c *Config) KVHeads() int {
	if c.NKVHeads <= 0 {
		return c.NHeads
	}
	return c.NKVHeads
}

// HeadDim returns the per-head dimension.
func (c *Config) HeadDim() int {
	if c.DHead <= 0 && c.NHeads > 0 {
		return c.DModel / c.NHeads
	}
	return c.DHead
}

// Scale returns the factor applied to q·k.
func (c *Config) Scale() float64 {
	if c.AttnScale != 0 {
		return c.AttnScale
	}
	return 1 / math.Sqrt(float64(c.HeadDim()))
}

// Validate checks that the configuration is self-consistent, naming the offending field.
func (c *Config) Validate() error {
	var errs []string
	pos := func(name string, v int) {
		if v <= 0 {
			errs = append(errs, fmt.Sprintf("%s must be > 0, got %d", name, v))
		}
	}
	pos("VocabSize", c.VocabSize)
	pos("DModel", c.DModel)
	pos("NLayers", c.NLayers)
	pos("NHeads", c.NHeads)
	pos("DMLP", c.DMLP)
	pos("MaxSeqLen", c.MaxSeqLen)
	if c.NKVHeads < 0 {
		errs = append(errs, fmt.Sprintf("NKVHeads must be >= 0, got %d", c.NKVHeads))
	}
	if c.NHeads > 0 && c.KVHeads() > 0 && c.NHeads%c.KVHeads() != 0 {
		errs = append(errs, fmt.Sprintf("NHeads (%d) must be a multiple of NKVHeads (%d)", c.NHeads, c.KVHeads()))
	}
	if c.HeadDim() <= 0 {
		errs = append(errs, fmt.Sprintf("DHead must be > 0 (DModel %d, NHeads %d)", c.DModel, c.NHeads))
	}
	if c.DHead <= 0 && c.NHeads > 0 && c.DModel%c.NHeads != 0 {
		errs = append(errs, fmt.Sprintf("DModel (%d) is not divisible by NHeads (%d) and DHead is not set", c.DModel, c.NHeads))
	}
	switch c.Norm {
	case RMSNorm, LayerNorm:
	default:
		errs = append(errs, fmt.Sprintf("Norm %q is not one of %q, %q", c.Norm, RMSNorm, LayerNorm))
	}
	if !(c.NormEps > 0) {
		errs = append(errs, fmt.Sprintf("NormEps must be > 0, got %g", c.NormEps))
	}
	switch c.Position {
	case RoPE:
		if !(c.RopeTheta > 0) {
			errs = append(errs, fmt.Sprintf("RopeTheta must be > 0 for RoPE, got %g", c.RopeTheta))
		}
		if c.HeadDim()%2 != 0 {
			errs = append(errs, fmt.Sprintf("RoPE needs an even head dimension, got %d", c.HeadDim()))
		}
		if s := c.RopeScaling; s != nil {
			switch s.Type {
			case "llama3":
				if !(s.Factor > 0) || !(s.LowFreqFactor > 0) || !(s.HighFreqFactor > s.LowFreqFactor) || s.OriginalMaxPositionEmbeddings <= 0 {
					errs = append(errs, fmt.Sprintf("invalid llama3 rope_scaling %+v", *s))
				}
			default:
				errs = append(errs, fmt.Sprintf("rope_scaling type %q is not supported (only \"llama3\")", s.Type))
			}
		}
	case Learned:
	default:
		errs = append(errs, fmt.Sprintf("Position %q is not one of %q, %q", c.Position, RoPE, Learned))
	}
	switch c.MLP {
	case SwiGLU, Plain:
	default:
		errs = append(errs, fmt.Sprintf("MLP %q is not one of %q, %q", c.MLP, SwiGLU, Plain))
	}
	switch c.Activation {
	case "silu", "swish", "gelu", "gelu_new", "gelu_pytorch_tanh", "relu":
	default:
		errs = append(errs, fmt.Sprintf("Activation %q is not supported (silu, gelu, gelu_new, gelu_pytorch_tanh, relu)", c.Activation))
	}
	switch c.Attention {
	case "", SoftmaxAttention, SigmoidAttention:
	default:
		errs = append(errs, fmt.Sprintf("Attention %q is not one of %q, %q", c.Attention, SoftmaxAttention, SigmoidAttention))
	}
	if c.SinkKV && c.Attention == SigmoidAttention {
		errs = append(errs, "SinkKV needs softmax attention: a sink absorbs probability mass only when the weights are normalised across keys, and SigmoidAttention has no such normalisation")
	}
	if h := c.HeadNorm; h.InitFirstToken {
		switch {
		case !h.Enabled:
			errs = append(errs, "HeadNorm.InitFirstToken is set but HeadNorm.Enabled is not")
		case h.InitGamma != 0:
			errs = append(errs, fmt.Sprintf("HeadNorm.InitFirstToken and HeadNorm.InitGamma (%g) both set γ's initial value; set one", h.InitGamma))
		case c.Attention == SigmoidAttention:
			// With a sigmoid the first token's output is σ(q₀·k₀·scale − log T)·v₀, which depends on the
			// sequence length: there is no single "output at init" to measure.
			errs = append(errs, "HeadNorm.InitFirstToken is defined for softmax attention only (the first token's output is then its own value vector); it cannot be combined with SigmoidAttention")
		case c.SinkKV:
			errs = append(errs, "HeadNorm.InitFirstToken cannot be combined with SinkKV: the first token's output is then not its own value vector but shares its weight with the sink")
		}
	}
	if c.HeadNorm.Enabled && !(c.HeadNorm.Epsilon() > 0) {
		errs = append(errs, fmt.Sprintf("HeadNorm.Eps must be > 0 (or 0 for 1e-6), got %g", c.HeadNorm.Eps))
	}
	if c.SlidingWindow < 0 {
		errs = append(errs, fmt.Sprintf("SlidingWindow must be >= 0, got %d", c.SlidingWindow))
	}
	if c.VocabSize > 0 && (c.BOSTokenID >= c.VocabSize || c.BOSTokenID < -1) {
		errs = append(errs, fmt.Sprintf("BOSTokenID %d is out of range [-1, %d)", c.BOSTokenID, c.VocabSize))
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid transformer config: %s", strings.Join(errs, "; "))
	}
	return nil
}

// ParamShapes returns every parameter the model needs, keyed by its canonical name, with its shape.
//
// Canonical names are sinkscope's own, independent of the checkpoint format. Linear weights use the
// PyTorch nn.Linear layout [out, in] (GPT-2's Conv1D [in, out] is transposed when loading):
//
//	embed/weights                     [V, D]
//	pos_embed/weights                 [MaxSeqLen, D]        Learned positions only
//	blocks/{L}/ln1/scale              [D]                   (+ ln1/bias for LayerNorm)
//	blocks/{L}/attn/q/weights         [H·dh, D]             (+ q/bias [H·dh] with QKVBias)
//	blocks/{L}/attn/k/weights         [KV·dh, D]            (+ k/bias)
//	blocks/{L}/attn/v/weights         [KV·dh, D]            (+ v/bias)
//	blocks/{L}/attn/q_norm/scale      [dh]                  QKNorm only
//	blocks/{L}/attn/k_norm/scale      [dh]                  QKNorm only
//	blocks/{L}/attn/head_norm/scale   [H, dh] or [dh]       HeadNorm only (shared γ: [dh])
//	blocks/{L}/attn/gate/weights      [H·dh, D]             GatedAttention only
//	blocks/{L}/attn/sink/key          [KV, dh]              SinkKV only (zeros at init)
//	blocks/{L}/attn/sink/value        [KV, dh]              SinkKV only (zeros at init)
//	blocks/{L}/attn/o/weights         [D, H·dh]             (+ o/bias [D] with OutBias)
//	blocks/{L}/ln2/scale              [D]                   (+ ln2/bias for LayerNorm)
//	blocks/{L}/mlp/gate/weights       [F, D]                SwiGLU only
//	blocks/{L}/mlp/up/weights         [F, D]                (+ up/bias [F] with MLPBias)
//	blocks/{L}/mlp/down/weights       [D, F]                (+ down/bias [D] with MLPBias)
//	ln_final/scale                    [D]                   (+ ln_final/bias for LayerNorm)
//	unembed/weights                   [V, D]                absent with TiedEmbeddings
func (c *Config) ParamShapes() map[string][]int {
	V, D, F := c.VocabSize, c.DModel, c.DMLP
	H, KV, dh := c.NHeads, c.KVHeads(), c.HeadDim()
	p := map[string][]int{"embed/weights": {V, D}}
	if c.Position == Learned {
		p["pos_embed/weights"] = []int{c.MaxSeqLen, D}
	}
	norm := func(prefix string) {
		p[prefix+"/scale"] = []int{D}
		if c.Norm == LayerNorm {
			p[prefix+"/bias"] = []int{D}
		}
	}
	for l := 0; l < c.NLayers; l++ {
		b := fmt.Sprintf("blocks/%d/", l)
		norm(b + "ln1")
		p[b+"attn/q/weights"] = []int{H * dh, D}
		p[b+"attn/k/weights"] = []int{KV * dh, D}
		p[b+"attn/v/weights"] = []int{KV * dh, D}
		if c.QKVBias {
			p[b+"attn/q/bias"] = []int{H * dh}
			p[b+"attn/k/bias"] = []int{KV * dh}
			p[b+"attn/v/bias"] = []int{KV * dh}
		}
		if c.QKNorm {
			p[b+"attn/q_norm/scale"] = []int{dh}
			p[b+"attn/k_norm/scale"] = []int{dh}
		}
		if c.HeadNorm.Enabled {
			if c.HeadNorm.SharedGamma {
				p[b+"attn/head_norm/scale"] = []int{dh}
			} else {
				p[b+"attn/head_norm/scale"] = []int{H, dh}
			}
		}
		if c.GatedAttention {
			p[b+"attn/gate/weights"] = []int{H * dh, D}
		}
		if c.SinkKV {
			p[b+"attn/sink/key"] = []int{KV, dh}
			p[b+"attn/sink/value"] = []int{KV, dh}
		}
		p[b+"attn/o/weights"] = []int{D, H * dh}
		if c.OutBias {
			p[b+"attn/o/bias"] = []int{D}
		}
		norm(b + "ln2")
		if c.MLP == SwiGLU {
			p[b+"mlp/gate/weights"] = []int{F, D}
		}
		p[b+"mlp/up/weights"] = []int{F, D}
		p[b+"mlp/down/weights"] = []int{D, F}
		if c.MLPBias {
			if c.MLP == SwiGLU {
				p[b+"mlp/gate/bias"] = []int{F}
			}
			p[b+"mlp/up/bias"] = []int{F}
			p[b+"mlp/down/bias"] = []int{D}
		}
	}
	norm("ln_final")
	if !c.TiedEmbeddings {
		p["unembed/weights"] = []int{V, D}
	}
	return p
}

// ParamNames returns the canonical parameter names in a stable order.
func (c *Config) ParamNames() []string {
	shapes := c.ParamShapes()
	names := make([]string, 0, len(shapes))
	for n := range shapes {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// NumParams is the total number of parameters.
func (c *Config) NumParams() int {
	n := 0
	for _, s := range c.ParamShapes() {
		k := 1
		for _, d := range s {
			k *= d
		}
		n += k
	}
	return n
}
