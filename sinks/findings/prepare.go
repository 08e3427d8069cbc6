package findings

import (
	"fmt"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"

	"github.com/sinkscope/sinkscope/datasets/batch"
	"github.com/sinkscope/sinkscope/sinks/backend"
	"github.com/sinkscope/sinkscope/sinks/models"
	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// Params are the knobs of a reproduction; PaperParams are the paper's Llama-2-7B settings.
type Params struct {
	Samples, SeqLen int    // main batch: paper 20 × 64 (BOS counted)
	Random          int    // random-token sequences for Fig. 4b: paper 500 (0 or 1 skips it)
	Data            string // main batch: "text", "random" or "auto" (text when a tokenizer exists)
	// BOS for the main batch: "on", "off" or "auto" (on whenever the tokenizer or config.json
	// defines a BOS token). The random batch of Fig. 4b never has BOS (the paper's setting).
	BOS string
	// NeuronLayer is the super-neuron layer, or NeuronLayerAuto (the default) to scan every layer
	// and take the strongest (Llama-2-7B: layer 1).
	NeuronLayer int
	Batch       int // sequences per forward pass
	Seed        uint64
	// MainIDs and RandomIDs, when set, are used instead of the generated batches (e.g. read with
	// batch.ReadIDs from the files named in MainIDsFrom / RandomIDsFrom, which reports quote).
	MainIDs, RandomIDs         [][]int
	MainIDsFrom, RandomIDsFrom string
	// BF16Weights keeps checkpoint weights in bfloat16 (half the memory: Llama-2-7B fits in 14 GB);
	// computation and statistics stay float32.
	BF16Weights bool
	// Shard, when positive, splits the model's weights over that many devices of the backend
	// (transformer.Model.ShardOver: an XLA backend with that many devices) for a model larger than
	// one device; 0 runs unsharded on one device. The numbers are the same either way.
	Shard int
	// Layered says which runs go stage by stage, one compiled graph per distinct block shared across
	// layers (transformer.Model.SetLayeredFrom), instead of one graph per run: "on" (all), "off"
	// (none), or "auto" or "" (the default): on XLA backends the runs of at least
	// transformer.AutoLayeredFrom blocks, where compiling whole-model graphs would dominate, and none
	// on the pure-Go backend, where compiling is cheap. The numbers agree.
	Layered string
	// BF16Products runs the model's matrix products in bfloat16 with float32 accumulation
	// (transformer.Model.SetMatmulDType), as a bf16 checkpoint run by transformers does; the
	// residual stream, norms, softmax and every statistic stay float32. The backend description
	// says so.
	BF16Products bool
	// DeferScan leaves the super-neuron layer scan (NeuronLayerAuto) to Reproduce, which runs it as
	// its first step (beside the interventions with Options.Overlap); Prepare then only validates.
	DeferScan bool
	// ObserveRuns, when set, is given to the model before its first run
	// (transformer.Model.ObserveRuns): where each forward pass's time went, for profiling.
	ObserveRuns func(transformer.RunStat)
}

// PaperParams are the paper's settings: 20 text samples × 64 tokens with BOS, 500 random sequences
// × 64 without BOS; the super-neuron layer is scanned (Llama-2-7B: layer 1, disparity and QK lock at
// layer 2).
func PaperParams() Params {
	return Params{Samples: 20, SeqLen: 64, Random: 500, Data: "auto", BOS: "auto", NeuronLayer: NeuronLayerAuto, Batch: 16}
}

// Prepare opens a model source (see package models) on the backend, builds the setting and its
// description, and resolves the super-neuron layer (Setting.Resolve; not with Params.DeferScan). be
// may be nil (then backend.New()).
func Prepare(be compute.Backend, source string, p Params) (*Setting, Describe, *models.Loaded, error) {
	var d Describe
	if be == nil {
		var err error
		if be, err = backend.New(); err != nil {
			return nil, d, nil, err
		}
	}
	opts := &models.Options{}
	if p.BF16Weights {
		opts.WeightDType = dtypes.BFloat16
	}
	if p.Shard < 0 {
		return nil, d, nil, fmt.Errorf("Shard %d: want 0 (one device) or the number of devices to split the weights over", p.Shard)
	}
	if p.Shard > 0 { // before loading: a model too large for one device takes minutes to load
		if err := transformer.CheckShardOver(be, p.Shard); err != nil {
			return nil, d, nil, err
		}
	}
	from, err := layeredFrom(be, p.Layered) // before loading: a 7B model takes seconds
	if err != nil {
		return nil, d, nil, err
	}
	l, err := models.Open(be, source, opts)
	if err != nil {
		return nil, d, nil, err
	}
	l.Model.SetLayeredFrom(from)
	l.Model.ObserveRuns(p.ObserveRuns)
	if p.BF16Products {
		if err := l.Model.SetMatmulDType(dtypes.BFloat16); err != nil {
			return nil, d, nil, err
		}
	}
	s := &Setting{Model: l.Model, Batch: p.Batch, NeuronLayer: p.NeuronLayer}
	d = Describe{Model: l.Describe(), Backend: backend.Describe(be), Random: "none"}
	if p.BF16Products {
		d.Backend += ", matrix products in bfloat16 (float32 accumulation; norms, softmax and statistics in float32)"
	}
	if p.Shard > 0 {
		if err := l.Model.ShardOver(p.Shard); err != nil {
			return nil, d, nil, fmt.Errorf("%s: %w", source, err)
		}
		if n := l.Model.ShardedOver(); n > 1 { // ShardOver(1) leaves the model on one device
			d.Backend += fmt.Sprintf(", weights split over %d devices (tensor-parallel)", n)
		}
	}
	if s.Main, s.MainBOS, d.Main, err = mainBatch(l, p); err != nil {
		return nil, d, nil, fmt.Errorf("%s: %w", source, err)
	}
	switch {
	case p.RandomIDs != nil:
		if err := batch.CheckIDs(p.RandomIDs, l.Model.Config.VocabSize); err != nil {
			return nil, d, nil, fmt.Errorf("%s: random-batch ids (--random-ids %s): %w", source, p.RandomIDsFrom, err)
		}
		s.Random = p.RandomIDs
		d.Random = fmt.Sprintf("%d given sequences × %d tokens (%s, sha256 %.12s)", len(p.RandomIDs), len(p.RandomIDs[0]), orGiven(p.RandomIDsFrom), batch.IDsHash(p.RandomIDs))
	case p.Random > 1:
		rnd, err := l.Inputs(models.InputSpec{Data: "random", BOS: "off", N: p.Random, SeqLen: p.SeqLen, Seed: p.Seed + 1})
		if err != nil {
			return nil, d, nil, err
		}
		s.Random, d.Random = rnd.Tokens, rnd.Describe
	}
	resolve := s.Resolve
	if p.DeferScan {
		resolve = s.Validate
	}
	if err := resolve(); err != nil {
		return nil, d, nil, fmt.Errorf("%s: %w", source, err)
	}
	return s, d, l, nil
}

// mainBatch builds (or checks the given) main batch and says whether it starts with BOS.
func mainBatch(l *models.Loaded, p Params) ([][]int, bool, string, error) {
	if p.MainIDs == nil {
		in, err := l.Inputs(models.InputSpec{Data: p.Data, BOS: p.BOS, N: p.Samples, SeqLen: p.SeqLen, Seed: p.Seed})
		if err != nil {
			return nil, false, "", err
		}
		return in.Tokens, in.BOS, in.Describe, nil
	}
	ids := p.MainIDs
	if err := batch.CheckIDs(ids, l.Model.Config.VocabSize); err != nil {
		return nil, false, "", fmt.Errorf("main-batch ids (--ids %s): %w", p.MainIDsFrom, err)
	}
	bosID, hasBOS := l.BOSID()
	bos := hasBOS
	for _, row := range ids {
		bos = bos && row[0] == bosID
	}
	bosText := "no BOS at position 0"
	if bos {
		bosText = fmt.Sprintf("BOS %d at position 0 of every sequence", bosID)
	}
	return ids, bos, fmt.Sprintf("%d given sequences × %d tokens (%s, sha256 %.12s, %s)", len(ids), len(ids[0]), orGiven(p.MainIDsFrom), batch.IDsHash(ids), bosText), nil
}

func orGiven(from string) string {
	if from == "" {
		return "given ids"
	}
	return from
}

// layeredFrom is the transformer.Model.SetLayeredFrom block count of Params.Layered on be.
func layeredFrom(be compute.Backend, layered string) (int, error) {
	switch layered {
	case "on":
		return 1, nil
	case "off":
		return 0, nil
	case "", "auto":
		if be.Name() == "xla" {
			return transformer.AutoLayeredFrom, nil
		}
		return 0, nil
	}
	return 0, fmt.Errorf("Layered %q: want on, off or auto", layered)
}
