package transformer

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/dtypes/bfloat16"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// Model is a transformer with its weights in a GoMLX store, ready to run on a backend.
//
// Runs are compiled once per distinct (captured names, hooks, intervention input names, input shapes)
// and reused: intervention values travel as graph inputs, never as constants baked into a graph.
// SetLayered runs stage by stage instead, with one graph per distinct block shared across layers.
//
// Runs may be called from several goroutines at once: each compiles what it needs outside the
// model's lock (two runs needing different graphs compile them in parallel, and on a GPU one run's
// compiling overlaps another's device work), and calls that change the model (SetParam,
// SetMatmulDType, ShardOver, DropCompiled) wait for the runs in flight.
type Model struct {
	Config  *Config
	Backend compute.Backend
	Store   *model.Store

	// runs is held for reading by every run and for writing by the calls that change what runs
	// compile or read (SetParam, SetMatmulDType, ShardOver, DropCompiled); taken before mu.
	runs     sync.RWMutex
	mu       sync.Mutex            // guards the fields below (not compiles) and the graphs' users counts
	execs    map[string]*runExec   // whole-model graphs (runWhole), by run structure
	stages   map[string]*stageExec // layered runs' stage graphs (runLayered), by stage request
	clock    int                   // counts layered runs (least-recently-used eviction of stages)
	compiles atomic.Int64          // number of graphs built (see Compilations)
	observe  func(RunStat)         // ObserveRuns
	// sharded serialises the runs of a sharded model (ShardOver): one mesh program at a time.
	sharded sync.Mutex
	// layeredFrom: runs that build at least this many blocks go stage by stage (SetLayeredFrom)
	// instead of as one graph of the whole model; 0: none.
	layeredFrom int
	// matmul is the dtype of the forward pass's matrix products (SetMatmulDType): InvalidDType
	// (float32) or BFloat16.
	matmul dtypes.DType
	// shard is set by ShardOver: runs compile for its mesh. nil: one device, unsharded.
	shard *sharding
	// sharedStore marks a model from FromStore, whose store a trainer owns (it cannot be sharded).
	sharedStore bool
}

// New builds a model from weights keyed by canonical name (see Config.ParamShapes). Every expected
// parameter must be present exactly with its shape, float32 or bfloat16; anything missing, extra or
// misshaped is an error that names it. The tensors are owned by the model afterwards.
func New(backend compute.Backend, cfg *Config, weights map[string]*tensors.Tensor) (*Model, error) {
	if backend == nil {
		return nil, fmt.Errorf("transformer.New: nil backend")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	expected := cfg.ParamShapes()
	var problems []string
	for _, name := range sortedKeys(expected) {
		t, ok := weights[name]
		if !ok || t == nil {
			problems = append(problems, fmt.Sprintf("missing parameter %q %v", name, expected[name]))
			continue
		}
		if dt := t.DType(); dt != dtypes.Float32 && dt != dtypes.BFloat16 {
			problems = append(problems, fmt.Sprintf("parameter %q has dtype %s; want float32 or bfloat16", name, dt))
		}
		if !equalDims(t.Shape().Dimensions, expected[name]) {
			problems = append(problems, fmt.Sprintf("parameter %q has shape %v; want %v", name, t.Shape().Dimensions, expected[name]))
		}
	}
	for _, name := range sortedKeys(weights) {
		if _, ok := expected[name]; !ok {
			problems = append(problems, fmt.Sprintf("unexpected parameter %q %v", name, weights[name].Shape().Dimensions))
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("transformer.New: %d problem(s) with the weights: %s", len(problems), strings.Join(problems, "; "))
	}
	store := model.NewStore()
	for _, name := range sortedKeys(expected) {
		if _, err := store.CreateVariable("/"+name, weights[name]); err != nil {
			return nil, fmt.Errorf("storing parameter %q: %w", name, err)
		}
	}
	return &Model{Config: cfg, Backend: backend, Store: store, execs: make(map[string]*runExec), stages: make(map[string]*stageExec)}, nil
}

// RandomInit describes a random initialisation: every matrix ~ N(0, Std²), residual output
// projections (attn/o, mlp/down) ~ N(0, ResidualStd²) when ResidualStd > 0, norm scales 1, biases 0,
// sink keys and values 0, HeadNorm γ as HeadNormConfig says.
type RandomInit struct {
	Seed        uint64
	Std         float64 // default 0.02
	ResidualStd float64 // 0: same as Std. nanoGPT/the paper: 0.02/√(2L)
}

// NewRandom builds a randomly initialised model (for the theory at initialisation and for training).
// The same seed always gives the same weights, whatever the backend.
func NewRandom(backend compute.Backend, cfg *Config, init RandomInit) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	weights := RandomWeights(cfg, init)
	return New(backend, cfg, weights)
}

// RandomWeights returns float32 weights drawn as RandomInit describes.
//
// With HeadNorm.InitFirstToken, γ is then set per layer from that layer's freshly drawn weights, as
// the paper prescribes ("the std of the first token's aggregated output at random init, measured by
// a dummy forward of N(0, 1) input"). Under the causal mask the first token attends only to itself,
// so its aggregated output (hook_z at position 0) is its own value vector:
//
//	x  ~ N(0, I_D)                      one dummy token per layer, from its own seeded stream
//	x̂  = ln1(x)                         the layer's input norm with its initial scale (and bias)
//	v₀ = W_V·x̂ + b_V                    [KV·dh], head h reads key/value head h/(H/KV)
//	γ  = std(v₀ of head h)              per-head γ: row h of [H, dh] filled with it
//	γ  = std(v₀ of all heads)           shared γ: all dh entries
//
// std is the population standard deviation (mean subtracted, divided by the count), like torch's
// std(unbiased=False) in the authors' code. Shared γ pools the H·dh entries of all heads (the
// authors' code averages the per-head stds instead; the two agree to O(1/√(H·dh)) at random init).
// The dummy input has its own random stream seeded by init.Seed, so every other weight is drawn
// exactly as without InitFirstToken.
func RandomWeights(cfg *Config, init RandomInit) map[string]*tensors.Tensor {
	std := init.Std
	if std == 0 {
		std = 0.02
	}
	rstd := init.ResidualStd
	if rstd == 0 {
		rstd = std
	}
	rng := rand.New(rand.NewPCG(init.Seed, 0x5eed5))
	gamma := cfg.HeadNorm.InitGamma
	if gamma == 0 {
		gamma = 1
	}
	out := make(map[string]*tensors.Tensor)
	shapes := cfg.ParamShapes()
	for _, name := range sortedKeys(shapes) { // sorted: the draw order is stable
		dims := shapes[name]
		n := 1
		for _, d := range dims {
			n *= d
		}
		data := make([]float32, n)
		switch {
		case strings.HasSuffix(name, "head_norm/scale"):
			fill(data, float32(gamma))
		case strings.HasSuffix(name, "/scale"):
			fill(data, 1)
		case strings.HasSuffix(name, "/bias"), strings.HasSuffix(name, "attn/sink/key"), strings.HasSuffix(name, "attn/sink/value"):
			// zeros
		default:
			s := std
			if strings.HasSuffix(name, "attn/o/weights") || strings.HasSuffix(name, "mlp/down/weights") {
				s = rstd
			}
			for i := range data {
				data[i] = float32(rng.NormFloat64() * s)
			}
		}
		out[name] = tensors.FromFlatDataAndDimensions(data, dims...)
	}
	if cfg.HeadNorm.Enabled && cfg.HeadNorm.InitFirstToken {
		gammas, err := FirstTokenGamma(cfg, out, init.Seed)
		if err != nil {
			panic(err) // unreachable: out holds every parameter of cfg
		}
		for l, g := range gammas {
			name := fmt.Sprintf("blocks/%d/attn/head_norm/scale", l)
			out[name] = tensors.FromFlatDataAndDimensions(g, shapes[name]...)
		}
	}
	return out
}

// firstTokenStream names the random stream of FirstTokenGamma's dummy inputs (the weights use
// 0x5eed5).
const firstTokenStream = 0xf125700

// FirstTokenInputs returns the dummy first tokens x ~ N(0, I_D) of FirstTokenGamma, one [D] vector
// per layer, for a seed.
func FirstTokenInputs(cfg *Config, seed uint64) [][]float64 {
	rng := rand.New(rand.NewPCG(seed, firstTokenStream))
	xs := make([][]float64, cfg.NLayers)
	for l := range xs {
		xs[l] = make([]float64, cfg.DModel)
		for i := range xs[l] {
			xs[l][i] = rng.NormFloat64()
		}
	}
	return xs
}

// FirstTokenGamma computes the paper's initial HeadNorm γ of every layer from the weights (see
// RandomWeights for the definition) with the dummy inputs FirstTokenInputs(cfg, seed): one flat
// []float32 per layer, shaped like blocks/{L}/attn/head_norm/scale. It reads ln1 and attn/v of
// each layer from weights (float32 or bfloat16, shapes as cfg.ParamShapes); sums are float64.
func FirstTokenGamma(cfg *Config, weights map[string]*tensors.Tensor, seed uint64) ([][]float32, error) {
	D, H, KV, dh := cfg.DModel, cfg.NHeads, cfg.KVHeads(), cfg.HeadDim()
	shapes := cfg.ParamShapes()
	vals := map[string][]float32{}
	for l := 0; l < cfg.NLayers; l++ {
		for _, name := range []string{"ln1/scale", "ln1/bias", "attn/v/weights", "attn/v/bias"} {
			name = fmt.Sprintf("blocks/%d/%s", l, name)
			want, ok := shapes[name]
			if !ok {
				continue // no such parameter in this config (biases)
			}
			t := weights[name]
			if t == nil || !equalDims(t.Shape().Dimensions, want) {
				return nil, fmt.Errorf("FirstTokenGamma: parameter %q %v is missing or misshaped", name, want)
			}
			v, err := toFloat32(t)
			if err != nil {
				return nil, fmt.Errorf("FirstTokenGamma: parameter %q: %w", name, err)
			}
			vals[name] = v
		}
	}
	flat := func(name string) []float32 { return vals[name] }
	xs := FirstTokenInputs(cfg, seed)
	gammas := make([][]float32, cfg.NLayers)
	for l := range gammas {
		b := fmt.Sprintf("blocks/%d/", l)
		x := xs[l] // [D]
		// x̂ = ln1(x) with the layer's (initial) norm parameters.
		scale := flat(b + "ln1/scale")
		xn := make([]float64, D)
		if cfg.Norm == LayerNorm {
			bias := flat(b + "ln1/bias")
			mean, variance := meanVar(x)
			for i := range x {
				xn[i] = (x[i]-mean)/math.Sqrt(variance+cfg.NormEps)*float64(scale[i]) + float64(bias[i])
			}
		} else {
			ms := 0.0
			for _, v := range x {
				ms += v * v
			}
			ms /= float64(D)
			for i := range x {
				xn[i] = x[i] / math.Sqrt(ms+cfg.NormEps) * float64(scale[i])
			}
		}
		// v₀ = W_V·x̂ (+ b_V): W_V is [KV·dh, D].
		wv := flat(b + "attn/v/weights")
		var bv []float32
		if cfg.QKVBias {
			bv = flat(b + "attn/v/bias")
		}
		v0 := make([]float64, KV*dh)
		for o := range v0 {
			s := 0.0
			for i, xi := range xn {
				s += float64(wv[o*D+i]) * xi
			}
			if bv != nil {
				s += float64(bv[o])
			}
			v0[o] = s
		}
		if cfg.HeadNorm.SharedGamma {
			// All heads: H/KV copies of each key/value head, so the same mean and variance as v₀.
			_, variance := meanVar(v0)
			g := make([]float32, dh)
			fill(g, float32(math.Sqrt(variance)))
			gammas[l] = g
			continue
		}
		g := make([]float32, H*dh)
		for h := 0; h < H; h++ {
			kv := h / (H / KV)
			_, variance := meanVar(v0[kv*dh : (kv+1)*dh])
			fill(g[h*dh:(h+1)*dh], float32(math.Sqrt(variance)))
		}
		gammas[l] = g
	}
	return gammas, nil
}

// meanVar is the mean and the population variance of x.
func meanVar(x []float64) (mean, variance float64) {
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	for _, v := range x {
		variance += (v - mean) * (v - mean)
	}
	return mean, variance / float64(len(x))
}

func fill(x []float32, v float32) {
	for i := range x {
		x[i] = v
	}
}

func equalDims(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// paramValue is the tensor of a parameter in the store.
func (m *Model) paramValue(name string) (*tensors.Tensor, error) {
	v := m.Store.GetVariable("/" + name)
	if v == nil {
		return nil, fmt.Errorf("no parameter %q (parameters are named like %q)", name, "blocks/0/attn/q/weights")
	}
	t, err := v.Value()
	if err != nil {
		return nil, fmt.Errorf("reading parameter %q: %w", name, err)
	}
	return t, nil
}

// Param returns a copy of a parameter's values as float32, with its shape.
func (m *Model) Param(name string) ([]float32, []int, error) {
	t, err := m.paramValue(name)
	if err != nil {
		return nil, nil, err
	}
	dims := append([]int(nil), t.Shape().Dimensions...)
	if t.DType() == dtypes.Float32 {
		return tensors.MustCopyFlatData[float32](t), dims, nil
	}
	f, err := toFloat32(t)
	return f, dims, err
}

// ParamColumn returns column j of a 2-D parameter [rows, cols] as float32, reading only that
// column (e.g. the residual dimensions one FFN neuron writes, a column of W_down [d, f]): copying a
// whole 7B-model weight to read one column costs a second per layer.
func (m *Model) ParamColumn(name string, j int) ([]float32, error) {
	t, err := m.paramValue(name)
	if err != nil {
		return nil, err
	}
	dims := t.Shape().Dimensions
	if len(dims) != 2 {
		return nil, fmt.Errorf("parameter %q has shape %v: a column needs a matrix", name, dims)
	}
	rows, cols := dims[0], dims[1]
	if j < 0 || j >= cols {
		return nil, fmt.Errorf("column %d of parameter %q %v is outside 0..%d", j, name, dims, cols-1)
	}
	out := make([]float32, rows)
	var bad any
	t.ConstFlatData(func(flat any) {
		switch f := flat.(type) {
		case []float32:
			for i := range out {
				out[i] = f[i*cols+j]
			}
		case []bfloat16.BFloat16:
			for i := range out {
				out[i] = f[i*cols+j].Float32()
			}
		default:
			bad = flat
		}
	})
	if bad != nil {
		return nil, fmt.Errorf("parameter %q: cannot read Go type %T as float32", name, bad)
	}
	return out, nil
}

// SetParam replaces a parameter's values (same shape). Use it to edit weights, e.g. to plant or
// remove a neuron; the next run uses the new values in the graphs already compiled.
func (m *Model) SetParam(name string, data []float32) error {
	v := m.Store.GetVariable("/" + name)
	if v == nil {
		return fmt.Errorf("no parameter %q", name)
	}
	dims := v.Shape().Dimensions
	n := 1
	for _, d := range dims {
		n *= d
	}
	if len(data) != n {
		return fmt.Errorf("SetParam %q: got %d values, want %d for shape %v", name, len(data), n, dims)
	}
	for i, x := range data {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return fmt.Errorf("SetParam %q: value %d is %v", name, i, x)
		}
	}
	t := tensors.FromFlatDataAndDimensions(append([]float32(nil), data...), dims...)
	m.runs.Lock() // no run in flight reads the old value
	defer m.runs.Unlock()
	if v.DType() != dtypes.Float32 {
		return fmt.Errorf("SetParam %q: parameter is %s; only float32 parameters can be edited", name, v.DType())
	}
	if err := v.SetValue(t); err != nil {
		return fmt.Errorf("SetParam %q: %w", name, err)
	}
	// Compiled graphs read the weights as parameters (see newExec): the next run uses the new
	// values without recompiling.
	return nil
}

func toFloat32(t *tensors.Tensor) ([]float32, error) {
	switch t.DType() {
	case dtypes.Float32:
		return tensors.MustCopyFlatData[float32](t), nil
	case dtypes.BFloat16:
		var out []float32
		t.ConstFlatData(func(flat any) {
			out = bf16SliceToFloat32(flat)
		})
		if out == nil {
			return nil, fmt.Errorf("cannot read bfloat16 tensor of Go type %T", t)
		}
		return out, nil
	}
	return nil, fmt.Errorf("cannot convert %s to float32", t.DType())
}

func bf16SliceToFloat32(flat any) []float32 {
	s, ok := flat.([]bfloat16.BFloat16)
	if !ok {
		return nil
	}
	out := make([]float32, len(s))
	for i, v := range s {
		out[i] = v.Float32()
	}
	return out
}

// SetMatmulDType sets the dtype of the forward pass's matrix products for every later run:
// dtypes.Float32 (the default: float32 products at full precision, no TF32) or dtypes.BFloat16
// (bfloat16 operands and results with float32 accumulation inside each product, as PyTorch's bf16
// autocast or a bf16 checkpoint run by transformers: on a GPU the products can use its bfloat16
// units, whose peak is an order of magnitude above float32's on an H200). Everything else stays
// float32: the residual stream, norms, RoPE, softmax, every captured activation (each product's
// bfloat16 result widened back) and every statistic.
// Activations then differ from the float32 run by bfloat16 rounding of each product (relative
// ~2⁻⁸); say so wherever the numbers are reported. Changing it drops the compiled graphs.
func (m *Model) SetMatmulDType(dt dtypes.DType) error {
	switch dt {
	case dtypes.Float32, dtypes.InvalidDType:
		dt = dtypes.InvalidDType
	case dtypes.BFloat16:
	default:
		return fmt.Errorf("SetMatmulDType(%s): matrix products run in float32 or bfloat16", dt)
	}
	m.runs.Lock() // no run in flight builds with the old dtype
	defer m.runs.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.matmul != dt {
		m.dropCompiled()
		m.matmul = dt
	}
	return nil
}

// MatmulDType is the dtype of the forward pass's matrix products (SetMatmulDType): Float32 or
// BFloat16.
func (m *Model) MatmulDType() dtypes.DType {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.matmul == dtypes.InvalidDType {
		return dtypes.Float32
	}
	return m.matmul
}
