package interventions

import (
	"fmt"
	"math"
	"testing"

	"github.com/sinkscope/sinkscope/datasets/batch"
	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// The interventions' sums are taken on the device (device.go); these capture-and-sum versions on
// the host, in float64, are their reference.

// columnScoresHost runs tokens in micro-batches, captures every layer's pattern, and returns the sink
// score of every column k < T−1 per layer ([layer][k]) and the head- and sequence-mean maps [q][k]
// of mapLayers.
func columnScoresHost(m *transformer.Model, tokens [][]int, batch int, mapLayers []int, opts ...transformer.Option) ([][]float64, [][][]float64, error) {
	L, T := m.Config.NLayers, len(tokens[0])
	if batch <= 0 {
		batch = 16
	}
	sums := make([][]float64, L) // [layer][k]
	counts := make([][]int, L)
	for l := range sums {
		sums[l], counts[l] = make([]float64, T-1), make([]int, T-1)
	}
	maps := make([][][]float64, len(mapLayers))
	for i := range maps {
		maps[i] = make([][]float64, T)
		for q := range maps[i] {
			maps[i][q] = make([]float64, T)
		}
	}
	summed := 0 // sequences × heads summed into the maps
	for _, mb := range microBatches(tokens, batch) {
		run := append([]transformer.Option{transformer.Capture("blocks.*.attn.hook_pattern"), transformer.NoLogits()}, opts...)
		r, err := m.Run(mb.Seqs, run...)
		if err != nil {
			return nil, nil, fmt.Errorf("sequences %d..%d: %w", mb.Lo, mb.Hi-1, err)
		}
		for l := 0; l < L; l++ {
			pat, err := r.Cache.Get("pattern", l) // [b, h, q, k]
			if err != nil {
				return nil, nil, err
			}
			pat = pat.Rows(mb.Real())
			if err := addColumns(sums[l], counts[l], pat); err != nil {
				return nil, nil, err
			}
			for i, ml := range mapLayers {
				if ml == l {
					addMap(maps[i], pat)
				}
			}
		}
		summed += mb.Real() * m.Config.NHeads
	}
	scores := make([][]float64, L)
	for l := range scores {
		scores[l] = divide(sums[l], counts[l])
	}
	for _, mp := range maps {
		for _, row := range mp {
			for j := range row {
				row[j] /= float64(summed)
			}
		}
	}
	return scores, maps, nil
}

// addMap adds every [q, k] slice of a pattern [b, h, q, k] into acc [q][k].
func addMap(acc [][]float64, pat *transformer.Activation) {
	T := pat.Shape[2]
	for bh := 0; bh < pat.Shape[0]*pat.Shape[1]; bh++ {
		base := bh * T * T
		for q := 0; q < T; q++ {
			for j := 0; j < T; j++ {
				acc[q][j] += float64(pat.Data[base+q*T+j])
			}
		}
	}
}

// observedColumnsHost is the sink score of every column k < T−1 at layer observe over all tokens.
func observedColumnsHost(m *transformer.Model, tokens [][]int, observe, batch int, opts []transformer.Option) ([]float64, error) {
	name := fmt.Sprintf("blocks.%d.attn.hook_pattern", observe)
	T := len(tokens[0])
	sums := make([]float64, T-1)
	counts := make([]int, T-1)
	for _, mb := range microBatches(tokens, batch) {
		r, err := m.Run(mb.Seqs, append([]transformer.Option{transformer.Capture(name), transformer.NoLogits()}, opts...)...)
		if err != nil {
			return nil, fmt.Errorf("sequences %d..%d: %w", mb.Lo, mb.Hi-1, err)
		}
		pat, err := r.Cache.Get(name) // [b, h, q, k]
		if err != nil {
			return nil, err
		}
		if err := addColumns(sums, counts, pat.Rows(mb.Real())); err != nil {
			return nil, err
		}
	}
	return divide(sums, counts), nil
}

// valueMeanHost averages attn.hook_v [b, p, g, dh] over sequences and positions in layers 0..L−1 and
// broadcasts kv head g to its query heads.
func valueMeanHost(m *transformer.Model, tokens [][]int, batchSize, L int) (*Mean, error) {
	cfg := m.Config
	H, G, dh := cfg.NHeads, cfg.KVHeads(), cfg.HeadDim()
	if batchSize <= 0 {
		batchSize = 16
	}
	names := make([]string, L)
	for l := range names {
		names[l] = fmt.Sprintf("blocks.%d.attn.hook_v", l)
	}
	sums := make([]float64, L*G*dh) // [l, g, dh]
	n := 0
	for _, mb := range microBatches(tokens, batchSize) {
		c, err := m.RunWithCache(mb.Seqs, names...)
		if err != nil {
			return nil, fmt.Errorf("value mean, sequences %d..%d: %w", mb.Lo, mb.Hi-1, err)
		}
		for l := 0; l < L; l++ {
			v := c.MustGet("v", l).Rows(mb.Real()) // [b, p, g, dh]
			if len(v.Shape) != 4 || v.Shape[2] != G || v.Shape[3] != dh {
				return nil, fmt.Errorf("value mean: layer %d hook_v has shape %v, want [b, p, %d, %d]", l, v.Shape, G, dh)
			}
			acc := sums[l*G*dh : (l+1)*G*dh]
			for i, x := range v.Data {
				acc[i%(G*dh)] += float64(x)
			}
			if l == 0 {
				n += v.Shape[0] * v.Shape[1]
			}
		}
	}
	return broadcastMean(sums, n, L, H, G, dh), nil
}

// The device sums agree with the host's capture-and-sum reference on a GQA model, with the last
// micro-batch padded (13 sequences in batches of 4): column scores and maps under a mask, the
// observed columns of an amplification run, and the value means of some and of all layers.
func TestDeviceSumsMatchHost(t *testing.T) {
	p, err := transformer.LookupPreset("tiny")
	if err != nil {
		t.Fatal(err)
	}
	cfg := p.Config
	cfg.NLayers, cfg.NKVHeads = 3, 2
	m, err := transformer.NewRandom(testBackend(t), &cfg, p.Init)
	if err != nil {
		t.Fatal(err)
	}
	const n, T, batchSize = 13, 20, 4
	toks, _ := batch.RandomTokens(n, T, cfg.VocabSize, 3)
	close := func(what string, got, want float64) {
		t.Helper()
		if math.Abs(got-want) > 1e-5*math.Max(1, math.Abs(want)) {
			t.Errorf("%s: device %.9g, host %.9g", what, got, want)
		}
	}

	data, dims, err := IsolateToken(5).Build(cfg.NLayers, T)
	if err != nil {
		t.Fatal(err)
	}
	mask := transformer.WithAttentionMask(data, dims...)
	mapLayers := []int{0, cfg.NLayers - 1}
	dev, devMaps, err := columnScores(m, toks, batchSize, mapLayers, mask)
	if err != nil {
		t.Fatal(err)
	}
	host, hostMaps, err := columnScoresHost(m, toks, batchSize, mapLayers, mask)
	if err != nil {
		t.Fatal(err)
	}
	for l := range host {
		for k := range host[l] {
			close(fmt.Sprintf("masked sink score, layer %d column %d", l, k), dev[l][k], host[l][k])
		}
	}
	for i := range hostMaps {
		for q := range hostMaps[i] {
			for k := range hostMaps[i][q] {
				close(fmt.Sprintf("map of layer %d [%d, %d]", mapLayers[i], q, k), devMaps[i][q][k], hostMaps[i][q][k])
			}
		}
	}

	a := Amplification{Point: AmplifyPoint, Layers: []int{0, 1}, Position: 4, Observe: 2, Lambdas: []float64{7}}
	mu, err := valueMeanHost(m, toks, batchSize, a.Observe)
	if err != nil {
		t.Fatal(err)
	}
	opts := a.options(T, cfg.NHeads, cfg.HeadDim(), 7, mu.Data[:a.Observe*cfg.NHeads*cfg.HeadDim()])
	obs, err := observedColumns(m, toks, a.Observe, batchSize, opts)
	if err != nil {
		t.Fatal(err)
	}
	obsHost, err := observedColumnsHost(m, toks, a.Observe, batchSize, opts)
	if err != nil {
		t.Fatal(err)
	}
	for k := range obsHost {
		close(fmt.Sprintf("amplified run, layer %d column %d", a.Observe, k), obs[k], obsHost[k])
	}

	for _, L := range []int{1, cfg.NLayers} {
		dev, err := valueMean(m, toks, batchSize, L)
		if err != nil {
			t.Fatal(err)
		}
		host, err := valueMeanHost(m, toks, batchSize, L)
		if err != nil {
			t.Fatal(err)
		}
		if dev.Tokens != n*T || host.Tokens != n*T || len(dev.Data) != len(host.Data) {
			t.Fatalf("%d layers: μ over %d / %d tokens with %d / %d values, want %d tokens", L, dev.Tokens, host.Tokens, len(dev.Data), len(host.Data), n*T)
		}
		for i := range host.Data {
			close(fmt.Sprintf("μ of %d layers, value %d", L, i), float64(dev.Data[i]), float64(host.Data[i]))
		}
	}
}
