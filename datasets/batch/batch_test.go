package batch

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// wordEncoder is a toy tokenizer: one id per space-separated word (its length), BOS = 100.
type wordEncoder struct {
	calls int
	noBOS bool // BOS() reports none
}

const testBOS = 100

func (e *wordEncoder) Encode(text string, addBOS bool) ([]int, error) {
	e.calls++
	if strings.Contains(text, "FAIL") {
		return nil, errors.New("cannot encode")
	}
	var ids []int
	if addBOS {
		ids = append(ids, testBOS)
	}
	for _, w := range strings.Fields(text) {
		ids = append(ids, len(w))
	}
	return ids, nil
}

func (e *wordEncoder) BOS() (int, bool) { return testBOS, !e.noBOS }

func TestTextBatch(t *testing.T) {
	texts := []string{"a bb ccc dddd", "x", "one two three", "eeeee ffffff g"}
	enc := &wordEncoder{}
	got, err := TextBatch(enc, texts, 3, false)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]int{{1, 2, 3}, {3, 3, 5}, {5, 6, 1}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("TextBatch(no BOS) = %v, want %v", got, want)
	}
	got, err = TextBatch(enc, texts, 3, true)
	if err != nil {
		t.Fatal(err)
	}
	want = [][]int{{testBOS, 1, 2}, {testBOS, 3, 3}, {testBOS, 5, 6}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("TextBatch(BOS) = %v, want %v", got, want)
	}
	// Rows are copies: appending to one does not touch another.
	got[0] = append(got[0], 7)
	if got[1][0] != testBOS {
		t.Error("rows share memory")
	}
	// Nothing long enough.
	if _, err := TextBatch(enc, texts, 10, false); err == nil {
		t.Error("no text long enough: no error")
	}
	if _, err := TextBatch(enc, nil, 3, false); err == nil {
		t.Error("no texts: no error")
	}
}

func TestTextBatchN(t *testing.T) {
	texts := []string{"a bb", "c", "dd ee ff", "g h", "i j k"}
	enc := &wordEncoder{}
	got, err := TextBatchN(enc, texts, 2, 2, false)
	if err != nil {
		t.Fatal(err)
	}
	if want := [][]int{{1, 2}, {2, 2}}; !reflect.DeepEqual(got, want) {
		t.Errorf("TextBatchN = %v, want %v", got, want)
	}
	if enc.calls != 3 {
		t.Errorf("encoded %d texts, want 3 (stop once n rows are made)", enc.calls)
	}
	// Short texts skipped; not enough rows → error naming produced vs requested.
	_, err = TextBatchN(enc, texts, 5, 2, false)
	if err == nil || !strings.Contains(err.Error(), "only 4 of the 5 requested") {
		t.Errorf("TextBatchN(5) error = %v, want one saying 4 of 5", err)
	}
	// With BOS, seqLen counts it: "c" + BOS is long enough for 2.
	got, err = TextBatchN(enc, texts, 5, 2, true)
	if err != nil {
		t.Fatal(err)
	}
	if want := [][]int{{testBOS, 1}, {testBOS, 1}, {testBOS, 2}, {testBOS, 1}, {testBOS, 1}}; !reflect.DeepEqual(got, want) {
		t.Errorf("TextBatchN(BOS) = %v, want %v", got, want)
	}
}

func TestTextBatchErrors(t *testing.T) {
	enc := &wordEncoder{}
	texts := []string{"a b c"}
	for name, f := range map[string]func() ([][]int, error){
		"nil encoder":   func() ([][]int, error) { return TextBatch(nil, texts, 2, false) },
		"zero seqLen":   func() ([][]int, error) { return TextBatch(enc, texts, 0, false) },
		"negative n":    func() ([][]int, error) { return TextBatchN(enc, texts, -1, 2, false) },
		"zero n":        func() ([][]int, error) { return TextBatchN(enc, texts, 0, 2, false) },
		"encode fails":  func() ([][]int, error) { return TextBatch(enc, []string{"ok ok", "FAIL"}, 2, false) },
		"no BOS token":  func() ([][]int, error) { return TextBatch(&wordEncoder{noBOS: true}, texts, 2, true) },
		"BOS not first": func() ([][]int, error) { return TextBatch(badBOS{}, texts, 2, true) },
	} {
		if got, err := f(); err == nil {
			t.Errorf("%s: no error (got %v)", name, got)
		}
	}
	// A plain function works as an Encoder and, lacking BOS(), is trusted.
	fn := EncoderFunc(func(text string, bos bool) ([]int, error) { return []int{9, 8, 7}, nil })
	if got, err := TextBatch(fn, texts, 2, true); err != nil || !reflect.DeepEqual(got, [][]int{{9, 8}}) {
		t.Errorf("EncoderFunc: %v, %v", got, err)
	}
}

// badBOS says its BOS is 100 but never puts it first.
type badBOS struct{}

func (badBOS) Encode(string, bool) ([]int, error) { return []int{1, 2, 3}, nil }
func (badBOS) BOS() (int, bool)                   { return testBOS, true }

func TestRandomTokens(t *testing.T) {
	const n, seqLen, vocab = 500, 64, 50
	exclude := []int{0, 2, 49, 2}
	got, err := RandomTokens(n, seqLen, vocab, 7, exclude...)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != n {
		t.Fatalf("%d rows, want %d", len(got), n)
	}
	counts := make([]int, vocab)
	for _, row := range got {
		if len(row) != seqLen {
			t.Fatalf("row of %d tokens, want %d", len(row), seqLen)
		}
		for _, id := range row {
			if id < 0 || id >= vocab {
				t.Fatalf("id %d outside [0, %d)", id, vocab)
			}
			counts[id]++
		}
	}
	for _, id := range []int{0, 2, 49} {
		if counts[id] != 0 {
			t.Errorf("excluded id %d drawn %d times", id, counts[id])
		}
	}
	// Roughly uniform over the 47 allowed ids: 32000/47 ≈ 681 each.
	for id, c := range counts {
		if id == 0 || id == 2 || id == 49 {
			continue
		}
		if c < 550 || c > 820 {
			t.Errorf("id %d drawn %d times, expected about 681", id, c)
		}
	}
	again, _ := RandomTokens(n, seqLen, vocab, 7, exclude...)
	if !reflect.DeepEqual(got, again) {
		t.Error("RandomTokens is not deterministic")
	}
	other, _ := RandomTokens(n, seqLen, vocab, 8, exclude...)
	if reflect.DeepEqual(got, other) {
		t.Error("RandomTokens gives the same tokens for different seeds")
	}
	// Rows do not overlap in memory.
	got[0] = append(got[0], -1)
	if got[1][0] == -1 {
		t.Error("appending to a row overwrote the next")
	}
	// Only one allowed id.
	one, err := RandomTokens(2, 3, 3, 1, 0, 2)
	if err != nil || !reflect.DeepEqual(one, [][]int{{1, 1, 1}, {1, 1, 1}}) {
		t.Errorf("RandomTokens with one allowed id = %v, %v", one, err)
	}
}

func TestRandomTokensErrors(t *testing.T) {
	for _, tc := range []struct {
		name             string
		n, seqLen, vocab int
		exclude          []int
	}{
		{"zero n", 0, 4, 10, nil},
		{"negative n", -1, 4, 10, nil},
		{"zero seqLen", 3, 0, 10, nil},
		{"zero vocab", 3, 4, 0, nil},
		{"all excluded", 3, 4, 2, []int{0, 1}},
		{"excluded out of range", 3, 4, 10, []int{10}},
		{"excluded negative", 3, 4, 10, []int{-1}},
	} {
		if _, err := RandomTokens(tc.n, tc.seqLen, tc.vocab, 1, tc.exclude...); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

func stream(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = 1000 + i
	}
	return s
}

func TestWindows(t *testing.T) {
	tokens := stream(50)
	const seqLen, n = 8, 1000
	inputs, labels, err := WindowsWithLabels(tokens, seqLen, n, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(inputs) != n || len(labels) != n {
		t.Fatalf("%d inputs and %d labels, want %d", len(inputs), len(labels), n)
	}
	seenStart := map[int]bool{}
	for i := range inputs {
		start := inputs[i][0] - 1000
		seenStart[start] = true
		if start < 0 || start > len(tokens)-seqLen-1 {
			t.Fatalf("window start %d out of range", start)
		}
		if !reflect.DeepEqual(inputs[i], tokens[start:start+seqLen]) {
			t.Fatalf("window %v is not consecutive tokens", inputs[i])
		}
		if !reflect.DeepEqual(labels[i], tokens[start+1:start+seqLen+1]) {
			t.Fatalf("labels %v are not the inputs %v shifted by one", labels[i], inputs[i])
		}
	}
	// 42 possible starts, 1000 draws: all of them should come up, the last one included.
	if len(seenStart) != len(tokens)-seqLen || !seenStart[len(tokens)-seqLen-1] {
		t.Errorf("%d distinct starts, want %d", len(seenStart), len(tokens)-seqLen)
	}
	only, err := Windows(tokens, seqLen, n, 3)
	if err != nil || !reflect.DeepEqual(only, inputs) {
		t.Error("Windows differs from the inputs of WindowsWithLabels with the same seed")
	}
	if other, _ := Windows(tokens, seqLen, n, 4); reflect.DeepEqual(other, inputs) {
		t.Error("Windows gives the same windows for different seeds")
	}
	// The rows are copies of the stream.
	inputs[0][0] = -5
	if tokens[0] == -5 || slicesContain(tokens, -5) {
		t.Error("Windows aliases the token stream")
	}
	// The shortest stream: exactly one possible window.
	in, lab, err := WindowsWithLabels([]int{1, 2, 3}, 2, 2, 0)
	if err != nil || !reflect.DeepEqual(in, [][]int{{1, 2}, {1, 2}}) || !reflect.DeepEqual(lab, [][]int{{2, 3}, {2, 3}}) {
		t.Errorf("shortest stream: %v %v %v", in, lab, err)
	}
}

func slicesContain(xs []int, v int) bool {
	for _, x := range xs {
		if x == v {
			return true
		}
	}
	return false
}

func TestWindowsErrors(t *testing.T) {
	tokens := stream(10)
	for _, tc := range []struct {
		name      string
		tokens    []int
		seqLen, n int
	}{
		{"stream = seqLen", tokens, 10, 1},
		{"stream shorter", tokens, 20, 1},
		{"empty stream", nil, 1, 1},
		{"zero seqLen", tokens, 0, 1},
		{"zero n", tokens, 4, 0},
		{"negative n", tokens, 4, -2},
	} {
		if _, err := Windows(tc.tokens, tc.seqLen, tc.n, 1); err == nil {
			t.Errorf("Windows %s: no error", tc.name)
		}
		if _, _, err := WindowsWithLabels(tc.tokens, tc.seqLen, tc.n, 1); err == nil {
			t.Errorf("WindowsWithLabels %s: no error", tc.name)
		}
	}
}

func TestChunks(t *testing.T) {
	xs := [][]int{{0}, {1}, {2}, {3}, {4}}
	got := Chunks(xs, 2)
	want := [][][]int{{{0}, {1}}, {{2}, {3}}, {{4}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Chunks(5 rows, 2) = %v, want %v", got, want)
	}
	if got := Chunks(xs, 5); len(got) != 1 || len(got[0]) != 5 {
		t.Errorf("Chunks(5 rows, 5) = %v", got)
	}
	if got := Chunks(xs, 100); len(got) != 1 || len(got[0]) != 5 {
		t.Errorf("Chunks(5 rows, 100) = %v", got)
	}
	if got := Chunks([][]int{}, 3); len(got) != 0 {
		t.Errorf("Chunks(empty) = %v", got)
	}
	// Appending to a chunk does not overwrite the next one.
	got[0] = append(got[0], []int{99})
	if xs[2][0] != 2 {
		t.Error("appending to a chunk overwrote the batch")
	}
	for _, size := range []int{0, -1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Chunks(size %d) did not panic", size)
				}
			}()
			Chunks(xs, size)
		}()
	}
}

// TestGolden pins the random draws, so a change of generator or sampling (which would change
// every experiment's inputs) shows up as a failure.
func TestGolden(t *testing.T) {
	r, err := RandomTokens(2, 6, 32000, 42, 0, 1, 2)
	if want := [][]int{{7397, 617, 20780, 31487, 28458, 22615}, {26229, 21402, 23984, 15089, 22742, 2345}}; err != nil || !reflect.DeepEqual(r, want) {
		t.Errorf("RandomTokens(2, 6, 32000, 42, 0, 1, 2) = %v, %v; want %v", r, err, want)
	}
	w, err := Windows(stream(100), 4, 3, 42)
	if want := [][]int{{1062, 1063, 1064, 1065}, {1028, 1029, 1030, 1031}, {1084, 1085, 1086, 1087}}; err != nil || !reflect.DeepEqual(w, want) {
		t.Errorf("Windows(stream(100), 4, 3, 42) = %v, %v; want %v", w, err, want)
	}
}
