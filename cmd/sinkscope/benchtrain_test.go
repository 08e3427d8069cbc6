package main

import (
	"math"
	"testing"

	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// The FLOPs estimate behind bench --train's TFLOP/s, worked by hand for paper-152m (d 768, 12
// layers, SwiGLU 3072, vocab 50304, tied): per layer 4·768² + 3·768·3072 = 9,437,184 weights,
// 12 layers 113,246,208, plus the tied 50304 × 768 unembedding 38,633,472: N = 151,879,680;
// 6N = 911,278,080 and 12·L·d·T at T 1024 = 113,246,208.
func TestTrainFLOPsPerToken(t *testing.T) {
	p, err := transformer.LookupPreset("paper-152m")
	if err != nil {
		t.Fatal(err)
	}
	cfg := p.Config
	if !cfg.TiedEmbeddings {
		t.Fatalf("paper-152m is not tied any more; update the hand count")
	}
	if got, want := trainFLOPsPerToken(&cfg, 1024), 911278080.0+113246208.0; math.Abs(got-want) > 0.5 {
		t.Errorf("paper-152m at T 1024: %.0f FLOPs/token, want %.0f", got, want)
	}
	// Untied: the embedding lookup is no product, the unembedding is.
	cfg.TiedEmbeddings = false
	if got, want := trainFLOPsPerToken(&cfg, 1024), 911278080.0+113246208.0; math.Abs(got-want) > 0.5 {
		t.Errorf("untied: %.0f FLOPs/token, want %.0f (the unembedding replaces the tied matrix)", got, want)
	}
}
