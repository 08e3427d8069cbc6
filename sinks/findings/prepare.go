package findings

import (
	"fmt"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"

	"github.com/sinkscope/sinkscope/sinks/backend"
	"github.com/sinkscope/sinkscope/sinks/models"
)

// Params are the knobs of a reproduction; PaperParams are the paper's Llama-2-7B settings.
type Params struct {
	Samples, SeqLen int    // text batch: paper 20 × 64 (BOS counted)
	Random          int    // random-token sequences for Fig. 4b: paper 500 (0 or 1 skips it)
	Data            string // main batch: "text", "random" or "auto" (text when a tokenizer exists)
	BOS             string // "on", "off" or "auto"
	NeuronLayer     int    // paper: 1
	Batch           int    // sequences per forward pass
	Seed            uint64
	// BF16Weights keeps checkpoint weights in bfloat16 (half the memory: Llama-2-7B fits in 14 GB);
	// computation and statistics stay float32.
	BF16Weights bool
}

// PaperParams are the paper's settings: 20 text samples × 64 tokens with BOS, 500 random sequences
// × 64 without BOS, super neurons in layer 1, disparity and QK lock at layer 2.
func PaperParams() Params {
	return Params{Samples: 20, SeqLen: 64, Random: 500, Data: "auto", BOS: "auto", NeuronLayer: 1, Batch: 16}
}

// Prepare opens a model source (see package models) on the backend and builds the setting and its
// description. be may be nil (then backend.New()).
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
	l, err := models.Open(be, source, opts)
	if err != nil {
		return nil, d, nil, err
	}
	text, err := l.Inputs(models.InputSpec{Data: p.Data, BOS: p.BOS, N: p.Samples, SeqLen: p.SeqLen, Seed: p.Seed})
	if err != nil {
		return nil, d, nil, err
	}
	s := &Setting{Model: l.Model, Text: text.Tokens, Batch: p.Batch, NeuronLayer: p.NeuronLayer}
	d = Describe{Model: l.Describe(), Backend: backend.Describe(be), Text: text.Describe, Random: "none"}
	if p.Random > 1 {
		rnd, err := l.Inputs(models.InputSpec{Data: "random", BOS: "off", N: p.Random, SeqLen: p.SeqLen, Seed: p.Seed + 1})
		if err != nil {
			return nil, d, nil, err
		}
		s.Random, d.Random = rnd.Tokens, rnd.Describe
	}
	if err := s.Validate(); err != nil {
		return nil, d, nil, fmt.Errorf("%s: %w", source, err)
	}
	return s, d, l, nil
}
