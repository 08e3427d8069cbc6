package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/schollz/progressbar/v3"

	"github.com/sinkscope/sinkscope/sinks/findings"
)

// cmdReproduce runs every finding of the paper on one model and writes the figures (SVG + HTML),
// results.json and report.md.
func cmdReproduce(args []string) error {
	fs := flag.NewFlagSet("reproduce", flag.ContinueOnError)
	source := fs.String("model", "", "model source: random:<preset>[@seed], planted:<preset>, an HF model directory, or org/name")
	out := fs.String("out", "", "output directory (default out/reproduce/<model>)")
	samples := fs.Int("samples", 20, "text samples (paper: 20)")
	seqLen := fs.Int("seq", 64, "tokens per sequence, BOS included (paper: 64)")
	random := fs.Int("random", 500, "random-token sequences for Fig. 4b (paper: 500; 0 skips it)")
	bosFlag := fs.String("bos", "auto", "BOS for the text batch: on, off or auto")
	data := fs.String("data", "auto", "main batch: text, random or auto (text when the model has a tokenizer)")
	layer := fs.Int("layer", 1, "super-neuron layer (paper: 1); disparity and QK lock are read at the next layer")
	batch := fs.Int("batch", 16, "sequences per forward pass")
	seed := fs.Uint64("seed", 0, "seed for the batches")
	toy := fs.Bool("toy", true, "also run the random-init toy block (d 768, 12 heads, T 64)")
	bf16 := fs.Bool("bf16", false, "keep checkpoint weights in bfloat16 (half the memory; compute stays float32)")
	svg := fs.Bool("svg", true, "write an SVG per figure (needs node and the npm packages); HTML is always written")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *source == "" {
		return fmt.Errorf("--model is required (e.g. --model random:small or --model /path/to/hf_model)")
	}
	s, desc, _, err := findings.Prepare(nil, *source, findings.Params{Samples: *samples, SeqLen: *seqLen, Random: *random,
		Data: *data, BOS: *bosFlag, NeuronLayer: *layer, Batch: *batch, Seed: *seed, BF16Weights: *bf16})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, desc.Backend)
	fmt.Fprintf(stdout, "model: %s\nmain batch: %s\nrandom batch: %s\n", desc.Model, desc.Text, desc.Random)
	dir := *out
	if dir == "" {
		dir = filepath.Join("out", "reproduce", safeName(*source))
	}
	// A progress bar on a terminal; one line per step otherwise (logs, CI).
	progress := func(st findings.Step) { fmt.Fprintf(os.Stderr, "[%d/%d] %s\n", st.Done, st.Of, st.Name) }
	var bar *progressbar.ProgressBar
	if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		bar = progressbar.NewOptions(9, progressbar.OptionSetWriter(os.Stderr), progressbar.OptionSetDescription("reproduce"),
			progressbar.OptionShowCount(), progressbar.OptionSetWidth(24), progressbar.OptionClearOnFinish())
		progress = func(st findings.Step) {
			bar.ChangeMax(st.Of)
			bar.Describe(st.Name)
			_ = bar.Set(st.Done)
		}
	}
	res, err := findings.Reproduce(s, desc, dir, findings.Options{Toy: *toy, NoSVG: !*svg, Progress: progress})
	if bar != nil {
		_ = bar.Finish()
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\n%s", findings.Report(res))
	kinds := "SVG + HTML"
	if !*svg {
		kinds = "HTML"
	}
	fmt.Fprintf(stdout, "\nwrote %d figures (%s), results.json and report.md to %s in %.1fs\n", len(res.Figures), kinds, dir, res.Seconds)
	return nil
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// safeName turns a model source into a directory name.
func safeName(source string) string {
	s := strings.Trim(unsafeName.ReplaceAllString(filepath.Base(strings.TrimRight(source, "/")), "_"), "_")
	if strings.Contains(source, ":") && !strings.Contains(source, "/") {
		s = strings.Trim(unsafeName.ReplaceAllString(source, "_"), "_")
	}
	if s == "" {
		return "model"
	}
	return s
}
