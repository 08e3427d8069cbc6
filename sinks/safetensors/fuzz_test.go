package safetensors

import (
	"bytes"
	"reflect"
	"testing"
)

// FuzzOpen checks that arbitrary bytes never make the reader panic: a file is either rejected
// with an error, or every tensor in it can be read and survives an Encode/OpenReader round trip.
func FuzzOpen(f *testing.F) {
	var buf bytes.Buffer
	vals := []float32{1, -2, 0.5, 3}
	seed := map[string]Tensor{}
	for _, d := range []DType{F32, BF16, F16, F64} {
		x, _ := FromFloat32(d, []int{2, 2}, vals)
		seed["t_"+string(d)] = x
	}
	seed["i8"] = Tensor{DType: I8, Shape: []int{3}, Data: []byte{1, 0x80, 0xff}}
	seed["scalar"] = Tensor{DType: U16, Shape: []int{}, Data: []byte{1, 2}}
	seed["empty"] = Tensor{DType: BF16, Shape: []int{0, 7}}
	if err := Encode(&buf, seed, map[string]string{"k": "v"}); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	f.Add(build(`{}`, nil))
	f.Add(build(`{"__metadata__":{"a":"b"}}   `, nil))
	f.Add(build(`{"w":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}}`, []byte{0x38, 0x7f}))
	f.Add(build(`{"w":{"dtype":"BOOL","shape":[1,1],"data_offsets":[0,1]}}`, []byte{1}))
	f.Add(build(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, f32bytes(1, 2)))
	f.Add(build(`{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}`, f32bytes(1)))
	f.Add(build(`{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}`, f32bytes(1)))
	f.Add(build(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}`, f32bytes(1)))
	// data_offsets spanning more bytes than shape × dtype needs (here 8 for 4, 8 for 0).
	f.Add(build(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,8]}}`, f32bytes(1, 2)))
	f.Add(build(`{"e":{"dtype":"F32","shape":[0],"data_offsets":[0,8]}}`, f32bytes(1, 2)))
	f.Add(build(`{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{}}`, f32bytes(1)))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, '{', '}'})
	f.Add([]byte{2, 0, 0, 0, 0, 0, 0, 0, '{', '}'})
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := OpenReader(bytes.NewReader(data), int64(len(data)), "fuzz")
		if err != nil {
			return
		}
		got := map[string]Tensor{}
		for _, name := range file.Names() {
			info, ok := file.Info(name)
			if !ok {
				t.Fatalf("Names lists %q but Info does not know it", name)
			}
			raw, _, err := file.ReadRaw(name)
			if err != nil {
				t.Fatalf("ReadRaw(%q) on a validated file: %v", name, err)
			}
			if int64(len(raw)) != info.NumBytes() || len(raw) != info.NumElements()*info.DType.Size() {
				t.Fatalf("%q: %d bytes, info %+v", name, len(raw), info)
			}
			if _, err := file.ReadFloat32(name); err != nil {
				t.Fatalf("ReadFloat32(%q): %v", name, err)
			}
			if err := file.ReadBFloat16Into(name, make([]uint16, info.NumElements())); err != nil {
				t.Fatalf("ReadBFloat16Into(%q): %v", name, err)
			}
			got[name] = Tensor{DType: info.DType, Shape: info.Shape, Data: raw}
		}
		var out bytes.Buffer
		if err := Encode(&out, got, file.Metadata()); err != nil {
			t.Fatalf("re-encoding a valid file: %v", err)
		}
		again, err := OpenReader(bytes.NewReader(out.Bytes()), int64(out.Len()), "again")
		if err != nil {
			t.Fatalf("re-encoded file does not open: %v", err)
		}
		if !reflect.DeepEqual(again.Names(), file.Names()) || !reflect.DeepEqual(again.Metadata(), file.Metadata()) {
			t.Fatalf("round trip changed names or metadata")
		}
		for name, want := range got {
			tn, err := again.Tensor(name)
			if err != nil || tn.DType != want.DType || len(tn.Shape) != len(want.Shape) || !bytes.Equal(tn.Data, want.Data) {
				t.Fatalf("round trip changed %q: %+v vs %+v (%v)", name, tn, want, err)
			}
		}
	})
}
