package notebook

import (
	"errors"
	"strings"
	"testing"

	"github.com/sinkscope/sinkscope/plots"
)

func TestCacheComputesOncePerKey(t *testing.T) {
	t.Setenv(CacheDirEnv, t.TempDir())
	type result struct {
		Values [][]float32
		Label  string
	}
	calls := 0
	compute := func() (result, error) {
		calls++
		return result{Values: [][]float32{{1, 2}, {3, 4}}, Label: "x"}, nil
	}
	for i := 0; i < 3; i++ {
		r, err := Cache("model a|8x64", compute)
		if err != nil || r.Label != "x" || r.Values[1][0] != 3 {
			t.Fatalf("run %d: %+v, %v", i, r, err)
		}
	}
	if calls != 1 {
		t.Fatalf("computed %d times for one key, want 1", calls)
	}
	if _, err := Cache("model b|8x64", compute); err != nil || calls != 2 {
		t.Fatalf("a new key must compute again: calls %d, %v", calls, err)
	}
	boom := errors.New("boom")
	if _, err := Cache("failing", func() (int, error) { return 0, boom }); !errors.Is(err, boom) {
		t.Fatalf("errors must pass through: %v", err)
	}
}

func TestChartHTMLHasFallbackAndScript(t *testing.T) {
	fig, err := plots.AttentionHeatmap([][]float32{{1, 0}, {0.3, 0.7}}, []string{"<s>", "a"}, plots.HeatmapOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h, err := ChartHTML(fig, []byte(`<svg width="10"></svg>`))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`data-sinkscope-chart="`, `<svg width="10"></svg>`, "window.echarts.init", "data-sinkscope-rendered"} {
		if !strings.Contains(h, want) {
			t.Errorf("chart HTML lacks %q:\n%s", want, h)
		}
	}
	if strings.Contains(h, "http://") || strings.Contains(h, "https://") {
		t.Errorf("chart HTML refers to the network:\n%s", h)
	}
}

func TestLibraryHTMLSetsGlobal(t *testing.T) {
	lib, err := LibraryHTML()
	if err != nil {
		t.Skipf("ECharts not installed (scripts/setup.sh): %v", err)
	}
	if !strings.Contains(lib, "var define = undefined") || !strings.Contains(lib, libraryMarker) || len(lib) < 500_000 {
		t.Errorf("library HTML does not wrap the bundle (%d bytes)", len(lib))
	}
}
