package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"

	"github.com/sinkscope/sinkscope/datasets/textstream"
	"github.com/sinkscope/sinkscope/sinks/backend"
	"github.com/sinkscope/sinkscope/sinks/train"
	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// benchTrain times the training loop of `sinkscope train` (AdamW, clipping, the per-step loss read)
// on uniformly random tokens for the architecture of a transformer preset: the first step (with
// compilation, printed as soon as it is done) and the median tokens/s of the others. The run is
// stopped after its last timed step, before the end-of-run validation, sink statistics and
// checkpoint (each a compilation of its own on a GPU); it goes to a temporary directory that is
// removed afterwards.
func benchTrain(source string, batch, seqLen, steps int, bf16 bool) error {
	name, ok := strings.CutPrefix(source, "random:")
	if !ok {
		return fmt.Errorf("bench --train takes a random:<preset> model (the architecture to train), got %q", source)
	}
	p, err := transformer.LookupPreset(name)
	if err != nil {
		return err
	}
	if steps < 3 {
		return fmt.Errorf("bench --train needs at least 3 steps, got %d", steps)
	}
	cfg := p.Config
	cfg.MaxSeqLen = max(cfg.MaxSeqLen, seqLen)
	data, err := textstream.NewRandom(cfg.VocabSize, seqLen, -1, 1)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "sinkscope-bench-train-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	be, err := backend.New()
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, backend.Describe(be))
	L := cfg.NLayers
	opts := train.Options{Model: cfg,
		Init: transformer.RandomInit{Seed: 1, Std: 0.02, ResidualStd: 0.02 / math.Sqrt(float64(2*L))},
		// One step more in the schedule than is run: the run is cancelled after step `steps`, so the
		// end-of-run extras never start.
		Opt: train.AdamW{LR: 1e-3, MinLRFrac: 0.1, Warmup: 10, Steps: steps + 1, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8,
			WeightDecay: 0.1, ClipNorm: 1},
		Batch: batch, Accum: 1, BF16: bf16,
		EvalEvery: steps + 2, EvalBatches: 1, SinkEvery: steps + 2, SaveEvery: steps + 2, Keep: 1}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var tps, stepMS, loopMS []float64
	first := 0.0
	_, err = train.Run(ctx, be, dir, opts, data, func(pr train.Progress) {
		if pr.Step == 1 {
			first = pr.Record.Seconds
			fmt.Fprintf(stdout, "step 1 (with compilation) took %.2fs\n", first)
		} else {
			tps = append(tps, pr.Record.TokensPS)
			total := float64(batch*seqLen) / pr.Record.TokensPS
			stepMS, loopMS = append(stepMS, 1e3*pr.Record.StepS), append(loopMS, 1e3*(total-pr.Record.StepS))
		}
		if pr.Step == steps {
			cancel()
		}
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	if len(tps) != steps-1 {
		return fmt.Errorf("bench --train: %d of %d steps ran", len(tps)+1, steps)
	}
	sort.Float64s(tps)
	sort.Float64s(stepMS)
	sort.Float64s(loopMS)
	prec := "float32"
	if bf16 {
		prec = "bf16 matrix products"
	}
	med := tps[len(tps)/2]
	fpt := trainFLOPsPerToken(&cfg, seqLen)
	fmt.Fprintf(stdout, "train %s (%d layers, d %d), batch %d × %d tokens, %s: first step (with compilation) %.2fs, then median %.0f tokens/s over %d steps (min %.0f, max %.0f); %.3g FLOPs/token (6N + 12·L·d·T), %.1f TFLOP/s\n",
		source, L, cfg.DModel, batch, seqLen, prec, first, med, len(tps), tps[0], tps[len(tps)-1], fpt, fpt*med/1e12)
	fmt.Fprintf(stdout, "per step (medians): %.2f ms in the compiled update (dispatch, device, wait), %.2f ms in the loop around it (data, loss and statistics reads)\n",
		stepMS[len(stepMS)/2], loopMS[len(loopMS)/2])
	return nil
}

// trainFLOPsPerToken is the usual estimate of a training step's work per token (Kaplan et al.;
// PaLM's MFU): 6N for the forward and backward matrix products with N the parameters that enter
// one (every weight matrix, the unembedding included; the embedding lookup is not a product, so an
// untied embedding does not count) plus 12·L·d·T for the attention scores and the pattern·V
// products. MFU is this times tokens/s over the device's peak.
func trainFLOPsPerToken(cfg *transformer.Config, T int) float64 {
	n := 0
	for name, dims := range cfg.ParamShapes() {
		if len(dims) < 2 || strings.HasSuffix(name, "/scale") || strings.Contains(name, "/sink/") ||
			name == "pos_embed/weights" || (name == "embed/weights" && !cfg.TiedEmbeddings) {
			continue
		}
		n += shapes.Make(dtypes.Float32, dims...).Size()
	}
	return 6*float64(n) + 12*float64(cfg.NLayers*cfg.DModel*T)
}
