package hf_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sinkscope/sinkscope/sinks/hf"
	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// Every arm of the sink-removal comparison saves as config.json (its options in the "sinkscope"
// object) plus safetensors (its parameters beside the attention's) and loads back as the same
// config and the same weights, in the Llama and the GPT-2 layouts.
func TestSaveSinkscopeArms(t *testing.T) {
	cases := []struct {
		name    string
		cfg     func() *transformer.Config
		object  string   // the expected "sinkscope" object
		tensors []string // tensors of layer 1 the file must hold
	}{
		{"headnorm-per-head-first-token", func() *transformer.Config {
			c := saveLlama(transformer.Llama)
			c.NKVHeads, c.HeadNorm = 2, transformer.HeadNormConfig{Enabled: true, InitFirstToken: true}
			return c
		}, `{"head_norm": {"shared_gamma": false, "eps": 1e-06, "init_first_token": true}}`,
			[]string{"model.layers.1.self_attn.head_norm.weight"}},
		{"headnorm-shared-first-token", func() *transformer.Config {
			c := saveLlama(transformer.Llama)
			c.HeadNorm = transformer.HeadNormConfig{Enabled: true, SharedGamma: true, InitFirstToken: true}
			return c
		}, `{"head_norm": {"shared_gamma": true, "eps": 1e-06, "init_first_token": true}}`,
			[]string{"model.layers.1.self_attn.head_norm.weight"}},
		{"headnorm-fixed-gamma", func() *transformer.Config {
			c := saveLlama(transformer.Mistral)
			c.HeadNorm = transformer.HeadNormConfig{Enabled: true, Eps: 1e-5, InitGamma: 0.25}
			return c
		}, `{"head_norm": {"shared_gamma": false, "eps": 1e-05, "init_gamma": 0.25}}`,
			[]string{"model.layers.1.self_attn.head_norm.weight"}},
		{"sigmoid-log-n", func() *transformer.Config {
			c := saveLlama(transformer.Llama)
			c.Attention, c.SigmoidBiasLogN = transformer.SigmoidAttention, true
			return c
		}, `{"attention": "sigmoid", "sigmoid_bias_log_n": true}`, nil},
		{"sigmoid-no-bias-gpt2", func() *transformer.Config {
			c := saveGPT2()
			c.Attention = transformer.SigmoidAttention
			return c
		}, `{"attention": "sigmoid"}`, nil},
		{"gated-qwen3", func() *transformer.Config {
			c := saveLlama(transformer.Qwen3)
			c.QKNorm, c.GatedAttention = true, true
			return c
		}, `{"gated_attention": true}`, []string{"model.layers.1.self_attn.gate_proj.weight"}},
		{"sink-kv-gqa", func() *transformer.Config {
			c := saveLlama(transformer.Llama)
			c.NKVHeads, c.SinkKV = 2, true
			return c
		}, `{"sink_kv": true}`, []string{"model.layers.1.self_attn.sink_key", "model.layers.1.self_attn.sink_value"}},
		{"everything-gpt2", func() *transformer.Config {
			c := saveGPT2()
			c.SinkKV, c.GatedAttention, c.HeadNorm = true, true, transformer.HeadNormConfig{Enabled: true, SharedGamma: true}
			return c
		}, `{"head_norm": {"shared_gamma": true, "eps": 1e-06, "init_gamma": 1.0}, "gated_attention": true, "sink_kv": true}`,
			[]string{"transformer.h.1.attn.head_norm.weight", "transformer.h.1.attn.gate_proj.weight", "transformer.h.1.attn.sink_key", "transformer.h.1.attn.sink_value"}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg()
			w := saveWeights(t, cfg, uint64(i+1))
			dir := filepath.Join(t.TempDir(), "model")
			if err := hf.Save(dir, cfg, w, nil); err != nil {
				t.Fatal(err)
			}
			m := saveReadJSON(t, filepath.Join(dir, hf.ConfigFileName))
			var want any
			if err := json.Unmarshal([]byte(tc.object), &want); err != nil {
				t.Fatal(err)
			}
			if got := m[hf.SinkscopeConfigKey]; !reflect.DeepEqual(got, want) {
				t.Errorf("config.json %q = %v, want %v", hf.SinkscopeConfigKey, got, want)
			}
			names, _ := saveTensorNames(t, dir)
			for _, n := range tc.tensors {
				if _, ok := names[n]; !ok {
					t.Errorf("model.safetensors has no %q", n)
				}
			}
			if len(names) != len(w) && cfg.Family != transformer.GPT2 {
				t.Errorf("%d tensors for %d parameters", len(names), len(w))
			}
			ck, err := hf.Load(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			saveSameConfig(t, cfg, ck.Config)
			saveSameWeights(t, w, ck.Weights, saveExact)
		})
	}

	// A model without any sinkscope option writes no such object: its config.json stays what
	// save_pretrained writes.
	cfg := saveLlama(transformer.Llama)
	dir := filepath.Join(t.TempDir(), "plain")
	if err := hf.Save(dir, cfg, saveWeights(t, cfg, 9), nil); err != nil {
		t.Fatal(err)
	}
	if v, ok := saveReadJSON(t, filepath.Join(dir, hf.ConfigFileName))[hf.SinkscopeConfigKey]; ok {
		t.Errorf("a plain llama config.json has %q = %v", hf.SinkscopeConfigKey, v)
	}
}

// The "sinkscope" object is read strictly: an unknown key, a value of the wrong kind or a
// combination the model cannot run is an error naming it.
func TestParseSinkscopeErrors(t *testing.T) {
	base, err := os.ReadFile(filepath.Join(saveDir(t), hf.ConfigFileName))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ object, want string }{
		{`{"head_norm": {"shared": true}}`, `unknown field "shared"`},
		{`{"sink_kv": true, "headnorm": {}}`, `unknown field "headnorm"`},
		{`{"attention": "linear"}`, `attention "linear" is not "softmax" or "sigmoid"`},
		{`{"sigmoid_bias_log_n": true}`, "sigmoid_bias_log_n is set but attention is not"},
		{`{"gated_attention": 1}`, `field "sinkscope"`},
		{`[true]`, `field "sinkscope"`},
		{`{"attention": "sigmoid", "sink_kv": true}`, "SinkKV needs softmax attention"},
		{`{"head_norm": {"eps": 1e-6, "init_gamma": 0.5, "init_first_token": true}}`, "both set γ's initial value"},
	} {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(base, &m); err != nil {
			t.Fatal(err)
		}
		m[hf.SinkscopeConfigKey] = json.RawMessage(tc.object)
		data, _ := json.Marshal(m)
		if _, err := hf.ParseConfig(data); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.object, err, tc.want)
		}
	}
}

// saveDir saves a plain llama model and returns its directory.
func saveDir(t *testing.T) string {
	t.Helper()
	cfg := saveLlama(transformer.Llama)
	dir := filepath.Join(t.TempDir(), "m")
	if err := hf.Save(dir, cfg, saveWeights(t, cfg, 5), nil); err != nil {
		t.Fatal(err)
	}
	return dir
}
