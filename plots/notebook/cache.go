package notebook

import (
	"bytes"
	"crypto/sha256"
	"encoding/gob"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	"github.com/janpfeifer/gonb/gonbui/protocol"

	"github.com/sinkscope/sinkscope/internal/atomicfile"
)

// CacheDirEnv overrides where Cache keeps results (default: GoNB's per-kernel temporary directory).
const CacheDirEnv = "SINKSCOPE_NOTEBOOK_CACHE"

var unsafeKey = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// Cache returns the result of compute for key, computing it only the first time in a kernel
// session. GoNB runs every cell as a new program, so a heavy result (a forward pass, a sweep) is
// computed in one cell and read back by the next ones. The key must name everything the result
// depends on (e.g. "sinks|" + modelSource + "|20x64"): a changed input with the same key would read
// the old result. Results are stored with encoding/gob in GoNB's per-session temporary directory, so a
// kernel restart starts afresh. Outside a notebook, compute runs every time.
func Cache[T any](key string, compute func() (T, error)) (T, error) {
	dir := os.Getenv(CacheDirEnv)
	if dir == "" {
		if tmp := os.Getenv(protocol.GONB_TMP_DIR_ENV); tmp != "" {
			dir = filepath.Join(tmp, "sinkscope-cache")
		}
	}
	if dir == "" {
		return compute()
	}
	sum := sha256.Sum256([]byte(key))
	name := unsafeKey.ReplaceAllString(key, "_")
	if len(name) > 60 {
		name = name[:60]
	}
	path := filepath.Join(dir, name+"-"+hex.EncodeToString(sum[:6])+".gob")
	var zero T
	if b, err := os.ReadFile(path); err == nil {
		var v T
		if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&v); err == nil {
			return v, nil
		}
		// An unreadable entry (e.g. the type changed) is recomputed.
	}
	v, err := compute()
	if err != nil {
		return zero, err
	}
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(&v); err != nil {
		return zero, fmt.Errorf("notebook.Cache(%q): encoding the result: %w", key, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return zero, fmt.Errorf("notebook.Cache(%q): %w", key, err)
	}
	if err := atomicfile.Write(path, buf.Bytes()); err != nil {
		return zero, fmt.Errorf("notebook.Cache(%q): %w", key, err)
	}
	return v, nil
}
