// Package notebooks holds sinkscope's GoNB notebooks (one per finding) and the test that executes
// each of them headless through Jupyter and the real GoNB kernel, exports it to HTML and opens that
// HTML in headless Chromium.
package notebooks

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sinkscope/sinkscope/internal/browser"
)

// requireTools fails (in CI, where SINKSCOPE_REQUIRE_NOTEBOOKS=1) or skips when a tool is missing.
func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			msg := fmt.Sprintf("%s not found (scripts/setup.sh installs it): %v", tool, err)
			if os.Getenv("SINKSCOPE_REQUIRE_NOTEBOOKS") == "1" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
}

// notebookCell is the part of an .ipynb cell the checks read.
type notebookCell struct {
	ID       string `json:"id"`
	CellType string `json:"cell_type"`
	Metadata struct {
		Execution map[string]string `json:"execution"` // nbclient's timestamps
	} `json:"metadata"`
	Source  any `json:"source"`
	Outputs []struct {
		OutputType string         `json:"output_type"`
		Name       string         `json:"name"`
		Text       any            `json:"text"`
		Data       map[string]any `json:"data"`
		EName      string         `json:"ename"`
		EValue     string         `json:"evalue"`
	} `json:"outputs"`
}

type notebook struct {
	Cells    []notebookCell `json:"cells"`
	Metadata struct {
		Sinkscope struct {
			MinCharts int `json:"min_charts"`
		} `json:"sinkscope"`
	} `json:"metadata"`
}

func joined(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []any:
		var b strings.Builder
		for _, s := range x {
			fmt.Fprint(&b, s)
		}
		return b.String()
	}
	return ""
}

func run(t *testing.T, timeout time.Duration, dir, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	// Headless: the live-widget demo must not wait for a browser.
	cmd.Env = append(os.Environ(), "SINKSCOPE_WIDGET_WAIT=0")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	t.Logf("%s %s: %.1fs", name, strings.Join(args, " "), time.Since(start).Seconds())
	if err != nil {
		t.Fatalf("%s %v failed: %v\n%s", name, args, err, tail(out.String(), 4000))
	}
	return out.String()
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

var chartDiv = regexp.MustCompile(`data-sinkscope-chart="([^"]+)"`)

// TestNotebooks executes every notebook headless through the GoNB kernel, fails on any cell error,
// checks the charts and their SVG fallbacks are in the outputs, exports HTML and checks in headless
// Chromium that the charts render offline (DOM and pixels).
func TestNotebooks(t *testing.T) {
	requireTools(t, "jupyter", "gonb", "chromium")
	paths, err := filepath.Glob("*.ipynb")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no notebooks found: %v", err)
	}
	outDir, _ := filepath.Abs(filepath.Join("..", "out", "notebooks"))
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, path := range paths {
		name := strings.TrimSuffix(path, ".ipynb")
		t.Run(name, func(t *testing.T) {
			executed := filepath.Join(outDir, name+".ipynb")
			run(t, 30*time.Minute, ".", "jupyter", "nbconvert", "--to", "notebook", "--execute",
				"--ExecutePreprocessor.timeout=1200", "--ExecutePreprocessor.kernel_name=gonb",
				"--output-dir", outDir, "--output", name, path)
			nb := readNotebook(t, executed)
			logCellTimes(t, nb)
			charts := checkOutputs(t, nb)
			if min := nb.Metadata.Sinkscope.MinCharts; len(charts) < max(min, 1) {
				t.Fatalf("%d charts in the outputs, want at least %d", len(charts), max(min, 1))
			}
			// The full export (code and outputs) is what users share; the outputs-only export is what the
			// screenshot checks, so that coloured pixels come from the charts, not from highlighted code.
			run(t, 5*time.Minute, outDir, "jupyter", "nbconvert", "--to", "html", name+".ipynb")
			run(t, 5*time.Minute, outDir, "jupyter", "nbconvert", "--to", "html", "--no-input", "--output", name+".outputs", name+".ipynb")
			checkInBrowser(t, filepath.Join(outDir, name+".html"), charts, false)
			checkInBrowser(t, filepath.Join(outDir, name+".outputs.html"), charts, true)
			checkFailsWithoutLibrary(t, filepath.Join(outDir, name+".outputs.html"), charts)
		})
	}
}

func readNotebook(t *testing.T, path string) *notebook {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var nb notebook
	if err := json.Unmarshal(b, &nb); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &nb
}

// checkOutputs fails on error outputs and returns the chart ids found; every chart must carry its
// static SVG fallback and its ECharts script.
func checkOutputs(t *testing.T, nb *notebook) []string {
	t.Helper()
	var charts []string
	echartsLoaded := false
	for i, c := range nb.Cells {
		for _, o := range c.Outputs {
			if o.OutputType == "error" {
				t.Errorf("cell %d: %s: %s\n%s", i, o.EName, o.EValue, tail(joined(c.Source), 500))
			}
			if o.OutputType == "stream" && o.Name == "stderr" && strings.Contains(joined(o.Text), "panic:") {
				t.Errorf("cell %d panicked: %s", i, tail(joined(o.Text), 2000))
			}
			html := joined(o.Data["text/html"])
			if strings.Contains(html, "sinkscope-echarts-library") {
				echartsLoaded = true
			}
			for _, m := range chartDiv.FindAllStringSubmatch(html, -1) {
				charts = append(charts, m[1])
				if !strings.Contains(html, "<svg") {
					t.Errorf("cell %d: chart %s has no SVG fallback", i, m[1])
				}
				if !strings.Contains(html, "echarts.init") {
					t.Errorf("cell %d: chart %s has no ECharts script", i, m[1])
				}
				if !echartsLoaded {
					t.Errorf("cell %d: chart %s comes before the ECharts library output", i, m[1])
				}
			}
			if svg := joined(o.Data["image/svg+xml"]); html != "" && strings.Contains(html, "data-sinkscope-chart") {
				if !strings.HasPrefix(strings.TrimSpace(svg), "<svg") {
					t.Errorf("cell %d: chart output has no image/svg+xml fallback", i)
				} else if !strings.Contains(html, strings.TrimSpace(svg)) {
					// The static image and the fallback inside the HTML are the same SVG.
					t.Errorf("cell %d: the image/svg+xml output differs from the SVG inside the HTML output", i)
				}
			}
		}
	}
	return charts
}

// browserDeadline bounds each browser check: every chart on the page must be drawn by then.
const browserDeadline = 90 * time.Second

// checkInBrowser opens the exported HTML in headless Chromium (no network), waits until every chart
// was drawn by ECharts (not only its static fallback), and with screenshot checks that the page has
// chart pixels. It fails naming the HTML file and the charts that did not draw.
func checkInBrowser(t *testing.T, htmlPath string, charts []string, screenshot bool) {
	t.Helper()
	start := time.Now()
	page, err := browser.Open(context.Background(), htmlPath, browser.Options{Charts: charts, Deadline: browserDeadline, Screenshot: screenshot})
	t.Logf("browser check of %s: %.1fs", filepath.Base(htmlPath), time.Since(start).Seconds())
	if err != nil {
		t.Fatal(err)
	}
	if page.Drawn() != len(charts) {
		t.Errorf("%s: %d charts drawn by ECharts, %d in the notebook outputs", htmlPath, page.Drawn(), len(charts))
	}
	if page.Canvases == 0 {
		t.Errorf("%s: no <canvas> in the rendered page: ECharts did not draw", htmlPath)
	}
	if !screenshot {
		return
	}
	shot := strings.TrimSuffix(htmlPath, ".html") + ".png"
	if err := os.WriteFile(shot, page.Screenshot, 0o644); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(page.Screenshot))
	if err != nil {
		t.Fatalf("screenshot of %s: %v", htmlPath, err)
	}
	colored, colors := browser.ColorStats(img)
	t.Logf("screenshot %s: %.2f%% coloured pixels, %d distinct colours", shot, 100*colored, colors)
	if colored < 0.001 || colors < 16 {
		t.Errorf("no chart visible in the screenshot of %s: %.2f%% coloured pixels, %d colours", htmlPath, 100*colored, colors)
	}
}

// libraryScript is the ECharts library output inside an HTML export.
var libraryScript = regexp.MustCompile(`(?s)<script id="sinkscope-echarts-library">.*?</script>`)

// checkFailsWithoutLibrary is the control of checkInBrowser: the same export without the ECharts
// library must fail soon after it loads, naming every chart as left static, not hang to the deadline.
func checkFailsWithoutLibrary(t *testing.T, htmlPath string, charts []string) {
	t.Helper()
	b, err := os.ReadFile(htmlPath)
	if err != nil {
		t.Fatal(err)
	}
	if !libraryScript.Match(b) {
		t.Fatalf("%s: no ECharts library script (id sinkscope-echarts-library)", htmlPath)
	}
	broken := filepath.Join(t.TempDir(), "nolib_"+filepath.Base(htmlPath))
	if err := os.WriteFile(broken, libraryScript.ReplaceAll(b, nil), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = browser.Open(context.Background(), broken, browser.Options{Charts: charts, Deadline: browserDeadline})
	took := time.Since(start)
	t.Logf("browser check without the ECharts library: %.1fs", took.Seconds())
	switch {
	case err == nil:
		t.Fatalf("%s without the ECharts library passed the browser check", htmlPath)
	case took > browserDeadline/3:
		t.Errorf("without the ECharts library the check took %s; it must fail as soon as the page loaded", took)
	}
	for _, id := range charts {
		if !strings.Contains(err.Error(), id+" (kept its static content") {
			t.Errorf("the failure without the ECharts library does not name chart %s as static: %v", id, err)
		}
	}
}

// TestBrowserCheck runs the browser check alone on existing HTML exports, e.g. to repeat it:
// SINKSCOPE_BROWSER_HTML=../out/notebooks/03_sink_onset_and_qk_lock.outputs.html go test ./notebooks
// -run TestBrowserCheck -count=5 (space-separated paths; the charts are those of the executed
// notebook next to each file). Without the variable it skips.
func TestBrowserCheck(t *testing.T) {
	paths := strings.Fields(os.Getenv("SINKSCOPE_BROWSER_HTML"))
	if len(paths) == 0 {
		t.Skip("set SINKSCOPE_BROWSER_HTML to exported notebook HTML files")
	}
	requireTools(t, "chromium")
	for _, path := range paths {
		abs, err := filepath.Abs(path)
		if err != nil {
			t.Fatal(err)
		}
		base := strings.TrimSuffix(strings.TrimSuffix(abs, ".html"), ".outputs")
		charts := checkOutputs(t, readNotebook(t, base+".ipynb"))
		checkInBrowser(t, abs, charts, strings.HasSuffix(abs, ".outputs.html"))
		checkFailsWithoutLibrary(t, abs, charts)
	}
}

// logCellTimes reports how long each code cell took (compilation by GoNB included), from the
// timestamps nbclient records.
func logCellTimes(t *testing.T, nb *notebook) {
	var parts []string
	total := 0.0
	for _, c := range nb.Cells {
		start, err1 := time.Parse(time.RFC3339Nano, c.Metadata.Execution["iopub.execute_input"])
		end, err2 := time.Parse(time.RFC3339Nano, c.Metadata.Execution["shell.execute_reply"])
		if err1 != nil || err2 != nil {
			continue
		}
		d := end.Sub(start).Seconds()
		total += d
		parts = append(parts, fmt.Sprintf("%s %.1fs", c.ID, d))
	}
	t.Logf("cell times: %s (sum %.1fs)", strings.Join(parts, ", "), total)
}
