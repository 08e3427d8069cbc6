package train

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sinkscope/sinkscope/sinks/hf"
	"github.com/sinkscope/sinkscope/sinks/safetensors"
)

// parityDir holds a PyTorch twin's run of the recipe (make_parity.py): the initial weights, the 20
// batches, and the per-step losses, gradient norms and learning rates it measured.
const parityDir = "testdata/parity"

type parityRun struct {
	Loss     []float64 `json:"loss"`
	GradNorm []float64 `json:"grad_norm"`
	LR       []float64 `json:"lr"`
}

// fixtureStream replays the twin's batches: step s is batches.json's steps[s], split into
// micro-batches in order; validation batch 0 is its "val".
type fixtureStream struct {
	Steps [][][]int `json:"steps"`
	ValW  [][]int   `json:"val"`
	SeqLn int       `json:"seq_len"`
	vocab int
}

func (f *fixtureStream) Name() string { return "PyTorch twin batches (testdata/parity/batches.json)" }
func (f *fixtureStream) Vocab() int   { return f.vocab }
func (f *fixtureStream) BOS() int     { return 0 }
func (f *fixtureStream) SeqLen() int  { return f.SeqLn }
func (f *fixtureStream) Train(step, micro, n int) ([][]int, error) {
	if step >= len(f.Steps) || (micro+1)*n > len(f.Steps[step]) {
		return nil, fmt.Errorf("the fixture has no step %d micro-batch %d of %d", step, micro, n)
	}
	return f.Steps[step][micro*n : (micro+1)*n], nil
}
func (f *fixtureStream) Val(i, n int) ([][]int, error) { return f.ValW[:n], nil }

func readJSON(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(parityDir, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// From the twin's initial weights and batches, the first 20 steps give the twin's losses, gradient
// norms and learning rates (relative difference ≤ 1e-4), with and without gradient accumulation,
// and the weights after 20 steps agree with the twin's.
func TestTrainingParityWithPyTorch(t *testing.T) {
	var exp struct {
		RunA parityRun `json:"run_a"`
		RunB parityRun `json:"run_b"`
	}
	readJSON(t, "expected.json", &exp)
	data := &fixtureStream{}
	readJSON(t, "batches.json", data)
	ck, err := hf.Load(parityDir, nil)
	if err != nil {
		t.Fatal(err)
	}
	data.vocab = ck.Config.VocabSize
	be := newBackend(t)
	for _, c := range []struct {
		name  string
		accum int
		want  parityRun
	}{{"no accumulation", 1, exp.RunA}, {"accumulation 2", 2, exp.RunB}} {
		opts := Options{Model: *ck.Config, InitFrom: parityDir, Batch: 4, Accum: c.accum,
			Opt: AdamW{LR: 3e-3, MinLRFrac: 0.1, Warmup: 5, Steps: 20, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1, ClipNorm: 1}}
		dir := t.TempDir()
		if _, err := Run(context.Background(), be, dir, opts, data, nil); err != nil {
			t.Fatal(err)
		}
		recs := readLog(t, dir)
		if len(recs) != len(c.want.Loss) {
			t.Fatalf("%s: %d steps logged, the twin has %d", c.name, len(recs), len(c.want.Loss))
		}
		worst := 0.0
		for i, r := range recs {
			for _, v := range []struct {
				what      string
				got, want float64
			}{{"loss", r.Loss, c.want.Loss[i]}, {"grad norm", r.GradNorm, c.want.GradNorm[i]}, {"lr", r.LR, c.want.LR[i]}} {
				rel := math.Abs(v.got-v.want) / math.Abs(v.want)
				worst = math.Max(worst, rel)
				if rel > 1e-4 {
					t.Errorf("%s, step %d: %s %.7g, PyTorch %.7g (relative difference %.2g)", c.name, i, v.what, v.got, v.want, rel)
				}
			}
		}
		t.Logf("%s: largest relative difference over 20 steps (loss, grad norm, lr): %.2g", c.name, worst)
		if c.accum == 1 {
			compareWeights(t, filepath.Join(dir, "ckpt-0000020", "model.safetensors"), filepath.Join(parityDir, "final_a.safetensors"))
		}
	}
}

// compareWeights checks every tensor of two HF weight files agrees to 1e-4 (absolute, on weights of
// size ~0.02–1).
func compareWeights(t *testing.T, got, want string) {
	t.Helper()
	worst := 0.0
	eachTensorPair(t, got, want, false, func(name string, a, b []float32) {
		for i := range b {
			worst = math.Max(worst, math.Abs(float64(a[i]-b[i])))
		}
	})
	if worst > 1e-4 {
		t.Errorf("weights after 20 steps differ from PyTorch's by up to %.3g", worst)
	}
	t.Logf("weights after 20 steps: largest absolute difference from PyTorch %.3g", worst)
}

// eachTensorPair calls fn with every tensor of the safetensors file want (in its order) and the
// tensor of the same name in got, as float32 of equal length. sameNames also requires got to hold
// exactly want's tensors.
func eachTensorPair(t *testing.T, got, want string, sameNames bool, fn func(name string, a, b []float32)) {
	t.Helper()
	g, err := safetensors.Open(got)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	w, err := safetensors.Open(want)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if a, b := g.Names(), w.Names(); sameNames && strings.Join(a, " ") != strings.Join(b, " ") {
		t.Fatalf("%s: tensors %v, want %v (%s)", got, a, b, want)
	}
	for _, name := range w.Names() {
		a, errA := g.ReadFloat32(name)
		b, errB := w.ReadFloat32(name)
		if errA != nil || errB != nil || len(a) != len(b) {
			t.Fatalf("%s vs %s, tensor %s: %v, %v, %d vs %d values", got, want, name, errA, errB, len(a), len(b))
		}
		fn(name, a, b)
	}
}
