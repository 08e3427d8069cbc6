// Package safetensors reads and writes the safetensors tensor file format.
//
// A safetensors file is
//
//	8 bytes    N, the header length, unsigned 64-bit little-endian
//	N bytes    a UTF-8 JSON object: {"__metadata__": {string: string}, "name": {"dtype": "F32",
//	           "shape": [2, 3], "data_offsets": [begin, end]}, ...}, optionally padded with spaces
//	rest       the data section; offsets are relative to its start, tensors are row-major,
//	           little-endian and packed
//
// Open validates the whole header before returning: the header length must fit in the file and
// be at most MaxHeaderSize, the JSON must be an object with no duplicate keys, every dtype must be
// known, every shape non-negative, every tensor's byte range must be exactly numel × dtype size,
// and the tensors, sorted by offset, must tile the data section exactly (no overlaps, no holes,
// no trailing bytes), as the format requires. Tensors are read lazily with ReadAt, so reading one
// tensor of a multi-GB file reads only that tensor's bytes.
//
// The readers check the size invariant again before reading, so no reader indexes past its
// buffers even for a File whose header was not validated.
//
// This reader is kept rather than github.com/gomlx/go-huggingface/models/safetensors (v0.4.1),
// which checks a tensor only when it is read, and then only its byte count: it loads headers with
// duplicate tensor names (the last wins), overlapping or holed ranges, trailing bytes, extra
// data_offsets elements, unknown fields and non-standard dtype names ("f32", "Float32"); it reads
// header bytes as weights for negative offsets, accepts a shape whose byte size overflows to 0,
// and panics on data_offsets past the end of the file or on a negative dimension. Its shard
// index is not checked against the shards' headers.
//
// Set gives one view over several files, in particular the shards of a checkpoint listed by a
// model.safetensors.index.json file.
//
// Write produces files with a deterministic layout and replaces the destination atomically.
package safetensors
