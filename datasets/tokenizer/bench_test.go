package tokenizer

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
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

func BenchmarkEncode(b *testing.B) {
	text := benchText(b, 256<<10)
	for _, style := range fixtureStyles {
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
