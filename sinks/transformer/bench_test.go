package transformer

import (
	"testing"
)

// benchConfig is a small Llama-style model: 4 layers, d 128, 4 heads (2 kv heads), SwiGLU 512, vocab 512.
func benchConfig() *Config {
	return &Config{
		Family: Llama, VocabSize: 512, DModel: 128, NLayers: 4, NHeads: 4, NKVHeads: 2, DMLP: 512,
		MaxSeqLen: 256, Norm: RMSNorm, NormEps: 1e-6, Position: RoPE, RopeTheta: 10000,
		MLP: SwiGLU, Activation: "silu", BOSTokenID: -1,
	}
}

func benchForward(b *testing.B, opts ...Option) {
	cfg := benchConfig()
	m, err := NewRandom(testBackend(b), cfg, RandomInit{Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	const B, T = 8, 64
	toks := seqs(B, T, cfg.VocabSize)
	if _, err := m.Run(toks, opts...); err != nil { // compile outside the timed loop
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := m.Run(toks, opts...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(B*T*b.N)/b.Elapsed().Seconds(), "tokens/s")
}

// BenchmarkForwardFullCapture: every hook point of every layer copied back to the host.
func BenchmarkForwardFullCapture(b *testing.B) { benchForward(b, Capture("*")) }

// BenchmarkForwardPatterns: only the attention patterns (the common analysis case).
func BenchmarkForwardPatterns(b *testing.B) {
	benchForward(b, Capture("blocks.*.attn.hook_pattern"), NoLogits())
}

// BenchmarkForwardLogits: logits only.
func BenchmarkForwardLogits(b *testing.B) { benchForward(b) }
