// Package textstream cuts training windows (datasets/stream) out of tokenized documents, and
// draws windows of uniformly random tokens.
//
// New tokenizes a corpus (datasets/docs) with any encoder (datasets/encoders) once, splits it
// into training and validation parts by document, and serves windows of SeqLen+1 tokens in one
// of two modes:
//
//   - DocStart ("doc"): every window starts at the start of a document, with BOS before it.
//     The document is drawn uniformly from the part's documents; a document longer than the
//     window is cut at the window's end (only its beginning is ever seen), and a shorter one is
//     followed by BOS and another drawn document, and so on until the window is full ("packed":
//     BOS marks every document start, and no padding is needed; when a document ends one token
//     before the window does, the window ends with the next document's BOS).
//   - Anywhere ("random"): the part's documents are concatenated in corpus order, with nothing
//     between them, and every window starts at a uniformly drawn position of that token stream;
//     no BOS is added.
//
// The split is a pure function of the documents' IDs and SplitSeed: documents are ordered by a
// hash of (ID, SplitSeed) and the first ValFraction of them (at least one, never all) are held
// out. Window i of a batch comes from its own PCG generator seeded by (Seed, split, step, micro,
// i), so batches are pure functions of their coordinates, train and validation draws never share
// a generator, and validation windows come from held-out documents only.
package textstream

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"sort"
	"sync"

	"github.com/sinkscope/sinkscope/datasets/docs"
	"github.com/sinkscope/sinkscope/datasets/encoders"
	"github.com/sinkscope/sinkscope/datasets/internal/winrng"
	"github.com/sinkscope/sinkscope/datasets/stream"
)

// Mode says where windows start.
type Mode int

const (
	// DocStart windows start at a document start, BOS first; short documents are packed.
	DocStart Mode = iota
	// Anywhere windows start at any token of the concatenated documents, with no BOS.
	Anywhere
)

func (m Mode) String() string {
	switch m {
	case DocStart:
		return "doc"
	case Anywhere:
		return "random"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// ParseMode reads "doc" or "random".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "doc":
		return DocStart, nil
	case "random":
		return Anywhere, nil
	}
	return 0, fmt.Errorf("textstream: window mode %q, want doc or random", s)
}

// DefaultValFraction is the share of documents held out when Config.ValFraction is 0.
const DefaultValFraction = 0.1

// Config describes a text stream.
type Config struct {
	// SeqLen is the model's context: windows hold SeqLen+1 tokens.
	SeqLen int
	// Mode is DocStart (BOS + document starts) or Anywhere (random windows, no BOS).
	Mode Mode
	// Seed seeds the window draws.
	Seed uint64
	// SplitSeed seeds which documents are held out (independent of Seed, so runs with different
	// seeds validate on the same documents).
	SplitSeed uint64
	// ValFraction is the share of documents held out for validation, in (0, 1); 0 means
	// DefaultValFraction.
	ValFraction float64
	// Corpus names the documents in Name(), e.g. "Brown".
	Corpus string
}

// part is the tokens of one split: documents concatenated, starts[i] the offset of document i.
type part struct {
	ids    []string
	u16    []uint16 // tokens, when the vocabulary fits in 16 bits
	i32    []int32  // tokens otherwise
	starts []int    // len(ids)+1 offsets
}

func (p *part) len() int { return p.starts[len(p.starts)-1] }

// copyTo writes tokens [from, from+len(dst)) into dst.
func (p *part) copyTo(dst []int, from int) {
	if p.u16 != nil {
		for i, v := range p.u16[from : from+len(dst)] {
			dst[i] = int(v)
		}
		return
	}
	for i, v := range p.i32[from : from+len(dst)] {
		dst[i] = int(v)
	}
}

// Stream is a stream.Stream over a tokenized corpus.
type Stream struct {
	cfg        Config
	vocab, bos int
	encName    string
	train, val part
}

var _ stream.Stream = (*Stream)(nil)

// rngStream separates this package's windows from other streams built on the same seed.
const rngStream = 0x7e47_5712_ea30_0001

// splitStream separates the document split's hash from everything else.
const splitStream = 0x7e47_5712_ea30_0002

// New tokenizes ds with enc (in parallel; documents with no tokens are dropped) and returns the
// stream cfg describes. Errors: bad SeqLen or ValFraction, DocStart with an encoder without BOS,
// fewer than 2 non-empty documents, an encoding failure (naming the document), an id outside
// enc's vocabulary, and in Anywhere mode a part with fewer tokens than one window.
func New(ds []docs.Doc, enc encoders.Encoder, cfg Config) (*Stream, error) {
	if cfg.SeqLen < 1 {
		return nil, fmt.Errorf("textstream: sequence length %d, want ≥ 1", cfg.SeqLen)
	}
	if cfg.ValFraction == 0 {
		cfg.ValFraction = DefaultValFraction
	}
	if !(cfg.ValFraction > 0 && cfg.ValFraction < 1) {
		return nil, fmt.Errorf("textstream: validation fraction %v, want a value in (0, 1)", cfg.ValFraction)
	}
	if cfg.Mode != DocStart && cfg.Mode != Anywhere {
		return nil, fmt.Errorf("textstream: unknown mode %v", cfg.Mode)
	}
	if enc == nil {
		return nil, errors.New("textstream: no encoder")
	}
	s := &Stream{cfg: cfg, vocab: enc.Vocab(), bos: enc.BOS(), encName: enc.Name()}
	if cfg.Mode == DocStart && (s.bos < 0 || s.bos >= s.vocab) {
		return nil, fmt.Errorf("textstream: doc windows put BOS before each document, and %s has none (use mode random)", enc.Name())
	}
	if cfg.Mode == Anywhere {
		s.bos = -1
	}
	toks, err := encodeAll(ds, enc)
	if err != nil {
		return nil, err
	}
	var keep []int
	for i := range ds {
		if toks[i].len() > 0 {
			keep = append(keep, i)
		}
	}
	if len(keep) < 2 {
		return nil, fmt.Errorf("textstream: %d documents with tokens; a train/validation split by document needs at least 2 (docs.Chunk splits long documents)", len(keep))
	}
	// Hold out the documents with the smallest hashes.
	order := append([]int(nil), keep...)
	keys := make(map[int]uint64, len(order))
	for _, i := range order {
		keys[i] = winrng.HashString(ds[i].ID, cfg.SplitSeed, splitStream)
	}
	sort.SliceStable(order, func(a, b int) bool { return keys[order[a]] < keys[order[b]] })
	nVal := min(max(1, int(math.Round(cfg.ValFraction*float64(len(order))))), len(order)-1)
	isVal := make(map[int]bool, nVal)
	for _, i := range order[:nVal] {
		isVal[i] = true
	}
	small := s.vocab <= 1<<16
	for _, i := range keep {
		p := &s.train
		if isVal[i] {
			p = &s.val
		}
		if p.starts == nil {
			p.starts = []int{0}
		}
		p.ids = append(p.ids, ds[i].ID)
		if small {
			p.u16 = append(p.u16, toks[i].u16...)
		} else {
			p.i32 = append(p.i32, toks[i].i32...)
		}
		p.starts = append(p.starts, p.starts[len(p.starts)-1]+toks[i].len())
		toks[i] = compact{}
	}
	if small {
		for _, p := range []*part{&s.train, &s.val} {
			if p.u16 == nil {
				p.u16 = []uint16{}
			}
		}
	}
	if cfg.Mode == Anywhere {
		for _, p := range []struct {
			name string
			p    *part
		}{{"training", &s.train}, {"validation", &s.val}} {
			if p.p.len() < cfg.SeqLen+1 {
				return nil, fmt.Errorf("textstream: the %s part has %d tokens, fewer than one window of %d", p.name, p.p.len(), cfg.SeqLen+1)
			}
		}
	}
	return s, nil
}

// compact is one document's tokens in the stream's storage type.
type compact struct {
	u16 []uint16
	i32 []int32
}

func (c compact) len() int { return len(c.u16) + len(c.i32) }

// encodeAll tokenizes every document on GOMAXPROCS workers; the error is the first failure in
// document order.
func encodeAll(ds []docs.Doc, enc encoders.Encoder) ([]compact, error) {
	vocab := enc.Vocab()
	out := make([]compact, len(ds))
	errs := make([]error, len(ds))
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range max(1, min(runtime.GOMAXPROCS(0), len(ds))) {
		wg.Go(func() {
			for i := range jobs {
				out[i], errs[i] = encodeOne(ds[i], enc, vocab)
			}
		})
	}
	for i := range ds {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func encodeOne(d docs.Doc, enc encoders.Encoder, vocab int) (compact, error) {
	ids, err := enc.Encode(d.Text)
	if err != nil {
		return compact{}, fmt.Errorf("textstream: encoding document %s: %w", d.ID, err)
	}
	var c compact
	if vocab <= 1<<16 {
		c.u16 = make([]uint16, len(ids))
	} else {
		c.i32 = make([]int32, len(ids))
	}
	for k, id := range ids {
		if id < 0 || id >= vocab {
			return compact{}, fmt.Errorf("textstream: document %s: %s gave id %d outside its vocabulary of %d", d.ID, enc.Name(), id, vocab)
		}
		if c.u16 != nil {
			c.u16[k] = uint16(id)
		} else {
			c.i32[k] = int32(id)
		}
	}
	return c, nil
}

// Name describes the stream, e.g. "Brown (450 + 50 documents, 1.2M + 0.1M tokens), GPT-2 BPE,
// windows at document starts with BOS (short documents packed), seed 1".
func (s *Stream) Name() string {
	corpus := s.cfg.Corpus
	if corpus == "" {
		corpus = "text"
	}
	how := "windows at document starts with BOS (short documents packed)"
	if s.cfg.Mode == Anywhere {
		how = "windows at random positions, no BOS"
	}
	return fmt.Sprintf("%s (%d + %d documents, %s + %s tokens), %s, %s, seed %d", corpus,
		len(s.train.ids), len(s.val.ids), millions(s.train.len()), millions(s.val.len()), s.encName, how, s.cfg.Seed)
}

func millions(n int) string {
	if n >= 100_000 {
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	}
	return fmt.Sprint(n)
}

// Vocab is the encoder's vocabulary size.
func (s *Stream) Vocab() int { return s.vocab }

// BOS is the encoder's BOS id in DocStart mode, −1 in Anywhere mode.
func (s *Stream) BOS() int { return s.bos }

// SeqLen is the number of model inputs per window.
func (s *Stream) SeqLen() int { return s.cfg.SeqLen }

// Config is the stream's configuration (ValFraction filled in).
func (s *Stream) Config() Config { return s.cfg }

// TrainDocs and ValDocs are the IDs of each part's documents, in corpus order.
func (s *Stream) TrainDocs() []string { return append([]string(nil), s.train.ids...) }

// ValDocs: see TrainDocs.
func (s *Stream) ValDocs() []string { return append([]string(nil), s.val.ids...) }

// Tokens returns the number of tokens in the training and validation parts.
func (s *Stream) Tokens() (train, val int) { return s.train.len(), s.val.len() }

// Train returns the n training windows of (step, micro).
func (s *Stream) Train(step, micro, n int) ([][]int, error) {
	if step < 0 || micro < 0 || n < 0 {
		return nil, fmt.Errorf("textstream: Train(step %d, micro %d, n %d): arguments must be ≥ 0", step, micro, n)
	}
	return s.windows(&s.train, winrng.Train, step, micro, n), nil
}

// Val returns validation batch i of n windows, drawn from held-out documents only.
func (s *Stream) Val(i, n int) ([][]int, error) {
	if i < 0 || n < 0 {
		return nil, fmt.Errorf("textstream: Val(%d, n %d): arguments must be ≥ 0", i, n)
	}
	return s.windows(&s.val, winrng.Val, i, 0, n), nil
}

func (s *Stream) windows(p *part, split winrng.Split, step, micro, n int) [][]int {
	w := s.cfg.SeqLen + 1
	flat := make([]int, n*w)
	out := make([][]int, n)
	var rng winrng.Rand
	for i := range out {
		rng.Reset(rngStream, s.cfg.Seed, split, step, micro, i)
		win := flat[i*w : (i+1)*w : (i+1)*w]
		out[i] = win
		if s.cfg.Mode == Anywhere {
			p.copyTo(win, rng.Below(p.len()-w+1))
			continue
		}
		for pos := 0; pos < w; {
			d := rng.Below(len(p.ids))
			win[pos] = s.bos
			pos++
			k := min(w-pos, p.starts[d+1]-p.starts[d])
			p.copyTo(win[pos:pos+k], p.starts[d])
			pos += k
		}
	}
	return out
}
