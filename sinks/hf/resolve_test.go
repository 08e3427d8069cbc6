package hf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	commitA = "0123456789abcdef0123456789abcdef01234567"
	commitB = "fedcba9876543210fedcba9876543210fedcba98"
)

// fakeSnapshot builds models--org--name/snapshots/<commit>/ under root like the hub cache does:
// files are symlinks into blobs/.
func fakeSnapshot(t *testing.T, root, repo, commit string, shards int) string {
	t.Helper()
	repoDir := RepoCacheDir(root, repo)
	snap := filepath.Join(repoDir, "snapshots", commit)
	tmp := t.TempDir()
	c := llamaCkpt(false, false, false, false, false)
	c.write(t, tmp, llamaJSON("llama", ``), shards)
	os.WriteFile(filepath.Join(tmp, "tokenizer.model"), []byte("sp"), 0o644)
	blobs := filepath.Join(repoDir, "blobs")
	for _, d := range []string{snap, blobs} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	entries, _ := os.ReadDir(tmp)
	for i, e := range entries {
		blob := filepath.Join(blobs, commit[:8]+"-"+string(rune('a'+i)))
		data, _ := os.ReadFile(filepath.Join(tmp, e.Name()))
		if err := os.WriteFile(blob, data, 0o644); err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(snap, blob)
		if err := os.Symlink(rel, filepath.Join(snap, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	return snap
}

func setRef(t *testing.T, root, repo, ref, commit string) {
	t.Helper()
	p := filepath.Join(RepoCacheDir(root, repo), "refs", ref)
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(commit), 0o644); err != nil { // no trailing newline, like huggingface_hub
		t.Fatal(err)
	}
}

func isolateEnv(t *testing.T) string {
	root := t.TempDir()
	for _, k := range []string{"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME", "HF_TOKEN", "HF_ENDPOINT"} {
		t.Setenv(k, "")
	}
	t.Setenv("HF_HUB_CACHE", root)
	t.Setenv("HF_HUB_OFFLINE", "1") // never reach the network from tests
	return root
}

func TestResolveFromCache(t *testing.T) {
	root := isolateEnv(t)
	snapA := fakeSnapshot(t, root, "acme/tiny", commitA, 1)
	snapB := fakeSnapshot(t, root, "acme/tiny", commitB, 2)
	setRef(t, root, "acme/tiny", "main", commitA)
	setRef(t, root, "acme/tiny", "v2", commitB+"\n")
	fakeSnapshot(t, root, "gpt2", commitA, 1) // a repo id without an org
	setRef(t, root, "gpt2", "main", commitA)

	for in, want := range map[string]string{
		"acme/tiny":            snapA,
		"acme/tiny@main":       snapA,
		"acme/tiny@v2":         snapB,
		"acme/tiny@" + commitB: snapB,
		"gpt2":                 filepath.Join(RepoCacheDir(root, "gpt2"), "snapshots", commitA),
	} {
		got, err := ResolveModel(in)
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
	ck, err := Load("acme/tiny@v2", nil)
	if err != nil {
		t.Fatal(err)
	}
	if ck.Dir != snapB || ck.TokenizerModel != filepath.Join(snapB, "tokenizer.model") || ck.Config.VocabSize != tV {
		t.Errorf("Load from cache: dir %s tokenizer %q", ck.Dir, ck.TokenizerModel)
	}
}

func TestCacheDirEnv(t *testing.T) {
	isolateEnv(t)
	t.Setenv("HF_HUB_CACHE", "")
	t.Setenv("HF_HOME", "/x/hfhome")
	if got := CacheDir(); got != filepath.Join("/x/hfhome", "hub") {
		t.Errorf("HF_HOME: %s", got)
	}
	t.Setenv("HF_HOME", "")
	t.Setenv("XDG_CACHE_HOME", "/x/xdg")
	if got := CacheDir(); got != filepath.Join("/x/xdg", "huggingface", "hub") {
		t.Errorf("XDG_CACHE_HOME: %s", got)
	}
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "/x/home")
	if got := CacheDir(); got != filepath.Join("/x/home", ".cache", "huggingface", "hub") {
		t.Errorf("default: %s", got)
	}
	t.Setenv("HF_HUB_CACHE", "/x/hub")
	if got := CacheDir(); got != "/x/hub" {
		t.Errorf("HF_HUB_CACHE: %s", got)
	}
}

func TestResolveHFHome(t *testing.T) {
	isolateEnv(t)
	home := t.TempDir()
	t.Setenv("HF_HUB_CACHE", "")
	t.Setenv("HF_HOME", home)
	root := filepath.Join(home, "hub")
	snap := fakeSnapshot(t, root, "acme/tiny", commitA, 1)
	setRef(t, root, "acme/tiny", "main", commitA)
	if got, err := ResolveModel("acme/tiny"); err != nil || got != snap {
		t.Errorf("via HF_HOME: %s, %v", got, err)
	}
}

func TestResolveErrors(t *testing.T) {
	root := isolateEnv(t)
	fakeSnapshot(t, root, "acme/tiny", commitA, 2)
	setRef(t, root, "acme/tiny", "main", commitA)
	setRef(t, root, "acme/tiny", "broken", "not-a-hash")
	setRef(t, root, "acme/tiny", "gone", commitB) // no snapshot for it
	// An incomplete snapshot: the second shard is missing.
	fakeSnapshot(t, root, "acme/partial", commitA, 2)
	setRef(t, root, "acme/partial", "main", commitA)
	os.Remove(filepath.Join(RepoCacheDir(root, "acme/partial"), "snapshots", commitA, "model-00002-of-00002.safetensors"))
	// A snapshot without weights.
	fakeSnapshot(t, root, "acme/noweights", commitA, 1)
	setRef(t, root, "acme/noweights", "main", commitA)
	os.Remove(filepath.Join(RepoCacheDir(root, "acme/noweights"), "snapshots", commitA, "model.safetensors"))

	notADir := filepath.Join(t.TempDir(), "file")
	os.WriteFile(notADir, nil, 0o644)
	emptyDir := t.TempDir()

	cases := []struct {
		in   string
		want []string
	}{
		{"acme/absent", []string{"HF_HUB_OFFLINE", filepath.Join(root, "models--acme--absent", "refs", "main"), "does not exist"}},
		{"acme/tiny@dev", []string{filepath.Join("refs", "dev"), "does not exist"}},
		{"acme/tiny@broken", []string{"does not hold a commit hash"}},
		{"acme/tiny@gone", []string{filepath.Join("snapshots", commitB), "does not exist"}},
		{"acme/tiny@" + commitB, []string{filepath.Join("snapshots", commitB)}},
		{"acme/partial", []string{"incomplete", "model-00002-of-00002.safetensors"}},
		{"acme/noweights", []string{"incomplete", "model.safetensors or model.safetensors.index.json"}},
		{"./no/such/dir", []string{"does not exist"}},
		{"/no/such/dir", []string{"does not exist"}},
		{notADir, []string{"not a directory"}},
		{emptyDir, []string{"has no config.json"}},
		{"a/b/c", []string{"neither"}},
		{"acme/-bad", []string{"neither"}},
		{"acme/b..d", []string{"neither"}},
		{"acme/tiny@", []string{"invalid revision"}},
		{"acme/tiny@../x", []string{"invalid revision"}},
		{"", []string{"empty"}},
	}
	for _, c := range cases {
		_, err := ResolveModel(c.in)
		if err == nil {
			t.Errorf("%q: no error", c.in)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: error %q does not contain %q", c.in, err, w)
			}
		}
	}
}

func TestParseRepoID(t *testing.T) {
	for in, want := range map[string][2]string{
		"meta-llama/Llama-3.2-1B":          {"meta-llama/Llama-3.2-1B", "main"},
		"Qwen/Qwen3-0.6B@v1.0":             {"Qwen/Qwen3-0.6B", "v1.0"},
		"gpt2":                             {"gpt2", "main"},
		"org/name@refs/pr/1":               {"org/name", "refs/pr/1"},
		"EleutherAI/pythia-70m@" + commitA: {"EleutherAI/pythia-70m", commitA},
	} {
		repo, rev, err := ParseRepoID(in)
		if err != nil || repo != want[0] || rev != want[1] {
			t.Errorf("%s: %s %s %v", in, repo, rev, err)
		}
	}
}
