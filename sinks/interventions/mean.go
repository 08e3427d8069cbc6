package interventions

import (
	"fmt"
	"sync"

	. "github.com/gomlx/gomlx/core/graph"

	"github.com/sinkscope/sinkscope/datasets/batch"
	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// Mean is μ, the per-dimension mean of the value projection attn.hook_v over random tokens, per
// layer and query head: Data is [Layers, Heads, HeadDim]. With grouped-query attention (G key/value
// heads) query head h gets the mean of kv head h/(Heads/G).
type Mean struct {
	Layers, Heads, HeadDim int
	Data                   []float32 // [l, h, dh]
	Tokens                 int       // tokens averaged over
	Spec                   MeanSpec  // the spec when made by ValueMean
}

// MeanSpec says which random tokens μ is estimated on: N sequences × SeqLen uniform tokens from
// the vocabulary minus Exclude (e.g. BOS), drawn with Seed. The paper uses ~51k tokens.
type MeanSpec struct {
	N, SeqLen int
	Seed      uint64
	Exclude   []int
	Batch     int // sequences per forward pass (0: 16)
	// Layers limits μ to layers 0..Layers−1 (0: every layer): the forward stops there, so an
	// amplification observed at layer L needs only L of the model's layers.
	Layers int
}

var (
	meanMu    sync.Mutex
	meanCache = map[*transformer.Model]map[string]*Mean{}
)

// ValueMean estimates μ on the random tokens of spec for every layer (see ValueMeanOn: once per
// model and token batch).
func ValueMean(m *transformer.Model, spec MeanSpec) (*Mean, error) {
	tokens, err := batch.RandomTokens(spec.N, spec.SeqLen, m.Config.VocabSize, spec.Seed, spec.Exclude...)
	if err != nil {
		return nil, fmt.Errorf("value mean: %w", err)
	}
	return valueMeanOn(m, tokens, spec.Batch, spec.Layers, spec)
}

// ValueMeanOn estimates μ of every layer on the given token sequences (e.g. a findings random
// batch) in micro-batches of at most batchSize sequences (0: 16). It is computed once per model and
// token batch (keyed by the ids' SHA-256): later calls return the cached Mean, which callers must not
// modify.
func ValueMeanOn(m *transformer.Model, tokens [][]int, batchSize int) (*Mean, error) {
	return valueMeanOn(m, tokens, batchSize, 0, MeanSpec{})
}

// ValueMeanUpTo is ValueMeanOn for layers 0..layers−1 only (at least that many: a cached Mean of
// more layers is returned as it is). The forward stops after layer layers−1, so the paper's sweep
// (observed at layer 2) reads 2 of paper-152m's 12 layers.
func ValueMeanUpTo(m *transformer.Model, tokens [][]int, batchSize, layers int) (*Mean, error) {
	if layers < 1 || layers > m.Config.NLayers {
		return nil, fmt.Errorf("value mean: %d layers requested, the model has %d", layers, m.Config.NLayers)
	}
	return valueMeanOn(m, tokens, batchSize, layers, MeanSpec{})
}

// valueMeanOn is ValueMeanOn for the first layers layers (0: all), recording spec in a newly
// computed Mean.
func valueMeanOn(m *transformer.Model, tokens [][]int, batchSize, layers int, spec MeanSpec) (*Mean, error) {
	if len(tokens) == 0 {
		return nil, fmt.Errorf("value mean: no token sequences")
	}
	if layers <= 0 || layers > m.Config.NLayers {
		layers = m.Config.NLayers
	}
	key := batch.IDsHash(tokens)
	meanMu.Lock()
	defer meanMu.Unlock()
	if mu := meanCache[m][key]; mu != nil && mu.Layers >= layers {
		return mu, nil
	}
	mu, err := valueMean(m, tokens, batchSize, layers)
	if err != nil {
		return nil, err
	}
	mu.Spec = spec
	if meanCache[m] == nil {
		meanCache[m] = map[string]*Mean{}
	}
	meanCache[m][key] = mu
	return mu, nil
}

// valueSumsID names valueMean's reduction: each sequence's attn.hook_v summed over positions.
const valueSumsID = "interventions.value-sums"

// valueMean averages attn.hook_v [b, p, g, dh] over sequences and positions in layers 0..L−1 and
// broadcasts kv head g to its query heads. Each sequence's sum over positions is taken on the
// device ([b, g, dh] per layer leaves it, not the values); the host adds the real rows in float64.
func valueMean(m *transformer.Model, tokens [][]int, batchSize, L int) (*Mean, error) {
	cfg := m.Config
	H, G, dh := cfg.NHeads, cfg.KVHeads(), cfg.HeadDim()
	T := len(tokens[0])
	// One ID at layers 0..L−1 (not a glob over all: the forward then stops after layer L−1).
	var rs []transformer.Reduction
	for l := range L {
		rs = append(rs, transformer.Reduction{Point: fmt.Sprintf("blocks.%d.attn.hook_v", l), ID: valueSumsID,
			Fn: func(_ *transformer.HookContext, x *Node) []*Node { return []*Node{ReduceSum(x, 1)} }}) // [b, p, g, dh] → [b, g, dh]
	}
	sums := make([]float64, L*G*dh) // [l, g, dh]
	n := 0
	for _, mb := range microBatches(tokens, batchSize) {
		r, err := m.Run(mb.Seqs, transformer.Reduce(rs...), transformer.NoLogits())
		if err != nil {
			return nil, fmt.Errorf("value mean, sequences %d..%d: %w", mb.Lo, mb.Hi-1, err)
		}
		for l := 0; l < L; l++ {
			v, err := reduced(r, valueSumsID, fmt.Sprintf("blocks.%d.attn.hook_v", l), mb.Real(), G, dh)
			if err != nil {
				return nil, fmt.Errorf("value mean: %w", err)
			}
			acc := sums[l*G*dh : (l+1)*G*dh]
			for i, x := range v.Data {
				acc[i%(G*dh)] += float64(x)
			}
		}
		n += mb.Real() * T
	}
	return broadcastMean(sums, n, L, H, G, dh), nil
}

// broadcastMean divides the value sums [l, g, dh] by n tokens and gives query head h the mean of kv
// head h/(H/G).
func broadcastMean(sums []float64, n, L, H, G, dh int) *Mean {
	mu := &Mean{Layers: L, Heads: H, HeadDim: dh, Data: make([]float32, L*H*dh), Tokens: n}
	per := H / G // query heads per kv head
	for l := 0; l < L; l++ {
		for h := 0; h < H; h++ {
			src := sums[(l*G+h/per)*dh : (l*G+h/per+1)*dh]
			dst := mu.Data[(l*H+h)*dh : (l*H+h+1)*dh]
			for j := range dst {
				dst[j] = float32(src[j] / float64(n))
			}
		}
	}
	return mu
}
