// Package notebook shows sinkscope figures inline in GoNB (Go) Jupyter notebooks. It is the only
// package that imports GoNB: the library (sinks/...) and the figure constructors (plots) never do.
//
// Each figure is shown as one output with three representations:
//
//   - text/html: a <div> holding the figure's static SVG, plus a script that replaces the SVG with the
//     interactive ECharts chart when scripts run (trusted notebooks, HTML exports);
//   - image/svg+xml: the same static SVG, for viewers that skip HTML;
//   - text/plain: the figure's title.
//
// ECharts itself comes from the local npm copy (never a CDN): Display emits it once per kernel
// session as a script that always sets window.echarts, with or without RequireJS on the page, so the
// charts work offline, after a kernel restart, and in `jupyter nbconvert --to html` exports.
package notebook

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"os"
	"path/filepath"
	"strings"

	"github.com/janpfeifer/gonb/gonbui"
	"github.com/janpfeifer/gonb/gonbui/protocol"

	"github.com/sinkscope/sinkscope/plots"
)

// libraryMarker is the id of the output that carries ECharts; tests look for it.
const libraryMarker = "sinkscope-echarts-library"

// loadedFlag marks, in GoNB's per-kernel temporary directory, that ECharts was already emitted.
const loadedFlag = "sinkscope_echarts_loaded"

// Display shows figures inline, each with its static SVG fallback. Outside a notebook it does nothing
// and says so on stderr.
func Display(figs ...*plots.Figure) error {
	if !gonbui.IsNotebook {
		fmt.Fprintln(os.Stderr, "notebook.Display: not running in a GoNB notebook; use plots.SaveHTML or plots.SaveSVG")
		return nil
	}
	if err := LoadECharts(false); err != nil {
		return err
	}
	svgs, err := plots.RenderSVGs(context.Background(), figs...)
	if err != nil {
		return err
	}
	for i, fig := range figs {
		h, err := ChartHTML(fig, svgs[i])
		if err != nil {
			return err
		}
		gonbui.SendData(&protocol.DisplayData{Data: map[protocol.MIMEType]any{
			protocol.MIMETextHTML:  h,
			protocol.MIMEImageSVG:  string(svgs[i]),
			protocol.MIMETextPlain: fig.Title(),
		}})
	}
	gonbui.Sync()
	return nil
}

// LoadECharts emits the ECharts library once per kernel session (force: again). Display calls it.
func LoadECharts(force bool) error {
	if !gonbui.IsNotebook {
		return nil
	}
	flag := ""
	if dir := os.Getenv(protocol.GONB_TMP_DIR_ENV); dir != "" {
		flag = filepath.Join(dir, loadedFlag)
		if _, err := os.Stat(flag); err == nil && !force {
			return nil
		}
	}
	lib, err := LibraryHTML()
	if err != nil {
		return err
	}
	gonbui.DisplayHTML(lib)
	gonbui.Sync()
	if flag != "" {
		if err := os.WriteFile(flag, nil, 0o644); err != nil {
			return fmt.Errorf("notebook: marking ECharts as loaded: %w", err)
		}
	}
	return nil
}

// LibraryHTML returns a <script> element that defines window.echarts from the local bundle. The
// bundle is a UMD module: on pages with RequireJS (classic Jupyter) it would register itself as an
// anonymous AMD module and leave window.echarts undefined, so define, module and exports are hidden
// from it.
func LibraryHTML() (string, error) {
	src, err := plots.EChartsJS()
	if err != nil {
		return "", err
	}
	if bytes.Contains(src, []byte("</script")) {
		return "", fmt.Errorf("notebook: the ECharts bundle contains </script and cannot be inlined")
	}
	var b strings.Builder
	b.WriteString(`<script id="` + libraryMarker + `">` + "\n")
	b.WriteString("(function(){ if (window.echarts) { return; } var define = undefined, module = undefined, exports = undefined;\n")
	b.Write(src)
	b.WriteString("\n}).call(window);\n</script>\n")
	b.WriteString(`<div style="display:none" data-sinkscope="echarts-loaded"></div>`)
	return b.String(), nil
}

// ChartHTML returns the HTML of one figure: a div of the figure's size holding the static SVG, and a
// script that draws the interactive chart in its place when window.echarts exists (see
// plots.ChartScript for the state it records on the div).
func ChartHTML(fig *plots.Figure, svg []byte) (string, error) {
	opt, err := fig.OptionJS()
	if err != nil {
		return "", err
	}
	id := fig.ID() + "_" + gonbui.UniqueID()
	var b strings.Builder
	b.WriteString(chartDiv(id, fig.Title(), fig.Width(), fig.Height()))
	b.Write(svg)
	b.WriteString("</div>\n")
	b.WriteString(plots.ChartScript(id, opt, ""))
	return b.String(), nil
}

// chartDiv opens the div a chart draws into, marked with plots.ChartAttr.
func chartDiv(id, title string, width, height int) string {
	id = html.EscapeString(id)
	return fmt.Sprintf(`<div id="%s" %s="%s" title="%s" style="width:%dpx;height:%dpx;max-width:100%%">`,
		id, plots.ChartAttr, id, html.EscapeString(title), width, height)
}

// Must returns v, or stops the cell with err: notebook cells read top to bottom without error
// plumbing, and an error still fails the cell (and a headless run).
func Must[T any](v T, err error) T {
	Check(err)
	return v
}

// Check stops the cell with err when it is not nil.
func Check(err error) {
	if err != nil {
		panic(err)
	}
}
