package train

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	gtrain "github.com/gomlx/gomlx/ml/train"

	"github.com/sinkscope/sinkscope/internal/atomicfile"
	"github.com/sinkscope/sinkscope/sinks/hf"
	"github.com/sinkscope/sinkscope/sinks/safetensors"
	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// A checkpoint is a directory ckpt-<step, 7 digits> inside the run directory, holding
//
//	config.json, model.safetensors  the model as an HF checkpoint: every finding loads it directly
//	optimizer.safetensors           every other variable of the store (AdamW moments and step
//	                                counter, GoMLX's global step), named by store path
//	state.json                      the step and what was measured there; written last
//
// It is written into a temporary directory that is renamed into place only when complete, so an
// interrupted write never becomes a checkpoint; a directory without a readable state.json is not
// one either.
const (
	ckptPrefix    = "ckpt-"
	ckptTmpSuffix = ".partial"
	stateFile     = "state.json"
	optimizerFile = "optimizer.safetensors"
)

var ckptName = regexp.MustCompile(`^ckpt-(\d{7})$`)

// State is a checkpoint's state.json.
type State struct {
	Step    int     `json:"step"`   // updates applied
	Tokens  int64   `json:"tokens"` // training tokens seen
	Seconds float64 `json:"seconds"`
	Loss    float64 `json:"loss"` // training loss of the last step
	ValLoss float64 `json:"val_loss,omitempty"`
}

// Checkpoint names one complete checkpoint.
type Checkpoint struct {
	Dir  string
	Step int
}

// Checkpoints lists the complete checkpoints of a run directory, by increasing step. Partial
// directories (interrupted writes) are ignored.
func Checkpoints(runDir string) ([]Checkpoint, error) {
	entries, err := os.ReadDir(runDir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	var out []Checkpoint
	for _, e := range entries {
		m := ckptName.FindStringSubmatch(e.Name())
		if m == nil || !e.IsDir() {
			continue
		}
		step, _ := strconv.Atoi(m[1])
		if _, err := os.Stat(filepath.Join(runDir, e.Name(), stateFile)); err != nil {
			continue
		}
		out = append(out, Checkpoint{Dir: filepath.Join(runDir, e.Name()), Step: step})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Step < out[j].Step })
	return out, nil
}

// saveCheckpoint writes the store's state at st.Step into runDir and keeps the newest keep
// checkpoints (keep ≤ 0 keeps all).
func saveCheckpoint(runDir string, cfg *transformer.Config, store *model.Store, st State, keep int) (string, error) {
	final := filepath.Join(runDir, fmt.Sprintf("%s%07d", ckptPrefix, st.Step))
	tmp := final + ckptTmpSuffix
	if err := os.RemoveAll(tmp); err != nil {
		return "", err
	}
	params := map[string]bool{}
	weights := map[string]*tensors.Tensor{}
	for _, name := range cfg.ParamNames() {
		params["/"+name] = true
		v := store.GetVariable("/" + name)
		if v == nil {
			return "", fmt.Errorf("checkpoint: the store has no parameter %q", name)
		}
		t, err := v.Value()
		if err != nil {
			return "", fmt.Errorf("checkpoint: reading %q: %w", name, err)
		}
		weights[name] = t
	}
	if err := hf.Save(tmp, cfg, weights, nil); err != nil {
		return "", fmt.Errorf("checkpoint: writing the model: %w", err)
	}
	others := map[string]safetensors.Tensor{}
	for v := range store.IterVariables() {
		// Not saved: the parameters (in model.safetensors), the trainer's display metrics (named by a
		// random id per trainer) and the gradient accumulators (zero between steps).
		if p := v.Path(); params[p] || strings.HasPrefix(p, "/metrics/") || strings.HasPrefix(p, "/"+gtrain.AccumulatedGradientsScope+"/") {
			continue
		}
		t, err := v.Value()
		if err != nil {
			return "", fmt.Errorf("checkpoint: reading %q: %w", v.Path(), err)
		}
		st, err := storedTensor(t)
		if err != nil {
			return "", fmt.Errorf("checkpoint: variable %q: %w", v.Path(), err)
		}
		others[v.Path()] = st
	}
	if err := safetensors.Write(filepath.Join(tmp, optimizerFile), others, map[string]string{"content": "sinkscope optimizer state"}); err != nil {
		return "", fmt.Errorf("checkpoint: writing the optimizer state: %w", err)
	}
	b, _ := json.MarshalIndent(st, "", "  ")
	if err := atomicfile.Write(filepath.Join(tmp, stateFile), append(b, '\n')); err != nil {
		return "", err
	}
	if err := os.RemoveAll(final); err != nil {
		return "", err
	}
	if err := os.Rename(tmp, final); err != nil {
		return "", fmt.Errorf("checkpoint: completing %s: %w", final, err)
	}
	if keep > 0 {
		all, err := Checkpoints(runDir)
		if err != nil {
			return final, err
		}
		for i := 0; i < len(all)-keep; i++ {
			if err := os.RemoveAll(all[i].Dir); err != nil {
				return final, err
			}
		}
	}
	return final, nil
}

// ReadState reads a checkpoint's state.json.
func ReadState(ck Checkpoint) (State, error) {
	var st State
	b, err := os.ReadFile(filepath.Join(ck.Dir, stateFile))
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("checkpoint %s: %s is not valid: %w", ck.Dir, stateFile, err)
	}
	return st, nil
}

// loadCheckpoint reads a checkpoint's weights and optimizer state into a fresh store, checking the
// config matches the run's. Any missing, extra, misshaped or unreadable tensor is an error naming it
// and the checkpoint.
func loadCheckpoint(ck Checkpoint, cfg *transformer.Config) (*model.Store, State, error) {
	var st State
	fail := func(format string, args ...any) (*model.Store, State, error) {
		return nil, st, fmt.Errorf("checkpoint %s: %s", ck.Dir, fmt.Sprintf(format, args...))
	}
	st, err := ReadState(ck)
	if err != nil {
		return nil, st, err
	}
	if st.Step != ck.Step {
		return fail("%s says step %d but the directory is step %d", stateFile, st.Step, ck.Step)
	}
	c, err := hf.Load(ck.Dir, nil)
	if err != nil {
		return fail("%v", err)
	}
	if got, want := configKey(c.Config), configKey(cfg); got != want {
		return fail("its config.json does not match this run's model:\n  checkpoint %s\n  run        %s", got, want)
	}
	store := model.NewStore()
	for _, name := range cfg.ParamNames() {
		if _, err := store.CreateVariable("/"+name, c.Weights[name]); err != nil {
			return fail("parameter %q: %v", name, err)
		}
	}
	f, err := safetensors.Open(filepath.Join(ck.Dir, optimizerFile))
	if err != nil {
		return fail("%v", err)
	}
	defer f.Close()
	for _, name := range f.Names() {
		t, err := f.Tensor(name)
		if err != nil {
			return fail("%v", err)
		}
		tt, err := fromStored(t)
		if err != nil {
			return fail("%s: %q: %v", optimizerFile, name, err)
		}
		v, err := store.CreateVariable(name, tt)
		if err != nil {
			return fail("%s: %q: %v", optimizerFile, name, err)
		}
		v.SetTrainable(false)
	}
	return store, st, nil
}

// configKey is a canonical text of the parts of a config that a checkpoint must share with its run:
// the sizes and, resolved to their defaults, the architecture arm (attention kind and its bias,
// HeadNorm with its γ sharing, eps and initialisation, gating, the learnable sink), so that a run
// never resumes, or starts from InitFrom weights, with another arm.
func configKey(c *transformer.Config) string {
	type headNorm struct {
		Shared         bool
		Eps, InitGamma float64
		InitFirstToken bool
	}
	attention, sigmoidBias := c.Attention, false
	if attention == "" {
		attention = transformer.SoftmaxAttention
	}
	if attention == transformer.SigmoidAttention {
		sigmoidBias = c.SigmoidBiasLogN
	}
	var hn *headNorm
	if h := c.HeadNorm; h.Enabled {
		hn = &headNorm{Shared: h.SharedGamma, Eps: h.Epsilon(), InitGamma: h.InitGamma, InitFirstToken: h.InitFirstToken}
		if !h.InitFirstToken && h.InitGamma == 0 {
			hn.InitGamma = 1
		}
	}
	b, _ := json.Marshal(struct {
		Family, MLP, Norm, Position   string
		L, D, H, KV, DH, F, V, MaxLen int
		Attention                     string
		SigmoidBiasLogN               bool
		HeadNorm                      *headNorm
		Gated, SinkKV                 bool
	}{string(c.Family), string(c.MLP), string(c.Norm), string(c.Position), c.NLayers, c.DModel, c.NHeads, c.KVHeads(), c.HeadDim(), c.DMLP, c.VocabSize, c.MaxSeqLen,
		string(attention), sigmoidBias, hn, c.GatedAttention, c.SinkKV})
	return string(b)
}

var storedDTypes = map[dtypes.DType]safetensors.DType{
	dtypes.Float32: safetensors.F32, dtypes.Float64: safetensors.F64, dtypes.BFloat16: safetensors.BF16,
	dtypes.Int64: safetensors.I64, dtypes.Int32: safetensors.I32,
}

// storedTensor copies a GoMLX tensor's bytes (little-endian, row-major) into a safetensors tensor.
func storedTensor(t *tensors.Tensor) (safetensors.Tensor, error) {
	d, ok := storedDTypes[t.DType()]
	if !ok {
		return safetensors.Tensor{}, fmt.Errorf("dtype %s cannot be stored", t.DType())
	}
	var data []byte
	if err := t.ConstBytes(func(b []byte) { data = append([]byte(nil), b...) }); err != nil {
		return safetensors.Tensor{}, err
	}
	dims := t.Shape().Dimensions
	if dims == nil {
		dims = []int{}
	}
	return safetensors.Tensor{DType: d, Shape: append([]int{}, dims...), Data: data}, nil
}

// fromStored is storedTensor's inverse.
func fromStored(s safetensors.Tensor) (*tensors.Tensor, error) {
	for gd, sd := range storedDTypes {
		if sd != s.DType {
			continue
		}
		t := tensors.FromShape(shapes.Make(gd, s.Shape...))
		var err error
		if merr := t.MutableBytes(func(b []byte) {
			if len(b) != len(s.Data) {
				err = fmt.Errorf("%d bytes for shape %v %s, want %d", len(s.Data), s.Shape, gd, len(b))
				return
			}
			copy(b, s.Data)
		}); merr != nil {
			return nil, merr
		}
		return t, err
	}
	return nil, fmt.Errorf("dtype %s is not one of the optimizer state's", s.DType)
}
