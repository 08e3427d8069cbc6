package transformer

import (
	"fmt"
	"math"
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/support/exceptions"
)

// pass holds the state of one graph build of the forward pass: which hook points are captured,
// which hook functions apply, and the graph inputs that carry intervention values.
type pass struct {
	cfg   *Config
	store *model.Store
	g     *Graph

	hooks    map[string][]Hook // by exact hook name
	reduce   map[string][]Reduction
	reduced  []reducedOuts // in the order the forward pass reached them
	capture  map[string]bool
	captured map[string]*Node
	inputs   map[string]*Node // named intervention inputs, see HookContext.Input
	attnMask *Node            // optional additive mask [T, T] or [L, T, T] (float32), nil if none
	// blocks is how many blocks to build: all of them, or (without logits) only up to the last
	// block whose hook points are read or replaced — a layer-1 analysis of a 32-layer model runs 2.
	blocks int
	// params, when set, are the weights of a layered run's stage as graph inputs, by canonical name;
	// nil: the weights are the store's variables.
	params map[string]*Node
	// matmul is the dtype of the matrix products (InvalidDType or Float32: float32 everywhere;
	// BFloat16: mixed-precision training). Norms, softmax and statistics stay float32.
	matmul dtypes.DType
}

// mm is Einsum in the pass's matmul dtype, with a float32 result.
func (p *pass) mm(eq string, a, b *Node) *Node {
	if p.matmul == dtypes.InvalidDType || p.matmul == dtypes.Float32 {
		return Einsum(eq, a, b)
	}
	return ConvertDType(halfEinsum(eq, ConvertDType(a, p.matmul), ConvertDType(b, p.matmul)), dtypes.Float32)
}

// param returns the graph node of a canonical parameter, converted to float32 for the computation.
// Weights stored in bf16 (GPU runs) are upcast here, so all arithmetic and statistics are float32.
func (p *pass) param(name string) *Node {
	if p.params != nil { // a stage of a layered run: its weights are graph inputs
		x, ok := p.params[name]
		if !ok {
			exceptions.Panicf("parameter %q is not an input of this stage of the run (inputs: %v)", name, sortedKeys(p.params))
		}
		if x.DType() != dtypes.Float32 {
			x = ConvertDType(x, dtypes.Float32)
		}
		return x
	}
	v := p.store.GetVariable("/" + name)
	if v == nil {
		exceptions.Panicf("parameter %q is missing from the model store", name)
	}
	x := v.NodeValue(p.g)
	if x.DType() != dtypes.Float32 {
		x = ConvertDType(x, dtypes.Float32)
	}
	return x
}

// hook applies the hook functions registered at a hook point and captures the result if requested.
// A hook must keep the shape and dtype of its input.
func (p *pass) hook(name string, layer int, x *Node) *Node {
	for _, h := range p.hooks[name] {
		ctx := &HookContext{Name: name, Layer: layer, Config: p.cfg, pass: p}
		y := h.Fn(ctx, x)
		if y == nil {
			exceptions.Panicf("hook %q at %s returned nil (input shape %s)", h.ID, name, x.Shape())
		}
		if !y.Shape().Equal(x.Shape()) {
			exceptions.Panicf("hook %q at %s changed the shape from %s to %s; hooks must keep shape and dtype", h.ID, name, x.Shape(), y.Shape())
		}
		x = y
	}
	if p.capture[name] {
		p.captured[name] = x
	}
	for _, r := range p.reduce[name] {
		ctx := &HookContext{Name: name, Layer: layer, Config: p.cfg, pass: p}
		outs := r.Fn(ctx, ConvertDType(x, dtypes.Float32))
		if len(outs) == 0 {
			exceptions.Panicf("reduction %q at %s (input shape %s) returned no outputs", r.ID, name, x.Shape())
		}
		for i, o := range outs {
			if o == nil {
				exceptions.Panicf("reduction %q at %s (input shape %s) returned nil output %d", r.ID, name, x.Shape(), i)
			}
		}
		p.reduced = append(p.reduced, reducedOuts{id: r.ID, hook: name, outs: outs})
	}
	return x
}

// reducedOuts are the outputs of one reduction at one hook point.
type reducedOuts struct {
	id, hook string
	outs     []*Node
}

func (p *pass) reducedAt(id, hook string) bool {
	for _, r := range p.reduced {
		if r.id == id && r.hook == hook {
			return true
		}
	}
	return false
}

// outputs are a built pass's graph outputs in the order Result.collect reads them: the captures
// (exact names, forward order) in captureDType, the logits unless nil, then the outputs of every
// reduction in the order the pass reached them (float32, or float64 as computed), with their layout;
// each slot names its hook point without the prefix trim. A capture or reduction the pass did not
// reach panics, naming where the pass ran.
func (p *pass) outputs(capture []string, captureDType dtypes.DType, logits *Node, trim, where string) ([]*Node, []reducedSlot) {
	var outs []*Node
	for _, n := range capture {
		x, ok := p.captured[n]
		if !ok {
			exceptions.Panicf("hook point %q was selected but not reached in %s", n, where)
		}
		outs = append(outs, ConvertDType(x, captureDType))
	}
	if logits != nil {
		outs = append(outs, logits)
	}
	var slots []reducedSlot
	for _, r := range p.reduced {
		slots = append(slots, reducedSlot{id: r.id, hook: strings.TrimPrefix(r.hook, trim), n: len(r.outs)})
		for _, x := range r.outs {
			if x.DType() != dtypes.Float64 { // float64 outputs stay float64 (Activation.Data64)
				x = ConvertDType(x, dtypes.Float32)
			}
			outs = append(outs, x)
		}
	}
	for n, rs := range p.reduce {
		for _, r := range rs {
			if !p.reducedAt(r.ID, n) {
				exceptions.Panicf("reduction %q at hook point %q was not reached in %s", r.ID, n, where)
			}
		}
	}
	return outs, slots
}

// wants reports whether anything reads or replaces a hook point (used to skip optional work).
func (p *pass) wants(name string) bool {
	return p.capture[name] || len(p.hooks[name]) > 0 || len(p.reduce[name]) > 0
}

// forward is the whole model: tokens [b, p] (int32) → logits [b, p, v] (float32). Without
// withLogits, the final norm and unembedding are only built if a hook point there is used, and the
// result may be nil.
func (p *pass) forward(tokens *Node, withLogits bool) *Node {
	c := p.cfg
	x := p.embed(tokens)
	mask, rope := p.blockConsts(tokens.Shape().Dim(1))
	for l := 0; l < p.blocks; l++ {
		x = p.block(l, x, mask, rope)
	}
	if p.blocks < c.NLayers {
		return nil // nothing after this block is read
	}
	if !withLogits && !p.wantsFinal() {
		return nil
	}
	return p.final(x)
}

// embed: tokens [b, p] (int32) → the residual stream entering block 0 [b, p, d].
func (p *pass) embed(tokens *Node) *Node {
	c := p.cfg
	B, T := tokens.Shape().Dim(0), tokens.Shape().Dim(1)
	// Embedding: [v, d] gathered by token → [b, p, d].
	x := Gather(p.param("embed/weights"), InsertAxes(tokens, -1))
	x = p.hook("hook_embed", -1, x)
	if c.Position == Learned {
		pos := Slice(p.param("pos_embed/weights"), AxisRange(0, T)) // [p, d]
		pos = BroadcastToDims(InsertAxes(pos, 0), B, T, c.DModel)   // [b, p, d]
		pos = p.hook("hook_pos_embed", -1, pos)
		x = Add(x, pos)
	}
	return x
}

// blockConsts are what every block of a T-token pass shares: the causal mask [q, k] (bool: true
// where key k is visible from query q) and the RoPE tables (nil without RoPE).
func (p *pass) blockConsts(T int) (*Node, *ropeTables) {
	var rope *ropeTables
	if p.cfg.Position == RoPE {
		rope = newRopeTables(p.g, p.cfg, T)
	}
	return causalMask(p.g, p.cfg, T), rope
}

// wantsFinal reports whether a hook point after the blocks is read or replaced.
func (p *pass) wantsFinal() bool {
	return p.wants("ln_final.hook_normalized") || p.wants("logits")
}

// final: the residual stream leaving the last block [b, p, d] → logits [b, p, v].
func (p *pass) final(x *Node) *Node {
	x = p.norm("ln_final", x)
	x = p.hook("ln_final.hook_normalized", -1, x)
	var unembed *Node
	if p.cfg.TiedEmbeddings {
		unembed = p.param("embed/weights")
	} else {
		unembed = p.param("unembed/weights")
	}
	logits := p.mm("bpd,vd->bpv", x, unembed) // [b, p, v]
	return p.hook("logits", -1, logits)
}

// block is one transformer block: pre-norm attention and MLP, each added to the residual stream.
func (p *pass) block(l int, x, mask *Node, rope *ropeTables) *Node {
	pre := fmt.Sprintf("blocks.%d.", l)
	x = p.hook(pre+"hook_resid_pre", l, x) // [b, p, d]

	h := p.norm(fmt.Sprintf("blocks/%d/ln1", l), x)
	h = p.hook(pre+"ln1.hook_normalized", l, h)
	attnOut := p.attention(l, h, mask, rope)
	attnOut = p.hook(pre+"hook_attn_out", l, attnOut)
	x = Add(x, attnOut)
	x = p.hook(pre+"hook_resid_mid", l, x)

	h = p.norm(fmt.Sprintf("blocks/%d/ln2", l), x)
	h = p.hook(pre+"ln2.hook_normalized", l, h)
	mlpOut := p.mlp(l, h)
	mlpOut = p.hook(pre+"hook_mlp_out", l, mlpOut)
	x = Add(x, mlpOut)
	return p.hook(pre+"hook_resid_post", l, x)
}

// attention: h [b, p, d] → [b, p, d], with explicit scores → mask → softmax → ·V.
func (p *pass) attention(l int, h, mask *Node, rope *ropeTables) *Node {
	c := p.cfg
	pre := fmt.Sprintf("blocks.%d.attn.", l)
	w := fmt.Sprintf("blocks/%d/attn/", l)
	B, T := h.Shape().Dim(0), h.Shape().Dim(1)
	H, KV, dh := c.NHeads, c.KVHeads(), c.HeadDim()

	q := p.linear(w+"q", h, c.QKVBias) // [b, p, h·dh]
	k := p.linear(w+"k", h, c.QKVBias) // [b, p, g·dh]
	v := p.linear(w+"v", h, c.QKVBias) // [b, p, g·dh]
	q = Reshape(q, B, T, H, dh)        // [b, p, h, dh]
	k = Reshape(k, B, T, KV, dh)       // [b, p, g, dh]
	v = Reshape(v, B, T, KV, dh)       // [b, p, g, dh]
	if c.QKNorm {
		q = rmsNorm(q, p.param(w+"q_norm/scale"), c.NormEps)
		k = rmsNorm(k, p.param(w+"k_norm/scale"), c.NormEps)
	}
	q = p.hook(pre+"hook_q", l, q)
	k = p.hook(pre+"hook_k", l, k)
	v = p.hook(pre+"hook_v", l, v)
	if rope != nil {
		q = p.hook(pre+"hook_rot_q", l, rope.apply(q))
		k = p.hook(pre+"hook_rot_k", l, rope.apply(k))
	}

	// Grouped-query attention: query head i reads key/value head i / (H/KV), as HF's repeat_kv.
	kh, vh := repeatKV(k, H), repeatKV(v, H) // [b, p, h, dh]

	scores := p.mm("bqhd,bkhd->bhqk", q, kh) // [b, h, q, k]
	scores = MulScalar(scores, c.Scale())    // q·k / √dh
	if p.attnMask != nil {                   // custom additive mask, before the causal mask
		m := p.attnMask // [q, k] or [L, q, k]
		if m.Rank() == 3 {
			m = Squeeze(Slice(m, AxisElem(l)), 0) // this layer's [q, k]
		}
		scores = Add(scores, BroadcastToDims(ExpandLeftToRank(m, 4), B, H, T, T))
	}
	maskB := BroadcastToDims(ExpandLeftToRank(mask, 4), B, H, T, T)
	var pattern, sinkWeight *Node
	switch {
	case c.Attention == SigmoidAttention:
		// Element-wise sigmoid(score + b), b = −log(T) by default; masked entries are exactly 0.
		bias := 0.0
		if c.SigmoidBiasLogN {
			bias = -math.Log(float64(T))
		}
		scores = Where(maskB, scores, Infinity(p.g, dtypes.Float32, -1))
		scores = p.hook(pre+"hook_attn_scores", l, scores)
		pattern = Where(maskB, Sigmoid(AddScalar(scores, bias)), ZerosLike(scores))
	case c.SinkKV:
		// Every query also scores the learnable sink key (no RoPE on it, never masked): the softmax
		// runs over [sink, keys] and the sink's weight is split off again.
		kSink := repeatKVHeads(p.param(w+"sink/key"), H)                                               // [h, dh]
		sinkScore := MulScalar(p.mm("bqhd,hd->bhq", q, kSink), c.Scale())                              // [b, h, q]
		scores = Where(maskB, scores, Infinity(p.g, dtypes.Float32, -1))                               // [b, h, q, k]
		scores = p.hook(pre+"hook_attn_scores", l, scores)                                             // real keys only
		probs := Softmax(Concatenate([]*Node{InsertAxes(sinkScore, -1), scores}, -1), -1)              // [b, h, q, 1+k]
		sinkWeight = Squeeze(Slice(probs, AxisRange(), AxisRange(), AxisRange(), AxisRange(0, 1)), -1) // [b, h, q]
		pattern = Slice(probs, AxisRange(), AxisRange(), AxisRange(), AxisRange(1, T+1))               // [b, h, q, k]
	default:
		scores = Where(maskB, scores, Infinity(p.g, dtypes.Float32, -1))
		scores = p.hook(pre+"hook_attn_scores", l, scores)
		pattern = Softmax(scores, -1)
	}
	pattern = p.hook(pre+"hook_pattern", l, pattern) // [b, h, q, k]

	z := p.mm("bhqk,bkhd->bqhd", pattern, vh) // [b, p, h, dh]
	if sinkWeight != nil {
		sinkWeight = p.hook(pre+"hook_sink_weight", l, sinkWeight)              // [b, h, q]
		vSink := ExpandLeftToRank(repeatKVHeads(p.param(w+"sink/value"), H), 4) // [1, 1, h, dh]
		pSink := InsertAxes(TransposeAllDims(sinkWeight, 0, 2, 1), -1)          // [b, p, h, 1]
		z = Add(z, Mul(pSink, vSink))                                           // + p_sink·v_sink
	}
	z = p.hook(pre+"hook_z", l, z)
	if c.HeadNorm.Enabled {
		// Head-wise RMSNorm over dh (no mean subtraction, no bias): ô = o / RMS(o) ⊙ γ.
		gamma := p.param(w + "head_norm/scale") // [h, dh] or [dh]
		z = rmsNorm(z, gamma, c.HeadNorm.Epsilon())
		z = p.hook(pre+"hook_z_normed", l, z)
	}
	if c.GatedAttention {
		gate := Sigmoid(p.linear(w+"gate", h, false)) // [b, p, h·dh]
		gate = p.hook(pre+"hook_gate", l, Reshape(gate, B, T, H, dh))
		z = Mul(z, gate)
	}

	wo := Reshape(p.param(w+"o/weights"), c.DModel, H, dh) // [d, h, dh]
	var out *Node
	if p.wants(pre + "hook_result") {
		result := p.mm("bphe,dhe->bphd", z, wo) // [b, p, h, d]
		result = p.hook(pre+"hook_result", l, result)
		out = ReduceSum(result, 2) // [b, p, d]
	} else {
		out = p.mm("bphe,dhe->bpd", z, wo) // [b, p, d]
	}
	if c.OutBias {
		out = Add(out, ExpandLeftToRank(p.param(w+"o/bias"), out.Rank()))
	}
	return out
}

// mlp: h [b, p, d] → [b, p, d].
func (p *pass) mlp(l int, h *Node) *Node {
	c := p.cfg
	pre := fmt.Sprintf("blocks.%d.mlp.", l)
	w := fmt.Sprintf("blocks/%d/mlp/", l)
	var post *Node
	if c.MLP == SwiGLU {
		gate := p.hook(pre+"hook_gate", l, p.linear(w+"gate", h, c.MLPBias)) // [b, p, f]
		up := p.hook(pre+"hook_up", l, p.linear(w+"up", h, c.MLPBias))       // [b, p, f]
		post = Mul(activation(c.Activation, gate), up)
	} else {
		pre := p.hook(pre+"hook_pre", l, p.linear(w+"up", h, c.MLPBias)) // [b, p, f]
		post = activation(c.Activation, pre)
	}
	post = p.hook(pre+"hook_post", l, post) // [b, p, f]
	return p.linear(w+"down", post, c.MLPBias)
}

// linear applies an nn.Linear-layout weight [out, in] (+ bias [out]) to x [..., in] → [..., out].
func (p *pass) linear(prefix string, x *Node, bias bool) *Node {
	wt := p.param(prefix + "/weights")
	y := p.mm("bpi,oi->bpo", x, wt)
	if bias {
		y = Add(y, ExpandLeftToRank(p.param(prefix+"/bias"), y.Rank()))
	}
	return y
}

// norm applies the configured normalisation with the parameters under prefix.
func (p *pass) norm(prefix string, x *Node) *Node {
	if p.cfg.Norm == LayerNorm {
		return layerNorm(x, p.param(prefix+"/scale"), p.param(prefix+"/bias"), p.cfg.NormEps)
	}
	return rmsNorm(x, p.param(prefix+"/scale"), p.cfg.NormEps)
}

// rmsNorm: x / sqrt(mean(x², last axis) + eps) · γ, in float32 (as HF's LlamaRMSNorm). A division
// by Sqrt rather than a product with Rsqrt: GoMLX defines no gradient for Rsqrt, and training runs
// this same pass.
func rmsNorm(x, gamma *Node, eps float64) *Node {
	ms := ReduceAndKeep(Square(x), ReduceMean, -1)
	return Mul(Div(x, Sqrt(AddScalar(ms, eps))), ExpandLeftToRank(gamma, x.Rank()))
}

// layerNorm: (x − mean) / sqrt(var + eps) · γ + β over the last axis (biased variance, as PyTorch).
func layerNorm(x, gamma, beta *Node, eps float64) *Node {
	mean := ReduceAndKeep(x, ReduceMean, -1)
	xc := Sub(x, mean)
	variance := ReduceAndKeep(Square(xc), ReduceMean, -1)
	return Add(Mul(Div(xc, Sqrt(AddScalar(variance, eps))), ExpandLeftToRank(gamma, x.Rank())), ExpandLeftToRank(beta, x.Rank()))
}

// activation applies an HF hidden_act by name.
func activation(name string, x *Node) *Node {
	switch name {
	case "silu", "swish":
		return Mul(x, Sigmoid(x))
	case "gelu_new", "gelu_pytorch_tanh":
		// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
		inner := MulScalar(Add(x, MulScalar(Mul(x, Square(x)), 0.044715)), math.Sqrt(2/math.Pi))
		return Mul(MulScalar(x, 0.5), AddScalar(Tanh(inner), 1))
	case "gelu":
		return Mul(MulScalar(x, 0.5), AddScalar(Erf(MulScalar(x, 1/math.Sqrt2)), 1))
	case "relu":
		return Max(x, ZerosLike(x))
	}
	exceptions.Panicf("unsupported activation %q", name)
	return nil
}

// repeatKV expands [b, p, g, dh] to [b, p, h, dh]: head i uses key/value head i / (h/g).
func repeatKV(x *Node, heads int) *Node {
	B, T, G, dh := x.Shape().Dim(0), x.Shape().Dim(1), x.Shape().Dim(2), x.Shape().Dim(3)
	if G == heads {
		return x
	}
	x = BroadcastToDims(InsertAxes(x, 3), B, T, G, heads/G, dh) // [b, p, g, h/g, dh]
	return Reshape(x, B, T, heads, dh)
}

// repeatKVHeads expands a per-key/value-head parameter [g, dh] to the query heads [h, dh], as
// repeatKV does for the keys and values.
func repeatKVHeads(x *Node, heads int) *Node {
	G, dh := x.Shape().Dim(0), x.Shape().Dim(1)
	if G == heads {
		return x
	}
	return Reshape(BroadcastToDims(InsertAxes(x, 1), G, heads/G, dh), heads, dh) // [g, h/g, dh] → [h, dh]
}

// causalMask is [q, k] bool: key k is visible from query q iff k ≤ q (and q − k < window when a
// sliding window is set, as Mistral).
func causalMask(g *Graph, c *Config, T int) *Node {
	qi := Iota(g, shapes.Make(dtypes.Int32, T, T), 0)
	ki := Iota(g, shapes.Make(dtypes.Int32, T, T), 1)
	m := LessOrEqual(ki, qi)
	if c.SlidingWindow > 0 {
		m = LogicalAnd(m, LessThan(Sub(qi, ki), Scalar(g, dtypes.Int32, c.SlidingWindow)))
	}
	return m
}

// ropeTables holds cos and sin of the rotary angles, each [p, dh] (HF "rotate_half" layout: the two
// halves of the head dimension share frequencies).
type ropeTables struct {
	cos, sin *Node
}

func newRopeTables(g *Graph, c *Config, T int) *ropeTables {
	invFreq := RopeInvFreq(c) // [dh/2], float32 as HF computes it
	pos := ConvertDType(Iota(g, shapes.Make(dtypes.Int32, T, 1), 0), dtypes.Float32)
	freqs := Mul(pos, InsertAxes(Const(g, invFreq), 0)) // [p, dh/2]
	emb := Concatenate([]*Node{freqs, freqs}, -1)       // [p, dh]
	return &ropeTables{cos: Cos(emb), sin: Sin(emb)}
}

// apply rotates x [b, p, heads, dh]: x·cos + rotate_half(x)·sin, rotate_half(x) = [−x₂, x₁].
func (r *ropeTables) apply(x *Node) *Node {
	dh := x.Shape().Dim(3)
	x1 := Slice(x, AxisRange(), AxisRange(), AxisRange(), AxisRange(0, dh/2))
	x2 := Slice(x, AxisRange(), AxisRange(), AxisRange(), AxisRange(dh/2, dh))
	rot := Concatenate([]*Node{Neg(x2), x1}, -1)
	cos := InsertAxes(InsertAxes(r.cos, 1), 0) // [1, p, 1, dh]
	sin := InsertAxes(InsertAxes(r.sin, 1), 0)
	return Add(Mul(x, cos), Mul(rot, sin))
}

// RopeInvFreq returns the rotary inverse frequencies [dh/2] for a config, including llama3 scaling,
// computed as HF does (float32 results).
func RopeInvFreq(c *Config) []float32 {
	dh := c.HeadDim()
	half := dh / 2
	inv := make([]float64, half)
	for i := 0; i < half; i++ {
		// HF: 1 / base^(arange(0, dim, 2).float() / dim), in float32.
		expo := float64(float32(float64(2*i) / float64(dh)))
		inv[i] = float64(float32(1 / float64(float32(math.Pow(c.RopeTheta, expo)))))
	}
	if s := c.RopeScaling; s != nil && s.Type == "llama3" {
		old := float64(s.OriginalMaxPositionEmbeddings)
		lowWavelen := old / s.LowFreqFactor
		highWavelen := old / s.HighFreqFactor
		for i, f := range inv {
			wavelen := 2 * math.Pi / f
			scaled := f
			if wavelen > lowWavelen {
				scaled = f / s.Factor
			}
			if !(wavelen < highWavelen) && !(wavelen > lowWavelen) {
				smooth := (old/wavelen - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor)
				scaled = (1-smooth)*scaled/s.Factor + smooth*scaled
			}
			inv[i] = scaled
		}
	}
	out := make([]float32, half)
	for i, f := range inv {
		out[i] = float32(f)
	}
	return out
}
