package devstats

import (
	"fmt"
	"sync"

	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// Share makes the statistics of this package that run on m over tokens (the same slice) in
// micro-batches of batch read one run per micro-batch that computes all of rs, instead of a run
// each: build rs from the statistics' reduction constructors (SinkOnsetReductions,
// AtPositionReductions, EffectiveRankReductions). On a GPU every distinct run compiles its graphs
// — about a second per stage graph of a 7B model — so three statistics over one batch compile once.
// A statistic whose reductions are not all among rs (same ID at the same point), or that runs with
// extra inputs, runs on its own as before. The values are those of separate runs: the same forward
// pass and the same reductions, only more of them per graph (XLA may fuse differently, float32
// rounding). The run happens at the first statistic that reads it; its outputs (the reductions' per-
// sample sums, kilobytes to megabytes) stay in memory until stop is called. One share per model:
// a second Share on m replaces the first.
func Share(m *transformer.Model, tokens [][]int, batch int, rs ...transformer.Reduction) (stop func()) {
	sh := &share{tokens: tokens, batch: batch, rs: rs, has: map[string]bool{}}
	for _, r := range rs {
		sh.has[r.ID+"@"+r.Point] = true
	}
	sharesMu.Lock()
	shares[m] = sh
	sharesMu.Unlock()
	return func() {
		sharesMu.Lock()
		defer sharesMu.Unlock()
		if shares[m] == sh {
			delete(shares, m)
		}
	}
}

type share struct {
	tokens [][]int
	batch  int
	rs     []transformer.Reduction
	has    map[string]bool // "ID@Point" of rs

	mu      sync.Mutex
	results []*transformer.Result // one per micro-batch, once run
	real    []int
}

var (
	sharesMu sync.Mutex
	shares   = map[*transformer.Model]*share{}
)

// sharedFor returns m's share when it serves a run of rs over tokens in micro-batches of batch.
func sharedFor(m *transformer.Model, tokens [][]int, batch int, rs []transformer.Reduction) *share {
	sharesMu.Lock()
	sh := shares[m]
	sharesMu.Unlock()
	if sh == nil || sh.batch != batch || len(tokens) == 0 || len(tokens) != len(sh.tokens) || &tokens[0] != &sh.tokens[0] {
		return nil
	}
	for _, r := range rs {
		if !sh.has[r.ID+"@"+r.Point] {
			return nil
		}
	}
	return sh
}

// each calls fn with every micro-batch's result of the shared run, running it first if needed.
func (sh *share) each(m *transformer.Model, fn func(res *transformer.Result, real int) error) error {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.results == nil {
		var results []*transformer.Result
		var real []int
		err := runMicroBatches(m, sh.tokens, sh.batch, sh.rs, nil, func(res *transformer.Result, n int) error {
			results, real = append(results, res), append(real, n)
			return nil
		})
		if err != nil {
			return fmt.Errorf("the shared run of %d reductions: %w", len(sh.rs), err)
		}
		sh.results, sh.real = results, real
	}
	for i, res := range sh.results {
		if err := fn(res, sh.real[i]); err != nil {
			return err
		}
	}
	return nil
}
