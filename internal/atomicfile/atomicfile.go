// Package atomicfile writes files so that a reader sees either the old content or the complete new
// one, never a partial write: data goes to a temporary file in the same directory, is synced, and is
// renamed over the target. Checkpoints, exported figures and cache files all use it.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write replaces path with data atomically (mode 0644).
func Write(path string, data []byte) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Chmod(0o644); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
