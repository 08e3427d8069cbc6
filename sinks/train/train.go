// Package train pre-trains sinkscope's transformer (package sinks/transformer: the same readable
// forward pass every finding inspects) on a deterministic window stream (datasets/stream), with
// GoMLX's train.Trainer and the paper's AdamW recipe (see AdamW for why it is ours).
//
// A run lives in one directory: run.json (the recipe), log.jsonl (one record per step: loss,
// learning rate, gradient norm, tokens/s; every SinkEvery steps the per-layer attention to token 0,
// Gu et al.'s Sink₀^0.3, token-0 norm ratio, dominance ratio and effective rank; every EvalEvery
// steps the validation loss) and checkpoints ckpt-<step> that are HF model directories loadable by
// every finding (plus the optimizer state). Checkpoints are written atomically and kept to Keep.
// Run resumes from the newest checkpoint: batches are a pure function of the step, so a run that was
// killed and resumed ends bit-identical (on the CPU backend) to one that never stopped. A NaN or
// infinite loss stops the run with an error naming the step and the last good checkpoint.
package train

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	gtrain "github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/loss"

	"github.com/sinkscope/sinkscope/datasets/stream"
	"github.com/sinkscope/sinkscope/internal/atomicfile"
	"github.com/sinkscope/sinkscope/sinks/backend"
	"github.com/sinkscope/sinkscope/sinks/devstats"
	"github.com/sinkscope/sinkscope/sinks/hf"
	"github.com/sinkscope/sinkscope/sinks/metrics"
	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// Options is a training recipe.
type Options struct {
	Model transformer.Config
	Init  transformer.RandomInit
	// InitFrom, when set, is an HF model directory whose weights start the run instead of Init
	// (e.g. a PyTorch twin's initial weights); its config must match Model.
	InitFrom string `json:",omitempty"`
	Opt      AdamW  // Opt.Steps is the run's length
	// Batch windows per step, split into Accum micro-batches (gradient accumulation).
	Batch, Accum int
	// EvalEvery steps the validation loss over EvalBatches batches of Batch windows (0: only at the end).
	EvalEvery, EvalBatches int
	// SinkEvery steps the sink statistics on validation batch 0 (0: only at the end).
	SinkEvery int
	// SaveEvery steps a checkpoint (0: only at the end); Keep newest checkpoints (0: all).
	SaveEvery, Keep int
	// BF16 computes the matrix products in bfloat16 (mixed precision, for GPUs); weights, optimizer
	// state, norms, softmax and the loss stay float32.
	BF16 bool `json:",omitempty"`
	// StopAfter ends this call after that many steps in total (a later call resumes); 0: run to Opt.Steps.
	StopAfter int `json:"-"`
	// Devices trains data-parallel on devices 0 … Devices−1 of the backend (an XLA backend; see
	// dataParallel): each micro-batch is split over them and one compiled step, its gradient
	// all-reduce placed by XLA, updates the replicated weights. 0 and 1: the plain single-device
	// step (GoMLX runs a distributed step only over two or more devices: on one H200 it refused one,
	// "distributed execution requires more than one device"). Not part of the recipe: a run may
	// resume on other devices.
	Devices int `json:"-"`
}

func (o *Options) check(s stream.Stream) error {
	var bad []string
	if o.Opt.Steps <= 0 {
		bad = append(bad, fmt.Sprintf("steps %d must be positive", o.Opt.Steps))
	}
	if o.Batch <= 0 || o.Accum <= 0 || o.Batch%o.Accum != 0 {
		bad = append(bad, fmt.Sprintf("batch %d must be a positive multiple of the accumulation %d", o.Batch, o.Accum))
	}
	if o.Devices < 0 {
		bad = append(bad, fmt.Sprintf("devices %d must not be negative", o.Devices))
	}
	if o.Devices > 1 && o.Batch > 0 && o.Accum > 0 && o.Batch%o.Accum == 0 && (o.Batch/o.Accum)%o.Devices != 0 {
		bad = append(bad, fmt.Sprintf("batch %d with accumulation %d gives micro-batches of %d windows, which do not split evenly over %d devices",
			o.Batch, o.Accum, o.Batch/o.Accum, o.Devices))
	}
	if o.Devices > 1 && o.Accum > 1 {
		bad = append(bad, fmt.Sprintf("accumulation %d with %d devices: GoMLX's distributed training step does not accumulate gradients; use accumulation 1 (each device then takes batch/devices = %d windows) or devices 0",
			o.Accum, o.Devices, o.Batch/o.Devices))
	}
	if o.Opt.LR <= 0 || math.IsNaN(o.Opt.LR) {
		bad = append(bad, fmt.Sprintf("learning rate %v must be positive", o.Opt.LR))
	}
	if s.Vocab() != o.Model.VocabSize {
		bad = append(bad, fmt.Sprintf("the data has %d token ids but the model's vocabulary is %d", s.Vocab(), o.Model.VocabSize))
	}
	if s.SeqLen() > o.Model.MaxSeqLen {
		bad = append(bad, fmt.Sprintf("the data's windows have %d positions, more than the model's %d", s.SeqLen(), o.Model.MaxSeqLen))
	}
	if err := o.Model.Validate(); err != nil {
		bad = append(bad, err.Error())
	}
	if len(bad) > 0 {
		return fmt.Errorf("train: %s", strings.Join(bad, "; "))
	}
	return nil
}

// Record is one line of log.jsonl.
type Record struct {
	Step     int     `json:"step"` // updates applied after this record's step
	Loss     float64 `json:"loss"` // mean training loss of the step's micro-batches
	LR       float64 `json:"lr"`
	GradNorm float64 `json:"grad_norm"` // before clipping
	Tokens   int64   `json:"tokens"`
	TokensPS float64 `json:"tokens_per_s"`
	// StepS is the wall time of the step's compiled update(s) alone (dispatch, device, wait); the
	// rest of 1/TokensPS·tokens is the loop's own work (data, reading the loss and statistics).
	StepS   float64 `json:"step_s"`
	Seconds float64 `json:"seconds"` // wall time of the run so far (resumed runs add up)
	ValLoss float64 `json:"val_loss,omitempty"`
	Sink    *Sink   `json:"sink,omitempty"`
	Ckpt    string  `json:"checkpoint,omitempty"`
	Resumed bool    `json:"resumed,omitempty"` // the first step after a resume
}

// Sink is the sink statistics of the model at one step, on validation batch 0 (see package
// metrics): per layer the mean attention to token 0 (queries 1..T−1), the token-0 norm ratio, the
// dominance ratio of token 0 entering the layer and the effective rank of the layer input; and Gu
// et al.'s Sink₀^0.3 (per sample).
type Sink struct {
	AttnToFirst   []float64 `json:"attn_to_first"`
	NormRatio     []float64 `json:"norm_ratio"`
	Dominance     []float64 `json:"dominance"`
	EffectiveRank []float64 `json:"effective_rank"`
	GuSink        float64   `json:"gu_sink"`
}

// MaxAttnToFirst is the largest per-layer attention to token 0 and its layer.
func (s *Sink) MaxAttnToFirst() (float64, int) {
	best, at := math.Inf(-1), -1
	for l, a := range s.AttnToFirst {
		if a > best {
			best, at = a, l
		}
	}
	return best, at
}

// Progress is reported after every step.
type Progress struct {
	Step, Steps int
	Record      Record
}

// Summary is what a finished (or stopped) call reports.
type Summary struct {
	Dir        string
	Step       int
	Checkpoint string // the newest checkpoint
	Loss       float64
	ValLoss    float64
	Sink       *Sink
	Seconds    float64 // wall time of the whole run (resumed calls included)
	Resumed    int     // the step this call resumed from (0: a fresh start)
}

// Run trains (or resumes) the run in dir on be until Opt.Steps (or StopAfter) and returns its
// summary. run.json pins the recipe: resuming with different options is an error.
func Run(ctx context.Context, be compute.Backend, dir string, opts Options, data stream.Stream, progress func(Progress)) (*Summary, error) {
	if err := opts.check(data); err != nil {
		return nil, err
	}
	var dp *dataParallel // nil: the single-device step
	if opts.Devices > 1 {
		var err error
		if dp, err = newDataParallel(be, opts.Devices); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := pinRecipe(dir, opts, data); err != nil {
		return nil, err
	}
	cfg := opts.Model
	ckpts, err := Checkpoints(dir)
	if err != nil {
		return nil, err
	}
	var store *model.Store
	var start State
	if len(ckpts) > 0 {
		last := ckpts[len(ckpts)-1]
		if store, start, err = loadCheckpoint(last, &cfg); err != nil {
			return nil, err
		}
	} else {
		store = model.NewStore()
		var weights map[string]*tensors.Tensor
		if opts.InitFrom == "" {
			weights = transformer.RandomWeights(&cfg, opts.Init)
		} else {
			c, err := hf.Load(opts.InitFrom, nil)
			if err != nil {
				return nil, fmt.Errorf("train: initial weights: %w", err)
			}
			if got, want := configKey(c.Config), configKey(&cfg); got != want {
				return nil, fmt.Errorf("train: initial weights %s: the model differs from the recipe's:\n  weights %s\n  recipe  %s", opts.InitFrom, got, want)
			}
			weights = c.Weights
		}
		for _, name := range cfg.ParamNames() { // the order of the store is the order of the updates
			if _, err := store.CreateVariable("/"+name, weights[name]); err != nil {
				return nil, err
			}
		}
	}
	if err := truncateLog(dir, start.Step); err != nil {
		return nil, err
	}
	m, err := transformer.FromStore(be, &cfg, store)
	if err != nil {
		return nil, err
	}
	opt := opts.Opt
	trainer := gtrain.NewTrainer(be, store,
		func(scope *model.Scope, tokens *Node) *Node {
			return transformer.ForwardMixed(scope.Store(), &cfg, tokens, opts.matmulDType())
		},
		loss.SparseCategoricalCrossEntropyLogits, &opt, nil, nil)
	if opts.Accum > 1 { // only on the single-device path (see Options.check)
		if err := trainer.AccumulateGradients(opts.Accum); err != nil {
			return nil, err
		}
	}
	logf, err := os.OpenFile(filepath.Join(dir, "log.jsonl"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()

	sum := &Summary{Dir: dir, Step: start.Step, Resumed: start.Step, Loss: start.Loss, ValLoss: start.ValLoss, Seconds: start.Seconds}
	if len(ckpts) > 0 {
		sum.Checkpoint = ckpts[len(ckpts)-1].Dir
	}
	end := opt.Steps
	if opts.StopAfter > 0 && opts.StopAfter < end {
		end = opts.StopAfter
	}
	tokens := start.Tokens
	began := time.Now()
	micro := opts.Batch / opts.Accum
	var eval *model.Exec // the validation loss, compiled at the first evaluation
	for step := start.Step; step < end; step++ {
		if err := ctx.Err(); err != nil {
			return sum, fmt.Errorf("train: stopped before step %d: %w (resume from %s)", step+1, err, orNone(sum.Checkpoint))
		}
		t0 := time.Now()
		stepLoss, execS := 0.0, 0.0
		for k := 0; k < opts.Accum; k++ {
			windows, err := data.Train(step, k, micro)
			if err != nil {
				return sum, fmt.Errorf("train: data for step %d: %w", step, err)
			}
			batch, err := toBatch(windows)
			if err != nil {
				return sum, fmt.Errorf("train: data for step %d: %w", step, err)
			}
			var ms []*tensors.Tensor
			te := time.Now()
			err = opts.products(be, func() (err error) {
				if dp != nil {
					ms, err = dp.step(trainer, batch)
				} else {
					ms, err = trainer.TrainStep(batch)
				}
				return err
			})
			execS += time.Since(te).Seconds()
			if err != nil {
				return sum, fmt.Errorf("train: step %d: %w", step, err)
			}
			l := scalar(ms[0])
			for _, t := range ms {
				t.FinalizeAll()
			}
			stepLoss += l / float64(opts.Accum)
			tokens += int64(micro * data.SeqLen())
		}
		if math.IsNaN(stepLoss) || math.IsInf(stepLoss, 0) {
			return sum, fmt.Errorf("train: step %d: the loss is %v; stopped without saving (the last good checkpoint is %s)", step, stepLoss, orNone(sum.Checkpoint))
		}
		done := step + 1
		// The learning rate, gradient norm, validation loss, sink statistics and checkpoints read the
		// store on the host or on device 0, after data-parallel steps too: Variable.Value merges a
		// variable's replicated shards.
		rec := Record{Step: done, Loss: stepLoss, LR: readScalar(store, statScope+"/"+lrName), GradNorm: readScalar(store, statScope+"/"+gradNormName),
			Tokens: tokens, TokensPS: float64(opts.Batch*data.SeqLen()) / time.Since(t0).Seconds(), StepS: execS,
			Seconds: start.Seconds + time.Since(began).Seconds(), Resumed: done == start.Step+1 && start.Step > 0}
		last := done == end
		if (opts.EvalEvery > 0 && done%opts.EvalEvery == 0) || done == opt.Steps {
			if eval == nil {
				if eval, err = newEvalExec(be, store, &cfg, opts.matmulDType()); err != nil {
					return sum, err
				}
				defer eval.Finalize()
			}
			if err = opts.products(be, func() (err error) {
				rec.ValLoss, err = evalLoss(eval, data, opts.EvalBatches, opts.Batch)
				return err
			}); err != nil {
				return sum, err
			}
			sum.ValLoss = rec.ValLoss
		}
		if (opts.SinkEvery > 0 && done%opts.SinkEvery == 0) || done == opt.Steps {
			if rec.Sink, err = SinkStats(m, data, opts.Batch); err != nil {
				return sum, err
			}
			sum.Sink = rec.Sink
		}
		if (opts.SaveEvery > 0 && done%opts.SaveEvery == 0) || last {
			ck, err := saveCheckpoint(dir, &cfg, store, State{Step: done, Tokens: tokens, Seconds: rec.Seconds, Loss: stepLoss, ValLoss: sum.ValLoss}, opts.Keep)
			if err != nil {
				return sum, err
			}
			rec.Ckpt, sum.Checkpoint = filepath.Base(ck), ck
		}
		line, _ := json.Marshal(rec)
		if _, err := logf.Write(append(line, '\n')); err != nil {
			return sum, err
		}
		sum.Step, sum.Loss, sum.Seconds = done, stepLoss, rec.Seconds
		if progress != nil {
			progress(Progress{Step: done, Steps: opt.Steps, Record: rec})
		}
	}
	return sum, nil
}

// products runs fn, which builds or runs the training step or the validation loss, under
// backend.BF16Products when the products are bfloat16 (XLA's DEFAULT precision: on CUDA the HIGHEST
// that sinkscope's backends otherwise ask for runs bfloat16 products at float32 speed); float32
// training and every analysis graph keep HIGHEST.
func (o *Options) products(be compute.Backend, fn func() error) error {
	if !o.BF16 {
		return fn()
	}
	return backend.BF16Products(be, fn)
}

func (o *Options) matmulDType() dtypes.DType {
	if o.BF16 {
		return dtypes.BFloat16
	}
	return dtypes.Float32
}

func orNone(s string) string {
	if s == "" {
		return "none: the run restarts from scratch"
	}
	return s
}

// toBatch turns windows into a trainer batch: inputs [b, T] int32 and labels [b, T, 1] int32.
func toBatch(windows [][]int) (gtrain.Batch, error) {
	if len(windows) == 0 {
		return gtrain.Batch{}, errors.New("no windows")
	}
	in, lab := stream.Split(windows)
	T := len(in[0])
	flatIn := make([]int32, 0, len(in)*T)
	flatLab := make([]int32, 0, len(in)*T)
	for i := range in {
		if len(in[i]) != T {
			return gtrain.Batch{}, fmt.Errorf("window %d has %d tokens, window 0 has %d", i, len(windows[i]), T+1)
		}
		for p := range in[i] {
			flatIn = append(flatIn, int32(in[i][p]))
			flatLab = append(flatLab, int32(lab[i][p]))
		}
	}
	return gtrain.Batch{
		Inputs: []*tensors.Tensor{tensors.FromFlatDataAndDimensions(flatIn, len(in), T)},
		Labels: []*tensors.Tensor{tensors.FromFlatDataAndDimensions(flatLab, len(in), T, 1)},
	}, nil
}

func scalar(t *tensors.Tensor) float64 {
	switch v := t.Value().(type) {
	case float32:
		return float64(v)
	case float64:
		return v
	}
	return math.NaN()
}

func readScalar(store *model.Store, path string) float64 {
	v := store.GetVariable(path)
	if v == nil {
		return math.NaN()
	}
	t, err := v.Value()
	if err != nil {
		return math.NaN()
	}
	return scalar(t)
}

// newEvalExec compiles the validation loss: mean token cross-entropy of a batch. The weights are
// graph parameters (the graph is marked as training, or a backend that prefers constants would bake
// in the values of the step it was compiled at), so one compiled graph serves every evaluation.
func newEvalExec(be compute.Backend, store *model.Store, cfg *transformer.Config, matmul dtypes.DType) (*model.Exec, error) {
	return model.NewExec(be, store, func(scope *model.Scope, tokens, labels *Node) *Node {
		scope.Store().SetTraining(tokens.Graph(), true)
		logits := transformer.ForwardMixed(scope.Store(), cfg, tokens, matmul)
		return ReduceAllMean(loss.SparseCategoricalCrossEntropyLogits([]*Node{labels}, []*Node{logits}))
	})
}

// evalLoss is the mean validation loss of e over n batches of `batch` windows.
func evalLoss(e *model.Exec, data stream.Stream, n, batch int) (float64, error) {
	n = max(n, 1)
	total := 0.0
	for i := 0; i < n; i++ {
		windows, err := data.Val(i, batch)
		if err != nil {
			return 0, fmt.Errorf("train: validation batch %d: %w", i, err)
		}
		b, err := toBatch(windows)
		if err != nil {
			return 0, fmt.Errorf("train: validation batch %d: %w", i, err)
		}
		outs, err := e.Call(b.Inputs[0], b.Labels[0])
		if err != nil {
			return 0, fmt.Errorf("train: validation loss: %w", err)
		}
		total += scalar(outs[0])
		outs[0].FinalizeAll()
	}
	return total / float64(n), nil
}

// SinkStats measures the sink statistics of m on validation batch 0 (up to 16 windows), reduced
// on the device (devstats.SinkProfile, one graph): kilobytes leave it instead of every attention
// pattern and residual stream (151 MB for the 6-layer GPU preset), which made the periodic
// statistics a large part of a GPU run's wall clock. SinkFromCache is the host version, the
// reference the test compares with.
func SinkStats(m *transformer.Model, data stream.Stream, batch int) (*Sink, error) {
	windows, err := data.Val(0, min(batch, 16))
	if err != nil {
		return nil, err
	}
	inputs, _ := stream.Split(windows)
	prof, gu, rst, err := devstats.SinkProfile(m, inputs, len(inputs))
	if err != nil {
		return nil, fmt.Errorf("train: sink statistics: %w", err)
	}
	s := &Sink{Dominance: rst.Dominance, EffectiveRank: rst.EffectiveRank, GuSink: gu.SharePerSample}
	for _, p := range prof {
		s.AttnToFirst = append(s.AttnToFirst, p.AttnToFirst)
		s.NormRatio = append(s.NormRatio, p.NormRatio)
	}
	return s, nil
}

// SinkFromCache computes the sink statistics of an L-layer model from a cache holding at least
// metrics.SinkProfileNames (attention patterns and residual streams of every layer).
func SinkFromCache(c *transformer.Cache, L int) (*Sink, error) {
	prof, err := metrics.SinkProfile(c, L)
	if err != nil {
		return nil, err
	}
	s := &Sink{}
	var patterns []*transformer.Activation
	for l := 0; l < L; l++ {
		s.AttnToFirst = append(s.AttnToFirst, prof[l].AttnToFirst)
		s.NormRatio = append(s.NormRatio, prof[l].NormRatio)
		resid := c.MustGet("resid_pre", l)
		d, err := metrics.DominanceRatio(resid, 0)
		if err != nil {
			return nil, err
		}
		s.Dominance = append(s.Dominance, d)
		_, r, err := metrics.EffectiveRank(resid)
		if err != nil {
			return nil, err
		}
		s.EffectiveRank = append(s.EffectiveRank, r)
		patterns = append(patterns, c.MustGet("pattern", l))
	}
	gu, err := metrics.GuSinkScores(patterns, 0, metrics.GuEps)
	if err != nil {
		return nil, err
	}
	s.GuSink = gu.SharePerSample
	return s, nil
}

// recipe is run.json: what a resumed run must share with the one that started.
type recipe struct {
	Data    string  `json:"data"`
	Options Options `json:"options"`
}

// pinRecipe writes run.json on a fresh run and checks it on a resumed one.
func pinRecipe(dir string, opts Options, data stream.Stream) error {
	want, _ := json.MarshalIndent(recipe{Data: data.Name(), Options: opts}, "", "  ")
	path := filepath.Join(dir, "run.json")
	have, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return atomicfile.Write(path, append(want, '\n'))
	}
	if err != nil {
		return err
	}
	if !bytes.Equal(bytes.TrimSpace(have), bytes.TrimSpace(want)) {
		return fmt.Errorf("train: %s holds a different recipe than this run's; use another run directory (or delete it to start over).\nin the directory: %s\nthis run:         %s", path, compact(have), compact(want))
	}
	return nil
}

func compact(b []byte) string {
	var out bytes.Buffer
	if json.Compact(&out, b) != nil {
		return string(b)
	}
	return out.String()
}

// truncateLog drops log records after step (those of steps a resumed run will redo).
func truncateLog(dir string, step int) error {
	path := filepath.Join(dir, "log.jsonl")
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	var kept bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<26)
	for sc.Scan() {
		var r struct {
			Step int `json:"step"`
		}
		if json.Unmarshal(sc.Bytes(), &r) != nil || r.Step > step {
			continue // a partial line from an interrupted write, or a step to redo
		}
		kept.Write(sc.Bytes())
		kept.WriteByte('\n')
	}
	if kept.Len() == len(b) {
		return nil
	}
	return atomicfile.Write(path, kept.Bytes())
}
