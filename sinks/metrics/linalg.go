package metrics

import (
	"math"
	"sort"

	"gonum.org/v1/gonum/mat"
)

// The small linear algebra and rank statistics the metrics need, in float64. None of these
// functions modifies its arguments. Functions that return a bare number signal an undefined result
// (too few values, no spread, NaN input) with NaN rather than an error; the metrics that call them
// validate their inputs first.

// KendallTauB is Kendall's rank correlation τ-b between a and b (equal lengths):
//
//	τ_b = (C − D) / √((n₀ − n₁)(n₀ − n₂))
//
// over all n₀ = n(n−1)/2 pairs i < j, where C and D count concordant and discordant pairs, n₁ the
// pairs tied in a and n₂ the pairs tied in b (a pair tied in both counts in n₁ and n₂ only). It is
// the τ of scipy.stats.kendalltau. NaN if the lengths differ, there are fewer than 2 values, a
// value is NaN, or either side is constant.
func KendallTauB(a, b []float64) float64 {
	n := len(a)
	if n != len(b) || n < 2 || hasNaN(a) || hasNaN(b) {
		return math.NaN()
	}
	var conc, disc, tiesA, tiesB float64
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			da, db := sign(a[i]-a[j]), sign(b[i]-b[j])
			if da == 0 {
				tiesA++
			}
			if db == 0 {
				tiesB++
			}
			switch s := da * db; {
			case s > 0:
				conc++
			case s < 0:
				disc++
			}
		}
	}
	n0 := float64(n) * float64(n-1) / 2
	den := math.Sqrt((n0 - tiesA) * (n0 - tiesB))
	if den == 0 {
		return math.NaN()
	}
	return (conc - disc) / den
}

// Spearman is Spearman's rank correlation: the Pearson correlation of the ranks of a and b, tied
// values sharing their average rank (as scipy.stats.spearmanr). NaN if the lengths differ, there
// are fewer than 2 values, a value is NaN, or either side is constant.
func Spearman(a, b []float64) float64 {
	if len(a) != len(b) || len(a) < 2 || hasNaN(a) || hasNaN(b) {
		return math.NaN()
	}
	return pearson(ranks(a), ranks(b))
}

// Kurtosis is the excess (Fisher) kurtosis m₄/m₂² − 3 of x with population (biased) central
// moments m_k = mean((x − mean)^k): 0 for a normal sample, −1.2 for a uniform one, large for a
// heavy-tailed one. It equals scipy.stats.kurtosis(x) with its defaults (fisher=True, bias=True),
// which the authors use for the down-projection column (paper Fig. 10). NaN if x is empty,
// constant, or holds a NaN.
func Kurtosis(x []float64) float64 {
	if len(x) == 0 || hasNaN(x) {
		return math.NaN()
	}
	mean := 0.0
	for _, v := range x {
		mean += v
	}
	mean /= float64(len(x))
	var m2, m4 float64
	for _, v := range x {
		d := (v - mean) * (v - mean)
		m2 += d
		m4 += d * d
	}
	m2 /= float64(len(x))
	m4 /= float64(len(x))
	if m2 == 0 {
		return math.NaN()
	}
	return m4/(m2*m2) - 3
}

// TopLeftSingularVector returns the unit left singular vector (length rows) of the largest
// singular value of the row-major matrix m [rows, cols], by power iteration on the Gram matrix of
// the smaller side (m·mᵀ when rows ≤ cols, else mᵀ·m followed by u = m·v/‖m·v‖). iters caps the
// iterations (≤ 0: 1000); it stops earlier once the vector changes by less than 1e-13. The sign
// is fixed so that the largest-magnitude component is positive. It returns nil if len(m) ≠
// rows·cols, a size is not positive, or m is all zeros (no direction).
//
// Power iteration converges like (σ₂/σ₁)^(2·iters): a top singular value that is not separated
// from the second gives an arbitrary vector of the top pair's span, as any method would.
func TopLeftSingularVector(m []float32, rows, cols int, iters int) []float64 {
	if rows <= 0 || cols <= 0 || len(m) != rows*cols {
		return nil
	}
	if iters <= 0 {
		iters = 1000
	}
	left := rows <= cols
	n := cols
	if left {
		n = rows
	}
	g := make([]float64, n*n) // Gram matrix of the smaller side
	if left {
		for i := 0; i < rows; i++ {
			ri := m[i*cols : (i+1)*cols]
			for j := i; j < rows; j++ {
				v := dot32(ri, m[j*cols:(j+1)*cols])
				g[i*n+j], g[j*n+i] = v, v
			}
		}
	} else {
		for r := 0; r < rows; r++ {
			row := m[r*cols : (r+1)*cols]
			for i := 0; i < cols; i++ {
				xi := float64(row[i])
				if xi == 0 {
					continue
				}
				gi := g[i*n:]
				for j := i; j < cols; j++ {
					gi[j] += xi * float64(row[j])
				}
			}
		}
		for i := 0; i < n; i++ {
			for j := 0; j < i; j++ {
				g[i*n+j] = g[j*n+i]
			}
		}
	}
	// Start from the Gram column with the largest diagonal: it is non-zero unless m is zero and
	// usually has a large component along the top direction.
	best := 0
	for i := 1; i < n; i++ {
		if g[i*n+i] > g[best*n+best] {
			best = i
		}
	}
	if g[best*n+best] == 0 {
		return nil
	}
	v := make([]float64, n)
	for i := range v {
		v[i] = g[i*n+best]
	}
	if !normalize(v) {
		return nil
	}
	w := make([]float64, n)
	for it := 0; it < iters; it++ {
		for i := 0; i < n; i++ {
			s := 0.0
			gi := g[i*n : (i+1)*n]
			for j, x := range v {
				s += gi[j] * x
			}
			w[i] = s
		}
		if !normalize(w) {
			return nil
		}
		diff := 0.0
		for i := range v {
			d := w[i] - v[i]
			diff += d * d
		}
		v, w = w, v
		if diff < 1e-26 {
			break
		}
	}
	u := v
	if !left { // u = m·v / ‖m·v‖
		u = make([]float64, rows)
		for r := 0; r < rows; r++ {
			s := 0.0
			for j, x := range m[r*cols : (r+1)*cols] {
				s += float64(x) * v[j]
			}
			u[r] = s
		}
		if !normalize(u) {
			return nil
		}
	}
	big := 0
	for i := range u {
		if math.Abs(u[i]) > math.Abs(u[big]) {
			big = i
		}
	}
	if u[big] < 0 {
		for i := range u {
			u[i] = -u[i]
		}
	}
	return u
}

// SymEigenvalues returns the eigenvalues of the symmetric matrix a, in descending order (gonum's
// LAPACK-style solver, backward stable: accurate to about 1e-15 of the largest magnitude). a is read, not modified;
// only its upper triangle is used. It returns nil if a is not square.
func SymEigenvalues(a [][]float64) []float64 {
	n := len(a)
	flat := make([]float64, n*n)
	for i, row := range a {
		if len(row) != n {
			return nil
		}
		for j := i; j < n; j++ {
			flat[i*n+j], flat[j*n+i] = row[j], row[j]
		}
	}
	return symEigenvaluesFlat(flat, n)
}

// symEigenvaluesFlat is SymEigenvalues on a row-major symmetric n×n matrix (it may overwrite it),
// by gonum's symmetric eigensolver (LAPACK's Householder tridiagonalisation and implicit QL/QR):
// the cyclic Jacobi sweeps used before took 0.33 s for one 256 × 256 Gram matrix on 2 cores, which
// made the sink statistics of a 256-token model take over a minute per measurement.
func symEigenvaluesFlat(a []float64, n int) []float64 {
	if n == 0 {
		return []float64{}
	}
	var eig mat.EigenSym
	if !eig.Factorize(mat.NewSymDense(n, a), false) {
		ev := make([]float64, n)
		for i := range ev {
			ev[i] = math.NaN()
		}
		return ev
	}
	ev := eig.Values(nil) // ascending
	sort.Sort(sort.Reverse(sort.Float64Slice(ev)))
	return ev
}

// pearson is the Pearson correlation of two equal-length slices, NaN if either is constant.
func pearson(a, b []float64) float64 {
	n := float64(len(a))
	var ma, mb float64
	for i := range a {
		ma += a[i]
		mb += b[i]
	}
	ma /= n
	mb /= n
	var sab, saa, sbb float64
	for i := range a {
		da, db := a[i]-ma, b[i]-mb
		sab += da * db
		saa += da * da
		sbb += db * db
	}
	if saa == 0 || sbb == 0 {
		return math.NaN()
	}
	return sab / math.Sqrt(saa*sbb)
}

// ranks returns the 1-based ranks of x, ties sharing their average rank.
func ranks(x []float64) []float64 {
	idx := make([]int, len(x))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(i, j int) bool { return x[idx[i]] < x[idx[j]] })
	r := make([]float64, len(x))
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && x[idx[j+1]] == x[idx[i]] {
			j++
		}
		avg := float64(i+j)/2 + 1
		for k := i; k <= j; k++ {
			r[idx[k]] = avg
		}
		i = j + 1
	}
	return r
}

// descendingOrder returns the indices of x sorted by decreasing value, ties by increasing index.
func descendingOrder(x []float64) []int {
	idx := make([]int, len(x))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(i, j int) bool { return x[idx[i]] > x[idx[j]] })
	return idx
}

func sign(x float64) float64 {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return 0
}

func hasNaN(x []float64) bool {
	for _, v := range x {
		if math.IsNaN(v) {
			return true
		}
	}
	return false
}

// normalize scales v to unit length in place; false if v is zero or not finite.
func normalize(v []float64) bool {
	s := 0.0
	for _, x := range v {
		s += x * x
	}
	s = math.Sqrt(s)
	if s == 0 || math.IsNaN(s) || math.IsInf(s, 0) {
		return false
	}
	for i := range v {
		v[i] /= s
	}
	return true
}

// dot32 is the dot product of two float32 slices of equal length, accumulated in float64.
func dot32(a, b []float32) float64 {
	s := 0.0
	for i, x := range a {
		s += float64(x) * float64(b[i])
	}
	return s
}

// dot64 is the dot product of two float64 slices of equal length, with four accumulators.
func dot64(a, b []float64) float64 {
	n := len(a)
	b = b[:n]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= n; i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < n; i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}
