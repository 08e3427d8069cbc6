package safetensors

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// build assembles a file from a raw header string and data section.
func build(header string, data []byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, uint64(len(header)))
	b.WriteString(header)
	b.Write(data)
	return b.Bytes()
}

func f32bytes(vs ...float32) []byte {
	b, _ := EncodeFloat32(F32, vs)
	return b
}

func mustFromFloat32(t *testing.T, d DType, shape []int, vs []float32) Tensor {
	t.Helper()
	x, err := FromFloat32(d, shape, vs)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.safetensors")
	vals := []float32{1, -2, 0.5, 3.25, -0.125, 1024}
	ints := make([]byte, 3*4)
	for i, v := range []int32{-7, 0, 1 << 20} {
		binary.LittleEndian.PutUint32(ints[4*i:], uint32(v))
	}
	in := map[string]Tensor{
		"a.f32":  mustFromFloat32(t, F32, []int{2, 3}, vals),
		"b.bf16": mustFromFloat32(t, BF16, []int{3, 2}, vals),
		"c.f16":  mustFromFloat32(t, F16, []int{6}, vals),
		"d.f64":  mustFromFloat32(t, F64, []int{1, 6}, vals),
		"e.i32":  {DType: I32, Shape: []int{3}, Data: ints},
		"scalar": mustFromFloat32(t, F32, []int{}, []float32{42}),
		"empty":  {DType: BF16, Shape: []int{0, 4}, Data: nil},
		"odd":    {DType: U8, Shape: []int{3}, Data: []byte{1, 2, 255}},
	}
	meta := map[string]string{"format": "pt", "note": "ünïcode \"quoted\""}
	if err := Write(path, in, meta); err != nil {
		t.Fatal(err)
	}
	first, _ := os.ReadFile(path)
	if err := Write(path, in, meta); err != nil {
		t.Fatal(err)
	}
	second, _ := os.ReadFile(path)
	if !bytes.Equal(first, second) {
		t.Error("writing the same tensors twice gave different bytes")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
	if hl := binary.LittleEndian.Uint64(first); hl%8 != 0 {
		t.Errorf("header length %d is not a multiple of 8", hl)
	}

	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := f.Metadata(); !reflect.DeepEqual(got, meta) {
		t.Errorf("metadata = %v, want %v", got, meta)
	}
	wantNames := []string{"a.f32", "b.bf16", "c.f16", "d.f64", "e.i32", "empty", "odd", "scalar"}
	if got := f.Names(); !reflect.DeepEqual(got, wantNames) {
		t.Errorf("names = %v, want %v", got, wantNames)
	}
	for name, want := range in {
		tn, err := f.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		if tn.DType != want.DType || !reflect.DeepEqual(append([]int{}, tn.Shape...), append([]int{}, want.Shape...)) || !bytes.Equal(tn.Data, want.Data) {
			t.Errorf("%s: got %+v, want %+v", name, tn, want)
		}
		info, _ := f.Info(name)
		if info.Begin%int64(info.DType.Size()) != 0 {
			t.Errorf("%s: offset %d not aligned to %d", name, info.Begin, info.DType.Size())
		}
	}
	for _, name := range []string{"a.f32", "b.bf16", "c.f16", "d.f64"} {
		got, err := f.ReadFloat32(name)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, vals) { // all values are exact in every format
			t.Errorf("%s: ReadFloat32 = %v, want %v", name, got, vals)
		}
		bf := make([]uint16, len(vals))
		if err := f.ReadBFloat16Into(name, bf); err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			if bf[i] != Float32ToBFloat16(v) {
				t.Errorf("%s: ReadBFloat16Into[%d] = %#x, want %#x", name, i, bf[i], Float32ToBFloat16(v))
			}
		}
	}
	if got, _ := f.ReadFloat32("e.i32"); !reflect.DeepEqual(got, []float32{-7, 0, 1 << 20}) {
		t.Errorf("int32 as float32 = %v", got)
	}
	if got, _ := f.ReadFloat32("odd"); !reflect.DeepEqual(got, []float32{1, 2, 255}) {
		t.Errorf("uint8 as float32 = %v", got)
	}
	if got, err := f.ReadFloat32("scalar"); err != nil || !reflect.DeepEqual(got, []float32{42}) {
		t.Errorf("scalar = %v, %v", got, err)
	}
	if got, err := f.ReadFloat32("empty"); err != nil || len(got) != 0 {
		t.Errorf("empty = %v, %v", got, err)
	}
	if _, err := f.ReadFloat32("nope"); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("missing tensor error = %v", err)
	}
	if err := f.ReadFloat32Into("a.f32", make([]float32, 5)); err == nil {
		t.Error("ReadFloat32Into accepted a destination of the wrong size")
	}
}

func TestLargeTensorChunks(t *testing.T) {
	// More than one conversion chunk, with a chunk boundary inside the data.
	n := chunkBytes/2 + 12345
	vals := make([]float32, n)
	for i := range vals {
		vals[i] = float32(i%255) - 127 // exact in bfloat16
	}
	path := filepath.Join(t.TempDir(), "big.safetensors")
	if err := Write(path, map[string]Tensor{"w": mustFromFloat32(t, BF16, []int{n}, vals)}, nil); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := f.ReadFloat32("w")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, vals) {
		t.Error("chunked bf16 read differs")
	}
}

func TestBFloat16Conversion(t *testing.T) {
	cases := []struct {
		f    float32
		bits uint16
	}{
		{1, 0x3f80},
		{-2, 0xc000},
		{0, 0x0000},
		{float32(math.Copysign(0, -1)), 0x8000},
		{0.1, 0x3dcd}, // 0x3dcccccd rounds up
		{math.Float32frombits(0x3f808000), 0x3f80}, // tie, even stays
		{math.Float32frombits(0x3f818000), 0x3f82}, // tie, odd rounds up
		{math.Float32frombits(0x3f807fff), 0x3f80}, // just below the tie
		{float32(math.Inf(1)), 0x7f80},             // +Inf
		{float32(math.Inf(-1)), 0xff80},            // -Inf
		{math.MaxFloat32, 0x7f80},                  // rounds to Inf
		{math.Float32frombits(0x00000001), 0x0000}, // tiny subnormal rounds to 0
		{math.Float32frombits(0x7f800001), 0x7fc0}, // NaN payload in the low bits stays NaN
		{3.140625, 0x4049},
	}
	for _, c := range cases {
		if got := Float32ToBFloat16(c.f); got != c.bits {
			t.Errorf("Float32ToBFloat16(%g [%#08x]) = %#04x, want %#04x", c.f, math.Float32bits(c.f), got, c.bits)
		}
	}
	// Every bfloat16 converts to float32 and back unchanged (NaNs stay NaN).
	for b := 0; b < 1<<16; b++ {
		f := BFloat16ToFloat32(uint16(b))
		back := Float32ToBFloat16(f)
		if f != f {
			if back&0x7f80 != 0x7f80 || back&0x7f == 0 {
				t.Fatalf("NaN %#04x came back as %#04x", b, back)
			}
			continue
		}
		if back != uint16(b) {
			t.Fatalf("bf16 %#04x → %g → %#04x", b, f, back)
		}
	}
}

func TestFloat16Conversion(t *testing.T) {
	cases := []struct {
		f    float32
		bits uint16
	}{
		{1, 0x3c00},
		{-2, 0xc000},
		{0.5, 0x3800},
		{65504, 0x7bff},                          // max finite
		{65519, 0x7bff},                          // below the tie to Inf
		{65520, 0x7c00},                          // tie rounds to even = Inf
		{1e6, 0x7c00},                            // overflow
		{-1e6, 0xfc00},                           // negative overflow
		{float32(math.Ldexp(1, -14)), 0x0400},    // smallest normal
		{float32(math.Ldexp(1, -24)), 0x0001},    // smallest subnormal
		{float32(math.Ldexp(1, -25)), 0x0000},    // tie between 0 and the smallest subnormal: even
		{float32(math.Ldexp(1.5, -25)), 0x0001},  // above the tie
		{float32(math.Ldexp(3, -25)), 0x0002},    // 1.5 subnormal units: tie to even (2)
		{float32(math.Ldexp(1023, -24)), 0x03ff}, // largest subnormal
		{float32(math.Ldexp(1, -30)), 0x0000},    // underflow
		{0.1, 0x2e66},
		{1.0 / 3, 0x3555},
		{float32(math.Copysign(0, -1)), 0x8000},
		{float32(math.Inf(1)), 0x7c00},
		{math.Float32frombits(0x3f801000), 0x3c00}, // 1 + 2^-11: tie, even stays
		{math.Float32frombits(0x3f803000), 0x3c02}, // 1 + 3·2^-11: tie, odd rounds up
	}
	for _, c := range cases {
		if got := Float32ToFloat16(c.f); got != c.bits {
			t.Errorf("Float32ToFloat16(%g) = %#04x, want %#04x", c.f, got, c.bits)
		}
	}
	known := map[uint16]float32{
		0x3c00: 1, 0xc000: -2, 0x7bff: 65504, 0x0001: float32(math.Ldexp(1, -24)),
		0x03ff: float32(math.Ldexp(1023, -24)), 0x0400: float32(math.Ldexp(1, -14)), 0x3555: 0.333251953125,
	}
	for bits, want := range known {
		if got := Float16ToFloat32(bits); got != want {
			t.Errorf("Float16ToFloat32(%#04x) = %g, want %g", bits, got, want)
		}
	}
	if v := Float16ToFloat32(0x7e00); v == v {
		t.Errorf("Float16ToFloat32(NaN) = %g", v)
	}
	for b := 0; b < 1<<16; b++ {
		f := Float16ToFloat32(uint16(b))
		back := Float32ToFloat16(f)
		if f != f {
			if back&0x7c00 != 0x7c00 || back&0x3ff == 0 {
				t.Fatalf("NaN %#04x came back as %#04x", b, back)
			}
			continue
		}
		if back != uint16(b) {
			t.Fatalf("f16 %#04x → %g → %#04x", b, f, back)
		}
	}
}

func TestFloat8Conversion(t *testing.T) {
	e4m3 := map[uint8]float32{0x38: 1, 0xb8: -1, 0x7e: 448, 0x01: float32(math.Ldexp(1, -9)), 0x08: float32(math.Ldexp(1, -6)), 0x00: 0}
	for b, want := range e4m3 {
		if got := Float8E4M3ToFloat32(b); got != want {
			t.Errorf("E4M3 %#02x = %g, want %g", b, got, want)
		}
	}
	if v := Float8E4M3ToFloat32(0x7f); v == v {
		t.Error("E4M3 0x7f should be NaN")
	}
	e5m2 := map[uint8]float32{0x3c: 1, 0x7b: 57344, 0xc0: -2}
	for b, want := range e5m2 {
		if got := Float8E5M2ToFloat32(b); got != want {
			t.Errorf("E5M2 %#02x = %g, want %g", b, got, want)
		}
	}
}

func TestMalformed(t *testing.T) {
	good8 := f32bytes(1, 2)
	huge := make([]byte, 8)
	binary.LittleEndian.PutUint64(huge, 200_000_000)
	lying := make([]byte, 16)
	binary.LittleEndian.PutUint64(lying, 100)
	tooBigForInt := make([]byte, 8)
	binary.LittleEndian.PutUint64(tooBigForInt, math.MaxUint64)
	cases := []struct {
		name string
		file []byte
		want []string // substrings of the error
	}{
		{"empty file", nil, []string{"too small"}},
		{"short file", []byte{1, 2, 3}, []string{"too small"}},
		{"absurd header length", huge, []string{"exceeds", "limit"}},
		{"max uint64 header length", tooBigForInt, []string{"exceeds"}},
		{"header longer than file", lying, []string{"header length 100", "larger than the file"}},
		{"invalid json", build(`{"a": {`, nil), []string{"invalid JSON"}},
		{"not an object", build(`[1,2]`, nil), []string{"does not start with '{'"}},
		{"leading space", build(` {}`, nil), []string{"does not start with '{'"}},
		{"empty header", build(``, nil), []string{"does not start with '{'"}},
		{"invalid utf8", build("{\"\xff\":1}", nil), []string{"UTF-8"}},
		{"garbage after object", build(`{} x`, nil), []string{"after the"}},
		{"second object", build(`{}{}`, nil), []string{"after the JSON object"}},
		{"unknown dtype", build(`{"w":{"dtype":"F7","shape":[2],"data_offsets":[0,8]}}`, good8), []string{`"w"`, `unknown dtype "F7"`}},
		{"dtype not string", build(`{"w":{"dtype":3,"shape":[2],"data_offsets":[0,8]}}`, good8), []string{`"w"`, "dtype is not a string"}},
		{"negative dim", build(`{"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, good8), []string{`"w"`, "negative dimension"}},
		{"fractional dim", build(`{"w":{"dtype":"F32","shape":[1.5],"data_offsets":[0,8]}}`, good8), []string{`"w"`, "not an integer"}},
		{"shape not array", build(`{"w":{"dtype":"F32","shape":2,"data_offsets":[0,8]}}`, good8), []string{`"w"`, "shape"}},
		{"shape null", build(`{"w":{"dtype":"F32","shape":null,"data_offsets":[0,8]}}`, good8), []string{`"w"`, "shape"}},
		{"huge dim", build(`{"w":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,8]}}`, good8), []string{`"w"`, "not an integer"}},
		{"shape overflow", build(`{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, good8), []string{`"w"`, "overflows"}},
		{"begin after end", build(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}`, good8), []string{`"w"`, "begin is after end"}},
		{"negative offset", build(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}}`, good8), []string{`"w"`, "negative"}},
		{"three offsets", build(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4,8]}}`, good8), []string{`"w"`, "2 elements"}},
		{"size mismatch", build(`{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, good8), []string{`"w"`, "span 8 bytes", "needs 12"}},
		// A range larger than the shape needs would let the readers run past the destination.
		{"range larger than shape", build(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,8]}}`, good8), []string{`"w"`, "span 8 bytes", "needs 4"}},
		{"range larger than scalar", build(`{"s":{"dtype":"BF16","shape":[],"data_offsets":[0,8]}}`, good8), []string{`"s"`, "span 8 bytes", "needs 2"}},
		{"range for an empty tensor", build(`{"e":{"dtype":"F32","shape":[2,0],"data_offsets":[0,8]}}`, good8), []string{`"e"`, "span 8 bytes", "needs 0"}},
		{"offsets past end", build(`{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, good8), []string{`"w"`, "past the end"}},
		{"hole at start", build(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, good8), []string{`"w"`, "hole"}},
		{"hole between", build(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}`, f32bytes(1, 2, 3)), []string{`"b"`, "hole"}},
		{"overlap", build(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, good8), []string{"overlap"}},
		{"trailing bytes", build(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, good8), []string{"4 bytes after the last tensor"}},
		{"data but no tensors", build(`{}`, good8), []string{"8 bytes after the last tensor"}},
		{"duplicate tensor", build(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, good8), []string{`duplicate key "w"`}},
		{"duplicate field", build(`{"w":{"dtype":"F32","dtype":"F16","shape":[2],"data_offsets":[0,8]}}`, good8), []string{`duplicate key "dtype"`}},
		{"metadata not string", build(`{"__metadata__":{"n":1}}`, nil), []string{"__metadata__", `"n"`, "not a string"}},
		{"metadata not object", build(`{"__metadata__":"x"}`, nil), []string{"__metadata__"}},
		{"missing dtype", build(`{"w":{"shape":[2],"data_offsets":[0,8]}}`, good8), []string{`"w"`, "missing dtype"}},
		{"missing shape", build(`{"w":{"dtype":"F32","data_offsets":[0,8]}}`, good8), []string{`"w"`, "missing shape"}},
		{"missing offsets", build(`{"w":{"dtype":"F32","shape":[2]}}`, good8), []string{`"w"`, "missing data_offsets"}},
		{"unknown field", build(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}}`, good8), []string{`"w"`, `unknown field "x"`}},
		{"entry not object", build(`{"w":[1]}`, good8), []string{`"w"`, "expected a JSON object"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := OpenReader(bytes.NewReader(c.file), int64(len(c.file)), "bad.safetensors")
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			for _, w := range append(c.want, "bad.safetensors") {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not contain %q", msg, w)
				}
			}
		})
	}
}

// The readers check the size invariant themselves: a File whose tensor descriptions disagree
// with their byte ranges (as if validation had let them through) gives errors, not panics.
func TestReadersRejectInconsistentInfo(t *testing.T) {
	for name, mutate := range map[string]func(*TensorInfo){
		"range larger than shape":  func(ti *TensorInfo) { ti.Shape = []int{1} },
		"range smaller than shape": func(ti *TensorInfo) { ti.Shape = []int{3} },
		"empty shape, bytes":       func(ti *TensorInfo) { ti.Shape = []int{0} },
		"unknown dtype":            func(ti *TensorInfo) { ti.DType = "F7" },
		"reversed range":           func(ti *TensorInfo) { ti.Begin, ti.End = 8, 0 },
		"negative dimension":       func(ti *TensorInfo) { ti.Shape = []int{-1, -2} },
	} {
		t.Run(name, func(t *testing.T) {
			file := build(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, f32bytes(1, 2))
			f, err := OpenReader(bytes.NewReader(file), int64(len(file)), "inconsistent.safetensors")
			if err != nil {
				t.Fatal(err)
			}
			mutate(&f.tensors[0])
			set := &Set{desc: "set", files: []*File{f}, byName: map[string]*File{"w": f}}
			n := max(f.tensors[0].NumElements(), 0)
			for reader, read := range map[string]func() error{
				"ReadRaw":              func() error { _, _, err := f.ReadRaw("w"); return err },
				"ReadRawInto":          func() error { return f.ReadRawInto("w", make([]byte, 8)) },
				"ReadFloat32":          func() error { _, err := f.ReadFloat32("w"); return err },
				"ReadFloat32Into":      func() error { return f.ReadFloat32Into("w", make([]float32, n)) },
				"ReadBFloat16Into":     func() error { return f.ReadBFloat16Into("w", make([]uint16, n)) },
				"Tensor":               func() error { _, err := f.Tensor("w"); return err },
				"Set.ReadRaw":          func() error { _, _, err := set.ReadRaw("w"); return err },
				"Set.ReadFloat32":      func() error { _, err := set.ReadFloat32("w"); return err },
				"Set.ReadFloat32Into":  func() error { return set.ReadFloat32Into("w", make([]float32, n)) },
				"Set.ReadBFloat16Into": func() error { return set.ReadBFloat16Into("w", make([]uint16, n)) },
			} {
				err := read()
				if err == nil || !strings.Contains(err.Error(), `"w"`) || !strings.Contains(err.Error(), "inconsistent.safetensors") {
					t.Errorf("%s: err = %v, want an error naming the file and the tensor", reader, err)
				}
			}
		})
	}
}

func TestValidEdgeCases(t *testing.T) {
	cases := map[string][]byte{
		"no tensors":           build(`{}`, nil),
		"padded header":        build(`{}      `, nil),
		"only metadata":        build(`{"__metadata__":{"a":"b"}}`, nil),
		"empty tensors":        build(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"b":{"dtype":"I64","shape":[2,0],"data_offsets":[0,0]}}`, nil),
		"scalar":               build(`{"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]}}`, f32bytes(7)),
		"unsorted offsets":     build(`{"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, f32bytes(1, 2)),
		"zero-size in between": build(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"z":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, f32bytes(1, 2)),
	}
	for name, file := range cases {
		f, err := OpenReader(bytes.NewReader(file), int64(len(file)), name)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		for _, n := range f.Names() {
			if _, err := f.ReadFloat32(n); err != nil {
				t.Errorf("%s: %s: %v", name, n, err)
			}
		}
	}
}

func TestTruncatedFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "t.safetensors")
	if err := Write(path, map[string]Tensor{"w": mustFromFloat32(t, F32, []int{4}, []float32{1, 2, 3, 4})}, nil); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	for _, cut := range []int{len(data) - 1, len(data) - 16, 12, 7} {
		if err := os.WriteFile(path, data[:cut], 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Open(path)
		if err == nil {
			t.Errorf("truncated to %d bytes: no error", cut)
		} else if !strings.Contains(err.Error(), path) {
			t.Errorf("error %q does not name the file", err)
		}
	}
	if _, err := Open(filepath.Join(dir, "missing.safetensors")); err == nil {
		t.Error("opening a missing file gave no error")
	}
}

func TestWriteErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "w.safetensors")
	bad := []map[string]Tensor{
		{"__metadata__": {DType: F32, Shape: []int{1}, Data: f32bytes(1)}},
		{"w": {DType: F32, Shape: []int{2}, Data: f32bytes(1)}},
		{"w": {DType: "F7", Shape: []int{1}, Data: f32bytes(1)}},
		{"w": {DType: F32, Shape: []int{-1}, Data: nil}},
		{"\xff": {DType: F32, Shape: []int{1}, Data: f32bytes(1)}},
	}
	for i, m := range bad {
		if err := Write(path, m, nil); err == nil {
			t.Errorf("case %d: no error", i)
		}
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("a failed Write created the file")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("failed writes left files: %v", entries)
	}
	if _, err := FromFloat32(I32, []int{1}, []float32{1}); err == nil {
		t.Error("FromFloat32 accepted I32")
	}
	if _, err := FromFloat32(F32, []int{3}, []float32{1}); err == nil {
		t.Error("FromFloat32 accepted a wrong element count")
	}
}

func writeShards(t *testing.T, dir string) {
	t.Helper()
	if err := Write(filepath.Join(dir, "model-00001-of-00002.safetensors"), map[string]Tensor{
		"a": mustFromFloat32(t, F32, []int{2}, []float32{1, 2}),
		"b": mustFromFloat32(t, BF16, []int{1}, []float32{3}),
	}, nil); err != nil {
		t.Fatal(err)
	}
	if err := Write(filepath.Join(dir, "model-00002-of-00002.safetensors"), map[string]Tensor{
		"c": mustFromFloat32(t, F16, []int{2, 1}, []float32{4, 5}),
	}, nil); err != nil {
		t.Fatal(err)
	}
}

func TestSharded(t *testing.T) {
	dir := t.TempDir()
	writeShards(t, dir)
	wm := map[string]string{"a": "model-00001-of-00002.safetensors", "b": "model-00001-of-00002.safetensors", "c": "model-00002-of-00002.safetensors"}
	if err := WriteIndex(filepath.Join(dir, IndexFileName), wm, 14); err != nil {
		t.Fatal(err)
	}
	s, err := OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.Names(); !reflect.DeepEqual(got, []string{"a", "b", "c"}) {
		t.Errorf("names = %v", got)
	}
	if got, _ := s.ReadFloat32("c"); !reflect.DeepEqual(got, []float32{4, 5}) {
		t.Errorf("c = %v", got)
	}
	if got, _ := s.ReadFloat32("b"); !reflect.DeepEqual(got, []float32{3}) {
		t.Errorf("b = %v", got)
	}
	if info, ok := s.Info("c"); !ok || info.DType != F16 || !reflect.DeepEqual(info.Shape, []int{2, 1}) {
		t.Errorf("info(c) = %+v", info)
	}
	if !strings.HasSuffix(s.FileOf("c"), "model-00002-of-00002.safetensors") {
		t.Errorf("FileOf(c) = %q", s.FileOf("c"))
	}
	if _, err := s.ReadFloat32("zz"); err == nil || !strings.Contains(err.Error(), `"zz"`) {
		t.Errorf("missing tensor: %v", err)
	}
}

func TestShardedErrors(t *testing.T) {
	cases := []struct {
		name  string
		index string
		want  []string
	}{
		{"missing shard", `{"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00001-of-00002.safetensors","c":"model-00003-of-00003.safetensors"}}`,
			[]string{`"model-00003-of-00003.safetensors"`, "missing"}},
		{"tensor not in shard", `{"weight_map":{"a":"model-00001-of-00002.safetensors","b":"model-00001-of-00002.safetensors","c":"model-00002-of-00002.safetensors","d":"model-00002-of-00002.safetensors"}}`,
			[]string{`"d"`, "no such tensor"}},
		{"wrong shard", `{"weight_map":{"a":"model-00002-of-00002.safetensors","b":"model-00001-of-00002.safetensors","c":"model-00002-of-00002.safetensors"}}`,
			[]string{`"a"`}},
		{"unlisted tensor", `{"weight_map":{"a":"model-00001-of-00002.safetensors","c":"model-00002-of-00002.safetensors"}}`,
			[]string{`"b"`, "does not list"}},
		{"escaping path", `{"weight_map":{"a":"../x.safetensors"}}`, []string{"not a file name inside"}},
		{"absolute path", `{"weight_map":{"a":"/etc/passwd"}}`, []string{"not a file name inside"}},
		{"no weight map", `{"metadata":{}}`, []string{"no weight_map"}},
		{"bad json", `{"weight_map":`, []string{"invalid JSON"}},
		{"non-string shard", `{"weight_map":{"a":1}}`, []string{`"a"`, "not a string"}},
		{"duplicate", `{"weight_map":{"a":"model-00001-of-00002.safetensors","a":"model-00001-of-00002.safetensors"}}`, []string{"duplicate"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			writeShards(t, dir)
			idx := filepath.Join(dir, IndexFileName)
			if err := os.WriteFile(idx, []byte(c.index), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := OpenIndex(idx)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range append(c.want, idx) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
	if _, err := OpenDir(t.TempDir()); err == nil || !strings.Contains(err.Error(), SingleFileName) {
		t.Errorf("empty dir: %v", err)
	}
}

func TestOpenFilesDuplicate(t *testing.T) {
	dir := t.TempDir()
	p1, p2 := filepath.Join(dir, "1.safetensors"), filepath.Join(dir, "2.safetensors")
	for _, p := range []string{p1, p2} {
		if err := Write(p, map[string]Tensor{"w": mustFromFloat32(t, F32, []int{1}, []float32{1})}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := OpenFiles(p1, p2); err == nil || !strings.Contains(err.Error(), `"w"`) {
		t.Errorf("duplicate across files: %v", err)
	}
}
