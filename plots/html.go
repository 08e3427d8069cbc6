package plots

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"strings"
)

// Attributes on the element that a chart draws into. The chart's script records in StateAttr how far
// it got, so that a reader of the page (a browser test, a screenshot tool) can wait for the charts
// without guessing how long ECharts takes.
const (
	// ChartAttr marks a chart's element; its value is the element's id.
	ChartAttr = "data-sinkscope-chart"
	// StateAttr is set by the chart's script to one of the State values.
	StateAttr = "data-sinkscope-rendered"
	// ErrorAttr holds the message of a chart in StateError or StateStatic.
	ErrorAttr = "data-sinkscope-error"
)

// Values of StateAttr. StatePending is the only one that changes later; an element without StateAttr
// has a script that never ran (or failed before its first statement).
const (
	StatePending = "pending" // the script ran and ECharts is drawing
	StateDrawn   = "echarts" // ECharts finished drawing: its "finished" event fired
	StateStatic  = "svg"     // the page has no window.echarts; the element keeps its static content
	StateError   = "error"   // drawing threw; ErrorAttr holds the exception
)

// SaveHTML writes fig as a standalone HTML page to path (atomically: a temporary file renamed over
// path). The ECharts library is inlined from the local copy (see EChartsJSPath), so the page works
// offline and from file://.
func SaveHTML(fig *Figure, path string) error {
	var buf bytes.Buffer
	if err := WriteHTML(&buf, fig); err != nil {
		return err
	}
	return writeFileAtomic(path, buf.Bytes())
}

// WriteHTML writes a standalone HTML page that draws the figures one below the other, with the
// ECharts library inlined. The page title is the first figure's title.
func WriteHTML(w io.Writer, figs ...*Figure) error {
	if len(figs) == 0 {
		return errors.New("plots: WriteHTML: no figures")
	}
	lib, err := EChartsJS()
	if err != nil {
		return err
	}
	var b bytes.Buffer
	b.WriteString("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
	fmt.Fprintf(&b, "<title>%s</title>\n", html.EscapeString(figs[0].Title()))
	b.WriteString("<style>body{margin:16px;background:#fff;font-family:sans-serif}.chart{margin-bottom:24px}</style>\n")
	b.WriteString("<script>\n")
	b.Write(lib)
	b.WriteString("\n</script>\n</head>\n<body>\n")
	for i, fig := range figs {
		if fig == nil {
			return fmt.Errorf("plots: WriteHTML: figure %d is nil", i)
		}
		option, err := fig.OptionJS()
		if err != nil {
			return err
		}
		id := html.EscapeString(fig.ID())
		fmt.Fprintf(&b, "<div class=\"chart\" id=\"%s\" %s=\"%s\" style=\"width:%dpx;height:%dpx\"></div>\n", id, ChartAttr, id, fig.Width(), fig.Height())
		b.WriteString(ChartScript(fig.ID(), option, ""))
	}
	b.WriteString("</body>\n</html>\n")
	_, err = w.Write(b.Bytes())
	return err
}

// ChartScript returns a <script> element that draws option (a Figure's OptionJS) into the element
// with the given id, replacing what the element holds (e.g. a static SVG), and records the outcome
// in the element's StateAttr: StatePending once it starts, StateDrawn when ECharts fires "finished",
// StateStatic (and nothing drawn) when the page has no window.echarts, StateError when drawing
// throws. extra is JavaScript run after the first setOption, with the element as el and the ECharts
// instance as chart in scope (e.g. controls that call chart.setOption again).
func ChartScript(id string, option []byte, extra string) string {
	quoted, _ := json.Marshal(id) // a string always encodes; '<', '>' and '&' come out escaped
	var b strings.Builder
	b.WriteString("<script>\n(function () {\n")
	fmt.Fprintf(&b, "  var el = document.getElementById(%s);\n  if (!el) { return; }\n", quoted)
	fmt.Fprintf(&b, "  var mark = function (state, detail) {\n    el.setAttribute(%q, state);\n", StateAttr)
	fmt.Fprintf(&b, "    if (detail) { el.setAttribute(%q, String(detail)); }\n  };\n", ErrorAttr)
	fmt.Fprintf(&b, "  if (!window.echarts) { mark(%q, 'window.echarts is not defined'); return; } // keep the static content\n", StateStatic)
	fmt.Fprintf(&b, "  mark(%q);\n  try {\n", StatePending)
	b.WriteString("    el.innerHTML = '';\n    var chart = window.echarts.init(el, null, {renderer: 'canvas'});\n")
	fmt.Fprintf(&b, "    chart.on('finished', function done() {\n      chart.off('finished', done);\n      if (el.getAttribute(%q) === %q) { mark(%q); }\n    });\n", StateAttr, StatePending, StateDrawn)
	b.WriteString("    chart.setOption(")
	b.Write(option)
	b.WriteString(");\n")
	if extra != "" {
		b.WriteString(extra)
		b.WriteString("\n")
	}
	b.WriteString("    window.addEventListener('resize', function () { chart.resize(); });\n")
	fmt.Fprintf(&b, "  } catch (e) {\n    mark(%q, (e && e.stack) || e);\n    throw e;\n  }\n})();\n</script>\n", StateError)
	return b.String()
}
