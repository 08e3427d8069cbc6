package transformer

import (
	"fmt"
	"math"
	"sort"
)

// Preset is a named architecture with its random initialisation, for models trained or studied
// from scratch.
type Preset struct {
	Name   string
	Doc    string
	Config Config
	Init   RandomInit
}

// Presets are the built-in architectures. "paper-152m" is the pre-training model of the paper's
// HeadNorm experiment (Llama-style, d 768, 12 layers, 12 heads, SwiGLU 3072, tied embeddings, vocab
// 50304, init N(0, 0.02²) with residual projections N(0, (0.02/√(2L))²)).
var Presets = map[string]Preset{
	"paper-152m": {
		Name: "paper-152m",
		Doc:  "the paper's 152M Llama-style pre-training model at initialisation",
		Config: Config{Family: Llama, VocabSize: 50304, DModel: 768, NLayers: 12, NHeads: 12, DMLP: 3072,
			MaxSeqLen: 4096, Norm: RMSNorm, NormEps: 1e-6, Position: RoPE, RopeTheta: 10000, MLP: SwiGLU,
			Activation: "silu", TiedEmbeddings: true, BOSTokenID: -1, EOSTokenID: -1},
		Init: RandomInit{Seed: 1337, Std: 0.02, ResidualStd: 0.02 / math.Sqrt(2*12)},
	},
	"small": {
		Name: "small",
		Doc:  "a small Llama-style model (6 layers, d 256, 8 heads) for CPU experiments",
		Config: Config{Family: Llama, VocabSize: 4096, DModel: 256, NLayers: 6, NHeads: 8, DMLP: 1024,
			MaxSeqLen: 1024, Norm: RMSNorm, NormEps: 1e-6, Position: RoPE, RopeTheta: 10000, MLP: SwiGLU,
			Activation: "silu", TiedEmbeddings: true, BOSTokenID: -1, EOSTokenID: -1},
		Init: RandomInit{Seed: 1337, Std: 0.02, ResidualStd: 0.02 / math.Sqrt(2*6)},
	},
	"gpu-28m": {
		Name: "gpu-28m",
		Doc:  "a 28M-parameter Llama-style model (8 layers, d 512, 8 heads, SwiGLU 1536, vocab 8192, tied) for GPU training benchmarks",
		Config: Config{Family: Llama, VocabSize: 8192, DModel: 512, NLayers: 8, NHeads: 8, DMLP: 1536,
			MaxSeqLen: 1024, Norm: RMSNorm, NormEps: 1e-6, Position: RoPE, RopeTheta: 10000, MLP: SwiGLU,
			Activation: "silu", TiedEmbeddings: true, BOSTokenID: -1, EOSTokenID: -1},
		Init: RandomInit{Seed: 1337, Std: 0.02, ResidualStd: 0.02 / math.Sqrt(2*8)},
	},
	"tiny": {
		Name: "tiny",
		Doc:  "a tiny Llama-style model (2 layers, d 64, 4 heads) for tests",
		Config: Config{Family: Llama, VocabSize: 256, DModel: 64, NLayers: 2, NHeads: 4, DMLP: 128,
			MaxSeqLen: 256, Norm: RMSNorm, NormEps: 1e-6, Position: RoPE, RopeTheta: 10000, MLP: SwiGLU,
			Activation: "silu", BOSTokenID: -1, EOSTokenID: -1},
		Init: RandomInit{Seed: 1337, Std: 0.02},
	},
}

// LookupPreset returns a copy of a preset, or an error listing the known names.
func LookupPreset(name string) (Preset, error) {
	p, ok := Presets[name]
	if !ok {
		names := make([]string, 0, len(Presets))
		for n := range Presets {
			names = append(names, n)
		}
		sort.Strings(names)
		return Preset{}, fmt.Errorf("unknown preset %q; known presets: %v", name, names)
	}
	return p, nil
}
