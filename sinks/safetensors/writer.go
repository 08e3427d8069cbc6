package safetensors

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"unicode/utf8"

	"github.com/sinkscope/sinkscope/internal/atomicfile"
)

// Tensor is a tensor's stored form: dtype, shape and little-endian row-major bytes.
type Tensor struct {
	DType DType
	Shape []int
	Data  []byte
}

// FromFloat32 encodes values with the given shape as a tensor of dtype d (F32, F64, BF16 or F16).
func FromFloat32(d DType, shape []int, values []float32) (Tensor, error) {
	n := 1
	for _, s := range shape {
		if s < 0 {
			return Tensor{}, fmt.Errorf("safetensors: negative dimension in shape %v", shape)
		}
		n *= s
	}
	if n != len(values) {
		return Tensor{}, fmt.Errorf("safetensors: shape %v needs %d values, got %d", shape, n, len(values))
	}
	data, err := EncodeFloat32(d, values)
	if err != nil {
		return Tensor{}, err
	}
	return Tensor{DType: d, Shape: append([]int(nil), shape...), Data: data}, nil
}

// Float32s decodes the tensor's data to float32.
func (t Tensor) Float32s() ([]float32, error) {
	if !t.DType.Known() {
		return nil, fmt.Errorf("safetensors: unknown dtype %q", string(t.DType))
	}
	out := make([]float32, len(t.Data)/t.DType.Size())
	return out, DecodeFloat32(t.DType, t.Data, out)
}

func (t Tensor) check(name string) error {
	if name == metadataKey {
		return fmt.Errorf("safetensors: %q is reserved and cannot be a tensor name", name)
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("safetensors: tensor name %q is not valid UTF-8", name)
	}
	if !t.DType.Known() {
		return fmt.Errorf("safetensors: tensor %q: unknown dtype %q", name, string(t.DType))
	}
	n := int64(t.DType.Size())
	for _, d := range t.Shape {
		if d < 0 {
			return fmt.Errorf("safetensors: tensor %q: negative dimension in shape %v", name, t.Shape)
		}
		n *= int64(d)
	}
	if n != int64(len(t.Data)) {
		return fmt.Errorf("safetensors: tensor %q: shape %v of %s needs %d bytes, data has %d", name, t.Shape, t.DType, n, len(t.Data))
	}
	return nil
}

// Encode writes tensors and metadata in safetensors format to w.
//
// The layout is deterministic: tensors are ordered by decreasing element size, then by name (so
// every tensor starts at an offset aligned to its element size), the header lists __metadata__
// first with sorted keys and then the tensors in data order, and it is padded with spaces to a
// multiple of 8 bytes.
func Encode(w io.Writer, tensors map[string]Tensor, metadata map[string]string) error {
	for k, v := range metadata {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return fmt.Errorf("safetensors: metadata entry %q: %q is not valid UTF-8", k, v)
		}
	}
	names := make([]string, 0, len(tensors))
	for name, t := range tensors {
		if err := t.check(name); err != nil {
			return err
		}
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := tensors[names[i]], tensors[names[j]]
		if a.DType.Size() != b.DType.Size() {
			return a.DType.Size() > b.DType.Size()
		}
		return names[i] < names[j]
	})

	var hdr bytes.Buffer
	hdr.WriteByte('{')
	first := true
	sep := func() {
		if !first {
			hdr.WriteByte(',')
		}
		first = false
	}
	str := func(s string) {
		b, _ := json.Marshal(s) // marshalling a string cannot fail
		hdr.Write(b)
	}
	if len(metadata) > 0 {
		keys := make([]string, 0, len(metadata))
		for k := range metadata {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		sep()
		str(metadataKey)
		hdr.WriteString(":{")
		for i, k := range keys {
			if i > 0 {
				hdr.WriteByte(',')
			}
			str(k)
			hdr.WriteByte(':')
			str(metadata[k])
		}
		hdr.WriteByte('}')
	}
	var offset int64
	for _, name := range names {
		t := tensors[name]
		sep()
		str(name)
		fmt.Fprintf(&hdr, `:{"dtype":%q,"shape":[`, string(t.DType))
		for i, d := range t.Shape {
			if i > 0 {
				hdr.WriteByte(',')
			}
			fmt.Fprintf(&hdr, "%d", d)
		}
		end := offset + int64(len(t.Data))
		fmt.Fprintf(&hdr, `],"data_offsets":[%d,%d]}`, offset, end)
		offset = end
	}
	hdr.WriteByte('}')
	for hdr.Len()%8 != 0 {
		hdr.WriteByte(' ')
	}
	if hdr.Len() > MaxHeaderSize {
		return fmt.Errorf("safetensors: header of %d bytes exceeds the %d-byte limit", hdr.Len(), MaxHeaderSize)
	}

	var lenBuf [8]byte
	binary.LittleEndian.PutUint64(lenBuf[:], uint64(hdr.Len()))
	if _, err := w.Write(lenBuf[:]); err != nil {
		return err
	}
	if _, err := w.Write(hdr.Bytes()); err != nil {
		return err
	}
	for _, name := range names {
		if _, err := w.Write(tensors[name].Data); err != nil {
			return err
		}
	}
	return nil
}

// Write writes tensors and metadata to path in safetensors format (see Encode for the layout).
// It is atomic: the data goes to a temporary file in the same directory, which is synced and then
// renamed over path, so readers see either the old file or the complete new one.
func Write(path string, tensors map[string]Tensor, metadata map[string]string) (err error) {
	for name, t := range tensors { // fail before creating anything
		if err := t.check(name); err != nil {
			return err
		}
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("safetensors: writing %q: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriterSize(tmp, 1<<20)
	if err = Encode(bw, tensors, metadata); err != nil {
		return fmt.Errorf("safetensors: writing %q: %w", path, err)
	}
	if err = bw.Flush(); err != nil {
		return fmt.Errorf("safetensors: writing %q: %w", path, err)
	}
	if err = tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("safetensors: writing %q: %w", path, err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("safetensors: syncing %q: %w", path, err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("safetensors: writing %q: %w", path, err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("safetensors: writing %q: %w", path, err)
	}
	// Make the rename durable; not all platforms can sync a directory, so this is best effort.
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// WriteIndex writes a model.safetensors.index.json file for a sharded checkpoint (weight_map:
// tensor name → shard file name) atomically. totalSize is recorded in its metadata.
func WriteIndex(path string, weightMap map[string]string, totalSize int64) error {
	doc := struct {
		Metadata  map[string]int64  `json:"metadata"`
		WeightMap map[string]string `json:"weight_map"`
	}{map[string]int64{"total_size": totalSize}, weightMap}
	data, err := json.MarshalIndent(doc, "", "  ") // maps marshal with sorted keys
	if err != nil {
		return err
	}
	return atomicfile.Write(path, append(data, '\n'))
}
