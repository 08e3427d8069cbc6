package bb

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"reflect"
	"slices"
	"testing"

	"github.com/sinkscope/sinkscope/datasets/corpus"
	"github.com/sinkscope/sinkscope/datasets/stream"
)

const fixtureDir = "../../sinks/findings/testdata/trained_bb/"

type fixtureExpected struct {
	Triggers           string  `json:"triggers"`
	TriggerIDs         []int   `json:"trigger_ids"`
	SeqLen             int     `json:"seq_len"`
	ValSequences       int     `json:"val_sequences"`
	ValSeed            uint64  `json:"val_seed"`
	ValLossTrueProcess float64 `json:"val_loss_true_process"`
	BBSeed             uint64  `json:"bb_seed"`
	BBIDs              [][]int `json:"bb_ids"`
	BB                 struct {
		CopyPositions   int     `json:"copy_positions"`
		LossTrueProcess float64 `json:"loss_true_process"`
	} `json:"bb"`
}

func readExpected(t *testing.T) fixtureExpected {
	t.Helper()
	b, err := os.ReadFile(fixtureDir + "expected.json")
	if err != nil {
		t.Fatal(err)
	}
	var e fixtureExpected
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	return e
}

func TestEmbeddedTableIsTheFixtures(t *testing.T) {
	want, err := ReadCountsFile(fixtureDir + "bigram_counts.json")
	if err != nil {
		t.Fatal(err)
	}
	if got := DefaultCounts(); !reflect.DeepEqual(got, want) {
		t.Error("brown_bigrams.json differs from the fixture's bigram_counts.json")
	}
}

// Our cleaning of the installed Brown corpus gives exactly the fixture's counts.
func TestBrownCountsEqualFixture(t *testing.T) {
	dir, err := corpus.BrownDir()
	if errors.Is(err, corpus.ErrNotInstalled) {
		t.Skipf("Brown corpus not installed (run scripts/setup.sh): %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	got, err := BrownCounts(dir)
	if err != nil {
		t.Fatal(err)
	}
	want, err := ReadCountsFile(fixtureDir + "bigram_counts.json")
	if err != nil {
		t.Fatal(err)
	}
	if got.Source != want.Source {
		t.Errorf("source %q, want %q", got.Source, want.Source)
	}
	if got.Unigram != want.Unigram {
		t.Errorf("unigram counts\n got %v\nwant %v", got.Unigram, want.Unigram)
	}
	for a := range NumSymbols {
		if got.Bigram[a] != want.Bigram[a] {
			t.Errorf("bigram row %q\n got %v\nwant %v", Symbols[a], got.Bigram[a], want.Bigram[a])
		}
	}
}

func TestCleanBrown(t *testing.T) {
	in := "\n\tThe/at Jury/nn-tl ,/, said/vbd ``/`` no/at ''/'' ;/. Why/wrb ?/. 1960/cd and/or/cc caf\xe9/nn\xa0x/nn ./.\n"
	want := "the jury, said no, why. andor caf x." // "and/or/cc": only the tag goes
	if got := string(cleanBrown([]byte(in), nil)); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestPythonRandom(t *testing.T) {
	for _, c := range []struct {
		seed uint64
		want float64
	}{{0, 0.8444218515250481}, {42, 0.6394267984578837}, {1<<40 + 5, 0.5043802970418443}} {
		if got := NewPythonRandom(c.seed).Float64(); got != c.want {
			t.Errorf("random.Random(%d).random() = %v, want %v", c.seed, got, c.want)
		}
	}
	r := NewPythonRandom(1001)
	for i, want := range []uint32{3421589840, 3988255189, 251797747} {
		if got := r.Uint32(); got != want {
			t.Errorf("getrandbits(32) #%d = %d, want %d", i, got, want)
		}
	}
}

// With Python's generator the sampler gives the fixture's sequences id for id, and the loss of
// the true process on its validation set to rounding.
func TestMatchesFixtureSequences(t *testing.T) {
	e := readExpected(t)
	task := DefaultTask()
	trig := task.Triggers()
	if got := string([]byte{Symbols[trig[0]-1], Symbols[trig[1]-1], Symbols[trig[2]-1]}); got != e.Triggers {
		t.Errorf("triggers %q, want %q", got, e.Triggers)
	}
	if !reflect.DeepEqual(slices.Sorted(slices.Values(trig)), e.TriggerIDs) {
		t.Errorf("trigger ids %v, want %v", trig, e.TriggerIDs)
	}
	rng := NewPythonRandom(e.BBSeed)
	copies := 0
	var nll float64
	for i, want := range e.BBIDs {
		ids, cp := task.Sequence(rng, e.SeqLen)
		if !slices.Equal(ids, want) {
			t.Fatalf("sequence %d\n got %v\nwant %v", i, ids, want)
		}
		if !slices.Equal(cp, task.IsCopy(ids)) {
			t.Errorf("sequence %d: IsCopy differs from the generation's copy mask", i)
		}
		for _, c := range task.CopyLabels(ids) {
			if c {
				copies++
			}
		}
		nll += sum(task.NLL(ids))
	}
	if copies != e.BB.CopyPositions {
		t.Errorf("%d copy labels, want %d", copies, e.BB.CopyPositions)
	}
	n := float64(len(e.BBIDs) * (e.SeqLen - 1))
	if got := nll / n; math.Abs(got-e.BB.LossTrueProcess) > 1e-12 {
		t.Errorf("true-process loss on bb_ids %.15f, want %.15f", got, e.BB.LossTrueProcess)
	}

	rng = NewPythonRandom(e.ValSeed)
	nll = 0
	for range e.ValSequences {
		ids, _ := task.Sequence(rng, e.SeqLen)
		nll += sum(task.NLL(ids))
	}
	got := nll / float64(e.ValSequences*(e.SeqLen-1))
	if math.Abs(got-e.ValLossTrueProcess) > 1e-12 {
		t.Errorf("validation true-process loss %.15f, want %.15f", got, e.ValLossTrueProcess)
	}
	// The exact expectation lies within sampling error of the fixture's 1000-sequence average
	// (the per-sequence mean loss has a standard deviation of about 0.2).
	exp := mean(task.ExpectedLoss(e.SeqLen - 1))
	if math.Abs(exp-e.ValLossTrueProcess) > 4*0.2/math.Sqrt(float64(e.ValSequences)) {
		t.Errorf("expected loss %.4f, fixture's sampled %.4f", exp, e.ValLossTrueProcess)
	}
	t.Logf("expected true-process loss %.5f (fixture's 1000 sequences: %.5f)", exp, e.ValLossTrueProcess)
}

func sum(x []float64) float64 {
	var s float64
	for _, v := range x {
		s += v
	}
	return s
}

func mean(x []float64) float64 { return sum(x) / float64(len(x)) }

func TestStreamDeterminism(t *testing.T) {
	s, err := NewStream(DefaultTask(), 63, 7)
	if err != nil {
		t.Fatal(err)
	}
	var _ stream.Stream = s
	a, _ := s.Train(3, 1, 8)
	b, _ := s.Train(3, 1, 8)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("Train(3, 1, 8) differs between calls")
	}
	for _, w := range a {
		if len(w) != 64 || w[0] != BOS {
			t.Fatalf("window of %d tokens starting %d, want 64 starting with BOS", len(w), w[0])
		}
	}
	p, _ := s.Train(3, 1, 3)
	if !reflect.DeepEqual(p, a[:3]) {
		t.Error("Train(3, 1, 3) is not a prefix of Train(3, 1, 8)")
	}
	other := map[string][][]int{}
	other["step 4"], _ = s.Train(4, 1, 8)
	other["micro 0"], _ = s.Train(3, 0, 8)
	other["val 3"], _ = s.Val(3, 8)
	s2, _ := NewStream(DefaultTask(), 63, 8)
	other["seed 8"], _ = s2.Train(3, 1, 8)
	for name, o := range other {
		for i := range a {
			if slices.Equal(a[i], o[i]) {
				t.Errorf("%s: window %d equals the one of step 3 micro 1", name, i)
			}
		}
	}
	v1, _ := s.Val(0, 4)
	v2, _ := s.Val(0, 4)
	if !reflect.DeepEqual(v1, v2) {
		t.Error("Val(0, 4) differs between calls")
	}
	if _, err := s.Train(-1, 0, 1); err == nil {
		t.Error("Train(-1, …) gave no error")
	}
	if want := "Bigram-Backcopy (Brown bigrams, triggers ' ', e, t), BOS first, seed 7"; s.Name() != want {
		t.Errorf("Name() = %q, want %q", s.Name(), want)
	}
	if s.Vocab() != 30 || s.BOS() != 0 || s.SeqLen() != 63 {
		t.Errorf("vocab %d, BOS %d, seq len %d", s.Vocab(), s.BOS(), s.SeqLen())
	}
}

func TestTrainValDisjoint(t *testing.T) {
	s, _ := NewStream(DefaultTask(), 32, 1)
	seen := map[string]bool{}
	key := func(w []int) string { return Decode(w) }
	for step := range 50 {
		ws, _ := s.Train(step, 0, 16)
		for _, w := range ws {
			seen[key(w)] = true
		}
	}
	if len(seen) < 790 {
		t.Errorf("only %d distinct training windows out of 800", len(seen))
	}
	for i := range 20 {
		ws, _ := s.Val(i, 16)
		for _, w := range ws {
			// The process is degenerate in places (". . . ." runs), so a likely window may be
			// drawn in both parts by chance; an unlikely one must not be.
			if p := math.Exp(-sum(DefaultTask().NLL(w))); seen[key(w)] && 800*p < 1e-6 {
				t.Errorf("validation window %q (probability %.2g) also drawn for training", key(w), p)
			}
		}
	}
}

// The process of the stream, checked on every window from scratch: BOS only first, ids in
// range, the copy rule at every position, and the first-symbol and bigram frequencies of the
// non-copy positions within sampling error of the smoothed table.
func TestStreamProcess(t *testing.T) {
	task := DefaultTask()
	s, _ := NewStream(task, 63, 2)
	trig := map[int]bool{27: true, 5: true, 20: true}
	var first [NumSymbols]float64
	var big [NumSymbols][NumSymbols]float64
	copies, labels := 0, 0
	for step := range 40 {
		ws, _ := s.Train(step, 0, 64)
		for _, w := range ws {
			if w[0] != BOS {
				t.Fatalf("window starts with %d", w[0])
			}
			first[w[1]-1]++
			for i := 2; i < len(w); i++ {
				if w[i] <= BOS || w[i] >= Vocab {
					t.Fatalf("id %d at position %d", w[i], i)
				}
				labels++
				if trig[w[i-1]] && !trig[w[i-2]] && w[i-2] != BOS {
					copies++
					if w[i] != w[i-2] {
						t.Fatalf("copy rule broken at %d: %q", i, Decode(w))
					}
					continue
				}
				big[w[i-1]-1][w[i]-1]++
			}
		}
	}
	check := func(what string, obs []float64, probs []float64) {
		var n float64
		for _, o := range obs {
			n += o
		}
		for j, o := range obs {
			e := n * probs[j]
			if d := math.Abs(o - e); d > 5*math.Sqrt(e*(1-probs[j]))+3 {
				t.Errorf("%s → %q: %v draws, expected %.1f", what, Symbols[j], o, e)
			}
		}
	}
	check("BOS", first[:], task.NextProbs(BOS)[1:])
	for a := range NumSymbols {
		check(string(Symbols[a]), big[a][:], task.NextProbs(a + 1)[1:])
	}
	frac := float64(copies) / float64(labels+40*64)
	if frac < 0.35 || frac > 0.38 {
		t.Errorf("copy fraction %.3f, want about 0.366", frac)
	}
}

// ExpectedLoss agrees with the average entropy of sampled prefixes, position by position.
func TestExpectedLoss(t *testing.T) {
	task := DefaultTask()
	const T = 16
	s, _ := NewStream(task, T, 3)
	var tot [T]float64
	const n = 4000
	ws, _ := s.Val(0, n)
	for _, w := range ws {
		for i, h := range task.Entropy(w) {
			tot[i] += h
		}
	}
	exp := task.ExpectedLoss(T)
	for i := range T {
		got := tot[i] / n
		if math.Abs(got-exp[i]) > 0.05 {
			t.Errorf("position %d: sampled mean entropy %.4f, expected %.4f", i, got, exp[i])
		}
	}
	if math.Abs(exp[0]-task.Entropy([]int{BOS, 1})[0]) > 0 {
		t.Error("first-position expected loss is not the unigram entropy")
	}
}

func TestNLLAndEntropy(t *testing.T) {
	task := DefaultTask()
	// "^at a" : after 't' (a trigger) preceded by 'a', the next token must be 'a'.
	ids := []int{BOS, 1, 20, 1, 27, 1}
	nll := task.NLL(ids)
	if len(nll) != 5 || nll[2] != 0 {
		t.Fatalf("NLL %v: want 5 entries, 0 at the copy", nll)
	}
	if want := -math.Log(task.NextProbs(BOS)[1]); nll[0] != want {
		t.Errorf("first NLL %v, want %v", nll[0], want)
	}
	wrong := slices.Clone(ids)
	wrong[3] = 2
	if got := task.NLL(wrong)[2]; !math.IsInf(got, 1) {
		t.Errorf("a wrong copy has NLL %v, want +Inf", got)
	}
	if got := task.NLL([]int{BOS, 1, BOS})[1]; !math.IsInf(got, 1) {
		t.Errorf("BOS after position 0 has NLL %v, want +Inf", got)
	}
	h := task.Entropy(ids)
	if h[2] != 0 || h[1] <= 0 {
		t.Errorf("entropy %v: want 0 at the copy", h)
	}
	if got := task.IsCopy(ids); !slices.Equal(got, []bool{false, false, false, true, false, true}) {
		t.Errorf("IsCopy %v", got)
	}
	// "^ t" would copy the space after 't' only if the space were not a trigger: no copy.
	if task.IsCopy([]int{BOS, 27, 20, 5})[3] {
		t.Error("a trigger before a trigger is copied")
	}
}

func BenchmarkStreamTrain(b *testing.B) {
	s, _ := NewStream(DefaultTask(), 63, 1)
	const n = 64
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := s.Train(i, 0, n); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "windows/s")
}
