package corpus

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"unicode/utf8"
)

// Document is one text of the corpus.
type Document struct {
	// ID is the corpus file name, e.g. "ca01".
	ID string
	// Category is the genre from cats.txt, e.g. "news", "fiction", "learned".
	Category string
	// Paragraphs are the document's paragraphs as natural text, in order.
	Paragraphs []string
}

// Text is the document's paragraphs joined by blank lines ("\n\n").
func (d Document) Text() string { return strings.Join(d.Paragraphs, ParagraphSeparator) }

// ParagraphSeparator joins paragraphs in Text, Corpus.Text and multi-paragraph samples.
const ParagraphSeparator = "\n\n"

// Corpus is a parsed corpus: documents in a fixed order. It is read-only after loading and safe
// for concurrent use; callers must not modify the slices it returns inside Documents.
type Corpus struct {
	docs    []Document
	byID    map[string]int
	skipped int
}

// Stats summarises a corpus.
type Stats struct {
	Documents  int
	Paragraphs int
	// Chars counts the characters (Unicode code points) of all paragraphs, separators excluded.
	Chars int
}

// Documents returns the documents in corpus order (by ID for the Brown corpus).
func (c *Corpus) Documents() []Document {
	return append([]Document(nil), c.docs...)
}

// Document returns the document with the given ID.
func (c *Corpus) Document(id string) (Document, bool) {
	i, ok := c.byID[id]
	if !ok {
		return Document{}, false
	}
	return c.docs[i], true
}

// Text returns the whole text of document id, paragraphs separated by blank lines.
func (c *Corpus) Text(id string) (string, error) {
	d, ok := c.Document(id)
	if !ok {
		return "", fmt.Errorf("corpus: no document %q", id)
	}
	return d.Text(), nil
}

// Paragraphs returns every paragraph of the corpus, document by document, in order.
func (c *Corpus) Paragraphs() []string {
	var out []string
	for _, d := range c.docs {
		out = append(out, d.Paragraphs...)
	}
	return out
}

// Categories returns the distinct document categories, sorted.
func (c *Corpus) Categories() []string {
	seen := make(map[string]bool)
	var out []string
	for _, d := range c.docs {
		if !seen[d.Category] {
			seen[d.Category] = true
			out = append(out, d.Category)
		}
	}
	sort.Strings(out)
	return out
}

// SkippedLines is the number of malformed input lines skipped while loading.
func (c *Corpus) SkippedLines() int { return c.skipped }

// Stats counts documents, paragraphs and characters.
func (c *Corpus) Stats() Stats {
	s := Stats{Documents: len(c.docs)}
	for _, d := range c.docs {
		s.Paragraphs += len(d.Paragraphs)
		for _, p := range d.Paragraphs {
			s.Chars += utf8.RuneCountInString(p)
		}
	}
	return s
}

// samplesStream is the second PCG seed word used by Samples, so that its random choices do not
// coincide with other users of the same seed.
const samplesStream = 0x5a3c_0b11_c0_4b05

// Samples returns up to n text samples drawn from the corpus, deterministically from seed.
//
// A sample is one paragraph or, when that paragraph is shorter than minChars characters, it
// followed by the next paragraphs of the same document until the joined text (paragraphs
// separated by ParagraphSeparator) has at least minChars characters. Starting paragraphs are
// visited in a seeded random order; a start whose run would overlap an earlier sample, or would
// reach the end of its document before minChars, is passed over, so samples never share a
// paragraph. Fewer than n samples are returned only when the corpus runs out (check len).
// minChars ≤ 0 means single paragraphs. The same corpus, n, seed and minChars always give the
// same samples, and a smaller n gives a prefix of a larger one.
func (c *Corpus) Samples(n int, seed uint64, minChars int) []string {
	if n <= 0 {
		return nil
	}
	// Global paragraph index → (document, paragraph); docStart[i] is the first global index of
	// document i.
	var lengths []int
	var docOf []int
	for di, d := range c.docs {
		for _, p := range d.Paragraphs {
			lengths = append(lengths, utf8.RuneCountInString(p))
			docOf = append(docOf, di)
		}
	}
	total := len(lengths)
	order := make([]int, total)
	for i := range order {
		order[i] = i
	}
	rng := rand.NewPCG(seed, samplesStream)
	for i := total - 1; i > 0; i-- {
		j := int(uniform(rng, uint64(i+1)))
		order[i], order[j] = order[j], order[i]
	}

	flat := c.Paragraphs()
	used := make([]bool, total)
	sepLen := utf8.RuneCountInString(ParagraphSeparator)
	var out []string
	for _, start := range order {
		if len(out) == n {
			break
		}
		end, size, ok := start, 0, true // the run is flat[start:end]
		for {
			if end == total || docOf[end] != docOf[start] || used[end] {
				ok = false
				break
			}
			if end > start {
				size += sepLen
			}
			size += lengths[end]
			end++
			if size >= minChars {
				break
			}
		}
		if !ok {
			continue
		}
		for k := start; k < end; k++ {
			used[k] = true
		}
		out = append(out, strings.Join(flat[start:end], ParagraphSeparator))
	}
	return out
}

// uniform returns an unbiased random integer in [0, n), n > 0, by rejection sampling, so the
// results depend only on the PCG stream and not on any library's bounded-integer algorithm.
func uniform(src *rand.PCG, n uint64) uint64 {
	threshold := -n % n // 2^64 mod n
	for {
		if r := src.Uint64(); r >= threshold {
			return r % n
		}
	}
}
