package batch

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/core/tensors/numpy"
)

func TestReadIDs(t *testing.T) {
	dir := t.TempDir()
	want := [][]int{{1, 5, 7}, {1, 2, 3}}
	js := filepath.Join(dir, "ids.json")
	if err := os.WriteFile(js, []byte("[[1, 5, 7], [1, 2, 3]]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	one := filepath.Join(dir, "one.json")
	if err := os.WriteFile(one, []byte("[4, 0, 9]"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		t    *tensors.Tensor
		want [][]int
	}{
		{"i64.npy", tensors.FromFlatDataAndDimensions([]int64{1, 5, 7, 1, 2, 3}, 2, 3), want},
		{"i32.npy", tensors.FromFlatDataAndDimensions([]int32{1, 5, 7, 1, 2, 3}, 2, 3), want},
		{"u16.npy", tensors.FromFlatDataAndDimensions([]uint16{1, 5, 7, 1, 2, 3}, 2, 3), want},
		{"row.npy", tensors.FromFlatDataAndDimensions([]int64{4, 0, 9}, 3), [][]int{{4, 0, 9}}},
	} {
		p := filepath.Join(dir, c.name)
		if err := numpy.ToNpyFile(c.t, p); err != nil {
			t.Fatal(err)
		}
		got, err := ReadIDs(p)
		if err != nil || !slices.EqualFunc(got, c.want, slices.Equal) {
			t.Errorf("%s: %v, %v; want %v", c.name, got, err, c.want)
		}
	}
	if got, err := ReadIDs(js); err != nil || !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("json: %v, %v", got, err)
	}
	if got, err := ReadIDs(one); err != nil || !slices.EqualFunc(got, [][]int{{4, 0, 9}}, slices.Equal) {
		t.Errorf("one row json: %v, %v", got, err)
	}
	if IDsHash(want) == IDsHash([][]int{{1, 5, 7}, {1, 2, 4}}) || len(IDsHash(want)) != 64 {
		t.Errorf("IDsHash does not tell batches apart")
	}
}

func TestReadIDsErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	f32 := filepath.Join(dir, "f.npy")
	if err := numpy.ToNpyFile(tensors.FromFlatDataAndDimensions([]float32{1, 2}, 1, 2), f32); err != nil {
		t.Fatal(err)
	}
	cube := filepath.Join(dir, "cube.npy")
	if err := numpy.ToNpyFile(tensors.FromFlatDataAndDimensions([]int64{1, 2, 3, 4}, 1, 2, 2), cube); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		write("ragged.json", "[[1, 2], [3]]"): "sequence 1 has 1 tokens",
		write("neg.json", "[[1, -2]]"):        "id -2 is negative",
		write("empty.json", "[]"):             "no sequences",
		write("text.json", `{"ids": [1]}`):    "want a JSON array",
		write("ids.txt", "1 2 3"):             "unknown extension",
		f32:                                   "not an integer type",
		cube:                                  "want [n, T] or [T]",
		filepath.Join(dir, "missing.npy"):     "missing.npy",
	} {
		if _, err := ReadIDs(path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want it to mention %q", filepath.Base(path), err, want)
		}
	}
	if err := CheckIDs([][]int{{1, 2}, {3, 40}}, 32); err == nil || !strings.Contains(err.Error(), "sequence 1 position 1: id 40 is outside the vocabulary [0, 32)") {
		t.Errorf("vocabulary check: %v", err)
	}
}
