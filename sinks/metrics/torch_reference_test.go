package metrics

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/sinkscope/sinkscope/sinks/safetensors"
	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// The metrics on real transformer activations, against numbers computed from each statistic's
// definition with torch, numpy and scipy.stats (testdata/torch_reference.py, which writes
// testdata/torch_reference.json) on the HF parity fixtures of sinks/transformer: the activations
// HF transformers computed for six tiny random checkpoints, and their weights.

const (
	trefParityDir = "../transformer/testdata/parity"
	trefJSON      = "testdata/torch_reference.json"
	// Float32 data summed in float64 on both sides, in a different order or by a different
	// algorithm (SVD against Gram eigenvalues): relative error ≤ trefRel or absolute ≤ trefAbs.
	trefRel, trefAbs = 1e-5, 1e-6
	// The same float64 inputs through the same formula (rank statistics, kurtosis, the fit of one
	// given curve): agreement to rounding.
	trefExact = 1e-9
)

var trefArchs = []string{"llama2", "llama3", "mistral", "qwen2", "qwen3", "gpt2"}

type trefFit struct {
	SigmaV float64   `json:"sigma_v"`
	R2     float64   `json:"r2"`
	RMSE   float64   `json:"rmse"`
	Curve  []float64 `json:"curve"`
}

type trefRank struct {
	A, B            string
	Tau             float64 `json:"kendall_tau_b"`
	Spearman        float64 `json:"spearman"`
	TauFormula      float64 `json:"kendall_tau_b_formula"`
	SpearmanFormula float64 `json:"spearman_formula"`
}

type trefGu struct {
	K          int         `json:"k"`
	Eps        float64     `json:"eps"`
	Alpha      [][]float64 `json:"alpha"`
	LayerShare []float64   `json:"layer_share"`
	Share      float64     `json:"share"`
}

type trefRowNorms struct {
	Source     string    `json:"source"`
	Transposed bool      `json:"transposed"`
	Shape      []int     `json:"shape"`
	Norms      []float64 `json:"norms"`
	Mean       float64   `json:"mean"`
	Top        []int     `json:"top"`
	TopNorms   []float64 `json:"top_norms"`
}

type trefContrast struct {
	Score     []float64 `json:"score"`
	First     []float64 `json:"first"`
	Rest      []float64 `json:"rest"`
	Top       []int     `json:"top"`
	TopScores []float64 `json:"top_scores"`
}

type trefDown struct {
	Source          string    `json:"source"`
	Neuron          int       `json:"neuron"`
	Column          []float64 `json:"column"`
	Kurtosis        float64   `json:"kurtosis"`
	KurtosisFormula float64   `json:"kurtosis_formula"`
	SortedAbs       []float64 `json:"sorted_abs"`
	TopDims         []int     `json:"top_dims"`
	TopValues       []float64 `json:"top_values"`
}

type trefToken struct {
	Pos             int     `json:"pos"`
	MassiveDim      int     `json:"massive_dim"`
	MassiveMeanAbs  float64 `json:"massive_mean_abs"`
	Disparity       float64 `json:"disparity"`
	DisparityPooled float64 `json:"disparity_pooled"`
	Dominance       float64 `json:"dominance"`
}

type trefERank struct {
	PerSample []float64 `json:"per_sample"`
	Mean      float64   `json:"mean"`
}

type trefArch struct {
	Shapes     map[string][]int        `json:"shapes"`
	WithinZ0   []float64               `json:"within_token_std_z0"`
	WithinZ1   []float64               `json:"within_token_std_z1"`
	AcrossZ1   []float64               `json:"across_sample_std_z1"`
	Fit        trefFit                 `json:"fit_within_token_z1"`
	Rank       trefRank                `json:"rank_z0_z1"`
	Gu         trefGu                  `json:"gu"`
	RowNorms   map[string]trefRowNorms `json:"row_norms"`
	Contrast   trefContrast            `json:"contrast_mlp_post1"`
	Down       trefDown                `json:"down_column"`
	Token      trefToken               `json:"token_stats_hidden1"`
	EffRank    map[string]trefERank    `json:"effective_rank"`
	NumpyCheck float64                 `json:"within_token_std_z1_numpy_maxdiff"`
}

type trefFile struct {
	Versions      map[string]*string `json:"versions"`
	RankStatsFrom string             `json:"rank_stats_from"`
	Params        struct {
		TopK  int     `json:"top_k"`
		GuEps float64 `json:"gu_eps"`
		GuKey int     `json:"gu_key"`
		Layer int     `json:"layer"`
	} `json:"params"`
	Archs  map[string]trefArch `json:"archs"`
	Errors map[string]string   `json:"errors"`
}

// trefCmp compares numbers and records the largest deviation seen per kind of quantity.
type trefCmp struct {
	t      *testing.T
	arch   string
	from   string             // where the reference rank statistics and kurtosis came from
	maxDev map[string]float64 // kind → largest |got − want| / max(|want|, tiny)
}

// dev is the relative deviation, absolute below |want| = trefAbs/trefRel.
func trefDev(got, want float64) float64 {
	return math.Abs(got-want) / math.Max(math.Abs(want), trefAbs/trefRel)
}

func (c *trefCmp) record(kind string, dev float64) {
	if old, seen := c.maxDev[kind]; !seen || dev > old || math.IsNaN(dev) {
		c.maxDev[kind] = dev
	}
}

// num checks got against want within rel (relative) or abs (absolute).
func (c *trefCmp) num(kind, what string, got, want, rel, abs float64) {
	c.t.Helper()
	d := math.Abs(got - want)
	c.record(kind, trefDev(got, want))
	if !(d <= abs || d <= rel*math.Abs(want)) {
		c.t.Errorf("%s: %s = %.17g, reference %.17g (|diff| %.3g, relative %.3g; tolerance %g relative or %g absolute)",
			c.arch, what, got, want, d, d/math.Abs(want), rel, abs)
	}
}

func (c *trefCmp) close(kind, what string, got, want float64) {
	c.t.Helper()
	c.num(kind, what, got, want, trefRel, trefAbs)
}

func (c *trefCmp) exact(kind, what string, got, want float64) {
	c.t.Helper()
	c.num(kind, what, got, want, trefExact, trefExact)
}

func (c *trefCmp) slice(kind, what string, got, want []float64, rel, abs float64) {
	c.t.Helper()
	if len(got) != len(want) {
		c.t.Errorf("%s: %s has %d values, reference %d", c.arch, what, len(got), len(want))
		return
	}
	for i := range got {
		c.num(kind, fmt.Sprintf("%s[%d]", what, i), got[i], want[i], rel, abs)
	}
}

func (c *trefCmp) ints(what string, got, want []int) {
	c.t.Helper()
	if !slices.Equal(got, want) {
		c.t.Errorf("%s: %s = %v, reference %v", c.arch, what, got, want)
	}
}

func (c *trefCmp) check(what string, err error) {
	c.t.Helper()
	if err != nil {
		c.t.Fatalf("%s: %s: %v", c.arch, what, err)
	}
}

// trefAct reads tensor name of a safetensors file as an activation.
func trefAct(t *testing.T, f *safetensors.File, name string) *transformer.Activation {
	t.Helper()
	info, ok := f.Info(name)
	if !ok {
		t.Fatalf("%s: no tensor %q", f.Name(), name)
	}
	data, err := f.ReadFloat32(name)
	if err != nil {
		t.Fatal(err)
	}
	return &transformer.Activation{Name: name, Shape: slices.Clone(info.Shape), Data: data}
}

// trefWeight reads a rank-2 weight of a checkpoint as row-major [rows, cols], transposed if asked.
func trefWeight(t *testing.T, s *safetensors.Set, name string, transpose bool) (w []float32, rows, cols int) {
	t.Helper()
	info, ok := s.Info(name)
	if !ok || len(info.Shape) != 2 {
		t.Fatalf("checkpoint %v: no rank-2 tensor %q (found %v)", s.Files(), name, info.Shape)
	}
	w, err := s.ReadFloat32(name)
	if err != nil {
		t.Fatal(err)
	}
	rows, cols = info.Shape[0], info.Shape[1]
	if !transpose {
		return w, rows, cols
	}
	tr := make([]float32, len(w))
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			tr[j*rows+i] = w[i*cols+j]
		}
	}
	return tr, cols, rows
}

func TestTorchReference(t *testing.T) {
	raw, err := os.ReadFile(trefJSON)
	if err != nil {
		t.Fatalf("%v (regenerate with python3 testdata/torch_reference.py)", err)
	}
	var ref trefFile
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatalf("%s: %v", trefJSON, err)
	}
	if len(ref.Errors) > 0 {
		t.Fatalf("%s records failures of the reference script: %v", trefJSON, ref.Errors)
	}
	if ref.Params.TopK != 5 || ref.Params.GuEps != GuEps || ref.Params.GuKey != 0 || ref.Params.Layer != 1 {
		t.Fatalf("%s: params %+v; this test expects top_k 5, gu_eps %g, gu_key 0, layer 1", trefJSON, ref.Params, GuEps)
	}
	var versions []string
	for k, v := range ref.Versions {
		if v != nil {
			versions = append(versions, k+" "+*v)
		}
	}
	sort.Strings(versions)
	t.Logf("reference: %s; rank statistics and kurtosis from %s", strings.Join(versions, ", "), ref.RankStatsFrom)

	maxDev := map[string]float64{}
	for _, arch := range trefArchs {
		r, ok := ref.Archs[arch]
		if !ok {
			t.Errorf("%s: no reference values for %s", trefJSON, arch)
			continue
		}
		t.Run(arch, func(t *testing.T) {
			c := &trefCmp{t: t, arch: arch, from: ref.RankStatsFrom, maxDev: maxDev}
			trefCheckArch(t, c, arch, &r)
		})
	}
	kinds := make([]string, 0, len(maxDev))
	for k := range maxDev {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		t.Logf("largest relative deviation, %-28s %.3g", k+":", maxDev[k])
	}
}

func trefCheckArch(t *testing.T, c *trefCmp, arch string, r *trefArch) {
	dir := filepath.Join(trefParityDir, arch)
	f, err := safetensors.Open(filepath.Join(dir, "expected.safetensors"))
	c.check("opening the activations", err)
	defer f.Close()
	w, err := safetensors.OpenDir(dir)
	c.check("opening the weights", err)
	defer w.Close()

	z0, z1 := trefAct(t, f, "z.0"), trefAct(t, f, "z.1")
	for _, a := range []*transformer.Activation{z0, z1} {
		c.ints("shape of "+a.Name, a.Shape, r.Shapes[a.Name])
	}

	// Variance discrepancy of the W_O input (Fig. 4, Fig. 7).
	wt0, err := WithinTokenStd(z0)
	c.check("WithinTokenStd(z.0)", err)
	c.slice("within-token std", "WithinTokenStd(z.0)", wt0, r.WithinZ0, trefRel, trefAbs)
	wt1, err := WithinTokenStd(z1)
	c.check("WithinTokenStd(z.1)", err)
	c.slice("within-token std", "WithinTokenStd(z.1)", wt1, r.WithinZ1, trefRel, trefAbs)
	as1, err := AcrossSampleStd(z1)
	c.check("AcrossSampleStd(z.1)", err)
	c.slice("across-sample std", "AcrossSampleStd(z.1)", as1, r.AcrossZ1, trefRel, trefAbs)

	// σ_v fit: on our curve (within the std tolerance) and on the reference curve (to rounding).
	fit, err := FitInverseSqrt(wt1)
	c.check("FitInverseSqrt", err)
	c.close("inverse-sqrt fit", "FitInverseSqrt(WithinTokenStd(z.1)).SigmaV", fit.SigmaV, r.Fit.SigmaV)
	c.close("inverse-sqrt fit", "FitInverseSqrt(WithinTokenStd(z.1)).R2", fit.R2, r.Fit.R2)
	c.close("inverse-sqrt fit", "FitInverseSqrt(WithinTokenStd(z.1)).RMSE", fit.RMSE, r.Fit.RMSE)
	c.slice("inverse-sqrt fit", "FitInverseSqrt(WithinTokenStd(z.1)).Curve", fit.Curve, r.Fit.Curve, trefRel, trefAbs)
	fitRef, err := FitInverseSqrt(r.WithinZ1)
	c.check("FitInverseSqrt(reference curve)", err)
	c.exact("fit of the same curve", "FitInverseSqrt(reference within-token std of z.1).SigmaV", fitRef.SigmaV, r.Fit.SigmaV)
	c.exact("fit of the same curve", "FitInverseSqrt(reference within-token std of z.1).R2", fitRef.R2, r.Fit.R2)
	c.exact("fit of the same curve", "FitInverseSqrt(reference within-token std of z.1).RMSE", fitRef.RMSE, r.Fit.RMSE)

	// Rank correlations between the within-token std curves of z.0 and z.1: on the reference
	// curves (same inputs as scipy) and on ours, and through WOPreserve (z.1 standing in for the
	// attention output, which the fixtures do not hold).
	pair := fmt.Sprintf("(%s, %s)", r.Rank.A, r.Rank.B)
	c.exact("Kendall tau-b", "KendallTauB"+pair+" on the reference curves vs "+c.from, KendallTauB(r.WithinZ0, r.WithinZ1), r.Rank.Tau)
	c.exact("Kendall tau-b", "KendallTauB"+pair+" on the reference curves vs the pair formula", KendallTauB(r.WithinZ0, r.WithinZ1), r.Rank.TauFormula)
	c.exact("Spearman", "Spearman"+pair+" on the reference curves vs "+c.from, Spearman(r.WithinZ0, r.WithinZ1), r.Rank.Spearman)
	c.exact("Spearman", "Spearman"+pair+" on the reference curves vs the rank formula", Spearman(r.WithinZ0, r.WithinZ1), r.Rank.SpearmanFormula)
	c.exact("Kendall tau-b", "KendallTauB"+pair+" on our curves", KendallTauB(wt0, wt1), r.Rank.Tau)
	c.exact("Spearman", "Spearman"+pair+" on our curves", Spearman(wt0, wt1), r.Rank.Spearman)
	wo, err := WOPreserve(z0, z1)
	c.check("WOPreserve(z.0, z.1)", err)
	c.slice("within-token std", "WOPreserve(z.0, z.1).Before", wo.Before, r.WithinZ0, trefRel, trefAbs)
	c.slice("within-token std", "WOPreserve(z.0, z.1).After", wo.After, r.WithinZ1, trefRel, trefAbs)
	c.exact("Kendall tau-b", "WOPreserve(z.0, z.1).KendallTau", wo.KendallTau, r.Rank.Tau)
	c.exact("Spearman", "WOPreserve(z.0, z.1).Spearman", wo.Spearman, r.Rank.Spearman)

	// Gu et al.'s α₀ and sink share.
	var pats []*transformer.Activation
	for l := range r.Gu.Alpha {
		pats = append(pats, trefAct(t, f, fmt.Sprintf("attn.%d", l)))
	}
	gu, err := GuSinkScores(pats, r.Gu.K, r.Gu.Eps)
	c.check("GuSinkScores", err)
	for l := range r.Gu.Alpha {
		c.slice("Gu alpha", fmt.Sprintf("GuSinkScores alpha_%d of layer %d (per head)", r.Gu.K, l), gu.Alpha[l], r.Gu.Alpha[l], trefRel, trefAbs)
	}
	c.slice("Gu share", fmt.Sprintf("GuSinkScores LayerShare (eps %g)", r.Gu.Eps), gu.LayerShare, r.Gu.LayerShare, 0, 0)
	c.num("Gu share", fmt.Sprintf("GuSinkScores Share (eps %g)", r.Gu.Eps), gu.Share, r.Gu.Share, 0, 0)
	// At ε = 0.3 no head of these random models is a sink (share 0): lower thresholds exercise the
	// counting, against the reference α₀ (thresholds within 1e-6 of an α₀ are skipped).
	for _, eps := range []float64{0.12, 0.15, 0.18} {
		above, total, ambiguous := 0, 0, false
		for _, layer := range r.Gu.Alpha {
			for _, a := range layer {
				total++
				if a > eps {
					above++
				}
				ambiguous = ambiguous || math.Abs(a-eps) < 1e-6
			}
		}
		if ambiguous {
			continue
		}
		g, err := GuSinkScores(pats, r.Gu.K, eps)
		c.check("GuSinkScores", err)
		c.num("Gu share", fmt.Sprintf("GuSinkScores Share (eps %g) vs the share of reference alpha above eps", eps), g.Share, float64(above)/float64(total), 0, 0)
	}

	// Weight row norms of layer 1's FFN input projections, one row per neuron.
	wantRows := []string{"up", "gate"}
	if arch == "gpt2" {
		wantRows = []string{"c_fc"}
	}
	for _, key := range wantRows {
		rn, ok := r.RowNorms[key]
		if !ok {
			t.Errorf("%s: no reference row norms for %s", arch, key)
			continue
		}
		source, transpose := trefFFNIn(arch, key)
		if rn.Source != source || rn.Transposed != transpose {
			t.Errorf("%s: reference row norms of %s come from %s (transposed %v); this test reads %s (transposed %v)",
				arch, key, rn.Source, rn.Transposed, source, transpose)
		}
		wm, rows, cols := trefWeight(t, w, source, transpose)
		c.ints("shape of the row-per-neuron "+source, []int{rows, cols}, rn.Shape)
		got, err := RowNormRanking(wm, rows, cols, len(rn.Top))
		c.check("RowNormRanking("+source+")", err)
		what := "RowNormRanking(" + source + ")"
		c.slice("row norms", what+".Norms", got.Norms, rn.Norms, trefRel, trefAbs)
		c.close("row norms", what+".Mean", got.Mean, rn.Mean)
		c.ints(what+".Top", got.Top, rn.Top)
		topNorms := make([]float64, len(got.Top))
		for i, n := range got.Top {
			topNorms[i] = got.Norms[n]
		}
		c.slice("row norms", what+" norms of Top", topNorms, rn.TopNorms, trefRel, trefAbs)
	}

	// First-token activation contrast of mlp_post.1 and the down-projection column of its top neuron.
	post := trefAct(t, f, "mlp_post.1")
	con, err := ActivationContrast(post, len(r.Contrast.Top))
	c.check("ActivationContrast(mlp_post.1)", err)
	c.slice("activation contrast", "ActivationContrast(mlp_post.1).Score", con.Score, r.Contrast.Score, trefRel, trefAbs)
	c.slice("activation contrast", "ActivationContrast(mlp_post.1).First", con.First, r.Contrast.First, trefRel, trefAbs)
	c.slice("activation contrast", "ActivationContrast(mlp_post.1).Rest", con.Rest, r.Contrast.Rest, trefRel, trefAbs)
	c.ints("ActivationContrast(mlp_post.1).Top", con.Top, r.Contrast.Top)

	downName, downT := trefDownProj(arch)
	if r.Down.Source != downName {
		t.Errorf("%s: reference down column comes from %s; this test reads %s", arch, r.Down.Source, downName)
	}
	wd, d, fw := trefWeight(t, w, downName, downT) // [d, f]
	if len(con.Top) == 0 || r.Down.Neuron != con.Top[0] {
		t.Fatalf("%s: reference down column is of neuron %d; our top contrast neuron is %v", arch, r.Down.Neuron, con.Top)
	}
	dc, err := DownColumnSparsity(wd, d, fw, r.Down.Neuron, len(r.Down.TopDims))
	c.check("DownColumnSparsity", err)
	what := fmt.Sprintf("DownColumnSparsity(%s, neuron %d)", downName, r.Down.Neuron)
	col := make([]float64, d)
	for j := range col {
		col[j] = float64(wd[j*fw+r.Down.Neuron])
	}
	c.slice("down column (stored values)", what+" column", col, r.Down.Column, 0, 0)
	c.slice("down column (stored values)", what+".SortedAbs", dc.SortedAbs, r.Down.SortedAbs, 0, 0)
	c.ints(what+".TopDims", dc.TopDims, r.Down.TopDims)
	c.slice("down column (stored values)", what+".TopValues", dc.TopValues, r.Down.TopValues, 0, 0)
	c.exact("kurtosis", what+".Kurtosis vs "+c.from, dc.Kurtosis, r.Down.Kurtosis)
	c.exact("kurtosis", what+".Kurtosis vs the moment formula", dc.Kurtosis, r.Down.KurtosisFormula)
	c.exact("kurtosis", "Kurtosis(reference column)", Kurtosis(r.Down.Column), r.Down.Kurtosis)

	// Massive activation of hidden.1 at position 0 (Table 1).
	h1 := trefAct(t, f, "hidden.1")
	pos := r.Token.Pos
	dim, meanAbs, err := MassiveDim(h1, pos)
	c.check("MassiveDim(hidden.1)", err)
	c.ints(fmt.Sprintf("MassiveDim(hidden.1, pos %d) dim", pos), []int{dim}, []int{r.Token.MassiveDim})
	c.close("massive dim / disparity", fmt.Sprintf("MassiveDim(hidden.1, pos %d) mean |x|", pos), meanAbs, r.Token.MassiveMeanAbs)
	disp, err := DimensionDisparity(h1, pos, r.Token.MassiveDim)
	c.check("DimensionDisparity(hidden.1)", err)
	c.close("massive dim / disparity", fmt.Sprintf("DimensionDisparity(hidden.1, pos %d, dim %d)", pos, r.Token.MassiveDim), disp, r.Token.Disparity)
	pooled, err := DimensionDisparityPooled(h1, pos, r.Token.MassiveDim)
	c.check("DimensionDisparityPooled(hidden.1)", err)
	c.close("massive dim / disparity", fmt.Sprintf("DimensionDisparityPooled(hidden.1, pos %d, dim %d)", pos, r.Token.MassiveDim), pooled, r.Token.DisparityPooled)
	dom, err := DominanceRatio(h1, pos)
	c.check("DominanceRatio(hidden.1)", err)
	c.close("massive dim / disparity", fmt.Sprintf("DominanceRatio(hidden.1, pos %d)", pos), dom, r.Token.Dominance)

	// Effective rank (SVD in float64 on the reference side, Gram eigenvalues here).
	for _, name := range []string{"hidden.1", "hidden.2"} {
		er, ok := r.EffRank[name]
		if !ok {
			t.Errorf("%s: no reference effective rank of %s", arch, name)
			continue
		}
		per, mean, err := EffectiveRank(trefAct(t, f, name))
		c.check("EffectiveRank("+name+")", err)
		c.slice("effective rank", "EffectiveRank("+name+") per sample", per, er.PerSample, trefRel, trefAbs)
		c.close("effective rank", "EffectiveRank("+name+") mean", mean, er.Mean)
	}
}

// trefFFNIn is the checkpoint name of layer 1's FFN input projection key ("up", "gate", "c_fc")
// and whether it must be transposed to one row per neuron [F, D]: HF Linear weights are [out, in],
// GPT-2's Conv1D weights [in, out].
func trefFFNIn(arch, key string) (string, bool) {
	if arch == "gpt2" {
		return "transformer.h.1.mlp.c_fc.weight", true
	}
	return "model.layers.1.mlp." + key + "_proj.weight", false
}

// trefDownProj is the checkpoint name of layer 1's down projection and whether it must be
// transposed to [D, F] (GPT-2's Conv1D c_proj is stored [F, D]).
func trefDownProj(arch string) (string, bool) {
	if arch == "gpt2" {
		return "transformer.h.1.mlp.c_proj.weight", true
	}
	return "model.layers.1.mlp.down_proj.weight", false
}
