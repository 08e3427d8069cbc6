// Package encoders holds the tokenizers that training data are made with, behind one small
// interface so the text streams (datasets/textstream) take any of them:
//
//   - Bytes: one id per UTF-8 byte (0..255) and BOS = 256, vocabulary 257;
//   - GPT2: GPT-2's byte-level BPE (r50k_base, 50,257 ids, <|endoftext|> = 50256 as BOS) with
//     the vocabulary embedded in github.com/tiktoken-go/tokenizer, so it needs no files;
//   - HF: the tokenizer of a Hugging Face model directory, loaded by datasets/tokenizer.
//
// Encoders never add special tokens: a stream puts BOS where its mode says. Every encoder here
// is safe for concurrent use.
package encoders

import (
	"fmt"
	"sync"

	tiktoken "github.com/tiktoken-go/tokenizer"

	"github.com/sinkscope/sinkscope/datasets/tokenizer"
)

// Encoder turns text into token ids.
type Encoder interface {
	// Encode returns the ids of text, with no special tokens added.
	Encode(text string) ([]int, error)
	// Vocab is the number of ids (every id is in [0, Vocab)).
	Vocab() int
	// BOS is the id a stream puts before a document, −1 when there is none.
	BOS() int
	// Name describes the encoder in a few words, e.g. "GPT-2 BPE".
	Name() string
}

// Bytes is the byte-level encoder: id = byte value, BOS = 256.
type Bytes struct{}

// ByteBOS is the BOS id of Bytes.
const ByteBOS = 256

// Encode returns the bytes of text as ids.
func (Bytes) Encode(text string) ([]int, error) {
	out := make([]int, len(text))
	for i := range len(text) {
		out[i] = int(text[i])
	}
	return out, nil
}

// Vocab is 257.
func (Bytes) Vocab() int { return 257 }

// BOS is 256.
func (Bytes) BOS() int { return ByteBOS }

// Name is "bytes".
func (Bytes) Name() string { return "bytes" }

// Decode turns byte ids back into text; BOS and ids outside [0, 256) are an error.
func (Bytes) Decode(ids []int) (string, error) {
	b := make([]byte, len(ids))
	for i, id := range ids {
		if id < 0 || id > 255 {
			return "", fmt.Errorf("encoders: id %d at %d is not a byte", id, i)
		}
		b[i] = byte(id)
	}
	return string(b), nil
}

// GPT2Vocab is the size of GPT-2's vocabulary; GPT2BOS is its <|endoftext|> id.
const (
	GPT2Vocab = 50257
	GPT2BOS   = 50256
)

// gpt2Codec is shared: building the vocabulary map takes a moment and some memory.
var gpt2Codec = sync.OnceValues(func() (tiktoken.Codec, error) {
	c, err := tiktoken.Get(tiktoken.R50kBase)
	if err != nil {
		return nil, fmt.Errorf("encoders: GPT-2 BPE (r50k_base): %w", err)
	}
	c.SetErrorMode(tiktoken.ErrorModeReplace)
	return c, nil
})

// GPT2Encoder is GPT-2's BPE. The text "<|endoftext|>" is encoded as ordinary text; invalid
// UTF-8 is replaced by U+FFFD first (one per maximal invalid sequence, as Python's
// errors="replace").
type GPT2Encoder struct{ codec tiktoken.Codec }

// GPT2 returns GPT-2's BPE encoder.
func GPT2() (*GPT2Encoder, error) {
	c, err := gpt2Codec()
	if err != nil {
		return nil, err
	}
	return &GPT2Encoder{codec: c}, nil
}

// Encode returns the GPT-2 ids of text.
func (g *GPT2Encoder) Encode(text string) ([]int, error) {
	ids, _, err := g.codec.Encode(text)
	if err != nil {
		return nil, fmt.Errorf("encoders: GPT-2 BPE: %w", err)
	}
	out := make([]int, len(ids))
	for i, id := range ids {
		out[i] = int(id)
	}
	return out, nil
}

// Decode turns GPT-2 ids back into text (invalid UTF-8 replaced by U+FFFD).
func (g *GPT2Encoder) Decode(ids []int) (string, error) {
	u := make([]uint, len(ids))
	for i, id := range ids {
		if id < 0 || id >= GPT2Vocab {
			return "", fmt.Errorf("encoders: id %d at %d is outside GPT-2's vocabulary", id, i)
		}
		u[i] = uint(id)
	}
	return g.codec.Decode(u)
}

// Vocab is 50257.
func (g *GPT2Encoder) Vocab() int { return GPT2Vocab }

// BOS is <|endoftext|>, 50256.
func (g *GPT2Encoder) BOS() int { return GPT2BOS }

// Name is "GPT-2 BPE".
func (g *GPT2Encoder) Name() string { return "GPT-2 BPE" }

// HFEncoder adapts a loaded model tokenizer.
type HFEncoder struct {
	tok  *tokenizer.Tokenizer
	name string
}

// HF wraps a tokenizer loaded by datasets/tokenizer (Load of a model directory). Its BOS is the
// model's BOS token, −1 when it has none; name labels it in stream names (e.g. the model).
func HF(tok *tokenizer.Tokenizer, name string) *HFEncoder {
	if name == "" {
		name = "HF " + tok.Format()
	}
	return &HFEncoder{tok: tok, name: name}
}

// LoadHF loads the tokenizer of a model directory (tokenizer.json or tokenizer.model).
func LoadHF(dir string) (*HFEncoder, error) {
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return nil, err
	}
	return HF(tok, "tokenizer of "+dir), nil
}

// Encode returns the ids of text without a BOS token.
func (h *HFEncoder) Encode(text string) ([]int, error) { return h.tok.Encode(text, tokenizer.NoBOS) }

// Vocab is the tokenizer's vocabulary size.
func (h *HFEncoder) Vocab() int { return h.tok.VocabSize() }

// BOS is the model's BOS id, −1 when it has none.
func (h *HFEncoder) BOS() int {
	if id, ok := h.tok.BOS(); ok {
		return id
	}
	return -1
}

// Name labels the tokenizer.
func (h *HFEncoder) Name() string { return h.name }

// Tokenizer is the wrapped tokenizer.
func (h *HFEncoder) Tokenizer() *tokenizer.Tokenizer { return h.tok }

// New returns an encoder by name: "bytes" or "gpt2"; anything else is read as a model
// directory (or tokenizer file) for LoadHF.
func New(spec string) (Encoder, error) {
	switch spec {
	case "bytes":
		return Bytes{}, nil
	case "gpt2":
		return GPT2()
	case "":
		return nil, fmt.Errorf("encoders: no tokenizer named; want bytes, gpt2 or a model directory")
	}
	return LoadHF(spec)
}
