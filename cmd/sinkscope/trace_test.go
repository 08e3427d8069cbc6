package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// A span sums its runs and splits its wall time into device calls, copies to the host and the rest;
// the next span starts from zero.
func TestRunTraceSpans(t *testing.T) {
	var buf bytes.Buffer
	start := time.Now().Add(-10 * time.Second)
	tr := newRunTrace(&buf, start)
	tr.observe(transformer.RunStat{Started: start.Add(4 * time.Second), Compiled: 2, Calls: 1, CallSeconds: 3, CopySeconds: 1, ToHostBytes: 5e6})
	tr.observe(transformer.RunStat{Started: start.Add(8 * time.Second), Calls: 34, CallSeconds: 1, CopySeconds: 0.5, ToHostBytes: 2.5e6})
	tr.span("prepare")
	tr.span("figures")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d lines, want 2:\n%s", len(lines), buf.String())
	}
	for _, want := range []string{"trace prepare: 10.0s", "device calls 4.0s", "outputs to host 1.5s", "7.5 MB", "elsewhere 4.5s (4.0s before the first run)", "2 runs, 35 graph calls, 2 graphs compiled"} {
		if !strings.Contains(lines[0], want) {
			t.Errorf("first span lacks %q: %s", want, lines[0])
		}
	}
	if !strings.Contains(lines[1], "trace figures: 0.0s (no model runs)") {
		t.Errorf("second span: %s", lines[1])
	}

	// Overlapped runs: the sums, without an "elsewhere" that would be negative.
	buf.Reset()
	tr = newRunTrace(&buf, time.Now().Add(-2*time.Second))
	tr.observe(transformer.RunStat{Started: time.Now(), Compiled: 1, Calls: 1, CallSeconds: 1.5, CopySeconds: 0.5})
	tr.observe(transformer.RunStat{Started: time.Now(), Compiled: 1, Calls: 1, CallSeconds: 1.5, CopySeconds: 0.5})
	tr.spanOverlapped("findings")
	line := buf.String()
	for _, want := range []string{"trace findings: 2.0s wall", "overlapped", "device calls 3.0s", "outputs to host 1.0s", "2 runs, 2 graph calls, 2 graphs compiled"} {
		if !strings.Contains(line, want) {
			t.Errorf("overlapped span lacks %q: %s", want, line)
		}
	}
	if strings.Contains(line, "elsewhere") {
		t.Errorf("overlapped span has an elsewhere: %s", line)
	}
}
