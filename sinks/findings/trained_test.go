package findings

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/sinkscope/sinkscope/sinks/safetensors"
)

// trainedDir is a Llama-format checkpoint trained (in PyTorch, see its README) on Bigram-Backcopy
// until it formed a BOS sink: 2 layers × 1 head, d 128, config.json with bos_token_id 0 and no
// tokenizer files — what a researcher's own small model looks like.
const trainedDir = "testdata/trained_bb"

// trainedExpected is the part of expected.json the tests read: PyTorch's measurements on the same
// checkpoint and the exact batches they were made on.
type trainedExpected struct {
	BBIDs        [][]int         `json:"bb_ids"`
	RandomBOSIDs [][]int         `json:"random_bos_ids"`
	BB           trainedMeasures `json:"bb"`
	RandomBOS    trainedMeasures `json:"random_bos"`
}

type trainedMeasures struct {
	Layers []struct {
		AttnToFirst        float64 `json:"attn_to_first"`
		AttnToOthers       float64 `json:"attn_to_others"`
		AttnToFirstAllRows float64 `json:"attn_to_first_all_rows"`
		NormRatio          float64 `json:"norm_ratio"`
	} `json:"layers"`
	FFN []struct {
		ByDifference      int     `json:"bos_channel_by_difference"`
		ByDifferenceFirst float64 `json:"bos_channel_by_difference_mean_abs_token0"`
		ByDifferenceRest  float64 `json:"bos_channel_by_difference_mean_abs_rest"`
		ByRatio           int     `json:"bos_channel_by_ratio"`
		DownTopDim        int     `json:"down_proj_column_top_dim"`
	} `json:"ffn"`
	MassiveDimResid   int     `json:"massive_dim_resid_pre_1"`
	MassiveDimNorm    int     `json:"massive_dim_ln1_1"`
	DisparityNormDim  float64 `json:"massive_dim_ln1_1_over_mean_other_dims"`
	MassiveDimResidAb float64 `json:"massive_dim_resid_pre_1_mean_abs"`
}

func readTrainedExpected(t *testing.T) *trainedExpected {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(trainedDir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var e trainedExpected
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("expected.json: %v", err)
	}
	if len(e.BBIDs) == 0 || len(e.BB.Layers) != 2 || len(e.BB.FFN) != 2 {
		t.Fatalf("expected.json lacks the batches or the per-layer measures: %d ids, %d layers, %d ffn", len(e.BBIDs), len(e.BB.Layers), len(e.BB.FFN))
	}
	return &e
}

// With default settings — no flags, no tokenizer — the findings see the learned sink and its
// BOS-only FFN channel: BOS is prepended because config.json defines it, the layer scan finds the
// channel PyTorch found, and the massive dimension is the one it writes.
func TestTrainedSinkWithDefaults(t *testing.T) {
	e := readTrainedExpected(t)
	p := PaperParams()
	p.Random = 64
	s, d, _, err := Prepare(nil, trainedDir, p)
	if err != nil {
		t.Fatal(err)
	}
	if !s.MainBOS || s.Main[0][0] != 0 {
		t.Fatalf("main batch without BOS although config.json defines bos_token_id 0: %s", d.Main)
	}
	r, err := Reproduce(s, d, t.TempDir(), Options{NoSVG: true})
	if err != nil {
		t.Fatal(err)
	}
	ffn0 := e.BB.FFN[0]
	if r.Scan == nil || r.Scan.Best != 0 || r.NeuronLayer != 0 {
		t.Fatalf("scan chose layer %d (scan %+v); the BOS channel is in layer 0", r.NeuronLayer, r.Scan)
	}
	if n := r.Neurons; n.Neuron != ffn0.ByDifference || n.Down.TopDims[0] != ffn0.DownTopDim {
		t.Errorf("super neuron %d writing dimension %d; PyTorch's BOS channel is %d writing %d", n.Neuron, n.Down.TopDims[0], ffn0.ByDifference, ffn0.DownTopDim)
	}
	if r.Disparity.Dim != e.BB.MassiveDimResid || r.Disparity.DimAfterNorm != e.BB.MassiveDimNorm || r.Disparity.Layer != 1 {
		t.Errorf("massive dimension %d / %d after the norm at layer %d; PyTorch: %d / %d at layer 1",
			r.Disparity.Dim, r.Disparity.DimAfterNorm, r.Disparity.Layer, e.BB.MassiveDimResid, e.BB.MassiveDimNorm)
	}
	peak, _ := peakSink(r.Sink)
	if r.Sink.Onset < 0 || peak.AttnToFirst < 0.8 {
		t.Errorf("no sink found: onset %d, largest attention to token 0 %.3f", r.Sink.Onset, peak.AttnToFirst)
	}
	if r.QK == nil || r.QK.Layer != 1 || r.QK.Dim != e.BB.MassiveDimResid {
		t.Errorf("QK lock %+v; want layer 1 at dimension %d", r.QK, e.BB.MassiveDimResid)
	}
}

// On PyTorch's own batches (given ids) every shared number agrees with PyTorch's computation.
func TestTrainedSinkAgainstPyTorch(t *testing.T) {
	e := readTrainedExpected(t)
	for _, c := range []struct {
		name string
		ids  [][]int
		want trainedMeasures
	}{{"bb", e.BBIDs, e.BB}, {"random_bos", e.RandomBOSIDs, e.RandomBOS}} {
		p := PaperParams()
		p.Random, p.MainIDs, p.NeuronLayer = 0, c.ids, 0
		s, _, _, err := Prepare(nil, trainedDir, p)
		if err != nil {
			t.Fatal(err)
		}
		sink, err := RunSinkOnset(s)
		if err != nil {
			t.Fatal(err)
		}
		for l, w := range c.want.Layers {
			g := sink.Profile[l]
			for _, v := range []struct {
				what      string
				got, want float64
			}{
				{"attention to token 0", g.AttnToFirst, w.AttnToFirst},
				{"attention to the others", g.AttnToOthers, w.AttnToOthers},
				{"attention to token 0, all query rows", g.AttnToFirstAllRows, w.AttnToFirstAllRows},
				{"norm ratio", g.NormRatio, w.NormRatio},
			} {
				if math.Abs(v.got-v.want) > 1e-4*math.Max(1, math.Abs(v.want)) {
					t.Errorf("%s layer %d: %s %.6f, PyTorch %.6f", c.name, l, v.what, v.got, v.want)
				}
			}
		}
		neurons, err := RunSuperNeurons(s, 5)
		if err != nil {
			t.Fatal(err)
		}
		w := c.want.FFN[0]
		n := neurons.Neuron
		if n != w.ByDifference || neurons.NeuronByRatio != w.ByRatio ||
			math.Abs(neurons.Contrast.First[n]-w.ByDifferenceFirst) > 1e-3*w.ByDifferenceFirst ||
			math.Abs(neurons.Contrast.Rest[n]-w.ByDifferenceRest) > 1e-3*w.ByDifferenceRest {
			t.Errorf("%s: channel %d (ratio %d) at %.4f vs %.4f; PyTorch %d (ratio %d) at %.4f vs %.4f", c.name,
				n, neurons.NeuronByRatio, neurons.Contrast.First[n], neurons.Contrast.Rest[n], w.ByDifference, w.ByRatio, w.ByDifferenceFirst, w.ByDifferenceRest)
		}
		disp, err := RunDisparity(s)
		if err != nil {
			t.Fatal(err)
		}
		if disp.DimAfterNorm != c.want.MassiveDimNorm || math.Abs(disp.PooledAfterNorm-c.want.DisparityNormDim) > 1e-3*c.want.DisparityNormDim ||
			math.Abs(disp.DimValue-c.want.MassiveDimResidAb) > 1e-3*c.want.MassiveDimResidAb {
			t.Errorf("%s: dimension %d, disparity (batch means) %.4f, |x[dim]| %.4f; PyTorch %d, %.4f, %.4f", c.name,
				disp.DimAfterNorm, disp.PooledAfterNorm, disp.DimValue, c.want.MassiveDimNorm, c.want.DisparityNormDim, c.want.MassiveDimResidAb)
		}
	}
}

// The forward pass matches PyTorch's logits on the trained checkpoint.
func TestTrainedLogitsAgainstPyTorch(t *testing.T) {
	e := readTrainedExpected(t)
	f, err := safetensors.Open(filepath.Join(trainedDir, "expected_logits.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want, err := f.ReadFloat32("logits")
	if err != nil {
		t.Fatal(err)
	}
	p := PaperParams()
	p.Random, p.MainIDs, p.NeuronLayer = 0, e.BBIDs[:2], 0
	s, _, _, err := Prepare(nil, trainedDir, p)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Model.Run(s.Main)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Logits.Data) != len(want) {
		t.Fatalf("logits %v (%d values), PyTorch %d values", res.Logits.Shape, len(res.Logits.Data), len(want))
	}
	worst := 0.0
	for i, v := range res.Logits.Data {
		worst = math.Max(worst, math.Abs(float64(v-want[i])))
	}
	if worst > 1e-4 {
		t.Errorf("logits differ from PyTorch's by up to %.3g", worst)
	}
}
