// Package notebooks holds sinkscope's GoNB notebooks (one per finding) and the test that executes
// each of them headless through Jupyter and the real GoNB kernel, exports it to HTML and opens that
// HTML in headless Chromium.
package notebooks

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
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

// checkInBrowser opens the exported HTML in headless Chromium (no network) and checks that every
// chart was drawn by ECharts (not only its static fallback) and that the page has chart pixels.
func checkInBrowser(t *testing.T, htmlPath string, charts []string, screenshot bool) {
	t.Helper()
	flags := chromiumFlags(t, "--virtual-time-budget=10000")
	url := "file://" + htmlPath
	dom := run(t, 2*time.Minute, ".", "chromium", append(flags, "--dump-dom", url)...)
	rendered := strings.Count(dom, `data-sinkscope-rendered="echarts"`)
	if rendered != len(charts) {
		t.Errorf("%d of %d charts were drawn by ECharts in the exported HTML", rendered, len(charts))
	}
	if !strings.Contains(dom, "<canvas") {
		t.Errorf("no <canvas> in the rendered page: ECharts did not draw")
	}
	if !screenshot {
		return
	}
	shot := filepath.Join(filepath.Dir(htmlPath), strings.TrimSuffix(filepath.Base(htmlPath), ".html")+".png")
	run(t, 2*time.Minute, ".", "chromium", append(flags, "--window-size=1280,2400", "--screenshot="+shot, url)...)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	colored, colors := colorStats(img)
	t.Logf("screenshot %s: %.2f%% coloured pixels, %d distinct colours", shot, 100*colored, colors)
	if colored < 0.001 || colors < 16 {
		t.Errorf("no chart visible in the screenshot: %.2f%% coloured pixels, %d colours", 100*colored, colors)
	}
}

// chromiumFlags are the flags of a headless, offline Chromium run with a fresh profile (as root it
// needs --no-sandbox; the networking flags stop its background connections), followed by extra.
func chromiumFlags(t *testing.T, extra ...string) []string {
	return append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir()}, extra...)
}

// colorStats returns the share of saturated pixels (text and backgrounds are grey; chart marks are
// not) and the number of distinct colours (5 bits a channel).
func colorStats(img image.Image) (float64, int) {
	b := img.Bounds()
	colors := map[uint32]bool{}
	colored := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			hi, lo := max(r, g, bl), min(r, g, bl)
			if hi-lo > 0x3000 {
				colored++
			}
			colors[(r>>11)<<10|(g>>11)<<5|bl>>11] = true
		}
	}
	return float64(colored) / float64(b.Dx()*b.Dy()), len(colors)
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
