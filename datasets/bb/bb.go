// Package bb is the Bigram-Backcopy task of Guo et al. 2024 ("Active-Dormant Attention Heads",
// arXiv 2410.13835): synthetic sequences on which a 2-layer transformer learns an attention sink
// on the BOS token within a few thousand steps.
//
// A sequence is BOS followed by a chain of characters over 29 symbols (a–z, space, '.', ','):
// the first symbol is drawn from the unigram distribution, each later one from the bigram row of
// the previous symbol, both estimated from lower-cased Brown text with add-1 smoothing. The 3
// most frequent symbols (space, e, t) are "triggers": the token after a trigger copies the token
// just before the trigger, unless that token is BOS or itself a trigger, where the bigram draw is
// used instead.
//
// Token ids: 0 = BOS, 1..26 = a..z, 27 = space, 28 = '.', 29 = ',' (id = 1 + index in Symbols).
//
// Everything here follows sinks/findings/testdata/trained_bb/make_fixture.py exactly: the same
// counts from the same Brown text (BrownCounts; the committed table is embedded, DefaultCounts),
// the same probabilities and inverse-CDF draws, so with NewPythonRandom the sampler reproduces
// that script's sequences id for id. Training streams (NewStream) draw from PCG instead, one
// generator per window (see datasets/stream).
package bb

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
)

const (
	// BOS is the beginning-of-sequence id.
	BOS = 0
	// Symbols are the characters of ids 1..29, in order.
	Symbols = "abcdefghijklmnopqrstuvwxyz .,"
	// NumSymbols is len(Symbols).
	NumSymbols = 29
	// Vocab is the number of token ids, BOS included.
	Vocab = NumSymbols + 1
	// NumTriggers is how many of the most frequent symbols are triggers.
	NumTriggers = 3
	// Smoothing is added to every unigram and bigram count.
	Smoothing = 1.0
)

// Counts are character counts of the cleaned Brown text (see BrownCounts), indexed by symbol
// (id − 1). Its JSON form is that of the fixture's bigram_counts.json.
type Counts struct {
	Symbols string                        `json:"symbols"`
	Source  string                        `json:"source,omitempty"`
	Unigram [NumSymbols]int64             `json:"unigram"`
	Bigram  [NumSymbols][NumSymbols]int64 `json:"bigram"`
}

//go:embed brown_bigrams.json
var embeddedCounts []byte

// DefaultCounts returns the committed table (a copy of the fixture's bigram_counts.json, equal
// to BrownCounts of the installed corpus; a test checks both), so the task needs no corpus.
func DefaultCounts() *Counts {
	c, err := ReadCounts(bytes.NewReader(embeddedCounts))
	if err != nil {
		panic("bb: embedded brown_bigrams.json: " + err.Error())
	}
	return c
}

// ReadCounts reads a table in the JSON form of bigram_counts.json.
func ReadCounts(r io.Reader) (*Counts, error) {
	var c Counts
	dec := json.NewDecoder(r)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("bb: bigram table: %w", err)
	}
	if c.Symbols != Symbols {
		return nil, fmt.Errorf("bb: bigram table: symbols %q, want %q", c.Symbols, Symbols)
	}
	return &c, nil
}

// ReadCountsFile is ReadCounts of a file.
func ReadCountsFile(path string) (*Counts, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("bb: %w", err)
	}
	defer f.Close()
	c, err := ReadCounts(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Task is the Bigram-Backcopy process of one table. It is read-only and safe for concurrent use.
type Task struct {
	counts   Counts
	first    [NumSymbols]float64 // P(first symbol), smoothed
	next     [NumSymbols][NumSymbols]float64
	cumFirst [NumSymbols]float64 // running sums, last entry 1 + 1e-12 (as in the fixture)
	cum      [NumSymbols][NumSymbols]float64
	hFirst   float64             // entropy of first, nats
	hNext    [NumSymbols]float64 // entropy of each bigram row
	triggers [NumTriggers]int    // token ids, most frequent first
	isTrig   [Vocab]bool
}

// DefaultTask is the task of the embedded Brown table: triggers space, e, t (ids 27, 5, 20).
func DefaultTask() *Task { return NewTask(DefaultCounts()) }

// NewTask builds the process of a table: add-1 smoothed probabilities (each row divided by its
// own sum), and the NumTriggers symbols with the largest raw unigram counts as triggers (ties go
// to the lower id).
func NewTask(c *Counts) *Task {
	t := &Task{counts: *c}
	var tot float64
	for _, u := range c.Unigram {
		tot += float64(u) + Smoothing
	}
	for i, u := range c.Unigram {
		t.first[i] = (float64(u) + Smoothing) / tot
	}
	cumulate(t.first[:], t.cumFirst[:])
	t.hFirst = entropy(t.first[:])
	for a := range NumSymbols {
		var s float64
		for _, n := range c.Bigram[a] {
			s += float64(n) + Smoothing
		}
		for b, n := range c.Bigram[a] {
			t.next[a][b] = (float64(n) + Smoothing) / s
		}
		cumulate(t.next[a][:], t.cum[a][:])
		t.hNext[a] = entropy(t.next[a][:])
	}
	order := make([]int, NumSymbols)
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool { return c.Unigram[order[i]] > c.Unigram[order[j]] })
	for k := range NumTriggers {
		t.triggers[k] = 1 + order[k]
		t.isTrig[1+order[k]] = true
	}
	return t
}

// cumulate writes the running sums of p, the last one replaced by 1 + 1e-12 so that every draw
// u < 1 lands inside (the fixture's _cum).
func cumulate(p, out []float64) {
	var s float64
	for i, x := range p {
		s += x
		out[i] = s
	}
	out[len(out)-1] = 1.0 + 1e-12
}

func entropy(p []float64) float64 {
	var h float64
	for _, x := range p {
		if x > 0 {
			h -= x * math.Log(x)
		}
	}
	return h
}

// Counts returns the table the task was built from.
func (t *Task) Counts() Counts { return t.counts }

// Triggers returns the trigger ids, most frequent symbol first ([27 5 20] for Brown).
func (t *Task) Triggers() []int { return append([]int(nil), t.triggers[:]...) }

// IsTrigger reports whether id is a trigger.
func (t *Task) IsTrigger(id int) bool { return id >= 0 && id < Vocab && t.isTrig[id] }

// NextProbs returns the distribution (over all Vocab ids; BOS has 0) of the token drawn after
// prev when it is not a copy: the smoothed unigram distribution after BOS, otherwise the bigram
// row of prev. It returns nil for an id outside [0, Vocab).
func (t *Task) NextProbs(prev int) []float64 {
	var row []float64
	switch {
	case prev == BOS:
		row = t.first[:]
	case prev > 0 && prev < Vocab:
		row = t.next[prev-1][:]
	default:
		return nil
	}
	return append([]float64{0}, row...)
}

// Source is the uniform randomness the sampler consumes: Float64 in [0, 1). The streams use a
// PCG generator; NewPythonRandom reproduces the fixture script's random.Random.
type Source interface {
	Float64() float64
}

// draw is bisect.bisect_right(cum, u): the index of the first running sum above u.
func draw(cum []float64, u float64) int {
	return sort.Search(len(cum), func(i int) bool { return cum[i] > u })
}

// copies reports whether the token at a position whose two predecessors are prev2, prev is a
// copy of prev2 (the backcopy rule).
func (t *Task) copies(prev2, prev int) bool {
	return t.IsTrigger(prev) && prev2 != BOS && !t.IsTrigger(prev2)
}

// Fill overwrites ids with one sequence: BOS, then len(ids)−1 symbols. When copy is not nil (it
// must then have len(ids) entries) copy[i] says whether ids[i] was copied. Each bigram or first
// draw takes one src.Float64(); a copy takes none.
func (t *Task) Fill(src Source, ids []int, copy []bool) {
	if len(ids) == 0 {
		return
	}
	ids[0] = BOS
	if copy != nil {
		copy[0] = false
	}
	for i := 1; i < len(ids); i++ {
		prev := ids[i-1]
		isCopy := false
		switch {
		case prev == BOS:
			ids[i] = 1 + draw(t.cumFirst[:], src.Float64())
		case i >= 2 && t.copies(ids[i-2], prev):
			ids[i] = ids[i-2]
			isCopy = true
		default:
			ids[i] = 1 + draw(t.cum[prev-1][:], src.Float64())
		}
		if copy != nil {
			copy[i] = isCopy
		}
	}
}

// Sequence returns one sequence of n tokens (BOS first) and its copy mask, as Fill.
func (t *Task) Sequence(src Source, n int) (ids []int, copy []bool) {
	ids, copy = make([]int, n), make([]bool, n)
	t.Fill(src, ids, copy)
	return ids, copy
}

// IsCopy returns, for each position of a sequence (BOS first), whether the process makes that
// token a deterministic copy: the previous token is a trigger and the one before it is neither
// BOS nor a trigger. It depends on the ids alone, so it works on any window of the task's
// streams. For next-token prediction on inputs w[:T] and labels w[1:], the label mask is
// IsCopy(w)[1:] (see CopyLabels).
func (t *Task) IsCopy(ids []int) []bool {
	out := make([]bool, len(ids))
	for i := 2; i < len(ids); i++ {
		out[i] = t.copies(ids[i-2], ids[i-1])
	}
	return out
}

// CopyLabels is IsCopy(window)[1:]: whether each next-token label of the window is a copy.
func (t *Task) CopyLabels(window []int) []bool {
	if len(window) == 0 {
		return nil
	}
	return t.IsCopy(window)[1:]
}

// NLL returns, for each prediction of a sequence (position i predicts ids[i+1], len(ids)−1
// entries), −log p of the actual next token under the true process, in nats: 0 at a copy that
// was copied right, +Inf for a token the process cannot produce there (a wrong copy, BOS or an
// id outside the vocabulary after position 0). This is the fixture's true_nll.
func (t *Task) NLL(ids []int) []float64 {
	if len(ids) < 2 {
		return nil
	}
	out := make([]float64, len(ids)-1)
	for i := 1; i < len(ids); i++ {
		prev, cur := ids[i-1], ids[i]
		var p float64
		switch {
		case cur <= BOS || cur >= Vocab:
			p = 0
		case i >= 2 && t.copies(ids[i-2], prev):
			p = 0
			if cur == ids[i-2] {
				p = 1
			}
		case prev == BOS:
			p = t.first[cur-1]
		case prev > 0 && prev < Vocab:
			p = t.next[prev-1][cur-1]
		}
		out[i-1] = -math.Log(p)
	}
	return out
}

// Entropy returns, for each prediction of a sequence (len(ids)−1 entries), the entropy in nats
// of the true next-token distribution given the prefix: 0 at copies, the entropy of the
// unigram distribution after BOS, of the previous symbol's bigram row elsewhere (NaN after an id
// outside the vocabulary). Its mean is the loss a perfect model would expect on these prefixes.
func (t *Task) Entropy(ids []int) []float64 {
	if len(ids) < 2 {
		return nil
	}
	out := make([]float64, len(ids)-1)
	for i := 1; i < len(ids); i++ {
		prev := ids[i-1]
		switch {
		case i >= 2 && t.copies(ids[i-2], prev):
			out[i-1] = 0
		case prev == BOS:
			out[i-1] = t.hFirst
		case prev > 0 && prev < Vocab:
			out[i-1] = t.hNext[prev-1]
		default:
			out[i-1] = math.NaN()
		}
	}
	return out
}

// ExpectedLoss returns the exact expected loss (nats) of the true process at each of the seqLen
// predictions of a window of seqLen+1 tokens: entry i is E[H(next | prefix)] for the prediction
// of token i+1, computed by propagating the distribution of the last two tokens. Its mean is the
// lowest validation loss a model can reach on the task (1.0047 for the fixture's 64-token
// sequences, seqLen 63, as an average over 1000 sampled sequences).
func (t *Task) ExpectedLoss(seqLen int) []float64 {
	if seqLen <= 0 {
		return nil
	}
	out := make([]float64, seqLen)
	out[0] = t.hFirst
	// p[a][b]: probability that the two tokens before the next prediction are (a, b).
	var p, q [Vocab][Vocab]float64
	for s := range NumSymbols {
		p[BOS][1+s] = t.first[s]
	}
	for i := 1; i < seqLen; i++ {
		q = [Vocab][Vocab]float64{}
		var loss float64
		for a := range Vocab {
			for b := 1; b < Vocab; b++ {
				w := p[a][b]
				if w == 0 {
					continue
				}
				if t.copies(a, b) {
					q[b][a] += w
					continue
				}
				loss += w * t.hNext[b-1]
				for c := range NumSymbols {
					q[b][1+c] += w * t.next[b-1][c]
				}
			}
		}
		out[i] = loss
		p = q
	}
	return out
}

// Decode writes a sequence as text, BOS as '^' (as the fixture's decode).
func Decode(ids []int) string {
	b := make([]byte, len(ids))
	for i, id := range ids {
		switch {
		case id == BOS:
			b[i] = '^'
		case id > 0 && id < Vocab:
			b[i] = Symbols[id-1]
		default:
			b[i] = '?'
		}
	}
	return string(b)
}
