package hf

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/gomlx/compute/dtypes"
)

// fakeHub serves a model repository the way the hub API does, from a local directory, on a
// loopback test server (no network access).
type fakeHub struct {
	repo, commit, dir string
	extra             []string // files listed by the repo but not served with content checks
	mu                sync.Mutex
	downloaded        []string
	auth              []string
}

func (h *fakeHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.auth = append(h.auth, r.Header.Get("Authorization"))
	h.mu.Unlock()
	if r.URL.Path == "/api/models/"+h.repo+"/revision/main" {
		entries, _ := os.ReadDir(h.dir)
		var siblings []map[string]string
		for _, e := range entries {
			siblings = append(siblings, map[string]string{"rfilename": e.Name()})
		}
		for _, e := range h.extra {
			siblings = append(siblings, map[string]string{"rfilename": e})
		}
		json.NewEncoder(w).Encode(map[string]any{"id": h.repo, "sha": h.commit, "siblings": siblings})
		return
	}
	prefix := "/" + h.repo + "/resolve/" + h.commit + "/"
	name, ok := strings.CutPrefix(r.URL.Path, prefix)
	if !ok {
		http.NotFound(w, r)
		return
	}
	data, err := os.ReadFile(filepath.Join(h.dir, name))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("ETag", fmt.Sprintf(`"etag-%x"`, name))
	w.Header().Set("X-Repo-Commit", h.commit)
	w.Header().Set("Content-Length", fmt.Sprint(len(data)))
	if r.Method == http.MethodGet {
		h.mu.Lock()
		h.downloaded = append(h.downloaded, name)
		h.mu.Unlock()
		w.Write(data)
	}
}

func TestDownloadIntoCache(t *testing.T) {
	root := isolateEnv(t)
	src := t.TempDir()
	c := llamaCkpt(false, false, false, false, false)
	c.write(t, src, llamaJSON("llama", ``), 2)
	os.WriteFile(filepath.Join(src, "tokenizer.json"), []byte(`{"model": {}}`), 0o644)
	os.WriteFile(filepath.Join(src, "README.md"), []byte("not needed"), 0o644)
	os.WriteFile(filepath.Join(src, "pytorch_model.bin"), []byte("not needed"), 0o644)
	hub := &fakeHub{repo: "acme/remote", commit: commitB, dir: src}
	srv := httptest.NewServer(hub)
	defer srv.Close()
	t.Setenv("HF_ENDPOINT", srv.URL)
	t.Setenv("HF_TOKEN", "secret-token")

	// Offline: the model is not in the cache, nothing is fetched.
	if _, err := ResolveModel("acme/remote"); err == nil || !strings.Contains(err.Error(), "HF_HUB_OFFLINE") {
		t.Fatalf("offline resolve: %v", err)
	}
	if len(hub.downloaded) != 0 {
		t.Fatalf("offline resolve downloaded %v", hub.downloaded)
	}

	t.Setenv("HF_HUB_OFFLINE", "")
	ck, err := Load("acme/remote", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(RepoCacheDir(root, "acme/remote"), "snapshots", commitB)
	if ck.Dir != want {
		t.Errorf("dir %s, want %s", ck.Dir, want)
	}
	checkLlamaWeights(t, ck, c, dtypes.Float32)
	got := slices.Clone(hub.downloaded)
	sort.Strings(got)
	wantFiles := []string{"config.json", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json", "tokenizer.json"}
	if !slices.Equal(got, wantFiles) {
		t.Errorf("downloaded %v, want %v", got, wantFiles)
	}
	for _, a := range hub.auth {
		if a != "Bearer secret-token" {
			t.Errorf("request without the HF_TOKEN authorization: %q", a)
			break
		}
	}
	if ck.TokenizerJSON != filepath.Join(want, "tokenizer.json") {
		t.Errorf("tokenizer.json: %q", ck.TokenizerJSON)
	}
	ref, err := os.ReadFile(filepath.Join(RepoCacheDir(root, "acme/remote"), "refs", "main"))
	if err != nil || string(ref) != commitB {
		t.Errorf("refs/main = %q, %v", ref, err)
	}

	// Now it resolves offline from the cache, with no further requests.
	t.Setenv("HF_HUB_OFFLINE", "1")
	n := len(hub.downloaded)
	if dir, err := ResolveModel("acme/remote"); err != nil || dir != want {
		t.Errorf("offline after download: %s, %v", dir, err)
	}
	if len(hub.downloaded) != n {
		t.Errorf("offline resolve made requests")
	}
}

func TestDownloadWithoutSafetensors(t *testing.T) {
	isolateEnv(t)
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "config.json"), []byte(llamaJSON("llama", ``)), 0o644)
	os.WriteFile(filepath.Join(src, "pytorch_model.bin"), []byte("pickle"), 0o644)
	srv := httptest.NewServer(&fakeHub{repo: "acme/old", commit: commitA, dir: src})
	defer srv.Close()
	t.Setenv("HF_ENDPOINT", srv.URL)
	t.Setenv("HF_HUB_OFFLINE", "0")
	_, err := ResolveModel("acme/old")
	if err == nil || !strings.Contains(err.Error(), "model.safetensors") {
		t.Errorf("repo without safetensors: %v", err)
	}
}
