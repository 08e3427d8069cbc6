package hf

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// ConfigFileName is the model configuration file of an HF model directory.
const ConfigFileName = "config.json"

// LoadConfig reads dir/config.json (see ParseConfig).
func LoadConfig(dir string) (*transformer.Config, error) {
	path := filepath.Join(dir, ConfigFileName)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("hf: reading model config: %w", err)
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// ParseConfig maps an HF config.json onto a transformer.Config. Supported model_type values are
// llama, mistral, qwen2, qwen3 and gpt2. Fields absent from the file take the defaults of the
// corresponding HF transformers configuration class, except the structural sizes (vocabulary,
// width, depth, heads, MLP width), which must be present. Anything the forward pass cannot
// reproduce (other RoPE scalings, per-layer sliding windows, per-layer attention scaling) is an
// error rather than silently ignored. The result has passed Config.Validate.
func ParseConfig(data []byte) (*transformer.Config, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("hf config: invalid JSON: %v", err)
	}
	if m == nil {
		return nil, fmt.Errorf("hf config: not a JSON object")
	}
	f := fields(m)
	modelType, err := f.str("model_type", "")
	if err != nil {
		return nil, err
	}
	if modelType == "" {
		return nil, fmt.Errorf("hf config: missing required field \"model_type\"")
	}
	var cfg *transformer.Config
	switch modelType {
	case "llama", "mistral", "qwen2", "qwen3":
		cfg, err = parseLlamaFamily(f, transformer.Family(modelType))
	case "gpt2":
		cfg, err = parseGPT2(f)
	default:
		return nil, fmt.Errorf("hf config: model_type %q is not supported (llama, mistral, qwen2, qwen3, gpt2)", modelType)
	}
	if err != nil {
		return nil, fmt.Errorf("hf config (model_type %s): %w", modelType, err)
	}
	if err := parseSinkscope(f, cfg); err != nil {
		return nil, fmt.Errorf("hf config (model_type %s): %w", modelType, err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("hf config (model_type %s): %w", modelType, err)
	}
	return cfg, nil
}

// SinkscopeConfigKey is the config.json object that holds sinkscope's own architecture options,
// those no transformers model has (the arms of the sink-removal comparison). Save writes it only
// when one of them is set, so that every other config.json is exactly what save_pretrained
// writes; ParseConfig reads it for every model_type and refuses keys it does not know:
//
//	"sinkscope": {
//	  "attention": "sigmoid",             Config.Attention (absent: softmax)
//	  "sigmoid_bias_log_n": true,         Config.SigmoidBiasLogN (sigmoid only)
//	  "head_norm": {                      Config.HeadNorm (absent: disabled)
//	    "shared_gamma": false,            HeadNormConfig.SharedGamma
//	    "eps": 1e-06,                     HeadNormConfig.Eps (resolved: 1e-6 when unset)
//	    "init_gamma": 1.0,                HeadNormConfig.InitGamma (resolved: 1 when unset), or
//	    "init_first_token": true          HeadNormConfig.InitFirstToken (then no init_gamma)
//	  },
//	  "gated_attention": true,            Config.GatedAttention
//	  "sink_kv": true                     Config.SinkKV
//	}
//
// Their parameters are stored next to the attention's own (see addSinkscope). transformers keeps
// the unknown object as an attribute and ignores it: such a checkpoint is a sinkscope model that
// transformers cannot run (it would warn about the unused tensors, and a sigmoid model has none).
const SinkscopeConfigKey = "sinkscope"

// sinkscopeJSON is the SinkscopeConfigKey object.
type sinkscopeJSON struct {
	Attention       string        `json:"attention,omitempty"`
	SigmoidBiasLogN bool          `json:"sigmoid_bias_log_n,omitempty"`
	HeadNorm        *headNormJSON `json:"head_norm,omitempty"`
	GatedAttention  bool          `json:"gated_attention,omitempty"`
	SinkKV          bool          `json:"sink_kv,omitempty"`
}

type headNormJSON struct {
	SharedGamma    bool         `json:"shared_gamma"`
	Eps            savePyFloat  `json:"eps"`
	InitGamma      *savePyFloat `json:"init_gamma,omitempty"`
	InitFirstToken bool         `json:"init_first_token,omitempty"`
}

// sinkscopeOptions returns cfg's SinkscopeConfigKey object, nil when none of its options is set.
func sinkscopeOptions(cfg *transformer.Config) *sinkscopeJSON {
	var o sinkscopeJSON
	set := false
	if cfg.Attention == transformer.SigmoidAttention {
		o.Attention, o.SigmoidBiasLogN, set = string(cfg.Attention), cfg.SigmoidBiasLogN, true
	}
	if h := cfg.HeadNorm; h.Enabled {
		o.HeadNorm = &headNormJSON{SharedGamma: h.SharedGamma, Eps: savePyFloat(h.Epsilon()), InitFirstToken: h.InitFirstToken}
		if !h.InitFirstToken {
			gamma := savePyFloat(h.InitGamma)
			if gamma == 0 {
				gamma = 1
			}
			o.HeadNorm.InitGamma = &gamma
		}
		set = true
	}
	if cfg.GatedAttention {
		o.GatedAttention, set = true, true
	}
	if cfg.SinkKV {
		o.SinkKV, set = true, true
	}
	if !set {
		return nil
	}
	return &o
}

// parseSinkscope reads the SinkscopeConfigKey object, if any, into cfg.
func parseSinkscope(f fields, cfg *transformer.Config) error {
	if !f.has(SinkscopeConfigKey) {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(string(f[SinkscopeConfigKey])))
	dec.DisallowUnknownFields()
	var o sinkscopeJSON
	if err := dec.Decode(&o); err != nil {
		return fmt.Errorf("field %q: %v", SinkscopeConfigKey, err)
	}
	switch transformer.AttentionKind(o.Attention) {
	case "", transformer.SoftmaxAttention:
		cfg.Attention = transformer.SoftmaxAttention
		if o.SigmoidBiasLogN {
			return fmt.Errorf("field %q: sigmoid_bias_log_n is set but attention is not %q", SinkscopeConfigKey, transformer.SigmoidAttention)
		}
	case transformer.SigmoidAttention:
		cfg.Attention, cfg.SigmoidBiasLogN = transformer.SigmoidAttention, o.SigmoidBiasLogN
	default:
		return fmt.Errorf("field %q: attention %q is not %q or %q", SinkscopeConfigKey, o.Attention, transformer.SoftmaxAttention, transformer.SigmoidAttention)
	}
	if h := o.HeadNorm; h != nil {
		cfg.HeadNorm = transformer.HeadNormConfig{Enabled: true, SharedGamma: h.SharedGamma, Eps: float64(h.Eps), InitFirstToken: h.InitFirstToken}
		if h.InitGamma != nil {
			cfg.HeadNorm.InitGamma = float64(*h.InitGamma)
		}
	}
	cfg.GatedAttention, cfg.SinkKV = o.GatedAttention, o.SinkKV
	return nil
}

// familyDefaults are the HF configuration-class defaults that differ between the Llama-layout
// families.
type familyDefaults struct {
	kvHeadsAbsent int // num_key_value_heads when the key is absent (0: num_attention_heads)
	headDim       int // head_dim when absent (0: hidden_size / num_attention_heads)
	maxPositions  int
	bos, eos      int
}

var llamaFamilyDefaults = map[transformer.Family]familyDefaults{
	transformer.Llama:   {kvHeadsAbsent: 0, maxPositions: 2048, bos: 1, eos: 2},
	transformer.Mistral: {kvHeadsAbsent: 8, maxPositions: 4096 * 32, bos: 1, eos: 2},
	transformer.Qwen2:   {kvHeadsAbsent: 32, maxPositions: 32768, bos: -1, eos: -1},
	transformer.Qwen3:   {kvHeadsAbsent: 32, headDim: 128, maxPositions: 32768, bos: -1, eos: -1},
}

func parseLlamaFamily(f fields, family transformer.Family) (*transformer.Config, error) {
	def := llamaFamilyDefaults[family]
	c := &transformer.Config{
		Family:   family,
		Norm:     transformer.RMSNorm,
		Position: transformer.RoPE,
		MLP:      transformer.SwiGLU,
	}
	var err error
	req := func(dst *int, key string) {
		if err == nil {
			*dst, err = f.reqInt(key)
		}
	}
	req(&c.VocabSize, "vocab_size")
	req(&c.DModel, "hidden_size")
	req(&c.NLayers, "num_hidden_layers")
	req(&c.NHeads, "num_attention_heads")
	req(&c.DMLP, "intermediate_size")
	if err != nil {
		return nil, err
	}

	// num_key_value_heads: an explicit null means "same as num_attention_heads" in every class,
	// but an absent key takes the class default, which is 8 for Mistral and 32 for Qwen2/Qwen3.
	switch {
	case f.isNull("num_key_value_heads"):
		c.NKVHeads = c.NHeads
	case !f.present("num_key_value_heads") && def.kvHeadsAbsent > 0:
		c.NKVHeads = def.kvHeadsAbsent
	default:
		if c.NKVHeads, err = f.int("num_key_value_heads", c.NHeads); err != nil {
			return nil, err
		}
	}
	// head_dim: Llama and Mistral derive it from hidden_size when absent or null; Qwen3 defaults
	// to 128 (not hidden_size / heads); Qwen2 has no such field.
	if family != transformer.Qwen2 {
		if c.DHead, err = f.int("head_dim", def.headDim); err != nil {
			return nil, err
		}
		if f.has("head_dim") && c.DHead <= 0 {
			return nil, fmt.Errorf("field \"head_dim\" must be positive, got %d", c.DHead)
		}
	}
	if c.MaxSeqLen, err = f.int("max_position_embeddings", def.maxPositions); err != nil {
		return nil, err
	}
	if c.NormEps, err = f.float("rms_norm_eps", 1e-6); err != nil {
		return nil, err
	}
	if c.Activation, err = f.str("hidden_act", "silu"); err != nil {
		return nil, err
	}
	if c.TiedEmbeddings, err = f.bool("tie_word_embeddings", false); err != nil {
		return nil, err
	}
	if c.RopeTheta, c.RopeScaling, err = parseRope(f); err != nil {
		return nil, err
	}

	switch family {
	case transformer.Llama:
		// attention_bias puts biases on all four projections (q, k, v and o); mlp_bias on all three
		// MLP projections (gate, up, down).
		bias, err := f.bool("attention_bias", false)
		if err != nil {
			return nil, err
		}
		c.QKVBias, c.OutBias = bias, bias
		if c.MLPBias, err = f.bool("mlp_bias", false); err != nil {
			return nil, err
		}
	case transformer.Mistral:
		// No biases at all.
	case transformer.Qwen2:
		// Qwen2 always has q/k/v biases and never an o_proj bias; there is no config switch.
		c.QKVBias = true
	case transformer.Qwen3:
		// Qwen3 drops Qwen2's fixed q/k/v biases (attention_bias, default false, covers q, k, v and
		// o) and adds RMSNorm over head_dim on q and k.
		bias, err := f.bool("attention_bias", false)
		if err != nil {
			return nil, err
		}
		c.QKVBias, c.OutBias = bias, bias
		c.QKNorm = true
	}
	if c.SlidingWindow, err = parseSlidingWindow(f, family, c.NLayers); err != nil {
		return nil, err
	}
	if c.BOSTokenID, err = f.tokenID("bos_token_id", def.bos); err != nil {
		return nil, err
	}
	if c.EOSTokenID, err = f.tokenID("eos_token_id", def.eos); err != nil {
		return nil, err
	}
	return c, nil
}

// parseSlidingWindow returns the single sliding window of all layers, 0 for none.
//
// Mistral: sliding_window (default 4096 when absent, null for none) applies to every layer.
// Qwen2/Qwen3: the window is only used when use_sliding_window is true, and then only for layers
// i >= max_window_layers (default 28) unless layer_types says otherwise. The model has one window
// for all layers, so a mix of sliding and full layers is an error.
func parseSlidingWindow(f fields, family transformer.Family, nLayers int) (int, error) {
	var window int
	var err error
	switch family {
	case transformer.Mistral:
		if window, err = f.int("sliding_window", 4096); err != nil {
			return 0, err
		}
		if f.isNull("sliding_window") {
			window = 0
		}
	case transformer.Qwen2, transformer.Qwen3:
		use, err := f.bool("use_sliding_window", false)
		if err != nil {
			return 0, err
		}
		if !use {
			return 0, nil
		}
		if window, err = f.int("sliding_window", 4096); err != nil {
			return 0, err
		}
		if f.isNull("sliding_window") {
			window = 0
		}
	default:
		return 0, nil
	}
	if window <= 0 {
		if window < 0 {
			return 0, fmt.Errorf("sliding_window must be positive or null, got %d", window)
		}
		return 0, nil
	}
	sliding := make([]bool, nLayers)
	if f.has("layer_types") {
		var types []string
		if err := json.Unmarshal(f["layer_types"], &types); err != nil {
			return 0, fmt.Errorf("field \"layer_types\": expected a list of strings: %v", err)
		}
		if len(types) != nLayers {
			return 0, fmt.Errorf("field \"layer_types\" has %d entries for %d layers", len(types), nLayers)
		}
		for i, t := range types {
			switch t {
			case "sliding_attention":
				sliding[i] = true
			case "full_attention":
			default:
				return 0, fmt.Errorf("field \"layer_types\"[%d] = %q is not supported (full_attention, sliding_attention)", i, t)
			}
		}
	} else {
		first := 0 // Mistral: every layer
		if family != transformer.Mistral {
			if first, err = f.int("max_window_layers", 28); err != nil {
				return 0, err
			}
		}
		for i := range sliding {
			sliding[i] = i >= first
		}
	}
	n := 0
	for _, s := range sliding {
		if s {
			n++
		}
	}
	switch n {
	case 0:
		return 0, nil
	case nLayers:
		return window, nil
	default:
		return 0, fmt.Errorf("sliding window %d applies to %d of %d layers; only the same attention span in every layer is supported", window, n, nLayers)
	}
}

// parseRope reads rope_theta and the scaling, from rope_parameters (transformers ≥ 5) when
// present, otherwise from rope_theta and rope_scaling. The scaling type is under "rope_type" or,
// in older files, "type"; "default" (or no scaling) means plain RoPE and only "llama3" is
// supported besides it.
func parseRope(f fields) (float64, *transformer.RopeScaling, error) {
	if f.has("rope_parameters") {
		var p map[string]json.RawMessage
		if err := json.Unmarshal(f["rope_parameters"], &p); err != nil || p == nil {
			return 0, nil, fmt.Errorf("field \"rope_parameters\" is not an object")
		}
		pf := fields(p)
		if !pf.present("rope_theta") && !pf.present("rope_type") {
			// Per-layer-type parameters ({"full_attention": {...}, "sliding_attention": {...}}).
			return 0, nil, fmt.Errorf("field \"rope_parameters\" without rope_theta/rope_type (per-layer-type RoPE) is not supported")
		}
		theta, err := pf.float("rope_theta", 0)
		if err != nil {
			return 0, nil, fmt.Errorf("rope_parameters: %w", err)
		}
		if theta == 0 {
			if theta, err = f.float("rope_theta", 10000); err != nil {
				return 0, nil, err
			}
		}
		s, err := parseRopeScaling(pf, "rope_parameters")
		return theta, s, err
	}
	theta, err := f.float("rope_theta", 10000)
	if err != nil {
		return 0, nil, err
	}
	if !f.has("rope_scaling") {
		return theta, nil, nil
	}
	var p map[string]json.RawMessage
	if err := json.Unmarshal(f["rope_scaling"], &p); err != nil || p == nil {
		return 0, nil, fmt.Errorf("field \"rope_scaling\" is not an object or null")
	}
	s, err := parseRopeScaling(fields(p), "rope_scaling")
	return theta, s, err
}

func parseRopeScaling(p fields, where string) (*transformer.RopeScaling, error) {
	typ, err := p.str("rope_type", "")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	if typ == "" {
		if typ, err = p.str("type", ""); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
	}
	switch typ {
	case "", "default":
		return nil, nil
	case "llama3":
	default:
		return nil, fmt.Errorf("%s: RoPE scaling type %q is not supported (only \"default\" and \"llama3\")", where, typ)
	}
	s := &transformer.RopeScaling{Type: typ}
	for _, x := range []struct {
		key string
		dst *float64
	}{{"factor", &s.Factor}, {"low_freq_factor", &s.LowFreqFactor}, {"high_freq_factor", &s.HighFreqFactor}} {
		if !p.has(x.key) {
			return nil, fmt.Errorf("%s: llama3 scaling is missing required field %q", where, x.key)
		}
		if *x.dst, err = p.float(x.key, 0); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
	}
	if !p.has("original_max_position_embeddings") {
		return nil, fmt.Errorf("%s: llama3 scaling is missing required field \"original_max_position_embeddings\"", where)
	}
	if s.OriginalMaxPositionEmbeddings, err = p.int("original_max_position_embeddings", 0); err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return s, nil
}

func parseGPT2(f fields) (*transformer.Config, error) {
	c := &transformer.Config{
		Family:   transformer.GPT2,
		Norm:     transformer.LayerNorm,
		Position: transformer.Learned,
		MLP:      transformer.Plain,
		// GPT-2 has biases on every projection (c_attn, c_proj, c_fc, mlp.c_proj).
		QKVBias: true, OutBias: true, MLPBias: true,
	}
	var err error
	if c.VocabSize, err = f.reqInt("vocab_size"); err != nil {
		return nil, err
	}
	// GPT2Config's attribute_map lets hidden_size etc. stand for n_embd etc.
	alias := func(dst *int, key, alt string) {
		if err != nil {
			return
		}
		if !f.has(key) && f.has(alt) {
			key = alt
		}
		*dst, err = f.reqInt(key)
	}
	alias(&c.DModel, "n_embd", "hidden_size")
	alias(&c.NLayers, "n_layer", "num_hidden_layers")
	alias(&c.NHeads, "n_head", "num_attention_heads")
	if err != nil {
		return nil, err
	}
	posKey := "n_positions"
	if !f.has(posKey) && f.has("max_position_embeddings") {
		posKey = "max_position_embeddings"
	}
	if c.MaxSeqLen, err = f.int(posKey, 1024); err != nil {
		return nil, err
	}
	// n_inner: null or absent means 4·n_embd.
	if c.DMLP, err = f.int("n_inner", 4*c.DModel); err != nil {
		return nil, err
	}
	if c.Activation, err = f.str("activation_function", "gelu_new"); err != nil {
		return nil, err
	}
	if c.NormEps, err = f.float("layer_norm_epsilon", 1e-5); err != nil {
		return nil, err
	}
	// GPT-2 ties lm_head to wte through PretrainedConfig's default tie_word_embeddings=true;
	// an explicit false unties them (then lm_head.weight must be in the checkpoint).
	if c.TiedEmbeddings, err = f.bool("tie_word_embeddings", true); err != nil {
		return nil, err
	}
	scale, err := f.bool("scale_attn_weights", true)
	if err != nil {
		return nil, err
	}
	if !scale {
		c.AttnScale = 1 // scores are q·k without the 1/sqrt(d_head)
	}
	if byLayer, err := f.bool("scale_attn_by_inverse_layer_idx", false); err != nil {
		return nil, err
	} else if byLayer {
		return nil, fmt.Errorf("field \"scale_attn_by_inverse_layer_idx\" = true (per-layer attention scaling) is not supported")
	}
	if c.BOSTokenID, err = f.tokenID("bos_token_id", 50256); err != nil {
		return nil, err
	}
	if c.EOSTokenID, err = f.tokenID("eos_token_id", 50256); err != nil {
		return nil, err
	}
	return c, nil
}

// fields gives typed access to a config.json object, with errors naming the field.
type fields map[string]json.RawMessage

func (f fields) present(key string) bool { _, ok := f[key]; return ok }

func (f fields) isNull(key string) bool {
	v, ok := f[key]
	return ok && strings.TrimSpace(string(v)) == "null"
}

// has reports whether key is present and not null.
func (f fields) has(key string) bool { return f.present(key) && !f.isNull(key) }

func (f fields) reqInt(key string) (int, error) {
	if !f.present(key) {
		return 0, fmt.Errorf("missing required field %q", key)
	}
	if f.isNull(key) {
		return 0, fmt.Errorf("required field %q is null", key)
	}
	return f.int(key, 0)
}

// int returns the integer value of key, or def when absent or null. Integral floats (4096.0)
// are accepted.
func (f fields) int(key string, def int) (int, error) {
	if !f.has(key) {
		return def, nil
	}
	var x float64
	if err := json.Unmarshal(f[key], &x); err != nil {
		return 0, fmt.Errorf("field %q: expected an integer, got %s", key, short(f[key]))
	}
	if x != math.Trunc(x) || math.Abs(x) > 1<<53 {
		return 0, fmt.Errorf("field %q: expected an integer, got %s", key, short(f[key]))
	}
	return int(x), nil
}

func (f fields) float(key string, def float64) (float64, error) {
	if !f.has(key) {
		return def, nil
	}
	var x float64
	if err := json.Unmarshal(f[key], &x); err != nil {
		return 0, fmt.Errorf("field %q: expected a number, got %s", key, short(f[key]))
	}
	return x, nil
}

func (f fields) bool(key string, def bool) (bool, error) {
	if !f.has(key) {
		return def, nil
	}
	var x bool
	if err := json.Unmarshal(f[key], &x); err != nil {
		return false, fmt.Errorf("field %q: expected true or false, got %s", key, short(f[key]))
	}
	return x, nil
}

func (f fields) str(key, def string) (string, error) {
	if !f.has(key) {
		return def, nil
	}
	var x string
	if err := json.Unmarshal(f[key], &x); err != nil {
		return "", fmt.Errorf("field %q: expected a string, got %s", key, short(f[key]))
	}
	return x, nil
}

// tokenID reads a token id that may be an integer, a list of integers (the first is used; e.g.
// Llama-3's several end-of-turn ids), or null (−1). Absent means def.
func (f fields) tokenID(key string, def int) (int, error) {
	if !f.present(key) {
		return def, nil
	}
	if f.isNull(key) {
		return -1, nil
	}
	v := strings.TrimSpace(string(f[key]))
	if strings.HasPrefix(v, "[") {
		var ids []json.RawMessage
		if err := json.Unmarshal(f[key], &ids); err != nil {
			return 0, fmt.Errorf("field %q: expected an integer or a list of integers, got %s", key, short(f[key]))
		}
		if len(ids) == 0 {
			return -1, nil
		}
		return fields{key: ids[0]}.int(key, -1)
	}
	return f.int(key, def)
}

func short(v json.RawMessage) string {
	s := string(v)
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return s
}
