package plots

import (
	"fmt"
	"math"
	"strconv"

	"github.com/go-echarts/go-echarts/v2/charts"
	"github.com/go-echarts/go-echarts/v2/opts"
)

// LineOptions configures PositionLines, LambdaSweep and LossCurves.
type LineOptions struct {
	Options
	// XName and YName name the axes; "" keeps the constructor's default.
	XName, YName string
	// LogY draws the y axis on a logarithmic scale (every drawn value must then be > 0).
	LogY bool
	// CategoryX (LambdaSweep only) spaces the λ values evenly instead of on a value axis.
	CategoryX bool
}

// Line series with more points than this are drawn without a symbol per point.
const maxSymbols = 24

// pairData encodes one series as [x, y] points, NaN values as gaps.
func pairData(x []float64, y []float64) []any {
	data := make([]any, len(x))
	for i := range x {
		data[i] = []any{x[i], value(y[i])}
	}
	return data
}

// lineSeries builds the ECharts series of s on the shared x values.
func lineSeries(s Series, x []float64, symbols bool) charts.SingleSeries {
	ls := charts.SingleSeries{Name: s.Name, Type: "line", Data: pairData(x, s.Values),
		ShowSymbol: opts.Bool(symbols), Symbol: "circle", LineStyle: &opts.LineStyle{Width: 2}}
	if s.Dashed {
		ls.LineStyle.Type = "dashed"
	}
	if s.Color != "" {
		ls.LineStyle.Color = s.Color
		ls.ItemStyle = &opts.ItemStyle{Color: s.Color}
	}
	return ls
}

// pairTooltip makes the axis tooltip show y only: its header already shows x.
func pairTooltip() map[string]any {
	return map[string]any{"encode": map[string]any{"x": 0, "y": 1, "tooltip": []any{1}}}
}

func seriesNames(series []Series) []string {
	names := make([]string, len(series))
	for i, s := range series {
		names[i] = s.Name
	}
	return names
}

func yAxisType(log bool) string {
	if log {
		return "log"
	}
	return "value"
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// newLineChart makes a line chart with a value x axis and one y axis.
func newLineChart(base Options, legend []string, xName, yName string, logY, scaleY bool) *charts.Line {
	c := charts.NewLine()
	c.JSAssets.Clear()
	c.SetGlobalOptions(append(baseOpts(base, "axis"),
		gridOpts(base, 32, true),
		legendOpts(legend),
		charts.WithXAxisOpts(opts.XAxis{Type: "value", Name: xName, NameLocation: "middle", NameGap: 28,
			Min: "dataMin", Max: "dataMax"}),
		charts.WithYAxisOpts(opts.YAxis{Type: yAxisType(logY), Name: yName, Scale: opts.Bool(scaleY)}),
	)...)
	return c
}

func increasingInts(kind, arg string, x []int) ([]float64, error) {
	if len(x) == 0 {
		return nil, fmt.Errorf("plots: %s: %s is empty", kind, arg)
	}
	out := make([]float64, len(x))
	for i, v := range x {
		if i > 0 && v <= x[i-1] {
			return nil, fmt.Errorf("plots: %s: %s must increase: %s[%d] = %d follows %d", kind, arg, arg, i, v, x[i-1])
		}
		out[i] = float64(v)
	}
	return out, nil
}

// PositionLines draws per-position curves, e.g. the std of the W_O input per position for layers 0–2
// (Fig. 4a), with a theory curve (Dashed) on top. x holds the positions (increasing); every series has
// one value per position, NaN for a gap.
func PositionLines(x []int, series []Series, o LineOptions) (*Figure, error) {
	const kind = "position-lines"
	xs, err := increasingInts(kind, "x", x)
	if err != nil {
		return nil, err
	}
	if err := checkSeries(kind, "series", series, len(x), o.LogY); err != nil {
		return nil, err
	}
	base, err := resolve(kind, o.Options, "Per-position statistic", 760, 440)
	if err != nil {
		return nil, err
	}
	c := newLineChart(base, seriesNames(series), orDefault(o.XName, "position"), orDefault(o.YName, "value"), o.LogY, false)
	p := newPatcher()
	p.add(nameAlign("yAxis", 0, "left"))
	p.add(func(opt map[string]any) { // x is positions, layers or heads: integer ticks only
		if axes, ok := opt["xAxis"].([]any); ok && len(axes) > 0 {
			if m, ok := axes[0].(map[string]any); ok {
				m["minInterval"] = 1
			}
		}
	})
	for i, s := range series {
		c.MultiSeries = append(c.MultiSeries, lineSeries(s, xs, len(x) <= maxSymbols))
		p.add(setSeries(i, pairTooltip()))
	}
	c.Accept(p)
	return figureOf(c, kind, base), nil
}

// LambdaSweep draws one curve per condition against the intervention strength λ (Fig. 6: attention
// to the target token for o' = μ + λ(o − μ), with the plain λ·o control as a second, dashed curve).
// lambdas must increase; o.CategoryX spaces them evenly.
func LambdaSweep(lambdas []float64, curves []Series, o LineOptions) (*Figure, error) {
	const kind = "lambda-sweep"
	if err := checkFloats(kind, "lambdas", lambdas); err != nil {
		return nil, err
	}
	for i := 1; i < len(lambdas); i++ {
		if lambdas[i] <= lambdas[i-1] {
			return nil, fmt.Errorf("plots: %s: lambdas must increase: lambdas[%d] = %v follows %v", kind, i, lambdas[i], lambdas[i-1])
		}
	}
	if err := checkSeries(kind, "curves", curves, len(lambdas), o.LogY); err != nil {
		return nil, err
	}
	base, err := resolve(kind, o.Options, "Attention to the target token vs λ", 760, 440)
	if err != nil {
		return nil, err
	}
	c := newLineChart(base, seriesNames(curves), orDefault(o.XName, "λ"), orDefault(o.YName, "attention to target"), o.LogY, false)
	p := newPatcher()
	p.add(nameAlign("yAxis", 0, "left"))
	if o.CategoryX {
		labels := make([]string, len(lambdas))
		for i, l := range lambdas {
			labels[i] = strconv.FormatFloat(l, 'g', -1, 64)
		}
		c.XAxisList[0] = opts.XAxis{Type: "category", Name: orDefault(o.XName, "λ"), NameLocation: "middle", NameGap: 28}
		c.SetXAxis(labels)
		for _, s := range curves {
			ls := lineSeries(s, lambdas, true)
			data := make([]any, len(s.Values))
			for i, v := range s.Values {
				data[i] = value(v)
			}
			ls.Data = data
			c.MultiSeries = append(c.MultiSeries, ls)
		}
	} else {
		for i, s := range curves {
			c.MultiSeries = append(c.MultiSeries, lineSeries(s, lambdas, true))
			p.add(setSeries(i, pairTooltip()))
		}
	}
	c.Accept(p)
	return figureOf(c, kind, base), nil
}

// DualAxisOptions configures DualAxisLayers.
type DualAxisOptions struct {
	Options
	// XName names the x axis; "" means "layer".
	XName string
	// LeftName and RightName name the two y axes; "" uses the series names.
	LeftName, RightName string
	// Threshold > 0 draws a dashed horizontal line at that value of the left axis (Fig. 3: 0.8).
	Threshold float64
	// MarkOnset (with Threshold) marks the first layer whose left value exceeds Threshold, the sink
	// onset; nothing is marked when no layer does.
	MarkOnset bool
	// LogRight draws the right axis on a logarithmic scale (right values must then be > 0).
	LogRight bool
}

// DualAxisLayers draws two per-layer curves on two y axes (Fig. 3): left, e.g. the mean attention
// to token 0, and right, e.g. the ratio of token 0's hidden-state norm to the other tokens'.
// layers must increase; each series has one value per layer, NaN for a gap.
func DualAxisLayers(layers []int, left, right Series, o DualAxisOptions) (*Figure, error) {
	const kind = "dual-axis-layers"
	if _, err := increasingInts(kind, "layers", layers); err != nil {
		return nil, err
	}
	switch {
	case left.Name == "" || right.Name == "":
		return nil, fmt.Errorf("plots: %s: left and right need a Name", kind)
	case left.Name == right.Name:
		return nil, fmt.Errorf("plots: %s: left and right are both named %q", kind, left.Name)
	}
	if err := checkValues(kind, "left.Values", left.Values, len(layers), false); err != nil {
		return nil, err
	}
	if err := checkValues(kind, "right.Values", right.Values, len(layers), o.LogRight); err != nil {
		return nil, err
	}
	if math.IsNaN(o.Threshold) || math.IsInf(o.Threshold, 0) || o.Threshold < 0 {
		return nil, fmt.Errorf("plots: %s: Threshold %v must be a positive number (or 0 for none)", kind, o.Threshold)
	}
	if o.MarkOnset && o.Threshold == 0 {
		return nil, fmt.Errorf("plots: %s: MarkOnset needs a Threshold", kind)
	}
	base, err := resolve(kind, o.Options, "Sink onset by layer", 760, 440)
	if err != nil {
		return nil, err
	}
	labels := make([]string, len(layers))
	for i, l := range layers {
		labels[i] = strconv.Itoa(l)
	}
	// The left axis shows a fraction: keep it at 0..1 when the data and threshold fit.
	leftAxis := opts.YAxis{Type: "value", Name: orDefault(o.LeftName, left.Name)}
	nonNegative, fraction := true, o.Threshold <= 1
	for _, v := range left.Values {
		nonNegative = nonNegative && !(v < 0)
		fraction = fraction && !(v < 0 || v > 1)
	}
	if nonNegative {
		leftAxis.Min = 0
	}
	if fraction {
		leftAxis.Max = 1
	}
	rightAxis := opts.YAxis{Type: yAxisType(o.LogRight), Name: orDefault(o.RightName, right.Name), Position: "right",
		SplitLine: &opts.SplitLine{Show: opts.Bool(false)}}

	c := charts.NewLine()
	c.JSAssets.Clear()
	c.SetGlobalOptions(append(baseOpts(base, "axis"),
		gridOpts(base, 32, true),
		legendOpts([]string{left.Name, right.Name}),
		charts.WithXAxisOpts(opts.XAxis{Type: "category", Name: orDefault(o.XName, "layer"), NameLocation: "middle", NameGap: 28}),
		charts.WithYAxisOpts(leftAxis),
	)...)
	c.ExtendYAxis(rightAxis)
	c.SetXAxis(labels)
	for i, s := range []Series{left, right} {
		ls := lineSeries(s, nil, len(layers) <= maxSymbols*2)
		data := make([]any, len(s.Values))
		for j, v := range s.Values {
			data[j] = value(v)
		}
		ls.Data = data
		ls.YAxisIndex = i
		c.MultiSeries = append(c.MultiSeries, ls)
	}

	var marks []any
	if o.Threshold > 0 {
		marks = append(marks, map[string]any{"yAxis": o.Threshold, "name": "threshold",
			"label": map[string]any{"formatter": "threshold " + formatNumber(o.Threshold), "position": "insideEndTop"}})
	}
	if o.MarkOnset {
		for i, v := range left.Values {
			if v > o.Threshold {
				marks = append(marks, map[string]any{"xAxis": labels[i], "name": "onset",
					"lineStyle": map[string]any{"color": highlightColor, "type": "solid", "width": 1.5},
					"label":     map[string]any{"formatter": "onset: layer " + labels[i], "position": "end", "color": highlightColor}})
				break
			}
		}
	}
	p := newPatcher()
	p.add(nameAlign("yAxis", 0, "left"), nameAlign("yAxis", 1, "right"))
	if len(marks) > 0 {
		p.add(setSeries(0, map[string]any{"markLine": map[string]any{
			"silent": true, "symbol": []any{"none", "none"},
			"lineStyle": map[string]any{"type": "dashed", "color": "#666666"},
			"data":      marks,
		}}))
	}
	c.Accept(p)
	return figureOf(c, kind, base), nil
}

// Arm is one training run, or the mean over seeds of one experiment arm.
type Arm struct {
	// Name is the legend entry; names must be unique.
	Name string
	// Steps are the training steps of the points (increasing).
	Steps []int
	// Mean is the loss at each step (NaN for a gap).
	Mean []float64
	// Lo and Hi, optional (both nil or both one per step), bound a shaded band around Mean, e.g. the
	// min and max over seeds or mean ± std.
	Lo, Hi []float64
}

// LossCurves draws the training loss of each arm against the step, each with its optional Lo–Hi band
// shaded in the arm's colour. The band is ECharts' stacked-area construction: an invisible line at Lo
// and, stacked on it, a filled line of height Hi − Lo. Band series carry the arm's name, so clicking
// the legend hides an arm with its band; tooltips list the mean lines only.
func LossCurves(arms []Arm, o LineOptions) (*Figure, error) {
	const kind = "loss-curves"
	if len(arms) == 0 {
		return nil, fmt.Errorf("plots: %s: arms is empty", kind)
	}
	seen := map[string]int{}
	xs := make([][]float64, len(arms))
	for i, a := range arms {
		arg := fmt.Sprintf("arms[%d]", i)
		if a.Name == "" {
			return nil, fmt.Errorf("plots: %s: %s has no Name", kind, arg)
		}
		if j, dup := seen[a.Name]; dup {
			return nil, fmt.Errorf("plots: %s: arms[%d] and arms[%d] are both named %q", kind, j, i, a.Name)
		}
		seen[a.Name] = i
		arg = fmt.Sprintf("arms[%d] (%q)", i, a.Name)
		var err error
		if xs[i], err = increasingInts(kind, arg+".Steps", a.Steps); err != nil {
			return nil, err
		}
		if err := checkValues(kind, arg+".Mean", a.Mean, len(a.Steps), o.LogY); err != nil {
			return nil, err
		}
		if (a.Lo == nil) != (a.Hi == nil) {
			return nil, fmt.Errorf("plots: %s: %s has only one of Lo and Hi", kind, arg)
		}
		if a.Lo == nil {
			continue
		}
		if err := checkValues(kind, arg+".Lo", a.Lo, len(a.Steps), o.LogY); err != nil {
			return nil, err
		}
		if err := checkValues(kind, arg+".Hi", a.Hi, len(a.Steps), o.LogY); err != nil {
			return nil, err
		}
		for j := range a.Lo {
			if a.Lo[j] > a.Hi[j] {
				return nil, fmt.Errorf("plots: %s: %s.Lo[%d] = %v is above Hi[%d] = %v", kind, arg, j, a.Lo[j], j, a.Hi[j])
			}
		}
	}
	base, err := resolve(kind, o.Options, "Training loss", 760, 440)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(arms))
	for i, a := range arms {
		names[i] = a.Name
	}
	c := newLineChart(base, names, orDefault(o.XName, "step"), orDefault(o.YName, "loss"), o.LogY, true)
	p := newPatcher()
	p.add(nameAlign("yAxis", 0, "left"))
	for i, a := range arms {
		color := palette[i%len(palette)]
		// The mean line comes first: the legend takes an arm's icon from its first series.
		mean := lineSeries(Series{Name: a.Name, Values: a.Mean, Color: color}, xs[i], len(a.Steps) <= maxSymbols)
		c.MultiSeries = append(c.MultiSeries, mean)
		p.add(setSeries(len(c.MultiSeries)-1, pairTooltip()), setSeries(len(c.MultiSeries)-1, map[string]any{"z": 3}))
		if a.Lo == nil {
			continue
		}
		height := make([]float64, len(a.Lo))
		for j := range height {
			height[j] = a.Hi[j] - a.Lo[j] // NaN when either bound is missing: a gap in the band
		}
		stack := "band-" + strconv.Itoa(i)
		// ECharts stacks the first numeric dimension of the data, and on a value x axis that would be the
		// step: band points are therefore [value, step], with encode mapping them back.
		band := map[string]any{
			"encode":        map[string]any{"x": 1, "y": 0},
			"stackStrategy": "all", // stack whatever the signs (the default stacks same-sign values only)
			"tooltip":       map[string]any{"show": false},
			"silent":        true,
			"emphasis":      map[string]any{"disabled": true},
		}
		for _, part := range []struct {
			values []float64
			fill   bool
		}{{a.Lo, false}, {height, true}} {
			data := make([]any, len(xs[i]))
			for j, x := range xs[i] {
				data[j] = []any{value(part.values[j]), x}
			}
			s := charts.SingleSeries{Name: a.Name, Type: "line", Stack: stack, Data: data,
				Symbol: "none", ShowSymbol: opts.Bool(false),
				LineStyle: &opts.LineStyle{Opacity: opts.Float(0)}, ItemStyle: &opts.ItemStyle{Color: color}}
			if part.fill {
				s.AreaStyle = &opts.AreaStyle{Color: color, Opacity: opts.Float(0.2)}
			}
			c.MultiSeries = append(c.MultiSeries, s)
			p.add(setSeries(len(c.MultiSeries)-1, band))
		}
	}
	c.Accept(p)
	return figureOf(c, kind, base), nil
}
