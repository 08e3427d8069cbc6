package notebook

import (
	"fmt"
	"html"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/janpfeifer/gonb/gonbui"

	"github.com/sinkscope/sinkscope/sinks/models"
	"github.com/sinkscope/sinkscope/sinks/train"
)

// Progress is a progress bar that updates in place in the notebook cell (a line on stderr every
// tenth of the way outside a notebook). Updates are throttled to a few per second.
type Progress struct {
	mu       sync.Mutex
	id       string
	title    string
	total    int
	last     time.Time
	lastLine int
}

// NewProgress shows an empty progress bar titled title for total steps.
func NewProgress(title string, total int) *Progress {
	p := &Progress{title: title, total: max(total, 1)}
	if gonbui.IsNotebook {
		p.id = "sinkscope_progress_" + gonbui.UniqueID()
		gonbui.UpdateHTML(p.id, p.html(0, ""))
	}
	return p
}

// Update shows done of total steps with a one-line status.
func (p *Progress) Update(done int, status string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !gonbui.IsNotebook {
		if tenth := done * 10 / p.total; tenth > p.lastLine || done == p.total {
			p.lastLine = tenth
			fmt.Fprintf(os.Stderr, "%s: %d/%d %s\n", p.title, done, p.total, status)
		}
		return
	}
	if done < p.total && time.Since(p.last) < 250*time.Millisecond {
		return
	}
	p.last = time.Now()
	gonbui.UpdateHTML(p.id, p.html(done, status))
}

func (p *Progress) html(done int, status string) string {
	return fmt.Sprintf(`<div style="font-family:monospace"><b>%s</b> <progress value="%d" max="%d" style="width:40%%"></progress> %d/%d %s</div>`,
		html.EscapeString(p.title), done, p.total, done, p.total, html.EscapeString(status))
}

// EnsureTrained makes sure every trained:<preset>[@seed] source among sources is in the cache,
// training it with a live progress bar (loss, tokens/s, attention to token 0) when it is not, and
// says which it was; other sources are skipped. Put it before the cell that opens the models.
func EnsureTrained(sources ...string) error {
	for _, source := range sources {
		if !strings.HasPrefix(strings.TrimSpace(source), "trained:") {
			continue
		}
		var bar *Progress
		t, err := models.EnsureTrained(nil, source, func(pr train.Progress) {
			if bar == nil {
				bar = NewProgress("training "+source, pr.Steps)
			}
			status := fmt.Sprintf("loss %.4f, %.0f tokens/s", pr.Record.Loss, pr.Record.TokensPS)
			if s := pr.Record.Sink; s != nil {
				a, l := s.MaxAttnToFirst()
				status += fmt.Sprintf(", attention to token 0 %.3f (layer %d)", a, l)
			}
			bar.Update(pr.Step, status)
		})
		if err != nil {
			return err
		}
		how := "trained just now"
		if t.Cached {
			how = "loaded from the cache"
		}
		fmt.Printf("%s: preset %s seed %d, %d steps, trained in %.0f s; %s (%s)\n", source, t.Preset, t.Seed, t.Steps, t.Seconds, how, t.Dir)
	}
	return nil
}
