package hf_test

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/dtypes/bfloat16"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sinkscope/sinkscope/sinks/hf"
	"github.com/sinkscope/sinkscope/sinks/safetensors"
	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// saveLlama is a small Llama-layout config; the cases below change what they test.
func saveLlama(family transformer.Family) *transformer.Config {
	return &transformer.Config{
		Family: family, VocabSize: 40, DModel: 16, NLayers: 2, NHeads: 4, NKVHeads: 4, DMLP: 24, MaxSeqLen: 64,
		Norm: transformer.RMSNorm, NormEps: 1e-5, Position: transformer.RoPE, RopeTheta: 10000,
		MLP: transformer.SwiGLU, Activation: "silu", BOSTokenID: 1, EOSTokenID: 2,
	}
}

func saveGPT2() *transformer.Config {
	return &transformer.Config{
		Family: transformer.GPT2, VocabSize: 40, DModel: 16, NLayers: 2, NHeads: 4, DMLP: 40, MaxSeqLen: 32,
		Norm: transformer.LayerNorm, NormEps: 1e-5, Position: transformer.Learned, MLP: transformer.Plain,
		Activation: "gelu_new", QKVBias: true, OutBias: true, MLPBias: true, TiedEmbeddings: true,
		BOSTokenID: 39, EOSTokenID: 39,
	}
}

// saveCases covers every family and the config switches config.json has.
func saveCases() []struct {
	name string
	cfg  *transformer.Config
	arch string
} {
	type tc = struct {
		name string
		cfg  *transformer.Config
		arch string
	}
	var out []tc
	add := func(name, arch string, cfg *transformer.Config, edit func(c *transformer.Config)) {
		if edit != nil {
			edit(cfg)
		}
		out = append(out, tc{name, cfg, arch})
	}
	add("llama-mha", "LlamaForCausalLM", saveLlama(transformer.Llama), nil)
	add("llama-gqa-tied", "LlamaForCausalLM", saveLlama(transformer.Llama), func(c *transformer.Config) {
		c.NKVHeads, c.TiedEmbeddings, c.BOSTokenID, c.EOSTokenID = 2, true, -1, -1
	})
	add("llama-biases", "LlamaForCausalLM", saveLlama(transformer.Llama), func(c *transformer.Config) {
		c.QKVBias, c.OutBias, c.MLPBias, c.DHead, c.NormEps = true, true, true, 8, 1e-6
	})
	add("llama3-rope-scaling", "LlamaForCausalLM", saveLlama(transformer.Llama), func(c *transformer.Config) {
		c.NKVHeads, c.RopeTheta, c.TiedEmbeddings = 1, 500000, true
		c.RopeScaling = &transformer.RopeScaling{Type: "llama3", Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositionEmbeddings: 32}
	})
	add("mistral-sliding-window", "MistralForCausalLM", saveLlama(transformer.Mistral), func(c *transformer.Config) {
		c.NKVHeads, c.SlidingWindow = 2, 8
	})
	add("mistral-no-window", "MistralForCausalLM", saveLlama(transformer.Mistral), func(c *transformer.Config) {
		c.NKVHeads = 2
	})
	add("qwen2", "Qwen2ForCausalLM", saveLlama(transformer.Qwen2), func(c *transformer.Config) {
		c.NKVHeads, c.QKVBias, c.RopeTheta, c.NormEps, c.TiedEmbeddings, c.BOSTokenID = 2, true, 1e6, 1e-6, true, -1
	})
	add("qwen2-sliding-window", "Qwen2ForCausalLM", saveLlama(transformer.Qwen2), func(c *transformer.Config) {
		c.NKVHeads, c.QKVBias, c.SlidingWindow = 2, true, 16
	})
	add("qwen3-head-dim", "Qwen3ForCausalLM", saveLlama(transformer.Qwen3), func(c *transformer.Config) {
		c.NKVHeads, c.DHead, c.QKNorm, c.RopeTheta = 2, 8, true, 1e6 // head_dim 8 ≠ 16/4
	})
	add("qwen3-attention-bias", "Qwen3ForCausalLM", saveLlama(transformer.Qwen3), func(c *transformer.Config) {
		c.DHead, c.QKNorm, c.QKVBias, c.OutBias, c.SlidingWindow = 4, true, true, true, 4
	})
	add("gpt2", "GPT2LMHeadModel", saveGPT2(), nil)
	add("gpt2-untied-unscaled", "GPT2LMHeadModel", saveGPT2(), func(c *transformer.Config) {
		c.TiedEmbeddings, c.AttnScale, c.Activation, c.NormEps, c.BOSTokenID = false, 1, "gelu", 1e-6, 0
	})
	return out
}

// saveWeights draws random weights and makes every norm scale, bias and sink vector distinct as
// well, so that any mix-up of tensors shows.
func saveWeights(t *testing.T, cfg *transformer.Config, seed uint64) map[string]*tensors.Tensor {
	t.Helper()
	w := transformer.RandomWeights(cfg, transformer.RandomInit{Seed: seed})
	rng := rand.New(rand.NewPCG(seed, 99))
	for _, name := range cfg.ParamNames() {
		if strings.HasSuffix(name, "/scale") || strings.HasSuffix(name, "/bias") || strings.Contains(name, "/sink/") {
			if err := tensors.MutableFlatData(w[name], func(flat []float32) {
				for i := range flat {
					flat[i] += float32(rng.NormFloat64() * 0.1)
				}
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return w
}

func saveValues(t *testing.T, x *tensors.Tensor) []float32 {
	t.Helper()
	out := make([]float32, x.Size())
	var err error
	switch x.DType() {
	case dtypes.Float32:
		err = tensors.ConstFlatData(x, func(f []float32) { copy(out, f) })
	case dtypes.BFloat16:
		err = tensors.ConstFlatData(x, func(f []bfloat16.BFloat16) {
			for i, v := range f {
				out[i] = safetensors.BFloat16ToFloat32(uint16(v))
			}
		})
	default:
		t.Fatalf("dtype %s", x.DType())
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// saveSameWeights checks that got holds exactly the parameters of want, bit for bit after round
// applied to want's values.
func saveSameWeights(t *testing.T, want, got map[string]*tensors.Tensor, round func(float32) float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d weights back, %d saved", len(got), len(want))
	}
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("%s: not loaded back", name)
			continue
		}
		if !slices.Equal(g.Shape().Dimensions, w.Shape().Dimensions) {
			t.Errorf("%s: shape %v, saved %v", name, g.Shape().Dimensions, w.Shape().Dimensions)
			continue
		}
		wv, gv := saveValues(t, w), saveValues(t, g)
		for i := range wv {
			if math.Float32bits(round(wv[i])) != math.Float32bits(gv[i]) {
				t.Errorf("%s[%d] = %g, saved %g (expected %g)", name, i, gv[i], wv[i], round(wv[i]))
				break
			}
		}
	}
}

func saveExact(v float32) float32 { return v }

func saveBF16(v float32) float32 {
	return safetensors.BFloat16ToFloat32(safetensors.Float32ToBFloat16(v))
}

// saveSameConfig compares two configs field by field, after resolving their defaults.
func saveSameConfig(t *testing.T, want, got *transformer.Config) {
	t.Helper()
	type field struct {
		name      string
		want, got any
	}
	fields := []field{
		{"Family", want.Family, got.Family},
		{"VocabSize", want.VocabSize, got.VocabSize},
		{"DModel", want.DModel, got.DModel},
		{"NLayers", want.NLayers, got.NLayers},
		{"NHeads", want.NHeads, got.NHeads},
		{"KVHeads", want.KVHeads(), got.KVHeads()},
		{"HeadDim", want.HeadDim(), got.HeadDim()},
		{"DMLP", want.DMLP, got.DMLP},
		{"MaxSeqLen", want.MaxSeqLen, got.MaxSeqLen},
		{"Norm", want.Norm, got.Norm},
		{"NormEps", want.NormEps, got.NormEps},
		{"Position", want.Position, got.Position},
		{"MLP", want.MLP, got.MLP},
		{"Activation", want.Activation, got.Activation},
		{"QKVBias", want.QKVBias, got.QKVBias},
		{"OutBias", want.OutBias, got.OutBias},
		{"MLPBias", want.MLPBias, got.MLPBias},
		{"QKNorm", want.QKNorm, got.QKNorm},
		{"TiedEmbeddings", want.TiedEmbeddings, got.TiedEmbeddings},
		{"SlidingWindow", want.SlidingWindow, got.SlidingWindow},
		{"Scale", want.Scale(), got.Scale()},
		{"BOSTokenID", want.BOSTokenID, got.BOSTokenID},
		{"EOSTokenID", want.EOSTokenID, got.EOSTokenID},
		{"Attention", saveAttention(want), saveAttention(got)},
		{"SigmoidBiasLogN", want.SigmoidBiasLogN && want.Attention == transformer.SigmoidAttention, got.SigmoidBiasLogN && got.Attention == transformer.SigmoidAttention},
		{"HeadNorm", saveHeadNorm(want.HeadNorm), saveHeadNorm(got.HeadNorm)},
		{"GatedAttention", want.GatedAttention, got.GatedAttention},
		{"SinkKV", want.SinkKV, got.SinkKV},
	}
	if want.Position == transformer.RoPE {
		fields = append(fields, field{"RopeTheta", want.RopeTheta, got.RopeTheta}, field{"RopeScaling", want.RopeScaling, got.RopeScaling})
	}
	for _, f := range fields {
		if !reflect.DeepEqual(f.want, f.got) {
			t.Errorf("config %s: saved %v, read back %v", f.name, f.want, f.got)
		}
	}
}

func saveAttention(c *transformer.Config) transformer.AttentionKind {
	if c.Attention == "" {
		return transformer.SoftmaxAttention
	}
	return c.Attention
}

// saveHeadNorm resolves a HeadNormConfig's defaults (eps 1e-6, γ 1).
func saveHeadNorm(h transformer.HeadNormConfig) transformer.HeadNormConfig {
	if !h.Enabled {
		return transformer.HeadNormConfig{}
	}
	h.Eps = h.Epsilon()
	if h.InitGamma == 0 && !h.InitFirstToken {
		h.InitGamma = 1
	}
	return h
}

func saveReadJSON(t *testing.T, path string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// saveTensorNames lists the tensors of a checkpoint directory and the dtypes they are stored as.
func saveTensorNames(t *testing.T, dir string) (map[string]safetensors.TensorInfo, *safetensors.Set) {
	t.Helper()
	set, err := safetensors.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { set.Close() })
	out := map[string]safetensors.TensorInfo{}
	for _, n := range set.Names() {
		out[n], _ = set.Info(n)
	}
	return out, set
}

func TestSaveRoundTrip(t *testing.T) {
	for i, tc := range saveCases() {
		t.Run(tc.name, func(t *testing.T) {
			w := saveWeights(t, tc.cfg, uint64(i+1))
			dir := filepath.Join(t.TempDir(), "model")
			if err := hf.Save(dir, tc.cfg, w, nil); err != nil {
				t.Fatal(err)
			}
			ck, err := hf.Load(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			saveSameConfig(t, tc.cfg, ck.Config)
			saveSameWeights(t, w, ck.Weights, saveExact)

			// The files are what save_pretrained writes for this model.
			entries, _ := os.ReadDir(dir)
			var files []string
			for _, e := range entries {
				files = append(files, e.Name())
			}
			if !slices.Equal(files, []string{"config.json", "model.safetensors"}) {
				t.Errorf("files %v", files)
			}
			js := saveReadJSON(t, filepath.Join(dir, "config.json"))
			if arch, _ := js["architectures"].([]any); len(arch) != 1 || arch[0] != tc.arch {
				t.Errorf("architectures %v, want [%s]", js["architectures"], tc.arch)
			}
			if js["model_type"] != string(tc.cfg.Family) || js["torch_dtype"] != "float32" || js["dtype"] != "float32" {
				t.Errorf("model_type %v torch_dtype %v dtype %v", js["model_type"], js["torch_dtype"], js["dtype"])
			}
			infos, set := saveTensorNames(t, dir)
			prefix := "model."
			if tc.cfg.Family == transformer.GPT2 {
				prefix = "transformer."
			}
			for name, info := range infos {
				if name != "lm_head.weight" && !strings.HasPrefix(name, prefix) {
					t.Errorf("tensor %q lacks the %q prefix", name, prefix)
				}
				if info.DType != safetensors.F32 {
					t.Errorf("tensor %q stored as %s", name, info.DType)
				}
			}
			if _, head := infos["lm_head.weight"]; head == tc.cfg.TiedEmbeddings {
				t.Errorf("lm_head.weight present %t with tied embeddings %t", head, tc.cfg.TiedEmbeddings)
			}
			if md := set.Files(); len(md) != 1 {
				t.Errorf("files %v", md)
			}
		})
	}
}

// Both spellings of RoPE in config.json must say the same thing: a reader that knows only the
// classic rope_theta/rope_scaling (transformers 4) and one that knows only rope_parameters
// (transformers 5) get the same config. Numbers that are floats in Python are written as floats.
func TestSaveConfigJSON(t *testing.T) {
	for i, tc := range saveCases() {
		if tc.cfg.Family == transformer.GPT2 {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "m")
			if err := hf.Save(dir, tc.cfg, saveWeights(t, tc.cfg, uint64(i)), nil); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(filepath.Join(dir, "config.json"))
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal(data, &m); err != nil {
				t.Fatal(err)
			}
			for _, key := range []string{"rope_theta", "rms_norm_eps"} {
				if v := string(m[key]); !strings.ContainsAny(v, ".e") {
					t.Errorf("%s = %s is not written as a float", key, v)
				}
			}
			classic, v5 := map[string]json.RawMessage{}, map[string]json.RawMessage{}
			for k, v := range m {
				if k != "rope_parameters" {
					classic[k] = v
				}
				if k != "rope_theta" && k != "rope_scaling" {
					v5[k] = v
				}
			}
			for name, variant := range map[string]map[string]json.RawMessage{"classic keys only": classic, "rope_parameters only": v5} {
				js, _ := json.Marshal(variant)
				c, err := hf.ParseConfig(js)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				saveSameConfig(t, tc.cfg, c)
			}
			if tc.cfg.BOSTokenID == -1 && string(m["bos_token_id"]) != "null" {
				t.Errorf("bos_token_id %s for −1", m["bos_token_id"])
			}
		})
	}
}

func TestSaveBFloat16(t *testing.T) {
	cfg := saveCases()[3].cfg // llama3
	w := saveWeights(t, cfg, 7)

	t.Run("float32 weights stored as BF16", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "m")
		if err := hf.Save(dir, cfg, w, &hf.SaveOptions{DType: safetensors.BF16}); err != nil {
			t.Fatal(err)
		}
		ck, err := hf.Load(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		saveSameWeights(t, w, ck.Weights, saveBF16)
		infos, _ := saveTensorNames(t, dir)
		for name, info := range infos {
			if info.DType != safetensors.BF16 {
				t.Errorf("%s stored as %s", name, info.DType)
			}
		}
		if js := saveReadJSON(t, filepath.Join(dir, "config.json")); js["torch_dtype"] != "bfloat16" {
			t.Errorf("torch_dtype %v", js["torch_dtype"])
		}

		// bfloat16 weights: the default storage is BF16 and everything is exact.
		dir2 := filepath.Join(t.TempDir(), "m")
		ckBF, err := hf.Load(dir, &hf.Options{DType: dtypes.BFloat16})
		if err != nil {
			t.Fatal(err)
		}
		if err := hf.Save(dir2, cfg, ckBF.Weights, nil); err != nil {
			t.Fatal(err)
		}
		infos, _ = saveTensorNames(t, dir2)
		for name, info := range infos {
			if info.DType != safetensors.BF16 {
				t.Errorf("default storage of bfloat16 weights: %s stored as %s", name, info.DType)
			}
		}
		back, err := hf.Load(dir2, &hf.Options{DType: dtypes.BFloat16})
		if err != nil {
			t.Fatal(err)
		}
		saveSameWeights(t, ckBF.Weights, back.Weights, saveExact)

		// bfloat16 weights stored as F32: exact too.
		dir3 := filepath.Join(t.TempDir(), "m")
		if err := hf.Save(dir3, cfg, ckBF.Weights, &hf.SaveOptions{DType: safetensors.F32}); err != nil {
			t.Fatal(err)
		}
		back, err = hf.Load(dir3, nil)
		if err != nil {
			t.Fatal(err)
		}
		saveSameWeights(t, ckBF.Weights, back.Weights, saveExact)
	})
}

func TestSaveSharded(t *testing.T) {
	for _, idx := range []int{1, 10} { // llama with GQA; gpt2 (fused c_attn)
		tc := saveCases()[idx]
		t.Run(tc.name, func(t *testing.T) {
			w := saveWeights(t, tc.cfg, 3)
			const maxShard = 4096
			dir := filepath.Join(t.TempDir(), "m")
			opts := &hf.SaveOptions{MaxShardBytes: maxShard, Metadata: map[string]string{"origin": "test"}}
			if err := hf.Save(dir, tc.cfg, w, opts); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(dir, safetensors.SingleFileName)); err == nil {
				t.Error("model.safetensors written next to the shards")
			}
			index := saveReadJSON(t, filepath.Join(dir, safetensors.IndexFileName))
			wm, _ := index["weight_map"].(map[string]any)
			shards := map[string]bool{}
			for _, f := range wm {
				shards[f.(string)] = true
			}
			if len(shards) < 2 {
				t.Fatalf("%d shards", len(shards))
			}
			var total int64
			for f := range shards {
				if !strings.HasPrefix(f, "model-") || !strings.HasSuffix(f, fmt.Sprintf("-of-%05d.safetensors", len(shards))) {
					t.Errorf("shard name %q", f)
				}
				sf, err := safetensors.Open(filepath.Join(dir, f))
				if err != nil {
					t.Fatal(err)
				}
				var size int64
				for _, ti := range sf.Tensors() {
					size += ti.NumBytes()
				}
				if size > maxShard && len(sf.Tensors()) > 1 {
					t.Errorf("shard %s holds %d bytes in %d tensors", f, size, len(sf.Tensors()))
				}
				if md := sf.Metadata(); md["format"] != "pt" || md["origin"] != "test" {
					t.Errorf("shard %s metadata %v", f, md)
				}
				total += size
				sf.Close()
			}
			meta, _ := index["metadata"].(map[string]any)
			if got, _ := meta["total_size"].(float64); int64(got) != total {
				t.Errorf("total_size %v, shards hold %d", meta["total_size"], total)
			}
			ck, err := hf.Load(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			saveSameConfig(t, tc.cfg, ck.Config)
			saveSameWeights(t, w, ck.Weights, saveExact)

			// Saving again unsharded into the same directory replaces the shards and the index
			// and keeps the other files.
			tok := filepath.Join(dir, "tokenizer.json")
			if err := os.WriteFile(tok, []byte("{}"), 0o644); err != nil {
				t.Fatal(err)
			}
			w2 := saveWeights(t, tc.cfg, 4)
			if err := hf.Save(dir, tc.cfg, w2, nil); err != nil {
				t.Fatal(err)
			}
			entries, _ := os.ReadDir(dir)
			var files []string
			for _, e := range entries {
				files = append(files, e.Name())
			}
			if !slices.Equal(files, []string{"config.json", "model.safetensors", "tokenizer.json"}) {
				t.Errorf("files after re-saving: %v", files)
			}
			ck, err = hf.Load(dir, nil)
			if err != nil {
				t.Fatal(err)
			}
			saveSameWeights(t, w2, ck.Weights, saveExact)
			if ck.TokenizerJSON != tok {
				t.Errorf("tokenizer.json %q", ck.TokenizerJSON)
			}
		})
	}
}

// The parity fixtures were written by transformers' save_pretrained. Loading one and saving it
// again must give the same tensors (names, dtypes, shapes and bytes) and a config.json that agrees
// with transformers' own on every key both write: our export is the inverse of its format.
func TestSaveParityFixtures(t *testing.T) {
	root := filepath.Join("..", "transformer", "testdata", "parity")
	for _, arch := range []string{"llama2", "llama3", "mistral", "qwen2", "qwen3", "gpt2"} {
		t.Run(arch, func(t *testing.T) {
			src := filepath.Join(root, arch)
			if _, err := os.Stat(filepath.Join(src, "config.json")); err != nil {
				t.Skipf("no fixture: %v", err)
			}
			srcInfos, srcSet := saveTensorNames(t, src)
			stored := safetensors.F32
			loadAs := dtypes.Float32
			for _, info := range srcInfos {
				if info.DType == safetensors.BF16 {
					stored, loadAs = safetensors.BF16, dtypes.BFloat16
				}
			}
			ck, err := hf.Load(src, &hf.Options{DType: loadAs})
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(t.TempDir(), arch)
			if err := hf.Save(dir, ck.Config, ck.Weights, &hf.SaveOptions{DType: stored}); err != nil {
				t.Fatal(err)
			}
			back, err := hf.Load(dir, &hf.Options{DType: loadAs})
			if err != nil {
				t.Fatal(err)
			}
			saveSameConfig(t, ck.Config, back.Config)
			saveSameWeights(t, ck.Weights, back.Weights, saveExact)

			// Tensor for tensor, the same checkpoint as transformers wrote.
			gotInfos, gotSet := saveTensorNames(t, dir)
			var srcNames, gotNames []string
			for n := range srcInfos {
				srcNames = append(srcNames, n)
			}
			for n := range gotInfos {
				gotNames = append(gotNames, n)
			}
			sort.Strings(srcNames)
			sort.Strings(gotNames)
			if !slices.Equal(srcNames, gotNames) {
				t.Fatalf("tensor names differ:\ntransformers: %v\nsaved:        %v", srcNames, gotNames)
			}
			for _, n := range srcNames {
				a, ia, err := srcSet.ReadRaw(n)
				if err != nil {
					t.Fatal(err)
				}
				b, ib, err := gotSet.ReadRaw(n)
				if err != nil {
					t.Fatal(err)
				}
				if ia.DType != ib.DType || !slices.Equal(ia.Shape, ib.Shape) || string(a) != string(b) {
					t.Errorf("%s: transformers %s %v, saved %s %v (bytes equal: %t)", n, ia.DType, ia.Shape, ib.DType, ib.Shape, string(a) == string(b))
				}
			}

			// config.json: the keys both files have agree (max_window_layers only matters with
			// use_sliding_window, which is false in the fixtures).
			want := saveReadJSON(t, filepath.Join(src, "config.json"))
			got := saveReadJSON(t, filepath.Join(dir, "config.json"))
			shared := 0
			for k, gv := range got {
				wv, ok := want[k]
				if !ok || k == "max_window_layers" {
					continue
				}
				shared++
				if !reflect.DeepEqual(wv, gv) {
					t.Errorf("config.json %q: transformers wrote %v, saved %v", k, wv, gv)
				}
			}
			for _, k := range []string{"model_type", "architectures", "vocab_size", "tie_word_embeddings", "dtype"} {
				if _, ok := got[k]; !ok {
					t.Errorf("config.json lacks %q", k)
				}
			}
			if shared < 15 {
				t.Errorf("only %d keys in common with transformers' config.json", shared)
			}
		})
	}
}

func TestSaveUnexportable(t *testing.T) {
	cases := []struct {
		name string
		cfg  func() *transformer.Config
		want string
	}{
		{"SinkKV with sigmoid attention", func() *transformer.Config {
			c := saveGPT2()
			c.Attention, c.SinkKV = transformer.SigmoidAttention, true
			return c
		}, "SinkKV needs softmax attention"},
		{"QKNorm on llama", func() *transformer.Config {
			c := saveLlama(transformer.Llama)
			c.QKNorm = true
			return c
		}, "QKNorm (RMSNorm on q and k) exists in transformers only for qwen3, not llama"},
		{"qwen3 without QKNorm", func() *transformer.Config { return saveLlama(transformer.Qwen3) }, "qwen3 always has QKNorm"},
		{"q/k/v biases on llama", func() *transformer.Config {
			c := saveLlama(transformer.Llama)
			c.QKVBias = true
			return c
		}, "attention_bias puts biases on q, k, v and o alike"},
		{"biases on mistral", func() *transformer.Config {
			c := saveLlama(transformer.Mistral)
			c.MLPBias = true
			return c
		}, "mistral has no biases"},
		{"o bias on qwen2", func() *transformer.Config {
			c := saveLlama(transformer.Qwen2)
			c.QKVBias, c.OutBias = true, true
			return c
		}, "qwen2 always has q/k/v biases and no others"},
		{"head_dim on qwen2", func() *transformer.Config {
			c := saveLlama(transformer.Qwen2)
			c.QKVBias, c.DHead = true, 8
			return c
		}, "qwen2 has no head_dim field"},
		{"sliding window on llama", func() *transformer.Config {
			c := saveLlama(transformer.Llama)
			c.SlidingWindow = 8
			return c
		}, "SlidingWindow has no llama config.json equivalent"},
		{"attention scale", func() *transformer.Config {
			c := saveLlama(transformer.Mistral)
			c.AttnScale = 0.1
			return c
		}, "AttnScale 0.1 is not expressible"},
		{"GQA on gpt2", func() *transformer.Config {
			c := saveGPT2()
			c.NKVHeads = 2
			return c
		}, "gpt2 has no grouped-query attention"},
		{"LayerNorm on llama", func() *transformer.Config {
			c := saveLlama(transformer.Llama)
			c.Norm = transformer.LayerNorm
			return c
		}, "llama config.json cannot express Norm = layernorm (reads back as rmsnorm)"},
		{"learned positions on qwen2", func() *transformer.Config {
			c := saveLlama(transformer.Qwen2)
			c.QKVBias, c.Position = true, transformer.Learned
			return c
		}, "Position = learned (reads back as rope)"},
		{"RMSNorm on gpt2", func() *transformer.Config {
			c := saveGPT2()
			c.Norm = transformer.RMSNorm
			return c
		}, "gpt2 config.json cannot express Norm = rmsnorm"},
		{"invalid config", func() *transformer.Config {
			c := saveLlama(transformer.Llama)
			c.DMLP = 0
			return c
		}, "DMLP must be > 0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg()
			var w map[string]*tensors.Tensor
			if cfg.Validate() == nil {
				w = transformer.RandomWeights(cfg, transformer.RandomInit{Seed: 1})
			}
			parent := t.TempDir()
			err := hf.Save(filepath.Join(parent, "m"), cfg, w, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if entries, _ := os.ReadDir(parent); len(entries) != 0 {
				t.Errorf("a failed save left %v", entries)
			}
		})
	}
}

func TestSaveWeightErrors(t *testing.T) {
	cfg := saveCases()[1].cfg // llama, GQA, tied
	wrongShape := tensors.FromShape(shapes.Make(dtypes.Float32, 40, 8))
	f64 := tensors.FromShape(shapes.Make(dtypes.Float64, 16))
	cases := []struct {
		name string
		edit func(w map[string]*tensors.Tensor)
		opts *hf.SaveOptions
		want []string
	}{
		{"missing", func(w map[string]*tensors.Tensor) { delete(w, "blocks/1/attn/k/weights") },
			nil, []string{`missing parameter "blocks/1/attn/k/weights" (shape [8 16])`}},
		{"extra", func(w map[string]*tensors.Tensor) { w["unembed/weights"] = w["embed/weights"] },
			nil, []string{`unexpected parameter "unembed/weights"`}},
		{"misshaped", func(w map[string]*tensors.Tensor) { w["embed/weights"] = wrongShape },
			nil, []string{`parameter "embed/weights" has shape [40 8], expected [40 16]`}},
		{"dtype", func(w map[string]*tensors.Tensor) { w["ln_final/scale"] = f64 },
			nil, []string{`parameter "ln_final/scale" has dtype Float64`}},
		{"nil", func(w map[string]*tensors.Tensor) { w["blocks/0/ln1/scale"] = nil },
			nil, []string{`parameter "blocks/0/ln1/scale" is nil`}},
		{"several", func(w map[string]*tensors.Tensor) {
			delete(w, "blocks/0/mlp/up/weights")
			w["blocks/0/attn/head_norm/scale"] = w["ln_final/scale"]
		}, nil, []string{`missing parameter "blocks/0/mlp/up/weights"`, `unexpected parameter "blocks/0/attn/head_norm/scale"`}},
		{"F16 storage", nil, &hf.SaveOptions{DType: safetensors.F16}, []string{"saved as F32 or BF16"}},
		{"negative shard size", nil, &hf.SaveOptions{MaxShardBytes: -1}, []string{"MaxShardBytes must be >= 0"}},
		{"format metadata", nil, &hf.SaveOptions{Metadata: map[string]string{"format": "np"}}, []string{`"format"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// A previous checkpoint in dir must survive a refused save untouched.
			dir := filepath.Join(t.TempDir(), "m")
			old := saveWeights(t, cfg, 1)
			if err := hf.Save(dir, cfg, old, nil); err != nil {
				t.Fatal(err)
			}
			w := saveWeights(t, cfg, 2)
			if tc.edit != nil {
				tc.edit(w)
			}
			err := hf.Save(dir, cfg, w, tc.opts)
			if err == nil {
				t.Fatal("no error")
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q\ndoes not contain %q", err, want)
				}
			}
			ck, err := hf.Load(dir, nil)
			if err != nil {
				t.Fatalf("the previous checkpoint no longer loads: %v", err)
			}
			saveSameWeights(t, old, ck.Weights, saveExact)
			entries, _ := os.ReadDir(dir)
			if len(entries) != 2 {
				t.Errorf("files left: %v", entries)
			}
		})
	}
}

// A save that fails while writing must not leave a checkpoint that loads: here the new directory
// cannot be created, and an existing one is replaced by a checkpoint that then loads.
func TestSaveAtomic(t *testing.T) {
	cfg := saveCases()[0].cfg
	w := saveWeights(t, cfg, 5)

	// The parent is a file: nothing can be staged, nothing is left.
	parent := t.TempDir()
	blocker := filepath.Join(parent, "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := hf.Save(filepath.Join(blocker, "m"), cfg, w, nil); err == nil {
		t.Fatal("saving under a file succeeded")
	}
	if err := hf.Save(blocker, cfg, w, nil); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("saving over a file: %v", err)
	}

	// A stale index from an earlier sharded save must not outlive a single-file save, and no
	// staging directory remains.
	dir := filepath.Join(parent, "m")
	if err := hf.Save(dir, cfg, w, &hf.SaveOptions{MaxShardBytes: 2048}); err != nil {
		t.Fatal(err)
	}
	w2 := saveWeights(t, cfg, 6)
	if err := hf.Save(dir, cfg, w2, nil); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("files: %v", entries)
	}
	entries, _ = os.ReadDir(parent)
	if len(entries) != 2 { // file, m
		t.Errorf("parent holds %v", entries)
	}
	ck, err := hf.Load(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	saveSameWeights(t, w2, ck.Weights, saveExact)
}
