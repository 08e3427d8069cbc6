package plots

import (
	"bytes"
	"errors"
	"fmt"
	"html"
	"io"
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
		fmt.Fprintf(&b, "<div class=\"chart\" id=\"%s\" style=\"width:%dpx;height:%dpx\"></div>\n", fig.ID(), fig.Width(), fig.Height())
		fmt.Fprintf(&b, "<script>\n(function () {\n  var chart = echarts.init(document.getElementById(%q), null, {renderer: \"canvas\"});\n", fig.ID())
		b.WriteString("  chart.setOption(")
		b.Write(option)
		b.WriteString(");\n  window.addEventListener(\"resize\", function () { chart.resize(); });\n})();\n</script>\n")
	}
	b.WriteString("</body>\n</html>\n")
	_, err = w.Write(b.Bytes())
	return err
}
