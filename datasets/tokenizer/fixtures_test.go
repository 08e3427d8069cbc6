package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// The fixtures under testdata/ are made by testdata/make_fixtures.py: tiny tokenizers
// trained with the tokenizers / sentencepiece libraries, and the ids and texts those
// libraries produce for a list of test strings.

type fixtureEntry struct {
	Text           string   `json:"text"`
	IDs            []int    `json:"ids"`
	Tokens         []string `json:"tokens"`
	IDsSpecial     []int    `json:"ids_special"`
	Decoded        *string  `json:"decoded"`
	DecodedSpecial *string  `json:"decoded_special"`
}

type fixture struct {
	Library   string         `json:"library"`
	Style     string         `json:"style"`
	VocabSize int            `json:"vocab_size"`
	BOSID     *int           `json:"bos_id"`
	EOSID     *int           `json:"eos_id"`
	Pieces    []string       `json:"pieces"`
	Strings   []fixtureEntry `json:"strings"`
	Random    []fixtureEntry `json:"random"`
}

var fixtureStyles = []string{"gpt2", "gpt2_prefix_space", "llama3", "qwen2", "llama2", "metaspace",
	"metaspace_always", "bpe_suffix", "splits", "spm_bpe", "spm_unigram"}

func loadFixture(t testing.TB, style string) (*Tokenizer, *fixture) {
	t.Helper()
	dir := filepath.Join("testdata", style)
	data, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var fx fixture
	if err := json.Unmarshal(data, &fx); err != nil {
		t.Fatalf("%s/expected.json: %v", style, err)
	}
	tok, err := Load(dir)
	if err != nil {
		t.Fatalf("Load(%s): %v", dir, err)
	}
	return tok, &fx
}

func TestFixtures(t *testing.T) {
	for _, style := range fixtureStyles {
		t.Run(style, func(t *testing.T) {
			tok, fx := loadFixture(t, style)
			if got := tok.VocabSize(); got != fx.VocabSize {
				t.Errorf("VocabSize() = %d, want %d", got, fx.VocabSize)
			}
			for i, p := range fx.Pieces {
				if got, err := tok.Token(i); err != nil || got != p {
					t.Errorf("Token(%d) = %q, %v; want %q", i, got, err, p)
				}
			}
			isSP := tok.Format() == "tokenizer.model"
			failures := 0
			check := func(e fixtureEntry) {
				if failures > 10 {
					return
				}
				// Fields left out of expected.json take their obvious defaults.
				decoded := e.Text
				if e.Decoded != nil {
					decoded = *e.Decoded
				}
				if e.IDsSpecial == nil {
					e.IDsSpecial = e.IDs
				}
				decodedSpecial := decoded
				if e.DecodedSpecial != nil {
					decodedSpecial = *e.DecodedSpecial
				}
				ids, err := tok.Encode(e.Text, NoBOS)
				if err != nil {
					t.Errorf("Encode(%q): %v", e.Text, err)
					failures++
					return
				}
				if !slices.Equal(ids, e.IDs) && !(len(ids) == 0 && len(e.IDs) == 0) {
					got, _ := tokensOf(tok, ids)
					t.Errorf("Encode(%q, NoBOS)\n got  %v %q\n want %v %q", e.Text, ids, got, e.IDs, e.Tokens)
					failures++
				}
				for k, id := range e.IDs {
					// Added and unknown tokens are reported with the text they matched.
					if k < len(e.Tokens) && !tok.IsSpecial(id) && (tok.hf == nil || tok.hf.added[id] == nil) {
						if got, err := tok.Token(id); err != nil || got != e.Tokens[k] {
							t.Errorf("Token(%d) = %q, %v; want %q", id, got, err, e.Tokens[k])
						}
					}
				}
				if dec, err := tok.Decode(e.IDs); err != nil || dec != decoded {
					t.Errorf("Decode(%v) = %q, %v; want %q", e.IDs, dec, err, decoded)
					failures++
				}
				// With special tokens: sentencepiece's add_bos, or the tokenizers library's
				// post-processor, which adds the BOS token of its template.
				mode := NoBOS
				if isSP || tok.templateBOS >= 0 {
					mode = AddBOS
				}
				ids, err = tok.Encode(e.Text, mode)
				if err != nil {
					t.Errorf("Encode(%q, %v): %v", e.Text, mode, err)
					failures++
					return
				}
				if !slices.Equal(ids, e.IDsSpecial) && !(len(ids) == 0 && len(e.IDsSpecial) == 0) {
					t.Errorf("Encode(%q, %v) = %v, want %v", e.Text, mode, ids, e.IDsSpecial)
					failures++
				}
				if !isSP {
					if dec, err := tok.Decode(e.IDsSpecial); err != nil || dec != decodedSpecial {
						t.Errorf("Decode(%v) = %q, %v; want %q", e.IDsSpecial, dec, err, decodedSpecial)
						failures++
					}
				}
			}
			for _, e := range fx.Strings {
				check(e)
			}
			for _, e := range fx.Random {
				check(e)
			}
		})
	}
}

func tokensOf(tok *Tokenizer, ids []int) ([]string, error) {
	out := make([]string, len(ids))
	for i, id := range ids {
		s, err := tok.Token(id)
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}
