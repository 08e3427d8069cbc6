package findings

// Helpers of independent_test.go: fixtures, a tolerant deep comparison, and plain-loop
// recomputations of every runner's statistics from raw activations. Nothing here calls package
// metrics: each statistic is written out again from its definition (PAPER.md), so a runner that
// reads the wrong layer, position or hook, or applies the wrong statistic, disagrees with it.

import (
	"cmp"
	"fmt"
	"math"
	"reflect"
	"sort"
	"sync"
	"testing"

	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// indFixture prepares one model source once per test binary; tests treat the setting as read-only
// and derive variants with indAt.
type indFixture struct {
	once sync.Once
	s    *Setting
	err  error
}

func (f *indFixture) get(t *testing.T, source string, neuronLayer int) *Setting {
	t.Helper()
	f.once.Do(func() {
		p := PaperParams()
		p.Samples, p.SeqLen, p.Random, p.NeuronLayer = 6, 24, 12, neuronLayer
		f.s, _, _, f.err = Prepare(nil, source, p)
	})
	if f.err != nil {
		t.Fatal(f.err)
	}
	return f.s
}

var indPlantedFix, indTinyFix indFixture

// indPlanted is the planted model (6 layers, super neuron 37 in layer 1 writing dimension 17, BOS
// on every main sequence), its neuron layer found by the scan.
func indPlanted(t *testing.T) *Setting { return indPlantedFix.get(t, "planted", NeuronLayerAuto) }

// indTiny is random:tiny (2 layers, no BOS: token 0 differs between samples), neuron layer 0.
func indTiny(t *testing.T) *Setting { return indTinyFix.get(t, "random:tiny", 0) }

// indAt is s with another neuron layer (and Fig. 4a layers, when given).
func indAt(s *Setting, neuronLayer int, varianceLayers ...int) *Setting {
	c := *s
	c.NeuronLayer, c.Scan = neuronLayer, nil
	if varianceLayers != nil {
		c.VarianceLayers = varianceLayers
	}
	return &c
}

// indCase is one setting a runner is checked on.
type indCase struct {
	name string
	s    *Setting
}

// indCases are the settings most runners are checked on: the planted model at its scanned neuron
// layer and at layer 3 (so a hard-coded layer 1 shows), and random:tiny at both of its layers
// (layer 1 is the last one: the final norm is read).
func indCases(t *testing.T) []indCase {
	p, r := indPlanted(t), indTiny(t)
	return []indCase{{"planted", p}, {"planted@3", indAt(p, 3)}, {"tiny@0", r}, {"tiny@1", indAt(r, 1)}}
}

// indCapture runs the model once on tokens (not through the runners' micro-batching).
func indCapture(t *testing.T, s *Setting, tokens [][]int, names ...string) *transformer.Cache {
	t.Helper()
	c, err := s.Model.RunWithCache(tokens, names...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func indGet(t *testing.T, c *transformer.Cache, name string, layer ...int) *transformer.Activation {
	t.Helper()
	a, err := c.Get(name, layer...)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func indParam(t *testing.T, s *Setting, format string, args ...any) []float32 {
	t.Helper()
	w, _, err := s.Model.Param(fmt.Sprintf(format, args...))
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// indTolerance: float32 activations summed in float64 in another order, or singular values from
// another algorithm.
const indRelTol, indAbsTol = 2e-6, 1e-9

// indCompare compares got with want field by field (floats within indRelTol/indAbsTol, NaN equal to
// NaN, everything else exactly) and reports every difference with its path.
func indCompare(t *testing.T, path string, got, want any) {
	t.Helper()
	n := 0
	indCompareValue(t, path, reflect.ValueOf(got), reflect.ValueOf(want), &n)
}

func indCompareValue(t *testing.T, path string, got, want reflect.Value, n *int) {
	t.Helper()
	fail := func(format string, args ...any) {
		if *n++; *n <= 12 {
			t.Errorf("%s: "+format, append([]any{path}, args...)...)
		}
	}
	switch want.Kind() {
	case reflect.Pointer:
		if got.IsNil() != want.IsNil() {
			fail("got nil = %v, want nil = %v", got.IsNil(), want.IsNil())
		} else if !want.IsNil() {
			indCompareValue(t, path, got.Elem(), want.Elem(), n)
		}
	case reflect.Struct:
		for i := 0; i < want.NumField(); i++ {
			f := want.Type().Field(i)
			indCompareValue(t, path+"."+f.Name, got.Field(i), want.Field(i), n)
		}
	case reflect.Slice:
		if got.Len() != want.Len() {
			fail("got %d values, want %d (got %v, want %v)", got.Len(), want.Len(), got.Interface(), want.Interface())
			return
		}
		for i := 0; i < want.Len(); i++ {
			indCompareValue(t, fmt.Sprintf("%s[%d]", path, i), got.Index(i), want.Index(i), n)
		}
	case reflect.Float64:
		g, w := got.Float(), want.Float()
		if !(math.IsNaN(g) && math.IsNaN(w)) && !(math.Abs(g-w) <= indAbsTol+indRelTol*math.Abs(w)) {
			fail("got %.10g, want %.10g", g, w)
		}
	default:
		if !reflect.DeepEqual(got.Interface(), want.Interface()) {
			fail("got %v, want %v", got.Interface(), want.Interface())
		}
	}
}

// indToken is the values of token (b, p) of a [b, p, ...] activation.
func indToken(a *transformer.Activation, b, p int) []float32 {
	n := len(a.Data) / (a.Shape[0] * a.Shape[1])
	off := (b*a.Shape[1] + p) * n
	return a.Data[off : off+n]
}

// indMeanStd is the mean and population std of v.
func indMeanStd(v []float64) (mean, std float64) {
	for _, x := range v {
		mean += x
	}
	mean /= float64(len(v))
	for _, x := range v {
		std += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(std / float64(len(v)))
}

func indF64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// indWithinStd: per position, the std over one token's values, averaged over samples (Fig. 4a, 7).
func indWithinStd(a *transformer.Activation) []float64 {
	B, P := a.Shape[0], a.Shape[1]
	out := make([]float64, P)
	for p := range out {
		for b := 0; b < B; b++ {
			_, sd := indMeanStd(indF64(indToken(a, b, p)))
			out[p] += sd / float64(B)
		}
	}
	return out
}

// indAcrossStd: per position and coordinate, the std across samples, averaged over coordinates
// (Fig. 4b).
func indAcrossStd(a *transformer.Activation) []float64 {
	B, P := a.Shape[0], a.Shape[1]
	N := len(indToken(a, 0, 0))
	out := make([]float64, P)
	col := make([]float64, B)
	for p := range out {
		for j := 0; j < N; j++ {
			for b := range col {
				col[b] = float64(indToken(a, b, p)[j])
			}
			_, sd := indMeanStd(col)
			out[p] += sd / float64(N)
		}
	}
	return out
}

// indAbsMeans is, per coordinate, the mean |x| of position p over the samples.
func indAbsMeans(a *transformer.Activation, p int) []float64 {
	B := a.Shape[0]
	m := make([]float64, len(indToken(a, 0, p)))
	for b := 0; b < B; b++ {
		for j, v := range indToken(a, b, p) {
			m[j] += math.Abs(float64(v)) / float64(B)
		}
	}
	return m
}

// indArgmax is the first index of the largest value.
func indArgmax(v []float64) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
}

// indOrder ranks indices by decreasing value, ties by lower index.
func indOrder(v []float64) []int {
	idx := make([]int, len(v))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return v[idx[a]] > v[idx[b]] })
	return idx
}

func indNorm(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x * x
	}
	return math.Sqrt(s)
}

func indDot(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// indJacobi returns the eigenvalues of the symmetric n×n matrix a (row-major, not modified) in
// decreasing order and the matching unit eigenvectors, by cyclic Jacobi rotations.
func indJacobi(a []float64, n int) ([]float64, [][]float64) {
	m := append([]float64(nil), a...)
	v := make([]float64, n*n)
	for i := 0; i < n; i++ {
		v[i*n+i] = 1
	}
	for sweep := 0; sweep < 100; sweep++ {
		off, diag := 0.0, 0.0
		for i := 0; i < n; i++ {
			for j := 0; j < n; j++ {
				if i == j {
					diag += m[i*n+j] * m[i*n+j]
				} else {
					off += m[i*n+j] * m[i*n+j]
				}
			}
		}
		if off <= 1e-30*diag || off == 0 {
			break
		}
		for p := 0; p < n; p++ {
			for q := p + 1; q < n; q++ {
				if m[p*n+q] == 0 {
					continue
				}
				theta := (m[q*n+q] - m[p*n+p]) / (2 * m[p*n+q])
				tn := 1 / (math.Abs(theta) + math.Sqrt(theta*theta+1))
				if theta < 0 {
					tn = -tn
				}
				c := 1 / math.Sqrt(tn*tn+1)
				s := tn * c
				for k := 0; k < n; k++ { // columns p, q of m and v
					mp, mq := m[k*n+p], m[k*n+q]
					m[k*n+p], m[k*n+q] = c*mp-s*mq, s*mp+c*mq
					vp, vq := v[k*n+p], v[k*n+q]
					v[k*n+p], v[k*n+q] = c*vp-s*vq, s*vp+c*vq
				}
				for k := 0; k < n; k++ { // rows p, q of m
					mp, mq := m[p*n+k], m[q*n+k]
					m[p*n+k], m[q*n+k] = c*mp-s*mq, s*mp+c*mq
				}
			}
		}
	}
	vals := make([]float64, n)
	for i := range vals {
		vals[i] = m[i*n+i]
	}
	order := indOrder(vals)
	sorted, vecs := make([]float64, n), make([][]float64, n)
	for r, i := range order {
		sorted[r] = vals[i]
		vecs[r] = make([]float64, n)
		for k := 0; k < n; k++ {
			vecs[r][k] = v[k*n+i]
		}
	}
	return sorted, vecs
}

// indGram is m·mᵀ of the row-major [rows, cols] matrix m.
func indGram(m []float32, rows, cols int) []float64 {
	g := make([]float64, rows*rows)
	for i := 0; i < rows; i++ {
		for j := 0; j < rows; j++ {
			g[i*rows+j] = indDot(indF64(m[i*cols:(i+1)*cols]), indF64(m[j*cols:(j+1)*cols]))
		}
	}
	return g
}

// indEffectiveRank is exp(entropy of the normalised singular values) of one [rows, cols] matrix,
// rows ≤ cols (the singular values are the square roots of the Gram eigenvalues).
func indEffectiveRank(m []float32, rows, cols int) float64 {
	ev, _ := indJacobi(indGram(m, rows, cols), rows)
	var sigma []float64
	total := 0.0
	for _, l := range ev {
		if l > 1e-12*ev[0] {
			sigma = append(sigma, math.Sqrt(l))
			total += math.Sqrt(l)
		}
	}
	h := 0.0
	for _, s := range sigma {
		h -= s / total * math.Log(s/total)
	}
	return math.Exp(h)
}

// indKendall is Kendall's τ-b: Σ sign(Δx)·sign(Δy) over pairs ÷ √(pairs untied in x · in y).
func indKendall(x, y []float64) float64 {
	var s, nx, ny float64
	for i := range x {
		for j := i + 1; j < len(x); j++ {
			dx, dy := indSign(x[i]-x[j]), indSign(y[i]-y[j])
			s += dx * dy
			nx += dx * dx
			ny += dy * dy
		}
	}
	return s / math.Sqrt(nx*ny)
}

// indSign is −1, 0 or +1.
func indSign(x float64) float64 { return float64(cmp.Compare(x, 0)) }

// indSpearman is the Pearson correlation of the ranks (ties get their mean rank).
func indSpearman(x, y []float64) float64 {
	rank := func(v []float64) []float64 {
		r := make([]float64, len(v))
		for i := range v {
			less, equal := 0.0, 0.0
			for j := range v {
				if v[j] < v[i] {
					less++
				} else if v[j] == v[i] {
					equal++
				}
			}
			r[i] = less + (equal+1)/2
		}
		return r
	}
	rx, ry := rank(x), rank(y)
	mx, sx := indMeanStd(rx)
	my, sy := indMeanStd(ry)
	c := 0.0
	for i := range rx {
		c += (rx[i] - mx) * (ry[i] - my)
	}
	return c / float64(len(rx)) / (sx * sy)
}

// indKurtosis is the excess kurtosis with population moments.
func indKurtosis(x []float64) float64 {
	mean, sd := indMeanStd(x)
	m4 := 0.0
	for _, v := range x {
		m4 += math.Pow(v-mean, 4)
	}
	return m4/float64(len(x))/math.Pow(sd, 4) - 3
}
