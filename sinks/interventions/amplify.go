package interventions

import (
	"fmt"
	"time"

	"github.com/gomlx/gomlx/core/tensors"

	. "github.com/gomlx/gomlx/core/graph"

	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// AmplifyPoint is the hook point Amplification changes: the W_O input of a standard model,
// blocks.{L}.attn.hook_z [b, p, h, dh].
const AmplifyPoint = "attn.hook_z"

// The graph inputs an amplification run feeds (read by the hook through HookContext.Input).
const (
	inLambda   = "interventions.lambda"   // scalar λ
	inPosition = "interventions.position" // [T] one-hot of the target token k
	inLayers   = "interventions.layers"   // [Observe] 1 for the changed layers, 0 elsewhere
	inMu       = "interventions.mu"       // [Observe, H, dh] centre μ (zeros for the control arm)
	amplifyID  = "interventions.amplify"  // the hook's ID: one compiled graph per observation layer
)

// DefaultLambdas are the paper's Fig. 6 scales.
var DefaultLambdas = []float64{1, 2, 5, 10, 15, 20, 25, 30}

// Amplification is the variance-amplification intervention (paper Fig. 6): at AmplifyPoint of the
// listed Layers, the target token Position's W_O input becomes o' = μ + λ(o − μ) (the centred arm)
// or o' = λ·o (the control arm, μ = 0), and the sink score of column Position is read at layer
// Observe. The paper: Position 10, Layers [0 1], Observe 2, Lambdas DefaultLambdas.
type Amplification struct {
	Point    string `json:"point"`
	Layers   []int  `json:"layers"`
	Position int    `json:"position"`
	// Positions are further targets amplified together with Position (several sinks at once,
	// beyond the paper); the score is then the mean over all targets' columns.
	Positions []int     `json:"positions,omitempty"`
	Observe   int       `json:"observe_layer"`
	Lambdas   []float64 `json:"lambdas"`
}

// PaperAmplification is the paper's setting: k = 10, layers 0 and 1, observed at layer 2.
func PaperAmplification() Amplification {
	return Amplification{Point: AmplifyPoint, Layers: []int{0, 1}, Position: 10, Observe: 2, Lambdas: append([]float64(nil), DefaultLambdas...)}
}

// String prints the intervention in one line.
func (a Amplification) String() string {
	return fmt.Sprintf("amplify{%s of tokens %v in layers %v, λ %v, observed at layer %d}", a.Point, a.Targets(), a.Layers, a.Lambdas, a.Observe)
}

// ParseAmplification reads an Amplification written with encoding/json.
func ParseAmplification(data []byte) (Amplification, error) {
	return parse[Amplification]("amplification", data)
}

// Validate checks the intervention against a model of nLayers layers and T-token sequences; the
// error names the layer or position out of range.
func (a Amplification) Validate(nLayers, T int) error {
	if a.Point != AmplifyPoint {
		return fmt.Errorf("amplify: hook point %q is not supported (only %q)", a.Point, AmplifyPoint)
	}
	if a.Observe < 1 || a.Observe >= nLayers {
		return fmt.Errorf("amplify: observation layer %d is out of range [1, %d)", a.Observe, nLayers)
	}
	if len(a.Layers) == 0 {
		return fmt.Errorf("amplify: no layer to change")
	}
	if err := checkLayers(a.Layers, a.Observe); err != nil {
		return fmt.Errorf("amplify: %w (changed layers must come before the observation layer %d)", err, a.Observe)
	}
	if err := checkTargets(a.Targets(), T); err != nil {
		return fmt.Errorf("amplify: %w", err)
	}
	if len(a.Lambdas) == 0 {
		return fmt.Errorf("amplify: no λ value")
	}
	return nil
}

// Targets are the amplified tokens: Position, then Positions.
func (a Amplification) Targets() []int {
	return append([]int{a.Position}, a.Positions...)
}

// scaleHooks are the scaling hooks on layers 0..n−1. Their structure depends only on n: λ, the
// target tokens, the layer set and μ are graph inputs.
func scaleHooks(point string, n int) []transformer.Hook {
	hooks := make([]transformer.Hook, n)
	for l := range hooks {
		hooks[l] = transformer.Hook{Point: fmt.Sprintf("blocks.%d.%s", l, point), ID: amplifyID, Fn: amplifyFn}
	}
	return hooks
}

// amplifyFn computes o' = o + w·(λ − 1)·(o − μ) with w = layers[L]·targets[p]: o − μ scaled by λ
// about μ at the target tokens (a multi-hot vector) of a changed layer, and exactly o elsewhere.
func amplifyFn(ctx *transformer.HookContext, x *Node) *Node {
	dims := x.Shape().Dimensions // [b, p, h, dh]
	B, T, H, dh := dims[0], dims[1], dims[2], dims[3]
	lambda := ctx.Input(inLambda)                                           // []
	sel := Reshape(Slice(ctx.Input(inLayers), AxisElem(ctx.Layer)))         // []: 1 when this layer is changed
	hot := Reshape(ctx.Input(inPosition), 1, T, 1, 1)                       // [1, p, 1, 1]
	mu := Reshape(Slice(ctx.Input(inMu), AxisElem(ctx.Layer)), 1, 1, H, dh) // [1, 1, h, dh]
	w := Mul(hot, Mul(sel, AddScalar(lambda, -1)))                          // [1, p, 1, 1]
	delta := Mul(BroadcastToDims(w, B, T, H, dh), Sub(x, BroadcastToDims(mu, B, T, H, dh)))
	return Add(x, delta) // [b, p, h, dh]
}

// scaleOptions are the run options that scale the W_O input of the targets in the changed layers
// by lambda about mu ([n, H, dh] flat; zeros for a control arm), with hooks on layers 0..n−1.
func scaleOptions(point string, n, T, H, dh int, layers, targets []int, lambda float64, mu []float32) []transformer.Option {
	hot := make([]float32, T) // [p]
	for _, k := range targets {
		hot[k] = 1
	}
	sel := make([]float32, n) // [n]
	for _, l := range layers {
		sel[l] = 1
	}
	return []transformer.Option{
		transformer.WithHooks(scaleHooks(point, n)...),
		transformer.WithInput(inLambda, lambda),
		transformer.WithInput(inPosition, hot),
		transformer.WithInput(inLayers, sel),
		transformer.WithInput(inMu, tensors.FromFlatDataAndDimensions(mu, n, H, dh)),
	}
}

// options are the run options of one amplification run with scale lambda and centre mu
// ([Observe, H, dh] flat; zeros for the control arm).
func (a Amplification) options(T, H, dh int, lambda float64, mu []float32) []transformer.Option {
	return scaleOptions(a.Point, a.Observe, T, H, dh, a.Layers, a.Targets(), lambda, mu)
}

// AmplificationResult is a λ sweep's outcome: the sink score of column Position at layer Observe
// for each λ, in the centred and the control arm, with compile counts and timings.
type AmplificationResult struct {
	Amplification Amplification `json:"amplification"`
	Centred       []float64     `json:"centred"` // o' = μ + λ(o − μ)
	Control       []float64     `json:"control"` // o' = λ·o
	// Compilations are the graphs built by each arm's sweep: 1 in the first arm (every micro-batch
	// has one shape: the last is padded), 0 in the second (both arms share the graph: the control
	// feeds μ = 0), and 0 in any later sweep with the same observation layer and batch shape.
	CompilationsCentred int `json:"compilations_centred"`
	CompilationsControl int `json:"compilations_control"`
	// FirstSeconds is the first λ of the centred arm, compilation included; PerLambdaSeconds the
	// mean time of every other λ value over both arms.
	FirstSeconds     float64 `json:"first_seconds"`
	PerLambdaSeconds float64 `json:"per_lambda_seconds"`
	Sequences        int     `json:"sequences"`
	SeqLen           int     `json:"seq_len"`
}

// Sweep runs the λ sweep of both arms on tokens (paper: 200 random sequences × 64 without BOS) in
// micro-batches of at most batch sequences (0: 16). mu is the value mean of the model (ValueMean).
func Sweep(m *transformer.Model, tokens [][]int, a Amplification, mu *Mean, batch int) (*AmplificationResult, error) {
	cfg := m.Config
	if len(tokens) == 0 {
		return nil, fmt.Errorf("amplify: no token sequences")
	}
	T := len(tokens[0])
	if err := a.Validate(cfg.NLayers, T); err != nil {
		return nil, err
	}
	if mu == nil || mu.Layers < a.Observe {
		return nil, fmt.Errorf("amplify: need the value mean of layers 0..%d (see ValueMean)", a.Observe-1)
	}
	H, dh := mu.Heads, mu.HeadDim
	centre := mu.Data[:a.Observe*H*dh] // [Observe, h, dh]
	zeros := make([]float32, len(centre))
	res := &AmplificationResult{Amplification: a, Sequences: len(tokens), SeqLen: T}
	var rest time.Duration
	for arm, c := range [][]float32{centre, zeros} {
		built := 0 // graphs this arm's runs compiled
		scores := make([]float64, len(a.Lambdas))
		for i, lambda := range a.Lambdas {
			start := time.Now()
			s, err := observedScore(m, tokens, a, batch, append(a.options(T, H, dh, lambda, c), transformer.CountCompiled(&built)))
			if err != nil {
				return nil, fmt.Errorf("%s, λ %g: %w", a, lambda, err)
			}
			scores[i] = s
			if arm == 0 && i == 0 {
				res.FirstSeconds = time.Since(start).Seconds()
			} else {
				rest += time.Since(start)
			}
		}
		if arm == 0 {
			res.Centred, res.CompilationsCentred = scores, built
		} else {
			res.Control, res.CompilationsControl = scores, built
		}
	}
	if n := 2*len(a.Lambdas) - 1; n > 0 {
		res.PerLambdaSeconds = rest.Seconds() / float64(n)
	}
	return res, nil
}

// observedScore is the mean over a's targets of their columns' sink scores at layer a.Observe.
func observedScore(m *transformer.Model, tokens [][]int, a Amplification, batch int, opts []transformer.Option) (float64, error) {
	cols, err := observedColumns(m, tokens, a.Observe, batch, opts)
	if err != nil {
		return 0, err
	}
	var s float64
	for _, k := range a.Targets() {
		s += cols[k]
	}
	return s / float64(len(a.Targets())), nil
}

// observedColumns is the sink score of every column k < T−1 at layer observe over all tokens,
// summed on the device.
func observedColumns(m *transformer.Model, tokens [][]int, observe, batch int, opts []transformer.Option) ([]float64, error) {
	scores, _, err := columnScoresAt(m, tokens, batch, []int{observe}, nil, opts...)
	if err != nil {
		return nil, err
	}
	return scores[0], nil
}
