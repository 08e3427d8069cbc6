package plots

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-echarts/go-echarts/v2/charts"
	"github.com/go-echarts/go-echarts/v2/opts"
)

// needECharts skips the test when the local ECharts copy is missing.
func needECharts(t *testing.T) {
	t.Helper()
	if _, err := EChartsJSPath(); err != nil {
		t.Skipf("skipping: %v", err)
	}
}

// needNode skips the test when node or the local ECharts copy is missing.
func needNode(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("skipping: node is not on PATH (scripts/setup.sh installs it)")
	}
	needECharts(t)
}

// svgInfo parses an SVG document and returns the root size, its text and the number of shapes.
type svgInfo struct {
	width, height string
	text          string
	shapes        int // <path>, <rect>, <polygon>, <polyline>, <circle>
}

func parseSVG(t *testing.T, svg []byte) svgInfo {
	t.Helper()
	var info svgInfo
	var text strings.Builder
	dec := xml.NewDecoder(bytes.NewReader(svg))
	depth := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v", err)
		}
		switch e := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				if e.Name.Local != "svg" {
					t.Fatalf("root element <%s>, want <svg>", e.Name.Local)
				}
				for _, a := range e.Attr {
					switch a.Name.Local {
					case "width":
						info.width = a.Value
					case "height":
						info.height = a.Value
					}
				}
			}
			depth++
			switch e.Name.Local {
			case "path", "rect", "polygon", "polyline", "circle":
				info.shapes++
			}
		case xml.EndElement:
			depth--
		case xml.CharData:
			text.Write(e)
			text.WriteByte('\n')
		}
	}
	if depth != 0 {
		t.Fatal("SVG ends inside an element")
	}
	info.text = text.String()
	return info
}

func TestRenderSVG(t *testing.T) {
	needNode(t)
	figs := goldenFigures(t)
	names := make([]string, 0, len(figs))
	list := make([]*Figure, 0, len(figs))
	for name, fig := range figs {
		names = append(names, name)
		list = append(list, fig)
	}
	start := time.Now()
	svgs, err := RenderSVGs(context.Background(), list...)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("batch: %d charts in %v (%v per chart)", len(list), time.Since(start).Round(time.Millisecond),
		(time.Since(start) / time.Duration(len(list))).Round(time.Millisecond))
	for i, svg := range svgs {
		fig := list[i]
		info := parseSVG(t, svg)
		if info.width != fmt.Sprint(fig.Width()) || info.height != fmt.Sprint(fig.Height()) {
			t.Errorf("%s: SVG size %s×%s, want %d×%d", names[i], info.width, info.height, fig.Width(), fig.Height())
		}
		if !strings.Contains(info.text, fig.Title()) {
			t.Errorf("%s: the SVG does not contain the title %q", names[i], fig.Title())
		}
	}
	// The top-k points carry their original indices; the mean line its value.
	for i, name := range names {
		if name != "sorted_values" {
			continue
		}
		info := parseSVG(t, svgs[i])
		for _, want := range []string{"neuron 3", "neuron 1", "mean 2.7"} {
			if !strings.Contains(info.text, want) {
				t.Errorf("sorted values: label %q missing from the SVG", want)
			}
		}
	}
}

func TestRenderSVGGrowsWithData(t *testing.T) {
	needNode(t)
	pattern := func(n int) [][]float32 {
		p := make([][]float32, n)
		for q := range p {
			p[q] = make([]float32, n)
			for k := 0; k <= q; k++ {
				p[q][k] = 1 / float32(q+1)
			}
		}
		return p
	}
	small, err := AttentionHeatmap(pattern(4), nil, HeatmapOptions{})
	if err != nil {
		t.Fatal(err)
	}
	large, err := AttentionHeatmap(pattern(12), nil, HeatmapOptions{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	svg, err := RenderSVG(small)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("single chart: %v (one node start each)", time.Since(start).Round(time.Millisecond))
	svgLarge, err := RenderSVG(large)
	if err != nil {
		t.Fatal(err)
	}
	a, b := parseSVG(t, svg).shapes, parseSVG(t, svgLarge).shapes
	// 10 cells against 78: at least one shape per extra cell.
	if b-a < 78-10 {
		t.Errorf("shapes: %d for 10 cells, %d for 78 cells", a, b)
	}

	dir := t.TempDir()
	path := filepath.Join(dir, "heatmap.svg")
	if err := SaveSVG(small, path); err != nil {
		t.Fatal(err)
	}
	saved, err := os.ReadFile(path)
	if err != nil || !bytes.HasPrefix(saved, []byte("<svg")) {
		t.Errorf("SaveSVG wrote %.40q (%v)", saved, err)
	}
	assertNoTempFiles(t, dir)
}

func assertNoTempFiles(t *testing.T, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

// functionChart is a go-echarts chart with JavaScript formatters, wrapped by NewFigure.
func functionChart(t *testing.T) *Figure {
	t.Helper()
	c := charts.NewLine()
	c.SetGlobalOptions(
		charts.WithTitleOpts(opts.Title{Title: "Formatter check"}),
		charts.WithTooltipOpts(opts.Tooltip{Show: opts.Bool(true), Formatter: opts.FuncOpts("function (p) { return p.value < 2 ? 'low' : 'high'; }")}),
		charts.WithYAxisOpts(opts.YAxis{AxisLabel: &opts.AxisLabel{Formatter: opts.FuncOpts("function (v) { return 'v=' + v; }")}}),
	)
	c.SetXAxis([]string{"a", "b"}).AddSeries("s", []opts.LineData{{Value: 1}, {Value: 3}})
	fig, err := NewFigure(c, Options{Title: "Formatter check", Width: 400, Height: 300})
	if err != nil {
		t.Fatal(err)
	}
	return fig
}

func TestJSFunctions(t *testing.T) {
	fig := functionChart(t)
	if _, err := fig.OptionJSON(); !errors.Is(err, ErrJSFunction) {
		t.Fatalf("OptionJSON with a function: %v, want ErrJSFunction", err)
	}
	js, err := fig.OptionJS()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(js, []byte(`"formatter":function (v) { return 'v=' + v; }`)) {
		t.Errorf("OptionJS does not inline the function:\n%s", js)
	}
	if bytes.Contains(js, []byte(jsFuncMarker)) {
		t.Error("OptionJS keeps a function marker")
	}
	// Our own figures hold no functions: OptionJSON works for all of them.
	for name, f := range goldenFigures(t) {
		if _, err := f.OptionJSON(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := exec.LookPath("node"); err == nil {
		checkJSSyntax(t, "var option = "+string(js)+";")
	}
	needNode(t)
	svg, err := RenderSVG(fig)
	if err != nil {
		t.Fatal(err)
	}
	if info := parseSVG(t, svg); !strings.Contains(info.text, "v=3") {
		t.Errorf("the axis label formatter did not run in the SVG renderer; text:\n%s", info.text)
	}
}

// checkJSSyntax parses src with node --check.
func checkJSSyntax(t *testing.T, src string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "check.js")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("node", "--check", path).CombinedOutput(); err != nil {
		t.Errorf("not valid JavaScript: %v\n%s", err, out)
	}
}

func TestSaveHTML(t *testing.T) {
	needECharts(t)
	lib, err := EChartsJS()
	if err != nil {
		t.Fatal(err)
	}
	fig := goldenFigures(t)["attention_heatmap"] // has "<s>" tokens: must not break the page
	dir := t.TempDir()
	path := filepath.Join(dir, "fig.html")
	if err := SaveHTML(fig, path); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(page, lib[:200]) || !bytes.Contains(page, []byte("echarts")) {
		t.Error("the ECharts library is not inlined")
	}
	option, _ := fig.OptionJS()
	if !bytes.Contains(page, option) {
		t.Error("the page does not contain the option")
	}
	if bytes.Contains(option, []byte("<s>")) {
		t.Error(`OptionJS leaves "<" unescaped in strings`)
	}
	scriptTags := regexp.MustCompile(`(?i)<script[^>]*>`).FindAll(page, -1)
	if len(scriptTags) != 2 {
		t.Errorf("%d script elements, want 2 (library, chart)", len(scriptTags))
	}
	for _, tag := range scriptTags {
		if bytes.Contains(bytes.ToLower(tag), []byte("src")) || bytes.Contains(tag, []byte("http")) {
			t.Errorf("script element loads from elsewhere: %s", tag)
		}
	}
	if !bytes.Contains(page, []byte(`id="`+fig.ID()+`"`)) {
		t.Error("no chart element with the figure's ID")
	}
	assertNoTempFiles(t, dir)
	if _, err := exec.LookPath("node"); err == nil {
		// The chart script (the last one) must parse.
		last := bytes.LastIndex(page, []byte("<script>"))
		end := bytes.LastIndex(page, []byte("</script>"))
		checkJSSyntax(t, string(page[last+len("<script>"):end]))
	}
}

// ChartScript records a state on the chart's element in every outcome, runs extra after setOption,
// and no id can close its script element.
func TestChartScript(t *testing.T) {
	s := ChartScript(`x</script><b>`, []byte(`{"series":[]}`), "    chart.resize();")
	for _, want := range []string{StateAttr, ErrorAttr, StatePending, StateDrawn, StateStatic, StateError,
		"chart.on('finished'", "chart.resize();", `\u003c/script\u003e`} {
		if !strings.Contains(s, want) {
			t.Errorf("chart script lacks %q:\n%s", want, s)
		}
	}
	if n := strings.Count(strings.ToLower(s), "</script"); n != 1 {
		t.Errorf("%d closing script tags, want 1:\n%s", n, s)
	}
	if _, err := exec.LookPath("node"); err == nil {
		checkJSSyntax(t, strings.TrimSuffix(strings.TrimPrefix(s, "<script>"), "</script>\n"))
	}
}

func TestEChartsLookup(t *testing.T) {
	fake := filepath.Join(t.TempDir(), "echarts.min.js")
	if err := os.WriteFile(fake, []byte("/* stand-in */ window.echarts = {};"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EChartsEnv, fake)
	if p, err := EChartsJSPath(); err != nil || p != fake {
		t.Errorf("EChartsJSPath with $%s set: %q, %v", EChartsEnv, p, err)
	}
	var page bytes.Buffer
	if err := WriteHTML(&page, goldenFigures(t)["sink_grid"]); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page.String(), "/* stand-in */") {
		t.Error("WriteHTML did not inline the library named by the environment")
	}
	t.Setenv(EChartsEnv, filepath.Join(t.TempDir(), "missing.js"))
	if _, err := EChartsJSPath(); err == nil || !strings.Contains(err.Error(), EChartsEnv) {
		t.Errorf("missing $%s file: %v", EChartsEnv, err)
	}
	if err := SaveHTML(goldenFigures(t)["sink_grid"], filepath.Join(t.TempDir(), "x.html")); err == nil {
		t.Error("SaveHTML without ECharts succeeded")
	}
}

func TestRenderSVGWithoutNode(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := RenderSVG(goldenFigures(t)["sink_grid"])
	if err == nil || !strings.Contains(err.Error(), "node") || !strings.Contains(err.Error(), "scripts/setup.sh") {
		t.Errorf("RenderSVG without node: %v", err)
	}
}

func TestRenderSVGTimeout(t *testing.T) {
	needNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	time.Sleep(2 * time.Millisecond)
	if _, err := RenderSVGs(ctx, goldenFigures(t)["sink_grid"]); err == nil {
		t.Error("an expired context rendered anyway")
	}
}

// SaveSVG writes exactly the SVG that RenderSVG returns (and a notebook embeds): rendering is
// deterministic, so a saved file matches the chart shown inline.
func TestSaveSVGMatchesRender(t *testing.T) {
	needNode(t)
	fig, err := AttentionHeatmap([][]float32{{1, 0, 0}, {0.4, 0.6, 0}, {0.2, 0.3, 0.5}}, []string{"<s>", "a", "b"}, HeatmapOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rendered, err := RenderSVG(fig)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "fig.svg")
	if err := SaveSVG(fig, path); err != nil {
		t.Fatal(err)
	}
	saved, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(saved, rendered) {
		t.Fatalf("saved SVG (%d bytes) differs from the rendered one (%d bytes)", len(saved), len(rendered))
	}
}
