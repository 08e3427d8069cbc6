// Package batch turns text and token streams into fixed-shape batches of token ids for the
// models: tokenized text truncated to a common length (TextBatch, TextBatchN), uniformly random
// token sequences (RandomTokens, the paper's control input with no natural-language structure),
// random training windows of a long token stream with their next-token labels (Windows,
// WindowsWithLabels), and splitting of a batch into micro-batches (Chunks).
//
// Batches are [][]int, one row per sequence, every row the same length. Everything random is
// deterministic given its seed (a PCG stream from math/rand/v2 and our own bounded sampling,
// so results do not change with library versions).
//
// Tokenizers enter through the small Encoder interface. The project's tokenizer takes a
// BOS mode rather than a bool; a wrapper that embeds it adapts Encode and keeps its BOS method,
// so TextBatch can check the BOS position:
//
//	type encoder struct{ *tokenizer.Tokenizer }
//
//	func (e encoder) Encode(text string, bos bool) ([]int, error) {
//		if bos {
//			return e.Tokenizer.Encode(text, tokenizer.AddBOS)
//		}
//		return e.Tokenizer.Encode(text, tokenizer.NoBOS)
//	}
//
//	rows, err := batch.TextBatchN(encoder{tok}, texts, 500, 64, true)
//
// A plain function can be used too, through EncoderFunc.
package batch

import (
	"fmt"
	"math/rand/v2"
	"slices"
)

// Encoder tokenizes text. With addBOS the returned ids start with the beginning-of-sequence
// token; without it they hold only the text's tokens.
//
// An Encoder that also has a method BOS() (int, bool) (see BOSer) lets TextBatch check that
// position 0 really is the BOS token.
type Encoder interface {
	Encode(text string, addBOS bool) ([]int, error)
}

// EncoderFunc adapts a function to Encoder.
type EncoderFunc func(text string, addBOS bool) ([]int, error)

// Encode calls f.
func (f EncoderFunc) Encode(text string, addBOS bool) ([]int, error) { return f(text, addBOS) }

// BOSer is implemented by tokenizers that report their BOS token id (ok is false when they
// have none).
type BOSer interface {
	BOS() (id int, ok bool)
}

// TextBatch tokenizes every text and returns one row per text that has at least seqLen tokens,
// truncated to exactly seqLen; shorter texts are skipped. With bos, position 0 of each row is
// the BOS token and seqLen counts it. The error reports a failed encoding, bad arguments, or
// that no text was long enough.
func TextBatch(enc Encoder, texts []string, seqLen int, bos bool) ([][]int, error) {
	rows, err := textRows(enc, texts, len(texts), seqLen, bos)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("batch: none of the %d texts has %d tokens", len(texts), seqLen)
	}
	return rows, nil
}

// TextBatchN is TextBatch for exactly n rows: it takes texts in order, skipping those with
// fewer than seqLen tokens, until it has n rows, and encodes no further. When the texts run out
// first, the error says how many rows were produced out of the n requested.
func TextBatchN(enc Encoder, texts []string, n, seqLen int, bos bool) ([][]int, error) {
	if n <= 0 {
		return nil, fmt.Errorf("batch: TextBatchN needs n > 0, got %d", n)
	}
	rows, err := textRows(enc, texts, n, seqLen, bos)
	if err != nil {
		return nil, err
	}
	if len(rows) < n {
		return nil, fmt.Errorf("batch: only %d of the %d requested sequences of %d tokens: "+
			"%d texts, %d of them too short", len(rows), n, seqLen, len(texts), len(texts)-len(rows))
	}
	return rows, nil
}

func textRows(enc Encoder, texts []string, n, seqLen int, bos bool) ([][]int, error) {
	if enc == nil {
		return nil, fmt.Errorf("batch: nil Encoder")
	}
	if seqLen <= 0 {
		return nil, fmt.Errorf("batch: seqLen must be > 0, got %d", seqLen)
	}
	bosID, checkBOS := -1, false
	if b, ok := enc.(BOSer); ok && bos {
		id, has := b.BOS()
		if !has {
			return nil, fmt.Errorf("batch: BOS requested but the encoder has no BOS token")
		}
		bosID, checkBOS = id, true
	}
	rows := make([][]int, 0, min(n, len(texts)))
	for i, text := range texts {
		if len(rows) == n {
			break
		}
		ids, err := enc.Encode(text, bos)
		if err != nil {
			return nil, fmt.Errorf("batch: encoding text %d: %w", i, err)
		}
		if checkBOS && (len(ids) == 0 || ids[0] != bosID) {
			return nil, fmt.Errorf("batch: text %d: BOS requested but the encoding does not start with BOS id %d", i, bosID)
		}
		if len(ids) < seqLen {
			continue
		}
		rows = append(rows, slices.Clip(slices.Clone(ids[:seqLen])))
	}
	return rows, nil
}

// The second PCG seed words of this package's generators: each function has its own, so the
// same seed gives unrelated draws in different functions.
const (
	randomTokensStream = 0x7e5f_0c0a_b0ca_b001
	windowsStream      = 0x7e5f_0c0a_b0ca_b002
)

// uniform returns an unbiased random integer in [0, n), n > 0, by rejection sampling.
func uniform(src *rand.PCG, n uint64) uint64 {
	threshold := -n % n // 2^64 mod n
	for {
		if r := src.Uint64(); r >= threshold {
			return r % n
		}
	}
}

// RandomTokens returns n sequences of seqLen token ids drawn independently and uniformly from
// [0, vocab) minus the excluded ids (BOS, EOS, padding or other special tokens), with no BOS
// added — the random-token inputs of the paper's Fig. 4b (500 × 64). The same arguments give
// the same sequences. Excluded ids must lie in [0, vocab) (repeats are allowed) and leave at
// least one id to draw.
func RandomTokens(n, seqLen, vocab int, seed uint64, exclude ...int) ([][]int, error) {
	if n <= 0 || seqLen <= 0 {
		return nil, fmt.Errorf("batch: RandomTokens needs n > 0 and seqLen > 0, got n=%d seqLen=%d", n, seqLen)
	}
	if vocab <= 0 {
		return nil, fmt.Errorf("batch: RandomTokens needs vocab > 0, got %d", vocab)
	}
	excluded := slices.Sorted(slices.Values(exclude))
	excluded = slices.Compact(excluded)
	for _, id := range excluded {
		if id < 0 || id >= vocab {
			return nil, fmt.Errorf("batch: excluded id %d is outside the vocabulary [0, %d)", id, vocab)
		}
	}
	allowed := vocab - len(excluded)
	if allowed <= 0 {
		return nil, fmt.Errorf("batch: vocabulary of %d with %d ids excluded leaves nothing to draw", vocab, len(excluded))
	}
	rng := rand.NewPCG(seed, randomTokensStream)
	flat := make([]int, n*seqLen)
	for i := range flat {
		// The r-th allowed id: step past every excluded id at or below it (they are sorted).
		id := int(uniform(rng, uint64(allowed)))
		for _, e := range excluded {
			if e > id {
				break
			}
			id++
		}
		flat[i] = id
	}
	return rows(flat, n, seqLen), nil
}

// rows cuts flat into n rows of width cols (sharing flat's memory, each row capped so an
// append cannot spill into the next).
func rows(flat []int, n, cols int) [][]int {
	out := make([][]int, n)
	for i := range out {
		out[i] = flat[i*cols : (i+1)*cols : (i+1)*cols]
	}
	return out
}

// Windows returns n windows of seqLen consecutive tokens taken at random positions of a long
// token stream (windows may overlap). Starts are uniform over [0, len(tokens)-seqLen-1], so
// every window has a next token; Windows gives exactly the inputs of WindowsWithLabels with the
// same arguments. The stream must have at least seqLen+1 tokens. The rows are copies.
func Windows(tokens []int, seqLen, n int, seed uint64) ([][]int, error) {
	inputs, _, err := windows(tokens, seqLen, n, seed, false)
	return inputs, err
}

// WindowsWithLabels is Windows with next-token labels: labels[i][j] = tokens[s+j+1] for the
// window inputs[i] = tokens[s : s+seqLen].
func WindowsWithLabels(tokens []int, seqLen, n int, seed uint64) (inputs, labels [][]int, err error) {
	return windows(tokens, seqLen, n, seed, true)
}

func windows(tokens []int, seqLen, n int, seed uint64, withLabels bool) (inputs, labels [][]int, err error) {
	if n <= 0 || seqLen <= 0 {
		return nil, nil, fmt.Errorf("batch: Windows needs n > 0 and seqLen > 0, got n=%d seqLen=%d", n, seqLen)
	}
	if len(tokens) < seqLen+1 {
		return nil, nil, fmt.Errorf("batch: a stream of %d tokens is too short for windows of %d tokens plus a next token", len(tokens), seqLen)
	}
	rng := rand.NewPCG(seed, windowsStream)
	starts := uint64(len(tokens) - seqLen) // start s in [0, len-seqLen-1]
	in := make([]int, n*seqLen)
	var lab []int
	if withLabels {
		lab = make([]int, n*seqLen)
	}
	for i := range n {
		s := int(uniform(rng, starts))
		copy(in[i*seqLen:], tokens[s:s+seqLen])
		if withLabels {
			copy(lab[i*seqLen:], tokens[s+1:s+seqLen+1])
		}
	}
	inputs = rows(in, n, seqLen)
	if withLabels {
		labels = rows(lab, n, seqLen)
	}
	return inputs, labels, nil
}

// Chunks splits xs into consecutive micro-batches of size elements, the last one shorter when
// size does not divide len(xs); an empty xs gives no chunks. The chunks share xs's memory
// (capped, so appending to one does not overwrite the next). Like slices.Chunk, it panics when
// size < 1, a programming error.
func Chunks[T any](xs []T, size int) [][]T {
	if size < 1 {
		panic(fmt.Sprintf("batch: Chunks size must be at least 1, got %d", size))
	}
	out := make([][]T, 0, (len(xs)+size-1)/size)
	for start := 0; start < len(xs); start += size {
		end := min(start+size, len(xs))
		out = append(out, xs[start:end:end])
	}
	return out
}
