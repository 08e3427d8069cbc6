package hf

import (
	"os"
	"path/filepath"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// Options configures Load.
type Options struct {
	// DType of the loaded weights: dtypes.Float32 (the default when left zero) or dtypes.BFloat16.
	DType dtypes.DType
	// Progress prints download progress to stdout when a model has to be fetched.
	Progress bool
}

// Checkpoint is a loaded HF model.
type Checkpoint struct {
	Dir     string              // the model directory (a cache snapshot for repo ids)
	Config  *transformer.Config // from config.json
	Weights map[string]*tensors.Tensor

	// Tokenizer files found in Dir ("" when absent). Tokenizers are built elsewhere; these are
	// only paths.
	TokenizerJSON  string            // tokenizer.json (HF tokenizers)
	TokenizerModel string            // tokenizer.model (SentencePiece)
	TokenizerFiles map[string]string // every file of TokenizerFileNames present: name → path
}

// Load resolves pathOrRepoID (see ResolveModel), parses its config.json (see ParseConfig) and
// loads its weights (see LoadWeights). opts may be nil.
func Load(pathOrRepoID string, opts *Options) (*Checkpoint, error) {
	if opts == nil {
		opts = &Options{}
	}
	dir, err := resolveModel(pathOrRepoID, opts.Progress)
	if err != nil {
		return nil, err
	}
	cfg, err := LoadConfig(dir)
	if err != nil {
		return nil, err
	}
	weights, err := LoadWeights(dir, cfg, opts.DType)
	if err != nil {
		return nil, err
	}
	ck := &Checkpoint{Dir: dir, Config: cfg, Weights: weights, TokenizerFiles: map[string]string{}}
	for _, name := range TokenizerFileNames {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			ck.TokenizerFiles[name] = p
		}
	}
	ck.TokenizerJSON = ck.TokenizerFiles["tokenizer.json"]
	ck.TokenizerModel = ck.TokenizerFiles["tokenizer.model"]
	return ck, nil
}
