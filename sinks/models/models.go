// Package models opens a model from a one-line source string, so a notebook or command switches
// between a random initialisation, a local checkpoint and a hub model by changing one variable:
//
//	random:<preset>[@seed]     a built-in architecture at random initialisation (transformer.Presets)
//	planted[@seed]             a random-init model with a planted super neuron (package planted):
//	                           the whole sink mechanism by construction; sequences start with BOS
//	trained:<preset>[@seed]    a model trained by a sinks/train preset (trained:bb: a 2-layer model that
//	                           grew a BOS sink), trained on first use and cached (see TrainedDir)
//	/path/to/hf_model_dir      a local HF model directory (config.json + safetensors [+ tokenizer]),
//	                           training checkpoints (runs/NAME/ckpt-…) included
//	org/name[@revision]        an HF hub repo id, resolved offline through the HF hub cache
package models

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"

	"github.com/sinkscope/sinkscope/datasets/tokenizer"
	"github.com/sinkscope/sinkscope/sinks/hf"
	"github.com/sinkscope/sinkscope/sinks/planted"
	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// Loaded is an opened model with what is known about it.
type Loaded struct {
	Source    string // the source string it was opened from
	Kind      string // "random", "hf"
	Dir       string // checkpoint directory ("" for random models)
	Model     *transformer.Model
	Tokenizer *tokenizer.Tokenizer // nil when the source has no tokenizer
	// Planted is the planted construction for "planted" sources (nil otherwise).
	Planted *planted.Planted
	// Trained says how a "trained:<preset>" model was trained (nil otherwise).
	Trained *Trained
}

// Options configures Open.
type Options struct {
	// WeightDType keeps checkpoint weights in this dtype (Float32 default; BFloat16 halves GPU memory).
	// Computation is float32 either way.
	WeightDType dtypes.DType
	// Progress shows download progress when a hub model is not in the cache and network is allowed.
	Progress bool
}

// Open opens a model source on a backend.
func Open(be compute.Backend, source string, opts *Options) (*Loaded, error) {
	if opts == nil {
		opts = &Options{}
	}
	source = strings.TrimSpace(source)
	if source == "" {
		return nil, fmt.Errorf("empty model source: give random:<preset>, a model directory or an org/name repo id")
	}
	if rest, ok := strings.CutPrefix(source, "random:"); ok {
		name, seedStr, hasSeed := strings.Cut(rest, "@")
		p, err := transformer.LookupPreset(name)
		if err != nil {
			return nil, fmt.Errorf("model source %q: %w", source, err)
		}
		init := p.Init
		if hasSeed {
			seed, err := strconv.ParseUint(seedStr, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("model source %q: seed %q is not a non-negative integer", source, seedStr)
			}
			init.Seed = seed
		}
		cfg := p.Config
		m, err := transformer.NewRandom(be, &cfg, init)
		if err != nil {
			return nil, fmt.Errorf("model source %q: %w", source, err)
		}
		return &Loaded{Source: source, Kind: "random", Model: m}, nil
	}
	if source == "planted" || strings.HasPrefix(source, "planted@") {
		spec := planted.DefaultSpec()
		if _, seedStr, ok := strings.Cut(source, "@"); ok {
			seed, err := strconv.ParseUint(seedStr, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("model source %q: seed %q is not a non-negative integer", source, seedStr)
			}
			spec.Seed = seed
		}
		p, err := planted.Build(be, spec)
		if err != nil {
			return nil, fmt.Errorf("model source %q: %w", source, err)
		}
		return &Loaded{Source: source, Kind: "planted", Model: p.Model, Planted: p}, nil
	}
	if rest, ok := strings.CutPrefix(source, "trained:"); ok {
		return openTrained(be, source, rest, opts)
	}
	l, err := openHF(be, source, opts)
	if err != nil {
		return nil, fmt.Errorf("model source %q: %w", source, err)
	}
	return l, nil
}

// openHF opens an HF model directory or hub repo id.
func openHF(be compute.Backend, source string, opts *Options) (*Loaded, error) {
	ck, err := hf.Load(source, &hf.Options{DType: opts.WeightDType, Progress: opts.Progress})
	if err != nil {
		return nil, err
	}
	m, err := transformer.New(be, ck.Config, ck.Weights)
	if err != nil {
		return nil, err
	}
	l := &Loaded{Source: source, Kind: "hf", Dir: ck.Dir, Model: m}
	if ck.TokenizerJSON != "" || ck.TokenizerModel != "" {
		tok, err := tokenizer.Load(ck.Dir)
		if err != nil {
			return nil, fmt.Errorf("tokenizer: %w", err)
		}
		l.Tokenizer = tok
	}
	return l, nil
}

// Describe is a one-line summary of the model's architecture.
func (l *Loaded) Describe() string {
	c := l.Model.Config
	s := fmt.Sprintf("%s (%s): %s, %d layers, d %d, %d heads", l.Source, l.Kind, c.Family, c.NLayers, c.DModel, c.NHeads)
	if c.KVHeads() != c.NHeads {
		s += fmt.Sprintf(" (%d kv heads)", c.KVHeads())
	}
	s += fmt.Sprintf(", d_head %d, MLP %d, vocab %d, %.1fM parameters", c.HeadDim(), c.DMLP, c.VocabSize, float64(c.NumParams())/1e6)
	if c.Attention == transformer.SigmoidAttention {
		if c.SigmoidBiasLogN {
			s += ", sigmoid attention (−log n bias)"
		} else {
			s += ", sigmoid attention (no bias)"
		}
	}
	if c.HeadNorm.Enabled {
		if c.HeadNorm.SharedGamma {
			s += ", HeadNorm (shared γ)"
		} else {
			s += ", HeadNorm (per-head γ)"
		}
	}
	if c.GatedAttention {
		s += ", gated attention"
	}
	if c.SinkKV {
		s += ", learnable key/value sink"
	}
	if v := l.Model.Store.GetVariable("/embed/weights"); v != nil && v.DType() == dtypes.BFloat16 {
		s += " (bfloat16 weights)"
	}
	if l.Tokenizer != nil {
		s += ", tokenizer " + l.Tokenizer.Format()
	} else if t := l.Trained; t != nil {
		how := fmt.Sprintf("trained here in %.0f s", t.Seconds)
		if t.Cached {
			how = fmt.Sprintf("trained in %.0f s, loaded from %s", t.Seconds, t.Dir)
		}
		s += fmt.Sprintf(", preset %s seed %d, %d steps (%s), no tokenizer", t.Preset, t.Seed, t.Steps, how)
	} else if l.Planted != nil {
		ps := l.Planted.Spec
		s += fmt.Sprintf(", planted super neuron %d in layer %d writing dimension %d, BOS %d", ps.Neuron, ps.Layer, ps.Dim, ps.BOS)
	} else {
		s += ", no tokenizer"
	}
	return s
}

// TokenLabels returns a readable label per token for plots: the tokenizer's token strings when the
// model has a tokenizer, else "#id".
func (l *Loaded) TokenLabels(ids []int) ([]string, error) {
	if l.Tokenizer != nil {
		return l.Tokenizer.TokenStrings(ids)
	}
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = fmt.Sprintf("#%d", id)
	}
	return out, nil
}
