package hf

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/dtypes/bfloat16"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sinkscope/sinkscope/sinks/safetensors"
)

// Tiny dimensions for the test checkpoints.
const (
	tV, tD, tH, tKV, tDH, tF, tL, tPos = 16, 8, 2, 1, 4, 12, 2, 32
)

// ckpt is a test checkpoint: HF tensor name → values and shape.
type ckpt struct {
	vals   map[string][]float32
	shapes map[string][]int
	dtype  map[string]safetensors.DType
}

func newCkpt() *ckpt {
	return &ckpt{vals: map[string][]float32{}, shapes: map[string][]int{}, dtype: map[string]safetensors.DType{}}
}

// add creates a tensor whose values are distinct per name and position and exact in bfloat16.
func (c *ckpt) add(name string, shape ...int) {
	h := fnv.New32a()
	h.Write([]byte(name))
	seed := int(h.Sum32() % 97)
	n := 1
	for _, d := range shape {
		n *= d
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = float32((seed+7*i)%251-125) / 8
	}
	c.vals[name], c.shapes[name], c.dtype[name] = v, shape, safetensors.F32
}

func (c *ckpt) remove(name string) {
	delete(c.vals, name)
	delete(c.shapes, name)
	delete(c.dtype, name)
}

func (c *ckpt) rename(from, to string) {
	c.vals[to], c.shapes[to], c.dtype[to] = c.vals[from], c.shapes[from], c.dtype[from]
	c.remove(from)
}

func (c *ckpt) names() []string {
	var out []string
	for n := range c.vals {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func (c *ckpt) tensors(t *testing.T, names []string) map[string]safetensors.Tensor {
	t.Helper()
	m := map[string]safetensors.Tensor{}
	for _, n := range names {
		if c.dtype[n] == safetensors.I32 {
			data := make([]byte, 4*len(c.vals[n]))
			for i, v := range c.vals[n] {
				binary.LittleEndian.PutUint32(data[4*i:], uint32(int32(v)))
			}
			m[n] = safetensors.Tensor{DType: safetensors.I32, Shape: c.shapes[n], Data: data}
			continue
		}
		x, err := safetensors.FromFloat32(c.dtype[n], c.shapes[n], c.vals[n])
		if err != nil {
			t.Fatal(err)
		}
		m[n] = x
	}
	return m
}

// write stores config.json and the weights in dir, in `shards` files (1: model.safetensors).
func (c *ckpt) write(t *testing.T, dir, config string, shards int) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	names := c.names()
	if shards <= 1 {
		if err := safetensors.Write(filepath.Join(dir, "model.safetensors"), c.tensors(t, names), map[string]string{"format": "pt"}); err != nil {
			t.Fatal(err)
		}
		return
	}
	wm := map[string]string{}
	for s := 0; s < shards; s++ {
		file := fmt.Sprintf("model-%05d-of-%05d.safetensors", s+1, shards)
		var part []string
		for i, n := range names {
			if i%shards == s {
				part = append(part, n)
				wm[n] = file
			}
		}
		if err := safetensors.Write(filepath.Join(dir, file), c.tensors(t, part), map[string]string{"format": "pt"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := safetensors.WriteIndex(filepath.Join(dir, safetensors.IndexFileName), wm, 0); err != nil {
		t.Fatal(err)
	}
}

func llamaJSON(modelType string, extra string) string {
	return fmt.Sprintf(`{"model_type": %q, "vocab_size": %d, "hidden_size": %d, "num_hidden_layers": %d,
  "num_attention_heads": %d, "num_key_value_heads": %d, "head_dim": %d, "intermediate_size": %d,
  "max_position_embeddings": %d, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "bos_token_id": 1, "eos_token_id": 2%s}`,
		modelType, tV, tD, tL, tH, tKV, tDH, tF, tPos, extra)
}

// llamaCkpt writes the tensors of a Llama-layout model with the HF names.
func llamaCkpt(qkvBias, outBias, mlpBias, qkNorm, tied bool) *ckpt {
	c := newCkpt()
	c.add("model.embed_tokens.weight", tV, tD)
	for l := range tL {
		p := fmt.Sprintf("model.layers.%d.", l)
		c.add(p+"input_layernorm.weight", tD)
		c.add(p+"self_attn.q_proj.weight", tH*tDH, tD)
		c.add(p+"self_attn.k_proj.weight", tKV*tDH, tD)
		c.add(p+"self_attn.v_proj.weight", tKV*tDH, tD)
		c.add(p+"self_attn.o_proj.weight", tD, tH*tDH)
		if qkvBias {
			c.add(p+"self_attn.q_proj.bias", tH*tDH)
			c.add(p+"self_attn.k_proj.bias", tKV*tDH)
			c.add(p+"self_attn.v_proj.bias", tKV*tDH)
		}
		if outBias {
			c.add(p+"self_attn.o_proj.bias", tD)
		}
		if qkNorm {
			c.add(p+"self_attn.q_norm.weight", tDH)
			c.add(p+"self_attn.k_norm.weight", tDH)
		}
		c.add(p+"post_attention_layernorm.weight", tD)
		c.add(p+"mlp.gate_proj.weight", tF, tD)
		c.add(p+"mlp.up_proj.weight", tF, tD)
		c.add(p+"mlp.down_proj.weight", tD, tF)
		if mlpBias {
			c.add(p+"mlp.gate_proj.bias", tF)
			c.add(p+"mlp.up_proj.bias", tF)
			c.add(p+"mlp.down_proj.bias", tD)
		}
	}
	c.add("model.norm.weight", tD)
	if !tied {
		c.add("lm_head.weight", tV, tD)
	}
	return c
}

// llamaCanonical is the expected HF name of each canonical parameter (all direct copies).
func llamaCanonical(name string) string {
	r := strings.NewReplacer(
		"embed/weights", "model.embed_tokens.weight",
		"ln_final/scale", "model.norm.weight",
		"unembed/weights", "lm_head.weight",
		"ln1/scale", "input_layernorm.weight",
		"ln2/scale", "post_attention_layernorm.weight",
		"attn/q_norm/scale", "self_attn.q_norm.weight",
		"attn/k_norm/scale", "self_attn.k_norm.weight",
		"attn/q/", "self_attn.q_proj.", "attn/k/", "self_attn.k_proj.", "attn/v/", "self_attn.v_proj.", "attn/o/", "self_attn.o_proj.",
		"mlp/gate/", "mlp.gate_proj.", "mlp/up/", "mlp.up_proj.", "mlp/down/", "mlp.down_proj.",
		"weights", "weight",
	)
	if rest, ok := strings.CutPrefix(name, "blocks/"); ok {
		layer, rest, _ := strings.Cut(rest, "/")
		return "model.layers." + layer + "." + r.Replace(rest)
	}
	return r.Replace(name)
}

func values(t *testing.T, x *tensors.Tensor) []float32 {
	t.Helper()
	switch x.DType() {
	case dtypes.Float32:
		v, err := tensors.CopyFlatData[float32](x)
		if err != nil {
			t.Fatal(err)
		}
		return v
	case dtypes.BFloat16:
		b, err := tensors.CopyFlatData[bfloat16.BFloat16](x)
		if err != nil {
			t.Fatal(err)
		}
		v := make([]float32, len(b))
		for i, e := range b {
			v[i] = e.Float32()
		}
		return v
	}
	t.Fatalf("unexpected dtype %s", x.DType())
	return nil
}

func checkLlamaWeights(t *testing.T, ck *Checkpoint, c *ckpt, dtype dtypes.DType) {
	t.Helper()
	want := ck.Config.ParamShapes()
	if len(ck.Weights) != len(want) {
		t.Errorf("%d weights loaded, config declares %d", len(ck.Weights), len(want))
	}
	for name, shape := range want {
		x, ok := ck.Weights[name]
		if !ok {
			t.Errorf("canonical %s not loaded", name)
			continue
		}
		if x.DType() != dtype || !slices.Equal(x.Shape().Dimensions, shape) {
			t.Errorf("%s: %s %v, want %s %v", name, x.DType(), x.Shape().Dimensions, dtype, shape)
			continue
		}
		hfName := llamaCanonical(name)
		src, ok := c.vals[hfName]
		if !ok {
			t.Errorf("%s: test mapping gives %s, not in the checkpoint", name, hfName)
			continue
		}
		if got := values(t, x); !slices.Equal(got, src) {
			t.Errorf("%s: values differ from %s", name, hfName)
		}
	}
}

func TestLoadLlamaFamilies(t *testing.T) {
	cases := []struct {
		name                   string
		config                 string
		qkvB, oB, mlpB, qkNorm bool
		tied                   bool
		shards                 int
		storage                safetensors.DType
		dtype                  dtypes.DType
	}{
		{name: "llama", config: llamaJSON("llama", `, "tie_word_embeddings": false`), shards: 1, storage: safetensors.F32, dtype: dtypes.Float32},
		{name: "llama biases bf16 storage", config: llamaJSON("llama", `, "attention_bias": true, "mlp_bias": true`), qkvB: true, oB: true, mlpB: true, shards: 1, storage: safetensors.BF16},
		{name: "llama tied, loaded as bf16", config: llamaJSON("llama", `, "tie_word_embeddings": true`), tied: true, shards: 1, storage: safetensors.BF16, dtype: dtypes.BFloat16},
		{name: "mistral f16 storage", config: llamaJSON("mistral", `, "sliding_window": 8`), shards: 1, storage: safetensors.F16},
		{name: "qwen2 sharded", config: llamaJSON("qwen2", ``), qkvB: true, shards: 3, storage: safetensors.F32},
		{name: "qwen3 bf16 sharded as bf16", config: llamaJSON("qwen3", `, "tie_word_embeddings": true`), qkNorm: true, tied: true, shards: 2, storage: safetensors.BF16, dtype: dtypes.BFloat16},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			c := llamaCkpt(tc.qkvB, tc.oB, tc.mlpB, tc.qkNorm, tc.tied)
			for n := range c.dtype {
				c.dtype[n] = tc.storage
			}
			c.write(t, dir, tc.config, tc.shards)
			ck, err := Load(dir, &Options{DType: tc.dtype})
			if err != nil {
				t.Fatal(err)
			}
			wantDType := tc.dtype
			if wantDType == dtypes.InvalidDType {
				wantDType = dtypes.Float32
			}
			if ck.Dir != dir || ck.Config.TiedEmbeddings != tc.tied || ck.Config.QKVBias != tc.qkvB {
				t.Errorf("checkpoint: dir %s, config %+v", ck.Dir, ck.Config)
			}
			checkLlamaWeights(t, ck, c, wantDType)
			if len(ck.TokenizerFiles) != 0 || ck.TokenizerJSON != "" {
				t.Errorf("tokenizer files reported without any: %v", ck.TokenizerFiles)
			}
		})
	}
}

func TestLoadSpecificElements(t *testing.T) {
	// Hand-checked elements, independent of the test's own name mapping.
	dir := t.TempDir()
	c := llamaCkpt(false, false, false, false, false)
	c.vals["model.layers.1.self_attn.k_proj.weight"][1*tD+5] = 42.5 // row 1, column 5
	c.vals["model.embed_tokens.weight"][3*tD+2] = -7.25
	c.write(t, dir, llamaJSON("llama", ``), 1)
	ck, err := Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v := values(t, ck.Weights["blocks/1/attn/k/weights"])[1*tD+5]; v != 42.5 {
		t.Errorf("k[1][5] = %g", v)
	}
	if v := values(t, ck.Weights["embed/weights"])[3*tD+2]; v != -7.25 {
		t.Errorf("embed[3][2] = %g", v)
	}
}

// gpt2Ckpt writes a GPT-2 checkpoint (Conv1D layouts) with the given name prefix.
func gpt2Ckpt(prefix string, buffers, lmHead bool) *ckpt {
	const F = 4 * tD // n_inner null
	c := newCkpt()
	c.add(prefix+"wte.weight", tV, tD)
	c.add(prefix+"wpe.weight", tPos, tD)
	for l := range tL {
		p := fmt.Sprintf("%sh.%d.", prefix, l)
		c.add(p+"ln_1.weight", tD)
		c.add(p+"ln_1.bias", tD)
		c.add(p+"attn.c_attn.weight", tD, 3*tD)
		c.add(p+"attn.c_attn.bias", 3*tD)
		c.add(p+"attn.c_proj.weight", tD, tD)
		c.add(p+"attn.c_proj.bias", tD)
		c.add(p+"ln_2.weight", tD)
		c.add(p+"ln_2.bias", tD)
		c.add(p+"mlp.c_fc.weight", tD, F)
		c.add(p+"mlp.c_fc.bias", F)
		c.add(p+"mlp.c_proj.weight", F, tD)
		c.add(p+"mlp.c_proj.bias", tD)
		if buffers {
			c.add(p+"attn.bias", 1, 1, tPos, tPos)
			c.add(p + "attn.masked_bias")
		}
	}
	c.add(prefix+"ln_f.weight", tD)
	c.add(prefix+"ln_f.bias", tD)
	if lmHead {
		c.add("lm_head.weight", tV, tD)
		copy(c.vals["lm_head.weight"], c.vals[prefix+"wte.weight"])
	}
	return c
}

func gpt2JSON(extra string) string {
	return fmt.Sprintf(`{"model_type": "gpt2", "vocab_size": %d, "n_embd": %d, "n_layer": %d, "n_head": %d,
  "n_positions": %d, "n_inner": null, "bos_token_id": 0, "eos_token_id": 0%s}`, tV, tD, tL, tH, tPos, extra)
}

func TestLoadGPT2(t *testing.T) {
	for _, tc := range []struct {
		name, prefix    string
		buffers, lmHead bool
		dtype           dtypes.DType
	}{
		{"prefixed", "transformer.", false, false, dtypes.Float32},
		{"bare with buffers", "", true, false, dtypes.Float32},
		{"tied lm_head present, bf16", "transformer.", true, true, dtypes.BFloat16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			c := gpt2Ckpt(tc.prefix, tc.buffers, tc.lmHead)
			c.write(t, dir, gpt2JSON(""), 1)
			ck, err := Load(dir, &Options{DType: tc.dtype})
			if err != nil {
				t.Fatal(err)
			}
			if len(ck.Weights) != len(ck.Config.ParamShapes()) {
				t.Errorf("%d weights, want %d", len(ck.Weights), len(ck.Config.ParamShapes()))
			}
			for name, shape := range ck.Config.ParamShapes() {
				if x := ck.Weights[name]; x == nil || !slices.Equal(x.Shape().Dimensions, shape) || x.DType() != tc.dtype {
					t.Errorf("%s: got %v, want %s %v", name, x, tc.dtype, shape)
				}
			}
			const E, F = tD, 4 * tD
			for l := range tL {
				p, b := fmt.Sprintf("%sh.%d.", tc.prefix, l), fmt.Sprintf("blocks/%d/", l)
				cAttn, cAttnB := c.vals[p+"attn.c_attn.weight"], c.vals[p+"attn.c_attn.bias"]
				for part, name := range []string{"q", "k", "v"} {
					w := values(t, ck.Weights[b+"attn/"+name+"/weights"]) // [E, D]
					bias := values(t, ck.Weights[b+"attn/"+name+"/bias"])
					for o := range E {
						for i := range tD {
							if w[o*tD+i] != cAttn[i*3*E+part*E+o] {
								t.Fatalf("%s %s[%d][%d] = %g, want c_attn[%d][%d] = %g", b, name, o, i, w[o*tD+i], i, part*E+o, cAttn[i*3*E+part*E+o])
							}
						}
						if bias[o] != cAttnB[part*E+o] {
							t.Fatalf("%s %s bias[%d] = %g, want %g", b, name, o, bias[o], cAttnB[part*E+o])
						}
					}
				}
				for _, m := range []struct {
					canon, hf string
					in, out   int
				}{
					{"attn/o/weights", "attn.c_proj.weight", E, tD},
					{"mlp/up/weights", "mlp.c_fc.weight", tD, F},
					{"mlp/down/weights", "mlp.c_proj.weight", F, tD},
				} {
					w, src := values(t, ck.Weights[b+m.canon]), c.vals[p+m.hf]
					for o := range m.out {
						for i := range m.in {
							if w[o*m.in+i] != src[i*m.out+o] {
								t.Fatalf("%s%s[%d][%d] = %g, want %s[%d][%d] = %g", b, m.canon, o, i, w[o*m.in+i], m.hf, i, o, src[i*m.out+o])
							}
						}
					}
				}
				for canon, hf := range map[string]string{
					"ln1/scale": "ln_1.weight", "ln1/bias": "ln_1.bias", "ln2/scale": "ln_2.weight", "ln2/bias": "ln_2.bias",
					"attn/o/bias": "attn.c_proj.bias", "mlp/up/bias": "mlp.c_fc.bias", "mlp/down/bias": "mlp.c_proj.bias",
				} {
					if !slices.Equal(values(t, ck.Weights[b+canon]), c.vals[p+hf]) {
						t.Errorf("%s%s differs from %s", b, canon, hf)
					}
				}
			}
			for canon, hf := range map[string]string{"embed/weights": "wte.weight", "pos_embed/weights": "wpe.weight", "ln_final/scale": "ln_f.weight", "ln_final/bias": "ln_f.bias"} {
				if !slices.Equal(values(t, ck.Weights[canon]), c.vals[tc.prefix+hf]) {
					t.Errorf("%s differs from %s", canon, hf)
				}
			}
		})
	}
}

func TestLoadGPT2Untied(t *testing.T) {
	dir := t.TempDir()
	c := gpt2Ckpt("transformer.", false, true)
	c.vals["lm_head.weight"][0] = 99
	c.write(t, dir, gpt2JSON(`, "tie_word_embeddings": false`), 1)
	ck, err := Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v := values(t, ck.Weights["unembed/weights"]); v[0] != 99 || !slices.Equal(v, c.vals["lm_head.weight"]) {
		t.Errorf("unembed = %v…", v[:4])
	}
}

func TestLoadErrors(t *testing.T) {
	type mutate func(t *testing.T, dir string, c *ckpt) string // returns the config to write
	plain := func(t *testing.T, dir string, c *ckpt) string { return llamaJSON("llama", ``) }
	cases := []struct {
		name   string
		setup  mutate
		after  func(t *testing.T, dir string) // file-level damage after writing
		opts   *Options
		wanted []string
	}{
		{name: "missing tensor", setup: func(t *testing.T, dir string, c *ckpt) string {
			c.remove("model.layers.1.mlp.up_proj.weight")
			return llamaJSON("llama", ``)
		}, wanted: []string{`missing tensor "model.layers.1.mlp.up_proj.weight"`, "[12 8]"}},
		{name: "extra tensor", setup: func(t *testing.T, dir string, c *ckpt) string {
			c.add("model.layers.0.self_attn.q_proj.bias", tH*tDH)
			return llamaJSON("llama", ``)
		}, wanted: []string{`unexpected tensor "model.layers.0.self_attn.q_proj.bias"`}},
		{name: "extra layer", setup: func(t *testing.T, dir string, c *ckpt) string {
			c.add("model.layers.2.input_layernorm.weight", tD)
			return llamaJSON("llama", ``)
		}, wanted: []string{`unexpected tensor "model.layers.2.input_layernorm.weight"`}},
		{name: "wrong shape", setup: func(t *testing.T, dir string, c *ckpt) string {
			c.add("model.layers.0.mlp.down_proj.weight", tF, tD) // transposed by mistake
			return llamaJSON("llama", ``)
		}, wanted: []string{`"model.layers.0.mlp.down_proj.weight" has shape [12 8], expected [8 12]`}},
		{name: "int dtype", setup: func(t *testing.T, dir string, c *ckpt) string {
			c.dtype["model.norm.weight"] = safetensors.I32
			return llamaJSON("llama", ``)
		}, wanted: []string{`"model.norm.weight" has dtype I32`}},
		{name: "duplicate via prefix", setup: func(t *testing.T, dir string, c *ckpt) string {
			c.add("norm.weight", tD)
			return llamaJSON("llama", ``)
		}, wanted: []string{`"model.norm.weight"`, `"norm.weight"`, "once"}},
		{name: "tied but lm_head differs", setup: func(t *testing.T, dir string, c *ckpt) string {
			return llamaJSON("llama", `, "tie_word_embeddings": true`)
		}, wanted: []string{`"lm_head.weight" differs from "model.embed_tokens.weight"`}},
		{name: "untied and lm_head missing", setup: func(t *testing.T, dir string, c *ckpt) string {
			c.remove("lm_head.weight")
			return llamaJSON("llama", ``)
		}, wanted: []string{`missing tensor "lm_head.weight"`}},
		{name: "gpt2 c_attn wrong shape", setup: func(t *testing.T, dir string, c *ckpt) string {
			*c = *gpt2Ckpt("transformer.", false, false)
			c.add("transformer.h.0.attn.c_attn.weight", 3*tD, tD)
			return gpt2JSON("")
		}, wanted: []string{`"transformer.h.0.attn.c_attn.weight" has shape [24 8], expected [8 24]`}},
		{name: "gpt2 stray buffer", setup: func(t *testing.T, dir string, c *ckpt) string {
			*c = *gpt2Ckpt("", false, false)
			c.add("h.0.attn.rotary", 2)
			return gpt2JSON("")
		}, wanted: []string{`unexpected tensor "h.0.attn.rotary"`}},
		{name: "broken config", setup: func(t *testing.T, dir string, c *ckpt) string {
			return `{"model_type": "llama", "hidden_size": 8`
		}, wanted: []string{"config.json", "invalid JSON"}},
		{name: "config missing field", setup: func(t *testing.T, dir string, c *ckpt) string {
			return strings.Replace(llamaJSON("llama", ``), `"intermediate_size"`, `"intermediate"`, 1)
		}, wanted: []string{"config.json", `"intermediate_size"`}},
		{name: "truncated weights", setup: plain, after: func(t *testing.T, dir string) {
			p := filepath.Join(dir, "model.safetensors")
			data, _ := os.ReadFile(p)
			os.WriteFile(p, data[:len(data)-10], 0o644)
		}, wanted: []string{"model.safetensors", "past the end"}},
		{name: "no weights", setup: plain, after: func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, "model.safetensors"))
		}, wanted: []string{"model.safetensors", "model.safetensors.index.json"}},
		{name: "float16 target refused", setup: plain, opts: &Options{DType: dtypes.Float16}, wanted: []string{"Float32 or BFloat16"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			c := llamaCkpt(false, false, false, false, false)
			config := tc.setup(t, dir, c)
			c.write(t, dir, config, 1)
			if tc.after != nil {
				tc.after(t, dir)
			}
			_, err := Load(dir, tc.opts)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.wanted {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestLoadWeightsRefusesNonHFParameters(t *testing.T) {
	dir := t.TempDir()
	c := llamaCkpt(false, false, false, false, false)
	c.write(t, dir, llamaJSON("llama", ``), 1)
	cfg, err := LoadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.HeadNorm.Enabled = true
	_, err = LoadWeights(dir, cfg, dtypes.Float32)
	if err == nil || !strings.Contains(err.Error(), "head_norm") {
		t.Errorf("HeadNorm config: %v", err)
	}
}

func TestLoadShardedIndexErrors(t *testing.T) {
	dir := t.TempDir()
	c := llamaCkpt(false, false, false, false, false)
	c.write(t, dir, llamaJSON("llama", ``), 2)
	if err := os.Remove(filepath.Join(dir, "model-00002-of-00002.safetensors")); err != nil {
		t.Fatal(err)
	}
	_, err := Load(dir, nil)
	if err == nil || !strings.Contains(err.Error(), "model-00002-of-00002.safetensors") || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing shard: %v", err)
	}
}

func TestLoadTokenizerPaths(t *testing.T) {
	dir := t.TempDir()
	c := llamaCkpt(false, false, false, false, false)
	c.write(t, dir, llamaJSON("llama", ``), 1)
	for _, f := range []string{"tokenizer.json", "tokenizer_config.json"} {
		os.WriteFile(filepath.Join(dir, f), []byte("{}"), 0o644)
	}
	ck, err := Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ck.TokenizerJSON != filepath.Join(dir, "tokenizer.json") || ck.TokenizerModel != "" || len(ck.TokenizerFiles) != 2 {
		t.Errorf("tokenizer paths: json %q model %q all %v", ck.TokenizerJSON, ck.TokenizerModel, ck.TokenizerFiles)
	}
}

// The parity fixtures of sinks/transformer are real HF transformers outputs; when present they
// must load.
func TestLoadParityFixtures(t *testing.T) {
	root := filepath.Join("..", "transformer", "testdata", "parity")
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Skipf("no parity fixtures: %v", err)
	}
	n := 0
	for _, e := range entries {
		dir := filepath.Join(root, e.Name())
		if _, err := os.Stat(filepath.Join(dir, "config.json")); !e.IsDir() || err != nil {
			continue
		}
		n++
		t.Run(e.Name(), func(t *testing.T) {
			ck, err := Load(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(ck.Weights) != len(ck.Config.ParamShapes()) {
				t.Errorf("%d weights for %d parameters", len(ck.Weights), len(ck.Config.ParamShapes()))
			}
			c := ck.Config
			switch e.Name() { // facts from the fixtures' README
			case "llama3":
				if c.RopeScaling == nil || c.RopeScaling.OriginalMaxPositionEmbeddings != 64 || c.RopeTheta != 500000 || !c.TiedEmbeddings || c.KVHeads() != 2 {
					t.Errorf("llama3 config: %+v, scaling %+v", c, c.RopeScaling)
				}
			case "mistral":
				if c.SlidingWindow != 8 {
					t.Errorf("mistral sliding window %d", c.SlidingWindow)
				}
			case "qwen2":
				if !c.QKVBias || c.OutBias || c.SlidingWindow != 0 {
					t.Errorf("qwen2 config: %+v", c)
				}
			case "qwen3":
				if !c.QKNorm || c.HeadDim() != 32 {
					t.Errorf("qwen3 config: %+v", c)
				}
			case "gpt2":
				if c.DMLP != 128 || !c.TiedEmbeddings || c.Family != "gpt2" {
					t.Errorf("gpt2 config: %+v", c)
				}
			}
		})
	}
	if n == 0 {
		t.Skip("no parity fixture directories")
	}
}
