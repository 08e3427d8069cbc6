package metrics

import (
	"math"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/sinkscope/sinkscope/sinks/transformer"
)

func act(name string, shape []int, data ...float32) *transformer.Activation {
	return &transformer.Activation{Name: name, Shape: shape, Data: data}
}

func closeAll(t *testing.T, what string, got, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d values %v, want %v", what, len(got), got, want)
	}
	for i := range want {
		if !near(got[i], want[i], tol) {
			t.Fatalf("%s = %v, want %v", what, got, want)
		}
	}
}

// varianceData is [2, 3, 2]: per-token population stds 1, 0, 2 (sample 0) and 2, 0, 0 (sample 1).
var varianceData = []float32{
	1, 3, 2, 2, 0, 4, // sample 0: positions 0, 1, 2
	0, 4, 1, 1, 5, 5, // sample 1
}

func TestWithinTokenStd(t *testing.T) {
	want := []float64{1.5, 0, 1}
	for _, shape := range [][]int{{2, 3, 2}, {2, 3, 1, 2}, {2, 3, 2, 1}} {
		a := act("z", shape, varianceData...)
		got, err := WithinTokenStd(a)
		if err != nil {
			t.Fatal(err)
		}
		closeAll(t, "WithinTokenStd", got, want, 1e-12)
	}
}

func TestAcrossSampleStd(t *testing.T) {
	// Position 0: dim 0 has 1, 0 (std 0.5), dim 1 has 3, 4 (0.5); position 1: 2, 1 and 2, 1;
	// position 2: 0, 5 (2.5) and 4, 5 (0.5).
	got, err := AcrossSampleStd(act("z", []int{2, 3, 2}, varianceData...))
	if err != nil {
		t.Fatal(err)
	}
	closeAll(t, "AcrossSampleStd", got, []float64{0.5, 0.5, 1.5}, 1e-12)
}

func TestFitInverseSqrt(t *testing.T) {
	std := make([]float64, 64)
	for i := range std {
		std[i] = 0.7 / math.Sqrt(float64(i+1))
	}
	fit, err := FitInverseSqrt(std)
	if err != nil {
		t.Fatal(err)
	}
	if !near(fit.SigmaV, 0.7, 1e-14) || !near(fit.R2, 1, 1e-12) || fit.RMSE > 1e-14 {
		t.Errorf("exact curve: σ_v %g (want 0.7), R² %g (want 1), RMSE %g (want 0)", fit.SigmaV, fit.R2, fit.RMSE)
	}
	// [2, 0]: g = [1, 1/√2], σ_v = 2/(1 + 1/2) = 4/3; residuals 2/3 and 4/(3√2):
	// SS_res = 4/9 + 8/9 = 4/3, SS_tot = 2, R² = 1/3, RMSE = √(2/3).
	fit, err = FitInverseSqrt([]float64{2, 0})
	if err != nil {
		t.Fatal(err)
	}
	if !near(fit.SigmaV, 4.0/3, 1e-14) || !near(fit.R2, 1.0/3, 1e-14) || !near(fit.RMSE, math.Sqrt(2.0/3), 1e-14) {
		t.Errorf("[2 0]: σ_v %g R² %g RMSE %g, want 4/3, 1/3, √(2/3)", fit.SigmaV, fit.R2, fit.RMSE)
	}
	closeAll(t, "curve", fit.Curve, []float64{4.0 / 3, 4 / (3 * math.Sqrt2)}, 1e-14)
}

// The paper's toy check: at initialisation the attention output's std decays like σ_v/√(t+1),
// with σ_v = InputStd·WeightStd·√D.
func TestToyBlockDefault(t *testing.T) {
	c := DefaultToyConfig()
	if c.D != 768 || c.Heads != 12 || c.T != 64 || c.Samples != 32 || !near(c.WeightStd*c.WeightStd, 0.02*0.02/24, 1e-18) || c.InputStd != 0.02 {
		t.Fatalf("DefaultToyConfig = %+v, not the paper's setting", c)
	}
	start := time.Now()
	r, err := ToyBlock(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("ToyBlock(default) on %d CPUs: %v; σ_v = %.6g (theory %.6g), R² = %.6f, std[0] = %.4g, std[63] = %.4g",
		runtime.GOMAXPROCS(0), time.Since(start), r.Fit.SigmaV, c.InputStd*c.WeightStd*math.Sqrt(float64(c.D)), r.Fit.R2, r.Std[0], r.Std[63])
	if len(r.Std) != 64 || r.Fit.R2 < 0.9 || r.Std[0] < 3*r.Std[63] {
		t.Errorf("toy block: R² %g (want > 0.9), std[0] %g vs std[63] %g (want > 3×)", r.Fit.R2, r.Std[0], r.Std[63])
	}
	if theory := c.InputStd * c.WeightStd * math.Sqrt(float64(c.D)); math.Abs(r.Fit.SigmaV/theory-1) > 0.1 {
		t.Errorf("σ_v = %g, theory %g", r.Fit.SigmaV, theory)
	}
}

func TestToyBlockDeterministic(t *testing.T) {
	c := ToyConfig{D: 32, Heads: 4, T: 12, Samples: 5, WeightStd: 0.05, InputStd: 1, Seed: 9}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	runtime.GOMAXPROCS(1)
	a, err := ToyBlock(c)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GOMAXPROCS(3)
	b, err := ToyBlock(c)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Errorf("same seed, different goroutine counts: %v vs %v", a.Std, b.Std)
	}
	c.Seed = 10
	d, err := ToyBlock(c)
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(a.Std, d.Std) {
		t.Error("a different seed gave the same result")
	}
}

func BenchmarkToyBlockDefault(b *testing.B) {
	for b.Loop() {
		if _, err := ToyBlock(DefaultToyConfig()); err != nil {
			b.Fatal(err)
		}
	}
}
