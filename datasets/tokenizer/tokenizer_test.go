package tokenizer

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

func mustLoad(t testing.TB, style string) *Tokenizer {
	t.Helper()
	tok, err := Load(filepath.Join("testdata", style))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func mustID(t testing.TB, tok *Tokenizer, s string) int {
	t.Helper()
	id, ok := tok.ID(s)
	if !ok {
		t.Fatalf("token %q not in vocabulary", s)
	}
	return id
}

func TestTokenString(t *testing.T) {
	cases := []struct {
		style string
		token string
		want  string
	}{
		{"gpt2", "Ġwor", " wor"},
		{"gpt2", "Ċ", "\n"},
		{"gpt2", "ĠĠĠ", "   "},
		{"gpt2", "ðŁ", "<0xF0><0x9F>"},
		{"gpt2", "<|endoftext|>", "<|endoftext|>"},
		{"gpt2", "<|mask|>", "<|mask|>"},
		{"llama3", "Ġwor", " wor"},
		{"llama3", "<|begin_of_text|>", "<|begin_of_text|>"},
		{"llama3", "[NOTE]", "[NOTE]"},
		{"qwen2", "Ċ", "\n"},
		{"llama2", "▁wor", " wor"},
		{"llama2", "▁", " "},
		{"llama2", "<0x0A>", "\n"},
		{"llama2", "<0xF0>", "<0xF0>"},
		{"llama2", "<s>", "<s>"},
		{"llama2", "<unk>", "<unk>"},
		{"metaspace", "▁wor", " wor"},
		{"spm_bpe", "▁a", " a"},
		{"spm_bpe", "<0x0A>", "\n"},
		{"spm_bpe", "<0xE6>", "<0xE6>"},
		{"spm_bpe", "<s>", "<s>"},
		{"spm_bpe", "<|user|>", "<|user|>"},
		{"spm_unigram", "▁spaces", " spaces"},
	}
	toks := map[string]*Tokenizer{}
	for _, c := range cases {
		tok := toks[c.style]
		if tok == nil {
			tok = mustLoad(t, c.style)
			toks[c.style] = tok
		}
		got, err := tok.TokenString(mustID(t, tok, c.token))
		if err != nil || got != c.want {
			t.Errorf("%s: TokenString(%q) = %q, %v; want %q", c.style, c.token, got, err, c.want)
		}
	}

	// For byte-level tokenizers the labels of a text's tokens spell the text out, except
	// where a character is cut between tokens.
	tok := toks["gpt2"]
	text := "Hello, world!\n  multiple   spaces 12345 don't"
	ids, err := tok.Encode(text, NoBOS)
	if err != nil {
		t.Fatal(err)
	}
	labels, err := tok.TokenStrings(ids)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(labels, ""); got != text {
		t.Errorf("joined labels = %q, want %q", got, text)
	}
	if _, err := tok.TokenStrings([]int{ids[0], -5}); err == nil {
		t.Errorf("TokenStrings with a bad id: no error")
	}
}

func TestBOSAndEOS(t *testing.T) {
	cases := []struct {
		style    string
		bos, eos string // "" for none
		def      BOSMode
	}{
		{"gpt2", "<|endoftext|>", "<|endoftext|>", NoBOS},
		{"llama3", "<|begin_of_text|>", "<|end_of_text|>", AddBOS}, // from the post-processor
		{"qwen2", "", "<|im_end|>", NoBOS},
		{"llama2", "<s>", "</s>", AddBOS}, // add_bos_token
		{"metaspace", "<s>", "</s>", AddBOS},
		{"metaspace_always", "<s>", "</s>", NoBOS}, // add_bos_token false overrides the template
		{"splits", "", "", NoBOS},
		{"bpe_suffix", "[BOS]", "", AddBOS},
		{"spm_bpe", "<s>", "</s>", NoBOS}, // trainer spec, no configuration file
	}
	for _, c := range cases {
		tok := mustLoad(t, c.style)
		id, ok := tok.BOS()
		if c.bos == "" {
			if ok {
				t.Errorf("%s: BOS() = %d, want none", c.style, id)
			}
			if _, err := tok.Encode("hi", AddBOS); err == nil || !strings.Contains(err.Error(), "no BOS") {
				t.Errorf("%s: Encode(AddBOS) without BOS: err = %v", c.style, err)
			}
		} else {
			if want := mustID(t, tok, c.bos); !ok || id != want {
				t.Errorf("%s: BOS() = %d, %v; want %d", c.style, id, ok, want)
			}
			ids, err := tok.Encode("hi", AddBOS)
			if err != nil || len(ids) == 0 || ids[0] != id {
				t.Errorf("%s: Encode(AddBOS) = %v, %v", c.style, ids, err)
			}
			if ids, _ := tok.Encode("hi", NoBOS); len(ids) > 0 && ids[0] == id {
				t.Errorf("%s: Encode(NoBOS) starts with BOS: %v", c.style, ids)
			}
		}
		if id, ok := tok.EOS(); (c.eos == "" && ok) || (c.eos != "" && (!ok || id != mustID(t, tok, c.eos))) {
			t.Errorf("%s: EOS() = %d, %v; want %q", c.style, id, ok, c.eos)
		}
		if got := tok.DefaultBOS(); got != c.def {
			t.Errorf("%s: DefaultBOS() = %v, want %v", c.style, got, c.def)
		}
	}
	if _, err := mustLoad(t, "gpt2").Encode("x", BOSMode(7)); err == nil {
		t.Errorf("invalid BOSMode: no error")
	}
}

func TestOutOfRangeIDs(t *testing.T) {
	for _, style := range []string{"gpt2", "spm_bpe"} {
		tok := mustLoad(t, style)
		n := tok.VocabSize()
		for _, id := range []int{-1, n, n + 1000} {
			want := fmt.Sprintf("token id %d out of range", id)
			sizeText := fmt.Sprintf("vocab size %d", n)
			if _, err := tok.Decode([]int{0, id}); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), sizeText) {
				t.Errorf("%s: Decode with id %d: err = %v", style, id, err)
			}
			if _, err := tok.TokenString(id); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s: TokenString(%d): err = %v", style, id, err)
			}
			if _, err := tok.Token(id); err == nil {
				t.Errorf("%s: Token(%d): no error", style, id)
			}
		}
	}
	// An id inside the range that has no token.
	tok, err := ParseJSON([]byte(`{"model": {"type": "BPE", "vocab": {"a": 0, "b": 5}, "merges": []}}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tok.Decode([]int{3}); err == nil || !strings.Contains(err.Error(), "id 3 has no token") {
		t.Errorf("Decode of a hole: err = %v", err)
	}
}

func TestBadTokenizerJSON(t *testing.T) {
	cases := []struct {
		name, json, want string
	}{
		{"malformed", `{"model": {"type": "BPE", "vocab": {`, "tokenizer.json"},
		{"not an object", `[1, 2, 3]`, "tokenizer.json"},
		{"no model", `{"added_tokens": []}`, "no model"},
		{"empty vocab", `{"model": {"type": "BPE", "vocab": {}, "merges": []}}`, "vocab is empty"},
		{"no vocab", `{"model": {"type": "BPE", "merges": []}}`, "no vocab"},
		{"negative id", `{"model": {"type": "BPE", "vocab": {"a": -1}, "merges": []}}`, "invalid id"},
		{"huge id", `{"model": {"type": "BPE", "vocab": {"a": 123456789012}, "merges": []}}`, "tokenizer.json"},
		{"merge unknown left", `{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": [["x", "b"]]}}`, `unknown token "x"`},
		{"merge unknown right", `{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a y"]}}`, `unknown token "y"`},
		{"merge result unknown", `{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b"]}}`, `produces "ab"`},
		{"merge three parts", `{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b c"]}}`, "two tokens"},
		{"merge bad shape", `{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": [["a"]]}}`, "merge #0"},
		{"merge mixed", `{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b", 7]}}`, "merge #1"},
		{"merges not a list", `{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": "a b"}}`, "merges"},
		{"shared id", `{"model": {"type": "BPE", "vocab": {"a": 0, "b": 0}, "merges": []}}`, `tokens "a" and "b" share id 0`},
		{"unk not in vocab", `{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [], "unk_token": "<unk>"}}`, "unk_token"},
		{"wordpiece", `{"model": {"type": "WordPiece", "vocab": {"a": 0}}}`, `"WordPiece" is not supported`},
		{"unigram", `{"model": {"type": "Unigram", "vocab": [["a", 0.0]]}}`, `"Unigram" is not supported`},
		{"unknown normalizer", `{"normalizer": {"type": "BertNormalizer"}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}`, `normalizer type "BertNormalizer"`},
		{"unknown pre-tokenizer", `{"pre_tokenizer": {"type": "UnicodeScripts"}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}`, `pre-tokenizer type "UnicodeScripts"`},
		{"unknown decoder", `{"decoder": {"type": "CTC"}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}`, `decoder type "CTC"`},
		{"class intersection", `{"pre_tokenizer": {"type": "Split", "pattern": {"Regex": "[a-z&&[^b]]"}, "behavior": "Isolated", "invert": false}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}`, "unsupported pattern"},
		{"bad behavior", `{"pre_tokenizer": {"type": "Split", "pattern": {"String": " "}, "behavior": "Sideways"}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}`, "split behavior"},
		{"added token without id", `{"added_tokens": [{"content": "<x>"}], "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}`, "has no id"},
		{"dropout", `{"model": {"type": "BPE", "dropout": 0.1, "vocab": {"a": 0}, "merges": []}}`, "dropout"},
	}
	for _, c := range cases {
		_, err := ParseJSON([]byte(c.json))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to mention %q", c.name, err, c.want)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	if _, err := Load(filepath.Join("testdata", "does-not-exist")); err == nil {
		t.Errorf("missing directory: no error")
	}
	empty := t.TempDir()
	if _, err := Load(empty); err == nil || !strings.Contains(err.Error(), "neither tokenizer.json nor tokenizer.model") {
		t.Errorf("empty directory: err = %v", err)
	}
	// A bos_token that is not in the vocabulary.
	dir := t.TempDir()
	data, err := os.ReadFile(filepath.Join("testdata", "gpt2", "tokenizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "tokenizer.json", data)
	writeFile(t, dir, "tokenizer_config.json", []byte(`{"bos_token": {"content": "<nope>"}}`))
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), `"<nope>" is not in the vocabulary`) {
		t.Errorf("unknown bos_token: err = %v", err)
	}
	writeFile(t, dir, "tokenizer_config.json", []byte(`{"bos_token": `))
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), "tokenizer_config.json") {
		t.Errorf("malformed tokenizer_config.json: err = %v", err)
	}
	// An unsupported tokenizer.json next to a tokenizer.model: the model file is used.
	model, err := os.ReadFile(filepath.Join("testdata", "spm_bpe", "tokenizer.model"))
	if err != nil {
		t.Fatal(err)
	}
	both := t.TempDir()
	writeFile(t, both, "tokenizer.json", []byte(`{"model": {"type": "Unigram", "vocab": [["a", 0.0]]}}`))
	if _, err := Load(both); err == nil || !strings.Contains(err.Error(), `"Unigram" is not supported`) {
		t.Errorf("unsupported tokenizer.json alone: err = %v", err)
	}
	writeFile(t, both, "tokenizer.model", model)
	if tok, err := Load(both); err != nil || tok.Format() != "tokenizer.model" {
		t.Errorf("fallback to tokenizer.model: %v, %v", tok, err)
	}

	// A file path works as well as its directory.
	tok, err := Load(filepath.Join("testdata", "spm_bpe", "tokenizer.model"))
	if err != nil || tok.Format() != "tokenizer.model" {
		t.Errorf("Load(file) = %v, %v", tok, err)
	}
}

func writeFile(t testing.TB, dir, name string, data []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestIgnoreMerges(t *testing.T) {
	const tmpl = `{"model": {"type": "BPE", "ignore_merges": %v,
		"vocab": {"a": 0, "b": 1, "c": 2, "bc": 3, "abc": 4, "ab": 5}, "merges": [["b", "c"], ["a", "b"]]}}`
	for _, ignore := range []bool{false, true} {
		tok, err := ParseJSON([]byte(fmt.Sprintf(tmpl, ignore)))
		if err != nil {
			t.Fatal(err)
		}
		ids, err := tok.Encode("abc", NoBOS)
		if err != nil {
			t.Fatal(err)
		}
		want := []int{0, 3} // "b c" has the lower rank: a + bc
		if ignore {
			want = []int{4} // the whole word is in the vocabulary
		}
		if !slices.Equal(ids, want) {
			t.Errorf("ignore_merges=%v: Encode(abc) = %v, want %v", ignore, ids, want)
		}
	}
}

func TestMergeOrder(t *testing.T) {
	// Lowest rank first; equal pairs leftmost first; unknown characters without an unk token
	// are dropped, as the tokenizers library does.
	tok, err := ParseJSON([]byte(`{"model": {"type": "BPE",
		"vocab": {"a": 0, "aa": 1, "aaa": 2, "b": 3, "ab": 4},
		"merges": [["a", "a"], ["a", "b"], ["aa", "a"]]}}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		in   string
		want []int
	}{
		{"aaa", []int{2}},       // leftmost "a a" first, then "aa a"
		{"aab", []int{1, 3}},    // rank 0 "a a" beats rank 1 "a b"
		{"ab", []int{4}},        // a single merge
		{"axb", []int{4}},       // x is dropped, then "a b" merges
		{"", nil},               // nothing
		{"bbb", []int{3, 3, 3}}, // no merges
	} {
		ids, err := tok.Encode(c.in, NoBOS)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids, c.want) {
			t.Errorf("Encode(%q) = %v, want %v", c.in, ids, c.want)
		}
	}
}

func TestConcurrentEncode(t *testing.T) {
	tok := mustLoad(t, "llama3")
	text := "Attention sinks are tokens that receive a large share of attention, 2024!\n"
	want, err := tok.Encode(text, AddBOS)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				s := fmt.Sprintf("%s %d %d", text, g, i)
				ids, err := tok.Encode(s, AddBOS)
				if err != nil {
					t.Error(err)
					return
				}
				if got, err := tok.Decode(ids[1:]); err != nil || got != s {
					t.Errorf("roundtrip %q -> %q, %v", s, got, err)
					return
				}
			}
			if ids, _ := tok.Encode(text, AddBOS); !slices.Equal(ids, want) {
				t.Errorf("concurrent Encode differs")
			}
		}(g)
	}
	wg.Wait()
}

func TestLossyUTF8(t *testing.T) {
	cases := []struct {
		in   []byte
		want string
	}{
		{[]byte("héllo"), "héllo"},
		{[]byte{0xE6, 0x97}, "\uFFFD"},                   // truncated 3-byte sequence: one replacement
		{[]byte{0xE6, 0x97, 'a'}, "\uFFFDa"},             //
		{[]byte{0x80, 0x80}, "\uFFFD\uFFFD"},             // lone continuation bytes: one each
		{[]byte{0xF0, 0x9F, 0x98}, "\uFFFD"},             // truncated 4-byte sequence
		{[]byte{0xED, 0xA0, 0x80}, "\uFFFD\uFFFD\uFFFD"}, // surrogate: ED then two bad bytes
		{[]byte{0xC0, 0xAF}, "\uFFFD\uFFFD"},             // overlong
		{[]byte{'a', 0xFF, 'b'}, "a\uFFFDb"},
	}
	for _, c := range cases {
		if got := lossyUTF8(c.in); got != c.want {
			t.Errorf("lossyUTF8(% x) = %q, want %q", c.in, got, c.want)
		}
	}
}

// ---------------------------------------------------------------------------------------------
// SentencePiece models built here, to test what the trained fixtures do not reach.

type spTestPiece struct {
	piece string
	score float32
	typ   int
}

func buildSPModel(pieces []spTestPiece, modelType int, byteFallback bool, addDummyPrefix, removeExtraWS bool) []byte {
	var b []byte
	for _, p := range pieces {
		var pb []byte
		pb = protowire.AppendTag(pb, 1, protowire.BytesType)
		pb = protowire.AppendString(pb, p.piece)
		pb = protowire.AppendTag(pb, 2, protowire.Fixed32Type)
		pb = protowire.AppendFixed32(pb, math.Float32bits(p.score))
		if p.typ != spNormal {
			pb = protowire.AppendTag(pb, 3, protowire.VarintType)
			pb = protowire.AppendVarint(pb, uint64(p.typ))
		}
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendBytes(b, pb)
	}
	var ts []byte
	ts = protowire.AppendTag(ts, 3, protowire.VarintType)
	ts = protowire.AppendVarint(ts, uint64(modelType))
	ts = protowire.AppendTag(ts, 35, protowire.VarintType)
	ts = protowire.AppendVarint(ts, protowire.EncodeBool(byteFallback))
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendBytes(b, ts)
	var ns []byte
	ns = protowire.AppendTag(ns, 1, protowire.BytesType)
	ns = protowire.AppendString(ns, "identity")
	ns = protowire.AppendTag(ns, 3, protowire.VarintType)
	ns = protowire.AppendVarint(ns, protowire.EncodeBool(addDummyPrefix))
	ns = protowire.AppendTag(ns, 4, protowire.VarintType)
	ns = protowire.AppendVarint(ns, protowire.EncodeBool(removeExtraWS))
	b = protowire.AppendTag(b, 3, protowire.BytesType)
	b = protowire.AppendBytes(b, ns)
	return b
}

func basicSPPieces() []spTestPiece {
	return []spTestPiece{
		{"<unk>", 0, spUnknown},
		{"<s>", 0, spControl},
		{"</s>", 0, spControl},
		{"<u>", 0, spUserDefined},
		{"▁", -1, spNormal},
		{"a", -2, spNormal},
		{"b", -3, spNormal},
		{"ab", -0.5, spNormal},
		{"▁ab", -0.1, spNormal},
		{"ba", -0.2, spUnused}, // merged, then split back into its parts
		{"bab", -0.05, spNormal},
	}
}

func TestConstructedSentencePiece(t *testing.T) {
	tok, err := ParseSentencePiece(buildSPModel(basicSPPieces(), spModelBPE, false, true, false))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		in      string
		want    []string
		decoded string
	}{
		{"ab ab<u>", []string{"▁ab", "▁ab", "<u>"}, "ab ab<u>"},
		{"bab", []string{"▁", "bab"}, "bab"},
		{"ba", []string{"▁", "b", "a"}, "ba"}, // "ba" is unused: resegmented
		{"a cc b", []string{"▁", "a", "▁", "<unk>", "▁", "b"}, "a  \u2047  b"},
		{"", nil, ""},
		{"<s>", []string{"▁", "<unk>"}, " \u2047 "}, // control tokens are not matched in text
	}
	for _, c := range cases {
		ids, err := tok.Encode(c.in, NoBOS)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := tokensOf(tok, ids)
		if !slices.Equal(got, c.want) {
			t.Errorf("Encode(%q) = %q, want %q", c.in, got, c.want)
		}
		if dec, err := tok.Decode(ids); err != nil || dec != c.decoded {
			t.Errorf("Decode(Encode(%q)) = %q, %v; want %q", c.in, dec, err, c.decoded)
		}
	}
	// Control tokens are written out by Decode, without disturbing the leading-space rule.
	ids, _ := tok.Encode("ab", AddBOS)
	if dec, _ := tok.Decode(append(ids, 2)); dec != "<s>ab</s>" {
		t.Errorf("Decode with control tokens = %q", dec)
	}

	// Unigram over the same pieces picks the best-scoring segmentation.
	uni, err := ParseSentencePiece(buildSPModel(basicSPPieces(), spModelUnigram, false, true, true))
	if err != nil {
		t.Fatal(err)
	}
	ids, err = uni.Encode("  ab   bab ", NoBOS)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := tokensOf(uni, ids); !slices.Equal(got, []string{"▁ab", "▁", "bab"}) {
		t.Errorf("unigram Encode = %q", got)
	}
	if dec, _ := uni.Decode(ids); dec != "ab bab" {
		t.Errorf("unigram Decode = %q", dec)
	}
}

func TestBadSentencePiece(t *testing.T) {
	good, err := os.ReadFile(filepath.Join("testdata", "spm_bpe", "tokenizer.model"))
	if err != nil {
		t.Fatal(err)
	}
	noUnk := basicSPPieces()[1:]
	dup := append(basicSPPieces(), spTestPiece{"a", -1, spNormal})
	withByte := append(basicSPPieces(), spTestPiece{"<0x41>", 0, spByte})
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "no pieces"},
		{"text", []byte("this is not a protobuf at all, just some text\n"), "not a SentencePiece model"},
		{"garbage", []byte{0xff, 0xff, 0xff, 0xff, 0xff}, "not a SentencePiece model"},
		{"truncated", good[:len(good)/2], "tokenizer.model: "},
		{"truncated in a field", good[:len(good)/2+3], "tokenizer.model: "},
		{"json", []byte(`{"model": {}}`), "not a SentencePiece model"},
		{"no unk", buildSPModel(noUnk, spModelBPE, false, true, false), "no unknown piece"},
		{"duplicate", buildSPModel(dup, spModelBPE, false, true, false), "defined twice"},
		{"byte without fallback", buildSPModel(withByte, spModelBPE, false, true, false), "byte_fallback is off"},
		{"missing bytes", buildSPModel(withByte, spModelBPE, true, true, false), "<0x00> is missing"},
		{"word model", buildSPModel(basicSPPieces(), spModelWord, false, true, false), "WORD is not supported"},
	}
	for _, c := range cases {
		_, err := ParseSentencePiece(c.data)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to mention %q", c.name, err, c.want)
		}
	}
	// Every truncation either fails cleanly or gives a working tokenizer.
	for n := 0; n < len(good); n += 97 {
		if tok, err := ParseSentencePiece(good[:n]); err == nil {
			if _, err := tok.Encode("hello world", NoBOS); err != nil {
				t.Errorf("truncated at %d: %v", n, err)
			}
		}
	}
}
