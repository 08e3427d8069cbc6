package tokenizer

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dlclark/regexp2/v2"
)

// This file runs the regular expressions of tokenizer.json files (Split pre-tokenizers,
// Replace normalizers and decoders, the ByteLevel pattern). Go's regexp package has no
// lookahead, and the GPT-2 / Llama-3 / Qwen patterns rely on `\s+(?!\S)`, so they run on
// regexp2, a backtracking engine with Perl/.NET syntax and leftmost-first semantics.
//
// The tokenizers library compiles these patterns with Oniguruma (Ruby syntax). The two
// syntaxes agree on everything the released patterns use: alternation, groups, inline and
// scoped case folding ((?i:'s|'t)), lookahead, greedy and lazy quantifiers, `\s \S \d \D`
// (Unicode White_Space and Nd), `\p{L}`/`\pN`/`\P{..}` general categories and scripts, and
// the escapes `\n \r \t \f \v \a \e \xHH \x{H..} \uHHHH`. Patterns are compiled with
// Multiline, since Oniguruma's `^` and `$` are line anchors, and without regexp2's RE2 mode,
// which would make `\s \d \w` ASCII-only. Constructs that the two syntaxes read differently
// (class intersection `[a&&b]`, nested classes and POSIX brackets `[[:alpha:]]`, the
// quantifier `{,n}`) are rejected with an error naming them rather than run with a different
// meaning. Case folding is Go's simple folding (`(?i)s` matches `ſ`, as in Oniguruma), and
// `\w` is .NET's word class (letters, Mn, Nd, Pc), which Oniguruma widens by Mc and Me.

// regexTimeout bounds one search for the next match, so that a pathological pattern
// (catastrophic backtracking) returns an error instead of running for an exponential time.
// The patterns of real tokenizers take microseconds per match, but a quadratic one on a long run
// (DeepSeek's `\s+$` on 4 KiB of spaces: 8M steps) took over a second on a loaded 2-core machine,
// so the bound is generous: backtracking that is really catastrophic is exponential and passes any
// bound. (A variable for tests.)
var regexTimeout = 10 * time.Second

// regexMaxStack bounds the backtracking stack of one search (in regexp2's integer slots, 8
// bytes each). Patterns whose loops are over single-character classes, as in all released
// tokenizers, need a few slots whatever the input; a loop over a group needs a few per
// iteration.
const regexMaxStack = 1 << 22

// regex is a compiled pattern; it is safe for concurrent use.
type regex struct {
	src string
	re  *regexp2.Regexp
}

// compileRegex compiles a tokenizer.json pattern, with errors that name it.
func compileRegex(pattern string) (*regex, error) {
	if !utf8.ValidString(pattern) {
		return nil, fmt.Errorf("regex %q is not valid UTF-8", pattern)
	}
	if err := checkOnigurumaSyntax(pattern); err != nil {
		return nil, fmt.Errorf("regex %q: %w", pattern, err)
	}
	re, err := regexp2.Compile(pattern,
		regexp2.Multiline|regexp2.ExplicitCapture, // line anchors; groups need not capture
		regexp2.OptionMaxBacktrackingStackSize(regexMaxStack))
	if err != nil {
		return nil, fmt.Errorf("regex %q: %w", pattern, err)
	}
	re.MatchTimeout = regexTimeout
	return &regex{src: pattern, re: re}, nil
}

// checkOnigurumaSyntax rejects the constructs that Oniguruma (the tokenizers library's engine)
// and regexp2 both accept but read differently.
func checkOnigurumaSyntax(p string) error {
	inClass := false
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '\\':
			i++ // the escaped character; \p{..} and \x{..} hold no brackets
		case !inClass && c == '[':
			inClass = true
			// A ']' first in the class (after an optional '^') is a literal.
			if i+1 < len(p) && p[i+1] == '^' {
				i++
			}
			if i+1 < len(p) && p[i+1] == ']' {
				i++
			}
		case inClass && c == ']':
			inClass = false
		case inClass && c == '[':
			return fmt.Errorf("offset %d: nested character classes, POSIX brackets ([:alpha:]) and class subtraction are not supported", i)
		case inClass && c == '&' && i+1 < len(p) && p[i+1] == '&':
			return fmt.Errorf("offset %d: class intersection (&&) is not supported", i)
		case !inClass && c == '{' && i+1 < len(p) && p[i+1] == ',':
			j := i + 2
			for j < len(p) && p[j] >= '0' && p[j] <= '9' {
				j++
			}
			if j > i+2 && j < len(p) && p[j] == '}' {
				return fmt.Errorf("offset %d: the quantifier %s is not supported (write {0,n})", i, p[i:j+1])
			}
		}
	}
	return nil
}

// reMatcher holds the scratch space of the searches of one Encode call; it is not safe for
// concurrent use.
type reMatcher struct {
	runes []rune // the text being searched, as regexp2 reads it
}

// span is a piece of a string, flagged when it is a match of the pattern.
type span struct {
	start, end int
	match      bool
}

// findSpans cuts s into the matches of re and the gaps between them, as the tokenizers
// library does: matches are found left to right without overlap; empty matches are dropped.
func (m *reMatcher) findSpans(re *regex, s string, out []span) ([]span, error) {
	if out == nil {
		out = make([]span, 0, len(s)/3+4)
	}
	if cap(m.runes) < len(s) {
		m.runes = make([]rune, 0, len(s))
	}
	m.runes = m.runes[:0]
	for _, r := range s {
		m.runes = append(m.runes, r)
	}
	// regexp2 reports rune offsets; a cursor walks s to turn them into byte offsets. Each
	// byte of invalid UTF-8 is one rune (U+FFFD) both in m.runes and for DecodeRuneInString.
	runePos, bytePos := 0, 0
	byteOffset := func(runeIndex int) int {
		for ; runePos < runeIndex; runePos++ {
			if s[bytePos] < utf8.RuneSelf {
				bytePos++
			} else {
				_, w := utf8.DecodeRuneInString(s[bytePos:])
				bytePos += w
			}
		}
		return bytePos
	}
	prev := 0
	err := re.re.FindRunesMatches(m.runes, 0, func(v regexp2.MatchView) bool {
		index, length, _ := v.GroupRange(0)
		if length == 0 {
			return true
		}
		start := byteOffset(index)
		end := byteOffset(index + length)
		if prev < start {
			out = append(out, span{prev, start, false})
		}
		out = append(out, span{start, end, true})
		prev = end
		return true
	})
	if err != nil {
		return nil, re.searchError(err)
	}
	if prev < len(s) {
		out = append(out, span{prev, len(s), false})
	}
	return out, nil
}

// searchError names the pattern in an error of regexp2, without the input that regexp2's
// timeout message quotes in full.
func (re *regex) searchError(err error) error {
	switch {
	case errors.Is(err, regexp2.ErrBacktrackingStackLimit):
		return fmt.Errorf("regex %q backtracks too deeply on this input (more than %d stack slots)", re.src, regexMaxStack)
	case strings.HasPrefix(err.Error(), "match timeout"):
		return fmt.Errorf("regex %q found no match within %v on this input (catastrophic backtracking?)", re.src, regexTimeout)
	}
	msg := err.Error()
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	return fmt.Errorf("regex %q: %s", re.src, msg)
}
