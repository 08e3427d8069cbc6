package plots

import (
	"fmt"
	"math"
	"strconv"

	"github.com/go-echarts/go-echarts/v2/charts"
	"github.com/go-echarts/go-echarts/v2/opts"
)

// HeatmapOptions configures AttentionHeatmap and HeadMeanHeatmap.
type HeatmapOptions struct {
	Options
	// ScaleMax is the top of the colour scale; 0 means 1 (attention probabilities).
	ScaleMax float64
	// AutoScale makes the colour scale run from 0 to the largest drawn value instead (faint patterns).
	AutoScale bool
	// ShowUpper draws the cells above the diagonal (key > query) too. By default they stay empty:
	// the causal mask makes them 0 and drawing them would hide the triangle's shape.
	ShowUpper bool
	// HighlightKeys outlines these key columns (e.g. the new sink column at token 9 of Fig. 5).
	HighlightKeys []int
	// HighlightQueries outlines these query rows.
	HighlightQueries []int
}

// AttentionHeatmap draws one attention pattern, pattern[query][key] (n×n), with query 0 on the top
// row and key 0 in the left column. tokens (nil, or one per position) label the axes as "i:token", which
// keeps repeated tokens apart. Cells above the diagonal (key > query) and NaN cells are left out, so
// they stay empty; the colour scale runs from 0 to 1 unless o says otherwise.
func AttentionHeatmap(pattern [][]float32, tokens []string, o HeatmapOptions) (*Figure, error) {
	return attentionHeatmap("attention-heatmap", "Attention pattern", "attention", pattern, tokens, o)
}

// HeadMeanHeatmap draws the mean attention pattern over a layer's heads (see MeanOverHeads), like
// AttentionHeatmap; use o.HighlightKeys / o.HighlightQueries to outline a column or row (Fig. 5).
func HeadMeanHeatmap(pattern [][]float32, tokens []string, o HeatmapOptions) (*Figure, error) {
	return attentionHeatmap("head-mean-heatmap", "Head-mean attention", "mean attention", pattern, tokens, o)
}

// MeanOverHeads averages per-head patterns patterns[head][query][key] into one [query][key] map.
// A NaN in any head makes that cell NaN (drawn empty).
func MeanOverHeads(patterns [][][]float32) ([][]float32, error) {
	if len(patterns) == 0 {
		return nil, fmt.Errorf("plots: MeanOverHeads: patterns is empty")
	}
	rows, cols, err := checkMatrix("MeanOverHeads", "patterns[0]", patterns[0])
	if err != nil {
		return nil, err
	}
	sum := make([][]float64, rows)
	for q := range sum {
		sum[q] = make([]float64, cols)
	}
	for h, p := range patterns {
		r, c, err := checkMatrix("MeanOverHeads", fmt.Sprintf("patterns[%d]", h), p)
		if err != nil {
			return nil, err
		}
		if r != rows || c != cols {
			return nil, fmt.Errorf("plots: MeanOverHeads: patterns[%d] is %d×%d, patterns[0] is %d×%d", h, r, c, rows, cols)
		}
		for q, row := range p {
			for k, v := range row {
				sum[q][k] += float64(v)
			}
		}
	}
	mean := make([][]float32, rows)
	for q, row := range sum {
		mean[q] = make([]float32, cols)
		for k, v := range row {
			mean[q][k] = float32(v / float64(len(patterns)))
		}
	}
	return mean, nil
}

func attentionHeatmap(kind, title, seriesName string, pattern [][]float32, tokens []string, o HeatmapOptions) (*Figure, error) {
	n, cols, err := checkMatrix(kind, "pattern", pattern)
	if err != nil {
		return nil, err
	}
	if cols != n {
		return nil, fmt.Errorf("plots: %s: pattern must be square [query][key], got %d×%d", kind, n, cols)
	}
	labels, err := tokenLabels(kind, tokens, n)
	if err != nil {
		return nil, err
	}
	for _, h := range []struct {
		arg string
		idx []int
	}{{"HighlightKeys", o.HighlightKeys}, {"HighlightQueries", o.HighlightQueries}} {
		for i, x := range h.idx {
			if x < 0 || x >= n {
				return nil, fmt.Errorf("plots: %s: %s[%d] = %d is outside 0..%d", kind, h.arg, i, x, n-1)
			}
		}
	}
	if math.IsNaN(o.ScaleMax) || math.IsInf(o.ScaleMax, 0) || o.ScaleMax < 0 {
		return nil, fmt.Errorf("plots: %s: ScaleMax %v must be a positive number (or 0 for 1)", kind, o.ScaleMax)
	}
	base, err := resolve(kind, o.Options, title, 720, 640)
	if err != nil {
		return nil, err
	}

	// Cells [key label, query label, value]: with names as categories the tooltip shows the tokens.
	data := make([]any, 0, n*(n+1)/2)
	var largest float32
	for q, row := range pattern {
		for k, v := range row {
			if (k > q && !o.ShowUpper) || v != v {
				continue
			}
			largest = max(largest, v)
			data = append(data, []any{labels[k], labels[q], v})
		}
	}
	scaleMax := o.ScaleMax
	switch {
	case o.AutoScale && largest > 0:
		scaleMax = float64(largest)
	case scaleMax == 0:
		scaleMax = 1
	}

	c := charts.NewHeatMap()
	c.JSAssets.Clear() // the page scripts come from the local copy, never from go-echarts' asset host
	keyAxis := opts.XAxis{Type: "category", Name: "key", NameLocation: "middle", NameGap: 30, Data: labels,
		SplitArea: &opts.SplitArea{Show: opts.Bool(false)}, AxisLine: &opts.AxisLine{OnZero: opts.Bool(false)}}
	if tokens != nil {
		keyAxis.NameGap = 0 // placed by the patch below the rotated labels
		keyAxis.AxisLabel = &opts.AxisLabel{Rotate: 90}
	}
	c.SetGlobalOptions(append(baseOpts(base, "item"),
		gridOpts(base, 96, false),
		charts.WithXAxisOpts(keyAxis),
		charts.WithLegendOpts(opts.Legend{Show: opts.Bool(false)}),
		// Inverse puts query 0 on top; the axis start, where the name goes, is then the top end too.
		charts.WithYAxisOpts(opts.YAxis{Type: "category", Name: "query", NameLocation: "start", Inverse: opts.Bool(true), Data: labels,
			AxisLine: &opts.AxisLine{OnZero: opts.Bool(false)}}),
		charts.WithVisualMapOpts(opts.VisualMap{
			Type: "continuous", Calculable: opts.Bool(true), Min: 0, Max: float32(scaleMax),
			InRange: &opts.VisualMapInRange{Color: viridis},
			Right:   "10", Top: "middle", Orient: "vertical",
		}),
	)...)
	c.MultiSeries = append(c.MultiSeries, charts.SingleSeries{Name: seriesName, Type: "heatmap", Data: data})

	p := newPatcher()
	p.add(nameAlign("yAxis", 0, "right"))
	p.add(setSeries(0, map[string]any{
		"dimensions":  dimensions("key", "query", seriesName),
		"progressive": 0, // draw every cell at once (also needed for server-side rendering)
		"emphasis":    map[string]any{"itemStyle": map[string]any{"borderColor": "#000000", "borderWidth": 1}},
	}))
	p.add(func(opt map[string]any) {
		if vm, ok := opt["visualMap"].([]any); ok && len(vm) > 0 {
			if m, ok := vm[0].(map[string]any); ok {
				m["seriesIndex"] = 0
				m["precision"] = 2
			}
		}
		if tokens != nil { // the key axis name goes below the rotated token labels
			if axes, ok := opt["xAxis"].([]any); ok && len(axes) > 0 {
				if m, ok := axes[0].(map[string]any); ok {
					m["nameLocation"] = "end"
					m["nameGap"] = 8
				}
			}
		}
	})
	if len(o.HighlightKeys)+len(o.HighlightQueries) > 0 {
		addHighlights(c, p, n, o)
	}
	c.Accept(p)
	return figureOf(c, kind, base), nil
}

// addHighlights outlines rows and columns. Marks on category axes sit at the category centres, so the
// outlines live on a second, hidden pair of value axes running from -0.5 to n-0.5 over the same grid,
// where cell i spans [i-0.5, i+0.5]. They are mark lines (four per rectangle) because ECharts draws
// mark lines above the cells; mark areas would go below them.
func addHighlights(c *charts.HeatMap, p *patcher, n int, o HeatmapOptions) {
	lo, hi := -0.5, float64(n)-0.5
	c.ExtendXAxis(opts.XAxis{Type: "value", Show: opts.Bool(false), Min: lo, Max: hi})
	c.ExtendYAxis(opts.YAxis{Type: "value", Show: opts.Bool(false), Min: lo, Max: hi, Inverse: opts.Bool(true)})
	var segments []any
	rect := func(x0, y0, x1, y1 float64) {
		pt := func(x, y float64) map[string]any { return map[string]any{"xAxis": x, "yAxis": y} }
		segments = append(segments,
			[]any{pt(x0, y0), pt(x1, y0)}, []any{pt(x1, y0), pt(x1, y1)},
			[]any{pt(x1, y1), pt(x0, y1)}, []any{pt(x0, y1), pt(x0, y0)})
	}
	for _, k := range o.HighlightKeys {
		top := float64(k) - 0.5 // the column's cells run from query k (the diagonal) down
		if o.ShowUpper {
			top = lo
		}
		rect(float64(k)-0.5, top, float64(k)+0.5, hi)
	}
	for _, q := range o.HighlightQueries {
		right := float64(q) + 0.5 // the row's cells run from key 0 to the diagonal
		if o.ShowUpper {
			right = hi
		}
		rect(lo, float64(q)-0.5, right, float64(q)+0.5)
	}
	c.MultiSeries = append(c.MultiSeries, charts.SingleSeries{Name: "highlight", Type: "line", XAxisIndex: 1, YAxisIndex: 1})
	p.add(setSeries(len(c.MultiSeries)-1, map[string]any{
		"data":   []any{},
		"silent": true,
		"markLine": map[string]any{
			"silent":    true,
			"symbol":    []any{"none", "none"},
			"label":     map[string]any{"show": false},
			"lineStyle": map[string]any{"color": highlightColor, "width": 2, "type": "solid"},
			"data":      segments,
		},
	}))
}

// SinkGridOptions configures SinkGrid.
type SinkGridOptions struct {
	Options
	// Layer0AtBottom puts layer 0 in the bottom row, depth growing upward. By default layer 0 is the
	// top row, like a table (and like query 0 in the attention heatmaps).
	Layer0AtBottom bool
	// Annotate writes each score in its cell.
	Annotate bool
	// Digits is the number of decimals of the annotations; 0 means 2.
	Digits int
	// ScaleMax is the top of the colour scale; 0 means 1 (a score is a mean attention weight).
	ScaleMax float64
	// ValueName names the score in the tooltip; "" means "α".
	ValueName string
}

// SinkGrid draws sink scores scores[layer][head] (e.g. α_0 = mean attention of the queries to token 0)
// as a layer × head grid: heads on the x axis, layers on the y axis, layer 0 at the top unless
// o.Layer0AtBottom. NaN cells stay empty.
func SinkGrid(scores [][]float32, o SinkGridOptions) (*Figure, error) {
	const kind = "sink-grid"
	layers, heads, err := checkMatrix(kind, "scores", scores)
	if err != nil {
		return nil, err
	}
	if math.IsNaN(o.ScaleMax) || math.IsInf(o.ScaleMax, 0) || o.ScaleMax < 0 {
		return nil, fmt.Errorf("plots: %s: ScaleMax %v must be a positive number (or 0 for 1)", kind, o.ScaleMax)
	}
	if o.Digits < 0 || o.Digits > 10 {
		return nil, fmt.Errorf("plots: %s: Digits %d is outside 0..10", kind, o.Digits)
	}
	base, err := resolve(kind, o.Options, "Sink score per layer and head", 720, 560)
	if err != nil {
		return nil, err
	}
	digits := o.Digits
	if digits == 0 {
		digits = 2
	}
	valueName := o.ValueName
	if valueName == "" {
		valueName = "α"
	}
	scaleMax := o.ScaleMax
	if scaleMax == 0 {
		scaleMax = 1
	}
	headLabels := make([]string, heads)
	for h := range headLabels {
		headLabels[h] = strconv.Itoa(h)
	}
	layerLabels := make([]string, layers)
	for l := range layerLabels {
		layerLabels[l] = strconv.Itoa(l)
	}
	layerNameAt := "start" // the top end of an inverse axis
	if o.Layer0AtBottom {
		layerNameAt = "end"
	}
	data := make([]any, 0, layers*heads)
	for l, row := range scores {
		for h, v := range row {
			if v != v {
				continue
			}
			cell := []any{h, l, v}
			if o.Annotate {
				data = append(data, map[string]any{"name": strconv.FormatFloat(float64(v), 'f', digits, 32), "value": cell})
			} else {
				data = append(data, cell)
			}
		}
	}

	c := charts.NewHeatMap()
	c.JSAssets.Clear()
	c.SetGlobalOptions(append(baseOpts(base, "item"),
		gridOpts(base, 96, false),
		charts.WithXAxisOpts(opts.XAxis{Type: "category", Name: "head", NameLocation: "middle", NameGap: 30, Data: headLabels}),
		charts.WithLegendOpts(opts.Legend{Show: opts.Bool(false)}),
		charts.WithYAxisOpts(opts.YAxis{Type: "category", Name: "layer", NameLocation: layerNameAt, Inverse: opts.Bool(!o.Layer0AtBottom), Data: layerLabels}),
		charts.WithVisualMapOpts(opts.VisualMap{
			Type: "continuous", Calculable: opts.Bool(true), Min: 0, Max: float32(scaleMax),
			InRange: &opts.VisualMapInRange{Color: viridis},
			Right:   "10", Top: "middle", Orient: "vertical",
		}),
	)...)
	c.MultiSeries = append(c.MultiSeries, charts.SingleSeries{Name: valueName, Type: "heatmap", Data: data})
	members := map[string]any{
		"dimensions":  dimensions("head", "layer", valueName),
		"progressive": 0,
		"emphasis":    map[string]any{"itemStyle": map[string]any{"borderColor": "#000000", "borderWidth": 1}},
	}
	if o.Annotate {
		members["label"] = map[string]any{"show": true, "formatter": "{b}", "fontSize": 10, "color": "#ffffff",
			"textBorderColor": "rgba(0,0,0,0.7)", "textBorderWidth": 2}
	}
	p := newPatcher()
	p.add(nameAlign("yAxis", 0, "right"), setSeries(0, members))
	c.Accept(p)
	return figureOf(c, kind, base), nil
}

// dimensions names the data dimensions, which the default tooltip shows one per line.
func dimensions(names ...string) []any {
	out := make([]any, len(names))
	for i, n := range names {
		out[i] = map[string]any{"name": n, "displayName": n}
	}
	return out
}
