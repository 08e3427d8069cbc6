package docs

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/sinkscope/sinkscope/datasets/corpus"
)

func write(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

type row struct {
	Title string  `parquet:"title"`
	Text  *string `parquet:"text,optional"`
	Score float64 `parquet:"score"`
}

func ptr(s string) *string { return &s }

func TestLoadDirectory(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "a.txt", "plain text\n")
	write(t, dir, "b/c.jsonl", `{"text": "first", "n": 1}`+"\n\n"+`{"text": "third line"}`+"\n")
	write(t, dir, "ignored.bin", "xx")
	write(t, dir, ".hidden/x.txt", "hidden")
	rows := []row{{"one", ptr("parquet row 0"), 1}, {"two", nil, 2}, {"three", ptr("parquet row 2"), 3}}
	if err := parquet.WriteFile(filepath.Join(dir, "d.parquet"), rows); err != nil {
		t.Fatal(err)
	}
	got, err := Load(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []Doc{
		{"a.txt", "plain text\n"},
		{"b/c.jsonl:1", "first"},
		{"b/c.jsonl:3", "third line"},
		{"d.parquet#0", "parquet row 0"},
		{"d.parquet#2", "parquet row 2"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load(dir)\n got %q\nwant %q", got, want)
	}
	// Another column; a single file; an unknown extension named directly is text.
	got, err = Load(filepath.Join(dir, "d.parquet"), "title")
	if err != nil || len(got) != 3 || got[1].Text != "two" || got[1].ID != "d.parquet#1" {
		t.Errorf("title column: %q, %v", got, err)
	}
	if got, err := Load(filepath.Join(dir, "ignored.bin"), ""); err != nil || got[0].Text != "xx" {
		t.Errorf("unknown extension: %q, %v", got, err)
	}
	if n, b := Stats(want); n != 5 || b != len("plain text\nfirstthird lineparquet row 0parquet row 2") {
		t.Errorf("Stats = %d, %d", n, b)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name, file, content, field string
		want                       []string
	}{
		{"missing field", "m.jsonl", `{"text": "ok"}` + "\n" + `{"body": "x", "id": 2}` + "\n", "",
			[]string{"m.jsonl:2", `no "text" field`, `"body", "id"`}},
		{"not a string", "n.jsonl", `{"text": 12}` + "\n", "", []string{"n.jsonl:1", `field "text" is a number`}},
		{"other field", "o.jsonl", `{"text": "x", "content": ["a"]}` + "\n", "content", []string{"o.jsonl:1", `field "content" is an array`}},
		{"bad json", "b.jsonl", "{\"text\": \"x\"}\n{oops\n", "", []string{"b.jsonl:2", "not a JSON object"}},
		{"not an object", "c.jsonl", "[1, 2]\n", "", []string{"c.jsonl:1", "not a JSON object"}},
		{"empty file", "e.txt", "", "", []string{"e.txt holds no documents"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := write(t, dir, c.file, c.content)
			_, err := Load(p, c.field)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	pq := filepath.Join(dir, "p.parquet")
	if err := parquet.WriteFile(pq, []row{{"a", ptr("b"), 1}}); err != nil {
		t.Fatal(err)
	}
	for field, want := range map[string][]string{
		"body":  {"p.parquet", `no column "body"`, `"title"`, `"text"`, `"score"`},
		"score": {"p.parquet", `column "score" holds DOUBLE values, not text`},
	} {
		_, err := Load(pq, field)
		if err == nil {
			t.Errorf("field %s: no error", field)
			continue
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("field %s: error %q does not mention %q", field, err, w)
			}
		}
	}
	junk := write(t, dir, "junk.parquet", "not parquet at all")
	if _, err := Load(junk, ""); err == nil || !strings.Contains(err.Error(), "junk.parquet") {
		t.Errorf("junk Parquet: %v", err)
	}
	empty := t.TempDir()
	write(t, empty, "x.bin", "x")
	if _, err := Load(empty, ""); err == nil || !strings.Contains(err.Error(), "no documents") {
		t.Errorf("directory without documents: %v", err)
	}
	if _, err := Load(filepath.Join(dir, "absent.txt"), ""); err == nil || !strings.Contains(err.Error(), "absent.txt") {
		t.Errorf("missing file: %v", err)
	}
}

func TestGoSource(t *testing.T) {
	root, err := GoRoot()
	if err != nil {
		t.Fatal(err)
	}
	docs, err := GoSource(filepath.Join(root, "src", "errors"))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, d := range docs {
		ids[d.ID] = true
		if !strings.Contains(d.Text, "package errors") {
			t.Errorf("%s does not declare package errors", d.ID)
		}
	}
	if !ids["errors.go"] || !ids["wrap.go"] || len(docs) < 5 {
		t.Errorf("documents %v: want errors.go, wrap.go and more", ids)
	}
	if _, err := GoSource(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no .go files") {
		t.Errorf("empty directory: %v", err)
	}
}

func TestBrown(t *testing.T) {
	docs, err := Brown()
	if errors.Is(err, corpus.ErrNotInstalled) {
		t.Skipf("Brown corpus not installed: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 500 || docs[0].ID != "ca01" || !strings.HasPrefix(docs[0].Text, "The Fulton County Grand Jury said") {
		t.Errorf("%d documents, first %q %.40q", len(docs), docs[0].ID, docs[0].Text)
	}
}

func TestNpmCorpora(t *testing.T) {
	for _, c := range []struct {
		name  string
		load  func() ([]Doc, error)
		n     int
		first string
	}{{"gutenberg", Gutenberg, 18, "austen-emma"}, {"sotu", SOTU, 233, "1790_george_washington_n"}} {
		t.Run(c.name, func(t *testing.T) {
			docs, err := c.load()
			if errors.Is(err, ErrNotInstalled) {
				t.Skipf("not fetched: %v", err)
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(docs) != c.n || docs[0].ID != c.first {
				t.Errorf("%d documents, first %q; want %d, %q", len(docs), docs[0].ID, c.n, c.first)
			}
			for _, d := range docs {
				if strings.Contains(d.Text, "\r\n") || strings.ContainsRune(d.Text, '\uFFFD') {
					t.Errorf("%s: CRLF or replacement characters left", d.ID)
				}
			}
		})
	}
}

func TestNotInstalledNamesSetup(t *testing.T) {
	t.Setenv(DataDirEnv, t.TempDir())
	for name, load := range map[string]func() ([]Doc, error){"gutenberg": Gutenberg, "sotu": SOTU} {
		_, err := load()
		if !errors.Is(err, ErrNotInstalled) || !strings.Contains(err.Error(), "scripts/setup.sh --data "+name) {
			t.Errorf("%s: error %v: want ErrNotInstalled naming scripts/setup.sh --data %s", name, err, name)
		}
	}
	// A partial fetch is an error too.
	dir := os.Getenv(DataDirEnv)
	write(t, dir, "gutenberg/one.txt", "x")
	if _, err := Gutenberg(); err == nil || !strings.Contains(err.Error(), "has 1 .txt files") {
		t.Errorf("partial corpus: %v", err)
	}
}

func TestCleanText(t *testing.T) {
	if got := cleanText([]byte("caf\xe9\r\nna\xefve\r\n")); got != "café\nnaïve\n" {
		t.Errorf("Latin-1: %q", got)
	}
	if got := cleanText([]byte("café\r\n")); got != "café\n" {
		t.Errorf("UTF-8: %q", got)
	}
}

func TestChunk(t *testing.T) {
	text := "aaaa\nbbbb\n\ncccc\n\n\n  \ndddddddddddd\n\neeee"
	got := Chunk([]Doc{{"short", "x"}, {"book", text}}, 10)
	want := []Doc{{"short", "x"}, {"book#0", "aaaa\nbbbb"}, {"book#1", "cccc"}, {"book#2", "dddddddddddd"}, {"book#3", "eeee"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Chunk\n got %q\nwant %q", got, want)
	}
	got = Chunk([]Doc{{"b", "aa\n\nbb\n\ncc"}}, 6)
	if want := []Doc{{"b#0", "aa\n\nbb"}, {"b#1", "cc"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("Chunk packs paragraphs: got %q, want %q", got, want)
	}
}

func TestNamed(t *testing.T) {
	dir := t.TempDir()
	p := write(t, dir, "x.jsonl", `{"text": "hi"}`+"\n")
	docs, err := Named(p)
	if err != nil || len(docs) != 1 || docs[0].Text != "hi" {
		t.Errorf("Named(path) = %q, %v", docs, err)
	}
	if _, err := Named(""); err == nil {
		t.Error("Named(\"\") gave no error")
	}
}
