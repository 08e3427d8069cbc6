package train

import (
	"testing"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	gtrain "github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/loss"

	"github.com/sinkscope/sinkscope/sinks/backend"
	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// BenchmarkTrainStep is one AdamW update (forward, cross-entropy, backward, clipping, optimizer) of
// the model of sinks/transformer's BenchmarkForward* (4 layers, d 128, 4 heads with 2 kv heads,
// SwiGLU 512, vocab 512) on a batch of 8 × 64 tokens, with the trainer built as Run builds it
// (float32, no accumulation).
func BenchmarkTrainStep(b *testing.B) {
	cfg := transformer.Config{
		Family: transformer.Llama, VocabSize: 512, DModel: 128, NLayers: 4, NHeads: 4, NKVHeads: 2, DMLP: 512,
		MaxSeqLen: 256, Norm: transformer.RMSNorm, NormEps: 1e-6, Position: transformer.RoPE, RopeTheta: 10000,
		MLP: transformer.SwiGLU, Activation: "silu", BOSTokenID: -1,
	}
	be, err := backend.New()
	if err != nil {
		b.Fatal(err)
	}
	store := model.NewStore()
	weights := transformer.RandomWeights(&cfg, transformer.RandomInit{Seed: 1})
	for _, name := range cfg.ParamNames() {
		if _, err := store.CreateVariable("/"+name, weights[name]); err != nil {
			b.Fatal(err)
		}
	}
	// A schedule long enough that every measured step runs at a nonzero learning rate.
	opt := AdamW{LR: 1e-3, MinLRFrac: 0.1, Warmup: 10, Steps: 1 << 30, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8,
		WeightDecay: 0.1, ClipNorm: 1}
	trainer := gtrain.NewTrainer(be, store,
		func(scope *model.Scope, tokens *Node) *Node {
			return transformer.ForwardMixed(scope.Store(), &cfg, tokens, dtypes.Float32)
		},
		loss.SparseCategoricalCrossEntropyLogits, &opt, nil, nil)

	const B, T = 8, 64
	windows := make([][]int, B) // T+1 tokens: inputs and the labels shifted by one
	for i := range windows {
		windows[i] = make([]int, T+1)
		for p := range windows[i] {
			windows[i][p] = (i*7 + p*13 + 3) % cfg.VocabSize
		}
	}
	batch, err := toBatch(windows)
	if err != nil {
		b.Fatal(err)
	}
	step := func() {
		ms, err := trainer.TrainStep(batch)
		if err != nil {
			b.Fatal(err)
		}
		for _, t := range ms {
			t.FinalizeAll()
		}
	}
	step() // compile outside the timed loop
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		step()
	}
	b.ReportMetric(float64(B*T*b.N)/b.Elapsed().Seconds(), "tokens/s")
}
