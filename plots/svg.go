package plots

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// renderScript is plots/ssr/render.cjs, run with `node -e` so that rendering works from any directory.
//
//go:embed ssr/render.cjs
var renderScript string

// DefaultSVGTimeout bounds one node run of RenderSVG and SaveSVG, and of RenderSVGs when its context
// has no deadline.
const DefaultSVGTimeout = 2 * time.Minute

// RenderSVG renders fig to an SVG document with ECharts' server-side renderer, in a node process
// that loads the local ECharts copy (see EChartsJSPath). It needs node on PATH. Each call starts node
// (about 0.3 s, mostly loading ECharts); RenderSVGs renders many figures in one process.
func RenderSVG(fig *Figure) ([]byte, error) {
	svgs, err := RenderSVGs(context.Background(), fig)
	if err != nil {
		return nil, err
	}
	return svgs[0], nil
}

// SaveSVG renders fig (see RenderSVG) and writes the SVG to path atomically.
func SaveSVG(fig *Figure, path string) error {
	svg, err := RenderSVG(fig)
	if err != nil {
		return err
	}
	return writeFileAtomic(path, svg)
}

type svgJob struct {
	Width  int             `json:"width"`
	Height int             `json:"height"`
	Option json.RawMessage `json:"option"`
}

type svgResult struct {
	SVG   string `json:"svg"`
	Error string `json:"error"`
}

// RenderSVGs renders the figures in one node process and returns their SVG documents in order.
// Without a deadline in ctx, DefaultSVGTimeout applies.
func RenderSVGs(ctx context.Context, figs ...*Figure) ([][]byte, error) {
	if len(figs) == 0 {
		return nil, errors.New("plots: RenderSVGs: no figures")
	}
	jobs := make([]svgJob, len(figs))
	for i, fig := range figs {
		if fig == nil {
			return nil, fmt.Errorf("plots: RenderSVGs: figure %d is nil", i)
		}
		option, err := fig.optionMarked()
		if err != nil {
			return nil, err
		}
		jobs[i] = svgJob{Width: fig.Width(), Height: fig.Height(), Option: option}
	}
	input, err := json.Marshal(jobs)
	if err != nil {
		return nil, fmt.Errorf("plots: RenderSVGs: %w", err)
	}

	node, err := exec.LookPath("node")
	if err != nil {
		return nil, errors.New("plots: SVG rendering needs node (Node.js) on PATH; run scripts/setup.sh to install it")
	}
	lib, err := EChartsJSPath()
	if err != nil {
		return nil, err
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultSVGTimeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, node, "-e", renderScript)
	cmd.Env = append(os.Environ(), EChartsEnv+"="+lib)
	cmd.Stdin = bytes.NewReader(input)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("plots: SVG rendering of %d figure(s) stopped after %v: %w", len(figs), time.Since(start).Round(time.Millisecond), ctx.Err())
		}
		return nil, fmt.Errorf("plots: SVG rendering with %s: %w: %s", node, err, strings.TrimSpace(lastLines(stderr.String(), 8)))
	}
	var results []svgResult
	if err := json.Unmarshal(stdout.Bytes(), &results); err != nil {
		return nil, fmt.Errorf("plots: SVG rendering: reading the renderer's output: %w", err)
	}
	if len(results) != len(figs) {
		return nil, fmt.Errorf("plots: SVG rendering: %d results for %d figures", len(results), len(figs))
	}
	svgs := make([][]byte, len(figs))
	for i, r := range results {
		if r.Error != "" || r.SVG == "" {
			return nil, fmt.Errorf("plots: SVG rendering of %q: ECharts failed: %s", figs[i].Title(), firstLines(r.Error, 4))
		}
		svgs[i] = []byte(r.SVG)
	}
	return svgs, nil
}

func firstLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
