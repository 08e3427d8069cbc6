package models

import (
	"fmt"

	"github.com/sinkscope/sinkscope/datasets/batch"
	"github.com/sinkscope/sinkscope/datasets/corpus"
	"github.com/sinkscope/sinkscope/datasets/tokenizer"
)

// InputSpec says which analysis batch to build.
type InputSpec struct {
	// Data is "text" (Brown-corpus samples through the model's tokenizer), "random" (uniform random
	// tokens, the paper's Fig. 4b setting) or "auto" (text when the model has a tokenizer).
	Data string
	// BOS is "on", "off" or "auto": on whenever the model defines a BOS token (its tokenizer's, else
	// config.json's bos_token_id), for text and random tokens alike; Describe says which.
	BOS       string
	N, SeqLen int // sequences × tokens (BOS counts as a token)
	Seed      uint64
}

// Inputs is an analysis batch and how it was made.
type Inputs struct {
	Tokens   [][]int
	BOS      bool   // whether position 0 of every sequence is the BOS token
	Kind     string // "text" or "random"
	Describe string // one line for reports, e.g. "20 Brown-corpus text samples × 64 tokens (seed 0, BOS 1 prepended)"
}

// tokEncoder adapts a tokenizer to the batch package's Encoder. When the tokenizer has no BOS of
// its own but the config defines one (GPT-2's <|endoftext|>), bos is prepended here.
type tokEncoder struct {
	t   *tokenizer.Tokenizer
	bos int
}

func (e tokEncoder) Encode(text string, addBOS bool) ([]int, error) {
	if _, own := e.t.BOS(); addBOS && own {
		return e.t.Encode(text, tokenizer.AddBOS)
	}
	ids, err := e.t.Encode(text, tokenizer.NoBOS)
	if err != nil || !addBOS {
		return ids, err
	}
	return append([]int{e.bos}, ids...), nil
}

// Inputs builds the analysis batch. BOS is always an explicit choice, reported in Describe.
func (l *Loaded) Inputs(spec InputSpec) (*Inputs, error) {
	data, bosFlag, n, seqLen, seed := spec.Data, spec.BOS, spec.N, spec.SeqLen, spec.Seed
	if n <= 0 || seqLen < 1 {
		return nil, fmt.Errorf("inputs: need at least one sequence of at least one token, got %d × %d", n, seqLen)
	}
	switch data {
	case "auto":
		data = "random"
		if l.Tokenizer != nil {
			data = "text"
		}
	case "text", "random":
	default:
		return nil, fmt.Errorf("data %q: want text, random or auto", data)
	}
	bosID, hasBOS := l.BOSID()
	var bos bool
	switch bosFlag {
	case "on":
		if !hasBOS {
			return nil, fmt.Errorf("bos on, but %s defines no BOS token (no tokenizer BOS, no bos_token_id in its config)", l.Source)
		}
		bos = true
	case "off":
	case "auto":
		bos = hasBOS
	default:
		return nil, fmt.Errorf("bos %q: want on, off or auto", bosFlag)
	}
	cfg := l.Model.Config
	bosText := "no BOS"
	switch {
	case bos:
		bosText = fmt.Sprintf("BOS %d prepended (bos %s; %s)", bosID, bosFlag, l.bosOrigin())
	case hasBOS:
		bosText = fmt.Sprintf("no BOS (bos %s; the model defines BOS %d)", bosFlag, bosID)
	}
	if data == "text" {
		if l.Tokenizer == nil {
			return nil, fmt.Errorf("text data needs a tokenizer, and %s has none: use random tokens (--data random; BOS is still prepended when the config defines one, see --bos)", l.Source)
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
		toks, err := batch.TextBatchN(tokEncoder{l.Tokenizer, bosID}, texts, n, seqLen, bos)
		if err != nil {
			return nil, err
		}
		return &Inputs{Tokens: toks, BOS: bos, Kind: "text",
			Describe: fmt.Sprintf("%d Brown-corpus text samples × %d tokens (seed %d, %s)", n, seqLen, seed, bosText)}, nil
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
	return &Inputs{Tokens: toks, BOS: bos, Kind: "random",
		Describe: fmt.Sprintf("%d uniform random-token sequences × %d tokens (seed %d, %s)", n, seqLen, seed, bosText)}, nil
}

// BOSID is the model's BOS token: its tokenizer's when it has one, else config.json's
// bos_token_id; ok is false when neither defines one.
func (l *Loaded) BOSID() (id int, ok bool) {
	if l.Tokenizer != nil {
		if id, ok := l.Tokenizer.BOS(); ok {
			return id, true
		}
	}
	if id := l.Model.Config.BOSTokenID; id >= 0 {
		return id, true
	}
	return -1, false
}

// bosOrigin says where BOSID comes from, for batch descriptions.
func (l *Loaded) bosOrigin() string {
	if l.Tokenizer != nil {
		if _, ok := l.Tokenizer.BOS(); ok {
			return "the tokenizer's BOS"
		}
	}
	if l.Planted != nil {
		return "the planted model's BOS"
	}
	return "bos_token_id of the config"
}
