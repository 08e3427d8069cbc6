package tokenizer

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/sinkscope/sinkscope/datasets/corpus"
)

// benchText is English-like text with some code, numbers and non-Latin scripts: the corpus of
// the fixtures, with every line's words shuffled so the BPE cache sees new words too.
func benchText(b *testing.B, n int) string {
	_, fx := loadFixture(b, "gpt2")
	corpus := ""
	for _, e := range fx.Strings {
		if len(e.Text) > len(corpus) {
			corpus = e.Text
		}
	}
	rng := rand.New(rand.NewPCG(5, 6))
	var sb strings.Builder
	for sb.Len() < n {
		for _, line := range strings.Split(corpus, "\n") {
			words := strings.Fields(line)
			rng.Shuffle(len(words), func(i, j int) { words[i], words[j] = words[j], words[i] })
			fmt.Fprintf(&sb, "%s %d\n", strings.Join(words, " "), rng.IntN(100000))
		}
	}
	return sb.String()
}

func BenchmarkEncode(b *testing.B) { benchEncode(b, benchText(b, 256<<10), fixtureStyles) }

// benchEncode times encoding text with each fixture style's tokenizer.
func benchEncode(b *testing.B, text string, styles []string) {
	for _, style := range styles {
		tok := mustLoad(b, style)
		b.Run(style, func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				if _, err := tok.Encode(text, NoBOS); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	text := benchText(b, 256<<10)
	for _, style := range []string{"gpt2", "llama2", "spm_bpe"} {
		tok := mustLoad(b, style)
		ids, _ := tok.Encode(text, NoBOS)
		b.Run(style, func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				if _, err := tok.Decode(ids); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

var brownText = sync.OnceValues(func() (string, error) {
	dir, err := corpus.BrownDir()
	if err != nil {
		return "", err
	}
	c, err := corpus.LoadBrown(dir)
	if err != nil {
		return "", err
	}
	var sb strings.Builder
	for _, p := range c.Paragraphs() {
		if sb.Len() >= 256<<10 {
			break
		}
		sb.WriteString(p)
		sb.WriteString(corpus.ParagraphSeparator)
	}
	return sb.String(), nil
})

// brownBenchText is the first 256 KiB of the Brown corpus's paragraphs (news, editorials,
// reviews): real English prose with numbers, quotes and contractions. The benchmark is
// skipped when the corpus is not installed.
func brownBenchText(b *testing.B) string {
	text, err := brownText()
	if errors.Is(err, corpus.ErrNotInstalled) {
		b.Skipf("the Brown corpus is not installed (run scripts/setup.sh): %v", err)
	}
	if err != nil {
		b.Fatal(err)
	}
	return text
}

// splitStyles are the fixtures whose pre-tokenizers run a split pattern with lookahead: the
// ByteLevel pattern of GPT-2 and the Split patterns of Llama-3 and Qwen2.
var splitStyles = []string{"gpt2", "llama3", "qwen2"}

// BenchmarkEncodeBrown encodes Brown-corpus prose with the byte-level BPE tokenizers.
func BenchmarkEncodeBrown(b *testing.B) { benchEncode(b, brownBenchText(b), splitStyles) }

// BenchmarkPreTokenizeBrown runs only the pre-tokenizers (the split patterns) on Brown-corpus
// prose: the part of encoding that the regex engine does.
func BenchmarkPreTokenizeBrown(b *testing.B) {
	text := brownBenchText(b)
	for _, style := range splitStyles {
		tok := mustLoad(b, style)
		if tok.hf == nil || tok.hf.pre == nil {
			b.Fatalf("%s: no pre-tokenizer", style)
		}
		b.Run(style, func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				if _, err := tok.hf.pre.preTokenize([]piece{{text: text, atStart: true}}, &reMatcher{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
