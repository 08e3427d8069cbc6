package textstream

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/sinkscope/sinkscope/datasets/corpus"
	"github.com/sinkscope/sinkscope/datasets/docs"
	"github.com/sinkscope/sinkscope/datasets/encoders"
	"github.com/sinkscope/sinkscope/datasets/stream"
)

// letterDocs are documents whose bytes identify them: document k is made of letter 'a'+k only,
// with lengths from short to long.
func letterDocs(n int) []docs.Doc {
	out := make([]docs.Doc, n)
	for k := range out {
		out[k] = docs.Doc{ID: fmt.Sprintf("doc%02d", k), Text: strings.Repeat(string(rune('a'+k)), 3+5*k)}
	}
	return out
}

func letters(w []int) map[int]bool {
	m := map[int]bool{}
	for _, id := range w {
		if id != encoders.ByteBOS {
			m[id] = true
		}
	}
	return m
}

func TestDocWindows(t *testing.T) {
	ds := letterDocs(20)
	s, err := New(ds, encoders.Bytes{}, Config{SeqLen: 24, Mode: DocStart, Seed: 1, ValFraction: 0.2, Corpus: "letters"})
	if err != nil {
		t.Fatal(err)
	}
	var _ stream.Stream = s
	if s.BOS() != 256 || s.Vocab() != 257 || s.SeqLen() != 24 {
		t.Errorf("BOS %d, vocab %d, seq len %d", s.BOS(), s.Vocab(), s.SeqLen())
	}
	train, val := s.TrainDocs(), s.ValDocs()
	if len(val) != 4 || len(train) != 16 {
		t.Fatalf("split %d + %d documents, want 16 + 4", len(train), len(val))
	}
	all := slices.Sorted(slices.Values(append(slices.Clone(train), val...)))
	if !slices.Equal(all, func() []string {
		var ids []string
		for _, d := range ds {
			ids = append(ids, d.ID)
		}
		return ids
	}()) {
		t.Errorf("parts %v + %v do not partition the documents", train, val)
	}
	valLetters := map[int]bool{}
	for _, id := range val {
		var k int
		fmt.Sscanf(id, "doc%d", &k)
		valLetters['a'+k] = true
	}
	sawPacked := false
	check := func(w []int, wantVal bool) {
		if len(w) != 25 || w[0] != 256 {
			t.Fatalf("window %v: want 25 tokens, BOS first", w)
		}
		// Every run after a BOS is the start of one document: a single letter, and, unless the
		// window ends it, the whole document.
		for i := 0; i < len(w); {
			j := i + 1
			for j < len(w) && w[j] != 256 {
				j++
			}
			run := w[i+1 : j]
			if len(run) == 0 {
				if j == len(w) { // the next document's BOS in the last slot
					break
				}
				t.Fatalf("empty document in %v", w)
			}
			k := run[0] - 'a'
			if len(letters(run)) != 1 || (j < len(w) && len(run) != 3+5*k) {
				t.Fatalf("run %v is not document %d's start", run, k)
			}
			if valLetters[run[0]] != wantVal {
				t.Fatalf("window of the %v part holds document %d", map[bool]string{true: "validation", false: "training"}[wantVal], k)
			}
			if j < len(w) {
				sawPacked = true
			}
			i = j
		}
	}
	for step := range 30 {
		ws, err := s.Train(step, 0, 8)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range ws {
			check(w, false)
		}
		vs, _ := s.Val(step, 8)
		for _, w := range vs {
			check(w, true)
		}
	}
	if !sawPacked {
		t.Error("no short document was packed")
	}
}

func TestRandomWindows(t *testing.T) {
	ds := letterDocs(12)
	s, err := New(ds, encoders.Bytes{}, Config{SeqLen: 16, Mode: Anywhere, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if s.BOS() != -1 {
		t.Errorf("BOS %d in random mode, want -1", s.BOS())
	}
	// The training part's concatenation, to find every window in.
	var concat []byte
	for _, id := range s.TrainDocs() {
		for _, d := range ds {
			if d.ID == id {
				concat = append(concat, d.Text...)
			}
		}
	}
	starts := map[int]bool{}
	ntrain, _ := s.Tokens()
	if ntrain != len(concat) {
		t.Errorf("%d training tokens, want %d", ntrain, len(concat))
	}
	for step := range 40 {
		ws, _ := s.Train(step, 2, 4)
		for _, w := range ws {
			b := make([]byte, len(w))
			for i, id := range w {
				b[i] = byte(id)
			}
			at := strings.Index(string(concat), string(b))
			if len(w) != 17 || at < 0 {
				t.Fatalf("window %q is not a piece of the training text", b)
			}
			starts[at] = true
		}
	}
	if len(starts) < 20 {
		t.Errorf("windows start at only %d places", len(starts))
	}
}

func TestDeterminism(t *testing.T) {
	for _, mode := range []Mode{DocStart, Anywhere} {
		t.Run(mode.String(), func(t *testing.T) {
			mk := func(seed uint64) *Stream {
				s, err := New(letterDocs(20), encoders.Bytes{}, Config{SeqLen: 32, Mode: mode, Seed: seed})
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			s := mk(5)
			a, _ := s.Train(7, 1, 6)
			if b, _ := mk(5).Train(7, 1, 6); !reflect.DeepEqual(a, b) {
				t.Error("the same step of two streams built alike differs")
			}
			if p, _ := s.Train(7, 1, 2); !reflect.DeepEqual(p, a[:2]) {
				t.Error("a smaller batch is not a prefix")
			}
			other := map[string][][]int{}
			other["step 8"], _ = s.Train(8, 1, 6)
			other["micro 0"], _ = s.Train(7, 0, 6)
			other["seed 6"], _ = mk(6).Train(7, 1, 6)
			other["val"], _ = s.Val(7, 6)
			for name, o := range other {
				if reflect.DeepEqual(a, o) {
					t.Errorf("%s gives the same windows as step 7 micro 1", name)
				}
			}
			v1, _ := s.Val(2, 3)
			v2, _ := s.Val(2, 3)
			if !reflect.DeepEqual(v1, v2) {
				t.Error("Val differs between calls")
			}
			// The split does not depend on Seed, only on SplitSeed.
			if !slices.Equal(s.ValDocs(), mk(6).ValDocs()) {
				t.Error("the held-out documents change with Seed")
			}
			s2, _ := New(letterDocs(20), encoders.Bytes{}, Config{SeqLen: 32, Mode: mode, SplitSeed: 1})
			if slices.Equal(s.ValDocs(), s2.ValDocs()) {
				t.Error("the held-out documents do not change with SplitSeed")
			}
		})
	}
}

func TestErrors(t *testing.T) {
	cases := []struct {
		name string
		ds   []docs.Doc
		enc  encoders.Encoder
		cfg  Config
		want string
	}{
		{"seq len", letterDocs(3), encoders.Bytes{}, Config{SeqLen: 0}, "sequence length 0"},
		{"val fraction", letterDocs(3), encoders.Bytes{}, Config{SeqLen: 4, ValFraction: 1}, "validation fraction 1"},
		{"one document", letterDocs(1), encoders.Bytes{}, Config{SeqLen: 4}, "at least 2"},
		{"empty documents", []docs.Doc{{ID: "a", Text: "x"}, {ID: "b", Text: ""}}, encoders.Bytes{}, Config{SeqLen: 4}, "1 documents with tokens"},
		{"no BOS", letterDocs(3), fakeEncoder{bos: -1}, Config{SeqLen: 4}, "fake has none"},
		{"too short", letterDocs(3), encoders.Bytes{}, Config{SeqLen: 100, Mode: Anywhere}, "fewer than one window of 101"},
		{"bad id", letterDocs(3), fakeEncoder{bos: 0, id: 99}, Config{SeqLen: 4}, "document doc00: fake gave id 99 outside its vocabulary of 10"},
		{"encode error", letterDocs(3), fakeEncoder{bos: 0, fail: true}, Config{SeqLen: 4}, "encoding document doc00: boom"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(c.ds, c.enc, c.cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one containing %q", err, c.want)
			}
		})
	}
	if _, err := ParseMode("docs"); err == nil {
		t.Error("ParseMode(docs) gave no error")
	}
	if m, err := ParseMode("random"); err != nil || m != Anywhere {
		t.Errorf("ParseMode(random) = %v, %v", m, err)
	}
}

type fakeEncoder struct {
	bos, id int
	fail    bool
}

func (f fakeEncoder) Encode(text string) ([]int, error) {
	if f.fail {
		return nil, errors.New("boom")
	}
	return []int{f.id, 1, 2}, nil
}
func (f fakeEncoder) Vocab() int   { return 10 }
func (f fakeEncoder) BOS() int     { return f.bos }
func (f fakeEncoder) Name() string { return "fake" }

func TestRandomTokens(t *testing.T) {
	r, err := NewRandom(30, 63, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	var _ stream.Stream = r
	ws, _ := r.Train(0, 0, 200)
	var count [30]int
	for _, w := range ws {
		if len(w) != 64 || w[0] != 0 {
			t.Fatalf("window %v", w)
		}
		for _, id := range w[1:] {
			count[id]++
		}
	}
	if count[0] != 0 {
		t.Errorf("BOS drawn %d times after position 0", count[0])
	}
	for id := 1; id < 30; id++ { // 434 expected each, sd ≈ 20
		if count[id] < 334 || count[id] > 534 {
			t.Errorf("id %d drawn %d times, want about 434", id, count[id])
		}
	}
	if a, _ := r.Train(0, 0, 3); !reflect.DeepEqual(a, ws[:3]) {
		t.Error("not deterministic")
	}
	if v, _ := r.Val(0, 3); reflect.DeepEqual(v, ws[:3]) {
		t.Error("validation equals training")
	}
	nb, _ := NewRandom(5, 8, -1, 1)
	seen := map[int]bool{}
	ws, _ = nb.Train(1, 0, 20)
	for _, w := range ws {
		for _, id := range w {
			seen[id] = true
		}
	}
	if len(seen) != 5 || nb.BOS() != -1 {
		t.Errorf("without BOS: ids %v, BOS %d", seen, nb.BOS())
	}
	if _, err := NewRandom(30, 8, 30, 1); err == nil {
		t.Error("BOS outside the vocabulary gave no error")
	}
}

// Real corpora, a little of each: the Go source of the strings package through GPT-2 BPE, Brown
// through the byte encoder, a JSONL file through Open.
func TestCorpora(t *testing.T) {
	root, err := docs.GoRoot()
	if err != nil {
		t.Fatal(err)
	}
	gs, err := docs.GoSource(filepath.Join(root, "src", "strings"))
	if err != nil {
		t.Fatal(err)
	}
	gpt2, err := encoders.GPT2()
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(gs, gpt2, Config{SeqLen: 64, Corpus: "Go strings package"})
	if err != nil {
		t.Fatal(err)
	}
	ws, _ := s.Train(0, 0, 4)
	for _, w := range ws {
		text, err := gpt2.Decode(w[1:])
		if err != nil || w[0] != encoders.GPT2BOS || !strings.HasPrefix(text, "// Copyright") {
			t.Errorf("Go window %q: want BOS and a file's copyright line", text)
		}
	}
	t.Log(s.Name())

	c, err := corpus.LoadBrown("../corpus/testdata/brown")
	if err != nil {
		t.Fatal(err)
	}
	bs, err := New(docs.FromCorpus(c), encoders.Bytes{}, Config{SeqLen: 16, Mode: Anywhere, Corpus: "Brown"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(bs.Name(), "Brown (1 + 1 documents,") || !strings.Contains(bs.Name(), "bytes, windows at random positions, no BOS, seed 0") {
		t.Errorf("name %q", bs.Name())
	}

	p := filepath.Join(t.TempDir(), "d.jsonl")
	writeFile(t, p, `{"text": "one document here"}`+"\n"+`{"text": "and another one"}`+"\n")
	js, err := Open(p, "bytes", Config{SeqLen: 8})
	if err != nil {
		t.Fatal(err)
	}
	if tr, va := js.Tokens(); tr+va != len("one document hereand another one") {
		t.Errorf("tokens %d + %d", tr, va)
	}
	if _, err := Open(p, "no-such-tokenizer", Config{SeqLen: 8}); err == nil {
		t.Error("unknown tokenizer gave no error")
	}
}

func BenchmarkDocWindows(b *testing.B) {
	s, err := New(letterDocs(20), encoders.Bytes{}, Config{SeqLen: 512})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; b.Loop(); i++ {
		s.Train(i, 0, 64)
	}
	b.ReportMetric(float64(b.N*64)/b.Elapsed().Seconds(), "windows/s")
}

func writeFile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
