package tokenizer

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
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

// splitStrings returns the pieces findSpans cuts s into, matches and gaps.
func splitStrings(t *testing.T, re *regex, s string) []string {
	t.Helper()
	spans, err := (&reMatcher{}).findSpans(re, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, sp := range spans {
		got = append(got, s[sp.start:sp.end])
	}
	return got
}

func TestRegexLookahead(t *testing.T) {
	re := mustCompile(gpt2Pattern)
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
		if got := splitStrings(t, re, c.in); !slices.Equal(got, c.want) {
			t.Errorf("GPT-2 split of %q = %q, want %q", c.in, got, c.want)
		}
	}
	pos := mustCompile(`a(?=b)|c(?!d)`)
	for _, c := range []struct {
		in   string
		want []string
	}{{"ab", []string{"a", "b"}}, {"ac", []string{"a", "c"}}, {"ce", []string{"c", "e"}}, {"cd", []string{"cd"}}, {"c", []string{"c"}}} {
		if got := splitStrings(t, pos, c.in); !slices.Equal(got, c.want) {
			t.Errorf("split of %q = %q, want %q", c.in, got, c.want)
		}
	}
}

// Case folding is Unicode simple folding, as in Oniguruma: (?i)'s also matches 'ſ and 'S.
func TestRegexCaseFolding(t *testing.T) {
	re := mustCompile(`(?i:'s|'t|k+)`)
	got := splitStrings(t, re, "'S'ſ'T'tKk\u212a")
	want := []string{"'S", "'ſ", "'T", "'t", "Kk\u212a"}
	if !slices.Equal(got, want) {
		t.Errorf("split = %q, want %q", got, want)
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
		`(`, `(a`, `a)`, `[a`, `\p{NoSuchProperty}`, `a{3,1}`, `(?i`, `\1`, `*a`, `[z-a]`, `\`, `\q`, "\xff",
		// Read differently by Oniguruma, the tokenizers library's engine: rejected.
		`[a&&b]`, `[a-z&&[^aeiou]]`, `[[:alpha:]]`, `[a[b]]`, `[a-z-[aeiou]]`, `a{,2}`, `\p{^L}`, `\h`,
	} {
		_, err := compileRegex(p)
		if err == nil {
			t.Errorf("compileRegex(%q): no error", p)
			continue
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("%q", p)) {
			t.Errorf("compileRegex(%q): the error does not name the pattern: %v", p, err)
		}
	}
	// Things that look odd but are accepted, as by Oniguruma.
	for _, p := range []string{`a{`, `[]a]`, `[^]a]`, `[-a]`, `[a-]`, `\{`, `[\[\]]`, `a{,}`, `(?i)a(?-i)b`,
		`\x{1F600}`, `\u00e9`, `(?<=a)b`, `(?<!a)b`, `a++`, `(?:ab)*`} {
		if _, err := compileRegex(p); err != nil {
			t.Errorf("compileRegex(%q): %v", p, err)
		}
	}
}

// A pattern that backtracks exponentially fails with an error naming it instead of hanging.
func TestRegexTimeout(t *testing.T) {
	defer func(d time.Duration) { regexTimeout = d }(regexTimeout)
	regexTimeout = 50 * time.Millisecond
	const p = `(a|aa)+$`
	re, err := compileRegex(p)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = (&reMatcher{}).findSpans(re, strings.Repeat("a", 60)+"b", nil)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%q", p)) || !strings.Contains(err.Error(), "within") {
		t.Errorf("exponential pattern: err = %v, want a timeout naming the pattern", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the search took %v", d)
	}
}

// FuzzRegex checks that any pattern either fails to compile or searches any input without
// panicking, and that the spans it returns tile the input.
func FuzzRegex(f *testing.F) {
	for _, p := range append(differentialPatterns, gpt2Pattern, `a(?=b)|c(?!d)`, `[\P{L}\P{N}]{2,}?`, `(?i)ſ`) {
		f.Add(p, "Hello  world 123 don't\n\n日本 😀")
	}
	f.Add(`(a|a)*b`, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaac")
	f.Add(`(?<=\s)\S+|\b`, "x\xffy z")
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

// realWorldPatterns are split patterns of released tokenizers.
var realWorldPatterns = map[string]string{
	"gpt2":            gpt2Pattern,
	"llama3":          `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
	"qwen2":           `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
	"o200k":           `[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
	"tekken":          `[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
	"deepseek-digits": `\p{N}{1,3}`,
	"deepseek-cjk":    `[一-龥\x{0800}-一가-퟿]+`,
	"deepseek-main":   `[\r\n]|\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕ\x{1F18}-\x{1FFC}ℂ-ℭＡ-Ｚａ-ｚ𐐀-𐑏𞤀-𞥃]+|\s?[!-/:-~！-／：-～‘-‟　-。]+|\s+$|[一-龥ࠀ-一가-\x{D7FF}]+|\p{N}+`,
}

// The split patterns of released tokenizers compile, and search 256 KiB runs of one kind of
// character within the engine's limits. (DeepSeek's `\s+$` makes a run of n spaces before a
// non-space cost n²/2 steps, in Oniguruma too, so its whitespace runs are shorter.)
func TestRealWorldPatterns(t *testing.T) {
	m := &reMatcher{}
	for name, p := range realWorldPatterns {
		re, err := compileRegex(p)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		inputs := []string{"Hello,  world! 12345 日本語 don't\n\n  x  "}
		for _, run := range []string{" ", "\n", " \n", "a", "A", "1", "!", "日", "'s", "é\u0301"} {
			n := 256 << 10
			if name == "deepseek-main" && strings.TrimSpace(run) == "" {
				n = 4 << 10
			}
			inputs = append(inputs, strings.Repeat(run, n/len(run))+"x")
		}
		for _, in := range inputs {
			if _, err := m.findSpans(re, in, nil); err != nil {
				t.Errorf("%s on %.20q…: %v", name, in, err)
			}
		}
	}
}
