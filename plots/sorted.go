package plots

import (
	"fmt"
	"math"
	"sort"
	"strconv"

	"github.com/go-echarts/go-echarts/v2/charts"
	"github.com/go-echarts/go-echarts/v2/opts"
)

// SortedOptions configures SortedValues.
type SortedOptions struct {
	Options
	// IndexName names what the original indices count, e.g. "neuron" or "dim"; "" means "index".
	IndexName string
	// YName names the y axis (the values); "" means "value".
	YName string
	// ShowMean draws a dashed line at the mean of all values.
	ShowMean bool
	// Bars draws bars, on a category axis of ranks, instead of a line.
	Bars bool
	// LogY draws the y axis on a logarithmic scale (values must then be > 0).
	LogY bool
}

// SortedValues draws values sorted in descending order against their rank (1 = largest), and marks
// the topK largest with their original index, e.g. "neuron 7890" (Fig. 8: row norms of W_up and
// W_gate; Fig. 10: |W_down[:, neuron]|). Ties keep the smaller index first. Every point's tooltip
// shows its original index. NaN is an error here: it has no rank.
func SortedValues(values []float32, topK int, o SortedOptions) (*Figure, error) {
	const kind = "sorted-values"
	if len(values) == 0 {
		return nil, fmt.Errorf("plots: %s: values is empty", kind)
	}
	if topK < 0 || topK > len(values) {
		return nil, fmt.Errorf("plots: %s: topK %d is outside 0..%d (the number of values)", kind, topK, len(values))
	}
	var sum float64
	for i, v := range values {
		switch {
		case v != v || math.IsInf(float64(v), 0):
			return nil, fmt.Errorf("plots: %s: values[%d] is %v", kind, i, v)
		case o.LogY && v <= 0:
			return nil, fmt.Errorf("plots: %s: values[%d] = %v cannot be drawn on a logarithmic axis", kind, i, v)
		}
		sum += float64(v)
	}
	base, err := resolve(kind, o.Options, "Sorted values", 760, 440)
	if err != nil {
		return nil, err
	}
	indexName := orDefault(o.IndexName, "index")
	yName := orDefault(o.YName, "value")

	order := make([]int, len(values))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return values[order[a]] > values[order[b]] })
	// Points [rank, value, original index]; the index shows in tooltips and top-k labels. Bars stand
	// on a category axis (a bar on a value axis would stick out past both ends), whose points give
	// the category number, rank − 1.
	data := make([]any, len(order))
	for r, i := range order {
		x := r + 1
		if o.Bars {
			x = r
		}
		data[r] = []any{x, values[i], i}
	}
	seriesName := "sorted " + yName
	topName := fmt.Sprintf("top %d", topK)
	legend := []string{seriesName}
	if topK > 0 {
		legend = append(legend, topName)
	}

	c := charts.NewLine()
	c.JSAssets.Clear()
	c.SetGlobalOptions(append(baseOpts(base, "axis"),
		gridOpts(base, 32, true),
		legendOpts(legend),
		charts.WithXAxisOpts(opts.XAxis{Type: "value", Name: "rank", NameLocation: "middle", NameGap: 28,
			Min: 1, Max: len(values)}),
		charts.WithYAxisOpts(opts.YAxis{Type: yAxisType(o.LogY), Name: yName}),
	)...)
	kindOf := "line"
	if o.Bars {
		kindOf = "bar"
		ranks := make([]string, len(values))
		for r := range ranks {
			ranks[r] = strconv.Itoa(r + 1)
		}
		c.XAxisList[0] = opts.XAxis{Type: "category", Name: "rank", NameLocation: "middle", NameGap: 28}
		c.SetXAxis(ranks)
	}
	c.MultiSeries = append(c.MultiSeries, charts.SingleSeries{Name: seriesName, Type: kindOf, Data: data,
		ShowSymbol: opts.Bool(len(values) <= maxSymbols), Symbol: "circle", LineStyle: &opts.LineStyle{Width: 2}})
	dims := dimensions("rank", yName, indexName)
	main := map[string]any{
		"dimensions": dims,
		"encode":     map[string]any{"x": 0, "y": 1, "tooltip": []any{2, 1}},
	}
	if o.ShowMean {
		mean := sum / float64(len(values))
		main["markLine"] = map[string]any{
			"silent": true, "symbol": []any{"none", "none"},
			"lineStyle": map[string]any{"type": "dashed", "color": "#666666"},
			"data": []any{map[string]any{"yAxis": mean, "name": "mean",
				"label": map[string]any{"formatter": "mean " + formatNumber(mean), "position": "insideEndTop"}}},
		}
	}
	p := newPatcher()
	p.add(nameAlign("yAxis", 0, "left"), setSeries(0, main))
	if topK > 0 {
		c.MultiSeries = append(c.MultiSeries, charts.SingleSeries{Name: topName, Type: "scatter", Data: data[:topK],
			SymbolSize: 9, ItemStyle: &opts.ItemStyle{Color: highlightColor}})
		p.add(setSeries(1, map[string]any{
			"dimensions": dims,
			"encode":     map[string]any{"x": 0, "y": 1, "tooltip": []any{2, 1}},
			"z":          4,
			// The labels stand in a column right of the top-k points, joined to them by guide lines,
			// and move apart vertically when they collide (ECharts shifts only labels placed at a set x).
			"label": map[string]any{"show": true, "position": "right", "formatter": indexName + " {@[2]}",
				"color": highlightColor, "fontSize": 11},
			"labelLayout": map[string]any{"x": topLabelX(base.Width, topK, len(values)), "moveOverlap": "shiftY"},
			"labelLine":   map[string]any{"show": true, "lineStyle": map[string]any{"color": "#999999"}},
		}))
	}
	c.Accept(p)
	return figureOf(c, kind, base), nil
}

// topLabelX estimates, in pixels, a column just right of the top-k points: ranks 1..k take the first
// (k-1)/(n-1) of the plot width, which starts about 60 px from the left edge and ends 32 px from the right.
func topLabelX(width, k, n int) int {
	const left, right, gap = 60, 32, 28
	frac := 0.0
	if n > 1 {
		frac = float64(k-1) / float64(n-1)
	}
	x := left + int(frac*float64(width-left-right)) + gap
	return min(x, width-140) // room for a label like "neuron 10549"
}
