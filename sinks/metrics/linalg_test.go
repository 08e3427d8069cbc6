package metrics

import (
	"math"
	"slices"
	"testing"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

func TestKendallTauB(t *testing.T) {
	cases := []struct {
		name string
		a, b []float64
		want float64
	}{
		{"identical order", []float64{1, 2, 3, 4}, []float64{10, 20, 30, 40}, 1},
		{"reversed", []float64{1, 2, 3, 4}, []float64{4, 3, 2, 1}, -1},
		// One swapped neighbour pair: 5 concordant, 1 discordant of 6 pairs.
		{"one swap", []float64{1, 2, 3, 4}, []float64{1, 3, 2, 4}, 4.0 / 6},
		// A tie in a: C = 5, D = 0, n0 = 6, n1 = 1, n2 = 0 → 5/√(5·6).
		{"tie", []float64{1, 2, 2, 3}, []float64{1, 2, 3, 4}, 5 / math.Sqrt(30)},
	}
	for _, c := range cases {
		if got := KendallTauB(c.a, c.b); !near(got, c.want, 1e-12) {
			t.Errorf("%s: τ-b = %.15g, want %.15g", c.name, got, c.want)
		}
	}
	for _, bad := range [][2][]float64{
		{{1, 2, 3}, {1, 2}},             // length mismatch
		{{1}, {1}},                      // one value
		{{1, 1, 1}, {1, 2, 3}},          // constant
		{{1, math.NaN(), 3}, {1, 2, 3}}, // NaN
	} {
		if got := KendallTauB(bad[0], bad[1]); !math.IsNaN(got) {
			t.Errorf("KendallTauB(%v, %v) = %g, want NaN", bad[0], bad[1], got)
		}
	}
}

func TestSpearman(t *testing.T) {
	// Ranks of b with a tie: 1, 2, 3.5, 5, 3.5; against 1..5 the rank covariance sum is 8, the
	// rank variance sums 10 and 9.5: ρ = 8/√95.
	if got, want := Spearman([]float64{1, 2, 3, 4, 5}, []float64{5, 6, 7, 8, 7}), 8/math.Sqrt(95); !near(got, want, 1e-12) {
		t.Errorf("Spearman = %.15g, want %.15g", got, want)
	}
	// Ranks [3 2 1] and [3 1 2]: 1 − 6·Σd²/(n(n²−1)) = 1 − 12/24.
	if got := Spearman([]float64{2, 1, 0.5}, []float64{1, 0.6, 0.7}); !near(got, 0.5, 1e-12) {
		t.Errorf("Spearman = %g, want 0.5", got)
	}
	if got := Spearman([]float64{1, 2}, []float64{3, 3}); !math.IsNaN(got) {
		t.Errorf("Spearman of a constant = %g, want NaN", got)
	}
}

func TestKurtosis(t *testing.T) {
	// 1..5: m2 = 2, m4 = 6.8, m4/m2² = 1.7, excess −1.3 (scipy.stats.kurtosis gives −1.3).
	if got := Kurtosis([]float64{1, 2, 3, 4, 5}); !near(got, -1.3, 1e-12) {
		t.Errorf("Kurtosis(1..5) = %g, want -1.3", got)
	}
	// One outlier: mean 2, deviations −2 ×4 and 8: m2 = 16, m4 = 832, 832/256 − 3 = 0.25.
	if got := Kurtosis([]float64{0, 0, 0, 0, 10}); !near(got, 0.25, 1e-12) {
		t.Errorf("Kurtosis(0,0,0,0,10) = %g, want 0.25", got)
	}
	for _, bad := range [][]float64{nil, {3, 3, 3}, {1, math.NaN()}} {
		if got := Kurtosis(bad); !math.IsNaN(got) {
			t.Errorf("Kurtosis(%v) = %g, want NaN", bad, got)
		}
	}
}

func TestSymEigenvalues(t *testing.T) {
	a := [][]float64{{2, 1}, {1, 2}}
	if got := SymEigenvalues(a); !near(got[0], 3, 1e-14) || !near(got[1], 1, 1e-14) {
		t.Errorf("eigenvalues of [[2 1] [1 2]] = %v, want [3 1]", got)
	}
	if a[0][1] != 1 || a[1][1] != 2 {
		t.Errorf("SymEigenvalues modified its input: %v", a)
	}
	// The 1-D Laplacian: 2 − 2cos(kπ/4), k = 1, 2, 3.
	lap := [][]float64{{2, -1, 0}, {-1, 2, -1}, {0, -1, 2}}
	got := SymEigenvalues(lap)
	want := []float64{2 + math.Sqrt2, 2, 2 - math.Sqrt2}
	for i := range want {
		if !near(got[i], want[i], 1e-14) {
			t.Errorf("Laplacian eigenvalues = %v, want %v", got, want)
			break
		}
	}
	// A dense 6×6 symmetric matrix: the trace and the Frobenius norm are the sum and the sum of
	// squares of the eigenvalues.
	n := 6
	m := make([][]float64, n)
	for i := range m {
		m[i] = make([]float64, n)
	}
	var trace, frob float64
	for i := 0; i < n; i++ {
		for j := i; j < n; j++ {
			v := math.Sin(float64(3*i+5*j+1)) * float64(1+i)
			m[i][j], m[j][i] = v, v
		}
	}
	for i := 0; i < n; i++ {
		trace += m[i][i]
		for j := 0; j < n; j++ {
			frob += m[i][j] * m[i][j]
		}
	}
	ev := SymEigenvalues(m)
	var s, ss float64
	for _, l := range ev {
		s += l
		ss += l * l
	}
	if !near(s, trace, 1e-12) || !near(ss, frob, 1e-10) || !slices.IsSortedFunc(ev, func(a, b float64) int { return int(sign(b - a)) }) {
		t.Errorf("eigenvalues %v: sum %g (trace %g), sum of squares %g (‖A‖² %g), want descending", ev, s, trace, ss, frob)
	}
	if SymEigenvalues([][]float64{{1, 2}, {3}}) != nil {
		t.Error("a ragged matrix should give nil")
	}
}

func TestTopLeftSingularVector(t *testing.T) {
	// Exact: diag(3, 1) stacked on a zero row, 3×2 (the rows > cols path).
	u := TopLeftSingularVector([]float32{3, 0, 0, 1, 0, 0}, 3, 2, 0)
	if len(u) != 3 || !near(u[0], 1, 1e-12) || !near(u[1], 0, 1e-12) || !near(u[2], 0, 1e-12) {
		t.Errorf("top left singular vector of diag(3,1);0 = %v, want [1 0 0]", u)
	}
	// A planted dominant direction plus small noise, wide (4×6) and tall (6×4).
	for _, shape := range [][2]int{{4, 6}, {6, 4}} {
		rows, cols := shape[0], shape[1]
		dir := make([]float64, rows)
		for i := range dir {
			dir[i] = float64(i%3) - 0.7
		}
		normalize(dir)
		m := make([]float32, rows*cols)
		for i := 0; i < rows; i++ {
			for j := 0; j < cols; j++ {
				m[i*cols+j] = float32(10*dir[i]*(1+0.1*float64(j)) + 0.05*math.Sin(float64(7*i+3*j)))
			}
		}
		orig := slices.Clone(m)
		u := TopLeftSingularVector(m, rows, cols, 0)
		if !slices.Equal(m, orig) {
			t.Fatal("TopLeftSingularVector modified its input")
		}
		if c := math.Abs(dot64(u, dir)); c < 0.999 {
			t.Errorf("%dx%d: |cos(u, planted)| = %g, want ≈ 1", rows, cols, c)
		}
		// Optimality: ‖mᵀu‖² is the largest eigenvalue of m·mᵀ.
		g := make([][]float64, rows)
		for i := range g {
			g[i] = make([]float64, rows)
			for j := range g[i] {
				g[i][j] = dot32(m[i*cols:(i+1)*cols], m[j*cols:(j+1)*cols])
			}
		}
		mtU := 0.0
		for j := 0; j < cols; j++ {
			s := 0.0
			for i := 0; i < rows; i++ {
				s += float64(m[i*cols+j]) * u[i]
			}
			mtU += s * s
		}
		if top := SymEigenvalues(g)[0]; !near(mtU, top, 1e-9*top) {
			t.Errorf("%dx%d: ‖mᵀu‖² = %.12g, largest eigenvalue of m·mᵀ %.12g", rows, cols, mtU, top)
		}
	}
	// Close singular values (1, 0.95, 0.5) in rotated directions: the start vector is far from the
	// answer and power iteration needs a few hundred steps. m = U·Σ·[I₃ 0] is 3×5 with top left
	// singular vector U[:, 0]; its transpose has top left singular vector e₀ (length 5).
	c1, s1, c2, s2 := math.Cos(0.7), math.Sin(0.7), math.Cos(1.1), math.Sin(1.1)
	rot := [3][3]float64{{c1, -s1 * c2, s1 * s2}, {s1, c1 * c2, -c1 * s2}, {0, s2, c2}} // orthogonal
	sig := []float64{1, 0.95, 0.5}
	wide := make([]float32, 3*5)
	tall := make([]float32, 5*3)
	for i := 0; i < 3; i++ {
		for k := 0; k < 3; k++ {
			wide[i*5+k] = float32(rot[i][k] * sig[k])
			tall[k*3+i] = wide[i*5+k]
		}
	}
	u = TopLeftSingularVector(wide, 3, 5, 0)
	if c := math.Abs(u[0]*rot[0][0] + u[1]*rot[1][0] + u[2]*rot[2][0]); !near(c, 1, 1e-6) {
		t.Errorf("close singular values, wide: |cos(u, U[:,0])| = %.9f, want 1 (u = %v)", c, u)
	}
	u = TopLeftSingularVector(tall, 5, 3, 0)
	if len(u) != 5 || !near(math.Abs(u[0]), 1, 1e-6) {
		t.Errorf("close singular values, tall: u = %v, want ±e₀", u)
	}
	if TopLeftSingularVector(make([]float32, 6), 2, 3, 0) != nil {
		t.Error("a zero matrix has no top direction: want nil")
	}
	if TopLeftSingularVector(make([]float32, 5), 2, 3, 0) != nil {
		t.Error("wrong length: want nil")
	}
}
