package main

import (
	"fmt"

	"github.com/sinkscope/sinkscope/datasets/batch"
	"github.com/sinkscope/sinkscope/datasets/corpus"
	"github.com/sinkscope/sinkscope/datasets/tokenizer"
	"github.com/sinkscope/sinkscope/sinks/models"
)

type inputs struct {
	tokens   [][]int
	bos      bool
	kind     string // "text" or "random"
	describe string
}

// tokEncoder adapts a tokenizer to the batch package's Encoder.
type tokEncoder struct{ t *tokenizer.Tokenizer }

func (e tokEncoder) Encode(text string, addBOS bool) ([]int, error) {
	mode := tokenizer.NoBOS
	if addBOS {
		mode = tokenizer.AddBOS
	}
	return e.t.Encode(text, mode)
}

// makeInputs builds the analysis batch. BOS is always an explicit choice, reported in describe.
func makeInputs(l *models.Loaded, data, bosFlag string, n, seqLen int, seed uint64) (*inputs, error) {
	switch data {
	case "auto":
		data = "random"
		if l.Tokenizer != nil {
			data = "text"
		}
	case "text", "random":
	default:
		return nil, fmt.Errorf("--data %q: want text, random or auto", data)
	}
	var bos bool
	switch bosFlag {
	case "on":
		bos = true
	case "off":
	case "auto":
		bos = data == "text" && l.Tokenizer != nil && hasBOS(l)
	default:
		return nil, fmt.Errorf("--bos %q: want on, off or auto", bosFlag)
	}
	cfg := l.Model.Config
	bosID := cfg.BOSTokenID
	if l.Tokenizer != nil {
		if id, ok := l.Tokenizer.BOS(); ok {
			bosID = id
		}
	}
	if bos && bosID < 0 {
		return nil, fmt.Errorf("--bos on, but %s has no BOS token", l.Source)
	}
	bosText := "no BOS"
	if bos {
		bosText = fmt.Sprintf("BOS %d prepended", bosID)
	}
	if data == "text" {
		if l.Tokenizer == nil {
			return nil, fmt.Errorf("--data text needs a tokenizer, and %s has none (use --data random)", l.Source)
		}
		dir, err := corpus.BrownDir()
		if err != nil {
			return nil, err
		}
		c, err := corpus.LoadBrown(dir)
		if err != nil {
			return nil, err
		}
		texts := c.Samples(4*n, seed, 400)
		toks, err := batch.TextBatchN(tokEncoder{l.Tokenizer}, texts, n, seqLen, bos)
		if err != nil {
			return nil, err
		}
		return &inputs{tokens: toks, bos: bos, kind: "text",
			describe: fmt.Sprintf("%d Brown-corpus text samples × %d tokens (seed %d, %s)", n, seqLen, seed, bosText)}, nil
	}
	var exclude []int
	for _, id := range []int{bosID, cfg.EOSTokenID} {
		if id >= 0 {
			exclude = append(exclude, id)
		}
	}
	length := seqLen
	if bos {
		length = seqLen - 1
	}
	toks, err := batch.RandomTokens(n, length, cfg.VocabSize, seed, exclude...)
	if err != nil {
		return nil, err
	}
	if bos {
		for i := range toks {
			toks[i] = append([]int{bosID}, toks[i]...)
		}
	}
	return &inputs{tokens: toks, bos: bos, kind: "random",
		describe: fmt.Sprintf("%d uniform random-token sequences × %d tokens (seed %d, %s)", n, seqLen, seed, bosText)}, nil
}

func hasBOS(l *models.Loaded) bool {
	_, ok := l.Tokenizer.BOS()
	return ok
}
