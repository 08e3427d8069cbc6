// Package tokenizer loads the tokenizers of Hugging Face model directories and uses them to
// turn text into token ids and ids back into text or into readable labels for plots.
//
// Two file formats are read:
//
//   - tokenizer.json (the format of the Hugging Face tokenizers library) with a BPE model:
//     byte-level BPE as in GPT-2, Llama-3 and Qwen2/3 (ByteLevel and Split pre-tokenizers;
//     the Split patterns run on github.com/dlclark/regexp2, since Go's regexp has no
//     lookahead), and SentencePiece-style BPE as in Llama-2 and Mistral (Prepend/Replace
//     normalizers or a Metaspace pre-tokenizer, byte fallback).
//   - tokenizer.model (a SentencePiece model protobuf), BPE or unigram, including the
//     precompiled normalization maps such as nmt_nfkc.
//
// Encoding never adds special tokens on its own: the caller says whether a BOS token goes
// first (AddBOS or NoBOS). DefaultBOS reports what the model's configuration asks for.
//
// A Tokenizer is safe for concurrent use.
//
// This package is kept rather than github.com/gomlx/go-huggingface/tokenizers (v0.4.1), whose
// encodings differ from the tokenizers library's on most of the fixtures under testdata/ (made
// by that library): its Split pre-tokenizer runs on Go's regexp, where the lookahead of the
// Llama-3 and Qwen patterns does not compile and the split is silently skipped; its ByteLevel
// pre-tokenizer cuts only at spaces (no GPT-2 pattern, so runs of spaces and contractions split
// differently); its Prepend normalizer does nothing and Metaspace ignores prepend_scheme
// "first", so Llama-2 and Metaspace encodings lose their leading "▁"; a model without a
// pre-tokenizer is split at whitespace anyway; byte_fallback is ignored (unknown characters
// become <unk>); and its SentencePiece tokenizer supports neither unigram models nor the
// identity normalizer.
package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// BOSMode says whether Encode puts the beginning-of-sequence token first.
type BOSMode int

const (
	// NoBOS encodes the text alone.
	NoBOS BOSMode = iota
	// AddBOS puts the BOS token before the text; it is an error when the tokenizer has none.
	AddBOS
)

func (m BOSMode) String() string {
	switch m {
	case NoBOS:
		return "NoBOS"
	case AddBOS:
		return "AddBOS"
	}
	return fmt.Sprintf("BOSMode(%d)", int(m))
}

// Tokenizer converts between text and token ids.
type Tokenizer struct {
	format string // "tokenizer.json" or "tokenizer.model"
	hf     *hfEngine
	sp     *spModel

	tokens  []string // id -> token as stored in the vocabulary
	present []bool   // whether the id has a token
	special []bool   // special (control) tokens
	ids     map[string]int

	bos, eos    int
	templateBOS int // BOS put first by a tokenizer.json post-processor, or -1
	addBOS      bool
}

// Load reads the tokenizer of a model directory: tokenizer.json when present, otherwise
// tokenizer.model, plus tokenizer_config.json and special_tokens_map.json (when present) for
// the BOS/EOS tokens and add_bos_token. When tokenizer.json uses something this package does
// not support and a tokenizer.model is there too, the latter is used. dir may also name one
// of the two tokenizer files.
func Load(dir string) (*Tokenizer, error) {
	var paths []string
	if st, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	} else if !st.IsDir() {
		paths, dir = []string{dir}, filepath.Dir(dir)
	} else {
		for _, name := range []string{"tokenizer.json", "tokenizer.model"} {
			p := filepath.Join(dir, name)
			if _, err := os.Stat(p); err == nil {
				paths = append(paths, p)
			} else if !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("tokenizer: %w", err)
			}
		}
		if len(paths) == 0 {
			return nil, fmt.Errorf("tokenizer: %s has neither tokenizer.json nor tokenizer.model", dir)
		}
	}
	var firstErr error
	for _, path := range paths {
		t, err := loadFile(path)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if err := t.readConfig(dir); err != nil {
			return nil, err
		}
		return t, nil
	}
	return nil, firstErr
}

func loadFile(path string) (*Tokenizer, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	var t *Tokenizer
	if filepath.Ext(path) == ".json" {
		t, err = ParseJSON(data)
	} else {
		t, err = ParseSentencePiece(data)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// ParseJSON builds a tokenizer from the contents of a tokenizer.json file. BOS/EOS come from
// its post-processor only; Load also reads the configuration files.
func ParseJSON(data []byte) (*Tokenizer, error) {
	t, err := parseHF(data)
	if err != nil {
		return nil, err
	}
	t.bos = t.templateBOS
	t.addBOS = t.templateBOS >= 0
	return t, nil
}

// ParseSentencePiece builds a tokenizer from the contents of a SentencePiece tokenizer.model
// file. BOS/EOS come from its trainer spec; Load also reads the configuration files.
func ParseSentencePiece(data []byte) (*Tokenizer, error) {
	m, err := parseSentencePiece(data)
	if err != nil {
		return nil, err
	}
	t := &Tokenizer{format: "tokenizer.model", sp: m, bos: m.bosID, eos: m.eosID, templateBOS: -1}
	n := len(m.pieces)
	t.tokens = make([]string, n)
	t.present = make([]bool, n)
	t.special = make([]bool, n)
	t.ids = make(map[string]int, n)
	for i, p := range m.pieces {
		t.tokens[i] = p.piece
		t.present[i] = true
		t.special[i] = p.typ == spControl || p.typ == spUnknown
		t.ids[p.piece] = i
	}
	return t, nil
}

// tokenConfig is the part of tokenizer_config.json / special_tokens_map.json we use.
type tokenConfig struct {
	BOS         json.RawMessage `json:"bos_token"`
	EOS         json.RawMessage `json:"eos_token"`
	AddBOSToken *bool           `json:"add_bos_token"`
}

// configToken reads a token entry: "text", {"content": "text", ...} or null. set is false
// when the key is absent.
func configToken(raw json.RawMessage) (tok string, null, set bool, err error) {
	if raw == nil {
		return "", false, false, nil
	}
	if isNull(raw) {
		return "", true, true, nil
	}
	if err := json.Unmarshal(raw, &tok); err == nil {
		return tok, false, true, nil
	}
	var obj struct {
		Content *string `json:"content"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil || obj.Content == nil {
		return "", false, false, fmt.Errorf("token entry %s is neither a string nor {\"content\": ...}", truncate(string(raw), 60))
	}
	return *obj.Content, false, true, nil
}

func (t *Tokenizer) readConfig(dir string) error {
	var configs []tokenConfig
	var names []string
	for _, name := range []string{"tokenizer_config.json", "special_tokens_map.json"} {
		p := filepath.Join(dir, name)
		data, err := os.ReadFile(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("tokenizer: %w", err)
		}
		var c tokenConfig
		if err := json.Unmarshal(data, &c); err != nil {
			return fmt.Errorf("tokenizer: %s: %w", p, err)
		}
		configs = append(configs, c)
		names = append(names, p)
	}
	// The first file that names a token decides; an explicit null means "none".
	resolve := func(which string, get func(tokenConfig) json.RawMessage, current int) (int, error) {
		for i, c := range configs {
			tok, null, set, err := configToken(get(c))
			if err != nil {
				return 0, fmt.Errorf("tokenizer: %s: %s: %w", names[i], which, err)
			}
			if !set {
				continue
			}
			if null {
				return -1, nil
			}
			id, ok := t.ids[tok]
			if !ok {
				return 0, fmt.Errorf("tokenizer: %s: %s %q is not in the vocabulary", names[i], which, tok)
			}
			return id, nil
		}
		return current, nil
	}
	var err error
	if t.bos, err = resolve("bos_token", func(c tokenConfig) json.RawMessage { return c.BOS }, t.bos); err != nil {
		return err
	}
	if t.eos, err = resolve("eos_token", func(c tokenConfig) json.RawMessage { return c.EOS }, t.eos); err != nil {
		return err
	}
	t.addBOS = t.bos >= 0 && t.templateBOS >= 0 && t.templateBOS == t.bos
	for _, c := range configs {
		if c.AddBOSToken != nil {
			t.addBOS = *c.AddBOSToken && t.bos >= 0
			break
		}
	}
	return nil
}

// Format is the file the tokenizer was read from: "tokenizer.json" or "tokenizer.model".
func (t *Tokenizer) Format() string { return t.format }

// VocabSize is the number of token ids: one more than the largest id.
func (t *Tokenizer) VocabSize() int { return len(t.tokens) }

// BOS returns the beginning-of-sequence token id, if the tokenizer has one.
func (t *Tokenizer) BOS() (id int, ok bool) { return t.bos, t.bos >= 0 }

// EOS returns the end-of-sequence token id, if the tokenizer has one.
func (t *Tokenizer) EOS() (id int, ok bool) { return t.eos, t.eos >= 0 }

// DefaultBOS is AddBOS when the model's configuration asks for a BOS token before the text
// (add_bos_token in tokenizer_config.json, or else a tokenizer.json post-processor template
// that starts with the BOS token), NoBOS otherwise.
func (t *Tokenizer) DefaultBOS() BOSMode {
	if t.addBOS {
		return AddBOS
	}
	return NoBOS
}

// ID returns the id of a token, written as in the vocabulary (e.g. "Ġthe", "▁the", "<s>").
func (t *Tokenizer) ID(token string) (int, bool) {
	id, ok := t.ids[token]
	return id, ok
}

// Token returns the vocabulary entry of an id, unchanged (e.g. "Ġthe", "▁the", "<0x0A>").
func (t *Tokenizer) Token(id int) (string, error) {
	if err := t.checkID(id); err != nil {
		return "", err
	}
	return t.tokens[id], nil
}

// IsSpecial reports whether id is a special token (e.g. "<s>", "<|endoftext|>").
func (t *Tokenizer) IsSpecial(id int) bool {
	return id >= 0 && id < len(t.special) && t.special[id]
}

func (t *Tokenizer) checkID(id int) error {
	if id < 0 || id >= len(t.tokens) {
		return fmt.Errorf("tokenizer: token id %d out of range [0, %d) (vocab size %d)", id, len(t.tokens), len(t.tokens))
	}
	if !t.present[id] {
		return fmt.Errorf("tokenizer: token id %d has no token (vocab size %d)", id, len(t.tokens))
	}
	return nil
}

func (t *Tokenizer) validID(id int) int {
	if t.checkID(id) != nil {
		return -1
	}
	return id
}

// Encode tokenizes text. With AddBOS the BOS token comes first. Special tokens written in
// the text (e.g. "<|endoftext|>") are recognized as such.
func (t *Tokenizer) Encode(text string, bos BOSMode) ([]int, error) {
	var out []int
	switch bos {
	case NoBOS:
	case AddBOS:
		if t.bos < 0 {
			return nil, fmt.Errorf("tokenizer: AddBOS requested but this tokenizer has no BOS token")
		}
		out = append(out, t.bos)
	default:
		return nil, fmt.Errorf("tokenizer: invalid BOS mode %d", int(bos))
	}
	if t.sp != nil {
		return t.sp.encode(text, out), nil
	}
	out, err := t.hf.encode(text, out)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	return out, nil
}

// Decode turns ids back into text. Special tokens are written as their text (e.g. "<s>").
// For tokenizer.json files the result is what the tokenizers library decodes (without
// skipping special tokens); for tokenizer.model files it is what sentencepiece decodes, with
// control tokens written out rather than dropped.
func (t *Tokenizer) Decode(ids []int) (string, error) {
	for _, id := range ids {
		if err := t.checkID(id); err != nil {
			return "", err
		}
	}
	if t.sp != nil {
		return t.sp.decode(ids), nil
	}
	toks := make([]string, len(ids))
	for i, id := range ids {
		toks[i] = t.tokens[id]
	}
	return t.hf.decode(toks), nil
}

// TokenString returns a readable form of one token, for labels: the text the token stands
// for, with byte-level markers ("Ġ", "Ċ") and SentencePiece's "▁" turned into the space or
// newline they encode, byte tokens such as "<0x0A>" turned into their character when it is
// ASCII, bytes that are not a whole UTF-8 character written as "<0xE6>", and special tokens
// as they are (e.g. "<s>").
func (t *Tokenizer) TokenString(id int) (string, error) {
	if err := t.checkID(id); err != nil {
		return "", err
	}
	if t.sp != nil {
		return t.sp.label(id), nil
	}
	if _, added := t.hf.added[id]; added {
		return t.tokens[id], nil
	}
	return t.hf.label(t.tokens[id]), nil
}

// TokenStrings returns TokenString of every id.
func (t *Tokenizer) TokenStrings(ids []int) ([]string, error) {
	out := make([]string, len(ids))
	for i, id := range ids {
		s, err := t.TokenString(id)
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}
