package tokenizer

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// This file holds the normalizers, pre-tokenizers and decoders of tokenizer.json pipelines.

// ---------------------------------------------------------------------------------------------
// Normalizers

type normalizer interface {
	normalize(s string, m *reMatcher) (string, error)
}

type normSequence []normalizer

func (n normSequence) normalize(s string, m *reMatcher) (string, error) {
	var err error
	for _, step := range n {
		if s, err = step.normalize(s, m); err != nil {
			return "", err
		}
	}
	return s, nil
}

// normPrepend prepends a string to non-empty input.
type normPrepend struct{ prefix string }

func (n normPrepend) normalize(s string, _ *reMatcher) (string, error) {
	if s == "" {
		return s, nil
	}
	return n.prefix + s, nil
}

// normReplace replaces every match of a literal string or a pattern.
type normReplace struct {
	pat     matchPattern
	content string
}

func (n normReplace) normalize(s string, m *reMatcher) (string, error) {
	return n.pat.replaceAll(s, n.content, m)
}

type normUnicode struct{ form norm.Form }

func (n normUnicode) normalize(s string, _ *reMatcher) (string, error) {
	return n.form.String(s), nil
}

type normLowercase struct{}

func (normLowercase) normalize(s string, _ *reMatcher) (string, error) {
	// Character by character, as the tokenizers library does; U+0130 is the one character
	// whose lowercase form is two characters.
	s = strings.ReplaceAll(s, "\u0130", "i\u0307")
	return strings.ToLower(s), nil
}

type normStrip struct{ left, right bool }

func (n normStrip) normalize(s string, _ *reMatcher) (string, error) {
	if n.left {
		s = strings.TrimLeftFunc(s, unicode.IsSpace)
	}
	if n.right {
		s = strings.TrimRightFunc(s, unicode.IsSpace)
	}
	return s, nil
}

// normStripAccents removes combining marks (meant to follow NFD).
type normStripAccents struct{}

func (normStripAccents) normalize(s string, _ *reMatcher) (string, error) {
	return strings.Map(func(r rune) rune {
		if unicode.Is(unicode.M, r) {
			return -1
		}
		return r
	}, s), nil
}

// normByteLevel maps every byte to its byte-level rune.
type normByteLevel struct{}

func (normByteLevel) normalize(s string, _ *reMatcher) (string, error) {
	return byteLevelEncode(s), nil
}

// ---------------------------------------------------------------------------------------------
// Patterns: a literal string or a regex, as in Split / Replace.

type matchPattern struct {
	literal string
	re      *regex // nil for a literal
}

func (p matchPattern) spans(s string, m *reMatcher, out []span) ([]span, error) {
	if p.re != nil {
		return m.findSpans(p.re, s, out)
	}
	if p.literal == "" {
		if s != "" {
			out = append(out, span{0, len(s), false})
		}
		return out, nil
	}
	prev := 0
	for {
		i := strings.Index(s[prev:], p.literal)
		if i < 0 {
			break
		}
		start := prev + i
		if start > prev {
			out = append(out, span{prev, start, false})
		}
		out = append(out, span{start, start + len(p.literal), true})
		prev = start + len(p.literal)
	}
	if prev < len(s) {
		out = append(out, span{prev, len(s), false})
	}
	return out, nil
}

func (p matchPattern) replaceAll(s, content string, m *reMatcher) (string, error) {
	if p.re == nil {
		if p.literal == "" {
			return s, nil
		}
		return strings.ReplaceAll(s, p.literal, content), nil
	}
	spans, err := p.spans(s, m, nil)
	if err != nil {
		return "", err
	}
	var sb strings.Builder
	for _, sp := range spans {
		if sp.match {
			sb.WriteString(content)
		} else {
			sb.WriteString(s[sp.start:sp.end])
		}
	}
	return sb.String(), nil
}

// runeSpans marks every rune for which pred holds as a match of its own.
func runeSpans(s string, pred func(rune) bool, out []span) []span {
	prev := 0
	for i := 0; i < len(s); {
		r, w := utf8.DecodeRuneInString(s[i:])
		if pred(r) {
			if prev < i {
				out = append(out, span{prev, i, false})
			}
			out = append(out, span{i, i + w, true})
			prev = i + w
		}
		i += w
	}
	if prev < len(s) {
		out = append(out, span{prev, len(s), false})
	}
	return out
}

// ---------------------------------------------------------------------------------------------
// Pre-tokenizers

// piece is a pre-tokenized piece of text; atStart is set when it begins at offset 0 of the
// whole input (Metaspace's prepend_scheme "first" depends on it).
type piece struct {
	text    string
	atStart bool
}

type preTokenizer interface {
	preTokenize(in []piece, m *reMatcher) ([]piece, error)
}

type splitBehavior int

const (
	behaviorRemoved splitBehavior = iota
	behaviorIsolated
	behaviorMergedWithPrevious
	behaviorMergedWithNext
	behaviorContiguous
)

var behaviorNames = map[string]splitBehavior{
	"Removed": behaviorRemoved, "Isolated": behaviorIsolated,
	"MergedWithPrevious": behaviorMergedWithPrevious, "MergedWithNext": behaviorMergedWithNext,
	"Contiguous": behaviorContiguous,
}

// applyBehavior turns the spans of p.text into pieces, following the tokenizers library's
// SplitDelimiterBehavior. Empty pieces are dropped.
func applyBehavior(p piece, spans []span, b splitBehavior, out []piece) []piece {
	switch b {
	case behaviorIsolated, behaviorRemoved:
		for _, s := range spans {
			if (b == behaviorRemoved && s.match) || s.end <= s.start {
				continue
			}
			out = append(out, piece{text: p.text[s.start:s.end], atStart: p.atStart && s.start == 0})
		}
		return out
	}
	type cut struct {
		start, end int
		remove     bool
	}
	var cuts []cut
	switch b {
	case behaviorContiguous:
		prevMatch := false
		for _, s := range spans {
			if s.match == prevMatch && len(cuts) > 0 {
				cuts[len(cuts)-1].end = s.end
			} else {
				cuts = append(cuts, cut{s.start, s.end, false})
			}
			prevMatch = s.match
		}
	case behaviorMergedWithPrevious:
		prevMatch := false
		for _, s := range spans {
			if s.match && !prevMatch && len(cuts) > 0 {
				cuts[len(cuts)-1].end = s.end
			} else {
				cuts = append(cuts, cut{s.start, s.end, false})
			}
			prevMatch = s.match
		}
	case behaviorMergedWithNext:
		prevMatch := false
		for i := len(spans) - 1; i >= 0; i-- {
			s := spans[i]
			if s.match && !prevMatch && len(cuts) > 0 {
				cuts[len(cuts)-1].start = s.start
			} else {
				cuts = append(cuts, cut{s.start, s.end, false})
			}
			prevMatch = s.match
		}
		for i, j := 0, len(cuts)-1; i < j; i, j = i+1, j-1 {
			cuts[i], cuts[j] = cuts[j], cuts[i]
		}
	}
	for _, c := range cuts {
		if c.remove || c.end <= c.start {
			continue
		}
		out = append(out, piece{text: p.text[c.start:c.end], atStart: p.atStart && c.start == 0})
	}
	return out
}

// piecesEstimate guesses how many pieces splitting the input into words gives.
func piecesEstimate(in []piece) int {
	n := 0
	for _, p := range in {
		n += len(p.text) / 4
	}
	return n
}

type preSequence []preTokenizer

func (s preSequence) preTokenize(in []piece, m *reMatcher) ([]piece, error) {
	var err error
	for _, step := range s {
		if in, err = step.preTokenize(in, m); err != nil {
			return nil, err
		}
	}
	return in, nil
}

// preSplit splits on a literal or a regex.
type preSplit struct {
	pat      matchPattern
	behavior splitBehavior
	invert   bool
}

func (ps preSplit) preTokenize(in []piece, m *reMatcher) ([]piece, error) {
	out := make([]piece, 0, len(in)+piecesEstimate(in))
	var spans []span
	var err error
	for _, p := range in {
		spans, err = ps.pat.spans(p.text, m, spans[:0])
		if err != nil {
			return nil, err
		}
		if ps.invert {
			for i := range spans {
				spans[i].match = !spans[i].match
			}
		}
		out = applyBehavior(p, spans, ps.behavior, out)
	}
	return out, nil
}

// preRunes splits with a per-rune predicate (Digits, Punctuation, WhitespaceSplit).
type preRunes struct {
	pred     func(rune) bool
	behavior splitBehavior
}

func (pr preRunes) preTokenize(in []piece, _ *reMatcher) ([]piece, error) {
	var out []piece
	var spans []span
	for _, p := range in {
		spans = runeSpans(p.text, pr.pred, spans[:0])
		out = applyBehavior(p, spans, pr.behavior, out)
	}
	return out, nil
}

// gpt2Pattern is the pattern of the ByteLevel pre-tokenizer when use_regex is set.
const gpt2Pattern = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`

var gpt2Regex = mustCompile(gpt2Pattern)

func mustCompile(p string) *regex {
	re, err := compileRegex(p)
	if err != nil {
		panic(err)
	}
	return re
}

type preByteLevel struct {
	addPrefixSpace bool
	useRegex       bool
}

func (b preByteLevel) preTokenize(in []piece, m *reMatcher) ([]piece, error) {
	out := make([]piece, 0, len(in)+piecesEstimate(in))
	var spans []span
	var err error
	for _, p := range in {
		if b.addPrefixSpace && !strings.HasPrefix(p.text, " ") {
			p.text = " " + p.text
		}
		if !b.useRegex {
			out = append(out, p)
			continue
		}
		spans, err = m.findSpans(gpt2Regex, p.text, spans[:0])
		if err != nil {
			return nil, err
		}
		out = applyBehavior(p, spans, behaviorIsolated, out)
	}
	for i := range out {
		out[i].text = byteLevelEncode(out[i].text)
	}
	return out, nil
}

type prependScheme int

const (
	prependAlways prependScheme = iota
	prependFirst
	prependNever
)

type preMetaspace struct {
	replacement rune
	prepend     prependScheme
	split       bool
}

func (ms preMetaspace) preTokenize(in []piece, _ *reMatcher) ([]piece, error) {
	rep := string(ms.replacement)
	var out []piece
	var spans []span
	for _, p := range in {
		p.text = strings.ReplaceAll(p.text, " ", rep)
		if !strings.HasPrefix(p.text, rep) &&
			(ms.prepend == prependAlways || (ms.prepend == prependFirst && p.atStart)) {
			p.text = rep + p.text
		}
		if !ms.split {
			out = append(out, p)
			continue
		}
		spans = runeSpans(p.text, func(r rune) bool { return r == ms.replacement }, spans[:0])
		out = applyBehavior(p, spans, behaviorMergedWithNext, out)
	}
	return out, nil
}

func isPunctuation(r rune) bool {
	return (r < 128 && unicode.IsPunct(r)) || (r < 128 && unicode.IsSymbol(r)) || unicode.IsPunct(r)
}

// ---------------------------------------------------------------------------------------------
// Decoders: each step maps a list of token strings to another list; the result is joined.

type decoderStep interface {
	decodeChain(tokens []string) []string
}

type decSequence []decoderStep

func (d decSequence) decodeChain(tokens []string) []string {
	for _, step := range d {
		tokens = step.decodeChain(tokens)
	}
	return tokens
}

type decByteLevel struct{}

func (decByteLevel) decodeChain(tokens []string) []string {
	var buf []byte
	for _, t := range tokens {
		var ok bool
		if buf, ok = byteLevelDecode(t, buf); !ok {
			buf = append(buf, t...)
		}
	}
	return []string{lossyUTF8(buf)}
}

type decMetaspace struct {
	replacement rune
	prepend     prependScheme
}

func (d decMetaspace) decodeChain(tokens []string) []string {
	out := make([]string, len(tokens))
	for i, t := range tokens {
		strip := i == 0 && d.prepend != prependNever
		out[i] = strings.Map(func(r rune) rune {
			if r == d.replacement {
				if strip {
					return -1
				}
				return ' '
			}
			return r
		}, t)
	}
	return out
}

type decReplace struct {
	pat     matchPattern
	content string
}

func (d decReplace) decodeChain(tokens []string) []string {
	out := make([]string, len(tokens))
	m := &reMatcher{}
	for i, t := range tokens {
		r, err := d.pat.replaceAll(t, d.content, m)
		if err != nil {
			r = t
		}
		out[i] = r
	}
	return out
}

type decByteFallback struct{}

func (decByteFallback) decodeChain(tokens []string) []string {
	out := make([]string, 0, len(tokens))
	var pending []byte
	flush := func() {
		if len(pending) == 0 {
			return
		}
		if utf8.Valid(pending) {
			out = append(out, string(pending))
		} else {
			for range pending {
				out = append(out, "\uFFFD")
			}
		}
		pending = pending[:0]
	}
	for _, t := range tokens {
		if b, ok := parseByteToken(t); ok {
			pending = append(pending, b)
			continue
		}
		flush()
		out = append(out, t)
	}
	flush()
	return out
}

type decFuse struct{}

func (decFuse) decodeChain(tokens []string) []string {
	return []string{strings.Join(tokens, "")}
}

type decStrip struct {
	content     rune
	start, stop int
}

func (d decStrip) decodeChain(tokens []string) []string {
	out := make([]string, len(tokens))
	for i, t := range tokens {
		lo := 0
		for k := 0; k < d.start && lo < len(t); k++ {
			r, w := utf8.DecodeRuneInString(t[lo:])
			if r != d.content {
				break
			}
			lo += w
		}
		hi := len(t)
		for k := 0; k < d.stop && hi > lo; k++ {
			r, w := utf8.DecodeLastRuneInString(t[lo:hi])
			if r != d.content {
				break
			}
			hi -= w
		}
		out[i] = t[lo:hi]
	}
	return out
}

// decBPE replaces the end-of-word suffix by a space (nothing after the last token).
type decBPE struct{ suffix string }

func (d decBPE) decodeChain(tokens []string) []string {
	out := make([]string, len(tokens))
	for i, t := range tokens {
		rep := " "
		if i == len(tokens)-1 {
			rep = ""
		}
		out[i] = strings.ReplaceAll(t, d.suffix, rep)
	}
	return out
}
