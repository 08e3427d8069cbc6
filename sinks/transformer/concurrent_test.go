package transformer

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/gomlx/gomlx/core/tensors"

	. "github.com/gomlx/gomlx/core/graph"
)

// Runs called from several goroutines at once return what the same runs return one after another,
// bit for bit (the same compiled graphs on the same backend), whole and stage by stage; each graph
// is built once however many runs ask for it at the same time, and counted once over the runs
// (RunStat.Compiled and CountCompiled sum to Compilations).
func TestConcurrentRunsMatchSequential(t *testing.T) {
	cfg := tinyConfig()
	toks := seqs(3, 9, cfg.VocabSize)
	sums := Reduction{Point: "blocks.*.attn.hook_pattern", ID: "pattern-sums", Fn: func(_ *HookContext, x *Node) []*Node {
		return []*Node{ReduceSum(x, 0)}
	}}
	scale := Hook{Point: "blocks.0.hook_mlp_out", ID: "scale", Fn: func(ctx *HookContext, x *Node) *Node {
		return Mul(x, ctx.Input("lambda"))
	}}
	// Six distinct run structures, each asked for three times.
	runs := [][]Option{
		{},
		{Capture("blocks.*.attn.hook_pattern")},
		{Capture("blocks.1.hook_resid_post"), NoLogits()},
		{Reduce(sums), NoLogits()},
		{WithHooks(scale), WithInput("lambda", 2.0)},
		{WithHooks(scale), WithInput("lambda", 0.5), Capture("blocks.0.hook_mlp_out"), Reduce(sums)},
	}
	for _, layered := range []bool{false, true} {
		t.Run(fmt.Sprintf("layered=%v", layered), func(t *testing.T) {
			seq := tinyModel(t, cfg)
			seq.SetLayered(layered)
			want := make([]*Result, len(runs))
			for i, opts := range runs {
				r, err := seq.Run(toks, opts...)
				if err != nil {
					t.Fatalf("run %d: %v", i, err)
				}
				want[i] = r
			}

			m := tinyModel(t, cfg)
			m.SetLayered(layered)
			var mu sync.Mutex
			compiled := 0
			m.ObserveRuns(func(s RunStat) {
				mu.Lock()
				compiled += s.Compiled
				mu.Unlock()
			})
			const copies = 3
			got := make([]*Result, len(runs)*copies)
			errs := make([]error, len(got))
			counted := make([]int, len(got)) // CountCompiled, per run
			var wg sync.WaitGroup
			for k := range got {
				wg.Add(1)
				go func() {
					defer wg.Done()
					got[k], errs[k] = m.Run(toks, slices.Concat(runs[k%len(runs)], []Option{CountCompiled(&counted[k])})...)
				}()
			}
			wg.Wait()
			for k, r := range got {
				if errs[k] != nil {
					t.Fatalf("run %d: %v", k, errs[k])
				}
				sameResult(t, fmt.Sprintf("run %d", k), want[k%len(runs)], r)
			}
			sum := 0
			for _, n := range counted {
				sum += n
			}
			if n := m.Compilations(); n != seq.Compilations() || compiled != n || sum != n {
				t.Errorf("concurrent runs built %d graphs, counted %d in their RunStats and %d with CountCompiled; one after another %d", n, compiled, sum, seq.Compilations())
			}
		})
	}
}

// sameResult fails unless b has exactly a's logits, captures and reductions.
func sameResult(t *testing.T, name string, a, b *Result) {
	t.Helper()
	same := func(what string, x, y *Activation) {
		if (x == nil) != (y == nil) {
			t.Fatalf("%s: %s present in one result only", name, what)
		}
		if x == nil {
			return
		}
		if len(x.Data) != len(y.Data) {
			t.Fatalf("%s: %s has %d values, want %d", name, what, len(y.Data), len(x.Data))
		}
		for i := range x.Data {
			if x.Data[i] != y.Data[i] {
				t.Fatalf("%s: %s[%d] = %v, want %v", name, what, i, y.Data[i], x.Data[i])
			}
		}
	}
	same("logits", a.Logits, b.Logits)
	if len(a.Cache.acts) != len(b.Cache.acts) {
		t.Fatalf("%s: %d captures, want %d", name, len(b.Cache.acts), len(a.Cache.acts))
	}
	for n, x := range a.Cache.acts {
		same(n, x, b.Cache.acts[n])
	}
	if len(a.Reduced) != len(b.Reduced) {
		t.Fatalf("%s: %d reductions, want %d", name, len(b.Reduced), len(a.Reduced))
	}
	for id, byHook := range a.Reduced {
		for h, outs := range byHook {
			if len(outs) != len(b.Reduced[id][h]) {
				t.Fatalf("%s: reduction %s at %s has %d outputs, want %d", name, id, h, len(b.Reduced[id][h]), len(outs))
			}
			for i := range outs {
				same(fmt.Sprintf("reduction %s at %s [%d]", id, h, i), outs[i], b.Reduced[id][h][i])
			}
		}
	}
}

// The first runs of a fresh model, some whole and some stage by stage, at once: whichever copies a
// weight to the device first, the others wait for it (a whole run used to copy the weights inside
// GoMLX without the model's lock while a staged run read them: a data race, and on backends whose
// device memory is the host's a panic). Their results equal those of the same runs one by one.
func TestConcurrentFirstRunsWholeAndStaged(t *testing.T) {
	cfg := tinyConfig()
	toks := seqs(2, 7, cfg.VocabSize)
	runs := [][]Option{{}, {Capture("blocks.0.hook_resid_post"), NoLogits()}} // staged (every block), whole (one block)
	seq := tinyModel(t, cfg)
	seq.SetLayeredFrom(2)
	want := make([]*Result, len(runs))
	for i, opts := range runs {
		r, err := seq.Run(toks, opts...)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = r
	}
	for range 5 { // fresh models: the first uploads race only sometimes
		m := tinyModel(t, cfg)
		m.SetLayeredFrom(2)
		got := make([]*Result, 6)
		errs := make([]error, len(got))
		var wg sync.WaitGroup
		for k := range got {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got[k], errs[k] = m.Run(toks, runs[k%len(runs)]...)
			}()
		}
		wg.Wait()
		for k := range got {
			if errs[k] != nil {
				t.Fatalf("run %d: %v", k, errs[k])
			}
			sameResult(t, fmt.Sprintf("run %d", k), want[k%len(runs)], got[k])
		}
	}
}

// An output that cannot be read fails the run with its name: the capture, the logits, or the
// reduction with its hook point and output index.
func TestCollectErrorNamesOutput(t *testing.T) {
	cfg := tinyConfig()
	mk := func() *tensors.Tensor { return tensors.FromFlatDataAndDimensions([]float32{1, 2}, 2) }
	slots := []reducedSlot{{id: "a", hook: "blocks.0.hook_resid_pre", n: 1}, {id: "b", hook: "blocks.1.hook_resid_pre", n: 2}}
	for bad, want := range map[int]string{
		0: "blocks.0.hook_z",
		1: "logits",
		2: `reduction "a" at blocks.0.hook_resid_pre, output 0`,
		4: `reduction "b" at blocks.1.hook_resid_pre, output 1`,
	} {
		outs := []*tensors.Tensor{mk(), mk(), mk(), mk(), mk()}
		outs[bad].FinalizeAll()
		err := newResult(cfg).collect(cfg, outs, []string{"blocks.0.hook_z"}, true, slots, func(s string) string { return s }, false)
		if err == nil || !strings.Contains(err.Error(), "reading "+want+" (") {
			t.Errorf("output %d unreadable: error %v, want it to name %s", bad, err, want)
		}
	}
}
