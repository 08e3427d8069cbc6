package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"unicode/utf8"
	"unsafe"
)

// MaxHeaderSize is the largest JSON header accepted (the reference implementation's limit).
const MaxHeaderSize = 100_000_000

// metadataKey is the reserved header key holding free-form string metadata.
const metadataKey = "__metadata__"

// TensorInfo describes one tensor of a file.
type TensorInfo struct {
	Name  string
	DType DType
	Shape []int
	// Begin and End are the data_offsets: the tensor's byte range relative to the data section.
	Begin, End int64
}

// NumElements is the product of the dimensions (1 for a scalar).
func (t TensorInfo) NumElements() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// NumBytes is End − Begin.
func (t TensorInfo) NumBytes() int64 { return t.End - t.Begin }

// File is an open safetensors file whose header has been validated. Tensor data is read on demand.
// A File is safe for concurrent reads.
type File struct {
	name      string // for error messages: the path, or the name given to OpenReader
	r         io.ReaderAt
	closer    io.Closer
	dataStart int64 // 8 + header length
	metadata  map[string]string
	tensors   []TensorInfo // sorted by offset
	index     map[string]int
}

// Open opens and validates a safetensors file.
func Open(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	st, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	if !st.Mode().IsRegular() {
		fh.Close()
		return nil, fmt.Errorf("safetensors file %q: not a regular file", path)
	}
	f, err := OpenReader(fh, st.Size(), path)
	if err != nil {
		fh.Close()
		return nil, err
	}
	f.closer = fh
	return f, nil
}

// OpenReader validates the safetensors content of r, which holds size bytes. name is used in
// error messages. The returned File reads tensors from r; closing it does not close r.
func OpenReader(r io.ReaderAt, size int64, name string) (*File, error) {
	fail := func(format string, args ...any) (*File, error) {
		return nil, fmt.Errorf("safetensors file %q: %s", name, fmt.Sprintf(format, args...))
	}
	if size < 8 {
		return fail("file is %d bytes, too small for the 8-byte header length", size)
	}
	var lenBuf [8]byte
	if err := readFull(r, lenBuf[:], 0); err != nil {
		return fail("reading header length: %v", err)
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n > MaxHeaderSize {
		return fail("header length %d exceeds the %d-byte limit (corrupt or not a safetensors file)", n, MaxHeaderSize)
	}
	if int64(n) > size-8 {
		return fail("header length %d is larger than the file allows (%d bytes after the length field)", n, size-8)
	}
	header := make([]byte, n)
	if err := readFull(r, header, 8); err != nil {
		return fail("reading %d-byte header: %v", n, err)
	}
	h, err := parseHeader(header)
	if err != nil {
		return fail("%v", err)
	}
	dataSize := size - 8 - int64(n)
	if err := validateLayout(h.tensors, dataSize); err != nil {
		return fail("%v", err)
	}
	f := &File{
		name:      name,
		r:         r,
		dataStart: 8 + int64(n),
		metadata:  h.metadata,
		tensors:   h.tensors,
		index:     make(map[string]int, len(h.tensors)),
	}
	for i, t := range f.tensors {
		f.index[t.Name] = i
	}
	return f, nil
}

func readFull(r io.ReaderAt, buf []byte, off int64) error {
	n, err := r.ReadAt(buf, off)
	if n == len(buf) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return fmt.Errorf("short read: %d of %d bytes at offset %d (file truncated?)", n, len(buf), off)
	}
	return err
}

type parsedHeader struct {
	metadata map[string]string
	tensors  []TensorInfo
}

// parseHeader decodes the JSON header strictly: an object, no duplicate keys, string metadata,
// entries with exactly dtype, shape and data_offsets.
func parseHeader(header []byte) (*parsedHeader, error) {
	if !utf8.Valid(header) {
		return nil, errors.New("header is not valid UTF-8")
	}
	if len(header) == 0 || header[0] != '{' {
		return nil, errors.New("header does not start with '{' (not a JSON object)")
	}
	h := &parsedHeader{}
	err := walkObject(header, func(key string, value json.RawMessage) error {
		if key == metadataKey {
			md := map[string]string{}
			err := walkObject(value, func(k string, v json.RawMessage) error {
				var s string
				if err := json.Unmarshal(v, &s); err != nil {
					return fmt.Errorf("value of %q is not a string", k)
				}
				md[k] = s
				return nil
			})
			if err != nil {
				return fmt.Errorf("%s: %w", metadataKey, err)
			}
			h.metadata = md
			return nil
		}
		info, err := parseEntry(key, value)
		if err != nil {
			return fmt.Errorf("tensor %q: %w", key, err)
		}
		h.tensors = append(h.tensors, info)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("invalid header: %w", err)
	}
	return h, nil
}

// walkObject calls fn for every member of the JSON object in data, rejecting duplicate keys and
// anything after the object other than whitespace.
func walkObject(data []byte, fn func(key string, value json.RawMessage) error) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("invalid JSON: %v", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("expected a JSON object, got %v", tok)
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("invalid JSON: %v", err)
		}
		key, ok := tok.(string)
		if !ok {
			return fmt.Errorf("invalid JSON: expected an object key, got %v", tok)
		}
		if seen[key] {
			return fmt.Errorf("duplicate key %q", key)
		}
		seen[key] = true
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return fmt.Errorf("invalid JSON in the value of %q: %v", key, err)
		}
		if err := fn(key, value); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return fmt.Errorf("invalid JSON: %v", err)
	}
	if tok, err := dec.Token(); err != io.EOF {
		if err != nil {
			return fmt.Errorf("invalid JSON after the object: %v", err)
		}
		return fmt.Errorf("unexpected %v after the JSON object", tok)
	}
	return nil
}

func parseEntry(name string, value json.RawMessage) (TensorInfo, error) {
	info := TensorInfo{Name: name}
	var haveDType, haveShape, haveOffsets bool
	err := walkObject(value, func(key string, v json.RawMessage) error {
		switch key {
		case "dtype":
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return fmt.Errorf("dtype is not a string: %s", truncate(v))
			}
			if !DType(s).Known() {
				return fmt.Errorf("unknown dtype %q", s)
			}
			info.DType, haveDType = DType(s), true
		case "shape":
			dims, err := intArray(v)
			if err != nil {
				return fmt.Errorf("shape: %w", err)
			}
			for i, d := range dims {
				if d < 0 {
					return fmt.Errorf("shape %v has negative dimension %d at axis %d", dims, d, i)
				}
				if d > math.MaxInt {
					return fmt.Errorf("shape %v has dimension %d, too large", dims, d)
				}
			}
			info.Shape = make([]int, len(dims))
			for i, d := range dims {
				info.Shape[i] = int(d)
			}
			haveShape = true
		case "data_offsets":
			offs, err := intArray(v)
			if err != nil {
				return fmt.Errorf("data_offsets: %w", err)
			}
			if len(offs) != 2 {
				return fmt.Errorf("data_offsets must have 2 elements, got %d", len(offs))
			}
			if offs[0] < 0 || offs[1] < 0 {
				return fmt.Errorf("data_offsets %v are negative", offs)
			}
			if offs[0] > offs[1] {
				return fmt.Errorf("data_offsets [%d, %d]: begin is after end", offs[0], offs[1])
			}
			info.Begin, info.End, haveOffsets = offs[0], offs[1], true
		default:
			return fmt.Errorf("unknown field %q (expected dtype, shape, data_offsets)", key)
		}
		return nil
	})
	if err != nil {
		return info, err
	}
	switch {
	case !haveDType:
		return info, errors.New("missing dtype")
	case !haveShape:
		return info, errors.New("missing shape")
	case !haveOffsets:
		return info, errors.New("missing data_offsets")
	}
	if err := info.checkSize(); err != nil {
		return info, err
	}
	return info, nil
}

// checkSize checks that the byte range holds exactly numel × dtype size bytes, in either
// direction: a range larger than the shape needs would make the readers, which size their
// destination from the shape and their reads from the range, write past the destination.
func (t TensorInfo) checkSize() error {
	size := int64(t.DType.Size())
	if size == 0 {
		return fmt.Errorf("unknown dtype %q", string(t.DType))
	}
	if t.Begin < 0 || t.End < t.Begin {
		return fmt.Errorf("data_offsets [%d, %d] are not a byte range", t.Begin, t.End)
	}
	// numel × size, computed without overflow.
	want := size
	if slices.Contains(t.Shape, 0) {
		want = 0
	}
	for _, d := range t.Shape {
		if want == 0 {
			break
		}
		if d < 0 || want > math.MaxInt64/int64(d) {
			return fmt.Errorf("shape %v of %s overflows", t.Shape, t.DType)
		}
		want *= int64(d)
	}
	if got := t.End - t.Begin; got != want {
		return fmt.Errorf("data_offsets [%d, %d] span %d bytes but shape %v of %s needs %d",
			t.Begin, t.End, got, t.Shape, t.DType, want)
	}
	return nil
}

// intArray decodes a JSON array of integers (no fractions, no exponents, within int64).
func intArray(v json.RawMessage) ([]int64, error) {
	var raw []json.RawMessage
	if err := json.Unmarshal(v, &raw); err != nil || raw == nil {
		return nil, fmt.Errorf("expected an array of integers, got %s", truncate(v))
	}
	out := make([]int64, len(raw))
	for i, r := range raw {
		x, err := strconv.ParseInt(string(bytes.TrimSpace(r)), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("element %d (%s) is not an integer", i, truncate(r))
		}
		out[i] = x
	}
	return out, nil
}

func truncate(b []byte) string {
	const max = 64
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}

// validateLayout checks that the tensors, sorted by offset, tile [0, dataSize) exactly. It sorts
// tensors in place.
func validateLayout(tensors []TensorInfo, dataSize int64) error {
	sort.Slice(tensors, func(i, j int) bool {
		a, b := tensors[i], tensors[j]
		if a.Begin != b.Begin {
			return a.Begin < b.Begin
		}
		if a.End != b.End {
			return a.End < b.End
		}
		return a.Name < b.Name
	})
	var pos int64
	prev := ""
	for _, t := range tensors {
		if t.End > dataSize {
			return fmt.Errorf("tensor %q: data_offsets [%d, %d] go past the end of the %d-byte data section (file truncated?)",
				t.Name, t.Begin, t.End, dataSize)
		}
		if t.Begin < pos {
			return fmt.Errorf("tensor %q: data_offsets [%d, %d] overlap tensor %q, which ends at %d",
				t.Name, t.Begin, t.End, prev, pos)
		}
		if t.Begin > pos {
			return fmt.Errorf("tensor %q: data_offsets [%d, %d] leave a %d-byte hole at offset %d (tensors must cover the data section without holes)",
				t.Name, t.Begin, t.End, t.Begin-pos, pos)
		}
		pos = t.End
		prev = t.Name
	}
	if pos != dataSize {
		return fmt.Errorf("%d bytes after the last tensor end (offset %d) in the %d-byte data section: tensors must cover it exactly",
			dataSize-pos, pos, dataSize)
	}
	return nil
}

// Name is the path (or the name given to OpenReader).
func (f *File) Name() string { return f.name }

// Close releases the underlying file, if Open opened it.
func (f *File) Close() error {
	if f.closer == nil {
		return nil
	}
	err := f.closer.Close()
	f.closer = nil
	return err
}

// Metadata returns a copy of the __metadata__ map (empty if absent).
func (f *File) Metadata() map[string]string {
	m := make(map[string]string, len(f.metadata))
	for k, v := range f.metadata {
		m[k] = v
	}
	return m
}

// Names returns the tensor names, sorted.
func (f *File) Names() []string {
	names := make([]string, len(f.tensors))
	for i, t := range f.tensors {
		names[i] = t.Name
	}
	sort.Strings(names)
	return names
}

// Tensors returns the tensor descriptions in file (offset) order.
func (f *File) Tensors() []TensorInfo {
	out := make([]TensorInfo, len(f.tensors))
	for i, t := range f.tensors {
		t.Shape = append([]int(nil), t.Shape...)
		out[i] = t
	}
	return out
}

// Info returns the description of the named tensor.
func (f *File) Info(name string) (TensorInfo, bool) {
	i, ok := f.index[name]
	if !ok {
		return TensorInfo{}, false
	}
	t := f.tensors[i]
	t.Shape = append([]int(nil), t.Shape...)
	return t, true
}

// lookup returns the named tensor's description. Every reader goes through it, and it checks
// the size invariant again, so that no reader can index past its buffers even if a File's
// tensors were not validated by OpenReader.
func (f *File) lookup(name string) (TensorInfo, error) {
	i, ok := f.index[name]
	if !ok {
		return TensorInfo{}, fmt.Errorf("safetensors file %q: no tensor %q", f.name, name)
	}
	t := f.tensors[i]
	if err := t.checkSize(); err != nil {
		return TensorInfo{}, fmt.Errorf("safetensors file %q: tensor %q: %v", f.name, name, err)
	}
	return t, nil
}

// ReadRaw returns the tensor's bytes as stored (little-endian, row-major) and its description.
func (f *File) ReadRaw(name string) ([]byte, TensorInfo, error) {
	t, err := f.lookup(name)
	if err != nil {
		return nil, t, err
	}
	buf := make([]byte, t.NumBytes())
	if err := f.ReadRawInto(name, buf); err != nil {
		return nil, t, err
	}
	t.Shape = append([]int(nil), t.Shape...)
	return buf, t, nil
}

// ReadRawInto reads the tensor's stored bytes into dst, which must have exactly its byte size.
func (f *File) ReadRawInto(name string, dst []byte) error {
	t, err := f.lookup(name)
	if err != nil {
		return err
	}
	if int64(len(dst)) != t.NumBytes() {
		return fmt.Errorf("safetensors file %q: tensor %q has %d bytes, destination has %d", f.name, name, t.NumBytes(), len(dst))
	}
	if err := readFull(f.r, dst, f.dataStart+t.Begin); err != nil {
		return fmt.Errorf("safetensors file %q: reading tensor %q: %v", f.name, name, err)
	}
	return nil
}

// chunkBytes bounds the temporary buffer used while converting.
const chunkBytes = 4 << 20

// readChunks streams the tensor's stored bytes through fn in pieces holding whole elements;
// start is the index of the first element of the piece.
func (f *File) readChunks(t TensorInfo, fn func(src []byte, start int) error) error {
	size := int64(t.DType.Size())
	total := t.NumBytes()
	step := max(chunkBytes/size*size, size)
	buf := make([]byte, min(step, total))
	for off := int64(0); off < total; off += step {
		n := min(step, total-off)
		if err := readFull(f.r, buf[:n], f.dataStart+t.Begin+off); err != nil {
			return fmt.Errorf("safetensors file %q: reading tensor %q: %v", f.name, t.Name, err)
		}
		if err := fn(buf[:n], int(off/size)); err != nil {
			return err
		}
	}
	return nil
}

// nativeLittleEndian is true on little-endian hosts (x86-64, arm64), where a little-endian F32 or
// BF16 tensor's bytes are already the float32 or uint16 values in memory: ReadFloat32Into and
// ReadBFloat16Into then read the file straight into the destination (measured on a 2-core VM:
// a 1.35 GB BF16 checkpoint loaded at 0.55 GB/s through the per-element loop, which decoded each
// value with binary.LittleEndian). Big-endian hosts take the decoding path.
var nativeLittleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// readInto reads tensor t's bytes into dst (exactly t.NumBytes() long) with one positioned read.
func (f *File) readInto(t TensorInfo, dst []byte) error {
	if int64(len(dst)) != t.NumBytes() {
		return fmt.Errorf("safetensors file %q: tensor %q: %d bytes, destination %d", f.name, t.Name, t.NumBytes(), len(dst))
	}
	if len(dst) == 0 {
		return nil
	}
	if err := readFull(f.r, dst, f.dataStart+t.Begin); err != nil {
		return fmt.Errorf("safetensors file %q: reading tensor %q: %v", f.name, t.Name, err)
	}
	return nil
}

// ReadFloat32 reads the tensor converted to float32 (see DecodeFloat32 for the conversions).
func (f *File) ReadFloat32(name string) ([]float32, error) {
	t, err := f.lookup(name)
	if err != nil {
		return nil, err
	}
	dst := make([]float32, t.NumElements())
	if err := f.ReadFloat32Into(name, dst); err != nil {
		return nil, err
	}
	return dst, nil
}

// lookupFor returns the tensor's info, checking that a destination of n elements fits it exactly.
func (f *File) lookupFor(name string, n int) (TensorInfo, error) {
	t, err := f.lookup(name)
	if err != nil {
		return t, err
	}
	if n != t.NumElements() {
		return t, fmt.Errorf("safetensors file %q: tensor %q has %d elements, destination has %d", f.name, name, t.NumElements(), n)
	}
	return t, nil
}

// ReadFloat32Into reads the tensor converted to float32 into dst, which must have exactly as many
// elements as the tensor. The file is read in bounded chunks: no copy of the whole stored tensor
// is made.
func (f *File) ReadFloat32Into(name string, dst []float32) error {
	t, err := f.lookupFor(name, len(dst))
	if err != nil {
		return err
	}
	if t.DType == F32 && nativeLittleEndian { // the stored bytes are dst's: one read, no decoding
		return f.readInto(t, unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(dst))), 4*len(dst)))
	}
	size := t.DType.Size()
	return f.readChunks(t, func(src []byte, start int) error {
		n := len(src) / size
		if err := DecodeFloat32(t.DType, src, dst[start:start+n]); err != nil {
			return fmt.Errorf("safetensors file %q: tensor %q: %v", f.name, name, err)
		}
		return nil
	})
}

// ReadBFloat16Into reads the tensor as bfloat16 bits into dst (exactly one element per tensor
// element). BF16 data is copied as is; other dtypes go through float32 and are rounded to
// nearest, ties to even.
func (f *File) ReadBFloat16Into(name string, dst []uint16) error {
	t, err := f.lookupFor(name, len(dst))
	if err != nil {
		return err
	}
	if t.DType == BF16 && nativeLittleEndian { // the stored bytes are dst's: one read, no decoding
		return f.readInto(t, unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(dst))), 2*len(dst)))
	}
	size := t.DType.Size()
	var tmp []float32
	return f.readChunks(t, func(src []byte, start int) error {
		n := len(src) / size
		out := dst[start : start+n]
		if t.DType == BF16 {
			for i := range out {
				out[i] = binary.LittleEndian.Uint16(src[2*i:])
			}
			return nil
		}
		if cap(tmp) < n {
			tmp = make([]float32, n)
		}
		tmp = tmp[:n]
		if err := DecodeFloat32(t.DType, src, tmp); err != nil {
			return fmt.Errorf("safetensors file %q: tensor %q: %v", f.name, name, err)
		}
		for i, v := range tmp {
			out[i] = Float32ToBFloat16(v)
		}
		return nil
	})
}

// Tensor reads the named tensor as stored.
func (f *File) Tensor(name string) (Tensor, error) {
	data, t, err := f.ReadRaw(name)
	if err != nil {
		return Tensor{}, err
	}
	return Tensor{DType: t.DType, Shape: t.Shape, Data: data}, nil
}
