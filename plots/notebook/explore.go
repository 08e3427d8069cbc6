package notebook

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/janpfeifer/gonb/gonbui"
	"github.com/janpfeifer/gonb/gonbui/dom"
	"github.com/janpfeifer/gonb/gonbui/protocol"
	"github.com/janpfeifer/gonb/gonbui/widgets"

	"github.com/sinkscope/sinkscope/plots"
)

// ExplorerHTML returns a self-contained attention-pattern explorer: a heatmap with layer and head
// selectors (head "mean" averages the heads) whose data are baked into the page, so the controls
// work in a saved notebook and in its HTML export with no kernel. patterns is
// [layer][head][query][key]; tokens label the axes (nil for positions). The initial view is
// layer 0, head "mean". Values are rounded to 4 decimals to keep the page small
// (layers × heads × T²/2 numbers).
func ExplorerHTML(patterns [][][][]float32, tokens []string, svgFallback []byte) (string, error) {
	if len(patterns) == 0 || len(patterns[0]) == 0 {
		return "", fmt.Errorf("notebook.ExplorerHTML: no patterns (want [layer][head][query][key])")
	}
	L, H := len(patterns), len(patterns[0])
	// data[l][h] for h < H are the heads; data[l][H] is the head mean. Each is the lower triangle,
	// row by row: query q holds keys 0..q.
	data := make([][][]float32, L)
	var mean0 [][]float32
	for l := range patterns {
		if len(patterns[l]) != H {
			return "", fmt.Errorf("notebook.ExplorerHTML: layer %d has %d heads, layer 0 has %d", l, len(patterns[l]), H)
		}
		mean, err := plots.MeanOverHeads(patterns[l])
		if err != nil {
			return "", fmt.Errorf("notebook.ExplorerHTML: layer %d: %w", l, err)
		}
		if l == 0 {
			mean0 = mean
		}
		data[l] = make([][]float32, H+1)
		for h := 0; h <= H; h++ {
			m := mean
			if h < H {
				m = patterns[l][h]
			}
			data[l][h] = lowerTriangle(m)
		}
	}
	fig, err := plots.HeadMeanHeatmap(mean0, tokens, plots.HeatmapOptions{Options: plots.Options{Title: "Layer 0, mean over heads"}})
	if err != nil {
		return "", err
	}
	opt, err := fig.OptionJS()
	if err != nil {
		return "", err
	}
	labels := make([]string, len(mean0))
	for i := range labels {
		labels[i] = strconv.Itoa(i)
		if tokens != nil {
			labels[i] = fmt.Sprintf("%d:%s", i, tokens[i])
		}
	}
	var payload strings.Builder
	payload.WriteString("[")
	for l := range data {
		if l > 0 {
			payload.WriteString(",")
		}
		payload.WriteString("[")
		for h := range data[l] {
			if h > 0 {
				payload.WriteString(",")
			}
			payload.WriteString("[")
			for i, v := range data[l][h] {
				if i > 0 {
					payload.WriteString(",")
				}
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					payload.WriteString("null")
				} else {
					payload.WriteString(strconv.FormatFloat(float64(v), 'f', 4, 32))
				}
			}
			payload.WriteString("]")
		}
		payload.WriteString("]")
	}
	payload.WriteString("]")
	labelsJSON, _ := json.Marshal(labels)
	id := "explorer_" + gonbui.UniqueID()

	var b strings.Builder
	fmt.Fprintf(&b, `<div id="%s_box" style="font-family:sans-serif;font-size:13px">`, id)
	fmt.Fprintf(&b, `<label>layer <select id="%s_layer">`, id)
	for l := 0; l < L; l++ {
		fmt.Fprintf(&b, `<option value="%d">%d</option>`, l, l)
	}
	fmt.Fprintf(&b, `</select></label> <label>head <select id="%s_head">`, id)
	fmt.Fprintf(&b, `<option value="%d" selected>mean</option>`, H)
	for h := 0; h < H; h++ {
		fmt.Fprintf(&b, `<option value="%d">%d</option>`, h, h)
	}
	b.WriteString(`</select></label>`)
	b.WriteString(chartDiv(id, "attention explorer", fig.Width(), fig.Height()))
	b.Write(svgFallback)
	b.WriteString("</div></div>\n")
	controls := fmt.Sprintf("    var D = %s, labels = %s, H = %d;\n", payload.String(), labelsJSON, H) +
		`    var ls = document.getElementById(el.id + '_layer'), hs = document.getElementById(el.id + '_head');
    var show = function () {
      var l = +ls.value, h = +hs.value, tri = D[l][h], cells = [], i = 0;
      for (var q = 0; q < labels.length; q++) {
        for (var k = 0; k <= q; k++, i++) { if (tri[i] !== null) { cells.push([labels[k], labels[q], tri[i]]); } }
      }
      chart.setOption({title: {text: 'Layer ' + l + ', ' + (h === H ? 'mean over heads' : 'head ' + h)}, series: [{data: cells}]});
    };
    ls.addEventListener('change', show); hs.addEventListener('change', show);`
	b.WriteString(plots.ChartScript(id, opt, controls))
	return b.String(), nil
}

func lowerTriangle(m [][]float32) []float32 {
	out := make([]float32, 0, len(m)*(len(m)+1)/2)
	for q, row := range m {
		out = append(out, row[:q+1]...)
	}
	return out
}

// DisplayExplorer shows ExplorerHTML inline, with the static SVG of layer 0's head mean as fallback.
func DisplayExplorer(patterns [][][][]float32, tokens []string) error {
	if !gonbui.IsNotebook {
		fmt.Fprintln(os.Stderr, "notebook.DisplayExplorer: not running in a GoNB notebook")
		return nil
	}
	if err := LoadECharts(false); err != nil {
		return err
	}
	if len(patterns) == 0 {
		return fmt.Errorf("notebook.DisplayExplorer: no patterns")
	}
	mean, err := plots.MeanOverHeads(patterns[0])
	if err != nil {
		return err
	}
	fig, err := plots.HeadMeanHeatmap(mean, tokens, plots.HeatmapOptions{Options: plots.Options{Title: "Layer 0, mean over heads"}})
	if err != nil {
		return err
	}
	svg, err := plots.RenderSVG(fig)
	if err != nil {
		return err
	}
	h, err := ExplorerHTML(patterns, tokens, svg)
	if err != nil {
		return err
	}
	gonbui.SendData(&protocol.DisplayData{Data: map[protocol.MIMEType]any{
		protocol.MIMETextHTML:  h,
		protocol.MIMEImageSVG:  string(svg),
		protocol.MIMETextPlain: "attention explorer",
	}})
	gonbui.Sync()
	return nil
}

// WidgetWaitEnv sets how long ExploreWithWidgets listens for the reader's choices ("0" skips the
// live widgets, e.g. when a notebook is executed headless).
const WidgetWaitEnv = "SINKSCOPE_WIDGET_WAIT"

// ExploreWithWidgets is the live variant of the explorer: GoNB select widgets talk to the running
// cell, which re-renders the chosen layer and head. It listens until the "Done" button, or until
// wait passes without a change (a $SINKSCOPE_WIDGET_WAIT duration overrides wait); then it leaves the
// last chart in the output as a normal figure. Without a live front-end (headless execution) it
// shows the static figure at once.
func ExploreWithWidgets(patterns [][][][]float32, tokens []string, wait time.Duration) error {
	if !gonbui.IsNotebook {
		fmt.Fprintln(os.Stderr, "notebook.ExploreWithWidgets: not running in a GoNB notebook")
		return nil
	}
	if len(patterns) == 0 || len(patterns[0]) == 0 {
		return fmt.Errorf("notebook.ExploreWithWidgets: no patterns (want [layer][head][query][key])")
	}
	if s := os.Getenv(WidgetWaitEnv); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("$%s=%q: %w", WidgetWaitEnv, s, err)
		}
		wait = d
	}
	L, H := len(patterns), len(patterns[0])
	figure := func(l, h int) (*plots.Figure, error) {
		if h == H {
			mean, err := plots.MeanOverHeads(patterns[l])
			if err != nil {
				return nil, err
			}
			return plots.HeadMeanHeatmap(mean, tokens, plots.HeatmapOptions{Options: plots.Options{Title: fmt.Sprintf("Layer %d, mean over heads", l)}})
		}
		return plots.AttentionHeatmap(patterns[l][h], tokens, plots.HeatmapOptions{Options: plots.Options{Title: fmt.Sprintf("Layer %d, head %d", l, h)}})
	}
	layer, head := 0, H
	if wait > 0 {
		var err error
		layer, head, err = listen(L, H, wait, figure)
		if err != nil {
			return err
		}
	}
	fig, err := figure(layer, head)
	if err != nil {
		return err
	}
	return Display(fig)
}

// listen runs the live widgets and returns the last choice. If the front-end does not answer
// within a few seconds (no browser attached), it gives up and returns the defaults.
func listen(L, H int, wait time.Duration, figure func(l, h int) (*plots.Figure, error)) (int, int, error) {
	layerNames := make([]string, L)
	for l := range layerNames {
		layerNames[l] = fmt.Sprintf("layer %d", l)
	}
	headNames := make([]string, H+1)
	for h := 0; h < H; h++ {
		headNames[h] = fmt.Sprintf("head %d", h)
	}
	headNames[H] = "mean over heads"

	div := dom.CreateTransientDiv()
	type built struct {
		layer, head *widgets.SelectBuilder
		done        *widgets.ButtonBuilder
	}
	ready := make(chan built, 1)
	go func() { // Done blocks until the front-end answers.
		ls := widgets.Select(layerNames).AppendTo(div).Done()
		hs := widgets.Select(headNames).SetDefault(H).AppendTo(div).Done()
		bt := widgets.Button("Done").AppendTo(div).Done()
		ready <- built{ls, hs, bt}
	}()
	var w built
	select {
	case w = <-ready:
	case <-time.After(5 * time.Second):
		gonbui.UpdateHTML(div, "")
		return 0, H, nil
	}
	plotID := "sinkscope_live_" + gonbui.UniqueID()
	layer, head := 0, H
	draw := func() error {
		fig, err := figure(layer, head)
		if err != nil {
			return err
		}
		svg, err := plots.RenderSVG(fig)
		if err != nil {
			return err
		}
		gonbui.UpdateHTML(plotID, string(svg))
		return nil
	}
	if err := draw(); err != nil {
		return 0, 0, err
	}
	lc, hc, bc := w.layer.Listen().LatestOnly(), w.head.Listen().LatestOnly(), w.done.Listen()
	timer := time.NewTimer(wait)
	defer timer.Stop()
loop:
	for {
		select {
		case v := <-lc.C:
			layer = v
		case v := <-hc.C:
			head = v
		case <-bc.C:
			break loop
		case <-timer.C:
			break loop
		}
		if err := draw(); err != nil {
			return 0, 0, err
		}
		timer.Reset(wait)
	}
	gonbui.UpdateHTML(plotID, "")
	gonbui.UpdateHTML(div, "")
	return layer, head, nil
}
