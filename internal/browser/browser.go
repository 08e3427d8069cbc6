// Package browser opens local HTML pages in headless Chromium, offline, and waits under a hard
// deadline until every sinkscope chart on them has been drawn by ECharts. The notebook tests use it
// on the HTML exports of the notebooks.
//
// It does not rely on Chromium's virtual time (--virtual-time-budget): ECharts runs an endless
// requestAnimationFrame loop, and with it virtual time may never run out, so such a run can hang.
// Instead each chart's script records its state on its element (plots.StateAttr, see
// plots.ChartScript), Open polls those states over the DevTools protocol, and when the deadline
// passes it kills Chromium and names the charts that were not drawn.
package browser

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/sinkscope/sinkscope/plots"
)

// DefaultDeadline is how long Open gives the charts of a page to draw when Options.Deadline is 0,
// Chromium's start included.
const DefaultDeadline = 90 * time.Second

// closeGrace is how long Open may run past the deadline for the screenshot and the probe, and to
// stop Chromium; at Deadline+closeGrace the context that started Chromium ends and Chromium is killed.
const closeGrace = 15 * time.Second

// settleGrace is how long after the document finished loading a chart may still show no state
// before Open concludes that its script never ran: inline chart scripts run while the page parses.
const settleGrace = time.Second

const pollEvery = 100 * time.Millisecond

// Options tune Open. The zero value waits DefaultDeadline for the charts found on the page.
type Options struct {
	// Charts are ids of charts that must be on the page (e.g. those found in a notebook's outputs).
	// Charts found on the page (elements with plots.ChartAttr) must be drawn too.
	Charts []string
	// Deadline bounds the time from Chromium's start until every chart is drawn (default
	// DefaultDeadline).
	Deadline time.Duration
	// Screenshot asks for a PNG of the viewport once every chart is drawn.
	Screenshot bool
	// Width and Height are the window size (default 1280×2400).
	Width, Height int
	// Probe, when set, is a JavaScript expression evaluated once the charts have settled (drawn or
	// not, but not at the deadline); its value, as JSON, is Page.Probe.
	Probe string
	// Flags are extra Chromium switches, without the leading dashes: true for a bare switch, a
	// string for one with a value.
	Flags map[string]any
}

// Chart is what the page says about one chart.
type Chart struct {
	ID     string `json:"id"`
	Found  bool   `json:"found"`  // an element with this id is on the page
	State  string `json:"state"`  // its plots.StateAttr; "" when its script never ran
	Error  string `json:"error"`  // its plots.ErrorAttr
	Canvas bool   `json:"canvas"` // it holds a <canvas>
}

// Drawn reports whether ECharts finished drawing the chart onto a canvas.
func (c Chart) Drawn() bool { return c.Found && c.State == plots.StateDrawn && c.Canvas }

// settled reports whether the chart's state can no longer change.
func (c Chart) settled() bool { return c.Found && c.State != "" && c.State != plots.StatePending }

// problem says in words why the chart is not drawn ("" when it is).
func (c Chart) problem() string {
	switch {
	case c.Drawn():
		return ""
	case !c.Found:
		return "no element with this id on the page"
	case c.State == "":
		return "its script never ran"
	case c.State == plots.StatePending:
		return `ECharts started but never fired "finished"`
	case c.State == plots.StateStatic:
		return "kept its static content: " + firstLine(c.Error)
	case c.State == plots.StateError:
		return "drawing threw " + firstLine(c.Error)
	case c.State == plots.StateDrawn:
		return "drawn, but holds no <canvas>"
	}
	return fmt.Sprintf("unknown state %q", c.State)
}

// Page is what Open saw.
type Page struct {
	Path       string
	Ready      string  // document.readyState at the last look
	Charts     []Chart // charts on the page in document order, then expected ones that are missing
	Canvases   int     // <canvas> elements on the page
	Exceptions []string
	Screenshot []byte          // PNG, when asked for and every chart was drawn
	Probe      json.RawMessage // Options.Probe's value
	Elapsed    time.Duration   // from Chromium's start until the charts settled or the deadline
}

// Drawn is the number of charts that ECharts drew.
func (p *Page) Drawn() int {
	n := 0
	for _, c := range p.Charts {
		if c.Drawn() {
			n++
		}
	}
	return n
}

// ExecPath returns the Chromium binary Open starts: chromium from PATH (Debian's /usr/bin/chromium).
func ExecPath() (string, error) {
	p, err := exec.LookPath("chromium")
	if err != nil {
		return "", fmt.Errorf("browser: chromium not found (scripts/setup.sh installs it): %w", err)
	}
	return p, nil
}

// Open loads the HTML file at path in a fresh headless Chromium with no network and waits until
// every chart on it has settled, or until the deadline. It returns what it saw, and an error that
// names the file and each chart that ECharts did not draw, with the reason. Chromium is stopped
// (killed when the deadline has passed) before Open returns.
func Open(ctx context.Context, path string, opt Options) (*Page, error) {
	abs, err := filepath.Abs(path)
	if err == nil {
		_, err = os.Stat(abs)
	}
	if err != nil {
		return nil, fmt.Errorf("browser: %w", err)
	}
	exe, err := ExecPath()
	if err != nil {
		return nil, err
	}
	deadline := opt.Deadline
	if deadline <= 0 {
		deadline = DefaultDeadline
	}
	width, height := opt.Width, opt.Height
	if width <= 0 || height <= 0 {
		width, height = 1280, 2400
	}
	start := time.Now()
	waitUntil := start.Add(deadline)
	hard, cancelHard := context.WithDeadline(ctx, waitUntil.Add(closeGrace))
	defer cancelHard()
	alloc := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(width, height),
		// No network: name lookups fail at once, so a page that refers to a CDN neither waits for it
		// nor renders from it; the rest stop Chromium's own background connections.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND"),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true))
	for name, value := range opt.Flags {
		alloc = append(alloc, chromedp.Flag(name, value))
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(hard, alloc...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser() // kills Chromium and waits until it is gone

	p := &Page{Path: path}
	var mu sync.Mutex
	// The first call starts Chromium; it lives as long as bctx, which ends at the hard deadline.
	err = chromedp.Listen(bctx, func(ev any) {
		if e, ok := ev.(*runtime.EventExceptionThrown); ok {
			mu.Lock()
			p.Exceptions = append(p.Exceptions, describeException(e.ExceptionDetails))
			mu.Unlock()
		}
	})
	if err != nil {
		return nil, fmt.Errorf("browser: starting %s: %w", exe, err)
	}
	fail := func(format string, args ...any) (*Page, error) {
		p.Elapsed = time.Since(start)
		mu.Lock()
		defer mu.Unlock()
		msg := fmt.Sprintf(format, args...)
		if n := len(p.Exceptions); n > 0 {
			msg += fmt.Sprintf("; the page threw %d exception(s): %s", n, strings.Join(p.Exceptions[:min(n, 5)], "; "))
		}
		return p, fmt.Errorf("browser: %s: %s", path, msg)
	}

	fileURL := (&url.URL{Scheme: "file", Path: abs}).String()
	nav, err := runUntil(bctx, waitUntil, func(ctx context.Context, t *chromedp.Target) (page.NavigateResult, error) {
		return cdp.Call(ctx, t, page.Navigate, page.NavigateParams{URL: fileURL})
	})
	if err == nil && nav.ErrorText != "" {
		err = errors.New(nav.ErrorText)
	}
	if err != nil {
		return fail("opening %s: %v", fileURL, err)
	}

	timedOut, err := p.waitCharts(bctx, waitUntil, opt.Charts)
	p.Elapsed = time.Since(start)
	if err != nil {
		return fail("%v", err)
	}
	closeBy := waitUntil.Add(closeGrace / 2)
	if opt.Probe != "" && !timedOut {
		if p.Probe, err = runUntil(bctx, closeBy, chromedp.Evaluate[[]byte](opt.Probe)); err != nil {
			return fail("probe %q: %v", opt.Probe, err)
		}
	}
	var bad []string
	for _, c := range p.Charts {
		if msg := c.problem(); msg != "" {
			bad = append(bad, fmt.Sprintf("%s (%s)", c.ID, msg))
		}
	}
	switch {
	case timedOut && len(bad) > 0:
		return fail("%d of %d charts not drawn within %s: %s", len(bad), len(p.Charts), deadline, strings.Join(bad, ", "))
	case timedOut:
		return fail("the page did not finish loading within %s (document.readyState %q)", deadline, p.Ready)
	case len(bad) > 0:
		return fail("%d of %d charts not drawn: %s", len(bad), len(p.Charts), strings.Join(bad, ", "))
	case len(p.Charts) == 0:
		return fail("no charts on the page (no element with %s)", plots.ChartAttr)
	}

	if opt.Screenshot {
		if p.Screenshot, err = runUntil(bctx, closeBy, chromedp.CaptureScreenshot()); err != nil {
			return fail("screenshot: %v", err)
		}
	}
	return p, nil
}

// pageState is one look at the page.
type pageState struct {
	Ready    string  `json:"ready"`
	Charts   []Chart `json:"charts"`
	Canvases int     `json:"canvases"`
}

// stateJS reads every chart's state. %s: the expected ids as a JSON array.
var stateJS = `(function (want) {
  var seen = {}, charts = [];
  var add = function (id, el) {
    seen[id] = true;
    charts.push({id: id, found: !!el, state: (el && el.getAttribute('` + plots.StateAttr + `')) || '',
      error: (el && el.getAttribute('` + plots.ErrorAttr + `')) || '', canvas: !!(el && el.querySelector('canvas'))});
  };
  document.querySelectorAll('[` + plots.ChartAttr + `]').forEach(function (el) {
    var id = el.getAttribute('` + plots.ChartAttr + `');
    if (!seen[id]) { add(id, el); }
  });
  want.forEach(function (id) { if (!seen[id]) { add(id, document.getElementById(id)); } });
  return {ready: document.readyState, charts: charts, canvases: document.querySelectorAll('canvas').length};
})(%s)`

// waitCharts polls the page until every chart has settled, until the page has loaded and some chart
// still shows no sign of its script, or until the deadline (timedOut). It keeps the last look in p.
func (p *Page) waitCharts(ctx context.Context, until time.Time, want []string) (timedOut bool, err error) {
	if want == nil {
		want = []string{}
	}
	ids, err := json.Marshal(want)
	if err != nil {
		return false, err
	}
	expr := fmt.Sprintf(stateJS, ids)
	var loaded time.Time // when document.readyState was first "complete"
	var lastErr error
	for {
		st, err := runUntil(ctx, until, chromedp.Evaluate[pageState](expr))
		switch {
		case err == nil:
			p.Ready, p.Charts, p.Canvases = st.Ready, st.Charts, st.Canvases
			lastErr = nil
		case ctx.Err() != nil:
			return false, fmt.Errorf("Chromium stopped: %w", context.Cause(ctx))
		default:
			lastErr = err // e.g. no execution context yet while the document is replaced
		}
		if p.Ready == "complete" {
			if loaded.IsZero() {
				loaded = time.Now()
			}
			allSettled, silent := len(p.Charts) > 0, false
			for _, c := range p.Charts {
				allSettled = allSettled && c.settled()
				silent = silent || !c.Found || c.State == ""
			}
			if allSettled || (time.Since(loaded) > settleGrace && (silent || len(p.Charts) == 0)) {
				return false, nil
			}
		}
		if !time.Now().Add(pollEvery).Before(until) {
			if p.Ready == "" && lastErr != nil {
				return true, fmt.Errorf("the page never answered: %w", lastErr)
			}
			return true, nil
		}
		select {
		case <-ctx.Done():
			return false, fmt.Errorf("Chromium stopped: %w", context.Cause(ctx))
		case <-time.After(pollEvery):
		}
	}
}

// runUntil runs one action on the page with a deadline of its own, so that a page whose main thread
// is stuck cannot hold the caller past until.
func runUntil[T any](ctx context.Context, until time.Time, a chromedp.Action[T]) (T, error) {
	actx, cancel := context.WithDeadline(ctx, until)
	defer cancel()
	return chromedp.Run(actx, a)
}

func describeException(d *runtime.ExceptionDetails) string {
	if d == nil {
		return "unknown exception"
	}
	msg := d.Text
	if d.Exception != nil && d.Exception.Description != "" {
		msg = d.Exception.Description
	}
	msg = firstLine(msg)
	if d.URL != "" {
		msg += fmt.Sprintf(" (%s:%d)", filepath.Base(d.URL), d.LineNumber+1)
	} else {
		msg += fmt.Sprintf(" (inline script, line %d)", d.LineNumber+1)
	}
	return msg
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// ColorStats returns the share of saturated pixels in img (text and backgrounds are grey; chart
// marks are not) and the number of distinct colours (5 bits a channel): a page whose charts drew has
// both.
func ColorStats(img image.Image) (float64, int) {
	b := img.Bounds()
	colors := map[uint32]bool{}
	colored := 0
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			hi, lo := max(r, g, bl), min(r, g, bl)
			if hi-lo > 0x3000 {
				colored++
			}
			colors[(r>>11)<<10|(g>>11)<<5|bl>>11] = true
		}
	}
	return float64(colored) / float64(b.Dx()*b.Dy()), len(colors)
}
