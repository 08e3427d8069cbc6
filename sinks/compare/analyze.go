package compare

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/gomlx/compute"

	"github.com/sinkscope/sinkscope/datasets/stream"
	"github.com/sinkscope/sinkscope/internal/atomicfile"
	"github.com/sinkscope/sinkscope/sinks/findings"
	"github.com/sinkscope/sinkscope/sinks/metrics"
	"github.com/sinkscope/sinkscope/sinks/models"
	"github.com/sinkscope/sinkscope/sinks/train"
)

// FinalWindows is the number of validation windows the final analysis reads.
const FinalWindows = 32

// Final is the analysis of a run's final checkpoint on the first FinalWindows validation windows
// (BOS first when the data has one), every statistic in float32 activations summed in float64.
type Final struct {
	Step       int    `json:"step"`
	Checkpoint string `json:"checkpoint"` // relative to the run directory
	Windows    int    `json:"windows"`
	SeqLen     int    `json:"seq_len"`
	BOS        bool   `json:"bos"`
	// AttnToFirst is per layer the mean attention to token 0 over heads, sequences and queries
	// 1..T−1 (the findings' reading A of Fig. 3); MaxAttnToFirst its largest value, at SinkLayer.
	AttnToFirst    []float64 `json:"attn_to_first"`
	MaxAttnToFirst float64   `json:"max_attn_to_first"`
	SinkLayer      int       `json:"sink_layer"`
	// GuSink is Gu et al.'s Sink₀^0.3, thresholded per sequence (their code's reading).
	GuSink float64 `json:"gu_sink"`
	// Dominance is per layer ‖x₀‖ / mean ‖x_t‖ of the residual stream entering the layer.
	Dominance []float64 `json:"dominance"`
	// EffectiveRank is per layer the mean over sequences of exp(entropy) of the normalised singular
	// values of the [T × d] residual stream entering the layer.
	EffectiveRank []float64 `json:"effective_rank"`
	// MassiveDim is per layer token 0's largest mean |x[dim]| at the layer's input-norm output
	// (ln1.hook_normalized), and the disparity there |x₀[dim]| / mean |x₀[others]| in both readings:
	// Disparity the mean of per-sequence ratios, DisparityPooled the ratio of batch means.
	MassiveDim      []int     `json:"massive_dim"`
	Disparity       []float64 `json:"disparity"`
	DisparityPooled []float64 `json:"disparity_pooled"`
	// SuperNeuron is findings.ScanNeurons' strongest candidate (among layers whose FFN feeds a
	// later attention layer) on the same windows.
	SuperNeuron *findings.LayerCandidate `json:"super_neuron"`
}

// MaxDisparity is the largest disparity (mean of per-sequence ratios) over layers 1.. (the
// disparity entering layer 0 reads the embedding alone); NaN for a one-layer model.
func (f *Final) MaxDisparity() float64 {
	best := math.NaN()
	for l := 1; l < len(f.Disparity); l++ {
		if math.IsNaN(best) || f.Disparity[l] > best {
			best = f.Disparity[l]
		}
	}
	return best
}

// MeanEffectiveRank is the mean over layers of EffectiveRank.
func (f *Final) MeanEffectiveRank() float64 {
	return mean(f.EffectiveRank)
}

// finalFile is where a run's Final is kept (next to its log).
const finalFile = "final.json"

// errUnfinished marks a run that has not reached its last step.
var errUnfinished = errors.New("not finished")

// finalOf returns run r's Final, computing it from the final checkpoint when final.json is missing
// or older than that checkpoint. be may be nil when every final.json is current.
func finalOf(be compute.Backend, p Plan, r RunID) (*Final, error) {
	last, err := lastCheckpoint(p, r)
	if err != nil {
		return nil, err
	}
	dir := p.RunDir(r)
	path := filepath.Join(dir, finalFile)
	if b, err := os.ReadFile(path); err == nil {
		var f Final
		if err := json.Unmarshal(b, &f); err == nil && f.Step == last.Step {
			return &f, nil
		}
	}
	if be == nil {
		return nil, fmt.Errorf("%s: %s is missing or stale and no backend was given to compute it", r.Name(), path)
	}
	_, data, err := p.Recipe(r)
	if err != nil {
		return nil, err
	}
	f, err := analyse(be, last, data)
	if err != nil {
		return nil, err
	}
	b, _ := json.MarshalIndent(f, "", "  ")
	if err := atomicfile.Write(path, append(b, '\n')); err != nil {
		return nil, err
	}
	return f, nil
}

// analyse computes a checkpoint's Final on its run's validation windows.
func analyse(be compute.Backend, ck train.Checkpoint, data stream.Stream) (*Final, error) {
	l, err := models.Open(be, ck.Dir, nil)
	if err != nil {
		return nil, err
	}
	m := l.Model
	windows, err := data.Val(0, FinalWindows)
	if err != nil {
		return nil, err
	}
	inputs, _ := stream.Split(windows)
	L := m.Config.NLayers
	names := append([]string{"blocks.*.ln1.hook_normalized"}, metrics.SinkProfileNames...)
	c, err := m.RunWithCacheBatched(inputs, 16, names...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ck.Dir, err)
	}
	sink, err := train.SinkFromCache(c, L)
	if err != nil {
		return nil, err
	}
	f := &Final{Step: ck.Step, Checkpoint: filepath.Base(ck.Dir), Windows: len(inputs), SeqLen: len(inputs[0]),
		BOS: data.BOS() >= 0, AttnToFirst: sink.AttnToFirst, GuSink: sink.GuSink, Dominance: sink.Dominance,
		EffectiveRank: sink.EffectiveRank}
	f.MaxAttnToFirst, f.SinkLayer = sink.MaxAttnToFirst()
	for layer := 0; layer < L; layer++ {
		x := c.MustGet("ln1.normalized", layer)
		dim, _, err := metrics.MassiveDim(x, 0)
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", layer, err)
		}
		disp, err := metrics.DimensionDisparity(x, 0, dim)
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", layer, err)
		}
		pooled, err := metrics.DimensionDisparityPooled(x, 0, dim)
		if err != nil {
			return nil, fmt.Errorf("layer %d: %w", layer, err)
		}
		f.MassiveDim = append(f.MassiveDim, dim)
		f.Disparity = append(f.Disparity, disp)
		f.DisparityPooled = append(f.DisparityPooled, pooled)
	}
	scan, err := findings.ScanNeurons(&findings.Setting{Model: m, Main: inputs, MainBOS: f.BOS, Batch: 16})
	if err != nil {
		return nil, fmt.Errorf("super-neuron scan: %w", err)
	}
	best := scan.Layers[scan.Best]
	f.SuperNeuron = &best
	return f, nil
}

// Curve is a run's training log reduced for plots and statistics.
type Curve struct {
	Steps    []int     `json:"steps"`
	Loss     []float64 `json:"loss"`     // the step's training loss
	Smoothed []float64 `json:"smoothed"` // trailing mean over Window steps (fewer at the start)
	Window   int       `json:"window"`
	// ValSteps and ValLoss are the validation evaluations.
	ValSteps []int     `json:"val_steps"`
	ValLoss  []float64 `json:"val_loss"`
	// SinkSteps and AttnToFirst are the sink measurements: the largest per-layer attention to token
	// 0 on validation batch 0 at each.
	SinkSteps   []int     `json:"sink_steps"`
	AttnToFirst []float64 `json:"attn_to_first"`
	Seconds     float64   `json:"seconds"`        // wall time of the run (resumed calls included)
	TokensPS    float64   `json:"tokens_per_s"`   // median over steps
	Tokens      int64     `json:"tokens_trained"` // at the last step
}

// SmoothingWindow is the trailing-mean window for a run of steps steps: a 25th of the run, at
// least 1.
func SmoothingWindow(steps int) int { return max(steps/25, 1) }

// ReadCurve reads a run directory's log.jsonl (steps must increase) and smooths the loss over
// window steps.
func ReadCurve(runDir string, window int) (*Curve, error) {
	path := filepath.Join(runDir, "log.jsonl")
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	c := &Curve{Window: max(window, 1)}
	var tps []float64
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for line := 1; sc.Scan(); line++ {
		var rec train.Record
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			return nil, fmt.Errorf("%s line %d: %w", path, line, err)
		}
		if n := len(c.Steps); n > 0 && rec.Step <= c.Steps[n-1] {
			return nil, fmt.Errorf("%s line %d: step %d follows step %d", path, line, rec.Step, c.Steps[n-1])
		}
		c.Steps = append(c.Steps, rec.Step)
		c.Loss = append(c.Loss, rec.Loss)
		tps = append(tps, rec.TokensPS)
		c.Seconds, c.Tokens = rec.Seconds, rec.Tokens
		if rec.ValLoss != 0 {
			c.ValSteps = append(c.ValSteps, rec.Step)
			c.ValLoss = append(c.ValLoss, rec.ValLoss)
		}
		if rec.Sink != nil {
			best, _ := rec.Sink.MaxAttnToFirst()
			c.SinkSteps = append(c.SinkSteps, rec.Step)
			c.AttnToFirst = append(c.AttnToFirst, best)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(c.Steps) == 0 {
		return nil, fmt.Errorf("%s: no steps logged", path)
	}
	c.Smoothed = trailingMean(c.Loss, c.Window)
	c.TokensPS = median(tps)
	return c, nil
}

// FinalLoss is the smoothed training loss at the last step.
func (c *Curve) FinalLoss() float64 { return c.Smoothed[len(c.Smoothed)-1] }

// StepsToTarget is the first step whose smoothed loss is at most target, counted only once the
// smoothing window is full; −1 when the run never gets there.
func (c *Curve) StepsToTarget(target float64) int {
	for i, s := range c.Smoothed {
		if i+1 >= c.Window && s <= target {
			return c.Steps[i]
		}
	}
	return -1
}

// trailingMean is the mean of the last w values at each index (fewer at the start).
func trailingMean(x []float64, w int) []float64 {
	out := make([]float64, len(x))
	var sum float64
	for i, v := range x {
		sum += v
		if i >= w {
			sum -= x[i-w]
		}
		out[i] = sum / float64(min(i+1, w))
	}
	return out
}

// FinalCheckpoint is the directory of run r's final checkpoint (an HF model directory every finding
// opens), or an error when the run has not finished.
func FinalCheckpoint(p Plan, r RunID) (string, error) {
	ck, err := lastCheckpoint(p, r)
	if err != nil {
		return "", fmt.Errorf("compare: %w", err)
	}
	return ck.Dir, nil
}

// lastCheckpoint is run r's checkpoint at the plan's last step; an error wrapping errUnfinished
// says how far the run got when it has not reached it.
func lastCheckpoint(p Plan, r RunID) (train.Checkpoint, error) {
	opts, _, err := p.Recipe(r)
	if err != nil {
		return train.Checkpoint{}, err
	}
	ckpts, err := train.Checkpoints(p.RunDir(r))
	if err != nil {
		return train.Checkpoint{}, err
	}
	done := 0
	if len(ckpts) > 0 {
		done = ckpts[len(ckpts)-1].Step
	}
	if done != opts.Opt.Steps {
		return train.Checkpoint{}, fmt.Errorf("%s: %w (%d of %d steps)", r.Name(), errUnfinished, done, opts.Opt.Steps)
	}
	return ckpts[len(ckpts)-1], nil
}
