package plots

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/go-echarts/go-echarts/v2/charts"
	"github.com/go-echarts/go-echarts/v2/opts"
)

// Chart is what a Figure needs from a go-echarts chart; every chart type of go-echarts' charts package
// (*charts.HeatMap, *charts.Line, *charts.Bar, ...) satisfies it.
type Chart interface {
	// JSON returns the chart's ECharts option as a map (go-echarts' own encoding).
	JSON() map[string]interface{}
	// Validate completes the option before it is encoded (go-echarts fills the x axis data there).
	Validate()
}

// Options are the settings every figure has.
type Options struct {
	// Title is drawn at the top left of the chart; every constructor has a default.
	Title string
	// Subtitle is drawn below the title (e.g. the model and the number of samples).
	Subtitle string
	// Width and Height are the chart size in pixels; 0 keeps the constructor's default.
	Width, Height int
	// ID is the chart's element id in HTML pages. Letters, digits and '_' only; "" makes a fresh one.
	ID string
}

// Figure is one chart plus what it takes to show it: title, size and element id.
//
// Its option is produced by the wrapped go-echarts chart, so a caller may still adjust the chart
// (Chart(), then a type assertion to *charts.HeatMap, *charts.Line, ...) before encoding it.
type Figure struct {
	chart         Chart
	kind          string
	title         string
	width, height int
	id            string
}

// ErrJSFunction is returned by OptionJSON when the chart holds JavaScript functions (go-echarts'
// opts.FuncOpts), which JSON cannot carry. OptionJS, SaveHTML and RenderSVG handle them.
var ErrJSFunction = errors.New("plots: the chart option holds JavaScript functions (opts.FuncOpts): use OptionJS")

// jsFuncMarker is how go-echarts marks a JavaScript function inside a JSON string:
// opts.FuncOpts("function (x) {...}") is the string "__f__function (x) {...}__f__". go-echarts' own
// templates strip the markers together with the quotes around them; we do the same, but only for a
// string that starts and ends with the marker, and never in OptionJSON.
const jsFuncMarker = "__f__"

// Default size of a figure wrapped by NewFigure.
const (
	defaultWidth  = 800
	defaultHeight = 500
)

var idPattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// NewFigure wraps a go-echarts chart built elsewhere, so that it can be shown and saved like the
// figures of this package. o.Title is the figure's title metadata (the chart's own title is not
// changed; o.Subtitle is unused); a zero size becomes 800×500 pixels.
func NewFigure(chart Chart, o Options) (*Figure, error) {
	if chart == nil {
		return nil, errors.New("plots: NewFigure: chart is nil")
	}
	o, err := resolve("figure", o, o.Title, defaultWidth, defaultHeight)
	if err != nil {
		return nil, err
	}
	return figureOf(chart, "figure", o), nil
}

// resolve checks o and fills in the defaults of a figure kind (title, size) and a fresh ID, before the
// chart is built.
func resolve(kind string, o Options, title string, width, height int) (Options, error) {
	if o.Title == "" {
		o.Title = title
	}
	if o.Width < 0 || o.Height < 0 {
		return o, fmt.Errorf("plots: %s: negative size %d×%d", kind, o.Width, o.Height)
	}
	if o.Width == 0 {
		o.Width = width
	}
	if o.Height == 0 {
		o.Height = height
	}
	id, err := figureID(kind, o.ID)
	if err != nil {
		return o, err
	}
	o.ID = id
	return o, nil
}

// figureOf wraps a built chart; o has been through resolve.
func figureOf(chart Chart, kind string, o Options) *Figure {
	return &Figure{chart: chart, kind: kind, title: o.Title, width: o.Width, height: o.Height, id: o.ID}
}

func figureID(kind, id string) (string, error) {
	if id != "" {
		if !idPattern.MatchString(id) {
			return "", fmt.Errorf("plots: %s: ID %q: use letters, digits and '_' only, not starting with a digit", kind, id)
		}
		return id, nil
	}
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("plots: %s: making an ID: %w", kind, err)
	}
	return "sinkscope_" + strings.ReplaceAll(kind, "-", "_") + "_" + hex.EncodeToString(b[:]), nil
}

// Chart returns the wrapped go-echarts chart.
func (f *Figure) Chart() Chart { return f.chart }

// Kind names the constructor that made the figure, e.g. "attention-heatmap"; "figure" for NewFigure.
func (f *Figure) Kind() string { return f.kind }

// Title returns the figure's title.
func (f *Figure) Title() string { return f.title }

// Width returns the chart width in pixels.
func (f *Figure) Width() int { return f.width }

// Height returns the chart height in pixels.
func (f *Figure) Height() int { return f.height }

// ID returns the element id for HTML pages: unique per figure unless Options.ID chose it.
func (f *Figure) ID() string { return f.id }

// OptionJSON returns the ECharts option as compact JSON with sorted object keys, ready for
// echarts.setOption(JSON.parse(...)) in a browser or for the SSR script. Object members that are
// null are left out (ECharts treats them as absent). Figures made by this package never hold
// JavaScript functions; a chart wrapped by NewFigure that does makes OptionJSON fail with ErrJSFunction.
func (f *Figure) OptionJSON() ([]byte, error) {
	return f.encodeOption(modeJSON)
}

// OptionJS returns the ECharts option as a JavaScript expression for a <script> element: the JSON of
// OptionJSON, with every go-echarts function string (opts.FuncOpts) written out as code, and with
// '<', '>' and '&' inside strings escaped so that no string can close the script element.
func (f *Figure) OptionJS() ([]byte, error) {
	return f.encodeOption(modeJS)
}

// optionMarked is the option for the SSR script: JSON, with function strings left marked for its reviver.
func (f *Figure) optionMarked() ([]byte, error) {
	return f.encodeOption(modeMarked)
}

func (f *Figure) encodeOption(mode encodeMode) ([]byte, error) {
	if f == nil || f.chart == nil {
		return nil, errors.New("plots: nil figure")
	}
	f.chart.Validate()
	opt, err := normalize(f.chart.JSON())
	if err != nil {
		return nil, fmt.Errorf("plots: encoding the option of %q: %w", f.title, err)
	}
	var buf bytes.Buffer
	if err := encodeValue(&buf, opt, mode); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// encodeMode selects how encodeValue writes strings and go-echarts function strings.
type encodeMode int

const (
	modeJSON   encodeMode = iota // strict JSON: a function string is ErrJSFunction
	modeJS                       // JavaScript: functions written as code, strings safe inside <script>
	modeMarked                   // JSON: function strings kept with their markers
)

// normalize turns a JSON-encodable value into the generic form (map[string]any, []any, string,
// json.Number, bool, nil), dropping null object members. Numbers keep the text encoding/json gave
// them, so float32 data stay short.
func normalize(v any) (any, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var out any
	if err := dec.Decode(&out); err != nil {
		return nil, err
	}
	return pruneNulls(out), nil
}

func pruneNulls(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			if x == nil {
				delete(t, k)
				continue
			}
			t[k] = pruneNulls(x)
		}
	case []any:
		for i, x := range t {
			t[i] = pruneNulls(x) // nulls inside arrays are data (gaps): keep them
		}
	}
	return v
}

// jsFunctionSource reports whether s is a go-echarts function string and returns its code.
func jsFunctionSource(s string) (string, bool) {
	if len(s) < 2*len(jsFuncMarker) || !strings.HasPrefix(s, jsFuncMarker) || !strings.HasSuffix(s, jsFuncMarker) {
		return "", false
	}
	return s[len(jsFuncMarker) : len(s)-len(jsFuncMarker)], true
}

// encodeValue writes a normalized value; values of other types are normalized first.
func encodeValue(buf *bytes.Buffer, v any, mode encodeMode) error {
	switch t := v.(type) {
	case nil:
		buf.WriteString("null")
	case bool:
		if t {
			buf.WriteString("true")
		} else {
			buf.WriteString("false")
		}
	case json.Number:
		buf.WriteString(t.String())
	case string:
		if src, ok := jsFunctionSource(t); ok {
			switch mode {
			case modeJSON:
				return ErrJSFunction
			case modeJS:
				if strings.Contains(strings.ToLower(src), "</script") {
					return errors.New("plots: a JavaScript function of the option contains \"</script\"")
				}
				buf.WriteString(src)
				return nil
			}
		}
		encodeString(buf, t, mode == modeJS)
	case []any:
		buf.WriteByte('[')
		for i, x := range t {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := encodeValue(buf, x, mode); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		buf.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			encodeString(buf, k, mode == modeJS)
			buf.WriteByte(':')
			if err := encodeValue(buf, t[k], mode); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
	default:
		n, err := normalize(v)
		if err != nil {
			return err
		}
		return encodeValue(buf, n, mode)
	}
	return nil
}

func encodeString(buf *bytes.Buffer, s string, htmlSafe bool) {
	var tmp bytes.Buffer
	enc := json.NewEncoder(&tmp)
	enc.SetEscapeHTML(htmlSafe)
	_ = enc.Encode(s) // a string always encodes
	buf.Write(bytes.TrimSuffix(tmp.Bytes(), []byte("\n")))
}

// patcher adds the ECharts options go-echarts has no field for (series dimensions, stackStrategy, ...).
// It runs inside the chart's own JSON method, so go-echarts' RenderSnippet sees the same option.
type patcher struct {
	charts.BaseConfigurationVisitor
	patches []func(opt map[string]any)
}

// Visit turns the option into the generic form, then applies the patches.
func (p *patcher) Visit(obj map[string]interface{}) {
	for k, v := range obj {
		n, err := normalize(v)
		if err != nil {
			return // encoding fails later with the same error
		}
		obj[k] = n
	}
	for _, fn := range p.patches {
		fn(obj)
	}
}

// newPatcher returns a patcher with the patches every figure gets.
func newPatcher() *patcher {
	return &patcher{patches: []func(map[string]any){legendGap, func(opt map[string]any) {
		if t, ok := opt["tooltip"].(map[string]any); ok {
			t["confine"] = true // keep tooltips inside the chart (notebook output cells clip them)
		}
	}}}
}

func (p *patcher) add(fns ...func(map[string]any)) { p.patches = append(p.patches, fns...) }

// setSeries sets option members of series i (in the generic form).
func setSeries(i int, members map[string]any) func(map[string]any) {
	return func(opt map[string]any) {
		list, _ := opt["series"].([]any)
		if i >= len(list) {
			return
		}
		if s, ok := list[i].(map[string]any); ok {
			for k, v := range members {
				s[k] = v
			}
		}
	}
}

// setAxis sets option members of axis i of kind "xAxis" or "yAxis".
func setAxis(kind string, i int, members map[string]any) func(map[string]any) {
	return func(opt map[string]any) {
		list, _ := opt[kind].([]any)
		if i >= len(list) {
			return
		}
		if a, ok := list[i].(map[string]any); ok {
			for k, v := range members {
				a[k] = v
			}
		}
	}
}

// nameAlign aligns an axis name placed at an end of its axis, so that it grows away from the chart
// edge instead of being centred on the axis line (and cut off at the edge).
func nameAlign(kind string, i int, align string) func(map[string]any) {
	return setAxis(kind, i, map[string]any{"nameTextStyle": map[string]any{"align": align}})
}

// setOption sets top-level option members.
func setOption(members map[string]any) func(map[string]any) {
	return func(opt map[string]any) {
		for k, v := range members {
			opt[k] = v
		}
	}
}

// Shared look of all figures.
const (
	backgroundColor = "#ffffff"
	highlightColor  = "#e4002b"
)

// palette is the series colour cycle (ECharts' default), written into every option so that a band
// and its line can share a colour explicitly.
var palette = []string{"#5470c6", "#91cc75", "#fac858", "#ee6666", "#73c0de", "#3ba272", "#fc8452", "#9a60b4", "#ea7ccc"}

// viridis runs from dark purple (0) to yellow (1): empty cells (white) stand out from zeros.
var viridis = []string{"#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725"}

// baseOpts are the global options of every chart: size, id, background, title, tooltip.
func baseOpts(o Options, trigger string) []charts.GlobalOpts {
	return []charts.GlobalOpts{
		charts.WithInitializationOpts(opts.Initialization{
			Width:           fmt.Sprintf("%dpx", o.Width),
			Height:          fmt.Sprintf("%dpx", o.Height),
			ChartID:         o.ID,
			BackgroundColor: backgroundColor,
			Theme:           "white",
		}),
		charts.WithColorsOpts(palette),
		charts.WithTitleOpts(opts.Title{Title: o.Title, Subtitle: o.Subtitle, Left: "10", Top: "6"}),
		charts.WithTooltipOpts(opts.Tooltip{Show: opts.Bool(true), Trigger: trigger}),
	}
}

// gridOpts leaves room for the title above, the axis labels and names, and a legend below.
func gridOpts(o Options, right int, legend bool) charts.GlobalOpts {
	top := 64
	if o.Subtitle != "" {
		top = 92
	}
	bottom := 36
	if legend {
		bottom = 64
	}
	return charts.WithGridOpts(opts.Grid{
		Left:         "24",
		Right:        fmt.Sprint(right),
		Top:          fmt.Sprint(top),
		Bottom:       fmt.Sprint(bottom),
		ContainLabel: opts.Bool(true),
	})
}

func legendOpts(names []string) charts.GlobalOpts {
	return charts.WithLegendOpts(opts.Legend{Show: opts.Bool(true), Bottom: "4", Data: names})
}

// legendGap widens the space between legend entries: server-side rendering estimates text widths,
// and fonts that run wider than the estimate would otherwise overlap the next entry.
func legendGap(opt map[string]any) {
	if l, ok := opt["legend"].(map[string]any); ok {
		l["itemGap"] = 24
	}
}
