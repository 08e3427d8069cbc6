package hf

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/gomlx/go-huggingface/hub"

	"github.com/sinkscope/sinkscope/internal/atomicfile"
	"github.com/sinkscope/sinkscope/sinks/safetensors"
)

// TokenizerFileNames are the tokenizer files a model directory may hold; Load reports the ones
// present and a download fetches the ones the repository has.
var TokenizerFileNames = []string{
	"tokenizer.json",          // HF tokenizers
	"tokenizer.model",         // SentencePiece
	"tokenizer_config.json",   // special tokens, chat template
	"special_tokens_map.json", // older special-token file
	"vocab.json",              // GPT-2 style BPE vocabulary
	"merges.txt",              // GPT-2 style BPE merges
}

// CacheDir returns the root of the HF hub cache, resolved like the Python huggingface_hub
// library: $HF_HUB_CACHE, else the legacy $HUGGINGFACE_HUB_CACHE, else $HF_HOME/hub, else
// $XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub.
func CacheDir() string {
	if d := os.Getenv("HF_HUB_CACHE"); d != "" {
		return expandHome(d)
	}
	if d := os.Getenv("HUGGINGFACE_HUB_CACHE"); d != "" {
		return expandHome(d)
	}
	if d := os.Getenv("HF_HOME"); d != "" {
		return filepath.Join(expandHome(d), "hub")
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(expandHome(d), "huggingface", "hub")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = "~"
	}
	return filepath.Join(home, ".cache", "huggingface", "hub")
}

func expandHome(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, p[1:])
		}
	}
	return p
}

// Offline reports whether HF_HUB_OFFLINE is set to a true value (1, true, yes, on).
func Offline() bool {
	switch strings.ToLower(strings.TrimSpace(os.Getenv("HF_HUB_OFFLINE"))) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

var (
	repoPart   = regexp.MustCompile(`^[A-Za-z0-9_]([A-Za-z0-9._-]*[A-Za-z0-9_])?$`)
	commitHash = regexp.MustCompile(`^[0-9a-f]{40}$`)
)

// ParseRepoID splits "org/name@revision" into the repository id and the revision ("main" when
// absent). The id is "name" or "org/name" with letters, digits, '-', '_' and '.', not starting
// or ending with '-' or '.', without "--" or "..".
func ParseRepoID(s string) (repo, revision string, err error) {
	repo, revision, hasRev := strings.Cut(s, "@")
	if !hasRev {
		revision = "main"
	}
	parts := strings.Split(repo, "/")
	if len(parts) > 2 || len(repo) > 96+1+96 {
		return "", "", fmt.Errorf("%q is not a hub repo id (org/name)", s)
	}
	for _, p := range parts {
		if !repoPart.MatchString(p) || strings.Contains(p, "--") || strings.Contains(p, "..") {
			return "", "", fmt.Errorf("%q is not a hub repo id (org/name with letters, digits, '-', '_', '.')", s)
		}
	}
	if revision == "" || strings.ContainsAny(revision, " \t\n\\@") || strings.HasPrefix(revision, "/") || !filepath.IsLocal(revision) {
		return "", "", fmt.Errorf("%q: invalid revision %q", s, revision)
	}
	return repo, revision, nil
}

// ResolveModel returns the directory of a model given either a local directory holding a
// config.json, or a hub repo id "org/name" with an optional "@revision" (branch, tag or commit
// hash; default main).
//
// Repo ids are looked up in the HF hub cache (CacheDir) with its standard layout:
// models--org--name/refs/<revision> holds a commit hash and the files are in
// models--org--name/snapshots/<commit>/. A snapshot counts only if it has config.json and the
// complete safetensors weights. Otherwise, unless HF_HUB_OFFLINE is set, config.json, the
// safetensors weights (every shard of a sharded index) and the tokenizer files the repository
// has are downloaded into that cache, authenticated with $HF_TOKEN if set.
func ResolveModel(pathOrRepoID string) (string, error) {
	return resolveModel(pathOrRepoID, false)
}

func resolveModel(s string, progress bool) (string, error) {
	if s == "" {
		return "", errors.New("hf: empty model path or repo id")
	}
	if st, err := os.Stat(s); err == nil {
		if !st.IsDir() {
			return "", fmt.Errorf("hf: %s is not a directory (want a model directory with %s, or a hub repo id)", s, ConfigFileName)
		}
		dir, err := filepath.Abs(s)
		if err != nil {
			return "", fmt.Errorf("hf: %w", err)
		}
		if _, err := os.Stat(filepath.Join(dir, ConfigFileName)); err != nil {
			return "", fmt.Errorf("hf: model directory %s has no %s", dir, ConfigFileName)
		}
		return dir, nil
	}
	if filepath.IsAbs(s) || strings.HasPrefix(s, ".") || strings.HasPrefix(s, "~") || strings.Contains(s, `\`) {
		return "", fmt.Errorf("hf: model directory %s does not exist", s)
	}
	repo, rev, err := ParseRepoID(s)
	if err != nil {
		return "", fmt.Errorf("hf: %s is neither an existing directory nor a hub repo id: %v", s, err)
	}
	root := CacheDir()
	snap, cacheErr := findInCache(root, repo, rev)
	if cacheErr == nil {
		return snap, nil
	}
	if Offline() {
		return "", fmt.Errorf("hf: %s@%s is not available offline (HF_HUB_OFFLINE is set, nothing downloaded): %v", repo, rev, cacheErr)
	}
	snap, err = download(root, repo, rev, progress)
	if err != nil {
		return "", fmt.Errorf("hf: %s@%s is not in the cache (%v) and downloading it failed: %w", repo, rev, cacheErr, err)
	}
	return snap, nil
}

// RepoCacheDir is the cache directory of a model repository: <root>/models--org--name.
func RepoCacheDir(root, repo string) string {
	return filepath.Join(root, "models--"+strings.ReplaceAll(repo, "/", "--"))
}

// findInCache returns the complete snapshot directory of repo at rev, or an error saying exactly
// which path was missing.
func findInCache(root, repo, rev string) (string, error) {
	repoDir := RepoCacheDir(root, repo)
	commit := rev
	if !commitHash.MatchString(rev) {
		ref := filepath.Join(repoDir, "refs", filepath.FromSlash(rev))
		data, err := os.ReadFile(ref)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return "", fmt.Errorf("no cached revision: %s does not exist", ref)
			}
			return "", err
		}
		commit = strings.TrimSpace(string(data))
		if !commitHash.MatchString(commit) {
			return "", fmt.Errorf("%s does not hold a commit hash (%q)", ref, truncateStr(commit, 60))
		}
	}
	snap := filepath.Join(repoDir, "snapshots", commit)
	if st, err := os.Stat(snap); err != nil || !st.IsDir() {
		return "", fmt.Errorf("snapshot directory %s does not exist", snap)
	}
	if missing := missingFiles(snap); len(missing) > 0 {
		return "", fmt.Errorf("snapshot %s is incomplete: missing %s", snap, strings.Join(missing, ", "))
	}
	return snap, nil
}

// missingFiles lists what a model directory lacks: config.json and the safetensors weights.
func missingFiles(dir string) []string {
	var missing []string
	exists := func(name string) bool {
		_, err := os.Stat(filepath.Join(dir, name)) // follows the cache's symlinks into blobs/
		return err == nil
	}
	if !exists(ConfigFileName) {
		missing = append(missing, ConfigFileName)
	}
	switch {
	case exists(safetensors.IndexFileName):
		data, err := os.ReadFile(filepath.Join(dir, safetensors.IndexFileName))
		if err != nil {
			return append(missing, safetensors.IndexFileName+" (unreadable)")
		}
		wm, err := safetensors.ParseIndex(data)
		if err != nil {
			return append(missing, safetensors.IndexFileName+" (invalid: "+err.Error()+")")
		}
		for _, shard := range safetensors.ShardFiles(wm) {
			if !exists(shard) {
				missing = append(missing, shard)
			}
		}
	case exists(safetensors.SingleFileName):
	default:
		missing = append(missing, safetensors.SingleFileName+" or "+safetensors.IndexFileName)
	}
	return missing
}

// download fetches config.json, the safetensors weights and the tokenizer files of repo at rev
// into the cache rooted at root, and returns the snapshot directory.
func download(root, repo, rev string, progress bool) (string, error) {
	r := hub.New(repo).WithRevision(rev).WithAuth(os.Getenv("HF_TOKEN")).WithCacheDir(root).WithProgressBar(progress)
	r.Verbosity = 0
	if progress {
		r.Verbosity = 1
	}
	// One file at a time: shards are large, and it keeps the library's progress accounting simple.
	r.MaxParallelDownload = 1
	get := func(name string) (string, error) {
		p, err := r.DownloadFile(name)
		if err != nil {
			return "", fmt.Errorf("downloading %s: %w", name, err)
		}
		return p, nil
	}
	cfgPath, err := get(ConfigFileName)
	if err != nil {
		return "", err
	}
	snap := filepath.Dir(cfgPath)
	var files []string
	switch {
	case r.HasFile(safetensors.IndexFileName):
		idx, err := get(safetensors.IndexFileName)
		if err != nil {
			return "", err
		}
		data, err := os.ReadFile(idx)
		if err != nil {
			return "", err
		}
		wm, err := safetensors.ParseIndex(data)
		if err != nil {
			return "", fmt.Errorf("%s: %w", idx, err)
		}
		files = safetensors.ShardFiles(wm)
	case r.HasFile(safetensors.SingleFileName):
		files = []string{safetensors.SingleFileName}
	default:
		return "", fmt.Errorf("repository %s@%s has neither %s nor %s (other weight formats are not supported)",
			repo, rev, safetensors.SingleFileName, safetensors.IndexFileName)
	}
	for _, name := range TokenizerFileNames {
		if r.HasFile(name) {
			files = append(files, name)
		}
	}
	for _, name := range files {
		if _, err := get(name); err != nil {
			return "", err
		}
	}
	// Record the branch/tag → commit mapping the way huggingface_hub does, so the offline lookup
	// finds this snapshot next time.
	if !commitHash.MatchString(rev) {
		commit := filepath.Base(snap)
		if info := r.Info(); info != nil && info.CommitHash != "" {
			commit = info.CommitHash
		}
		ref := filepath.Join(RepoCacheDir(root, repo), "refs", filepath.FromSlash(rev))
		if err := os.MkdirAll(filepath.Dir(ref), 0o755); err != nil {
			return "", err
		}
		if err := atomicfile.Write(ref, []byte(commit)); err != nil {
			return "", fmt.Errorf("writing %s: %w", ref, err)
		}
	}
	if missing := missingFiles(snap); len(missing) > 0 {
		return "", fmt.Errorf("after downloading, %s still lacks %s", snap, strings.Join(missing, ", "))
	}
	return snap, nil
}

func truncateStr(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
