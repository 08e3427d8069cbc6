// Package compare pre-trains the same recipe under several architectures that are said to remove
// the attention sink ("arms": the softmax baseline, head-wise RMSNorm with per-head or shared γ,
// sigmoid attention with the −log n bias, gated attention, a learnable key/value sink) over several
// seeds, and compares them: loss curves at matched steps with a band over seeds, steps to a target
// loss and the speed-up against the baseline with a bootstrap interval over seeds, and, on each
// final checkpoint, the sink statistics (attention to token 0 per layer, dominance ratio, dimension
// disparity at the massive dimension, effective rank, the strongest super-neuron candidate).
//
// Every run is an ordinary sinks/train run (log.jsonl, atomic checkpoints that are HF model
// directories, resumable): a comparison that was interrupted resumes where it stopped, and every
// finding loads any arm's checkpoint. Runs of the same seed see the same data in the same order.
package compare

import (
	"fmt"
	"sort"
	"strings"

	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// Arm is one architecture of a comparison: Apply changes a recipe's model config.
type Arm struct {
	Name string
	Doc  string
	// Apply turns the recipe's baseline config into the arm's.
	Apply func(c *transformer.Config)
}

// Baseline is the name of the reference arm: the recipe's own softmax attention.
const Baseline = "baseline"

// arms are the known arms, in report order.
var arms = []Arm{
	{Name: Baseline, Doc: "softmax attention, the recipe unchanged", Apply: func(*transformer.Config) {}},
	{Name: "headnorm", Doc: "head-wise RMSNorm on each head's attention output, one γ per head (the authors' released configs), γ initialised to the first token's output std, no weight decay on γ",
		Apply: func(c *transformer.Config) {
			c.HeadNorm = transformer.HeadNormConfig{Enabled: true, InitFirstToken: true}
		}},
	{Name: "headnorm-shared", Doc: "head-wise RMSNorm with one γ shared by all heads (the paper's text), first-token init, no weight decay on γ",
		Apply: func(c *transformer.Config) {
			c.HeadNorm = transformer.HeadNormConfig{Enabled: true, SharedGamma: true, InitFirstToken: true}
		}},
	{Name: "sigmoid", Doc: "element-wise sigmoid attention with the −log n score bias (rows do not sum to 1)",
		Apply: func(c *transformer.Config) {
			c.Attention, c.SigmoidBiasLogN = transformer.SigmoidAttention, true
		}},
	{Name: "gated", Doc: "a sigmoid gate on each head's output, from the block's normalised input (Qiu et al. 2025)",
		Apply: func(c *transformer.Config) { c.GatedAttention = true }},
	{Name: "sink-kv", Doc: "a learnable key/value pair every query can attend to (Gu et al.'s KV bias, a learned sink token)",
		Apply: func(c *transformer.Config) { c.SinkKV = true }},
}

// Arms lists the known arms in report order.
func Arms() []Arm { return append([]Arm(nil), arms...) }

// ArmNames lists the known arms' names in report order.
func ArmNames() []string {
	names := make([]string, len(arms))
	for i, a := range arms {
		names[i] = a.Name
	}
	return names
}

// LookupArm returns an arm by name, or an error listing the known ones.
func LookupArm(name string) (Arm, error) {
	for _, a := range arms {
		if a.Name == name {
			return a, nil
		}
	}
	return Arm{}, fmt.Errorf("compare: unknown arm %q; known arms: %s", name, strings.Join(ArmNames(), ", "))
}

// ParseArms reads a comma-separated arm list ("all" or "" for every arm), in report order, without
// repeats.
func ParseArms(list string) ([]string, error) {
	if list == "" || list == "all" {
		return ArmNames(), nil
	}
	seen := map[string]bool{}
	var out []string
	for _, n := range strings.Split(list, ",") {
		n = strings.TrimSpace(n)
		if _, err := LookupArm(n); err != nil {
			return nil, err
		}
		if seen[n] {
			return nil, fmt.Errorf("compare: arm %q is listed twice", n)
		}
		seen[n] = true
		out = append(out, n)
	}
	order := map[string]int{}
	for i, n := range ArmNames() {
		order[n] = i
	}
	sort.SliceStable(out, func(i, j int) bool { return order[out[i]] < order[out[j]] })
	return out, nil
}
