package train

import (
	"math"
	"path"
	"strings"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/model/initializer"
	"github.com/gomlx/gomlx/ml/train/optimizer"
	"github.com/gomlx/gomlx/support/exceptions"
)

// Names of the optimizer's variables in the model store (all outside the model's parameters, so
// they go to optimizer.safetensors in a checkpoint, never to model.safetensors).
const (
	optScope     = "/adamw"       // moments: /adamw/<param path>/m and /v
	stepVarName  = "step"         // /adamw/step: updates applied so far (int64)
	statScope    = "/train_stats" // the last update's statistics, read by the loop after each step
	gradNormName = "grad_norm"    // global L2 norm of the gradient before clipping
	lrName       = "lr"           // learning rate of the last update
)

// AdamW is the optimizer of the paper's recipe, as torch.optim.AdamW with nanoGPT's parameter groups
// computes it: Adam moments with bias correction, ε outside the square root, decoupled weight decay
// on the projection and embedding matrices only (see Decays: no decay on norm scales, biases,
// HeadNorm γ or the learnable sink), the gradient's global
// L2 norm clipped before the moments (torch.nn.utils.clip_grad_norm_), and a linear warm-up then
// cosine decay to a floor, computed in the graph from the optimizer's own step counter.
//
// Why not GoMLX's optimizer.Adam: in v0.28 it decays every trainable variable (its TODO says so) and
// has no global-norm clipping (only per-value step clipping), and its cosine schedule has no warm-up;
// those differences change the loss curve measurably at small scale (see the parity fixture's README).
// This type plugs into GoMLX's train.Trainer like its own optimizers (gradient accumulation included,
// through UpdateGraphWithGradients).
type AdamW struct {
	LR        float64 // peak learning rate
	MinLRFrac float64 // floor of the cosine, as a fraction of LR (0.1: decay to LR/10)
	Warmup    int     // linear warm-up steps: update s (0-based) uses LR·(s+1)/Warmup
	Steps     int     // total updates of the schedule (see LRAt)
	Beta1     float64
	Beta2     float64
	Eps       float64
	// WeightDecay is decoupled (θ ← θ − lr·wd·θ) and applies only to the parameters Decays names.
	WeightDecay float64
	// ClipNorm bounds the global L2 norm of the gradient (0: no clipping).
	ClipNorm float64
}

// LRAt is the learning rate of update s (0-based), the schedule the graph computes: LR·(s+1)/Warmup
// during the warm-up, then floor + ½(1 + cos(π·(s − Warmup)/(Steps − Warmup)))·(LR − floor), which
// would reach the floor at update Steps and stays there after.
func (o *AdamW) LRAt(s int) float64 {
	if s < o.Warmup {
		return o.LR * float64(s+1) / float64(o.Warmup)
	}
	if o.Steps <= o.Warmup {
		return o.LR
	}
	floor := o.LR * o.MinLRFrac
	progress := float64(min(s, o.Steps)-o.Warmup) / float64(o.Steps-o.Warmup)
	return floor + 0.5*(1+math.Cos(math.Pi*progress))*(o.LR-floor)
}

// lrGraph is LRAt in the graph, for the 0-based update index s (float32 scalar).
func (o *AdamW) lrGraph(s *Node) *Node {
	g := s.Graph()
	dt := s.DType()
	c := func(v float64) *Node { return Scalar(g, dt, v) }
	floor := o.LR * o.MinLRFrac
	warm := Mul(c(o.LR/float64(max(o.Warmup, 1))), Add(s, c(1)))
	if o.Steps <= o.Warmup {
		return Where(LessThan(s, c(float64(o.Warmup))), warm, c(o.LR))
	}
	progress := Div(Sub(Min(s, c(float64(o.Steps))), c(float64(o.Warmup))), c(float64(o.Steps-o.Warmup)))
	cosine := Add(c(floor), Mul(c(0.5*(o.LR-floor)), Add(c(1), Cos(Mul(c(math.Pi), progress)))))
	return Where(LessThan(s, c(float64(o.Warmup))), warm, cosine)
}

// Decays reports whether AdamW applies weight decay to a parameter, by its canonical name
// (transformer.Config.ParamShapes; a leading "/" of a store path is ignored). Only the matrices of
// the projections and embeddings decay — the "…/weights" parameters: attn q/k/v/o/gate, mlp
// gate/up/down, embed, pos_embed, unembed. Norm scales ("…/scale", HeadNorm γ included, although
// per-head γ [H, dh] has rank 2), biases ("…/bias") and the learnable sink key and value
// ("…/attn/sink/key", "…/attn/sink/value", [KV, dh]) do not, as nanoGPT's parameter groups and the
// paper ("γ gets no weight decay") have it. The rule is by name, not by rank, so that a gain or
// offset stored as a matrix is never shrunk towards zero.
func Decays(name string) bool {
	return strings.HasSuffix(name, "/weights")
}

// UpdateGraph implements optimizer.Interface.
func (o *AdamW) UpdateGraph(scope *model.Scope, g *Graph, loss *Node) {
	if !loss.Shape().IsScalar() {
		exceptions.Panicf("AdamW: the loss must be a scalar, got shape %s", loss.Shape())
	}
	o.UpdateGraphWithGradients(scope, scope.BuildTrainableVariablesGradientsGraph(loss), loss.DType())
}

// UpdateGraphWithGradients implements train.OptimizeWithGradients (used for gradient accumulation):
// grads are in the order of scope's trainable variables used by the graph.
func (o *AdamW) UpdateGraphWithGradients(scope *model.Scope, grads []*Node, lossDType dtypes.DType) {
	if len(grads) == 0 {
		exceptions.Panicf("AdamW: no gradients: the model has no trainable variables in use")
	}
	g := grads[0].Graph()
	dt := dtypes.Float32
	store := scope.Store()
	_ = optimizer.IncrementGlobalStep(g, lossDType)

	stepVar := store.Scope(optScope).WithInitializer(initializer.Zero).
		VariableWithShape(stepVarName, shapes.Make(dtypes.Int64)).SetTrainable(false)
	s := stepVar.NodeValue(g) // updates applied before this one = this update's 0-based index
	t := Add(s, Scalar(g, dtypes.Int64, 1))
	stepVar.SetNodeValue(t)
	sF, tF := ConvertDType(s, dt), ConvertDType(t, dt)
	lr := o.lrGraph(sF)

	// Global L2 norm of the gradient, and torch's clip coefficient min(1, max/(norm + 1e-6)).
	var sumSq *Node
	for i := range grads {
		if grads[i].DType() != dt {
			grads[i] = ConvertDType(grads[i], dt)
		}
		sq := ReduceAllSum(Square(grads[i]))
		if sumSq == nil {
			sumSq = sq
		} else {
			sumSq = Add(sumSq, sq)
		}
	}
	norm := Sqrt(sumSq)
	coef := Scalar(g, dt, 1)
	if o.ClipNorm > 0 {
		coef = Min(coef, Div(Scalar(g, dt, o.ClipNorm), Add(norm, Scalar(g, dt, 1e-6))))
	}
	stat := func(name string, v *Node) {
		store.Scope(statScope).WithInitializer(initializer.Zero).
			VariableWithShape(name, shapes.Make(dt)).SetTrainable(false).SetNodeValue(v)
	}
	stat(gradNormName, norm)
	stat(lrName, lr)

	beta1, beta2 := Scalar(g, dt, o.Beta1), Scalar(g, dt, o.Beta2)
	bc1 := OneMinus(Pow(beta1, tF)) // bias corrections 1 − β^t
	bc2 := OneMinus(Pow(beta2, tF))
	eps := Scalar(g, dt, o.Eps)
	i := 0
	for v := range scope.IterVariables() {
		if !v.Trainable || !v.InUseByGraph(g) {
			continue
		}
		if i >= len(grads) {
			exceptions.Panicf("AdamW: %d gradients for more trainable variables (at %q)", len(grads), v.Path())
		}
		grad := Mul(grads[i], coef)
		i++
		momentScope := store.Scope(path.Join(optScope, v.Scope(), v.Name())).WithInitializer(initializer.Zero)
		shape := v.Shape().Clone()
		shape.DType = dt
		mVar := momentScope.VariableWithShape("m", shape).SetTrainable(false)
		vVar := momentScope.VariableWithShape("v", shape).SetTrainable(false)
		m := Add(Mul(beta1, mVar.NodeValue(g)), Mul(OneMinus(beta1), grad))
		v2 := Add(Mul(beta2, vVar.NodeValue(g)), Mul(OneMinus(beta2), Square(grad)))
		mVar.SetNodeValue(m)
		vVar.SetNodeValue(v2)
		value := v.NodeValue(g)
		if value.DType() != dt {
			value = ConvertDType(value, dt)
		}
		// torch: p ← p·(1 − lr·wd); p ← p − (lr/bc1)·m / (√v/√bc2 + ε)
		if o.WeightDecay > 0 && Decays(v.Path()) {
			value = Mul(value, OneMinus(Mul(lr, Scalar(g, dt, o.WeightDecay))))
		}
		update := Div(Mul(Div(lr, bc1), m), Add(Div(Sqrt(v2), Sqrt(bc2)), eps))
		updated := Sub(value, update)
		if v.DType() != dt {
			updated = ConvertDType(updated, v.DType())
		}
		v.SetNodeValue(updated)
	}
	if i != len(grads) {
		exceptions.Panicf("AdamW: %d gradients but %d trainable variables in use", len(grads), i)
	}
}

// Clear implements optimizer.Interface: it deletes the moments and the step counter.
func (o *AdamW) Clear(scope *model.Scope) error {
	return scope.Store().Scope(optScope).DeleteVariablesInScope()
}
