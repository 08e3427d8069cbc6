package tokenizer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// maxTokenID bounds the ids accepted from files, so a corrupt file cannot make us allocate
// an enormous vocabulary table.
const maxTokenID = 1 << 22

// hfFile is the top level of a tokenizer.json file.
type hfFile struct {
	AddedTokens   []hfAddedToken  `json:"added_tokens"`
	Normalizer    json.RawMessage `json:"normalizer"`
	PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
	PostProcessor json.RawMessage `json:"post_processor"`
	Decoder       json.RawMessage `json:"decoder"`
	Model         json.RawMessage `json:"model"`
}

type hfAddedToken struct {
	ID         *int   `json:"id"`
	Content    string `json:"content"`
	SingleWord bool   `json:"single_word"`
	LStrip     bool   `json:"lstrip"`
	RStrip     bool   `json:"rstrip"`
	Normalized *bool  `json:"normalized"`
	Special    bool   `json:"special"`
}

// hfComponent holds the fields of every normalizer / pre-tokenizer / decoder / model type
// we understand; each type reads the ones it needs.
type hfComponent struct {
	Type string `json:"type"`

	// Sequences.
	Normalizers   []json.RawMessage `json:"normalizers"`
	Pretokenizers []json.RawMessage `json:"pretokenizers"`
	Decoders      []json.RawMessage `json:"decoders"`
	Processors    []json.RawMessage `json:"processors"`

	// Prepend / Replace / Split / Strip.
	Prepend    *string         `json:"prepend"`
	Pattern    json.RawMessage `json:"pattern"`
	Content    *string         `json:"content"`
	Behavior   string          `json:"behavior"`
	Invert     bool            `json:"invert"`
	Start      *int            `json:"start"`
	Stop       *int            `json:"stop"`
	StripLeft  *bool           `json:"strip_left"`
	StripRight *bool           `json:"strip_right"`

	// ByteLevel / Metaspace / Digits.
	AddPrefixSpace   *bool   `json:"add_prefix_space"`
	UseRegex         *bool   `json:"use_regex"`
	Replacement      *string `json:"replacement"`
	PrependScheme    *string `json:"prepend_scheme"`
	Split            *bool   `json:"split"`
	IndividualDigits bool    `json:"individual_digits"`
	Suffix           *string `json:"suffix"`

	// Post-processors.
	Single        []map[string]json.RawMessage `json:"single"`
	SpecialTokens map[string]struct {
		IDs []int `json:"ids"`
	} `json:"special_tokens"`
	Cls json.RawMessage `json:"cls"`
}

type hfModel struct {
	Type                    string          `json:"type"`
	Vocab                   json.RawMessage `json:"vocab"`
	Merges                  json.RawMessage `json:"merges"`
	UnkToken                *string         `json:"unk_token"`
	ContinuingSubwordPrefix *string         `json:"continuing_subword_prefix"`
	EndOfWordSuffix         *string         `json:"end_of_word_suffix"`
	FuseUnk                 bool            `json:"fuse_unk"`
	ByteFallback            bool            `json:"byte_fallback"`
	IgnoreMerges            bool            `json:"ignore_merges"`
	Dropout                 *float64        `json:"dropout"`
}

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

// addedToken is an entry of added_tokens.
type addedToken struct {
	content    string
	id         int
	special    bool
	normalized bool
	lstrip     bool
	rstrip     bool
	singleWord bool
	pattern    string // what is searched: the content, normalized for normalized tokens
}

// addedMatcher finds added tokens in text: leftmost match first, longest among those.
type addedMatcher struct {
	byFirst map[byte][]*addedToken // longest pattern first
}

func newAddedMatcher(toks []*addedToken) *addedMatcher {
	if len(toks) == 0 {
		return nil
	}
	m := &addedMatcher{byFirst: map[byte][]*addedToken{}}
	for _, t := range toks {
		if t.pattern == "" {
			continue
		}
		m.byFirst[t.pattern[0]] = append(m.byFirst[t.pattern[0]], t)
	}
	for _, list := range m.byFirst {
		sort.SliceStable(list, func(i, j int) bool { return len(list[i].pattern) > len(list[j].pattern) })
	}
	return m
}

// segment is a part of the input: either an added token (id >= 0) or text to tokenize.
type segment struct {
	text  string
	start int // byte offset in the string that was split
	id    int
}

func isWordRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.M, r) || unicode.Is(unicode.Pc, r)
}

// split cuts s into added tokens and the text between them, honouring lstrip / rstrip /
// single_word as the tokenizers library does.
func (m *addedMatcher) split(s string, out []segment) []segment {
	if m == nil {
		return append(out, segment{text: s, id: -1})
	}
	prev := 0
	for pos := 0; pos < len(s); {
		var found *addedToken
		for _, t := range m.byFirst[s[pos]] {
			if strings.HasPrefix(s[pos:], t.pattern) {
				found = t
				break
			}
		}
		if found == nil {
			pos++
			continue
		}
		start, stop := pos, pos+len(found.pattern)
		pos = stop
		if found.singleWord {
			before, _ := utf8.DecodeLastRuneInString(s[:start])
			after, _ := utf8.DecodeRuneInString(s[stop:])
			if (start > 0 && isWordRune(before)) || (stop < len(s) && isWordRune(after)) {
				continue
			}
		}
		if found.lstrip {
			ns := len(strings.TrimRightFunc(s[:start], unicode.IsSpace))
			start = max(ns, prev)
		}
		if found.rstrip {
			stop = len(s) - len(strings.TrimLeftFunc(s[stop:], unicode.IsSpace))
			pos = stop
		}
		if prev < start {
			out = append(out, segment{text: s[prev:start], start: prev, id: -1})
		}
		out = append(out, segment{text: s[start:stop], start: start, id: found.id})
		prev = stop
	}
	if prev < len(s) {
		out = append(out, segment{text: s[prev:], start: prev, id: -1})
	}
	return out
}

// hfEngine runs a tokenizer.json pipeline.
type hfEngine struct {
	model      *bpeModel
	normalizer normalizer
	pre        preTokenizer
	decoder    decoderStep // nil: tokens are joined with spaces
	rawAdded   *addedMatcher
	normAdded  *addedMatcher
	added      map[int]*addedToken

	byteLevel   bool // the model's tokens are byte-level strings
	spaceMarker rune // the rune that stands for a space in tokens (SentencePiece style), or 0
}

func (e *hfEngine) encode(text string, out []int) ([]int, error) {
	m := &reMatcher{}
	if out == nil || cap(out)-len(out) < len(text)/4 {
		out = append(make([]int, 0, len(out)+len(text)/4+8), out...)
	}
	for _, seg := range e.rawAdded.split(text, nil) {
		if seg.id >= 0 {
			out = append(out, seg.id)
			continue
		}
		s := seg.text
		if e.normalizer != nil {
			var err error
			if s, err = e.normalizer.normalize(s, m); err != nil {
				return nil, err
			}
		}
		for _, sub := range e.normAdded.split(s, nil) {
			if sub.id >= 0 {
				out = append(out, sub.id)
				continue
			}
			if sub.text == "" {
				continue
			}
			pieces := []piece{{text: sub.text, atStart: seg.start == 0 && sub.start == 0}}
			if e.pre != nil {
				var err error
				if pieces, err = e.pre.preTokenize(pieces, m); err != nil {
					return nil, err
				}
			}
			for _, p := range pieces {
				out = e.model.tokenize(p.text, out)
			}
		}
	}
	return out, nil
}

func (e *hfEngine) decode(tokens []string) string {
	if e.decoder == nil {
		return strings.Join(tokens, " ")
	}
	return strings.Join(e.decoder.decodeChain(tokens), "")
}

// label renders a model token for display.
func (e *hfEngine) label(tok string) string {
	if e.byteLevel {
		if b, ok := byteLevelDecode(tok, nil); ok {
			return readableBytes(b)
		}
		return tok
	}
	if e.model.byteFallback {
		if b, ok := parseByteToken(tok); ok {
			if b < utf8.RuneSelf {
				return string(rune(b))
			}
			return tok
		}
	}
	if e.spaceMarker != 0 {
		return strings.ReplaceAll(tok, string(e.spaceMarker), " ")
	}
	return tok
}

// parseHF builds a tokenizer from the contents of a tokenizer.json file.
func parseHF(data []byte) (*Tokenizer, error) {
	var f hfFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("tokenizer.json: %w", err)
	}
	if isNull(f.Model) {
		return nil, fmt.Errorf("tokenizer.json: no model")
	}
	e := &hfEngine{added: map[int]*addedToken{}}
	model, vocab, err := parseHFModel(f.Model)
	if err != nil {
		return nil, err
	}
	e.model = model

	if !isNull(f.Normalizer) {
		if e.normalizer, err = parseNormalizer(f.Normalizer, 0); err != nil {
			return nil, err
		}
	}
	info := &pipelineInfo{}
	if !isNull(f.PreTokenizer) {
		if e.pre, err = parsePreTokenizer(f.PreTokenizer, info, 0); err != nil {
			return nil, err
		}
	}
	preByteLevel := info.byteLevel
	info.byteLevel = false
	if !isNull(f.Decoder) {
		if e.decoder, err = parseDecoder(f.Decoder, info, 0); err != nil {
			return nil, err
		}
	}
	e.byteLevel = info.byteLevel || (e.decoder == nil && preByteLevel)
	e.spaceMarker = info.spaceMarker
	if e.spaceMarker == 0 && !e.byteLevel {
		e.spaceMarker = '▁'
	}

	// Added tokens: they override the model's token of the same id.
	t := &Tokenizer{format: "tokenizer.json", hf: e, bos: -1, eos: -1, templateBOS: -1}
	maxID := -1
	for _, id := range vocab {
		maxID = max(maxID, id)
	}
	var raw, normed []*addedToken
	for i, at := range f.AddedTokens {
		if at.ID == nil {
			return nil, fmt.Errorf("tokenizer.json: added token #%d (%q) has no id", i, at.Content)
		}
		id := *at.ID
		if id < 0 || id >= maxTokenID {
			return nil, fmt.Errorf("tokenizer.json: added token %q has invalid id %d", at.Content, id)
		}
		if at.Content == "" {
			continue
		}
		tok := &addedToken{content: at.Content, id: id, special: at.Special, lstrip: at.LStrip,
			rstrip: at.RStrip, singleWord: at.SingleWord, pattern: at.Content}
		tok.normalized = !at.Special
		if at.Normalized != nil {
			tok.normalized = *at.Normalized
		}
		if tok.normalized && e.normalizer != nil {
			if p, err := e.normalizer.normalize(at.Content, &reMatcher{}); err == nil && p != "" {
				tok.pattern = p
			}
		}
		e.added[id] = tok
		maxID = max(maxID, id)
		if tok.normalized {
			normed = append(normed, tok)
		} else {
			raw = append(raw, tok)
		}
	}
	e.rawAdded = newAddedMatcher(raw)
	e.normAdded = newAddedMatcher(normed)

	t.tokens = make([]string, maxID+1)
	t.present = make([]bool, maxID+1)
	t.special = make([]bool, maxID+1)
	t.ids = make(map[string]int, len(vocab)+len(e.added))
	for tok, id := range vocab {
		t.tokens[id] = tok
		t.present[id] = true
		t.ids[tok] = id
	}
	for id, at := range e.added {
		t.tokens[id] = at.content
		t.present[id] = true
		t.special[id] = at.special
		t.ids[at.content] = id
	}

	// Post-processor: the BOS token a template puts first, if any.
	if !isNull(f.PostProcessor) {
		t.templateBOS = templateBOS(f.PostProcessor, t, 0)
	}
	return t, nil
}

func parseHFModel(raw json.RawMessage) (*bpeModel, map[string]int, error) {
	var hm hfModel
	if err := json.Unmarshal(raw, &hm); err != nil {
		return nil, nil, fmt.Errorf("tokenizer.json: model: %w", err)
	}
	if hm.Type == "" && !isNull(hm.Merges) {
		hm.Type = "BPE"
	}
	if hm.Type != "BPE" {
		if hm.Type == "" {
			return nil, nil, fmt.Errorf("tokenizer.json: model has no type")
		}
		return nil, nil, fmt.Errorf("tokenizer.json: model type %q is not supported (only BPE)", hm.Type)
	}
	if hm.Dropout != nil && *hm.Dropout > 0 {
		return nil, nil, fmt.Errorf("tokenizer.json: BPE dropout %g is not supported", *hm.Dropout)
	}
	var vocab map[string]int
	if isNull(hm.Vocab) {
		return nil, nil, fmt.Errorf("tokenizer.json: BPE model has no vocab")
	}
	if err := json.Unmarshal(hm.Vocab, &vocab); err != nil {
		return nil, nil, fmt.Errorf("tokenizer.json: BPE vocab: %w", err)
	}
	if len(vocab) == 0 {
		return nil, nil, fmt.Errorf("tokenizer.json: BPE vocab is empty")
	}
	byID := make(map[int]string, len(vocab))
	for tok, id := range vocab {
		if id < 0 || id >= maxTokenID {
			return nil, nil, fmt.Errorf("tokenizer.json: token %q has invalid id %d", tok, id)
		}
		if other, dup := byID[id]; dup {
			a, b := min(tok, other), max(tok, other)
			return nil, nil, fmt.Errorf("tokenizer.json: tokens %q and %q share id %d", a, b, id)
		}
		byID[id] = tok
	}
	m := &bpeModel{vocab: vocab, unkID: -1, fuseUnk: hm.FuseUnk, byteFallback: hm.ByteFallback,
		ignoreMerges: hm.IgnoreMerges, merges: map[uint64]bpeMerge{}}
	if hm.ContinuingSubwordPrefix != nil {
		m.prefix = *hm.ContinuingSubwordPrefix
	}
	if hm.EndOfWordSuffix != nil {
		m.suffix = *hm.EndOfWordSuffix
	}
	if hm.UnkToken != nil {
		id, ok := vocab[*hm.UnkToken]
		if !ok {
			return nil, nil, fmt.Errorf("tokenizer.json: unk_token %q is not in the vocab", *hm.UnkToken)
		}
		m.unkID = id
	}
	for b := 0; b < 256; b++ {
		m.byteIDs[b] = -1
		if id, ok := vocab[byteTokenName(byte(b))]; ok {
			m.byteIDs[b] = id
		}
	}

	pairs, err := parseMerges(hm.Merges)
	if err != nil {
		return nil, nil, err
	}
	for rank, pair := range pairs {
		a, b := pair[0], pair[1]
		aID, ok := vocab[a]
		if !ok {
			return nil, nil, fmt.Errorf("tokenizer.json: merge #%d (%q, %q) refers to unknown token %q", rank, a, b, a)
		}
		bID, ok := vocab[b]
		if !ok {
			return nil, nil, fmt.Errorf("tokenizer.json: merge #%d (%q, %q) refers to unknown token %q", rank, a, b, b)
		}
		if !strings.HasPrefix(b, m.prefix) {
			return nil, nil, fmt.Errorf("tokenizer.json: merge #%d: %q lacks the continuing-subword prefix %q", rank, b, m.prefix)
		}
		merged := a + b[len(m.prefix):]
		newID, ok := vocab[merged]
		if !ok {
			return nil, nil, fmt.Errorf("tokenizer.json: merge #%d (%q, %q) produces %q, which is not in the vocab", rank, a, b, merged)
		}
		m.merges[pairKey(aID, bID)] = bpeMerge{rank: int32(rank), newID: int32(newID)}
	}
	return m, vocab, nil
}

// parseMerges reads BPE merges: ["a b", ...] (older files) or [["a", "b"], ...].
func parseMerges(raw json.RawMessage) ([][2]string, error) {
	if isNull(raw) {
		return nil, nil
	}
	// The two uniform layouts are read in one go; a mixed or malformed list item by item,
	// to say which entry is wrong.
	var lists [][]string
	if err := json.Unmarshal(raw, &lists); err == nil {
		out := make([][2]string, len(lists))
		for i, l := range lists {
			if len(l) != 2 {
				return nil, fmt.Errorf("tokenizer.json: merge #%d has %d tokens instead of 2", i, len(l))
			}
			out[i] = [2]string{l[0], l[1]}
		}
		return out, nil
	}
	var strs []string
	if err := json.Unmarshal(raw, &strs); err == nil {
		// As in merges.txt files, "#version" lines are not merges.
		strs = slices.DeleteFunc(strs, func(s string) bool { return strings.HasPrefix(s, "#version") })
		out := make([][2]string, len(strs))
		for i, s := range strs {
			a, b, ok := strings.Cut(s, " ")
			if !ok || strings.Contains(b, " ") {
				return nil, fmt.Errorf("tokenizer.json: merge #%d %q is not two tokens separated by a space", i, s)
			}
			out[i] = [2]string{a, b}
		}
		return out, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, fmt.Errorf("tokenizer.json: BPE merges: %w", err)
	}
	out := make([][2]string, len(items))
	for i, item := range items {
		var s string
		if json.Unmarshal(item, &s) == nil {
			a, b, ok := strings.Cut(s, " ")
			if !ok || strings.Contains(b, " ") {
				return nil, fmt.Errorf("tokenizer.json: merge #%d %q is not two tokens separated by a space", i, s)
			}
			out[i] = [2]string{a, b}
			continue
		}
		var l []string
		if err := json.Unmarshal(item, &l); err != nil || len(l) != 2 {
			return nil, fmt.Errorf("tokenizer.json: merge #%d is neither \"a b\" nor [a, b]: %s", i, truncate(string(bytes.TrimSpace(item)), 60))
		}
		out[i] = [2]string{l[0], l[1]}
	}
	return out, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

const maxNesting = 32

func parseComponent(raw json.RawMessage, what string) (*hfComponent, error) {
	var c hfComponent
	if err := json.Unmarshal(raw, &c); err != nil {
		return nil, fmt.Errorf("tokenizer.json: %s: %w", what, err)
	}
	if c.Type == "" {
		return nil, fmt.Errorf("tokenizer.json: %s has no type", what)
	}
	return &c, nil
}

// parsePattern reads {"String": "..."} or {"Regex": "..."}.
func parsePattern(raw json.RawMessage, what string) (matchPattern, error) {
	var p struct {
		String *string `json:"String"`
		Regex  *string `json:"Regex"`
	}
	if isNull(raw) {
		return matchPattern{}, fmt.Errorf("tokenizer.json: %s has no pattern", what)
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		return matchPattern{}, fmt.Errorf("tokenizer.json: %s pattern: %w", what, err)
	}
	switch {
	case p.String != nil:
		return matchPattern{literal: *p.String}, nil
	case p.Regex != nil:
		re, err := compileRegex(*p.Regex)
		if err != nil {
			return matchPattern{}, fmt.Errorf("tokenizer.json: %s: unsupported pattern: %w", what, err)
		}
		return matchPattern{re: re}, nil
	}
	return matchPattern{}, fmt.Errorf("tokenizer.json: %s pattern is neither String nor Regex", what)
}

func parseNormalizer(raw json.RawMessage, depth int) (normalizer, error) {
	if depth > maxNesting {
		return nil, fmt.Errorf("tokenizer.json: normalizers nested too deeply")
	}
	c, err := parseComponent(raw, "normalizer")
	if err != nil {
		return nil, err
	}
	switch c.Type {
	case "Sequence":
		var seq normSequence
		for _, sub := range c.Normalizers {
			if isNull(sub) {
				continue
			}
			n, err := parseNormalizer(sub, depth+1)
			if err != nil {
				return nil, err
			}
			seq = append(seq, n)
		}
		return seq, nil
	case "Prepend":
		if c.Prepend == nil {
			return nil, fmt.Errorf("tokenizer.json: Prepend normalizer without prepend")
		}
		return normPrepend{*c.Prepend}, nil
	case "Replace":
		pat, err := parsePattern(c.Pattern, "Replace normalizer")
		if err != nil {
			return nil, err
		}
		if c.Content == nil {
			return nil, fmt.Errorf("tokenizer.json: Replace normalizer without content")
		}
		return normReplace{pat, *c.Content}, nil
	case "NFC":
		return normUnicode{norm.NFC}, nil
	case "NFD":
		return normUnicode{norm.NFD}, nil
	case "NFKC":
		return normUnicode{norm.NFKC}, nil
	case "NFKD":
		return normUnicode{norm.NFKD}, nil
	case "Lowercase":
		return normLowercase{}, nil
	case "Strip":
		return normStrip{left: c.StripLeft == nil || *c.StripLeft, right: c.StripRight == nil || *c.StripRight}, nil
	case "StripAccents":
		return normStripAccents{}, nil
	case "ByteLevel":
		return normByteLevel{}, nil
	}
	return nil, fmt.Errorf("tokenizer.json: normalizer type %q is not supported", c.Type)
}

// pipelineInfo collects facts about the pipeline used to render tokens for display.
type pipelineInfo struct {
	byteLevel   bool
	spaceMarker rune
}

func parseBehavior(s, what string) (splitBehavior, error) {
	b, ok := behaviorNames[s]
	if !ok {
		return 0, fmt.Errorf("tokenizer.json: %s: unknown split behavior %q", what, s)
	}
	return b, nil
}

func parsePrependScheme(c *hfComponent) (prependScheme, error) {
	scheme := prependAlways
	if c.PrependScheme != nil {
		switch *c.PrependScheme {
		case "always":
		case "first":
			scheme = prependFirst
		case "never":
			scheme = prependNever
		default:
			return 0, fmt.Errorf("tokenizer.json: Metaspace: unknown prepend_scheme %q", *c.PrependScheme)
		}
	}
	if c.AddPrefixSpace != nil && !*c.AddPrefixSpace {
		if c.PrependScheme != nil && scheme != prependNever {
			return 0, fmt.Errorf("tokenizer.json: Metaspace: add_prefix_space does not match prepend_scheme")
		}
		scheme = prependNever
	}
	return scheme, nil
}

func parseReplacement(c *hfComponent) (rune, error) {
	if c.Replacement == nil {
		return '▁', nil
	}
	r, size := utf8.DecodeRuneInString(*c.Replacement)
	if size == 0 || size != len(*c.Replacement) {
		return 0, fmt.Errorf("tokenizer.json: Metaspace replacement %q is not one character", *c.Replacement)
	}
	return r, nil
}

func parsePreTokenizer(raw json.RawMessage, info *pipelineInfo, depth int) (preTokenizer, error) {
	if depth > maxNesting {
		return nil, fmt.Errorf("tokenizer.json: pre-tokenizers nested too deeply")
	}
	c, err := parseComponent(raw, "pre_tokenizer")
	if err != nil {
		return nil, err
	}
	switch c.Type {
	case "Sequence":
		var seq preSequence
		for _, sub := range c.Pretokenizers {
			if isNull(sub) {
				continue
			}
			p, err := parsePreTokenizer(sub, info, depth+1)
			if err != nil {
				return nil, err
			}
			seq = append(seq, p)
		}
		return seq, nil
	case "ByteLevel":
		info.byteLevel = true
		return preByteLevel{
			addPrefixSpace: c.AddPrefixSpace == nil || *c.AddPrefixSpace,
			useRegex:       c.UseRegex == nil || *c.UseRegex,
		}, nil
	case "Split":
		pat, err := parsePattern(c.Pattern, "Split pre-tokenizer")
		if err != nil {
			return nil, err
		}
		b, err := parseBehavior(c.Behavior, "Split pre-tokenizer")
		if err != nil {
			return nil, err
		}
		return preSplit{pat: pat, behavior: b, invert: c.Invert}, nil
	case "Metaspace":
		r, err := parseReplacement(c)
		if err != nil {
			return nil, err
		}
		scheme, err := parsePrependScheme(c)
		if err != nil {
			return nil, err
		}
		info.spaceMarker = r
		return preMetaspace{replacement: r, prepend: scheme, split: c.Split == nil || *c.Split}, nil
	case "Digits":
		b := behaviorContiguous
		if c.IndividualDigits {
			b = behaviorIsolated
		}
		return preRunes{pred: unicode.IsNumber, behavior: b}, nil
	case "Punctuation":
		b := behaviorIsolated
		if c.Behavior != "" {
			if b, err = parseBehavior(c.Behavior, "Punctuation pre-tokenizer"); err != nil {
				return nil, err
			}
		}
		return preRunes{pred: isPunctuation, behavior: b}, nil
	case "WhitespaceSplit":
		return preRunes{pred: unicode.IsSpace, behavior: behaviorRemoved}, nil
	case "Whitespace":
		return preSplit{pat: matchPattern{re: mustCompile(`\w+|[^\w\s]+`)}, behavior: behaviorRemoved, invert: true}, nil
	}
	return nil, fmt.Errorf("tokenizer.json: pre-tokenizer type %q is not supported", c.Type)
}

func parseDecoder(raw json.RawMessage, info *pipelineInfo, depth int) (decoderStep, error) {
	if depth > maxNesting {
		return nil, fmt.Errorf("tokenizer.json: decoders nested too deeply")
	}
	c, err := parseComponent(raw, "decoder")
	if err != nil {
		return nil, err
	}
	switch c.Type {
	case "Sequence":
		var seq decSequence
		for _, sub := range c.Decoders {
			if isNull(sub) {
				continue
			}
			d, err := parseDecoder(sub, info, depth+1)
			if err != nil {
				return nil, err
			}
			seq = append(seq, d)
		}
		return seq, nil
	case "ByteLevel":
		info.byteLevel = true
		return decByteLevel{}, nil
	case "Metaspace":
		r, err := parseReplacement(c)
		if err != nil {
			return nil, err
		}
		scheme, err := parsePrependScheme(c)
		if err != nil {
			return nil, err
		}
		info.spaceMarker = r
		return decMetaspace{replacement: r, prepend: scheme}, nil
	case "Replace":
		pat, err := parsePattern(c.Pattern, "Replace decoder")
		if err != nil {
			return nil, err
		}
		if c.Content == nil {
			return nil, fmt.Errorf("tokenizer.json: Replace decoder without content")
		}
		if *c.Content == " " && pat.re == nil && utf8.RuneCountInString(pat.literal) == 1 {
			info.spaceMarker, _ = utf8.DecodeRuneInString(pat.literal)
		}
		return decReplace{pat: pat, content: *c.Content}, nil
	case "ByteFallback":
		return decByteFallback{}, nil
	case "Fuse":
		return decFuse{}, nil
	case "Strip":
		d := decStrip{content: ' '}
		if c.Content != nil {
			r, size := utf8.DecodeRuneInString(*c.Content)
			if size == 0 || size != len(*c.Content) {
				return nil, fmt.Errorf("tokenizer.json: Strip decoder content %q is not one character", *c.Content)
			}
			d.content = r
		}
		if c.Start != nil {
			d.start = max(*c.Start, 0)
		}
		if c.Stop != nil {
			d.stop = max(*c.Stop, 0)
		}
		return d, nil
	case "BPEDecoder":
		suffix := "</w>"
		if c.Suffix != nil {
			suffix = *c.Suffix
		}
		return decBPE{suffix: suffix}, nil
	}
	return nil, fmt.Errorf("tokenizer.json: decoder type %q is not supported", c.Type)
}

// templateBOS returns the id of the special token a post-processor puts before a single
// sequence, or -1.
func templateBOS(raw json.RawMessage, t *Tokenizer, depth int) int {
	if depth > maxNesting {
		return -1
	}
	var c hfComponent
	if json.Unmarshal(raw, &c) != nil {
		return -1
	}
	switch c.Type {
	case "Sequence":
		for _, sub := range c.Processors {
			if id := templateBOS(sub, t, depth+1); id >= 0 {
				return id
			}
		}
	case "TemplateProcessing":
		if len(c.Single) == 0 {
			return -1
		}
		st, ok := c.Single[0]["SpecialToken"]
		if !ok {
			return -1
		}
		var s struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(st, &s) != nil {
			return -1
		}
		if sp, ok := c.SpecialTokens[s.ID]; ok && len(sp.IDs) > 0 {
			return t.validID(sp.IDs[0])
		}
		if id, ok := t.ids[s.ID]; ok {
			return id
		}
	case "RobertaProcessing", "BertProcessing":
		var cls []json.RawMessage
		if json.Unmarshal(c.Cls, &cls) == nil && len(cls) == 2 {
			var id int
			if json.Unmarshal(cls[1], &id) == nil {
				return t.validID(id)
			}
		}
	}
	return -1
}
