package train

import (
	"fmt"
	"math"
	"sort"

	"github.com/sinkscope/sinkscope/datasets/bb"
	"github.com/sinkscope/sinkscope/datasets/docs"
	"github.com/sinkscope/sinkscope/datasets/encoders"
	"github.com/sinkscope/sinkscope/datasets/stream"
	"github.com/sinkscope/sinkscope/datasets/textstream"
	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// Preset is a named training recipe: the model, the optimizer and the data, for one seed.
type Preset struct {
	Name, Doc string
	// Recipe returns the options and the data stream for a seed (the seed draws the initial weights
	// and the data; the same seed always gives the same run).
	Recipe func(seed uint64) (Options, stream.Stream, error)
}

// presets are the built-in recipes.
var presets = map[string]Preset{
	"bb": {
		Name: "bb",
		Doc: "Bigram-Backcopy, 2 layers × 1 head, d 128, SwiGLU 512, RoPE, RMSNorm, 64 positions, batch 32, " +
			"AdamW lr 4e-3 (β 0.9/0.95, wd 0.1 on matrices), 100 warm-up steps, cosine to 10%, 800 steps: grows a BOS sink on CPU",
		Recipe: func(seed uint64) (Options, stream.Stream, error) {
			return bbRecipe(seed, 128, 512, 32, 800, 100, 4e-3)
		},
	},
	"brown-bytes": {
		Name: "brown-bytes",
		Doc: "the Brown corpus as bytes (BOS + document starts), 4 layers × 4 heads, d 128, SwiGLU 512, 128 positions, " +
			"batch 16, AdamW lr 3e-3, 50 warm-up steps, 600 steps: natural text on a CPU",
		Recipe: func(seed uint64) (Options, stream.Stream, error) {
			data, err := textstream.Open("brown", "bytes", textstream.Config{SeqLen: 128, Mode: textstream.DocStart, Seed: seed})
			if err != nil {
				return Options{}, nil, err
			}
			return textRecipe(seed, data, 4, 4, 128, 512, 16, 600, 50, 3e-3), data, nil
		},
	},
	"bb-compare": {
		Name: "bb-compare",
		Doc: "the bb recipe cut to 400 steps (50 warm-up), validation over 8 batches every 40 steps, sink statistics every 20: " +
			"the CPU preset of `sinkscope compare` (the baseline grows its BOS sink by step ~150; about a minute a run on 2 cores)",
		Recipe: func(seed uint64) (Options, stream.Stream, error) {
			o, data, err := bbRecipe(seed, 128, 512, 32, 400, 50, 4e-3)
			o.EvalEvery, o.EvalBatches, o.SinkEvery, o.SaveEvery, o.Keep = 40, 8, 20, 400, 1
			return o, data, err
		},
	},
	"brown-bytes-gpu": {
		Name: "brown-bytes-gpu",
		Doc: "the Brown corpus as bytes cut into its ~15k paragraphs (BOS + paragraph starts, 256 positions; whole files, " +
			"500 of them, were memorised within 400 steps), 6 layers × 6 heads, d 384, SwiGLU 1536, " +
			"batch 32, AdamW lr 2e-3, 100 warm-up steps, 1000 steps, bf16 matrix products: the GPU preset of `sinkscope compare` (minutes a run on one H200)",
		Recipe: func(seed uint64) (Options, stream.Stream, error) {
			data, err := brownParagraphs(256, seed)
			if err != nil {
				return Options{}, nil, err
			}
			o := textRecipe(seed, data, 6, 6, 384, 1536, 32, 1000, 100, 2e-3)
			o.BF16, o.EvalEvery, o.EvalBatches, o.SinkEvery, o.SaveEvery, o.Keep = true, 100, 8, 100, 1000, 1
			return o, data, nil
		},
	},
	"paper-152m": {
		Name: "paper-152m",
		Doc: "the paper's pre-training recipe shape: 12 layers × 12 heads, d 768, SwiGLU 3072, tied embeddings, RoPE, " +
			"random 1024-token windows without BOS of the Go source corpus (GPT-2 tokens; the largest offline corpus), " +
			"batch 60 in 5 micro-batches, AdamW (0.9, 0.95) wd 0.1, peak lr 1e-3, 2000 warm-up steps, cosine to 1e-4 at 40k steps, " +
			"clip 1, bf16 matrix products: for GPU budgets far beyond a CPU",
		Recipe: func(seed uint64) (Options, stream.Stream, error) {
			data, err := textstream.Open("gosrc", "gpt2", textstream.Config{SeqLen: 1024, Mode: textstream.Anywhere, Seed: seed})
			if err != nil {
				return Options{}, nil, err
			}
			const layers = 12
			cfg := transformer.Config{Family: transformer.Llama, VocabSize: data.Vocab(), DModel: 768, NLayers: layers, NHeads: 12,
				DMLP: 3072, MaxSeqLen: 1024, Norm: transformer.RMSNorm, NormEps: 1e-6, Position: transformer.RoPE, RopeTheta: 10000,
				MLP: transformer.SwiGLU, Activation: "silu", TiedEmbeddings: true, BOSTokenID: -1, EOSTokenID: -1}
			return Options{
				Model: cfg,
				Init:  transformer.RandomInit{Seed: seed, Std: 0.02, ResidualStd: 0.02 / math.Sqrt(2*layers)},
				Opt: AdamW{LR: 1e-3, MinLRFrac: 0.1, Warmup: 2000, Steps: 40000, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8,
					WeightDecay: 0.1, ClipNorm: 1},
				Batch: 60, Accum: 5, BF16: true,
				EvalEvery: 1000, EvalBatches: 8, SinkEvery: 500, SaveEvery: 1000, Keep: 2,
			}, data, nil
		},
	},
	"bb-tiny": {
		Name: "bb-tiny",
		Doc:  "the bb recipe on a tiny model (d 32, MLP 64, batch 8, 30 steps), for tests",
		Recipe: func(seed uint64) (Options, stream.Stream, error) {
			return bbRecipe(seed, 32, 64, 8, 30, 5, 4e-3)
		},
	},
}

// bbRecipe is the Bigram-Backcopy recipe at a size.
func bbRecipe(seed uint64, d, f, batch, steps, warmup int, lr float64) (Options, stream.Stream, error) {
	const layers, seqLen = 2, 64
	data, err := bb.NewStream(bb.DefaultTask(), seqLen, seed)
	if err != nil {
		return Options{}, nil, err
	}
	cfg := transformer.Config{Family: transformer.Llama, VocabSize: bb.Vocab, DModel: d, NLayers: layers, NHeads: 1, DMLP: f,
		MaxSeqLen: seqLen, Norm: transformer.RMSNorm, NormEps: 1e-6, Position: transformer.RoPE, RopeTheta: 10000,
		MLP: transformer.SwiGLU, Activation: "silu", BOSTokenID: bb.BOS, EOSTokenID: -1}
	return Options{
		Model: cfg,
		Init:  transformer.RandomInit{Seed: seed, Std: 0.02, ResidualStd: 0.02 / math.Sqrt(2*layers)},
		Opt: AdamW{LR: lr, MinLRFrac: 0.1, Warmup: warmup, Steps: steps, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8,
			WeightDecay: 0.1, ClipNorm: 1},
		Batch: batch, Accum: 1,
		EvalEvery: max(steps/10, 1), EvalBatches: 4, SinkEvery: max(steps/30, 1), SaveEvery: max(steps/5, 1), Keep: 2,
	}, data, nil
}

// textRecipe is a Llama-style recipe for a text stream.
func textRecipe(seed uint64, data stream.Stream, layers, heads, d, f, batch, steps, warmup int, lr float64) Options {
	cfg := transformer.Config{Family: transformer.Llama, VocabSize: data.Vocab(), DModel: d, NLayers: layers, NHeads: heads, DMLP: f,
		MaxSeqLen: data.SeqLen(), Norm: transformer.RMSNorm, NormEps: 1e-6, Position: transformer.RoPE, RopeTheta: 10000,
		MLP: transformer.SwiGLU, Activation: "silu", BOSTokenID: data.BOS(), EOSTokenID: -1}
	return Options{
		Model: cfg,
		Init:  transformer.RandomInit{Seed: seed, Std: 0.02, ResidualStd: 0.02 / math.Sqrt(float64(2*layers))},
		Opt: AdamW{LR: lr, MinLRFrac: 0.1, Warmup: warmup, Steps: steps, Beta1: 0.9, Beta2: 0.95, Eps: 1e-8,
			WeightDecay: 0.1, ClipNorm: 1},
		Batch: batch, Accum: 1,
		EvalEvery: max(steps/10, 1), EvalBatches: 4, SinkEvery: max(steps/30, 1), SaveEvery: max(steps/5, 1), Keep: 2,
	}
}

// brownParagraphs is the Brown corpus as bytes, one document per paragraph group of at most 256
// bytes (docs.Chunk), in DocStart windows of seqLen: every window starts with BOS and a paragraph,
// ~15k starts where whole files give 500. Validation holds out paragraphs, not files.
func brownParagraphs(seqLen int, seed uint64) (*textstream.Stream, error) {
	ds, err := docs.Brown()
	if err != nil {
		return nil, err
	}
	return textstream.New(docs.Chunk(ds, 256), encoders.Bytes{}, textstream.Config{SeqLen: seqLen, Mode: textstream.DocStart, Seed: seed, Corpus: "Brown paragraphs"})
}

// LookupPreset returns a preset by name, or an error listing the known ones.
func LookupPreset(name string) (Preset, error) {
	p, ok := presets[name]
	if !ok {
		return Preset{}, fmt.Errorf("unknown training preset %q; known presets: %v", name, PresetNames())
	}
	return p, nil
}

// PresetNames lists the presets.
func PresetNames() []string {
	names := make([]string, 0, len(presets))
	for n := range presets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
