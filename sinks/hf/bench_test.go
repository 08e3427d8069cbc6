package hf_test

import (
	"testing"

	"github.com/gomlx/compute/dtypes"

	"github.com/sinkscope/sinkscope/sinks/hf"
	"github.com/sinkscope/sinkscope/sinks/safetensors"
	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// BenchmarkLoadWeights reads a 0.54 GB BF16 Llama checkpoint (d 2048, 4 layers, MLP 5504, vocab
// 32000, tied, 256 MB shards, written once by Save) from the page cache, as bfloat16 (the --bf16 path of
// reproduce: a positioned read straight into each tensor) and as float32 (widened per element).
// MB/s is of the file's bytes.
func BenchmarkLoadWeights(b *testing.B) {
	p, err := transformer.LookupPreset("small")
	if err != nil {
		b.Fatal(err)
	}
	cfg := p.Config
	cfg.DModel, cfg.NLayers, cfg.NHeads, cfg.NKVHeads, cfg.DMLP, cfg.VocabSize = 2048, 4, 16, 0, 5504, 32000
	dir := b.TempDir()
	w := transformer.RandomWeights(&cfg, transformer.RandomInit{Seed: 1, Std: 0.02})
	if err := hf.Save(dir, &cfg, w, &hf.SaveOptions{DType: safetensors.BF16, MaxShardBytes: 256 << 20}); err != nil {
		b.Fatal(err)
	}
	var fileBytes int64
	for _, x := range w {
		fileBytes += int64(x.Shape().Size() * 2)
	}
	for _, c := range []struct {
		name  string
		dtype dtypes.DType
	}{{"bf16", dtypes.BFloat16}, {"f32", dtypes.Float32}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(fileBytes)
			for b.Loop() {
				if _, err := hf.LoadWeights(dir, &cfg, c.dtype); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
