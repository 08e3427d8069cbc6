package findings

// Every runner's numbers against an independent recomputation from the raw activations of one
// un-batched run (independent_helpers_test.go), on the planted model and on random:tiny, at more
// than one neuron layer. These tests fail when a runner reads the wrong layer, position or hook,
// applies the wrong statistic or reading, or when Reproduce writes something other than what the
// runners compute.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sinkscope/sinkscope/sinks/metrics"
	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// indContrast is, per FFN channel, the mean |a| at position 0 and at positions 1..T−1.
func indContrast(a *transformer.Activation) (first, rest []float64) {
	P := a.Shape[1]
	first = indAbsMeans(a, 0)
	rest = make([]float64, len(first))
	for p := 1; p < P; p++ {
		for n, v := range indAbsMeans(a, p) {
			rest[n] += v / float64(P-1)
		}
	}
	return first, rest
}

// indColumn is column n of the row-major [rows, cols] matrix w.
func indColumn(w []float32, rows, cols, n int) []float64 {
	col := make([]float64, rows)
	for j := range col {
		col[j] = float64(w[j*cols+n])
	}
	return col
}

func indAbs(v []float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = math.Abs(x)
	}
	return out
}

// indScan: per layer the channel with the largest First − Rest, its selectivity
// (First − Rest)/(First + Rest), how much its W_down column writes into one dimension, and, among
// the layers whose FFN output reaches a later attention layer (all but the last, unless there is
// only one), the layer where difference · max|W_down| · selectivity is largest.
func indScan(t *testing.T, s *Setting) *NeuronScan {
	cfg := s.Model.Config
	L := cfg.NLayers
	c := indCapture(t, s, s.Main, "blocks.*.mlp.hook_post")
	scan := &NeuronScan{Rule: ScanRule, Best: -1}
	for l := 0; l < L; l++ {
		first, rest := indContrast(indGet(t, c, "mlp.post", l))
		diff, ratio := make([]float64, len(first)), make([]float64, len(first))
		for n := range first {
			diff[n], ratio[n] = first[n]-rest[n], first[n]/rest[n]
		}
		n, nr := indArgmax(diff), indArgmax(ratio)
		abs := indAbs(indColumn(indParam(t, s, "blocks/%d/mlp/down/weights", l), cfg.DModel, cfg.DMLP, n))
		dd := indArgmax(abs)
		sel := diff[n] / (first[n] + rest[n])
		cand := LayerCandidate{Layer: l, Neuron: n, First: first[n], Rest: rest[n], NeuronByRatio: nr, Ratio: ratio[nr],
			DownDim: dd, DownMax: abs[dd], Selectivity: sel, Strength: diff[n] * abs[dd] * sel, FeedsAttention: l < L-1 || L == 1}
		scan.Layers = append(scan.Layers, cand)
		if cand.FeedsAttention && (scan.Best < 0 || cand.Strength > scan.Layers[scan.Best].Strength) {
			scan.Best = l
		}
	}
	return scan
}

// indSinkOnset: Fig. 3 and Gu et al.'s α₀ from the attention patterns and residual streams.
func indSinkOnset(t *testing.T, s *Setting) *SinkOnset {
	L := s.Model.Config.NLayers
	c := indCapture(t, s, s.Main, "blocks.*.attn.hook_pattern", "blocks.*.hook_resid_pre")
	out := &SinkOnset{Onset: -1, Gu: &metrics.GuScores{K: 0, Eps: 0.3}}
	var above, heads, aboveS, triples float64
	for l := 0; l < L; l++ {
		pat := indGet(t, c, "pattern", l)
		B, H, T := pat.Shape[0], pat.Shape[1], pat.Shape[2]
		at := func(b, h, q, k int) float64 { return float64(pat.Data[((b*H+h)*T+q)*T+k]) }
		var first, column, others, nOthers float64
		alpha := make([]float64, H)
		layerAboveS := 0.0
		for h := 0; h < H; h++ {
			for b := 0; b < B; b++ {
				col := at(b, h, 0, 0)
				for q := 1; q < T; q++ {
					col += at(b, h, q, 0)
					first += at(b, h, q, 0)
					for k := 1; k <= q; k++ {
						others += at(b, h, q, k)
						nOthers++
					}
				}
				column += col
				alpha[h] += col / float64(T) / float64(B)
				if col/float64(T) > 0.3 {
					layerAboveS++
				}
			}
		}
		layerAbove := 0.0
		for _, a := range alpha {
			if a > 0.3 {
				layerAbove++
			}
		}
		out.Gu.Alpha = append(out.Gu.Alpha, alpha)
		out.Gu.LayerShare = append(out.Gu.LayerShare, layerAbove/float64(H))
		out.Gu.LayerSharePerSample = append(out.Gu.LayerSharePerSample, layerAboveS/float64(B*H))
		above, heads, aboveS, triples = above+layerAbove, heads+float64(H), aboveS+layerAboveS, triples+float64(B*H)

		resid := indGet(t, c, "resid_pre", l)
		var n0, nRest float64
		for b := 0; b < B; b++ {
			n0 += indNorm(indF64(indToken(resid, b, 0))) / float64(B)
			for p := 1; p < T; p++ {
				nRest += indNorm(indF64(indToken(resid, b, p))) / float64(B*(T-1))
			}
		}
		ls := metrics.LayerSink{Layer: l, AttnToFirst: first / float64(B*H*(T-1)), AttnToFirstAllRows: column / float64(B*H*T),
			AttnToOthers: others / nOthers, FirstNorm: n0, OthersNorm: nRest, NormRatio: n0 / nRest}
		out.Profile = append(out.Profile, ls)
		if out.Onset < 0 && ls.AttnToFirst > 0.8 { // the paper's onset threshold
			out.Onset = l
		}
	}
	out.Gu.Share, out.Gu.SharePerSample = above/heads, aboveS/triples
	return out
}

// indCurve fits σ_v/√(t+1) by least squares and adds the Bessel-corrected curve for n values.
func indCurve(layer int, std []float64, n int) *LayerCurve {
	var sg, gg float64
	for i, v := range std {
		sg += v / math.Sqrt(float64(i+1))
		gg += 1 / float64(i+1)
	}
	fit := &metrics.InverseSqrtFit{SigmaV: sg / gg}
	mean, _ := indMeanStd(std)
	var ssRes, ssTot float64
	bessel := make([]float64, len(std))
	for i, v := range std {
		fit.Curve = append(fit.Curve, fit.SigmaV/math.Sqrt(float64(i+1)))
		ssRes += (v - fit.Curve[i]) * (v - fit.Curve[i])
		ssTot += (v - mean) * (v - mean)
		bessel[i] = v * math.Sqrt(float64(n)/float64(n-1))
	}
	fit.R2, fit.RMSE = 1-ssRes/ssTot, math.Sqrt(ssRes/float64(len(std)))
	return &LayerCurve{Layer: layer, Std: std, StdBessel: bessel, BesselN: n, Fit: fit}
}

// indVariance: Fig. 4a (within-token std of hook_z on the main batch, layers 0–2 unless given)
// and Fig. 4b (across-sample std of hook_z on the random batch, at the neuron layer).
func indVariance(t *testing.T, s *Setting) *Variance {
	cfg := s.Model.Config
	layers := s.VarianceLayers
	if layers == nil {
		layers = []int{0, 1, 2}[:min(3, cfg.NLayers)]
	}
	v := &Variance{}
	for _, l := range layers {
		z := indGet(t, indCapture(t, s, s.Main, fmt.Sprintf("blocks.%d.attn.hook_z", l)), "z", l)
		v.Main = append(v.Main, *indCurve(l, indWithinStd(z), cfg.NHeads*cfg.HeadDim()))
	}
	nl := s.NeuronLayer
	z := indGet(t, indCapture(t, s, s.Random, fmt.Sprintf("blocks.%d.attn.hook_z", nl)), "z", nl)
	v.Random = indCurve(nl, indAcrossStd(z), len(s.Random))
	return v
}

// indWO: Fig. 7 at the neuron layer.
func indWO(t *testing.T, s *Setting) *metrics.WOPreservation {
	nl := s.NeuronLayer
	c := indCapture(t, s, s.Main, fmt.Sprintf("blocks.%d.attn.hook_z", nl), fmt.Sprintf("blocks.%d.hook_attn_out", nl))
	before, after := indWithinStd(indGet(t, c, "z", nl)), indWithinStd(indGet(t, c, "attn_out", nl))
	return &metrics.WOPreservation{Before: before, After: after, KendallTau: indKendall(before, after), Spearman: indSpearman(before, after)}
}

// indRowNorms ranks the rows of a [rows, cols] weight by L2 norm.
func indRowNorms(w []float32, rows, cols, topK int) *metrics.RowNorms {
	r := &metrics.RowNorms{}
	for i := 0; i < rows; i++ {
		r.Norms = append(r.Norms, indNorm(indF64(w[i*cols:(i+1)*cols])))
		r.Mean += r.Norms[i] / float64(rows)
	}
	r.Order = indOrder(r.Norms)
	r.Top = r.Order[:topK]
	return r
}

// indSuperNeurons: Fig. 8 (row norms), the contrast ranking, Fig. 9 (cosine with the gate row —
// the up row of a plain MLP — and the raw up projection) and Fig. 10 (the W_down column) for the
// top channel by First − Rest.
func indSuperNeurons(t *testing.T, s *Setting, topK int) *SuperNeurons {
	cfg, l := s.Model.Config, s.NeuronLayer
	F, D := cfg.DMLP, cfg.DModel
	up := indParam(t, s, "blocks/%d/mlp/up/weights", l)
	r := &SuperNeurons{Layer: l, UpNorm: indRowNorms(up, F, D, topK), SelectiveRow: "up"}
	row, pre := up, "mlp.hook_pre"
	if cfg.MLP == transformer.SwiGLU {
		row = indParam(t, s, "blocks/%d/mlp/gate/weights", l)
		r.GateNorm, pre, r.SelectiveRow = indRowNorms(row, F, D, topK), "mlp.hook_up", "gate"
	}
	c := indCapture(t, s, s.Main, fmt.Sprintf("blocks.%d.mlp.hook_post", l), fmt.Sprintf("blocks.%d.%s", l, pre),
		fmt.Sprintf("blocks.%d.ln2.hook_normalized", l))
	first, rest := indContrast(indGet(t, c, "mlp.post", l))
	k := &metrics.Contrast{First: first, Rest: rest}
	for n := range first {
		k.Score = append(k.Score, first[n]/rest[n])
		k.Diff = append(k.Diff, first[n]-rest[n])
	}
	k.Order, k.OrderByDiff = indOrder(k.Score), indOrder(k.Diff)
	k.Top, k.TopByDiff = k.Order[:topK], k.OrderByDiff[:topK]
	r.Contrast, r.Neuron, r.NeuronByRatio, r.ByNorm = k, k.OrderByDiff[0], k.Order[0], r.UpNorm.Order[0]
	n := r.Neuron

	in, act := indGet(t, c, "ln2.normalized", l), indGet(t, c, fmt.Sprintf("blocks.%d.%s", l, pre))
	B, P := in.Shape[0], in.Shape[1]
	g := indF64(row[n*D : (n+1)*D])
	r.Selective = &metrics.Selective{Neuron: n, Cos: make([]float64, P), Up: make([]float64, P)}
	for b := 0; b < B; b++ {
		for p := 0; p < P; p++ {
			x := indF64(indToken(in, b, p))
			r.Selective.Cos[p] += indDot(x, g) / (indNorm(x) * indNorm(g)) / float64(B)
			r.Selective.Up[p] += float64(indToken(act, b, p)[n]) / float64(B)
		}
	}
	col := indColumn(indParam(t, s, "blocks/%d/mlp/down/weights", l), D, F, n)
	abs := indAbs(col)
	order := indOrder(abs)
	r.Down = &metrics.DownColumn{Neuron: n, Kurtosis: indKurtosis(col), TopDims: order[:min(10, D)]}
	for i, j := range order {
		r.Down.SortedAbs = append(r.Down.SortedAbs, abs[j])
		if i < len(r.Down.TopDims) {
			r.Down.TopValues = append(r.Down.TopValues, col[j])
		}
	}
	return r
}

// indDisparity: token 0's massive dimension in the residual stream entering the layer after the
// neuron layer, the disparity at that layer's input norm (the final norm after the last layer)
// per sample and from batch means, the same for the largest dimension after the norm, and the
// dominance max|x|/mean|x| of token 0 entering every layer.
func indDisparity(t *testing.T, s *Setting) *Disparity {
	L, next := s.Model.Config.NLayers, s.NeuronLayer+1
	d := &Disparity{Layer: next, Norm: "ln_final.hook_normalized"}
	if next < L {
		d.Norm = fmt.Sprintf("blocks.%d.ln1.hook_normalized", next)
	}
	c := indCapture(t, s, s.Main, "blocks.*.hook_resid_pre", fmt.Sprintf("blocks.%d.hook_resid_post", L-1), d.Norm)
	entering := indGet(t, c, "resid_post", L-1)
	if next < L {
		entering = indGet(t, c, "resid_pre", next)
	}
	x := indGet(t, c, d.Norm)
	m, mx := indAbsMeans(entering, 0), indAbsMeans(x, 0)
	d.Dim, d.DimAfterNorm = indArgmax(m), indArgmax(mx)
	d.DimValue, d.DimAfterNormValue = m[d.Dim], mx[d.DimAfterNorm]
	ratios := func(dim int) (perSample, pooled float64) {
		var tSum, oSum float64
		B := x.Shape[0]
		for b := 0; b < B; b++ {
			row := indAbs(indF64(indToken(x, b, 0)))
			others := 0.0
			for j, v := range row {
				if j != dim {
					others += v / float64(len(row)-1)
				}
			}
			perSample += row[dim] / others / float64(B)
			tSum, oSum = tSum+row[dim], oSum+others
		}
		return perSample, tSum / oSum
	}
	d.Disparity, d.Pooled = ratios(d.Dim)
	d.DisparityAfterNorm, d.PooledAfterNorm = ratios(d.DimAfterNorm)
	for l := 0; l < L; l++ {
		r := indGet(t, c, "resid_pre", l)
		dom := 0.0
		for b := 0; b < r.Shape[0]; b++ {
			row := indAbs(indF64(indToken(r, b, 0)))
			mean, _ := indMeanStd(row)
			dom += row[indArgmax(row)] / mean / float64(r.Shape[0])
		}
		d.Dominance = append(d.Dominance, dom)
	}
	return d
}

// indQKLock: Fig. 12 at layer for massive dimension dim. The principal query direction of head h
// is the top eigenvector of W_Q_h·W_Q_hᵀ.
func indQKLock(t *testing.T, s *Setting, layer, dim int) *QKLock {
	cfg := s.Model.Config
	H, KV, dh, D := cfg.NHeads, cfg.KVHeads(), cfg.HeadDim(), cfg.DModel
	wq := indParam(t, s, "blocks/%d/attn/q/weights", layer)
	wk := indParam(t, s, "blocks/%d/attn/k/weights", layer)
	c := indCapture(t, s, s.Main, fmt.Sprintf("blocks.%d.attn.hook_q", layer), fmt.Sprintf("blocks.%d.attn.hook_k", layer),
		fmt.Sprintf("blocks.%d.ln1.hook_normalized", layer))
	q, k, x := indGet(t, c, "attn.q", layer), indGet(t, c, "attn.k", layer), indGet(t, c, "ln1.normalized", layer)
	B, T := q.Shape[0], q.Shape[1]
	out := &QKLock{Layer: layer, Dim: dim}
	for h := 0; h < H; h++ {
		g := h / (H / KV)
		kdir := make([]float64, dh)
		for i := range kdir {
			kdir[i] = float64(wk[(g*dh+i)*D+dim])
		}
		_, vecs := indJacobi(indGram(wq[h*dh*D:(h+1)*dh*D], dh, D), dh)
		hl := metrics.HeadLock{Head: h, Alignment: math.Abs(indDot(vecs[0], kdir)) / indNorm(kdir)}
		n := float64(B * (T - 1))
		for b := 0; b < B; b++ {
			k0 := indF64(indToken(k, b, 0)[g*dh : (g+1)*dh])
			sign := indSign(float64(indToken(x, b, 0)[dim]))
			for i := 1; i < T; i++ {
				qi := indF64(indToken(q, b, i)[h*dh : (h+1)*dh])
				score, w := indDot(qi, k0), indDot(qi, kdir)
				hl.MeanScore += score / math.Sqrt(float64(dh)) / n
				hl.PositiveShare += max(indSign(score), 0) / n
				hl.WeightShare += max(indSign(sign*w), 0) / n
				hl.WeightShareUnsigned += max(indSign(w), 0) / n
			}
		}
		out.Heads = append(out.Heads, hl)
	}
	return out
}

// indRank: Fig. 21, the mean effective rank of each layer's input and of the final norm's output.
func indRank(t *testing.T, s *Setting) []float64 {
	L := s.Model.Config.NLayers
	c := indCapture(t, s, s.Main, "blocks.*.hook_resid_pre", "ln_final.hook_normalized")
	var out []float64
	for l := 0; l <= L; l++ {
		a := indGet(t, c, "ln_final.hook_normalized")
		if l < L {
			a = indGet(t, c, "resid_pre", l)
		}
		B, T, D := a.Shape[0], a.Shape[1], a.Shape[2]
		mean := 0.0
		for b := 0; b < B; b++ {
			mean += indEffectiveRank(a.Data[b*T*D:(b+1)*T*D], T, D) / float64(B)
		}
		out = append(out, mean)
	}
	return out
}

// The layer scan reports each layer's top First − Rest channel and picks the strongest layer
// that feeds attention (guards: weakest layer picked, ratio and difference swapped, wrong strength
// or selectivity formula, the last layer allowed).
func TestScanNeuronsAgainstIndependent(t *testing.T) {
	for _, c := range []indCase{{"planted", indPlanted(t)}, {"tiny", indTiny(t)}} {
		got, err := ScanNeurons(c.s)
		if err != nil {
			t.Fatal(err)
		}
		want := indScan(t, c.s)
		indCompare(t, c.name+" scan", got, want)
		if wantBest := map[string]int{"planted": 1, "tiny": 0}[c.name]; want.Best != wantBest {
			t.Errorf("%s: independent scan picks layer %d, want %d", c.name, want.Best, wantBest)
		}
	}
}

// Fig. 3 and Gu et al.'s scores (guards: attention reading, all-rows formula, norm ratio and its
// denominators, onset threshold, Gu per-sample vs batch-mean reading).
func TestSinkOnsetAgainstIndependent(t *testing.T) {
	for _, c := range []indCase{{"planted", indPlanted(t)}, {"tiny", indTiny(t)}} {
		got, err := RunSinkOnset(c.s)
		if err != nil {
			t.Fatal(err)
		}
		want := indSinkOnset(t, c.s)
		indCompare(t, c.name+" sink onset", got, want)
		if c.name == "planted" && want.Onset != 2 {
			t.Errorf("planted: independent onset %d, want 2 (the layer after the super neuron)", want.Onset)
		}
	}
}

// Fig. 4a at the default layers and at given ones, Fig. 4b at the neuron layer (guards: wrong
// statistic for either curve, wrong layers, wrong batch, Bessel factor and its n).
func TestVarianceAgainstIndependent(t *testing.T) {
	p := indPlanted(t)
	cases := append(indCases(t), indCase{"planted@3 layers 4,2", indAt(p, 3, 4, 2)})
	for _, c := range cases {
		got, err := RunVariance(c.s, false)
		if err != nil {
			t.Fatal(err)
		}
		indCompare(t, c.name+" variance", got, indVariance(t, c.s))
	}
}

// Fig. 7 at the neuron layer (guards: layer 0 read instead, wrong hook, wrong correlation).
func TestWOPreservationAgainstIndependent(t *testing.T) {
	for _, c := range indCases(t) {
		got, err := RunWOPreservation(c.s)
		if err != nil {
			t.Fatal(err)
		}
		indCompare(t, c.name+" W_O preservation", got, indWO(t, c.s))
	}
}

// Fig. 8–10 (guards: the ratio and difference readings swapped, the selective activation or the
// down column of another neuron, the wrong weight row or hook).
func TestSuperNeuronsAgainstIndependent(t *testing.T) {
	differ := false
	for _, c := range indCases(t) {
		got, err := RunSuperNeurons(c.s, 5)
		if err != nil {
			t.Fatal(err)
		}
		want := indSuperNeurons(t, c.s, 5)
		indCompare(t, c.name+" super neurons", got, want)
		differ = differ || (want.Neuron != want.NeuronByRatio && want.Neuron != want.ByNorm)
	}
	if !differ {
		t.Error("no case where the neuron by difference differs from those by ratio and by row norm: a swap would go unseen")
	}
}

// Table 1 and the dominance ratio (guards: wrong position, wrong layer or norm, per-sample and
// pooled swapped, the massive dimension picked after the norm).
func TestDisparityAgainstIndependent(t *testing.T) {
	for _, c := range indCases(t) {
		got, err := RunDisparity(c.s)
		if err != nil {
			t.Fatal(err)
		}
		want := indDisparity(t, c.s)
		indCompare(t, c.name+" disparity", got, want)
		if c.name == "tiny@0" && math.Abs(want.Disparity-want.Pooled) < 1e-3*want.Pooled {
			t.Errorf("tiny@0: per-sample %g and pooled %g disparity too close to tell apart", want.Disparity, want.Pooled)
		}
	}
}

// Fig. 12 where the chain leads and on random:tiny at a dimension whose sign varies between
// samples (guards: |·| on the alignment, sign-aware share, wrong layer, dimension or key, the
// dimension picked after the norm).
func TestQKLockAgainstIndependent(t *testing.T) {
	p := indPlanted(t)
	d := indDisparity(t, p)
	got, err := RunQKLockNext(p, d)
	if err != nil {
		t.Fatal(err)
	}
	indCompare(t, "planted QK lock", got, indQKLock(t, p, d.Layer, d.Dim))

	// random:tiny at layer 1, the dimension where token 0's normalised value is negative in the
	// most samples while positive in at least one: signed and unsigned shares differ.
	r := indTiny(t)
	x := indGet(t, indCapture(t, r, r.Main, "blocks.1.ln1.hook_normalized"), "ln1.normalized", 1)
	neg := make([]float64, x.Shape[2])
	for b := 0; b < x.Shape[0]; b++ {
		for j, v := range indToken(x, b, 0) {
			if v < 0 {
				neg[j]++
			}
		}
	}
	for j := range neg {
		if neg[j] == float64(x.Shape[0]) {
			neg[j] = 0
		}
	}
	dim := indArgmax(neg)
	// Through RunQKLockNext with a disparity whose two massive dimensions differ: the lock reads
	// the one before the norm, at the disparity's layer.
	got, err = RunQKLockNext(r, &Disparity{Layer: 1, Dim: dim, DimAfterNorm: (dim + 1) % x.Shape[2]})
	if err != nil {
		t.Fatal(err)
	}
	want := indQKLock(t, r, 1, dim)
	indCompare(t, fmt.Sprintf("tiny QK lock at dim %d", dim), got, want)
	if want.Heads[0].WeightShare == want.Heads[0].WeightShareUnsigned {
		t.Errorf("tiny: signed and unsigned shares agree (%g): the sign is not exercised", want.Heads[0].WeightShare)
	}
	if q, err := RunQKLockNext(indAt(r, 1), indDisparity(t, indAt(r, 1))); q != nil || err != nil {
		t.Errorf("QK lock after the last layer: got %+v, %v; want nil, nil", q, err)
	}
}

// Fig. 21 (guard: one layer read for every layer, the final norm missing).
func TestEffectiveRankAgainstIndependent(t *testing.T) {
	for _, c := range []indCase{{"planted", indPlanted(t)}, {"tiny", indTiny(t)}} {
		got, err := RunEffectiveRank(c.s)
		if err != nil {
			t.Fatal(err)
		}
		indCompare(t, c.name+" effective rank", got, indRank(t, c.s))
	}
}

// The main batch starts with BOS when the model defines one; the random batch of Fig. 4b never
// does (the paper's setting).
func TestBatchesBOS(t *testing.T) {
	p := indPlanted(t)
	if !p.MainBOS || len(p.Main) != 6 || len(p.Random) != 12 {
		t.Fatalf("planted: MainBOS %v, %d main and %d random sequences; want true, 6, 12", p.MainBOS, len(p.Main), len(p.Random))
	}
	bos := p.Main[0][0]
	for b, seq := range p.Main {
		if seq[0] != bos {
			t.Errorf("main sequence %d starts with %d, want BOS %d", b, seq[0], bos)
		}
	}
	for b, seq := range p.Random {
		if indCount(seq, bos) > 0 || len(seq) != 24 {
			t.Errorf("random sequence %d (%d tokens) contains BOS %d: %v", b, len(seq), bos, seq)
		}
	}
}

// indCount is how many times v occurs in seq.
func indCount(seq []int, v int) int {
	n := 0
	for _, x := range seq {
		if x == v {
			n++
		}
	}
	return n
}

// indDef is one open definition's two readings, as results.json must give them.
type indDef struct {
	Item string
	A, B float64
}

// indDefinitions lists the readings Definitions must report for these independent results.
func indDefinitions(sink *SinkOnset, v *Variance, wo *metrics.WOPreservation, sn *SuperNeurons, d *Disparity, q *QKLock) []indDef {
	peak := sink.Profile[0]
	for _, p := range sink.Profile {
		if p.AttnToFirst > peak.AttnToFirst {
			peak = p
		}
	}
	var signed, unsigned float64
	for _, h := range q.Heads {
		signed += h.WeightShare / float64(len(q.Heads))
		unsigned += h.WeightShareUnsigned / float64(len(q.Heads))
	}
	defs := []indDef{{"Fig. 3", peak.AttnToFirst, peak.AttnToFirstAllRows}, {"Gu et al.", sink.Gu.SharePerSample, sink.Gu.Share},
		{"Fig. 4a", v.Main[0].Std[0], v.Main[0].StdBessel[0]}, {"Fig. 7", wo.KendallTau, wo.Spearman},
		{"Fig. 9", float64(sn.Neuron), float64(sn.NeuronByRatio)},
		{"Table 1", float64(d.Dim), float64(d.DimAfterNorm)}, {"Table 1", d.Disparity, d.Pooled}}
	if d.Dim != d.DimAfterNorm {
		defs = append(defs, indDef{"Table 1", d.Pooled, d.PooledAfterNorm})
	}
	return append(defs, indDef{"Fig. 12", signed, unsigned})
}

// Reproduce writes what the runners compute: results.json, read back, against the independent
// numbers of every finding, the open definitions' two readings, the token ids (inline for the main
// batch, in ids.json for both) with their hashes, and the report's rows (guards: a step wired to
// the wrong result, readings swapped in Definitions, ids missing, report rows showing other
// numbers).
func TestReproduceResultsAgainstIndependent(t *testing.T) {
	s := indPlanted(t)
	dir := t.TempDir()
	if _, err := Reproduce(s, Describe{Model: "planted"}, dir, Options{NoSVG: true}); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r Results
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("results.json: %v", err)
	}
	scan, sink, v, wo := indScan(t, s), indSinkOnset(t, s), indVariance(t, s), indWO(t, s)
	sn, d, rank := indSuperNeurons(t, s, 5), indDisparity(t, s), indRank(t, s)
	q := indQKLock(t, s, d.Layer, d.Dim)
	if r.NeuronLayer != scan.Best || s.NeuronLayer != scan.Best {
		t.Errorf("results.json neuron_layer %d (setting %d), want the scan's best layer %d", r.NeuronLayer, s.NeuronLayer, scan.Best)
	}
	for _, sec := range []struct {
		name      string
		got, want any
	}{{"scan", r.Scan, scan}, {"fig3", r.Sink, sink}, {"fig4", r.Variance, v}, {"fig7", r.WO, wo}, {"fig8_10", r.Neurons, sn},
		{"table1", r.Disparity, d}, {"fig12", r.QK, q}, {"fig21", r.Rank, rank}} {
		indCompare(t, "results.json "+sec.name, sec.got, sec.want)
	}
	var defs []indDef
	for _, def := range r.Definitions {
		defs = append(defs, indDef{def.Item, def.A.Value, def.B.Value})
	}
	indCompare(t, "results.json open_definitions", defs, indDefinitions(sink, v, wo, sn, d, q))

	hash := func(ids [][]int) string {
		b, _ := json.Marshal(ids)
		h := sha256.Sum256(b)
		return hex.EncodeToString(h[:])
	}
	wantInputs := Inputs{File: "ids.json",
		Main:   BatchRecord{N: len(s.Main), SeqLen: len(s.Main[0]), BOS: true, SHA256: hash(s.Main), IDs: s.Main},
		Random: BatchRecord{N: len(s.Random), SeqLen: len(s.Random[0]), SHA256: hash(s.Random)}}
	indCompare(t, "results.json inputs", r.Inputs, wantInputs)
	var ids map[string][][]int
	if b, err := os.ReadFile(filepath.Join(dir, "ids.json")); err != nil || json.Unmarshal(b, &ids) != nil {
		t.Fatalf("ids.json: %v (%s)", err, b)
	}
	indCompare(t, "ids.json", ids, map[string][][]int{"main": s.Main, "random": s.Random})

	report, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	onset := "none"
	if sink.Onset >= 0 {
		onset = fmt.Sprintf("layer %d", sink.Onset)
	}
	for _, row := range []string{
		fmt.Sprintf("| %d **←** | %d |", scan.Best, scan.Layers[scan.Best].Neuron),
		fmt.Sprintf("| %s |\n", onset),
		fmt.Sprintf("| %d (token 0 ", sn.Neuron),
		fmt.Sprintf("| %d (mean |x| %.3g) |\n", d.Dim, d.DimValue),
		fmt.Sprintf("| %.2f; %.2f |\n", d.Pooled, d.Disparity),
		fmt.Sprintf("| %.1f vs %.1f |\n", rank[0], rank[len(rank)-1]),
	} {
		if !strings.Contains(string(report), row) {
			t.Errorf("report.md has no %q:\n%s", row, report)
		}
	}
}

// The report's rows show the numbers they name, on random:tiny, where the per-sample and pooled
// disparities differ (guard: the two swapped in the Table 1 row).
func TestReportRowsAgainstIndependent(t *testing.T) {
	r := indTiny(t)
	d, sink := indDisparity(t, r), indSinkOnset(t, r)
	report := Report(&Results{Disparity: d, Sink: sink, NeuronLayer: r.NeuronLayer})
	for _, row := range []string{
		fmt.Sprintf("| %.2f; %.2f |\n", d.Pooled, d.Disparity),
		fmt.Sprintf("| %.3f (batch-mean α: %.3f) |\n", sink.Gu.SharePerSample, sink.Gu.Share),
	} {
		if !strings.Contains(report, row) {
			t.Errorf("report has no %q:\n%s", row, report)
		}
	}
}

// Definitions puts each reading on its side, on hand-built results where every pair of readings
// differs (on the planted model several pairs coincide: token 0 is the same in every sample).
// Guard: the two readings of any open definition swapped.
func TestDefinitionsReadingsHandBuilt(t *testing.T) {
	r := &Results{
		Sink: &SinkOnset{Profile: []metrics.LayerSink{{Layer: 0, AttnToFirst: 0.2, AttnToFirstAllRows: 0.25}, {Layer: 1, AttnToFirst: 0.9, AttnToFirstAllRows: 0.91}},
			Gu: &metrics.GuScores{Share: 0.75, SharePerSample: 0.5, Eps: 0.3}},
		Variance:  &Variance{Main: []LayerCurve{{Layer: 0, Std: []float64{2, 1}, StdBessel: []float64{2.1, 1.05}, BesselN: 4}}},
		WO:        &metrics.WOPreservation{KendallTau: 0.3, Spearman: 0.4},
		Neurons:   &SuperNeurons{Neuron: 5, NeuronByRatio: 7, ByNorm: 9, Contrast: &metrics.Contrast{}},
		Disparity: &Disparity{Dim: 3, DimAfterNorm: 4, Disparity: 10, Pooled: 11, PooledAfterNorm: 12},
		QK:        &QKLock{Heads: []metrics.HeadLock{{WeightShare: 0.6, WeightShareUnsigned: 0.4}, {WeightShare: 0.8, WeightShareUnsigned: 0.2}}},
	}
	var got []indDef
	for _, d := range Definitions(r) {
		got = append(got, indDef{d.Item, d.A.Value, d.B.Value})
	}
	indCompare(t, "definitions", got, indDefinitions(r.Sink, r.Variance, r.WO, r.Neurons, r.Disparity, r.QK))
}
