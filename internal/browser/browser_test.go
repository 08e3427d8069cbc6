package browser

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sinkscope/sinkscope/plots"
)

// needChromium skips without Chromium, or fails where $SINKSCOPE_REQUIRE_NOTEBOOKS=1 (make test).
func needChromium(t *testing.T) {
	t.Helper()
	if _, err := ExecPath(); err != nil {
		if os.Getenv("SINKSCOPE_REQUIRE_NOTEBOOKS") == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
}

func figure(t *testing.T) *plots.Figure {
	t.Helper()
	fig, err := plots.AttentionHeatmap([][]float32{{1, 0, 0}, {0.4, 0.6, 0}, {0.2, 0.3, 0.5}}, []string{"<s>", "a", "b"},
		plots.HeatmapOptions{Options: plots.Options{ID: "heat"}})
	if err != nil {
		t.Fatal(err)
	}
	return fig
}

func writePage(t *testing.T, html string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "page.html")
	if err := os.WriteFile(path, []byte(html), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// open runs Open with Chromium's profile under a directory of the test, and checks afterwards that
// no process of that Chromium is left.
func open(t *testing.T, path string, opt Options) (*Page, error, time.Duration) {
	t.Helper()
	// The allocator makes its temporary user-data-dir under $TMPDIR. It must be short: Chromium's
	// singleton socket path inside it has a length limit.
	tmp, err := os.MkdirTemp("", "cdp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	t.Setenv("TMPDIR", tmp)
	start := time.Now()
	p, err := Open(context.Background(), path, opt)
	took := time.Since(start)
	if left := processesUsing(tmp); len(left) > 0 {
		t.Errorf("Chromium processes left after Open returned: %s", strings.Join(left, "; "))
	}
	return p, err, took
}

// processesUsing returns the command lines of processes that name dir.
func processesUsing(dir string) []string {
	entries, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(cmdline, []byte(dir)) {
			out = append(out, e.Name()+": "+string(bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}))[:min(len(cmdline), 200)])
		}
	}
	return out
}

// A standalone page (plots.WriteHTML) draws; an endless animation-frame and timer loop on the page
// (what can keep Chromium's virtual time from running out) does not delay the check.
func TestOpenDrawsCharts(t *testing.T) {
	needChromium(t)
	if _, err := plots.EChartsJS(); err != nil {
		t.Skipf("ECharts not installed (scripts/setup.sh): %v", err)
	}
	line, err := plots.PositionLines([]int{0, 1, 2, 3}, []plots.Series{{Name: "layer 0", Values: []float64{0.9, 0.1, 0.05, 0.02}}},
		plots.LineOptions{Options: plots.Options{ID: "lines"}})
	if err != nil {
		t.Fatal(err)
	}
	var page bytes.Buffer
	if err := plots.WriteHTML(&page, figure(t), line); err != nil {
		t.Fatal(err)
	}
	html := page.String()
	end := strings.LastIndex(html, "</body>") // the bundle itself may hold the string
	html = html[:end] + "<script>setInterval(function () {}, 5); (function loop() { requestAnimationFrame(loop); })();</script>\n" + html[end:]
	p, err, took := open(t, writePage(t, html), Options{Charts: []string{"heat"}, Screenshot: true, Deadline: 60 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("settled in %s, Open returned after %s", p.Elapsed.Round(time.Millisecond), took.Round(time.Millisecond))
	if p.Drawn() != 2 || len(p.Charts) != 2 || p.Canvases < 2 {
		t.Errorf("drawn %d of %+v, %d canvases; want both charts drawn", p.Drawn(), p.Charts, p.Canvases)
	}
	img, err := png.Decode(bytes.NewReader(p.Screenshot))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if colored, colors := ColorStats(img); colored < 0.001 || colors < 16 {
		t.Errorf("no chart visible in the screenshot: %.2f%% coloured pixels, %d colours", 100*colored, colors)
	}
}

// A chart that ECharts does not draw fails Open with the chart named, soon after the page loaded
// when the page tells why, and at the deadline (with Chromium killed) when it does not.
func TestOpenNamesChartsNotDrawn(t *testing.T) {
	needChromium(t)
	lib, err := plots.EChartsJS()
	if err != nil {
		t.Skipf("ECharts not installed (scripts/setup.sh): %v", err)
	}
	fig := figure(t)
	option, err := fig.OptionJS()
	if err != nil {
		t.Fatal(err)
	}
	div := `<div id="heat" ` + plots.ChartAttr + `="heat" style="width:400px;height:300px"><svg></svg></div>`
	chart := div + plots.ChartScript("heat", option, "")
	withLib := func(js string) string { return "<script>" + js + "</script>" }
	// The charts that fail fast must return before the deadline (they do not wait for it); the
	// deadline is long enough that starting Chromium on a loaded machine (6.6 s seen) stays under it.
	const deadline = 20 * time.Second
	for _, tc := range []struct {
		name, body string
		charts     []string
		want       []string // in the error
		within     time.Duration
	}{
		{"no ECharts library", chart, nil, []string{"heat", "kept its static content", "window.echarts is not defined"}, deadline},
		{"truncated ECharts library", withLib(string(lib[:len(lib)/2])) + chart, nil,
			[]string{"heat", "kept its static content", "SyntaxError"}, deadline},
		{"chart script does not parse", withLib(string(lib)) + div + plots.ChartScript("heat", []byte("{series: [}"), ""), nil,
			[]string{"heat", "its script never ran", "SyntaxError"}, deadline},
		{"setOption throws", withLib(string(lib)) + div + plots.ChartScript("heat", []byte("{get series() { throw new Error('bad option'); }}"), ""), nil,
			[]string{"heat", "drawing threw", "bad option"}, deadline},
		{"chart missing", withLib(string(lib)) + chart, []string{"heat", "ghost"}, []string{"ghost", "no element with this id"}, deadline},
		{"never finishes", `<div id="heat" ` + plots.ChartAttr + `="heat" ` + plots.StateAttr + `="pending"></div>`, nil,
			[]string{"heat", "not drawn within 20s", `never fired "finished"`}, deadline + 15*time.Second},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			path := writePage(t, "<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body>"+tc.body+"</body></html>")
			p, err, took := open(t, path, Options{Charts: tc.charts, Deadline: deadline, Screenshot: true})
			t.Logf("Open returned after %s: %v", took.Round(time.Millisecond), err)
			if err == nil {
				t.Fatalf("Open succeeded: %+v", p.Charts)
			}
			for _, w := range append(tc.want, path) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("the error does not mention %q", w)
				}
			}
			if took > tc.within {
				t.Errorf("Open took %s, want under %s", took, tc.within)
			}
			if p == nil || p.Screenshot != nil {
				t.Errorf("want the page seen and no screenshot, got %+v", p)
			}
		})
	}
}

func TestOpenMissingFile(t *testing.T) {
	if _, err := Open(context.Background(), filepath.Join(t.TempDir(), "none.html"), Options{}); err == nil || !strings.Contains(err.Error(), "none.html") {
		t.Errorf("a missing file: %v", err)
	}
}
