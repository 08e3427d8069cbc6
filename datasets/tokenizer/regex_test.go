package tokenizer

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// goWhiteSpace is \s as Unicode White_Space, spelled out for Go's regexp (whose \s is ASCII).
const goWhiteSpace = `\t\n\v\f\r \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}`

// toGoRegexp rewrites \s for Go's regexp; the patterns below use \s only in these two forms.
func toGoRegexp(p string) string {
	p = strings.ReplaceAll(p, `[^\s`, `[^`+goWhiteSpace)
	return "(?m)" + strings.ReplaceAll(p, `\s`, `[`+goWhiteSpace+`]`)
}

// Patterns without lookahead behave the same under Go's regexp (leftmost-first too), which
// checks the engine on many random strings.
var differentialPatterns = []string{
	`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+`,
	`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+`,
	`[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+`,
	`\p{N}{1,3}`,
	`[一-龥\x{3040}-ゟ゠-ヿ]+`,
	`a{2,3}?b|x+?y|[a-c]{2}|(?:ab|a)(?:c|bcd)`,
	`(?i)[a-c]+|[^\sa-c]+`,
	`[\p{L}\p{M}\p{Nd}\p{Pc}]+|[^\s\p{L}\p{M}\p{Nd}\p{Pc}]+`,
	`\p{Nd}+(?:\.\p{Nd}+)?|\P{Nd}`,
	`^a+|b+$|\Ac|c\z|(?:^|x)\n`, // Oniguruma's ^ and $ are line anchors, as Go's under (?m)
}

func randomText(rng *rand.Rand, n int) string {
	alphabet := []string{"a", "b", "c", "A", "B", "s", "S", "t", "T", "d", "l", "L", "m", "r", "e", "v", "x", "y",
		"'", "'", " ", " ", " ", "\n", "\r", "\t", "\v", "0", "1", "9", ".", ",", "!", "/", "-", "é", "É",
		"日", "本", "の", "カ", "😀", "ſ", "\u0301", "\u00a0", "\u3000", "\u2028", "ß", "İ", "K", "_", "٣", "Ⅻ"}
	var sb strings.Builder
	for i := 0; i < n; i++ {
		sb.WriteString(alphabet[rng.IntN(len(alphabet))])
	}
	return sb.String()
}

func TestRegexAgainstGoRegexp(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	m := &reMatcher{}
	for _, p := range differentialPatterns {
		ours, err := compileRegex(p)
		if err != nil {
			t.Fatalf("compileRegex(%q): %v", p, err)
		}
		goRe := regexp.MustCompile(toGoRegexp(p))
		for i := 0; i < 3000; i++ {
			s := randomText(rng, 1+rng.IntN(30))
			spans, err := m.findSpans(ours, s, nil)
			if err != nil {
				t.Fatal(err)
			}
			var got [][]int
			for _, sp := range spans {
				if sp.match {
					got = append(got, []int{sp.start, sp.end})
				}
			}
			var want [][]int
			for _, loc := range goRe.FindAllStringIndex(s, -1) {
				if loc[1] > loc[0] {
					want = append(want, loc)
				}
			}
			if !slices.EqualFunc(got, want, slices.Equal) {
				t.Fatalf("pattern %q on %q:\n got  %v\n want %v", p, s, got, want)
			}
		}
	}
}

func TestRegexLookahead(t *testing.T) {
	re := mustCompile(gpt2Pattern)
	m := &reMatcher{}
	cases := []struct {
		in   string
		want []string
	}{
		{"a   b", []string{"a", "  ", " b"}},
		{"a   ", []string{"a", "   "}},
		{"a \n b", []string{"a", " \n", " b"}},
		{"don't I'll", []string{"don", "'t", " I", "'ll"}},
		{"DON'T", []string{"DON", "'", "T"}}, // case-sensitive in GPT-2
		{" 123 abc!!", []string{" 123", " abc", "!!"}},
		{"\u3000x", []string{"\u3000", "x"}},
	}
	for _, c := range cases {
		spans, err := m.findSpans(re, c.in, nil)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, sp := range spans {
			got = append(got, c.in[sp.start:sp.end])
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("GPT-2 split of %q = %q, want %q", c.in, got, c.want)
		}
	}
	pos := mustCompile(`a(?=b)|c(?!d)`)
	for _, c := range []struct {
		in   string
		want int
	}{{"ab", 1}, {"ac", -1}, {"ce", 1}, {"cd", -1}, {"c", 1}} {
		if got, _ := m.matchAt(pos, c.in, 0); got != c.want {
			t.Errorf("matchAt(%q) = %d, want %d", c.in, got, c.want)
		}
	}
}

func TestRegexWordBoundary(t *testing.T) {
	re := mustCompile(`\b\w+\b|\B.`)
	m := &reMatcher{}
	spans, err := m.findSpans(re, "ab é_d  x", nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, sp := range spans {
		got = append(got, fmt.Sprintf("%v:%q", sp.match, "ab é_d  x"[sp.start:sp.end]))
	}
	want := []string{`true:"ab"`, `false:" "`, `true:"é_d"`, `false:" "`, `true:" "`, `true:"x"`}
	if !slices.Equal(got, want) {
		t.Errorf("spans = %v, want %v", got, want)
	}
}

func TestRegexErrors(t *testing.T) {
	for _, p := range []string{
		`(?<=a)b`, `(`, `(a`, `a)`, `[a`, `\p{NoSuchProperty}`, `a{3,1}`, `(?i`, `\1`, `^*`, `\Ga`,
		`*a`, `a++`, `(?:)*`, `[z-a]`, `\`, `[a&&b]`, `\q`, "\xff",
	} {
		if _, err := compileRegex(p); err == nil {
			t.Errorf("compileRegex(%q): no error", p)
		}
	}
	// Things that look odd but are accepted, as by Oniguruma.
	for _, p := range []string{`a{`, `a{,2}`, `[]a]`, `[-a]`, `[a-]`, `\{`, `(?i)a(?-i)b`, `\x{1F600}`, `\u00e9`} {
		if _, err := compileRegex(p); err != nil {
			t.Errorf("compileRegex(%q): %v", p, err)
		}
	}
}

func TestRegexBudget(t *testing.T) {
	re, err := compileRegex(`(a|a|a|a)*c`)
	if err != nil {
		t.Fatal(err)
	}
	m := &reMatcher{}
	if _, err := m.findSpans(re, strings.Repeat("a", 40)+"b", nil); err == nil {
		t.Errorf("exponential pattern: no error")
	}
}

// FuzzRegex checks that any pattern either fails to compile or searches any input without
// panicking, and that the spans it returns tile the input.
func FuzzRegex(f *testing.F) {
	for _, p := range append(differentialPatterns, gpt2Pattern, `a(?=b)|c(?!d)`, `[\p{^L}\P{N}]{2,}?`, `(?i)ſ`) {
		f.Add(p, "Hello  world 123 don't\n\n日本 😀")
	}
	f.Add(`(a|a)*b`, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaac")
	f.Fuzz(func(t *testing.T, pattern, input string) {
		re, err := compileRegex(pattern)
		if err != nil {
			return
		}
		spans, err := (&reMatcher{}).findSpans(re, input, nil)
		if err != nil {
			return
		}
		end := 0
		for _, sp := range spans {
			if sp.start != end || sp.end <= sp.start {
				t.Fatalf("bad spans %v for %q", spans, input)
			}
			end = sp.end
		}
		if end != len(input) {
			t.Fatalf("spans %v do not cover %q", spans, input)
		}
	})
}

// Split patterns of released tokenizers compile.
func TestRealWorldPatterns(t *testing.T) {
	patterns := map[string]string{
		"gpt2":            gpt2Pattern,
		"llama3":          `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
		"qwen2":           `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
		"o200k":           `[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
		"tekken":          `[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
		"deepseek-digits": `\p{N}{1,3}`,
		"deepseek-cjk":    `[一-龥\x{0800}-一가-퟿]+`,
		"deepseek-main":   `[\r\n]|\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕ\x{1F18}-\x{1FFC}ℂ-ℭＡ-Ｚａ-ｚ𐐀-𐑏𞤀-𞥃]+|\s?[!-/:-~！-／：-～‘-‟　-。]+|\s+$|[一-龥ࠀ-一가-\x{D7FF}]+|\p{N}+`,
	}
	m := &reMatcher{}
	for name, p := range patterns {
		re, err := compileRegex(p)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if _, err := m.findSpans(re, "Hello,  world! 12345 日本語 don't\n\n  x  ", nil); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
