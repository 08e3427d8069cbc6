package plots

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-echarts/go-echarts/v2/render"
)

var update = flag.Bool("update", false, "rewrite testdata/golden/*.json from the current output")

var nan = math.NaN()

// goldenFigures are small instances of every constructor, shared by the golden, semantic and SVG tests.
func goldenFigures(t *testing.T) map[string]*Figure {
	t.Helper()
	must := func(f *Figure, err error) *Figure {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	pattern := [][]float32{
		{1, 0, 0, 0},
		{0.75, 0.25, 0, 0},
		{0.5, float32(nan), 0.25, 0},
		{0.4, 0.3, 0.2, 0.1},
	}
	tokens := []string{"<s>", "the", "cat", "the"}
	return map[string]*Figure{
		"attention_heatmap": must(AttentionHeatmap(pattern, tokens, HeatmapOptions{Options: Options{Subtitle: "layer 2, head 3"}})),
		"head_mean_heatmap": must(HeadMeanHeatmap(pattern, nil, HeatmapOptions{HighlightKeys: []int{2}, HighlightQueries: []int{3}})),
		"sink_grid": must(SinkGrid([][]float32{{0.1, 0.2, 0.3, 0.4}, {0.9, float32(nan), 0.5, 0.25}, {1, 0.95, 0.875, 0.5}},
			SinkGridOptions{Annotate: true})),
		"position_lines": must(PositionLines([]int{0, 1, 2, 3}, []Series{
			{Name: "layer 0", Values: []float64{1, 0.75, nan, 0.5}},
			{Name: "theory", Values: []float64{1, 0.7071, 0.5774, 0.5}, Dashed: true, Color: "#333333"},
		}, LineOptions{YName: "std", LogY: true})),
		"dual_axis_layers": must(DualAxisLayers([]int{0, 1, 2, 3},
			Series{Name: "attention to token 0", Values: []float64{0.1, 0.5, 0.9, 0.95}},
			Series{Name: "norm ratio", Values: []float64{1, 2, 30, 40}},
			DualAxisOptions{Threshold: 0.8, MarkOnset: true})),
		"sorted_values": must(SortedValues([]float32{0.5, 3, 1, 7, 2}, 2, SortedOptions{IndexName: "neuron", YName: "row norm", ShowMean: true})),
		"lambda_sweep": must(LambdaSweep([]float64{1, 2, 5}, []Series{
			{Name: "μ + λ(o − μ)", Values: []float64{0.1, 0.2, 0.5}},
			{Name: "λ·o", Values: []float64{0.1, 0.1, 0.1}, Dashed: true},
		}, LineOptions{})),
		"loss_curves": must(LossCurves([]Arm{
			{Name: "baseline", Steps: []int{0, 10, 20}, Mean: []float64{10, 5, 3}, Lo: []float64{9.5, 4.5, 2.5}, Hi: []float64{10.5, 5.5, 3.5}},
			{Name: "headnorm", Steps: []int{0, 10, 20}, Mean: []float64{10, 4.5, 2.75}},
		}, LineOptions{})),
	}
}

func optionOf(t *testing.T, fig *Figure) map[string]any {
	t.Helper()
	raw, err := fig.OptionJSON()
	if err != nil {
		t.Fatal(err)
	}
	var opt map[string]any
	if err := json.Unmarshal(raw, &opt); err != nil {
		t.Fatalf("OptionJSON is not JSON: %v\n%s", err, raw)
	}
	return opt
}

// get walks a decoded option: keys for objects, ints for arrays.
func get(t *testing.T, v any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("at %v: %T is not an object", path, v)
			}
			v = m[k]
		case int:
			a, ok := v.([]any)
			if !ok || k >= len(a) {
				t.Fatalf("at %v: no element %d", path, k)
			}
			v = a[k]
		}
	}
	return v
}

func TestGoldenOptions(t *testing.T) {
	for name, fig := range goldenFigures(t) {
		t.Run(name, func(t *testing.T) {
			raw, err := fig.OptionJSON()
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := json.Indent(&got, raw, "", "  "); err != nil {
				t.Fatal(err)
			}
			got.WriteByte('\n')
			path := filepath.Join("testdata", "golden", name+".json")
			if *update {
				if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./plots -run TestGoldenOptions -update to create it)", err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("option of %s differs from %s (rerun with -update after checking the change):\n%s", name, path, firstDiff(got.String(), string(want)))
			}
		})
	}
}

func firstDiff(got, want string) string {
	g, w := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl {
			return fmt.Sprintf("line %d:\n got: %s\nwant: %s", i+1, gl, wl)
		}
	}
	return ""
}

func TestOptionIsDeterministic(t *testing.T) {
	fig := goldenFigures(t)["loss_curves"]
	a, err := fig.OptionJSON()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := fig.OptionJSON()
	if !bytes.Equal(a, b) {
		t.Error("two encodings of one figure differ")
	}
}

func TestFigureMetadata(t *testing.T) {
	figs := goldenFigures(t)
	ids := map[string]bool{}
	for name, fig := range figs {
		if fig.Title() == "" || fig.Width() <= 0 || fig.Height() <= 0 {
			t.Errorf("%s: title %q, size %d×%d", name, fig.Title(), fig.Width(), fig.Height())
		}
		if !idPattern.MatchString(fig.ID()) || ids[fig.ID()] {
			t.Errorf("%s: ID %q is not a fresh identifier", name, fig.ID())
		}
		ids[fig.ID()] = true
		if got := get(t, optionOf(t, fig), "title", "text"); got != fig.Title() {
			t.Errorf("%s: option title %v, Title() %q", name, got, fig.Title())
		}
	}
	fig, err := SinkGrid([][]float32{{1}}, SinkGridOptions{Options: Options{Title: "T", Width: 300, Height: 200, ID: "my_chart"}})
	if err != nil {
		t.Fatal(err)
	}
	if fig.Title() != "T" || fig.Width() != 300 || fig.Height() != 200 || fig.ID() != "my_chart" || fig.Kind() != "sink-grid" {
		t.Errorf("options not applied: %q %d×%d %q %q", fig.Title(), fig.Width(), fig.Height(), fig.ID(), fig.Kind())
	}
}

// heatmapCells returns the drawn cells of series 0 as (x index, y index, value), resolving category names.
func heatmapCells(t *testing.T, opt map[string]any) [][3]float64 {
	t.Helper()
	index := func(axis string) map[string]int {
		m := map[string]int{}
		for i, c := range get(t, opt, axis, 0, "data").([]any) {
			m[c.(string)] = i
		}
		return m
	}
	xs, ys := index("xAxis"), index("yAxis")
	coord := func(v any, names map[string]int) float64 {
		switch c := v.(type) {
		case string:
			i, ok := names[c]
			if !ok {
				t.Fatalf("cell names unknown category %q", c)
			}
			return float64(i)
		case float64:
			return c
		}
		t.Fatalf("cell coordinate %T", v)
		return 0
	}
	var cells [][3]float64
	for _, d := range get(t, opt, "series", 0, "data").([]any) {
		if m, ok := d.(map[string]any); ok {
			d = m["value"]
		}
		c := d.([]any)
		cells = append(cells, [3]float64{coord(c[0], xs), coord(c[1], ys), c[2].(float64)})
	}
	return cells
}

func TestAttentionHeatmapSemantics(t *testing.T) {
	opt := optionOf(t, goldenFigures(t)["attention_heatmap"])
	if get(t, opt, "yAxis", 0, "inverse") != true {
		t.Error("query axis is not inverse: query 0 would be at the bottom")
	}
	labels := get(t, opt, "xAxis", 0, "data").([]any)
	want := []any{"0:<s>", "1:the", "2:cat", "3:the"}
	if fmt.Sprint(labels) != fmt.Sprint(want) {
		t.Errorf("key labels %v, want %v", labels, want)
	}
	cells := heatmapCells(t, opt)
	if len(cells) != 9 { // 10 causal cells minus the NaN one
		t.Errorf("%d cells, want 9", len(cells))
	}
	for _, c := range cells {
		if c[0] > c[1] {
			t.Errorf("cell key %v > query %v is drawn", c[0], c[1])
		}
		if c[0] == 1 && c[1] == 2 {
			t.Error("the NaN cell is drawn")
		}
	}
	if get(t, opt, "visualMap", 0, "max") != 1.0 {
		t.Errorf("colour scale max %v, want 1", get(t, opt, "visualMap", 0, "max"))
	}
	if get(t, opt, "legend", "show") != false {
		t.Error("a heatmap shows a legend")
	}

	full, err := AttentionHeatmap([][]float32{{0.1, 0.2}, {0.3, 0.4}}, nil, HeatmapOptions{ShowUpper: true, AutoScale: true})
	if err != nil {
		t.Fatal(err)
	}
	fo := optionOf(t, full)
	if n := len(heatmapCells(t, fo)); n != 4 {
		t.Errorf("ShowUpper draws %d cells, want 4", n)
	}
	if got := get(t, fo, "visualMap", 0, "max").(float64); math.Abs(got-0.4) > 1e-6 {
		t.Errorf("AutoScale max %v, want 0.4", got)
	}
}

func TestHeadMeanHighlight(t *testing.T) {
	opt := optionOf(t, goldenFigures(t)["head_mean_heatmap"])
	if get(t, opt, "xAxis", 1, "show") != false || get(t, opt, "yAxis", 1, "inverse") != true {
		t.Error("the outline axes must be hidden, and the y one inverse like the query axis")
	}
	hl := get(t, opt, "series", 1).(map[string]any)
	if hl["xAxisIndex"] != 1.0 || hl["yAxisIndex"] != 1.0 {
		t.Errorf("highlight series on axes %v/%v, want 1/1", hl["xAxisIndex"], hl["yAxisIndex"])
	}
	segs := get(t, hl, "markLine", "data").([]any)
	if len(segs) != 8 {
		t.Fatalf("%d outline segments, want 4 per rectangle", len(segs))
	}
	// Column 2 runs from the diagonal (query 2) to the last row: x 1.5..2.5, y 1.5..3.5.
	first := get(t, segs[0], 0).(map[string]any)
	if first["xAxis"] != 1.5 || first["yAxis"] != 1.5 {
		t.Errorf("column outline starts at %v", first)
	}
	if get(t, opt, "visualMap", 0, "seriesIndex") != 0.0 {
		t.Error("the colour scale must apply to the cells only")
	}
	if _, err := MeanOverHeads([][][]float32{{{1, 0}, {0.5, 0.5}}, {{1, 0}, {0.25, 0.75}}}); err != nil {
		t.Fatal(err)
	}
	mean, _ := MeanOverHeads([][][]float32{{{1, 0}, {0.5, 0.5}}, {{1, 0}, {0.25, 0.75}}})
	if mean[1][0] != 0.375 || mean[1][1] != 0.625 {
		t.Errorf("MeanOverHeads = %v", mean)
	}
}

func TestSinkGridSemantics(t *testing.T) {
	opt := optionOf(t, goldenFigures(t)["sink_grid"])
	if get(t, opt, "yAxis", 0, "inverse") != true {
		t.Error("layer 0 should be the top row by default")
	}
	cells := heatmapCells(t, opt)
	if len(cells) != 11 {
		t.Errorf("%d cells, want 11 (12 minus the NaN)", len(cells))
	}
	if name := get(t, opt, "series", 0, "data", 4, "name"); name != "0.90" {
		t.Errorf("annotation %v, want 0.90", name)
	}
	bottom, err := SinkGrid([][]float32{{1}}, SinkGridOptions{Layer0AtBottom: true})
	if err != nil {
		t.Fatal(err)
	}
	if get(t, optionOf(t, bottom), "yAxis", 0, "inverse") != false {
		t.Error("Layer0AtBottom leaves the layer axis inverse")
	}
}

func TestSortedValuesSemantics(t *testing.T) {
	opt := optionOf(t, goldenFigures(t)["sorted_values"])
	data := get(t, opt, "series", 0, "data").([]any)
	// values {0.5, 3, 1, 7, 2}: descending 7 (index 3), 3 (1), 2 (4), 1 (2), 0.5 (0).
	wantIdx := []float64{3, 1, 4, 2, 0}
	for r, d := range data {
		p := d.([]any)
		if p[0] != float64(r+1) || p[2] != wantIdx[r] {
			t.Errorf("rank %d: point %v, want original index %v", r+1, p, wantIdx[r])
		}
	}
	top := get(t, opt, "series", 1).(map[string]any)
	if n := len(top["data"].([]any)); n != 2 {
		t.Errorf("%d top points, want 2", n)
	}
	if f := get(t, top, "label", "formatter"); f != "neuron {@[2]}" {
		t.Errorf("top-k label formatter %v", f)
	}
	if m := get(t, opt, "series", 0, "markLine", "data", 0, "yAxis").(float64); math.Abs(m-2.7) > 1e-9 {
		t.Errorf("mean line at %v, want 2.7", m)
	}
	if get(t, top, "labelLayout", "moveOverlap") != "shiftY" || get(t, top, "labelLayout", "x") == nil {
		t.Error("top-k labels are not laid out apart")
	}

	bars, err := SortedValues([]float32{1, 3, 2}, 1, SortedOptions{Bars: true})
	if err != nil {
		t.Fatal(err)
	}
	bo := optionOf(t, bars)
	if get(t, bo, "series", 0, "type") != "bar" || get(t, bo, "xAxis", 0, "type") != "category" ||
		fmt.Sprint(get(t, bo, "xAxis", 0, "data")) != "[1 2 3]" {
		t.Errorf("bars: series %v on x axis %v", get(t, bo, "series", 0, "type"), get(t, bo, "xAxis", 0))
	}
	if p := get(t, bo, "series", 1, "data", 0).([]any); p[0] != 0.0 || p[2] != 1.0 {
		t.Errorf("bars: top point %v, want category 0 and index 1", p)
	}
}

// go-echarts' own rendering sees the same option, patches included.
func TestRenderSnippetMatches(t *testing.T) {
	fig := goldenFigures(t)["loss_curves"]
	snippet := fig.Chart().(interface{ RenderSnippet() render.ChartSnippet }).RenderSnippet()
	var fromSnippet map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSuffix(strings.TrimSpace(snippet.Option), ";")), &fromSnippet); err != nil {
		t.Fatalf("snippet option: %v\n%s", err, snippet.Option)
	}
	ours := optionOf(t, fig)
	for _, key := range []string{"series", "legend", "xAxis", "yAxis", "tooltip"} {
		a, _ := json.Marshal(pruneNulls(fromSnippet[key]))
		b, _ := json.Marshal(ours[key])
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs:\nsnippet: %s\nours:    %s", key, a, b)
		}
	}
	if !strings.Contains(snippet.Element, fig.ID()) {
		t.Error("the snippet's element does not carry the figure ID")
	}
}

func TestLossCurvesSemantics(t *testing.T) {
	opt := optionOf(t, goldenFigures(t)["loss_curves"])
	series := get(t, opt, "series").([]any)
	if len(series) != 4 { // baseline: mean, lower, band; headnorm: mean
		t.Fatalf("%d series, want 4", len(series))
	}
	lower, band := series[1].(map[string]any), series[2].(map[string]any)
	if lower["stack"] == nil || lower["stack"] != band["stack"] || band["stackStrategy"] != "all" {
		t.Errorf("band not stacked on its lower line: %v / %v", lower["stack"], band["stack"])
	}
	color := get(t, series[0], "lineStyle", "color")
	if get(t, band, "areaStyle", "color") != color || get(t, lower, "itemStyle", "color") != color {
		t.Error("the band does not share its line's colour")
	}
	if get(t, series[3], "lineStyle", "color") == color {
		t.Error("two arms share a colour")
	}
	// Band points are [height, step]: Hi − Lo = 1 at step 10.
	if p := get(t, band, "data", 1).([]any); p[0] != 1.0 || p[1] != 10.0 {
		t.Errorf("band point %v, want [1 10]", p)
	}
	if get(t, band, "tooltip", "show") != false || get(t, band, "name") != "baseline" {
		t.Error("band series must carry the arm name and stay out of tooltips")
	}
	if fmt.Sprint(get(t, opt, "legend", "data")) != "[baseline headnorm]" {
		t.Errorf("legend %v", get(t, opt, "legend", "data"))
	}
}

func TestDualAxisSemantics(t *testing.T) {
	opt := optionOf(t, goldenFigures(t)["dual_axis_layers"])
	if get(t, opt, "series", 1, "yAxisIndex") != 1.0 || get(t, opt, "yAxis", 1, "position") != "right" {
		t.Error("the right series is not on the right axis")
	}
	marks := get(t, opt, "series", 0, "markLine", "data").([]any)
	if len(marks) != 2 || get(t, marks[0], "yAxis") != 0.8 || get(t, marks[1], "xAxis") != "2" {
		t.Errorf("marks %v, want the threshold at 0.8 and the onset at layer 2", marks)
	}
	if get(t, opt, "yAxis", 0, "max") != 1.0 {
		t.Error("the attention axis should span 0..1")
	}
}

func TestLinesGapsAndLog(t *testing.T) {
	opt := optionOf(t, goldenFigures(t)["position_lines"])
	if get(t, opt, "yAxis", 0, "type") != "log" {
		t.Error("LogY ignored")
	}
	if p := get(t, opt, "series", 0, "data", 2).([]any); p[1] != "-" {
		t.Errorf("NaN point %v, want a gap (\"-\")", p)
	}
	if get(t, opt, "series", 1, "lineStyle", "type") != "dashed" {
		t.Error("Dashed ignored")
	}
	cat, err := LambdaSweep([]float64{1, 2.5}, []Series{{Name: "a", Values: []float64{1, 2}}}, LineOptions{CategoryX: true})
	if err != nil {
		t.Fatal(err)
	}
	co := optionOf(t, cat)
	if get(t, co, "xAxis", 0, "type") != "category" || fmt.Sprint(get(t, co, "xAxis", 0, "data")) != "[1 2.5]" {
		t.Errorf("CategoryX axis %v", get(t, co, "xAxis", 0))
	}
}

func TestTokenLabels(t *testing.T) {
	labels, err := tokenLabels("t", []string{"a\nb", "a very long token indeed", "\x01"}, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`0:a\nb`, "1:a very long t…", `2:\u0001`}
	if fmt.Sprint(labels) != fmt.Sprint(want) {
		t.Errorf("labels %q, want %q", labels, want)
	}
}

func TestInvalidInputs(t *testing.T) {
	sq := [][]float32{{1, 0}, {0.5, 0.5}}
	inf := float32(math.Inf(1))
	x := []int{0, 1}
	ok := []Series{{Name: "a", Values: []float64{1, 2}}}
	cases := []struct {
		name, want string
		call       func() (*Figure, error)
	}{
		{"empty pattern", "pattern is empty", func() (*Figure, error) { return AttentionHeatmap(nil, nil, HeatmapOptions{}) }},
		{"empty row", "pattern[0] is empty", func() (*Figure, error) { return AttentionHeatmap([][]float32{{}}, nil, HeatmapOptions{}) }},
		{"ragged", "pattern is ragged: row 1", func() (*Figure, error) {
			return AttentionHeatmap([][]float32{{1, 0}, {1}}, nil, HeatmapOptions{})
		}},
		{"not square", "square", func() (*Figure, error) { return AttentionHeatmap([][]float32{{1, 0}}, nil, HeatmapOptions{}) }},
		{"tokens", "tokens has 3 entries", func() (*Figure, error) { return AttentionHeatmap(sq, []string{"a", "b", "c"}, HeatmapOptions{}) }},
		{"inf", "pattern[1][0] is +Inf", func() (*Figure, error) {
			return AttentionHeatmap([][]float32{{1, 0}, {inf, 0}}, nil, HeatmapOptions{})
		}},
		{"highlight", "HighlightKeys[0] = 2", func() (*Figure, error) {
			return HeadMeanHeatmap(sq, nil, HeatmapOptions{HighlightKeys: []int{2}})
		}},
		{"scale", "ScaleMax", func() (*Figure, error) { return AttentionHeatmap(sq, nil, HeatmapOptions{ScaleMax: -1}) }},
		{"bad id", "ID", func() (*Figure, error) {
			return AttentionHeatmap(sq, nil, HeatmapOptions{Options: Options{ID: "a-b"}})
		}},
		{"negative size", "negative size", func() (*Figure, error) {
			return SinkGrid(sq, SinkGridOptions{Options: Options{Width: -1}})
		}},
		{"grid empty", "scores is empty", func() (*Figure, error) { return SinkGrid(nil, SinkGridOptions{}) }},
		{"grid ragged", "scores is ragged", func() (*Figure, error) {
			return SinkGrid([][]float32{{1, 2}, {3}}, SinkGridOptions{})
		}},
		{"x empty", "x is empty", func() (*Figure, error) { return PositionLines(nil, ok, LineOptions{}) }},
		{"x order", "x must increase", func() (*Figure, error) { return PositionLines([]int{1, 1}, ok, LineOptions{}) }},
		{"no series", "series is empty", func() (*Figure, error) { return PositionLines(x, nil, LineOptions{}) }},
		{"length", `series[1] ("b").Values has 1 values, want 2`, func() (*Figure, error) {
			return PositionLines(x, append(ok, Series{Name: "b", Values: []float64{1}}), LineOptions{})
		}},
		{"duplicate", `series[0] and series[1] are both named "a"`, func() (*Figure, error) {
			return PositionLines(x, append(ok, ok[0]), LineOptions{})
		}},
		{"unnamed", "series[0] has no Name", func() (*Figure, error) {
			return PositionLines(x, []Series{{Values: []float64{1, 2}}}, LineOptions{})
		}},
		{"log", "logarithmic", func() (*Figure, error) {
			return PositionLines(x, []Series{{Name: "a", Values: []float64{1, 0}}}, LineOptions{LogY: true})
		}},
		{"series inf", `Values[1] is -Inf`, func() (*Figure, error) {
			return PositionLines(x, []Series{{Name: "a", Values: []float64{1, math.Inf(-1)}}}, LineOptions{})
		}},
		{"onset", "MarkOnset needs a Threshold", func() (*Figure, error) {
			return DualAxisLayers(x, ok[0], Series{Name: "b", Values: []float64{1, 2}}, DualAxisOptions{MarkOnset: true})
		}},
		{"dual length", "right.Values has 1 values", func() (*Figure, error) {
			return DualAxisLayers(x, ok[0], Series{Name: "b", Values: []float64{1}}, DualAxisOptions{})
		}},
		{"sorted empty", "values is empty", func() (*Figure, error) { return SortedValues(nil, 0, SortedOptions{}) }},
		{"sorted nan", "values[1] is NaN", func() (*Figure, error) {
			return SortedValues([]float32{1, float32(nan)}, 1, SortedOptions{})
		}},
		{"topk", "topK 3 is outside 0..2", func() (*Figure, error) { return SortedValues([]float32{1, 2}, 3, SortedOptions{}) }},
		{"lambdas nan", "lambdas[0] is NaN", func() (*Figure, error) { return LambdaSweep([]float64{nan}, ok, LineOptions{}) }},
		{"lambdas order", "lambdas must increase", func() (*Figure, error) {
			return LambdaSweep([]float64{2, 1}, ok, LineOptions{})
		}},
		{"no arms", "arms is empty", func() (*Figure, error) { return LossCurves(nil, LineOptions{}) }},
		{"arm lo only", "only one of Lo and Hi", func() (*Figure, error) {
			return LossCurves([]Arm{{Name: "a", Steps: x, Mean: []float64{1, 2}, Lo: []float64{1, 2}}}, LineOptions{})
		}},
		{"arm lo>hi", "Lo[1] = 3 is above Hi[1] = 2", func() (*Figure, error) {
			return LossCurves([]Arm{{Name: "a", Steps: x, Mean: []float64{1, 2}, Lo: []float64{1, 3}, Hi: []float64{1, 2}}}, LineOptions{})
		}},
		{"arm steps", `arms[0] ("a").Steps is empty`, func() (*Figure, error) {
			return LossCurves([]Arm{{Name: "a"}}, LineOptions{})
		}},
		{"arm mean", `arms[0] ("a").Mean has 1 values`, func() (*Figure, error) {
			return LossCurves([]Arm{{Name: "a", Steps: x, Mean: []float64{1}}}, LineOptions{})
		}},
		{"arm dup", "both named", func() (*Figure, error) {
			a := Arm{Name: "a", Steps: x, Mean: []float64{1, 2}}
			return LossCurves([]Arm{a, a}, LineOptions{})
		}},
		{"nil chart", "chart is nil", func() (*Figure, error) { return NewFigure(nil, Options{}) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("panicked: %v", r)
				}
			}()
			fig, err := c.call()
			if err == nil {
				t.Fatalf("no error (figure %v)", fig.Kind())
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not mention %q", err, c.want)
			}
		})
	}
	if _, err := MeanOverHeads([][][]float32{sq, {{1}}}); err == nil || !strings.Contains(err.Error(), "patterns[1]") {
		t.Errorf("MeanOverHeads with a mismatched head: %v", err)
	}
}
