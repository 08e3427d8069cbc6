package transformer

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
)

// Hook replaces the activation at one or more hook points while the graph is built.
//
// Fn receives the activation node and returns a node of the same shape. Intervention values (a scale
// λ, a target position, …) must come from ctx.Input, which reads a graph input given with WithInput:
// then a sweep over values runs one compiled graph. A Go value captured in Fn's closure is baked into
// the graph as a constant.
//
// ID names the hook for graph reuse: runs whose hooks have the same IDs (and the same captured names,
// input names and input shapes) share one compiled graph, so a hook's graph must depend only on its ID.
// An empty ID never shares: the graph is built for that run alone.
type Hook struct {
	Point string // exact hook name or glob pattern, e.g. "blocks.*.attn.hook_z"
	ID    string
	Fn    func(ctx *HookContext, x *Node) *Node
}

// HookContext tells a hook function where it runs and gives it the run's intervention inputs.
type HookContext struct {
	Name   string // full hook name, e.g. "blocks.1.attn.hook_z"
	Layer  int    // the block index, −1 outside the blocks
	Config *Config
	pass   *pass
}

// Graph returns the graph being built.
func (h *HookContext) Graph() *Graph { return h.pass.g }

// Input returns the graph input named with WithInput (float32). Building fails with an error naming
// the hook and the inputs that exist if there is no such input.
func (h *HookContext) Input(name string) *Node {
	n, ok := h.pass.inputs[name]
	if !ok {
		exceptions.Panicf("hook at %s asks for input %q, but the run has inputs %v (give it with transformer.WithInput)", h.Name, name, sortedKeys(h.pass.inputs))
	}
	return n
}

// HasInput reports whether the run has an input of that name.
func (h *HookContext) HasInput(name string) bool {
	_, ok := h.pass.inputs[name]
	return ok
}

// Option configures a run.
type Option func(*runConfig) error

type runConfig struct {
	capture  Names
	hooks    []Hook
	reduce   []Reduction
	inputs   map[string]*tensors.Tensor
	mask     *tensors.Tensor
	noLogits bool
	bf16     bool // captures leave the device in bfloat16 (CaptureInBF16)
	compiled *int // CountCompiled
}

// Capture selects hook points to materialise in the run's Cache, by name or glob. Only selected points
// leave the device, so it is the memory valve for big models.
func Capture(patterns ...string) Option {
	return func(r *runConfig) error {
		r.capture = append(r.capture, patterns...)
		return nil
	}
}

// WithHooks applies hook functions during the run.
func WithHooks(hooks ...Hook) Option {
	return func(r *runConfig) error {
		for _, h := range hooks {
			if h.Fn == nil {
				return fmt.Errorf("hook %q at %q has no function", h.ID, h.Point)
			}
			if h.Point == "" {
				return fmt.Errorf("hook %q has no hook point", h.ID)
			}
		}
		r.hooks = append(r.hooks, hooks...)
		return nil
	}
}

// Reduction is a statistic computed inside the compiled graph at a hook point: Fn maps the hook's
// activation (after any hooks there, converted to float32) to one or more tensors, and only those
// leave the device, not the activation: a statistic of every layer's attention pattern of a
// 32-layer model over 20 × 64 tokens is kilobytes where the patterns are 335 MB. Outputs come back
// as float32 (Activation.Data), except float64 ones, which stay float64 (Activation.Data64) for
// statistics that float32 would spoil. Per-sample outputs (a leading batch axis) let callers drop
// padded rows.
//
// ID names the outputs (Result.Reduced[ID][hook name]) and keys graph reuse like Hook.ID: a
// reduction's graph must depend only on its ID and the input shapes. One ID may be given at several
// hook points (one Reduction each, e.g. a few chosen layers), never twice at the same one; stage by
// stage (SetLayered), blocks whose hook points ask for the same IDs share one compiled graph.
type Reduction struct {
	Point string // exact hook name or glob pattern, e.g. "blocks.*.attn.hook_pattern"
	ID    string
	Fn    func(ctx *HookContext, x *Node) []*Node
}

// Reduce adds reductions to a run (see Reduction).
func Reduce(rs ...Reduction) Option {
	return func(r *runConfig) error {
		for _, x := range rs {
			switch {
			case x.Fn == nil:
				return fmt.Errorf("reduction %q at %q has no function", x.ID, x.Point)
			case x.Point == "":
				return fmt.Errorf("reduction %q has no hook point", x.ID)
			case x.ID == "":
				return fmt.Errorf("reduction at %q has no ID (it names the outputs)", x.Point)
			case strings.ContainsAny(x.ID, ";|="):
				return fmt.Errorf("reduction ID %q may not contain ; | or =", x.ID)
			}
		}
		r.reduce = append(r.reduce, rs...)
		return nil
	}
}

// WithInput feeds a named float32 value to the graph (a scalar, a []float32 or a *tensors.Tensor),
// read by hooks through HookContext.Input. Changing the value does not recompile; changing its shape does.
func WithInput(name string, value any) Option {
	return func(r *runConfig) error {
		if name == "" {
			return fmt.Errorf("WithInput: empty name")
		}
		var t *tensors.Tensor
		switch v := value.(type) {
		case float32:
			t = tensors.FromScalar(v)
		case float64:
			t = tensors.FromScalar(float32(v))
		case int:
			t = tensors.FromScalar(float32(v))
		case []float32:
			t = tensors.FromFlatDataAndDimensions(append([]float32(nil), v...), len(v))
		case *tensors.Tensor:
			if v.DType() != dtypes.Float32 {
				return fmt.Errorf("WithInput %q: tensor dtype %s, want float32", name, v.DType())
			}
			t = v
		default:
			return fmt.Errorf("WithInput %q: unsupported value type %T (float32, float64, int, []float32, *tensors.Tensor)", name, value)
		}
		if r.inputs == nil {
			r.inputs = make(map[string]*tensors.Tensor)
		}
		r.inputs[name] = t
		return nil
	}
}

// WithAttentionMask adds a custom additive mask to the attention scores of every layer before the
// causal mask: data has shape [T, T] (the same for all layers) or [L, T, T] (one per layer), row =
// query, column = key. Use 0 to leave an entry alone and −Inf to forbid it; e.g. isolating token t
// means row t is −Inf except at column t. A SinkKV model's learnable sink is not a column of the
// mask: it stays visible to every query. The mask is a graph input: changing it does not recompile.
func WithAttentionMask(data []float32, dims ...int) Option {
	return func(r *runConfig) error {
		if len(dims) != 2 && len(dims) != 3 {
			return fmt.Errorf("attention mask must be [T, T] or [L, T, T], got dims %v", dims)
		}
		n := 1
		for _, d := range dims {
			if d <= 0 {
				return fmt.Errorf("attention mask dims %v must be positive", dims)
			}
			n *= d
		}
		if len(data) != n {
			return fmt.Errorf("attention mask has %d values, want %d for dims %v", len(data), n, dims)
		}
		for i, v := range data {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 1) {
				return fmt.Errorf("attention mask value %d is %v (only finite values and -Inf are allowed)", i, v)
			}
		}
		r.mask = tensors.FromFlatDataAndDimensions(append([]float32(nil), data...), dims...)
		return nil
	}
}

// CaptureInBF16 moves the captured activations off the device in bfloat16, half the bytes of
// float32, for runs bound by device-to-host copies (full capture of a large model on a GPU). Each
// captured value is rounded to bfloat16 (8 significant bits, relative error ≤ 2⁻⁹) in the graph and
// widened back to float32 on the host, so the Activation holds rounded values and says so
// (Activation.Rounded is "bfloat16"). The forward pass itself, the logits and every reduction
// (Reduce) stay float32; a run without this option returns exact float32 activations. On the
// pure-Go backend, where nothing crosses a bus, it only adds the two conversions (slower).
func CaptureInBF16() Option {
	return func(r *runConfig) error {
		r.bf16 = true
		return nil
	}
}

// CountCompiled adds to *n the number of graphs built and compiled for the run (RunStat.Compiled):
// a count of one caller's runs that runs from other goroutines do not disturb, as they do a
// difference of Model.Compilations (a graph two runs waited for counts for one of them).
func CountCompiled(n *int) Option {
	return func(r *runConfig) error {
		if n == nil {
			return fmt.Errorf("CountCompiled: nil counter")
		}
		r.compiled = n
		return nil
	}
}

// NoLogits skips the unembedding: the Result has no logits (useful when only the cache is needed).
func NoLogits() Option {
	return func(r *runConfig) error {
		r.noLogits = true
		return nil
	}
}

// Result is the output of a run.
type Result struct {
	Logits *Activation // [b, p, v]; nil with NoLogits
	Cache  *Cache
	// Reduced holds the outputs of the run's reductions: Reduced[ID][hook name][i] is output i of
	// reduction ID at that hook point (the shape Fn gave it; float32 in Data, or float64 in Data64).
	Reduced map[string]map[string][]*Activation
}

// Run runs the model on a batch of token sequences of equal length. BOS is not added: put it in
// tokens yourself if you want it.
func (m *Model) Run(tokens [][]int, opts ...Option) (*Result, error) {
	started := time.Now()
	rc := &runConfig{}
	for _, o := range opts {
		if err := o(rc); err != nil {
			return nil, err
		}
	}
	tok, err := m.tokensTensor(tokens)
	if err != nil {
		return nil, err
	}
	B, T := len(tokens), len(tokens[0])
	captureNames, err := rc.capture.Resolve(m.Config)
	if err != nil {
		return nil, err
	}
	hookMap := make(map[string][]Hook)
	for _, h := range rc.hooks {
		names, err := Names{h.Point}.Resolve(m.Config)
		if err != nil {
			return nil, fmt.Errorf("hook %q: %w", h.ID, err)
		}
		for _, n := range names {
			hookMap[n] = append(hookMap[n], h)
		}
	}
	reduceMap := make(map[string][]Reduction)
	seenAt := make(map[string]bool) // "ID@hook name"
	for _, r := range rc.reduce {
		names, err := Names{r.Point}.Resolve(m.Config)
		if err != nil {
			return nil, fmt.Errorf("reduction %q: %w", r.ID, err)
		}
		for _, n := range names {
			if seenAt[r.ID+"@"+n] {
				return nil, fmt.Errorf("reduction ID %q is given twice at %s", r.ID, n)
			}
			seenAt[r.ID+"@"+n] = true
			reduceMap[n] = append(reduceMap[n], r)
		}
	}
	if rc.mask != nil {
		d := rc.mask.Shape().Dimensions
		ok := (len(d) == 2 && d[0] == T && d[1] == T) || (len(d) == 3 && d[0] == m.Config.NLayers && d[1] == T && d[2] == T)
		if !ok {
			return nil, fmt.Errorf("attention mask dims %v do not fit %d tokens and %d layers (want [%d %d] or [%d %d %d])", d, T, m.Config.NLayers, T, T, m.Config.NLayers, T, T)
		}
	}
	pl := &runPlan{B: B, T: T, tok: tok, capture: captureNames, hooks: hookMap, reduce: reduceMap,
		inputNames: sortedKeys(rc.inputs), inputs: rc.inputs, mask: rc.mask, noLogits: rc.noLogits, bf16: rc.bf16,
		stat: RunStat{Batch: B, SeqLen: T, Started: started}}
	m.runs.RLock() // see Model: runs in flight hold it for reading
	defer m.runs.RUnlock()
	m.mu.Lock()
	observe, layeredFrom, sharded := m.observe, m.layeredFrom, m.shard != nil
	m.mu.Unlock()
	if sharded {
		m.sharded.Lock()
		defer m.sharded.Unlock()
	}
	var res *Result
	if pl.blocks = blocksNeeded(m.Config, pl.capture, pl.hooks, pl.reduce, pl.noLogits); layeredFrom > 0 && pl.blocks >= layeredFrom && !sharded {
		res, err = m.runLayered(pl)
	} else {
		res, err = m.runWhole(pl)
	}
	if rc.compiled != nil {
		*rc.compiled += pl.stat.Compiled
	}
	if observe != nil && err == nil {
		observe(pl.stat)
	}
	return res, err
}

// RunStat is where one Run's time went, for profiling a workflow (ObserveRuns). The device call
// returns once the work is queued, so CallSeconds is building and compiling graphs (when Compiled
// > 0), uploading weights the device does not hold yet, and launching; the device's own execution
// is mostly inside CopySeconds, which waits for the outputs and copies them to the host.
type RunStat struct {
	Batch, SeqLen int
	Started       time.Time // when Run was called
	// Compiled is the number of graphs built and compiled for this run: each build is counted once
	// over all runs, and with runs in flight at once it may be counted by another run calling the
	// same graph.
	Compiled    int
	Calls       int     // compiled graphs executed (1, or one per stage when layered)
	CallSeconds float64 // in the device calls
	CopySeconds float64 // reading the outputs to the host
	ToHostBytes int64   // size of the outputs read
}

// ObserveRuns calls fn after every successful Run (and so every RunWithCache, RunWithHooks, …)
// with where its time went; nil stops it. fn must not call the model, and must be safe to call from
// several goroutines when runs are.
func (m *Model) ObserveRuns(fn func(RunStat)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.observe = fn
}

// buildCount counts the graphs built for one Exec (one per input shape) and which runs have
// counted them: a graph built while two runs waited for it is counted once, by one of them.
type buildCount struct{ built, counted atomic.Int64 }

// add records a graph build (the graph function calls it).
func (b *buildCount) add() { b.built.Add(1) }

// claim returns the builds no run has counted yet and marks them counted.
func (b *buildCount) claim() int {
	for {
		c, n := b.counted.Load(), b.built.Load()
		if n == c {
			return 0
		}
		if b.counted.CompareAndSwap(c, n) {
			return int(n - c)
		}
	}
}

// timedCall runs a compiled graph and adds its time to the plan's statistics, and the graphs built
// for the call that no other run has counted to its compilations.
func (pl *runPlan) timedCall(builds *buildCount, call func() ([]*tensors.Tensor, error)) ([]*tensors.Tensor, error) {
	start := time.Now()
	outs, err := call()
	pl.stat.Compiled += builds.claim()
	pl.stat.Calls++
	pl.stat.CallSeconds += time.Since(start).Seconds()
	return outs, err
}

// timedCollect reads a graph's outputs into res (Result.collect) and adds its time and bytes to the
// plan's statistics.
func (pl *runPlan) timedCollect(res *Result, cfg *Config, outs []*tensors.Tensor, capture []string, withLogits bool, slots []reducedSlot, name func(string) string) error {
	start := time.Now()
	err := res.collect(cfg, outs, capture, withLogits, slots, name, pl.bf16)
	pl.stat.CopySeconds += time.Since(start).Seconds()
	for _, o := range outs {
		pl.stat.ToHostBytes += int64(o.Shape().Memory())
	}
	return err
}

// runPlan is a validated run: the batch, the resolved hook names and what each asks for.
type runPlan struct {
	B, T       int
	tok        *tensors.Tensor // int32 [b, p]
	capture    []string        // exact hook names, in forward order
	hooks      map[string][]Hook
	reduce     map[string][]Reduction
	inputNames []string // sorted
	inputs     map[string]*tensors.Tensor
	mask       *tensors.Tensor // [T, T] or [L, T, T], nil if none
	noLogits   bool
	bf16       bool
	blocks     int     // the blocks the run builds (blocksNeeded)
	stat       RunStat // filled as the plan runs
}

// runWhole runs the plan as one graph of the whole model (the default; see SetLayered).
func (m *Model) runWhole(pl *runPlan) (*Result, error) {
	// The compiled-graph key: everything that changes the graph's structure except input shapes,
	// which the Exec keys on by itself.
	key := fmt.Sprintf("capture=%s|bf16=%v|inputs=%s|mask=%v|nologits=%v|hooks=", strings.Join(pl.capture, ","), pl.bf16, strings.Join(pl.inputNames, ","), pl.mask != nil, pl.noLogits)
	shareable := true
	for _, n := range sortedKeys(pl.hooks) {
		for _, h := range pl.hooks[n] {
			if h.ID == "" {
				shareable = false
			}
			key += n + "=" + h.ID + ";"
		}
	}
	key += "|reduce="
	for _, n := range sortedKeys(pl.reduce) {
		for _, r := range pl.reduce[n] {
			key += n + "=" + r.ID + ";"
		}
	}

	m.mu.Lock()
	exec := m.execs[key]
	if exec == nil {
		var err error
		// The graph is built and compiled at its first call, outside the lock.
		if exec, err = m.newExec(pl.capture, pl.hooks, pl.reduce, pl.inputNames, pl.mask != nil, pl.noLogits, pl.bf16); err != nil {
			m.mu.Unlock()
			return nil, err
		}
		if shareable {
			// Bound the compiled graphs kept (each holds device memory); graphs in another run's
			// hands stay.
			for k, e := range m.execs {
				if len(m.execs) < maxExecs {
					break
				}
				if e.users == 0 {
					e.Finalize()
					delete(m.execs, k)
				}
			}
			m.execs[key] = exec
		} else {
			defer exec.Finalize()
		}
	}
	exec.users++
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		exec.users--
		m.mu.Unlock()
	}()
	args := []any{pl.tok}
	if m.shard == nil {
		// The graph reads the weights from the store; the first run to need one copies it to the
		// device, under m.mu, as stage by stage (onDevice).
		var params []string
		for _, st := range runStages(m.Config, pl) {
			params = append(params, stageParams(m.Config, st)...)
		}
		inputs, err := m.onDevice(params, pl.inputs, pl.inputNames)
		if err != nil {
			return nil, err
		}
		args = append(args, inputs[len(params):]...)
	} else {
		for _, n := range pl.inputNames {
			args = append(args, pl.inputs[n])
		}
	}
	if pl.mask != nil {
		args = append(args, pl.mask)
	}
	outs, err := pl.timedCall(&exec.builds, func() ([]*tensors.Tensor, error) {
		if m.shard != nil { // ShardOver(n) sets it for n ≥ 2 only
			return m.shard.call(exec, args)
		}
		return callExec(exec.Exec, args)
	})
	if err != nil {
		return nil, fmt.Errorf("running the model on tokens [%d %d]: %w", pl.B, pl.T, err)
	}
	defer func() {
		for _, o := range outs {
			o.FinalizeAll()
		}
	}()
	res := newResult(m.Config)
	if err := pl.timedCollect(res, m.Config, outs, pl.capture, !pl.noLogits, exec.layout.get(), func(s string) string { return s }); err != nil {
		return nil, err
	}
	return res, nil
}

func newResult(cfg *Config) *Result {
	return &Result{Cache: &Cache{cfg: cfg, acts: make(map[string]*Activation)}}
}

// collect reads a graph's outputs into the result: the captures (named by capture), the logits if
// withLogits, then the reductions' outputs as slots lays them out, each slot's hook named by
// name(slot.hook). The caller frees outs.
func (res *Result) collect(cfg *Config, outs []*tensors.Tensor, capture []string, withLogits bool, slots []reducedSlot, name func(string) string, bf16 bool) error {
	want := len(capture)
	if withLogits {
		want++
	}
	for _, s := range slots {
		want += s.n
	}
	if len(outs) != want {
		return fmt.Errorf("the run returned %d outputs, want %d (%d captures, logits %v, %d reductions)", len(outs), want, len(capture), withLogits, len(slots))
	}
	// Every output is read to the host at once (readOutputs), then filed by name.
	label := func(i int) string { // output i's name, for errors
		if i < len(capture) {
			return capture[i]
		}
		if i -= len(capture); withLogits && i == 0 {
			return "logits"
		} else if withLogits {
			i--
		}
		for _, slot := range slots {
			if i < slot.n {
				return fmt.Sprintf("reduction %q at %s, output %d", slot.id, name(slot.hook), i)
			}
			i -= slot.n
		}
		return "an output"
	}
	acts, err := readOutputs(outs, label)
	if err != nil {
		return err
	}
	named := func(a *Activation, name string) *Activation {
		a.Name = name
		if hp, ok := cfg.HookPointByName(name); ok {
			a.Dims = hp.Dims
		}
		return a
	}
	for i, n := range capture {
		a := named(acts[i], n)
		if bf16 {
			a.Rounded = "bfloat16"
		}
		res.Cache.acts[n] = a
	}
	next := len(capture)
	if withLogits {
		res.Logits = named(acts[next], "logits")
		next++
	}
	for _, slot := range slots {
		if res.Reduced == nil {
			res.Reduced = make(map[string]map[string][]*Activation)
		}
		byHook := res.Reduced[slot.id]
		if byHook == nil {
			byHook = make(map[string][]*Activation)
			res.Reduced[slot.id] = byHook
		}
		hook := name(slot.hook)
		for i := 0; i < slot.n; i++ {
			a := acts[next] // the reduction's own shape, no hook dims
			a.Name = hook
			next++
			byHook[hook] = append(byHook[hook], a)
		}
	}
	return nil
}

// readWorkers bounds the outputs read to the host at the same time.
const readWorkers = 8

// readOutputs reads a run's outputs to the host, several at once: on a GPU each read waits for its
// device-to-host copy, and reading them one after another leaves the bus idle between copies.
// Float64 outputs stay float64 (Activation.Data64), the others become float32 (Data). label names
// output i in errors.
func readOutputs(outs []*tensors.Tensor, label func(i int) string) ([]*Activation, error) {
	acts := make([]*Activation, len(outs))
	errs := make([]error, len(outs))
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(readWorkers, len(outs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				t := outs[i]
				a := &Activation{Shape: append([]int(nil), t.Shape().Dimensions...)}
				if t.DType() == dtypes.Float64 {
					a.Data64, errs[i] = tensors.CopyFlatData[float64](t)
				} else {
					a.Data, errs[i] = hostFloat32(t)
				}
				acts[i] = a
			}
		}()
	}
	for i := range outs {
		work <- i
	}
	close(work)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("reading %s (%s): %w", label(i), outs[i].Shape(), err)
		}
	}
	return acts, nil
}

// hostFloat32 copies an output to a new float32 Go slice. A float32 output held on the device only
// is read straight into the slice, one copy: tensors.CopyFlatData would fill the tensor's own host
// copy first and then copy that.
func hostFloat32(t *tensors.Tensor) ([]float32, error) {
	if t.DType() == dtypes.Float32 && !t.IsLocal() && t.IsOnAnyDevice() {
		if be, err := t.Backend(); err == nil {
			if dev, err := t.Device(); err == nil {
				if buf, err := t.Buffer(be, dev); err == nil {
					out := make([]float32, t.Size())
					if err := buf.ToFlatData(out); err != nil {
						return nil, err
					}
					return out, nil
				}
			}
		}
	}
	return toFloat32(t)
}

// maxExecs bounds the number of distinct run structures whose compiled graphs a model keeps.
const maxExecs = 32

// RunWithCache runs the model and captures the hook points selected by names (exact or glob).
func (m *Model) RunWithCache(tokens [][]int, names ...string) (*Cache, error) {
	if len(names) == 0 {
		return nil, fmt.Errorf("RunWithCache: give at least one hook name or pattern (\"*\" captures everything)")
	}
	res, err := m.Run(tokens, Capture(names...), NoLogits())
	if err != nil {
		return nil, err
	}
	return res.Cache, nil
}

// RunWithHooks runs the model with hook functions applied and returns the logits [b, p, v].
func (m *Model) RunWithHooks(tokens [][]int, hooks ...Hook) (*Activation, error) {
	res, err := m.Run(tokens, WithHooks(hooks...))
	if err != nil {
		return nil, err
	}
	return res.Logits, nil
}

// Compilations is the number of graphs built so far by this model's runs (a new graph is built for
// each new structure or input shape; a changed input value reuses the compiled graph).
func (m *Model) Compilations() int {
	return int(m.compiles.Load())
}

// runExec is a compiled run with the layout of its reduction outputs, which the graph function
// records when it builds (after the captures and the logits, in forward order).
type runExec struct {
	*model.Exec
	layout *outLayout
	builds buildCount // graphs built (one per input shape)
	users  int        // runs using it now (m.mu); never evicted while > 0
}

// outLayout is where a graph's reduction outputs are, recorded by the graph function when it builds.
type outLayout struct {
	mu    sync.Mutex // two input shapes may build at once (concurrent runs)
	slots []reducedSlot
}

func (o *outLayout) set(slots []reducedSlot) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.slots = slots
}

func (o *outLayout) get() []reducedSlot {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.slots
}

// reducedSlot is one reduction at one hook point: n outputs.
type reducedSlot struct {
	id, hook string
	n        int
}

func (m *Model) newExec(capture []string, hooks map[string][]Hook, reduce map[string][]Reduction, inputNames []string, hasMask, noLogits, bf16 bool) (*runExec, error) {
	captureDType := dtypes.Float32
	if bf16 {
		captureDType = dtypes.BFloat16
	}
	cfg := m.Config
	exec := &runExec{layout: &outLayout{}}
	fn := func(scope *model.Scope, inputs []*Node) []*Node {
		m.compiles.Add(1) // once per graph build
		exec.builds.add()
		// Weights enter the graph as parameters, never as constants. GoMLX embeds variables as
		// constants on a backend that prefers them (the pure-Go one) unless the graph is marked as
		// training, and then every compiled graph (one per capture set, hook set and batch shape) holds
		// its own copy of the weights and of their pre-packed matmul layout: 1.2 GB per graph for
		// paper-152m, which took a reproduce run past 24 GB. As parameters the weights are shared by
		// all graphs, at the same speed (sinkscope bench on paper-152m, 2 cores: within ±13% per case).
		scope.Store().SetTraining(inputs[0].Graph(), true)
		p := &pass{
			cfg:      cfg,
			store:    scope.Store(),
			g:        inputs[0].Graph(),
			matmul:   m.matmul,
			hooks:    hooks,
			reduce:   reduce,
			capture:  make(map[string]bool),
			captured: make(map[string]*Node),
			inputs:   make(map[string]*Node),
		}
		for _, n := range capture {
			p.capture[n] = true
		}
		p.blocks = blocksNeeded(cfg, capture, hooks, reduce, noLogits)
		for i, n := range inputNames {
			p.inputs[n] = inputs[1+i]
		}
		if hasMask {
			p.attnMask = inputs[1+len(inputNames)]
		}
		logits := p.forward(inputs[0], !noLogits)
		if noLogits {
			logits = nil
		}
		outs, slots := p.outputs(capture, captureDType, logits, "", "the forward pass")
		exec.layout.set(slots)
		if len(outs) == 0 {
			exceptions.Panicf("the run has no outputs: capture something or keep the logits")
		}
		return outs
	}
	e, err := model.NewExec(m.Backend, m.Store, fn)
	if err != nil {
		return nil, fmt.Errorf("creating the model executor: %w", err)
	}
	exec.Exec = e.WithName("transformer.Run")
	if m.shard != nil { // one graph for the mesh's devices; inputs: tokens, the named inputs, the mask
		nInputs := 1 + len(inputNames)
		if hasMask {
			nInputs++
		}
		m.shard.shardExec(exec, nInputs)
	}
	return exec, nil
}

// blocksNeeded is how many blocks a run must build: all of them when the logits (or the final norm)
// are wanted, otherwise up to the last block whose hook points are captured or hooked.
func blocksNeeded(cfg *Config, capture []string, hooks map[string][]Hook, reduce map[string][]Reduction, noLogits bool) int {
	if !noLogits {
		return cfg.NLayers
	}
	names := append([]string(nil), capture...)
	for n := range hooks {
		names = append(names, n)
	}
	for n := range reduce {
		names = append(names, n)
	}
	blocks := 0
	for _, name := range names {
		if name == "ln_final.hook_normalized" || name == "logits" {
			return cfg.NLayers
		}
		if hp, ok := cfg.HookPointByName(name); ok && hp.Layer+1 > blocks {
			blocks = hp.Layer + 1
		}
	}
	return blocks
}

// callExec runs an Exec, turning panics raised while building the graph into errors.
func callExec(e interface {
	Call(args ...any) ([]*tensors.Tensor, error)
}, args []any) (outs []*tensors.Tensor, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return e.Call(args...)
}

// tokensTensor validates a batch and returns it as int32 [b, p].
func (m *Model) tokensTensor(tokens [][]int) (*tensors.Tensor, error) {
	if len(tokens) == 0 {
		return nil, fmt.Errorf("empty batch: need at least one token sequence")
	}
	T := len(tokens[0])
	if T == 0 {
		return nil, fmt.Errorf("sequence 0 is empty")
	}
	if T > m.Config.MaxSeqLen {
		return nil, fmt.Errorf("sequence length %d exceeds the model's maximum of %d positions", T, m.Config.MaxSeqLen)
	}
	flat := make([]int32, 0, len(tokens)*T)
	for b, seq := range tokens {
		if len(seq) != T {
			return nil, fmt.Errorf("sequence %d has %d tokens, sequence 0 has %d: a batch needs equal lengths", b, len(seq), T)
		}
		for p, t := range seq {
			if t < 0 || t >= m.Config.VocabSize {
				return nil, fmt.Errorf("token %d at sequence %d, position %d is out of the vocabulary [0, %d)", t, b, p, m.Config.VocabSize)
			}
			flat = append(flat, int32(t))
		}
	}
	return tensors.FromFlatDataAndDimensions(flat, len(tokens), T), nil
}

// sortedNames is used by Cache.Names.
func sortedNames(m map[string]*Activation) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// RunWithCacheBatched is RunWithCache over micro-batches of at most batch sequences, with the
// captured activations concatenated along the batch axis: statistics across many samples (the
// paper's 500 random sequences) without one huge forward pass. The micro-batches are balanced
// (MicroBatch) and the last is padded with copies of its first sequence, whose rows are dropped, so
// one graph is compiled whatever the number of sequences (on a GPU each graph costs seconds).
func (m *Model) RunWithCacheBatched(tokens [][]int, batch int, names ...string) (*Cache, error) {
	if batch <= 0 {
		return nil, fmt.Errorf("RunWithCacheBatched: batch must be positive, got %d", batch)
	}
	if len(tokens) == 0 {
		return nil, fmt.Errorf("empty batch: need at least one token sequence")
	}
	out := &Cache{cfg: m.Config, acts: map[string]*Activation{}}
	for _, mb := range MicroBatches(tokens, batch) {
		c, err := m.RunWithCache(mb.Seqs, names...)
		if err != nil {
			return nil, fmt.Errorf("sequences %d..%d: %w", mb.Lo, mb.Hi-1, err)
		}
		for name, a := range c.acts {
			c.acts[name] = a.Rows(mb.Real())
		}
		if err := out.concatBatch(c); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Span is one micro-batch of a batch as run: sequences Lo..Hi−1 of the batch, and Seqs, those
// sequences padded to the common micro-batch size with copies of the first (a run's outputs hold
// Real() real rows first; see Activation.Rows).
type Span struct {
	Lo, Hi int
	Seqs   [][]int
}

// Real is the number of real (unpadded) sequences of the span.
func (s Span) Real() int { return s.Hi - s.Lo }

// MicroBatches splits tokens into balanced micro-batches of at most batch sequences (MicroBatch),
// the last padded to the same size, so running them all compiles one graph whatever the number of
// sequences (on a GPU each graph costs seconds). batch must be positive.
func MicroBatches(tokens [][]int, batch int) []Span {
	size := MicroBatch(len(tokens), batch)
	var out []Span
	for lo := 0; lo < len(tokens); lo += size {
		hi := min(lo+size, len(tokens))
		seqs := tokens[lo:hi:hi]
		for len(seqs) < size {
			seqs = append(seqs, tokens[lo])
		}
		out = append(out, Span{Lo: lo, Hi: hi, Seqs: seqs})
	}
	return out
}

// MicroBatch is the micro-batch size for n sequences in batches of at most batch: as many
// micro-batches as batch needs, of equal size up to the last (20 sequences at 16 go as 2 × 10, 500
// as 31 × 16 + 4, padded to 16), so padding stays below the number of micro-batches.
func MicroBatch(n, batch int) int {
	if n <= 0 || batch <= 0 {
		return max(batch, 1)
	}
	chunks := (n + batch - 1) / batch
	return (n + chunks - 1) / chunks
}
