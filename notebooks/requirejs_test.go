package notebooks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sinkscope/sinkscope/plots"
	nbdisplay "github.com/sinkscope/sinkscope/plots/notebook"
)

// requireJS is Debian's RequireJS (package libjs-requirejs, installed with Jupyter): classic Jupyter
// pages and nbconvert's HTML exports load it.
const requireJS = "/usr/share/javascript/requirejs/require.min.js"

// The ECharts library output must define window.echarts whether or not RequireJS is on the page (its
// UMD bundle would otherwise register an anonymous AMD module and leave the global undefined), so a
// chart output draws in both.
func TestChartsWithAndWithoutRequireJS(t *testing.T) {
	requireTools(t, "chromium")
	if _, err := os.Stat(requireJS); err != nil {
		requireTools(t, "missing-"+filepath.Base(requireJS)) // fails or skips with the reason
	}
	lib, err := nbdisplay.LibraryHTML()
	if err != nil {
		t.Fatal(err)
	}
	fig, err := plots.AttentionHeatmap([][]float32{{1, 0, 0}, {0.4, 0.6, 0}, {0.2, 0.3, 0.5}}, []string{"<s>", "a", "b"}, plots.HeatmapOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svg, err := plots.RenderSVG(fig)
	if err != nil {
		t.Fatal(err)
	}
	chart, err := nbdisplay.ChartHTML(fig, svg)
	if err != nil {
		t.Fatal(err)
	}
	for _, withRequire := range []bool{false, true} {
		head := ""
		if withRequire {
			head = `<script src="file://` + requireJS + `"></script>`
		}
		page := "<!DOCTYPE html><html><head><meta charset=\"utf-8\">" + head + "</head><body>" + lib + chart + "</body></html>"
		path := filepath.Join(t.TempDir(), "page.html")
		if err := os.WriteFile(path, []byte(page), 0o644); err != nil {
			t.Fatal(err)
		}
		flags := chromiumFlags(t, "--virtual-time-budget=5000", "--allow-file-access-from-files", "--dump-dom", "file://"+path)
		dom := run(t, 2*time.Minute, ".", "chromium", flags...)
		if withRequire && !strings.Contains(dom, "requirejs") && !strings.Contains(dom, "require.min.js") {
			t.Fatalf("the RequireJS page lost its script tag")
		}
		if !strings.Contains(dom, `data-sinkscope-rendered="echarts"`) || !strings.Contains(dom, "<canvas") {
			t.Errorf("RequireJS on the page: %v — the chart was not drawn by ECharts", withRequire)
		}
	}
}
