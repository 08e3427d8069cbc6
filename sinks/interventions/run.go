package interventions

import (
	"fmt"
	"time"

	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// SinkScore is the sink score of column k in an attention pattern [b, h, q, k]: the mean over
// sequences, heads and queries i > k of A[i, k]. It needs k < T−1.
func SinkScore(pattern *transformer.Activation, k int) (float64, error) {
	sum, n, err := columnSum(pattern, k)
	if err != nil {
		return 0, err
	}
	return sum / float64(n), nil
}

// columnSum sums A[b, h, i, k] over b, h and i > k, and counts the terms.
func columnSum(pattern *transformer.Activation, k int) (float64, int, error) {
	if err := checkPattern(pattern); err != nil {
		return 0, 0, err
	}
	s := pattern.Shape
	B, H, T := s[0], s[1], s[2]
	if k < 0 || k >= T-1 {
		return 0, 0, fmt.Errorf("%s: sink column %d needs a later query: want 0 ≤ k < %d for %d positions", pattern.Name, k, T-1, T)
	}
	var sum float64
	for bh := 0; bh < B*H; bh++ {
		base := bh * T * T // pattern[b, h] as [q, k]
		for i := k + 1; i < T; i++ {
			sum += float64(pattern.Data[base+i*T+k])
		}
	}
	return sum, B * H * (T - k - 1), nil
}

// checkPattern checks that an activation is an attention pattern [b, h, q, k].
func checkPattern(pattern *transformer.Activation) error {
	if s := pattern.Shape; len(s) != 4 || s[2] != s[3] {
		return fmt.Errorf("%s: shape %v, want a pattern [b, h, q, k]", pattern.Name, s)
	}
	return nil
}

// addColumns adds columnSum of every column k < T−1 of pattern [b, h, q, k] into sums[k] and
// counts[k] (both of length T−1).
func addColumns(sums []float64, counts []int, pattern *transformer.Activation) error {
	if err := checkPattern(pattern); err != nil {
		return err
	}
	if T := pattern.Shape[2]; len(sums) != T-1 {
		return fmt.Errorf("%s: %d positions, want %d", pattern.Name, T, len(sums)+1)
	}
	for k := range sums {
		s, n, err := columnSum(pattern, k)
		if err != nil {
			return err
		}
		sums[k] += s
		counts[k] += n
	}
	return nil
}

// divide is sums[i] / counts[i].
func divide(sums []float64, counts []int) []float64 {
	out := make([]float64, len(sums))
	for i := range sums {
		out[i] = sums[i] / float64(counts[i])
	}
	return out
}

// checkTargets checks target tokens of T-token sequences: each in [0, T−1) (a later query must
// read it), no repeats.
func checkTargets(targets []int, T int) error {
	seen := map[int]bool{}
	for _, k := range targets {
		if k < 0 || k >= T-1 {
			return fmt.Errorf("target position %d is out of range [0, %d) for %d-token sequences (a later query must read it)", k, T-1, T)
		}
		if seen[k] {
			return fmt.Errorf("target position %d is listed twice", k)
		}
		seen[k] = true
	}
	return nil
}

// MaskResult is the outcome of RunMask: the sink score of column K per layer without and with the
// mask, and head-mean attention maps for figures.
type MaskResult struct {
	Mask   Mask      `json:"mask"`
	K      int       `json:"k"`
	Before []float64 `json:"before"` // per layer, unmodified run, column K
	After  []float64 `json:"after"`  // per layer, masked run, column K
	// Columns are all columns read (RunMaskColumns; K is the first); ColumnsBefore[i] and
	// ColumnsAfter[i] are column Columns[i]'s sink score per layer. Empty for RunMask.
	Columns       []int       `json:"columns,omitempty"`
	ColumnsBefore [][]float64 `json:"columns_before,omitempty"`
	ColumnsAfter  [][]float64 `json:"columns_after,omitempty"`
	// MapLayers are the layers of the maps (first, middle, last; fewer in models of under three
	// layers); MapsBefore[i] and MapsAfter[i]
	// are layer MapLayers[i]'s attention [q][k] averaged over heads and sequences.
	MapLayers  []int         `json:"map_layers"`
	MapsBefore [][][]float64 `json:"maps_before"`
	MapsAfter  [][][]float64 `json:"maps_after"`
	Seconds    float64       `json:"seconds"`
}

// RunMask runs tokens through m without and with the mask, in micro-batches of at most batch
// sequences (0: 16), and reads the sink score of column k in every layer.
func RunMask(m *transformer.Model, tokens [][]int, mask Mask, k, batch int) (*MaskResult, error) {
	return runMask(m, tokens, mask, []int{k}, batch)
}

// RunMaskColumns is RunMask reading several columns ks (e.g. several isolated tokens at once,
// beyond the paper): K, Before and After are ks[0]'s, and Columns* hold every column's scores.
func RunMaskColumns(m *transformer.Model, tokens [][]int, mask Mask, ks []int, batch int) (*MaskResult, error) {
	if len(ks) == 0 {
		return nil, fmt.Errorf("RunMaskColumns: no column to read")
	}
	return runMask(m, tokens, mask, ks, batch)
}

// runMask runs tokens without and with the mask and reads columns ks in every layer.
func runMask(m *transformer.Model, tokens [][]int, mask Mask, ks []int, batch int) (*MaskResult, error) {
	start := time.Now()
	if len(tokens) == 0 {
		return nil, fmt.Errorf("RunMask: no token sequences")
	}
	L, T := m.Config.NLayers, len(tokens[0])
	data, dims, err := mask.Build(L, T)
	if err != nil {
		return nil, err
	}
	for _, k := range ks {
		if k < 0 || k >= T-1 {
			return nil, fmt.Errorf("RunMask: sink column %d needs a later query: want 0 ≤ k < %d for %d-token sequences", k, T-1, T)
		}
	}
	mapLayers := []int{0}
	for _, l := range []int{L / 2, L - 1} {
		if l != mapLayers[len(mapLayers)-1] {
			mapLayers = append(mapLayers, l)
		}
	}
	res := &MaskResult{Mask: mask, K: ks[0], MapLayers: mapLayers}
	// The unmodified run adds an all-zero mask of the same shape: scores + 0 are the scores
	// exactly, and both runs share one compiled graph (one compilation of the whole model fewer;
	// on a GPU each is seconds for a 7B model).
	before, maps, err := columnScores(m, tokens, batch, mapLayers, transformer.WithAttentionMask(make([]float32, len(data)), dims...))
	if err != nil {
		return nil, fmt.Errorf("unmodified run: %w", err)
	}
	res.MapsBefore = maps
	after, maps, err := columnScores(m, tokens, batch, mapLayers, transformer.WithAttentionMask(data, dims...))
	if err != nil {
		return nil, fmt.Errorf("masked run (%s): %w", mask, err)
	}
	res.MapsAfter = maps
	res.Before, res.After = column(before, ks[0]), column(after, ks[0])
	if len(ks) > 1 {
		res.Columns = append([]int(nil), ks...)
		for _, k := range ks {
			res.ColumnsBefore = append(res.ColumnsBefore, column(before, k))
			res.ColumnsAfter = append(res.ColumnsAfter, column(after, k))
		}
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// column is scores[l][k] for every layer l.
func column(scores [][]float64, k int) []float64 {
	out := make([]float64, len(scores))
	for l := range scores {
		out[l] = scores[l][k]
	}
	return out
}

// columnScores is the sink score of every column k < T−1 per layer ([layer][k]) and the head- and
// sequence-mean maps [q][k] of mapLayers, over tokens in micro-batches, summed on the device.
func columnScores(m *transformer.Model, tokens [][]int, batch int, mapLayers []int, opts ...transformer.Option) ([][]float64, [][][]float64, error) {
	return columnScoresAt(m, tokens, batch, nil, mapLayers, opts...)
}

// microBatches is transformer.MicroBatches with 0 meaning micro-batches of 16: a whole sweep runs one
// batch shape and compiles one graph whatever the number of sequences (200 sequences in
// micro-batches of 16 would otherwise compile a second graph for the last 8). Readers take only the
// real rows of each output (Activation.Rows).
func microBatches(tokens [][]int, size int) []transformer.Span {
	if size <= 0 {
		size = 16
	}
	return transformer.MicroBatches(tokens, size)
}
