package hf

import (
	"strings"
	"testing"

	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// Configs shaped like real published ones (trimmed of fields the loader does not read).
const (
	llama2Config = `{
  "architectures": ["LlamaForCausalLM"], "model_type": "llama",
  "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu", "hidden_size": 4096,
  "initializer_range": 0.02, "intermediate_size": 11008, "max_position_embeddings": 4096,
  "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 32,
  "pretraining_tp": 1, "rms_norm_eps": 1e-05, "rope_scaling": null, "tie_word_embeddings": false,
  "torch_dtype": "float16", "use_cache": true, "vocab_size": 32000}`

	llama31Config = `{
  "architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009], "hidden_act": "silu",
  "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336,
  "max_position_embeddings": 131072, "mlp_bias": false, "model_type": "llama",
  "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8, "pretraining_tp": 1,
  "rms_norm_eps": 1e-05,
  "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                   "original_max_position_embeddings": 8192, "rope_type": "llama3"},
  "rope_theta": 500000.0, "tie_word_embeddings": false, "torch_dtype": "bfloat16", "vocab_size": 128256}`

	mistralConfig = `{
  "architectures": ["MistralForCausalLM"], "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu",
  "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336,
  "max_position_embeddings": 32768, "model_type": "mistral", "num_attention_heads": 32,
  "num_hidden_layers": 32, "num_key_value_heads": 8, "rms_norm_eps": 1e-05, "rope_theta": 10000.0,
  "sliding_window": 4096, "tie_word_embeddings": false, "torch_dtype": "bfloat16", "vocab_size": 32000}`

	qwen2Config = `{
  "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643,
  "eos_token_id": 151643, "hidden_act": "silu", "hidden_size": 896, "initializer_range": 0.02,
  "intermediate_size": 4864, "max_position_embeddings": 131072, "max_window_layers": 24,
  "model_type": "qwen2", "num_attention_heads": 14, "num_hidden_layers": 24, "num_key_value_heads": 2,
  "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "sliding_window": 131072, "tie_word_embeddings": true,
  "torch_dtype": "bfloat16", "use_cache": true, "use_sliding_window": false, "vocab_size": 151936}`

	qwen3Config = `{
  "architectures": ["Qwen3ForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "bos_token_id": 151643, "eos_token_id": 151645, "head_dim": 128, "hidden_act": "silu",
  "hidden_size": 1024, "initializer_range": 0.02, "intermediate_size": 3072,
  "max_position_embeddings": 40960, "max_window_layers": 28, "model_type": "qwen3",
  "num_attention_heads": 16, "num_hidden_layers": 28, "num_key_value_heads": 8, "rms_norm_eps": 1e-06,
  "rope_scaling": null, "rope_theta": 1000000, "sliding_window": null, "tie_word_embeddings": true,
  "torch_dtype": "bfloat16", "use_cache": true, "use_sliding_window": false, "vocab_size": 151936}`

	gpt2Config = `{
  "activation_function": "gelu_new", "architectures": ["GPT2LMHeadModel"], "attn_pdrop": 0.1,
  "bos_token_id": 50256, "embd_pdrop": 0.1, "eos_token_id": 50256, "initializer_range": 0.02,
  "layer_norm_epsilon": 1e-05, "model_type": "gpt2", "n_ctx": 1024, "n_embd": 768, "n_head": 12,
  "n_layer": 12, "n_positions": 1024, "resid_pdrop": 0.1, "summary_activation": null,
  "summary_first_dropout": 0.1, "summary_proj_to_labels": true, "summary_type": "cls_index",
  "summary_use_proj": true, "vocab_size": 50257}`
)

func mustParse(t *testing.T, js string) *transformer.Config {
	t.Helper()
	c, err := ParseConfig([]byte(js))
	if err != nil {
		t.Fatalf("ParseConfig: %v", err)
	}
	return c
}

func TestParseConfigFamilies(t *testing.T) {
	cases := []struct {
		name string
		js   string
		want transformer.Config
	}{
		{"llama2", llama2Config, transformer.Config{
			Family: transformer.Llama, VocabSize: 32000, DModel: 4096, NLayers: 32, NHeads: 32, NKVHeads: 32, DMLP: 11008,
			MaxSeqLen: 4096, Norm: transformer.RMSNorm, NormEps: 1e-5, Position: transformer.RoPE, RopeTheta: 10000,
			MLP: transformer.SwiGLU, Activation: "silu", BOSTokenID: 1, EOSTokenID: 2}},
		{"llama3.1", llama31Config, transformer.Config{
			Family: transformer.Llama, VocabSize: 128256, DModel: 4096, NLayers: 32, NHeads: 32, NKVHeads: 8, DMLP: 14336,
			MaxSeqLen: 131072, Norm: transformer.RMSNorm, NormEps: 1e-5, Position: transformer.RoPE, RopeTheta: 500000,
			RopeScaling: &transformer.RopeScaling{Type: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositionEmbeddings: 8192},
			MLP:         transformer.SwiGLU, Activation: "silu", BOSTokenID: 128000, EOSTokenID: 128001}},
		{"mistral", mistralConfig, transformer.Config{
			Family: transformer.Mistral, VocabSize: 32000, DModel: 4096, NLayers: 32, NHeads: 32, NKVHeads: 8, DMLP: 14336,
			MaxSeqLen: 32768, Norm: transformer.RMSNorm, NormEps: 1e-5, Position: transformer.RoPE, RopeTheta: 10000,
			MLP: transformer.SwiGLU, Activation: "silu", SlidingWindow: 4096, BOSTokenID: 1, EOSTokenID: 2}},
		{"qwen2", qwen2Config, transformer.Config{
			Family: transformer.Qwen2, VocabSize: 151936, DModel: 896, NLayers: 24, NHeads: 14, NKVHeads: 2, DMLP: 4864,
			MaxSeqLen: 131072, Norm: transformer.RMSNorm, NormEps: 1e-6, Position: transformer.RoPE, RopeTheta: 1e6,
			MLP: transformer.SwiGLU, Activation: "silu", QKVBias: true, TiedEmbeddings: true, BOSTokenID: 151643, EOSTokenID: 151643}},
		{"qwen3", qwen3Config, transformer.Config{
			Family: transformer.Qwen3, VocabSize: 151936, DModel: 1024, NLayers: 28, NHeads: 16, NKVHeads: 8, DHead: 128, DMLP: 3072,
			MaxSeqLen: 40960, Norm: transformer.RMSNorm, NormEps: 1e-6, Position: transformer.RoPE, RopeTheta: 1e6,
			MLP: transformer.SwiGLU, Activation: "silu", QKNorm: true, TiedEmbeddings: true, BOSTokenID: 151643, EOSTokenID: 151645}},
		{"gpt2", gpt2Config, transformer.Config{
			Family: transformer.GPT2, VocabSize: 50257, DModel: 768, NLayers: 12, NHeads: 12, DMLP: 3072,
			MaxSeqLen: 1024, Norm: transformer.LayerNorm, NormEps: 1e-5, Position: transformer.Learned,
			MLP: transformer.Plain, Activation: "gelu_new", QKVBias: true, OutBias: true, MLPBias: true,
			TiedEmbeddings: true, BOSTokenID: 50256, EOSTokenID: 50256}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := mustParse(t, c.js)
			if (got.RopeScaling == nil) != (c.want.RopeScaling == nil) ||
				(got.RopeScaling != nil && *got.RopeScaling != *c.want.RopeScaling) {
				t.Errorf("RopeScaling = %+v, want %+v", got.RopeScaling, c.want.RopeScaling)
			}
			g, w := *got, c.want
			g.RopeScaling, w.RopeScaling = nil, nil
			if g != w {
				t.Errorf("config mismatch:\n got %+v\nwant %+v", g, w)
			}
		})
	}
}

func TestParseConfigDefaultsAndVariants(t *testing.T) {
	base := `"vocab_size": 100, "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128`
	// Llama defaults: KV heads = heads, head_dim derived, 2048 positions, eps 1e-6, theta 1e4, bos 1 / eos 2.
	c := mustParse(t, `{"model_type": "llama", `+base+`}`)
	if c.NKVHeads != 4 || c.HeadDim() != 16 || c.MaxSeqLen != 2048 || c.NormEps != 1e-6 || c.RopeTheta != 10000 ||
		c.BOSTokenID != 1 || c.EOSTokenID != 2 || c.TiedEmbeddings || c.QKVBias || c.Activation != "silu" {
		t.Errorf("llama defaults: %+v", c)
	}
	// Llama biases: attention_bias covers q, k, v and o; mlp_bias the three MLP projections.
	c = mustParse(t, `{"model_type": "llama", "attention_bias": true, "mlp_bias": true, `+base+`}`)
	if !c.QKVBias || !c.OutBias || !c.MLPBias {
		t.Errorf("llama biases: %+v", c)
	}
	// Legacy "type" key for rope_scaling, and "default" meaning none.
	c = mustParse(t, `{"model_type": "llama", "rope_scaling": {"type": "llama3", "factor": 32, "low_freq_factor": 1, "high_freq_factor": 4, "original_max_position_embeddings": 8192}, `+base+`}`)
	if c.RopeScaling == nil || c.RopeScaling.Factor != 32 {
		t.Errorf("legacy rope_scaling type: %+v", c.RopeScaling)
	}
	c = mustParse(t, `{"model_type": "llama", "rope_scaling": {"rope_type": "default"}, `+base+`}`)
	if c.RopeScaling != nil {
		t.Errorf("default rope_scaling: %+v", c.RopeScaling)
	}
	// transformers ≥ 5: rope_parameters.
	c = mustParse(t, `{"model_type": "llama", "rope_parameters": {"rope_theta": 500000.0, "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 64}, `+base+`}`)
	if c.RopeTheta != 500000 || c.RopeScaling == nil || c.RopeScaling.OriginalMaxPositionEmbeddings != 64 {
		t.Errorf("rope_parameters: theta %g, %+v", c.RopeTheta, c.RopeScaling)
	}
	// Token ids: null → −1, list → first, integral float accepted.
	c = mustParse(t, `{"model_type": "llama", "bos_token_id": null, "eos_token_id": [7, 8], "max_position_embeddings": 512.0, `+base+`}`)
	if c.BOSTokenID != -1 || c.EOSTokenID != 7 || c.MaxSeqLen != 512 {
		t.Errorf("token ids: bos %d eos %d maxpos %d", c.BOSTokenID, c.EOSTokenID, c.MaxSeqLen)
	}
	// Mistral: absent num_key_value_heads is 8 (class default), null is the head count; sliding
	// window defaults to 4096 and null disables it.
	c = mustParse(t, `{"model_type": "mistral", "hidden_size": 64, "num_attention_heads": 8, "vocab_size": 100, "num_hidden_layers": 2, "intermediate_size": 128}`)
	if c.NKVHeads != 8 || c.SlidingWindow != 4096 || c.MaxSeqLen != 131072 {
		t.Errorf("mistral defaults: kv %d window %d maxpos %d", c.NKVHeads, c.SlidingWindow, c.MaxSeqLen)
	}
	c = mustParse(t, `{"model_type": "mistral", "num_key_value_heads": null, "sliding_window": null, `+base+`}`)
	if c.NKVHeads != 4 || c.SlidingWindow != 0 {
		t.Errorf("mistral nulls: kv %d window %d", c.NKVHeads, c.SlidingWindow)
	}
	// Qwen2: q/k/v biases always, no o bias; no BOS by default; sliding window only when enabled
	// for every layer.
	c = mustParse(t, `{"model_type": "qwen2", "num_key_value_heads": 2, `+base+`}`)
	if !c.QKVBias || c.OutBias || c.BOSTokenID != -1 || c.SlidingWindow != 0 {
		t.Errorf("qwen2: %+v", c)
	}
	c = mustParse(t, `{"model_type": "qwen2", "num_key_value_heads": 2, "use_sliding_window": true, "sliding_window": 16, "max_window_layers": 0, `+base+`}`)
	if c.SlidingWindow != 16 {
		t.Errorf("qwen2 all-layer sliding window: %d", c.SlidingWindow)
	}
	c = mustParse(t, `{"model_type": "qwen2", "num_key_value_heads": 2, "use_sliding_window": true, "sliding_window": 16, "max_window_layers": 28, `+base+`}`)
	if c.SlidingWindow != 0 {
		t.Errorf("qwen2 window beyond the last layer: %d", c.SlidingWindow)
	}
	// Qwen3: head_dim defaults to 128, q/k norms, attention_bias optional.
	c = mustParse(t, `{"model_type": "qwen3", "num_key_value_heads": 2, `+base+`}`)
	if c.DHead != 128 || !c.QKNorm || c.QKVBias {
		t.Errorf("qwen3 defaults: %+v", c)
	}
	c = mustParse(t, `{"model_type": "qwen3", "num_key_value_heads": 2, "attention_bias": true, "head_dim": 8, `+base+`}`)
	if c.DHead != 8 || !c.QKVBias || !c.OutBias {
		t.Errorf("qwen3 bias: %+v", c)
	}
	// GPT-2: n_inner null → 4·n_embd, ties by default, an explicit false unties, no scaling → 1.
	c = mustParse(t, `{"model_type": "gpt2", "vocab_size": 50257, "n_embd": 64, "n_layer": 2, "n_head": 4, "n_inner": null}`)
	if c.DMLP != 256 || !c.TiedEmbeddings || c.MaxSeqLen != 1024 || c.Scale() != 0.25 {
		t.Errorf("gpt2 defaults: %+v", c)
	}
	c = mustParse(t, `{"model_type": "gpt2", "vocab_size": 50257, "n_embd": 64, "n_layer": 2, "n_head": 4, "n_inner": 96, "tie_word_embeddings": false, "scale_attn_weights": false, "activation_function": "gelu"}`)
	if c.DMLP != 96 || c.TiedEmbeddings || c.Scale() != 1 || c.Activation != "gelu" {
		t.Errorf("gpt2 variants: %+v", c)
	}
}

func TestParseConfigErrors(t *testing.T) {
	base := `"vocab_size": 100, "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128`
	cases := []struct {
		name, js string
		want     []string
	}{
		{"invalid json", `{"model_type": `, []string{"invalid JSON"}},
		{"not an object", `[1]`, []string{"invalid JSON"}},
		{"null", `null`, []string{"not a JSON object"}},
		{"no model_type", `{` + base + `}`, []string{`"model_type"`}},
		{"unknown model_type", `{"model_type": "bert", ` + base + `}`, []string{`"bert"`, "not supported"}},
		{"model_type not string", `{"model_type": 3, ` + base + `}`, []string{`"model_type"`, "string"}},
		{"missing hidden_size", `{"model_type": "llama", "vocab_size": 100, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128}`, []string{`"hidden_size"`, "missing"}},
		{"null vocab", `{"model_type": "llama", "vocab_size": null, "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128}`, []string{`"vocab_size"`}},
		{"missing n_embd", `{"model_type": "gpt2", "vocab_size": 100, "n_layer": 2, "n_head": 4}`, []string{`"n_embd"`}},
		{"string size", `{"model_type": "llama", "vocab_size": "100", "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128}`, []string{`"vocab_size"`, "integer"}},
		{"fractional size", `{"model_type": "llama", "vocab_size": 100.5, "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128}`, []string{`"vocab_size"`, "integer"}},
		{"bool as string", `{"model_type": "llama", "tie_word_embeddings": "yes", ` + base + `}`, []string{`"tie_word_embeddings"`}},
		{"yarn", `{"model_type": "qwen2", "rope_scaling": {"type": "yarn", "factor": 4}, ` + base + `}`, []string{`"yarn"`, "not supported"}},
		{"linear", `{"model_type": "llama", "rope_scaling": {"rope_type": "linear", "factor": 2}, ` + base + `}`, []string{`"linear"`}},
		{"llama3 missing factor", `{"model_type": "llama", "rope_scaling": {"rope_type": "llama3", "low_freq_factor": 1, "high_freq_factor": 4, "original_max_position_embeddings": 8192}, ` + base + `}`, []string{`"factor"`}},
		{"llama3 bad factors", `{"model_type": "llama", "rope_scaling": {"rope_type": "llama3", "factor": 8, "low_freq_factor": 4, "high_freq_factor": 1, "original_max_position_embeddings": 8192}, ` + base + `}`, []string{"llama3"}},
		{"per-layer rope", `{"model_type": "llama", "rope_parameters": {"full_attention": {"rope_theta": 1}}, ` + base + `}`, []string{"rope_parameters"}},
		{"mixed sliding", `{"model_type": "qwen2", "use_sliding_window": true, "sliding_window": 16, "max_window_layers": 1, ` + base + `}`, []string{"1 of 2 layers"}},
		{"layer_types mixed", `{"model_type": "mistral", "sliding_window": 16, "layer_types": ["sliding_attention", "full_attention"], ` + base + `}`, []string{"1 of 2 layers"}},
		{"inverse layer scaling", `{"model_type": "gpt2", "vocab_size": 100, "n_embd": 64, "n_layer": 2, "n_head": 4, "scale_attn_by_inverse_layer_idx": true}`, []string{"scale_attn_by_inverse_layer_idx"}},
		{"heads not dividing", `{"model_type": "llama", "num_key_value_heads": 3, ` + base + `}`, []string{"NKVHeads"}},
		{"bad activation", `{"model_type": "llama", "hidden_act": "tanh", ` + base + `}`, []string{`"tanh"`}},
		{"negative head_dim", `{"model_type": "llama", "head_dim": -4, ` + base + `}`, []string{`"head_dim"`}},
		{"zero layers", `{"model_type": "llama", "vocab_size": 100, "hidden_size": 64, "num_hidden_layers": 0, "num_attention_heads": 4, "intermediate_size": 128}`, []string{"NLayers"}},
		{"bos out of range", `{"model_type": "llama", "bos_token_id": 100, ` + base + `}`, []string{"BOSTokenID"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(c.js))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func FuzzParseConfig(f *testing.F) {
	for _, js := range []string{llama2Config, llama31Config, mistralConfig, qwen2Config, qwen3Config, gpt2Config,
		`{"model_type": "qwen2", "use_sliding_window": true, "layer_types": ["sliding_attention"], "sliding_window": 4, "vocab_size": 1, "hidden_size": 2, "num_hidden_layers": 1, "num_attention_heads": 1, "intermediate_size": 1}`,
		`{"model_type": "llama", "rope_parameters": {"rope_type": "llama3"}}`,
		`{"model_type": "gpt2", "eos_token_id": [], "bos_token_id": [null]}`,
		`{}`, `null`, `[]`, `{"model_type": null}`,
	} {
		f.Add([]byte(js))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(data)
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("ParseConfig returned a config that does not validate: %v", err)
		}
	})
}
