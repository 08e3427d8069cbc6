// Package stream defines what the trainer reads: deterministic streams of fixed-length token
// windows, split into training and validation parts. A batch is a pure function of (seed, step),
// never of how many batches were read before, so a resumed run sees exactly the batches an
// uninterrupted run would have seen.
//
// Implementations live next to their data: Bigram-Backcopy (datasets/bb), tokenized corpora
// (datasets/corpus through a tokenizer), random tokens. Each window holds SeqLen()+1 tokens:
// inputs are window[:SeqLen], next-token labels window[1:].
package stream

// Stream is a deterministic source of training and validation windows.
type Stream interface {
	// Name describes the data in one line (for logs and reports), e.g.
	// "Bigram-Backcopy (Brown bigrams, triggers ' ', e, t), BOS first, seed 1".
	Name() string
	// Vocab is the number of token ids (ids are in [0, Vocab)).
	Vocab() int
	// BOS is the beginning-of-sequence id, −1 when the windows carry none.
	BOS() int
	// SeqLen is the model's context: every window has SeqLen()+1 tokens.
	SeqLen() int
	// Train returns the training windows of global step `step` (micro-batch `micro` of the step
	// when gradients are accumulated): n windows, the same on every call with the same arguments.
	Train(step, micro, n int) ([][]int, error)
	// Val returns validation batch i: n windows from the held-out part, the same for every run.
	Val(i, n int) ([][]int, error)
}

// Split turns windows of SeqLen+1 tokens into model inputs (the first SeqLen tokens) and labels
// (the next token at each position).
func Split(windows [][]int) (inputs, labels [][]int) {
	inputs = make([][]int, len(windows))
	labels = make([][]int, len(windows))
	for i, w := range windows {
		inputs[i], labels[i] = w[:len(w)-1], w[1:]
	}
	return inputs, labels
}
