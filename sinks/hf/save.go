package hf

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/dtypes/bfloat16"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sinkscope/sinkscope/sinks/safetensors"
	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// SaveOptions configures Save.
type SaveOptions struct {
	// DType is the storage dtype of the weights: safetensors.F32 or safetensors.BF16 (float32 values
	// round to nearest even). Left empty, it is BF16 when every weight is a bfloat16 tensor and F32
	// otherwise, so that nothing is rounded unless asked for.
	DType safetensors.DType
	// MaxShardBytes is the largest size of one weight file. 0 writes a single model.safetensors;
	// otherwise the tensors are split, in checkpoint order, over model-0000k-of-0000n.safetensors
	// files of at most this many bytes each (a larger tensor gets a file of its own) listed by
	// model.safetensors.index.json. As transformers does, a checkpoint that fits in one shard is
	// written as a single model.safetensors.
	MaxShardBytes int64
	// Metadata is added to the __metadata__ of every weight file. "format" is always "pt", which
	// transformers requires.
	Metadata map[string]string
}

// Save writes cfg and weights to dir as an HF model directory that Load and HF transformers (4.x
// and 5.x) read back: config.json and model.safetensors, or shards plus
// model.safetensors.index.json. It is the inverse of Load: the tensors get the names and layouts
// of the *ForCausalLM checkpoints that save_pretrained writes ("model." and "transformer."
// prefixes, GPT-2's Conv1D [in, out] weights and fused c_attn), with no lm_head.weight when the
// embeddings are tied.
//
// weights must hold exactly the parameters of cfg.ParamShapes with those shapes, as Float32 or
// BFloat16 tensors; anything missing, extra or misshaped is an error naming it. sinkscope's own
// attention options (HeadNorm, GatedAttention, SigmoidAttention, SinkKV) go to the "sinkscope"
// object of config.json and their tensors next to the attention's (see SinkscopeConfigKey):
// sinkscope loads such a checkpoint back exactly, transformers cannot run it. Configurations
// that config.json cannot express are refused before anything is written: combinations the
// family's configuration class has no switch for (q/k norms outside qwen3, a sliding window on
// llama, a custom attention scale, ...). The written config.json is checked to read back as cfg.
//
// Saving is atomic as far as loading is concerned. A new dir is assembled in a temporary
// directory beside it and renamed into place. When dir already exists, the files are staged
// inside it first; then its config.json and old weight files (model.safetensors, the index and
// model-*-of-*.safetensors shards) are removed, the new weight files are moved in, and config.json
// comes last. A save that fails at any point leaves either the previous checkpoint or a directory
// without config.json, never a mix that loads. Other files in dir (tokenizer, generation config)
// are left alone.
func Save(dir string, cfg *transformer.Config, weights map[string]*tensors.Tensor, opts *SaveOptions) error {
	if opts == nil {
		opts = &SaveOptions{}
	}
	if dir == "" {
		return errors.New("hf: Save needs a directory")
	}
	if cfg == nil {
		return errors.New("hf: Save needs a config")
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("hf: cannot save: %w", err)
	}
	if opts.MaxShardBytes < 0 {
		return fmt.Errorf("hf: SaveOptions.MaxShardBytes must be >= 0, got %d", opts.MaxShardBytes)
	}
	meta := map[string]string{"format": "pt"}
	for k, v := range opts.Metadata {
		if k == "format" && v != "pt" {
			return fmt.Errorf("hf: SaveOptions.Metadata[\"format\"] = %q: transformers only loads files with format \"pt\"", v)
		}
		meta[k] = v
	}
	dtype := saveStorageDType(opts.DType, weights)
	configJSON, err := saveConfigJSON(cfg, dtype)
	if err != nil {
		return err
	}
	if err := saveCheckWeights(cfg, weights); err != nil {
		return err
	}
	lay, err := layoutFor(cfg)
	if err != nil {
		return err
	}
	shards := savePlanShards(lay.tensors, dtype, opts.MaxShardBytes)

	// Stage every file.
	dir = filepath.Clean(dir)
	st, err := os.Stat(dir)
	exists := err == nil
	switch {
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("hf: saving to %s: %w", dir, err)
	case exists && !st.IsDir():
		return fmt.Errorf("hf: saving to %s: not a directory", dir)
	}
	var stage string
	if exists {
		stage, err = os.MkdirTemp(dir, ".save-tmp-*")
	} else {
		parent := filepath.Dir(dir)
		if err = os.MkdirAll(parent, 0o755); err != nil {
			return fmt.Errorf("hf: saving to %s: %w", dir, err)
		}
		stage, err = os.MkdirTemp(parent, "."+filepath.Base(dir)+".tmp-*")
	}
	if err != nil {
		return fmt.Errorf("hf: saving to %s: %w", dir, err)
	}
	defer os.RemoveAll(stage) // nothing left once the stage has been renamed or emptied

	var files []string // weight files, in writing order; the index (if any) last
	weightMap := map[string]string{}
	var total int64
	for i, shard := range shards {
		name := safetensors.SingleFileName
		if len(shards) > 1 {
			name = fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, len(shards))
		}
		out := make(map[string]safetensors.Tensor, len(shard))
		for _, t := range shard {
			x, err := saveTensor(t, weights, dtype)
			if err != nil {
				return fmt.Errorf("hf: saving %s: %w", t.name, err)
			}
			out[t.name] = x
			weightMap[t.name] = name
			total += int64(len(x.Data))
		}
		if err := safetensors.Write(filepath.Join(stage, name), out, meta); err != nil {
			return fmt.Errorf("hf: %w", err)
		}
		files = append(files, name)
	}
	if len(shards) > 1 {
		if err := safetensors.WriteIndex(filepath.Join(stage, safetensors.IndexFileName), weightMap, total); err != nil {
			return fmt.Errorf("hf: writing %s: %w", safetensors.IndexFileName, err)
		}
		files = append(files, safetensors.IndexFileName)
	}
	if err := saveWriteSynced(filepath.Join(stage, ConfigFileName), configJSON); err != nil {
		return fmt.Errorf("hf: writing %s: %w", ConfigFileName, err)
	}

	// Commit.
	if !exists {
		if err := os.Chmod(stage, 0o755); err != nil {
			return fmt.Errorf("hf: saving to %s: %w", dir, err)
		}
		if err := os.Rename(stage, dir); err == nil {
			saveSyncDir(filepath.Dir(dir))
			return nil
		}
		// Something created dir meanwhile: move the files in one by one.
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return fmt.Errorf("hf: saving to %s: could not move the staged checkpoint into place", dir)
		}
	}
	return saveCommitInto(dir, stage, files)
}

// saveCommitInto replaces the checkpoint in the existing directory dir by the staged files: first
// config.json goes (from then on dir does not load), then the old weight files, then the new
// weight files move in, and config.json last.
func saveCommitInto(dir, stage string, files []string) error {
	fail := func(err error) error {
		return fmt.Errorf("hf: saving to %s: %w (the directory has no %s now)", dir, err, ConfigFileName)
	}
	if err := os.Remove(filepath.Join(dir, ConfigFileName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("hf: saving to %s: %w", dir, err)
	}
	saveSyncDir(dir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fail(err)
	}
	for _, e := range entries {
		if e.Type().IsRegular() && saveIsWeightFile(e.Name()) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return fail(err)
			}
		}
	}
	for _, name := range append(slices.Clone(files), ConfigFileName) {
		if err := os.Rename(filepath.Join(stage, name), filepath.Join(dir, name)); err != nil {
			return fail(err)
		}
	}
	saveSyncDir(dir)
	return nil
}

var saveShardFileRE = regexp.MustCompile(`^model-\d{5}-of-\d{5}\.safetensors$`)

// saveIsWeightFile reports whether name is one of the safetensors weight files Save writes.
func saveIsWeightFile(name string) bool {
	return name == safetensors.SingleFileName || name == safetensors.IndexFileName || saveShardFileRE.MatchString(name)
}

func saveWriteSynced(path string, data []byte) (err error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	return f.Sync()
}

// saveSyncDir makes renames in dir durable where the platform allows it (best effort).
func saveSyncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// saveStorageDType resolves SaveOptions.DType.
func saveStorageDType(d safetensors.DType, weights map[string]*tensors.Tensor) safetensors.DType {
	if d != safetensors.Invalid {
		return d
	}
	if len(weights) == 0 {
		return safetensors.F32
	}
	for _, w := range weights {
		if w == nil || w.DType() != dtypes.BFloat16 {
			return safetensors.F32
		}
	}
	return safetensors.BF16
}

// saveCheckWeights checks that weights are exactly cfg's parameters, with their shapes, as Float32
// or BFloat16 tensors.
func saveCheckWeights(cfg *transformer.Config, weights map[string]*tensors.Tensor) error {
	want := cfg.ParamShapes()
	var problems []string
	for _, name := range cfg.ParamNames() {
		w, ok := weights[name]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("missing parameter %q (shape %v)", name, want[name]))
		case w == nil || !w.Ok():
			problems = append(problems, fmt.Sprintf("parameter %q is nil or no longer valid", name))
		case w.DType() != dtypes.Float32 && w.DType() != dtypes.BFloat16:
			problems = append(problems, fmt.Sprintf("parameter %q has dtype %s; Float32 or BFloat16 is needed", name, w.DType()))
		case !slices.Equal(w.Shape().Dimensions, want[name]):
			problems = append(problems, fmt.Sprintf("parameter %q has shape %v, expected %v", name, w.Shape().Dimensions, want[name]))
		}
	}
	var extra []string
	for name := range weights {
		if _, ok := want[name]; !ok {
			extra = append(extra, name)
		}
	}
	sort.Strings(extra)
	for _, name := range extra {
		problems = append(problems, fmt.Sprintf("unexpected parameter %q: not a parameter of this %s config", name, cfg.Family))
	}
	if len(problems) == 0 {
		return nil
	}
	const maxShown = 12
	if len(problems) > maxShown {
		problems = append(problems[:maxShown:maxShown], fmt.Sprintf("… and %d more", len(problems)-maxShown))
	}
	return fmt.Errorf("hf: cannot save: the weights do not match the config:\n  %s", strings.Join(problems, "\n  "))
}

// savePlanShards splits the checkpoint tensors, in order, into files of at most maxBytes (0: one file).
func savePlanShards(ts []hfTensor, dtype safetensors.DType, maxBytes int64) [][]hfTensor {
	var shards [][]hfTensor
	var cur []hfTensor
	var size int64
	for _, t := range ts {
		n := int64(dtype.Size())
		for _, d := range t.shape {
			n *= int64(d)
		}
		if maxBytes > 0 && len(cur) > 0 && size+n > maxBytes {
			shards, cur, size = append(shards, cur), nil, 0
		}
		cur, size = append(cur, t), size+n
	}
	return append(shards, cur)
}

// saveFlatFloat32 returns a copy of a Float32 or BFloat16 tensor's values as float32 (exact).
func saveFlatFloat32(x *tensors.Tensor) ([]float32, error) {
	out := make([]float32, x.Size())
	switch x.DType() {
	case dtypes.Float32:
		return out, tensors.ConstFlatData(x, func(flat []float32) { copy(out, flat) })
	case dtypes.BFloat16:
		return out, tensors.ConstFlatData(x, func(flat []bfloat16.BFloat16) {
			for i, v := range flat {
				out[i] = safetensors.BFloat16ToFloat32(uint16(v))
			}
		})
	}
	return nil, fmt.Errorf("dtype %s is not Float32 or BFloat16", x.DType())
}

// saveTensor builds the checkpoint tensor t from the canonical weights: the inverse of loadOne.
func saveTensor(t hfTensor, weights map[string]*tensors.Tensor, dtype safetensors.DType) (safetensors.Tensor, error) {
	src := make([][]float32, len(t.targets))
	for i, target := range t.targets {
		v, err := saveFlatFloat32(weights[target])
		if err != nil {
			return safetensors.Tensor{}, fmt.Errorf("parameter %q: %w", target, err)
		}
		src[i] = v
	}
	var vals []float32
	switch t.kind {
	case direct:
		vals = src[0]
	case transpose:
		// Canonical [out, in] → Conv1D [in, out].
		in, out := t.shape[0], t.shape[1]
		vals = make([]float32, in*out)
		for o := range out {
			for i := range in {
				vals[i*out+o] = src[0][o*in+i]
			}
		}
	case splitQKV:
		// q, k, v, each [E, in] → c_attn [in, 3·E] with columns q | k | v.
		in, cols := t.shape[0], t.shape[1]
		e := cols / 3
		vals = make([]float32, in*cols)
		for part, p := range src {
			for o := range e {
				for i := range in {
					vals[i*cols+part*e+o] = p[o*in+i]
				}
			}
		}
	case splitBias:
		vals = slices.Concat(src...)
	default:
		return safetensors.Tensor{}, fmt.Errorf("internal: unknown transform %d", t.kind)
	}
	return safetensors.FromFloat32(dtype, t.shape, vals)
}

// saveArchitectures are the *ForCausalLM classes written to config.json.
var saveArchitectures = map[transformer.Family]string{
	transformer.Llama:   "LlamaForCausalLM",
	transformer.Mistral: "MistralForCausalLM",
	transformer.Qwen2:   "Qwen2ForCausalLM",
	transformer.Qwen3:   "Qwen3ForCausalLM",
	transformer.GPT2:    "GPT2LMHeadModel",
}

// savePyFloat is a float64 that always marshals as a JSON number Python reads as a float ("10000.0",
// "1e-06"), with the shortest representation that round-trips.
type savePyFloat float64

func (f savePyFloat) MarshalJSON() ([]byte, error) {
	x := float64(f)
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil, fmt.Errorf("%g cannot be written to JSON", x)
	}
	s := strconv.FormatFloat(x, 'g', -1, 64)
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return []byte(s), nil
}

// saveTokenID is a token id for config.json: null when −1.
func saveTokenID(id int) any {
	if id < 0 {
		return nil
	}
	return id
}

// saveConfigJSON builds config.json for cfg, whose weights are stored as dtype, or says why it
// cannot.
func saveConfigJSON(cfg *transformer.Config, dtype safetensors.DType) ([]byte, error) {
	var torchDType string
	switch dtype {
	case safetensors.F32:
		torchDType = "float32"
	case safetensors.BF16:
		torchDType = "bfloat16"
	default:
		return nil, fmt.Errorf("hf: weights can be saved as %s or %s, not %q", safetensors.F32, safetensors.BF16, string(dtype))
	}
	arch, ok := saveArchitectures[cfg.Family]
	if !ok {
		return nil, fmt.Errorf("hf: cannot export: family %q has no transformers model type", cfg.Family)
	}

	// What config.json cannot express, with the reason.
	var problems []string
	no := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if cfg.AttnScale != 0 && cfg.AttnScale != 1/math.Sqrt(float64(cfg.HeadDim())) {
		switch {
		case cfg.Family == transformer.GPT2 && cfg.AttnScale == 1: // scale_attn_weights=false
		case cfg.Family == transformer.GPT2:
			no("AttnScale %g is not expressible in a gpt2 config.json (only 1/sqrt(head_dim), or 1 with scale_attn_weights=false)", cfg.AttnScale)
		default:
			no("AttnScale %g is not expressible in a %s config.json (only 1/sqrt(head_dim))", cfg.AttnScale, cfg.Family)
		}
	}
	if cfg.QKNorm && cfg.Family != transformer.Qwen3 {
		no("QKNorm (RMSNorm on q and k) exists in transformers only for qwen3, not %s", cfg.Family)
	}
	if !cfg.QKNorm && cfg.Family == transformer.Qwen3 {
		no("qwen3 always has QKNorm; a qwen3 config without it has no transformers equivalent")
	}
	if cfg.SlidingWindow > 0 && (cfg.Family == transformer.Llama || cfg.Family == transformer.GPT2) {
		no("SlidingWindow has no %s config.json equivalent (mistral, qwen2 and qwen3 have one)", cfg.Family)
	}
	switch cfg.Family {
	case transformer.Llama, transformer.Qwen3:
		if cfg.QKVBias != cfg.OutBias {
			no("%s's attention_bias puts biases on q, k, v and o alike; QKVBias=%t with OutBias=%t has no equivalent (qwen2 has q/k/v biases only)",
				cfg.Family, cfg.QKVBias, cfg.OutBias)
		}
		if cfg.MLPBias && cfg.Family == transformer.Qwen3 {
			no("qwen3 has no MLP biases (llama's mlp_bias does)")
		}
	case transformer.Mistral:
		if cfg.QKVBias || cfg.OutBias || cfg.MLPBias {
			no("mistral has no biases (llama's attention_bias/mlp_bias, or qwen2's q/k/v biases, do)")
		}
	case transformer.Qwen2:
		if !cfg.QKVBias || cfg.OutBias || cfg.MLPBias {
			no("qwen2 always has q/k/v biases and no others; QKVBias=%t OutBias=%t MLPBias=%t has no equivalent",
				cfg.QKVBias, cfg.OutBias, cfg.MLPBias)
		}
		if cfg.HeadDim()*cfg.NHeads != cfg.DModel {
			no("qwen2 has no head_dim field: DHead must be DModel/NHeads = %d, got %d", cfg.DModel/cfg.NHeads, cfg.HeadDim())
		}
	case transformer.GPT2:
		if cfg.KVHeads() != cfg.NHeads {
			no("gpt2 has no grouped-query attention (NKVHeads %d, NHeads %d)", cfg.KVHeads(), cfg.NHeads)
		}
		if cfg.HeadDim()*cfg.NHeads != cfg.DModel {
			no("gpt2 has no head_dim field: DHead must be DModel/NHeads = %d, got %d", cfg.DModel/cfg.NHeads, cfg.HeadDim())
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("hf: cannot export: %s", strings.Join(problems, "; "))
	}

	m := map[string]any{
		"model_type":    string(cfg.Family),
		"architectures": []string{arch},
		"vocab_size":    cfg.VocabSize,
		"bos_token_id":  saveTokenID(cfg.BOSTokenID),
		"eos_token_id":  saveTokenID(cfg.EOSTokenID),
		// transformers ≥ 4.56 calls it dtype; earlier versions torch_dtype (later ones still accept it).
		"dtype":               torchDType,
		"torch_dtype":         torchDType,
		"tie_word_embeddings": cfg.TiedEmbeddings,
		"initializer_range":   savePyFloat(0.02),
		"use_cache":           true,
	}
	if o := sinkscopeOptions(cfg); o != nil {
		m[SinkscopeConfigKey] = o
	}
	if cfg.Family == transformer.GPT2 {
		m["n_embd"] = cfg.DModel
		m["n_layer"] = cfg.NLayers
		m["n_head"] = cfg.NHeads
		m["n_inner"] = cfg.DMLP
		m["n_positions"] = cfg.MaxSeqLen
		m["activation_function"] = cfg.Activation
		m["layer_norm_epsilon"] = savePyFloat(cfg.NormEps)
		m["scale_attn_weights"] = cfg.AttnScale != 1
		m["scale_attn_by_inverse_layer_idx"] = false
		m["reorder_and_upcast_attn"] = false
		// sinkscope's forward pass has no dropout.
		m["attn_pdrop"], m["embd_pdrop"], m["resid_pdrop"] = savePyFloat(0), savePyFloat(0), savePyFloat(0)
	} else {
		m["hidden_size"] = cfg.DModel
		m["intermediate_size"] = cfg.DMLP
		m["num_hidden_layers"] = cfg.NLayers
		m["num_attention_heads"] = cfg.NHeads
		m["num_key_value_heads"] = cfg.KVHeads()
		if cfg.Family != transformer.Qwen2 {
			m["head_dim"] = cfg.HeadDim()
		}
		m["hidden_act"] = cfg.Activation
		m["max_position_embeddings"] = cfg.MaxSeqLen
		m["rms_norm_eps"] = savePyFloat(cfg.NormEps)
		m["attention_dropout"] = savePyFloat(0)
		// RoPE in both styles, which agree: transformers < 5 reads rope_theta and rope_scaling;
		// transformers 5 prefers rope_scaling when set and rope_parameters otherwise, while
		// ParseConfig prefers rope_parameters.
		params := map[string]any{"rope_type": "default", "rope_theta": savePyFloat(cfg.RopeTheta)}
		m["rope_theta"] = savePyFloat(cfg.RopeTheta)
		m["rope_scaling"] = nil
		if s := cfg.RopeScaling; s != nil {
			scaling := map[string]any{
				"rope_type":                        s.Type,
				"factor":                           savePyFloat(s.Factor),
				"low_freq_factor":                  savePyFloat(s.LowFreqFactor),
				"high_freq_factor":                 savePyFloat(s.HighFreqFactor),
				"original_max_position_embeddings": s.OriginalMaxPositionEmbeddings,
			}
			m["rope_scaling"] = scaling
			for k, v := range scaling {
				params[k] = v
			}
		}
		m["rope_parameters"] = params
		switch cfg.Family {
		case transformer.Llama:
			m["attention_bias"] = cfg.QKVBias
			m["mlp_bias"] = cfg.MLPBias
			m["pretraining_tp"] = 1
		case transformer.Qwen3:
			m["attention_bias"] = cfg.QKVBias
		}
		switch cfg.Family {
		case transformer.Mistral:
			m["sliding_window"] = nil
			if cfg.SlidingWindow > 0 {
				m["sliding_window"] = cfg.SlidingWindow
			}
		case transformer.Qwen2, transformer.Qwen3:
			// One window for every layer: sliding from layer 0 on, spelled out in layer_types too.
			use := cfg.SlidingWindow > 0
			m["use_sliding_window"] = use
			m["sliding_window"] = nil
			m["max_window_layers"] = cfg.NLayers
			kind := "full_attention"
			if use {
				m["sliding_window"] = cfg.SlidingWindow
				m["max_window_layers"] = 0
				kind = "sliding_attention"
			}
			m["layer_types"] = slices.Repeat([]string{kind}, cfg.NLayers)
		}
	}
	data, err := json.MarshalIndent(m, "", "  ") // sorted keys, as save_pretrained writes them
	if err != nil {
		return nil, fmt.Errorf("hf: writing config.json: %w", err)
	}
	data = append(data, '\n')

	// The file must mean exactly cfg.
	back, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("hf: cannot export: the config.json written does not parse back: %w", err)
	}
	if diff := saveConfigDiff(saveNormal(*cfg), saveNormal(*back)); len(diff) > 0 {
		return nil, fmt.Errorf("hf: cannot export: %s config.json cannot express %s", cfg.Family, strings.Join(diff, ", "))
	}
	return data, nil
}

// saveNormal resolves a Config's defaults and drops settings that have no effect, so that two
// configurations of the same model compare equal.
func saveNormal(c transformer.Config) transformer.Config {
	c.NKVHeads, c.DHead, c.AttnScale = c.KVHeads(), c.HeadDim(), c.Scale()
	if c.Attention == "" {
		c.Attention = transformer.SoftmaxAttention
	}
	if c.Attention != transformer.SigmoidAttention {
		c.SigmoidBiasLogN = false
	}
	if !c.HeadNorm.Enabled {
		c.HeadNorm = transformer.HeadNormConfig{}
	} else {
		c.HeadNorm.Eps = c.HeadNorm.Epsilon()
		if !c.HeadNorm.InitFirstToken && c.HeadNorm.InitGamma == 0 {
			c.HeadNorm.InitGamma = 1
		}
	}
	if c.Position != transformer.RoPE {
		c.RopeTheta, c.RopeScaling = 0, nil
	}
	return c
}

// saveConfigDiff lists the fields in which got differs from want, as "Field = want (reads back as got)".
func saveConfigDiff(want, got transformer.Config) []string {
	var diff []string
	w, g := reflect.ValueOf(want), reflect.ValueOf(got)
	for i := range w.NumField() {
		a, b := w.Field(i).Interface(), g.Field(i).Interface()
		if reflect.DeepEqual(a, b) {
			continue
		}
		show := func(v any) string {
			if p, ok := v.(*transformer.RopeScaling); ok && p != nil {
				return fmt.Sprintf("%+v", *p)
			}
			return fmt.Sprintf("%v", v)
		}
		diff = append(diff, fmt.Sprintf("%s = %s (reads back as %s)", w.Type().Field(i).Name, show(a), show(b)))
	}
	return diff
}
