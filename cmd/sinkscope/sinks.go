package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/sinkscope/sinkscope/sinks/backend"
	"github.com/sinkscope/sinkscope/sinks/metrics"
	"github.com/sinkscope/sinkscope/sinks/models"
	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// shardHelp documents --shard for the commands that analyse a model.
const shardHelp = "split the model's weights over this many devices (tensor-parallel, for a model larger than one GPU; " +
	"needs an XLA backend, GOMLX_BACKEND=xla:<plugin>, with that many devices, two or more); 0 or 1: unsharded on one device"

// openModel opens a model source on the backend of $GOMLX_BACKEND and, with shard > 0, splits its
// weights over that many devices (transformer.Model.ShardOver).
func openModel(source string, bf16 bool, shard int) (*models.Loaded, error) {
	if shard < 0 {
		return nil, fmt.Errorf("--shard %d: want 0 (one device) or the number of devices to split the weights over", shard)
	}
	be, err := backend.New()
	if err != nil {
		return nil, err
	}
	fmt.Fprintln(stdout, backend.Describe(be))
	if shard > 0 { // before loading: a model too large for one device takes minutes to load
		if err := transformer.CheckShardOver(be, shard); err != nil {
			return nil, fmt.Errorf("--shard %d: %w", shard, err)
		}
	}
	opts := &models.Options{Progress: true}
	if bf16 {
		opts.WeightDType = bf16DType
	}
	start := time.Now()
	l, err := models.Open(be, source, opts)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(stdout, "model: %s (loaded in %.1fs)\n", l.Describe(), time.Since(start).Seconds())
	if shard > 0 {
		if err := l.Model.ShardOver(shard); err != nil {
			return nil, fmt.Errorf("--shard %d: %w", shard, err)
		}
		fmt.Fprintf(stdout, "weights split over %d device(s) (tensor-parallel)\n", shard)
	}
	return l, nil
}

type sinksReport struct {
	Model    string              `json:"model"`
	Backend  string              `json:"backend"`
	Data     string              `json:"data"`
	BOS      bool                `json:"bos"`
	Layers   []metrics.LayerSink `json:"layers"`
	Onset    int                 `json:"sink_onset_layer"` // -1: none
	Seconds  float64             `json:"seconds"`
	Samples  int                 `json:"samples"`
	SeqLen   int                 `json:"seq_len"`
	DataKind string              `json:"data_kind"`
}

func cmdSinks(args []string) error {
	fs := flag.NewFlagSet("sinks", flag.ContinueOnError)
	source := fs.String("model", "", "model source: random:<preset>[@seed], planted[@seed], an HF model directory, or org/name")
	samples := fs.Int("samples", 20, "number of sequences")
	seqLen := fs.Int("seq", 64, "tokens per sequence (BOS included when --bos is on)")
	bosFlag := fs.String("bos", "auto", "BOS at position 0: on, off, or auto (on when the tokenizer or config.json defines a BOS token)")
	data := fs.String("data", "auto", "input: text (Brown corpus through the model's tokenizer), random (uniform random tokens), or auto (text when a tokenizer exists)")
	seed := fs.Uint64("seed", 0, "seed for sampling texts or random tokens")
	batch := fs.Int("batch", 10, "sequences per forward pass (bounds memory)")
	bf16 := fs.Bool("bf16", false, "keep checkpoint weights in bfloat16 (compute stays float32)")
	jsonOut := fs.String("json", "", "also write the numbers to this JSON file")
	shard := fs.Int("shard", 0, shardHelp)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *source == "" {
		return fmt.Errorf("--model is required (e.g. --model random:tiny or --model /path/to/hf_model)")
	}
	if *samples <= 0 || *seqLen < 2 || *batch <= 0 {
		return fmt.Errorf("--samples and --batch must be positive and --seq at least 2 (got %d, %d, %d)", *samples, *batch, *seqLen)
	}
	l, err := openModel(*source, *bf16, *shard)
	if err != nil {
		return err
	}
	in, err := l.Inputs(models.InputSpec{Data: *data, BOS: *bosFlag, N: *samples, SeqLen: *seqLen, Seed: *seed})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "data: %s\n", in.Describe)

	start := time.Now()
	cfg := l.Model.Config
	cache, err := l.Model.RunWithCacheBatched(in.Tokens, *batch, metrics.SinkProfileNames...)
	if err != nil {
		return err
	}
	profile, err := metrics.SinkProfile(cache, cfg.NLayers)
	if err != nil {
		return err
	}
	elapsed := time.Since(start).Seconds()
	fmt.Fprintf(stdout, "\n%5s  %10s  %12s  %14s\n", "layer", "attn→tok0", "attn→others", "‖x₀‖/mean‖xᵢ‖")
	for _, p := range profile {
		mark := ""
		if p.AttnToFirst > metrics.SinkOnsetThreshold {
			mark = "  sink"
		}
		fmt.Fprintf(stdout, "%5d  %10.4f  %12.4f  %14.2f%s\n", p.Layer, p.AttnToFirst, p.AttnToOthers, p.NormRatio, mark)
	}
	onset := metrics.SinkOnset(profile)
	if onset >= 0 {
		fmt.Fprintf(stdout, "\nsink onset: layer %d (first layer with mean attention to token 0 > %.1f)\n", onset, metrics.SinkOnsetThreshold)
	} else {
		fmt.Fprintf(stdout, "\nsink onset: none (no layer has mean attention to token 0 > %.1f)\n", metrics.SinkOnsetThreshold)
	}
	fmt.Fprintf(stdout, "%d × %d tokens through %d layers in %.2fs\n", len(in.Tokens), len(in.Tokens[0]), cfg.NLayers, elapsed)
	if *jsonOut != "" {
		r := sinksReport{Model: l.Describe(), Backend: backend.Config(), Data: in.Describe, BOS: in.BOS, Layers: profile,
			Onset: onset, Seconds: elapsed, Samples: len(in.Tokens), SeqLen: len(in.Tokens[0]), DataKind: in.Kind}
		b, _ := json.MarshalIndent(r, "", "  ")
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s\n", *jsonOut)
	}
	return nil
}

func cmdHooks(args []string) error {
	fs := flag.NewFlagSet("hooks", flag.ContinueOnError)
	source := fs.String("model", "random:tiny", "model source")
	layer := fs.Int("layer", 0, "show the block hook points of this layer (-1: all layers)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	l, err := openModel(*source, false, 0)
	if err != nil {
		return err
	}
	for _, hp := range l.Model.Config.HookPoints() {
		if *layer >= 0 && hp.Layer >= 0 && hp.Layer != *layer {
			continue
		}
		fmt.Fprintf(stdout, "%-34s [%s]  %s\n", hp.Name, strings.Join(hp.Dims, ", "), hp.Doc)
	}
	return nil
}
