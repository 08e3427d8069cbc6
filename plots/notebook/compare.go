package notebook

import (
	"context"
	"fmt"
	"html"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/janpfeifer/gonb/gonbui"

	"github.com/sinkscope/sinkscope/sinks/backend"
	"github.com/sinkscope/sinkscope/sinks/compare"
)

// Compare runs (or resumes) a comparison of sink-removing arms with a progress bar and a loss chart
// that updates in place while the runs train (every few seconds: the smoothed training loss of every
// run so far), then shows the report's figures. A comparison whose runs are all finished trains
// nothing: its results are read from disk (without a backend when every final analysis is there).
func Compare(p compare.Plan) (*compare.Summary, error) {
	if s, err := compare.Summarize(nil, p); err == nil && len(s.Missing) == 0 {
		fmt.Printf("%s: %d runs finished, read from %s\n", p.Preset, len(s.Runs), p.Dir)
		return s, Display(Must(s.Figures())...)
	}
	be, err := backend.New()
	if err != nil {
		return nil, err
	}
	runs := p.Runs()
	fmt.Printf("%s: %d arms × %d seeds = %d runs into %s (%s)\n", p.Preset, len(p.Arms), len(p.Seeds), len(runs), p.Dir, backend.Describe(be))
	live := newLiveChart()
	var bar *Progress
	var mu sync.Mutex
	last := time.Now()
	s, err := compare.Run(context.Background(), be, p, func(pr compare.Progress) {
		mu.Lock()
		defer mu.Unlock()
		if bar == nil {
			bar = NewProgress(fmt.Sprintf("%d runs", len(runs)), len(runs)*pr.Steps)
		}
		bar.Update(pr.Index*pr.Steps+pr.Step, fmt.Sprintf("%s step %d/%d, loss %.4f", pr.Run.Name(), pr.Step, pr.Steps, pr.Record.Loss))
		if time.Since(last) > 3*time.Second || pr.Step == pr.Steps {
			last = time.Now()
			live.update(p, compare.SmoothingWindow(pr.Steps))
		}
	})
	live.close(fmt.Sprintf("%d runs trained; the report's figures follow.", len(runs)))
	if err != nil {
		return nil, err
	}
	return s, Display(Must(s.Figures())...)
}

// liveChart is a chart output replaced in place while the runs train (no static fallback: it is
// redrawn every few seconds); when training ends it becomes a line of text and the report's figures,
// with their fallbacks, follow.
type liveChart struct{ id string }

func newLiveChart() *liveChart {
	if !gonbui.IsNotebook {
		return &liveChart{}
	}
	if err := LoadECharts(false); err != nil {
		fmt.Printf("live chart disabled: %v\n", err)
		return &liveChart{}
	}
	return &liveChart{id: "sinkscope_live_" + gonbui.UniqueID()}
}

// update redraws the smoothed loss of every run logged so far.
func (l *liveChart) update(p compare.Plan, window int) {
	if l.id == "" {
		return
	}
	fig, err := compare.LiveFigure(p, window)
	if err != nil {
		return // nothing logged yet
	}
	h, err := ChartHTML(fig, nil)
	if err != nil {
		return
	}
	gonbui.UpdateHTML(l.id, h)
}

// Checkout is the sinkscope checkout the notebook runs from: the parent of the notebook's folder
// ($GONB_DIR) when it holds sinkscope's go.mod, else $SINKSCOPE_ROOT (set by the kernel's set-up).
func Checkout() string {
	if d := os.Getenv("GONB_DIR"); d != "" {
		root := filepath.Dir(d)
		if b, err := os.ReadFile(filepath.Join(root, "go.mod")); err == nil && strings.HasPrefix(string(b), "module github.com/sinkscope/sinkscope\n") {
			return root
		}
	}
	return os.Getenv("SINKSCOPE_ROOT")
}

// Markdown shows text as Markdown in the notebook (printed outside one).
func Markdown(text string) {
	if !gonbui.IsNotebook {
		fmt.Println(text)
		return
	}
	gonbui.DisplayMarkdown(text)
}

// close replaces the live chart with a line of text.
func (l *liveChart) close(text string) {
	if l.id == "" {
		return
	}
	gonbui.UpdateHTML(l.id, "<p>"+html.EscapeString(text)+"</p>")
}
