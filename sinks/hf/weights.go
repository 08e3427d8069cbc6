package hf

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"unsafe"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/dtypes/bfloat16"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sinkscope/sinkscope/sinks/safetensors"
	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// xform is how an HF tensor becomes canonical parameters.
type xform int

const (
	direct    xform = iota // same layout
	transpose              // Conv1D [in, out] → nn.Linear [out, in]
	splitQKV               // GPT-2 c_attn.weight [D, 3·E] → q, k, v, each [E, D]
	splitBias              // GPT-2 c_attn.bias [3·E] → q, k, v biases, each [E]
)

// hfTensor is one tensor an HF checkpoint must contain for a given config.
type hfTensor struct {
	key     string   // name without the optional model prefix ("layers.0.mlp.up_proj.weight")
	name    string   // the name as HF writes it ("model.layers.0.mlp.up_proj.weight")
	shape   []int    // shape in the checkpoint
	kind    xform    // how it maps
	targets []string // canonical names (3 for the splits)
}

// layout describes an HF naming scheme.
type layout struct {
	prefix  string // optional prefix of every tensor but lm_head ("model." / "transformer.")
	tensors []hfTensor
	ignore  *regexp.Regexp // non-parameter buffers some checkpoints carry, matched against keys
}

// Buffers that are saved by some (older) checkpoints but are not parameters:
//   - Llama family: self_attn.rotary_emb.inv_freq, the RoPE frequencies (recomputed from the config).
//   - GPT-2: attn.bias (the causal mask) and attn.masked_bias (the masking constant).
var (
	llamaIgnore = regexp.MustCompile(`^(layers\.\d+\.self_attn\.)?rotary_emb\.inv_freq$`)
	gpt2Ignore  = regexp.MustCompile(`^h\.\d+\.attn\.(bias|masked_bias)$`)
)

const lmHead = "lm_head.weight"

func layoutFor(cfg *transformer.Config) (*layout, error) {
	V, D, F := cfg.VocabSize, cfg.DModel, cfg.DMLP
	H, KV, dh := cfg.NHeads, cfg.KVHeads(), cfg.HeadDim()
	lay := &layout{}
	add := func(key string, shape []int, kind xform, targets ...string) {
		name := lay.prefix + key
		if key == lmHead {
			name = key // lm_head lives outside the base model in every family
		}
		lay.tensors = append(lay.tensors, hfTensor{key: key, name: name, shape: shape, kind: kind, targets: targets})
	}
	switch cfg.Family {
	case transformer.Llama, transformer.Mistral, transformer.Qwen2, transformer.Qwen3:
		// Llama layout. *ForCausalLM checkpoints prefix the base model with "model."; checkpoints
		// of the bare base model (LlamaModel etc.) have no prefix, and both are accepted.
		// HF's Llama q_proj/k_proj rows are already in the rotate_half order (the conversion from
		// Meta's interleaved layout permuted them), which is the RoPE convention of the forward
		// pass, so no permutation is needed here.
		lay.prefix, lay.ignore = "model.", llamaIgnore
		add("embed_tokens.weight", []int{V, D}, direct, "embed/weights")
		for l := range cfg.NLayers {
			p, b := fmt.Sprintf("layers.%d.", l), fmt.Sprintf("blocks/%d/", l)
			add(p+"input_layernorm.weight", []int{D}, direct, b+"ln1/scale")
			for _, x := range []struct {
				hf, canon string
				out       int
			}{{"q", "q", H * dh}, {"k", "k", KV * dh}, {"v", "v", KV * dh}} {
				add(p+"self_attn."+x.hf+"_proj.weight", []int{x.out, D}, direct, b+"attn/"+x.canon+"/weights")
				if cfg.QKVBias {
					add(p+"self_attn."+x.hf+"_proj.bias", []int{x.out}, direct, b+"attn/"+x.canon+"/bias")
				}
			}
			if cfg.QKNorm {
				add(p+"self_attn.q_norm.weight", []int{dh}, direct, b+"attn/q_norm/scale")
				add(p+"self_attn.k_norm.weight", []int{dh}, direct, b+"attn/k_norm/scale")
			}
			addSinkscope(add, p+"self_attn.", b, cfg)
			add(p+"self_attn.o_proj.weight", []int{D, H * dh}, direct, b+"attn/o/weights")
			if cfg.OutBias {
				add(p+"self_attn.o_proj.bias", []int{D}, direct, b+"attn/o/bias")
			}
			add(p+"post_attention_layernorm.weight", []int{D}, direct, b+"ln2/scale")
			if cfg.MLP != transformer.SwiGLU {
				return nil, fmt.Errorf("hf: family %s needs MLP %q, config has %q", cfg.Family, transformer.SwiGLU, cfg.MLP)
			}
			add(p+"mlp.gate_proj.weight", []int{F, D}, direct, b+"mlp/gate/weights")
			add(p+"mlp.up_proj.weight", []int{F, D}, direct, b+"mlp/up/weights")
			add(p+"mlp.down_proj.weight", []int{D, F}, direct, b+"mlp/down/weights")
			if cfg.MLPBias {
				add(p+"mlp.gate_proj.bias", []int{F}, direct, b+"mlp/gate/bias")
				add(p+"mlp.up_proj.bias", []int{F}, direct, b+"mlp/up/bias")
				add(p+"mlp.down_proj.bias", []int{D}, direct, b+"mlp/down/bias")
			}
		}
		add("norm.weight", []int{D}, direct, "ln_final/scale")
		if !cfg.TiedEmbeddings {
			add(lmHead, []int{V, D}, direct, "unembed/weights")
		}

	case transformer.GPT2:
		// GPT-2 checkpoints come with the "transformer." prefix (GPT2LMHeadModel) or without it
		// (GPT2Model, e.g. the original openai-community/gpt2 files); both are accepted.
		// Its projections are Conv1D modules whose weight is [in, out] (y = x·W + b): they are
		// transposed to the [out, in] layout here. c_attn fuses q, k and v along the output axis
		// (columns [0, E) are q, [E, 2E) k, [2E, 3E) v), so it is split as well as transposed.
		lay.prefix, lay.ignore = "transformer.", gpt2Ignore
		if !cfg.QKVBias || !cfg.OutBias || !cfg.MLPBias || cfg.MLP != transformer.Plain || cfg.Norm != transformer.LayerNorm || cfg.Position != transformer.Learned {
			return nil, fmt.Errorf("hf: GPT-2 checkpoints need LayerNorm, learned positions, a plain MLP and all biases; the config differs")
		}
		if KV != H || cfg.QKNorm {
			return nil, fmt.Errorf("hf: GPT-2 checkpoints have no grouped-query attention or q/k norms")
		}
		E := H * dh
		add("wte.weight", []int{V, D}, direct, "embed/weights")
		add("wpe.weight", []int{cfg.MaxSeqLen, D}, direct, "pos_embed/weights")
		for l := range cfg.NLayers {
			p, b := fmt.Sprintf("h.%d.", l), fmt.Sprintf("blocks/%d/", l)
			add(p+"ln_1.weight", []int{D}, direct, b+"ln1/scale")
			add(p+"ln_1.bias", []int{D}, direct, b+"ln1/bias")
			add(p+"attn.c_attn.weight", []int{D, 3 * E}, splitQKV, b+"attn/q/weights", b+"attn/k/weights", b+"attn/v/weights")
			add(p+"attn.c_attn.bias", []int{3 * E}, splitBias, b+"attn/q/bias", b+"attn/k/bias", b+"attn/v/bias")
			addSinkscope(add, p+"attn.", b, cfg)
			add(p+"attn.c_proj.weight", []int{E, D}, transpose, b+"attn/o/weights")
			add(p+"attn.c_proj.bias", []int{D}, direct, b+"attn/o/bias")
			add(p+"ln_2.weight", []int{D}, direct, b+"ln2/scale")
			add(p+"ln_2.bias", []int{D}, direct, b+"ln2/bias")
			add(p+"mlp.c_fc.weight", []int{D, F}, transpose, b+"mlp/up/weights")
			add(p+"mlp.c_fc.bias", []int{F}, direct, b+"mlp/up/bias")
			add(p+"mlp.c_proj.weight", []int{F, D}, transpose, b+"mlp/down/weights")
			add(p+"mlp.c_proj.bias", []int{D}, direct, b+"mlp/down/bias")
		}
		add("ln_f.weight", []int{D}, direct, "ln_final/scale")
		add("ln_f.bias", []int{D}, direct, "ln_final/bias")
		if !cfg.TiedEmbeddings {
			add(lmHead, []int{V, D}, direct, "unembed/weights")
		}

	default:
		return nil, fmt.Errorf("hf: no checkpoint layout for family %q", cfg.Family)
	}

	// The mapping must produce exactly the parameters the model declares, with their shapes.
	want := cfg.ParamShapes()
	got := map[string]bool{}
	for _, t := range lay.tensors {
		for _, target := range t.targets {
			shape := t.targetShape()
			if ws, ok := want[target]; !ok || !slices.Equal(ws, shape) {
				return nil, fmt.Errorf("hf: %s maps to %s %v, which the config does not declare with that shape (%v)", t.name, target, shape, ws)
			}
			got[target] = true
		}
	}
	var extra []string
	for name := range want {
		if !got[name] {
			extra = append(extra, name)
		}
	}
	if len(extra) > 0 {
		sort.Strings(extra)
		return nil, fmt.Errorf("hf: parameters %s have no counterpart in %s checkpoints; refusing to make them up",
			strings.Join(extra, ", "), cfg.Family)
	}
	return lay, nil
}

// addSinkscope adds the tensors of sinkscope's own attention options (see SinkscopeConfigKey) of one
// layer, under the attention module's prefix attn ("layers.0.self_attn." or "h.0.attn."), with
// the canonical prefix b ("blocks/0/"). They are stored in the canonical layout (nn.Linear
// [out, in] for the gate, also in GPT-2 checkpoints).
//
//	<attn>head_norm.weight   [H, dh] or [dh]   HeadNorm γ
//	<attn>gate_proj.weight   [H·dh, D]         GatedAttention
//	<attn>sink_key           [KV, dh]          SinkKV
//	<attn>sink_value         [KV, dh]          SinkKV
func addSinkscope(add func(key string, shape []int, kind xform, targets ...string), attn, b string, cfg *transformer.Config) {
	H, KV, dh := cfg.NHeads, cfg.KVHeads(), cfg.HeadDim()
	if cfg.HeadNorm.Enabled {
		shape := []int{H, dh}
		if cfg.HeadNorm.SharedGamma {
			shape = []int{dh}
		}
		add(attn+"head_norm.weight", shape, direct, b+"attn/head_norm/scale")
	}
	if cfg.GatedAttention {
		add(attn+"gate_proj.weight", []int{H * dh, cfg.DModel}, direct, b+"attn/gate/weights")
	}
	if cfg.SinkKV {
		add(attn+"sink_key", []int{KV, dh}, direct, b+"attn/sink/key")
		add(attn+"sink_value", []int{KV, dh}, direct, b+"attn/sink/value")
	}
}

// targetShape is the canonical shape of each target.
func (t hfTensor) targetShape() []int {
	switch t.kind {
	case transpose:
		return []int{t.shape[1], t.shape[0]}
	case splitQKV:
		return []int{t.shape[1] / 3, t.shape[0]}
	case splitBias:
		return []int{t.shape[0] / 3}
	}
	return t.shape
}

// key strips the optional prefix from a checkpoint name.
func (lay *layout) keyOf(name string) string { return strings.TrimPrefix(name, lay.prefix) }

// LoadWeights loads the weights of the HF checkpoint in dir (model.safetensors, or the shards of
// model.safetensors.index.json) under their canonical names (transformer.Config.ParamShapes), as
// tensors of dtype Float32 (the default, for dtypes.InvalidDType) or BFloat16 (values are
// converted from the stored F32/F16/BF16/F64, rounding to nearest even where needed).
//
// It is strict: every parameter the config declares must come from exactly one checkpoint tensor
// with the expected shape and a floating-point dtype; a missing, unexpected, duplicated or
// misshaped tensor is an error naming it. Only known non-parameter buffers are skipped. With tied
// embeddings an lm_head.weight in the file is accepted only if it equals the embedding matrix.
func LoadWeights(dir string, cfg *transformer.Config, dtype dtypes.DType) (map[string]*tensors.Tensor, error) {
	if cfg == nil {
		return nil, errors.New("hf: LoadWeights needs a config")
	}
	if dtype == dtypes.InvalidDType {
		dtype = dtypes.Float32
	}
	if dtype != dtypes.Float32 && dtype != dtypes.BFloat16 {
		return nil, fmt.Errorf("hf: weights can be loaded as Float32 or BFloat16, not %s", dtype)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("hf: %w", err)
	}
	lay, err := layoutFor(cfg)
	if err != nil {
		return nil, err
	}
	set, err := safetensors.OpenDir(dir)
	if err != nil {
		return nil, fmt.Errorf("hf: %w", err)
	}
	defer set.Close()

	byKey := map[string]int{}
	for i, t := range lay.tensors {
		byKey[t.key] = i
	}
	found := make([]string, len(lay.tensors)) // checkpoint name of each expected tensor
	tiedHead := ""
	var problems []string
	for _, name := range set.Names() {
		key := lay.keyOf(name)
		info, _ := set.Info(name)
		if i, ok := byKey[key]; ok {
			if found[i] != "" {
				problems = append(problems, fmt.Sprintf("tensors %q and %q are the same parameter (%s); each must appear once", found[i], name, lay.tensors[i].name))
				continue
			}
			found[i] = name
			continue
		}
		if key == lmHead && cfg.TiedEmbeddings {
			// Tied embeddings: HF ties lm_head to the input embedding, and save_pretrained usually
			// drops the duplicate. When a file does carry it, it must be the same matrix.
			tiedHead = name
			continue
		}
		if lay.ignore.MatchString(key) {
			continue
		}
		problems = append(problems, fmt.Sprintf("unexpected tensor %q %s %v in %s: not a parameter of this %s config",
			name, info.DType, info.Shape, set.FileOf(name), cfg.Family))
	}
	for i, t := range lay.tensors {
		name := found[i]
		if name == "" {
			problems = append(problems, fmt.Sprintf("missing tensor %q (expected shape %v, for %s)", t.name, t.shape, strings.Join(t.targets, ", ")))
			continue
		}
		info, _ := set.Info(name)
		if err := checkWeight(name, info, t.shape); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if tiedHead != "" {
		info, _ := set.Info(tiedHead)
		if err := checkWeight(tiedHead, info, []int{cfg.VocabSize, cfg.DModel}); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) > 0 {
		return nil, checkpointError(dir, problems)
	}

	// The tensors are read in parallel (each one positioned read into its own tensor when the
	// stored dtype is the one asked for), by at most GOMAXPROCS (≤ 8) readers; errors are reported
	// for the first failing tensor in checkpoint order, whatever finished first.
	parts := make([]map[string]*tensors.Tensor, len(lay.tensors))
	errs := make([]error, len(lay.tensors))
	var wg sync.WaitGroup
	slots := make(chan struct{}, min(runtime.GOMAXPROCS(0), 8))
	for i, t := range lay.tensors {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer func() { <-slots; wg.Done() }()
			parts[i] = make(map[string]*tensors.Tensor, len(t.targets))
			errs[i] = loadOne(set, found[i], t, dtype, parts[i])
		}()
	}
	wg.Wait()
	out := make(map[string]*tensors.Tensor, len(lay.tensors)+2)
	for i := range lay.tensors {
		if errs[i] != nil {
			return nil, fmt.Errorf("hf: checkpoint %s: %w", dir, errs[i])
		}
		maps.Copy(out, parts[i])
	}
	if tiedHead != "" {
		embed := ""
		for i, t := range lay.tensors {
			if slices.Contains(t.targets, "embed/weights") {
				embed = found[i]
			}
		}
		if err := sameValues(set, tiedHead, embed); err != nil {
			return nil, fmt.Errorf("hf: checkpoint %s: %w", dir, err)
		}
	}
	return out, nil
}

func checkpointError(dir string, problems []string) error {
	const maxShown = 12
	msg := problems
	if len(msg) > maxShown {
		msg = append(slices.Clone(msg[:maxShown]), fmt.Sprintf("… and %d more", len(problems)-maxShown))
	}
	return fmt.Errorf("hf: checkpoint %s does not match its config:\n  %s", dir, strings.Join(msg, "\n  "))
}

func checkWeight(name string, info safetensors.TensorInfo, shape []int) error {
	switch info.DType {
	case safetensors.F32, safetensors.F16, safetensors.BF16, safetensors.F64:
	default:
		return fmt.Errorf("tensor %q has dtype %s; weights must be F32, F16, BF16 or F64", name, info.DType)
	}
	if !slices.Equal(info.Shape, shape) {
		return fmt.Errorf("tensor %q has shape %v, expected %v", name, info.Shape, shape)
	}
	return nil
}

func loadOne(set *safetensors.Set, name string, t hfTensor, dtype dtypes.DType, out map[string]*tensors.Tensor) error {
	if t.kind == direct {
		x := tensors.FromShape(shapes.Make(dtype, t.shape...))
		var rerr error
		var err error
		if dtype == dtypes.Float32 {
			err = tensors.MutableFlatData(x, func(flat []float32) { rerr = set.ReadFloat32Into(name, flat) })
		} else {
			err = tensors.MutableFlatData(x, func(flat []bfloat16.BFloat16) {
				rerr = set.ReadBFloat16Into(name, unsafe.Slice((*uint16)(unsafe.SliceData(flat)), len(flat)))
			})
		}
		if err = errors.Join(err, rerr); err != nil {
			return err
		}
		out[t.targets[0]] = x
		return nil
	}

	src, err := set.ReadFloat32(name)
	if err != nil {
		return err
	}
	switch t.kind {
	case transpose:
		in, outDim := t.shape[0], t.shape[1]
		dst := make([]float32, len(src))
		for i := range in {
			for o := range outDim {
				dst[o*in+i] = src[i*outDim+o]
			}
		}
		return put(out, t.targets[0], dtype, []int{outDim, in}, dst)
	case splitQKV:
		in, cols := t.shape[0], t.shape[1]
		e := cols / 3
		for part, target := range t.targets {
			dst := make([]float32, e*in)
			for i := range in {
				row := src[i*cols+part*e : i*cols+(part+1)*e]
				for o, v := range row {
					dst[o*in+i] = v
				}
			}
			if err := put(out, target, dtype, []int{e, in}, dst); err != nil {
				return err
			}
		}
		return nil
	case splitBias:
		e := t.shape[0] / 3
		for part, target := range t.targets {
			if err := put(out, target, dtype, []int{e}, slices.Clone(src[part*e:(part+1)*e])); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("internal: unknown transform %d for %s", t.kind, name)
}

// put stores float32 values as a tensor of dtype.
func put(out map[string]*tensors.Tensor, name string, dtype dtypes.DType, shape []int, vals []float32) error {
	if dtype == dtypes.Float32 {
		out[name] = tensors.FromFlatDataAndDimensions(vals, shape...)
		return nil
	}
	x := tensors.FromShape(shapes.Make(dtype, shape...))
	err := tensors.MutableFlatData(x, func(flat []bfloat16.BFloat16) {
		for i, v := range vals {
			flat[i] = bfloat16.BFloat16(safetensors.Float32ToBFloat16(v))
		}
	})
	if err != nil {
		return err
	}
	out[name] = x
	return nil
}

// sameValues checks that two checkpoint tensors hold bit-identical values (as float32).
func sameValues(set *safetensors.Set, a, b string) error {
	va, err := set.ReadFloat32(a)
	if err != nil {
		return err
	}
	vb, err := set.ReadFloat32(b)
	if err != nil {
		return err
	}
	for i := range va {
		if math.Float32bits(va[i]) != math.Float32bits(vb[i]) {
			return fmt.Errorf("tie_word_embeddings is true but %q differs from %q (element %d: %g vs %g); refusing to pick one",
				a, b, i, va[i], vb[i])
		}
	}
	return nil
}
