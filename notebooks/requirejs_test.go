package notebooks

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sinkscope/sinkscope/internal/browser"
	"github.com/sinkscope/sinkscope/plots"
	nbdisplay "github.com/sinkscope/sinkscope/plots/notebook"
)

// requireJS is Debian's RequireJS (package libjs-requirejs, installed with Jupyter): classic Jupyter
// pages and nbconvert's HTML exports load it.
const requireJS = "/usr/share/javascript/requirejs/require.min.js"

// The ECharts library output must define window.echarts whether or not RequireJS is on the page (its
// UMD bundle would otherwise register an anonymous AMD module and leave the global undefined), so a
// chart output draws in both. The bare bundle on a RequireJS page is the control: its chart must not
// draw, or the check could not tell.
func TestChartsWithAndWithoutRequireJS(t *testing.T) {
	requireTools(t, "chromium")
	if _, err := os.Stat(requireJS); err != nil {
		requireTools(t, "missing-"+filepath.Base(requireJS)) // fails or skips with the reason
	}
	lib, err := nbdisplay.LibraryHTML()
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := plots.EChartsJS()
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
	id := chartDiv.FindStringSubmatch(chart)[1]
	for _, tc := range []struct {
		name        string
		withRequire bool
		library     string
		draws       bool
	}{
		{"without RequireJS", false, lib, true},
		{"with RequireJS", true, lib, true},
		{"bare bundle with RequireJS", true, "<script>" + string(bundle) + "</script>", false},
	} {
		t.Run(strings.ReplaceAll(tc.name, " ", "_"), func(t *testing.T) {
			head := ""
			if tc.withRequire {
				head = `<script src="file://` + requireJS + `"></script>`
			}
			page := "<!DOCTYPE html><html><head><meta charset=\"utf-8\">" + head + "</head><body>" + tc.library + chart + "</body></html>"
			path := filepath.Join(t.TempDir(), "page.html")
			if err := os.WriteFile(path, []byte(page), 0o644); err != nil {
				t.Fatal(err)
			}
			p, err := browser.Open(context.Background(), path, browser.Options{
				Charts: []string{id}, Deadline: 30 * time.Second,
				Flags: map[string]any{"allow-file-access-from-files": true},
				Probe: "typeof window.requirejs === 'function' && typeof window.define === 'function' && !!window.define.amd",
			})
			if p == nil || string(p.Probe) != strconv.FormatBool(tc.withRequire) {
				t.Fatalf("could not tell whether RequireJS loaded (want %v): %+v, %v", tc.withRequire, p, err)
			}
			switch {
			case tc.draws && err != nil:
				t.Errorf("the chart was not drawn by ECharts: %v", err)
			case !tc.draws && err == nil:
				t.Errorf("the chart was drawn, want the bare UMD bundle to leave window.echarts undefined under RequireJS")
			case !tc.draws && !strings.Contains(err.Error(), id+" (kept its static content"):
				t.Errorf("want %s named as kept static, got: %v", id, err)
			}
		})
	}
}
