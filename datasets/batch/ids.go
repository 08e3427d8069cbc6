package batch

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/core/tensors/numpy"
)

// ReadIDs reads a batch of token ids from a file, so an analysis runs on exactly the ids a user
// (or another tool) chose:
//
//   - .npy: a 2-D integer array [n, T] (int8 … int64, uint8 … uint64), or 1-D [T] for one sequence,
//     read with GoMLX's numpy reader;
//   - .json: [[id, …], …], or [id, …] for one sequence.
//
// Every row must have the same length, at least 1, and every id must be ≥ 0; the caller checks
// ids against the model's vocabulary (CheckIDs).
func ReadIDs(path string) ([][]int, error) {
	var rows [][]int
	var err error
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".npy":
		rows, err = readNpyIDs(path)
	case ".json":
		rows, err = readJSONIDs(path)
	default:
		return nil, fmt.Errorf("token ids %s: unknown extension %q; want .npy or .json", path, ext)
	}
	if err != nil {
		return nil, fmt.Errorf("token ids %s: %w", path, err)
	}
	if err := CheckIDs(rows, -1); err != nil {
		return nil, fmt.Errorf("token ids %s: %w", path, err)
	}
	return rows, nil
}

func readJSONIDs(path string) ([][]int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b = bytes.TrimSpace(b)
	dec := func(v any) error {
		d := json.NewDecoder(bytes.NewReader(b))
		d.DisallowUnknownFields()
		return d.Decode(v)
	}
	var rows [][]int
	if err := dec(&rows); err == nil {
		return rows, nil
	}
	var row []int
	if err := dec(&row); err != nil {
		return nil, fmt.Errorf("want a JSON array of integer arrays ([[1, 2], [3, 4]]) or one integer array: %w", err)
	}
	return [][]int{row}, nil
}

func readNpyIDs(path string) ([][]int, error) {
	t, err := numpy.FromNpyFile(path)
	if err != nil {
		return nil, err
	}
	defer t.FinalizeAll()
	dims := t.Shape().Dimensions
	var n, T int
	switch len(dims) {
	case 1:
		n, T = 1, dims[0]
	case 2:
		n, T = dims[0], dims[1]
	default:
		return nil, fmt.Errorf("array has shape %v; want [n, T] or [T]", dims)
	}
	flat, err := npyInts(t)
	if err != nil {
		return nil, err
	}
	return rows(flat, n, T), nil
}

// npyInts converts an integer tensor to []int.
func npyInts(t *tensors.Tensor) ([]int, error) {
	var out []int
	conv := func(n int, at func(i int) int64) {
		out = make([]int, n)
		for i := range out {
			out[i] = int(at(i))
		}
	}
	var err error
	if cerr := t.ConstFlatData(func(flat any) {
		switch x := flat.(type) {
		case []int64:
			conv(len(x), func(i int) int64 { return x[i] })
		case []int32:
			conv(len(x), func(i int) int64 { return int64(x[i]) })
		case []int16:
			conv(len(x), func(i int) int64 { return int64(x[i]) })
		case []int8:
			conv(len(x), func(i int) int64 { return int64(x[i]) })
		case []uint64:
			for _, v := range x {
				if v > 1<<62 {
					err = fmt.Errorf("id %d does not fit an int", v)
					return
				}
			}
			conv(len(x), func(i int) int64 { return int64(x[i]) })
		case []uint32:
			conv(len(x), func(i int) int64 { return int64(x[i]) })
		case []uint16:
			conv(len(x), func(i int) int64 { return int64(x[i]) })
		case []uint8:
			conv(len(x), func(i int) int64 { return int64(x[i]) })
		default:
			err = fmt.Errorf("array dtype %s is not an integer type", t.DType())
		}
	}); cerr != nil {
		return nil, cerr
	}
	return out, err
}

// CheckIDs checks that a batch is non-empty and rectangular with ids in [0, vocab) (vocab < 0: any
// id ≥ 0). The error names the first bad row and position.
func CheckIDs(ids [][]int, vocab int) error {
	if len(ids) == 0 {
		return fmt.Errorf("no sequences")
	}
	T := len(ids[0])
	for i, row := range ids {
		if len(row) == 0 {
			return fmt.Errorf("sequence %d is empty", i)
		}
		if len(row) != T {
			return fmt.Errorf("sequence %d has %d tokens but sequence 0 has %d; every sequence needs the same length", i, len(row), T)
		}
		for p, id := range row {
			if id < 0 || (vocab >= 0 && id >= vocab) {
				if vocab >= 0 {
					return fmt.Errorf("sequence %d position %d: id %d is outside the vocabulary [0, %d)", i, p, id, vocab)
				}
				return fmt.Errorf("sequence %d position %d: id %d is negative", i, p, id)
			}
		}
	}
	return nil
}

// IDsHash is the SHA-256 of a batch's canonical JSON encoding ([[1,2],[3,4]], no spaces): a short
// name for "these exact ids" in results files.
func IDsHash(ids [][]int) string {
	b, _ := json.Marshal(ids)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
