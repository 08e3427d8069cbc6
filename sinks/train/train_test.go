package train

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute"

	"github.com/sinkscope/sinkscope/datasets/stream"
	"github.com/sinkscope/sinkscope/sinks/backend"
	"github.com/sinkscope/sinkscope/sinks/hf"
	"github.com/sinkscope/sinkscope/sinks/metrics"
	"github.com/sinkscope/sinkscope/sinks/safetensors"
	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// chainStream is a learnable toy stream for trainer tests: BOS, a random first symbol, then each
// symbol's successor (1 → 2 → … → vocab−1 → 1), with a random symbol at every 4th position.
// Deterministic per (split, step, micro, index).
type chainStream struct{ vocab, seqLen int }

func (c chainStream) Name() string {
	return fmt.Sprintf("successor chain, vocab %d, %d positions", c.vocab, c.seqLen)
}
func (c chainStream) Vocab() int  { return c.vocab }
func (c chainStream) BOS() int    { return 0 }
func (c chainStream) SeqLen() int { return c.seqLen }
func (c chainStream) windows(split uint64, step, micro, n int) [][]int {
	out := make([][]int, n)
	for i := range out {
		r := rand.New(rand.NewPCG(split, uint64(step)<<32|uint64(micro)<<16|uint64(i)))
		w := make([]int, c.seqLen+1)
		for p := 1; p <= c.seqLen; p++ {
			if p%4 == 1 {
				w[p] = 1 + r.IntN(c.vocab-1)
			} else {
				w[p] = w[p-1]%(c.vocab-1) + 1
			}
		}
		out[i] = w
	}
	return out
}
func (c chainStream) Train(step, micro, n int) ([][]int, error) {
	return c.windows(1, step, micro, n), nil
}
func (c chainStream) Val(i, n int) ([][]int, error) { return c.windows(2, i, 0, n), nil }

func tinyOptions(steps int) Options {
	cfg, _ := transformer.LookupPreset("tiny")
	mc := cfg.Config
	mc.VocabSize, mc.MaxSeqLen = 16, 32
	return Options{Model: mc, Init: transformer.RandomInit{Seed: 3}, Batch: 8, Accum: 1,
		Opt:       AdamW{LR: 3e-3, MinLRFrac: 0.1, Warmup: 5, Steps: steps, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1, ClipNorm: 1},
		EvalEvery: 10, EvalBatches: 2, SinkEvery: 10, SaveEvery: 10, Keep: 2}
}

func newBackend(t *testing.T) compute.Backend {
	t.Helper()
	be, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	return be
}

// readLog reads log.jsonl without the wall-clock fields.
func readLog(t *testing.T, dir string) []Record {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "log.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var out []Record
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var r Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("log.jsonl line %q: %v", line, err)
		}
		r.Seconds, r.TokensPS, r.StepS, r.Resumed = 0, 0, 0, false
		out = append(out, r)
	}
	return out
}

// The loss falls on a learnable task, the log has one record per step with the schedule's learning
// rate, and the checkpoint is an HF model directory every finding can open.
func TestTrainLearnsAndLogs(t *testing.T) {
	be := newBackend(t)
	dir := t.TempDir()
	opts := tinyOptions(60)
	var steps []int
	s, err := Run(context.Background(), be, dir, opts, chainStream{16, 16}, func(p Progress) { steps = append(steps, p.Step) })
	if err != nil {
		t.Fatal(err)
	}
	recs := readLog(t, dir)
	if len(recs) != 60 || len(steps) != 60 || s.Step != 60 {
		t.Fatalf("%d log records, %d progress calls, summary step %d; want 60", len(recs), len(steps), s.Step)
	}
	for i, r := range recs {
		if want := opts.Opt.LRAt(i); math.Abs(r.LR-want) > 1e-6*want {
			t.Errorf("step %d: lr %g, schedule %g", r.Step, r.LR, want)
		}
		if !(r.GradNorm > 0) || math.IsNaN(r.Loss) {
			t.Errorf("step %d: grad norm %g, loss %g", r.Step, r.GradNorm, r.Loss)
		}
	}
	if recs[9].ValLoss == 0 || recs[9].Sink == nil || len(recs[9].Sink.AttnToFirst) != opts.Model.NLayers || recs[8].Sink != nil {
		t.Errorf("evaluation and sink statistics every 10 steps: %+v / %+v", recs[8], recs[9])
	}
	// One compiled validation graph serves every evaluation and reads the current weights: the
	// validation loss keeps falling (a graph that held the weights of its first evaluation would
	// repeat that value).
	var vals []float64
	for _, r := range recs {
		if r.ValLoss != 0 {
			vals = append(vals, r.ValLoss)
		}
	}
	if len(vals) < 3 || !(vals[len(vals)-1] < vals[0]-0.1) {
		t.Errorf("validation losses %v: want them to fall over the run", vals)
	}
	first, last := recs[0].Loss, s.ValLoss
	if !(last < first-0.2) {
		t.Errorf("the loss did not fall: first step %.4f, final validation %.4f", first, last)
	}
	ck, err := Checkpoints(dir)
	if err != nil || len(ck) != opts.Keep || ck[len(ck)-1].Step != 60 {
		t.Fatalf("checkpoints %v (%v); want the newest %d, the last at step 60", ck, err, opts.Keep)
	}
	hc, err := hf.Load(ck[len(ck)-1].Dir, nil)
	if err != nil {
		t.Fatalf("the checkpoint does not load as an HF model: %v", err)
	}
	m, err := transformer.New(be, hc.Config, hc.Weights)
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Run([][]int{{0, 3, 4, 5, 3, 4, 5}})
	if err != nil || len(res.Logits.Data) != 7*16 {
		t.Fatalf("running the checkpoint: %v", err)
	}
}

// A run killed after step 7 and resumed ends bit-identical to one that never stopped on the CPU
// backend: the same weights and optimizer state, the same log. (A GPU's reductions are not
// deterministic from run to run, so there the check is to float tolerance.)
func TestResumeBitIdentical(t *testing.T) {
	be := newBackend(t)
	opts := tinyOptions(16)
	opts.SaveEvery, opts.Keep, opts.Accum = 7, 0, 2
	straight, split := t.TempDir(), t.TempDir()
	if _, err := Run(context.Background(), be, straight, opts, chainStream{16, 16}, nil); err != nil {
		t.Fatal(err)
	}
	stop := opts
	stop.StopAfter = 9 // steps 8 and 9 are redone from the step-7 checkpoint
	if _, err := Run(context.Background(), be, split, stop, chainStream{16, 16}, nil); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(split, "ckpt-0000009")); err != nil { // killed before its last save
		t.Fatal(err)
	}
	s, err := Run(context.Background(), be, split, opts, chainStream{16, 16}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Resumed != 7 || s.Step != 16 {
		t.Fatalf("resumed from %d to %d; want 7 → 16", s.Resumed, s.Step)
	}
	if !strings.HasPrefix(strings.ToLower(be.Name()), "go") { // "Go Backend": the pure-Go CPU backend
		compareWeights(t, filepath.Join(split, "ckpt-0000016", "model.safetensors"), filepath.Join(straight, "ckpt-0000016", "model.safetensors"))
		return
	}
	for _, f := range []string{"model.safetensors", "optimizer.safetensors"} {
		a, errA := os.ReadFile(filepath.Join(straight, "ckpt-0000016", f))
		b, errB := os.ReadFile(filepath.Join(split, "ckpt-0000016", f))
		if errA != nil || errB != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs between the uninterrupted and the resumed run (%v, %v)%s", f, errA, errB,
				tensorDiff(t, filepath.Join(straight, "ckpt-0000016", f), filepath.Join(split, "ckpt-0000016", f)))
		}
	}
	if a, b := readLog(t, straight), readLog(t, split); !reflect.DeepEqual(a, b) {
		t.Errorf("the logs differ:\nuninterrupted %+v\nresumed       %+v", a, b)
	}
}

// Resuming with another recipe, a corrupt checkpoint, a NaN loss: each stops with an error naming
// what was wrong; an interrupted checkpoint write is never taken for a checkpoint.
func TestResumeFaults(t *testing.T) {
	be := newBackend(t)
	opts := tinyOptions(10)
	opts.SaveEvery = 5
	dir := t.TempDir()
	stop := opts
	stop.StopAfter = 5
	if _, err := Run(context.Background(), be, dir, stop, chainStream{16, 16}, nil); err != nil {
		t.Fatal(err)
	}
	other := opts
	other.Opt.LR = 1e-3
	if _, err := Run(context.Background(), be, dir, other, chainStream{16, 16}, nil); err == nil || !strings.Contains(err.Error(), "holds a different recipe") {
		t.Errorf("another recipe: %v", err)
	}
	// An interrupted write of a later checkpoint is ignored.
	if err := os.MkdirAll(filepath.Join(dir, "ckpt-0000009.partial"), 0o755); err != nil {
		t.Fatal(err)
	}
	if ck, _ := Checkpoints(dir); len(ck) != 1 || ck[0].Step != 5 {
		t.Errorf("checkpoints %v; want only step 5", ck)
	}
	// A truncated weight file is detected and named.
	model := filepath.Join(dir, "ckpt-0000005", "model.safetensors")
	b, err := os.ReadFile(model)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(model, b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), be, dir, opts, chainStream{16, 16}, nil); err == nil || !strings.Contains(err.Error(), "ckpt-0000005") || !strings.Contains(err.Error(), "model.safetensors") {
		t.Errorf("truncated checkpoint: %v", err)
	}
	// A loss that overflows stops the run at that step and saves nothing after the last good checkpoint.
	nan := tinyOptions(10)
	nan.Opt.LR, nan.Opt.ClipNorm, nan.Opt.Warmup = 1e30, 0, 0
	nanDir := t.TempDir()
	_, err = Run(context.Background(), be, nanDir, nan, chainStream{16, 16}, nil)
	if err == nil || !strings.Contains(err.Error(), "the loss is") || !strings.Contains(err.Error(), "stopped without saving") {
		t.Fatalf("exploding run: %v", err)
	}
	if ck, _ := Checkpoints(nanDir); len(ck) != 0 {
		t.Errorf("checkpoints %v written by a run whose loss went non-finite", ck)
	}
}

// tensorDiff names the tensors that differ between two safetensors files.
func tensorDiff(t *testing.T, a, b string) string {
	fa, err := safetensors.Open(a)
	if err != nil {
		return err.Error()
	}
	defer fa.Close()
	fb, err := safetensors.Open(b)
	if err != nil {
		return err.Error()
	}
	defer fb.Close()
	var diff []string
	if !slices.Equal(fa.Names(), fb.Names()) {
		diff = append(diff, fmt.Sprintf("names %v vs %v", fa.Names(), fb.Names()))
	}
	for _, n := range fa.Names() {
		x, errX := fa.Tensor(n)
		y, errY := fb.Tensor(n)
		if errX != nil || errY != nil || !bytes.Equal(x.Data, y.Data) {
			diff = append(diff, n)
		}
	}
	return ": " + strings.Join(diff, ", ")
}

// Mixed precision (bfloat16 matrix products) trains the same recipe to nearly the same loss.
func TestTrainBF16(t *testing.T) {
	be := newBackend(t)
	losses := map[bool]float64{}
	for _, bf16 := range []bool{false, true} {
		opts := tinyOptions(20)
		opts.BF16 = bf16
		s, err := Run(context.Background(), be, t.TempDir(), opts, chainStream{16, 16}, nil)
		if err != nil {
			t.Fatalf("bf16 %v: %v", bf16, err)
		}
		losses[bf16] = s.ValLoss
	}
	if d := math.Abs(losses[true] - losses[false]); !(d < 0.05) || losses[true] == losses[false] {
		t.Errorf("validation loss float32 %.5f, bfloat16 matmuls %.5f: want close but not identical", losses[false], losses[true])
	}
}

// The sink statistics a run logs, reduced on the device, are the host's (SinkFromCache on a full
// capture of the same windows) to float32 rounding.
func TestSinkStatsMatchHost(t *testing.T) {
	be := newBackend(t)
	opts := tinyOptions(1)
	data := chainStream{16, 16}
	m, err := transformer.NewRandom(be, &opts.Model, opts.Init)
	if err != nil {
		t.Fatal(err)
	}
	got, err := SinkStats(m, data, 8)
	if err != nil {
		t.Fatal(err)
	}
	windows, err := data.Val(0, 8)
	if err != nil {
		t.Fatal(err)
	}
	inputs, _ := stream.Split(windows)
	c, err := m.RunWithCache(inputs, metrics.SinkProfileNames...)
	if err != nil {
		t.Fatal(err)
	}
	want, err := SinkFromCache(c, opts.Model.NLayers)
	if err != nil {
		t.Fatal(err)
	}
	near := func(a, b []float64) bool {
		if len(a) != len(b) {
			return false
		}
		for i := range a {
			if math.Abs(a[i]-b[i]) > 1e-5*math.Max(1, math.Abs(b[i])) {
				return false
			}
		}
		return true
	}
	if !near(got.AttnToFirst, want.AttnToFirst) || !near(got.NormRatio, want.NormRatio) || !near(got.Dominance, want.Dominance) ||
		!near(got.EffectiveRank, want.EffectiveRank) || got.GuSink != want.GuSink {
		t.Errorf("device statistics %+v\nhost %+v", got, want)
	}
}
