package textstream

import (
	"fmt"

	"github.com/sinkscope/sinkscope/datasets/docs"
	"github.com/sinkscope/sinkscope/datasets/encoders"
	"github.com/sinkscope/sinkscope/datasets/internal/winrng"
	"github.com/sinkscope/sinkscope/datasets/stream"
)

// randomStream separates the random-token windows from the text windows of the same seed.
const randomStream = 0x7e47_5712_ea30_0003

// Random is a stream.Stream of uniformly random tokens: the control input with no structure.
// With a BOS id every window is BOS followed by SeqLen ids drawn uniformly from the other
// Vocab−1 ids (the fixture's random_bos batches draw 1..29 after BOS 0 the same way); without
// one (bos −1) all SeqLen+1 ids are drawn from [0, Vocab).
type Random struct {
	vocab, seqLen, bos int
	seed               uint64
}

var _ stream.Stream = (*Random)(nil)

// NewRandom returns the random-token stream; bos is −1 for none.
func NewRandom(vocab, seqLen, bos int, seed uint64) (*Random, error) {
	switch {
	case seqLen < 1:
		return nil, fmt.Errorf("textstream: sequence length %d, want ≥ 1", seqLen)
	case bos < -1 || bos >= vocab:
		return nil, fmt.Errorf("textstream: BOS id %d outside the vocabulary of %d (−1 for none)", bos, vocab)
	case vocab < 2:
		return nil, fmt.Errorf("textstream: random tokens need a vocabulary of at least 2, got %d", vocab)
	}
	return &Random{vocab: vocab, seqLen: seqLen, bos: bos, seed: seed}, nil
}

// Name describes the stream.
func (r *Random) Name() string {
	if r.bos >= 0 {
		return fmt.Sprintf("uniform random tokens over %d ids, BOS %d first, seed %d", r.vocab-1, r.bos, r.seed)
	}
	return fmt.Sprintf("uniform random tokens over %d ids, no BOS, seed %d", r.vocab, r.seed)
}

// Vocab is the vocabulary size.
func (r *Random) Vocab() int { return r.vocab }

// BOS is the BOS id, −1 for none.
func (r *Random) BOS() int { return r.bos }

// SeqLen is the number of model inputs per window.
func (r *Random) SeqLen() int { return r.seqLen }

// Train returns the n training windows of (step, micro).
func (r *Random) Train(step, micro, n int) ([][]int, error) {
	if step < 0 || micro < 0 || n < 0 {
		return nil, fmt.Errorf("textstream: Train(step %d, micro %d, n %d): arguments must be ≥ 0", step, micro, n)
	}
	return r.windows(winrng.Train, step, micro, n), nil
}

// Val returns validation batch i of n windows.
func (r *Random) Val(i, n int) ([][]int, error) {
	if i < 0 || n < 0 {
		return nil, fmt.Errorf("textstream: Val(%d, n %d): arguments must be ≥ 0", i, n)
	}
	return r.windows(winrng.Val, i, 0, n), nil
}

func (r *Random) windows(split winrng.Split, step, micro, n int) [][]int {
	w := r.seqLen + 1
	flat := make([]int, n*w)
	out := make([][]int, n)
	var rng winrng.Rand
	for i := range out {
		rng.Reset(randomStream, r.seed, split, step, micro, i)
		win := flat[i*w : (i+1)*w : (i+1)*w]
		out[i] = win
		k := 0
		if r.bos >= 0 {
			win[0] = r.bos
			k = 1
		}
		for ; k < w; k++ {
			if r.bos < 0 {
				win[k] = rng.Below(r.vocab)
				continue
			}
			id := rng.Below(r.vocab - 1)
			if id >= r.bos {
				id++
			}
			win[k] = id
		}
	}
	return out
}

// Open builds a text stream from names, for command-line flags: corpus as docs.Named ("brown",
// "gosrc", "gutenberg", "sotu" or a path), tokenizer as encoders.New ("bytes", "gpt2" or a
// model directory). cfg.Corpus defaults to the corpus name.
func Open(corpus, tokenizer string, cfg Config) (*Stream, error) {
	ds, err := docs.Named(corpus)
	if err != nil {
		return nil, err
	}
	enc, err := encoders.New(tokenizer)
	if err != nil {
		return nil, err
	}
	if cfg.Corpus == "" {
		cfg.Corpus = corpus
	}
	return New(ds, enc, cfg)
}
