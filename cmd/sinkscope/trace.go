package main

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// runTrace sums a model's runs (transformer.RunStat) over a span of a command — a step of
// reproduce — and prints where the span's time went: graphs compiled, device calls, reading outputs
// to the host, and everything else (host-side statistics, loading).
type runTrace struct {
	w io.Writer

	mu             sync.Mutex
	runs, compiled int
	calls          int
	call, copy     float64
	bytes          int64
	first          time.Time // start of the span's first run
	since          time.Time // start of the span
}

func newRunTrace(w io.Writer, start time.Time) *runTrace { return &runTrace{w: w, since: start} }

func (t *runTrace) observe(s transformer.RunStat) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.runs == 0 {
		t.first = s.Started
	}
	t.runs++
	t.compiled += s.Compiled
	t.calls += s.Calls
	t.call += s.CallSeconds
	t.copy += s.CopySeconds
	t.bytes += s.ToHostBytes
}

// span prints the span that ends now under name and starts the next.
func (t *runTrace) span(name string) { t.end(name, false) }

// spanOverlapped is span for a span whose runs overlapped (reproduce --overlap): their device
// calls and copies are summed over runs in flight at the same time, so they may add up to more
// than the span's wall clock, and nothing is "elsewhere".
func (t *runTrace) spanOverlapped(name string) { t.end(name, true) }

func (t *runTrace) end(name string, overlapped bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	wall := now.Sub(t.since).Seconds()
	line := fmt.Sprintf("  trace %s: %.1fs", name, wall)
	if t.runs > 0 && overlapped {
		line += fmt.Sprintf(" wall; its runs overlapped, summed over them: device calls %.1fs (compiling, uploading, launching) + outputs to host %.1fs (waiting for the device; %.1f MB); %d runs, %d graph calls, %d graphs compiled",
			t.call, t.copy, float64(t.bytes)/1e6, t.runs, t.calls, t.compiled)
	} else if t.runs > 0 {
		line += fmt.Sprintf(" = device calls %.1fs (compiling, uploading, launching) + outputs to host %.1fs (waiting for the device; %.1f MB) + elsewhere %.1fs (%.1fs before the first run); %d runs, %d graph calls, %d graphs compiled",
			t.call, t.copy, float64(t.bytes)/1e6, wall-t.call-t.copy, t.first.Sub(t.since).Seconds(), t.runs, t.calls, t.compiled)
	} else {
		line += " (no model runs)"
	}
	fmt.Fprintln(t.w, line)
	t.runs, t.compiled, t.calls, t.call, t.copy, t.bytes, t.since = 0, 0, 0, 0, 0, 0, now
}
