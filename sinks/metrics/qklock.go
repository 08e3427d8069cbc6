package metrics

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"github.com/sinkscope/sinkscope/sinks/transformer"
)

// HeadLock is one query head's QK structural lock (paper Fig. 12).
type HeadLock struct {
	Head int `json:"head"`
	// Alignment is |cos| between the head's top left singular vector of W_Q_h (its [dh, D] block of
	// the query weights: the principal query direction, in head space) and W_K_g[:, dim] (the key
	// direction that the massive dimension writes, in kv head g's space). 0 if either is zero.
	Alignment float64 `json:"alignment"`
	// PositiveShare is the share, over samples and queries i = 1..T−1, of pre-RoPE scores
	// q_i · k_0 > 0, with k_0 the actual key of token 0 in the head's kv group.
	PositiveShare float64 `json:"positive_share"`
	// MeanScore is the mean of those scores, scaled like the model's attention logits
	// (q_i · k_0 · cfg.Scale(), before RoPE and masking).
	MeanScore float64 `json:"mean_score"`
	// WeightShare is the authors' variant of PositiveShare, made sign-aware: the share of
	// q_i · s_b·W_K_g[:, dim] > 0 with s_b = sign(x_b,0[dim]), the sign of token 0's normalised
	// input on the massive dimension in sample b. It scores each query against the key that the
	// massive dimension alone would give token 0 (without the other dimensions). Compare with the
	// paper's figures through this one.
	WeightShare float64 `json:"weight_share"`
	// WeightShareUnsigned is the literal reading of the authors' notebook: the share of
	// q_i · W_K_g[:, dim] > 0, ignoring the sign of x_0[dim]. When token 0's massive value is
	// negative it is 1 − WeightShare: a locked head then reads as anti-locked.
	WeightShareUnsigned float64 `json:"weight_share_unsigned"`
}

// QKLock measures the QK structural lock of one layer (paper Fig. 12, Llama-2-7B layer 2, dim
// 2533): wq and wk are the layer's blocks/{L}/attn/q/weights [H·dh, D] and k/weights [KV·dh, D];
// dim in [0, D) is the massive dimension (see MassiveDim); q [b, p, H, dh] and k [b, p, KV, dh] are
// the same layer's attn.hook_q and attn.hook_k (before RoPE) from one run, with at least 2
// positions; xNorm [b, p, D] is the same run's normalised layer input (blocks.{L}.ln1.hook_normalized),
// whose token-0 value on dim gives the sign of the key that dim writes. Query head h uses kv head
// h / (H/KV).
//
// Definitional choices: the alignment follows the authors' notebook (|⟨u₁, k̂⟩| with u₁ the top
// left singular vector of W_Q_h). For the positive share, the notebook scores q_i against the
// weight direction W_K_g[:, dim] itself; we score it against token 0's actual key k_0, which is
// the logit that decides the attention and includes the sign of x_0[dim] and the other
// dimensions. With QK-norm models (Qwen3) W_K[:, dim] is not the key direction after the norm.
func QKLock(cfg *transformer.Config, wq, wk []float32, dim int, q, k, xNorm *transformer.Activation) ([]HeadLock, error) {
	const fn = "QKLock"
	if cfg == nil {
		return nil, fmt.Errorf("%s: cfg is nil", fn)
	}
	H, KV, dh, D := cfg.NHeads, cfg.KVHeads(), cfg.HeadDim(), cfg.DModel
	if H <= 0 || KV <= 0 || dh <= 0 || D <= 0 || H%KV != 0 {
		return nil, fmt.Errorf("%s: cfg has NHeads %d, KV heads %d, head dim %d, DModel %d; want positive sizes with NHeads a multiple of the KV heads", fn, H, KV, dh, D)
	}
	if err := checkMatrix(fn, "wq", wq, H*dh, D); err != nil {
		return nil, err
	}
	if err := checkMatrix(fn, "wk", wk, KV*dh, D); err != nil {
		return nil, err
	}
	if err := checkIndex(fn, "dim", dim, D, "model dimensions"); err != nil {
		return nil, err
	}
	if err := checkAct(fn, "q", q, "[b, p, h, dh]", 4); err != nil {
		return nil, err
	}
	if err := checkAct(fn, "k", k, "[b, p, g, dh]", 4); err != nil {
		return nil, err
	}
	B, T := q.Shape[0], q.Shape[1]
	if q.Shape[2] != H || q.Shape[3] != dh {
		return nil, fmt.Errorf("%s: q (%s) has shape %v; want [b, p, %d, %d] for this config", fn, q.Name, q.Shape, H, dh)
	}
	if k.Shape[0] != B || k.Shape[1] != T || k.Shape[2] != KV || k.Shape[3] != dh {
		return nil, fmt.Errorf("%s: k (%s) has shape %v; want [%d, %d, %d, %d] to match q %v and the config", fn, k.Name, k.Shape, B, T, KV, dh, q.Shape)
	}
	if T < 2 {
		return nil, fmt.Errorf("%s: q has shape %v; the scores of queries 1..T−1 need at least 2 positions", fn, q.Shape)
	}
	if err := checkAct(fn, "xNorm", xNorm, "[b, p, d]", 3); err != nil {
		return nil, err
	}
	if xNorm.Shape[0] != B || xNorm.Shape[1] != T || xNorm.Shape[2] != D {
		return nil, fmt.Errorf("%s: xNorm (%s) has shape %v; want [%d, %d, %d] to match q %v and DModel", fn, xNorm.Name, xNorm.Shape, B, T, D, q.Shape)
	}
	signs := make([]float64, B) // sign of token 0's massive value, per sample
	for b := range signs {
		signs[b] = sign(float64(xNorm.Data[b*T*D+dim]))
	}
	group := H / KV
	scale := cfg.Scale()
	out := make([]HeadLock, H)
	// headLock measures query head h, which reads kv head h/group.
	headLock := func(h int) HeadLock {
		g := h / group
		kdir := make([]float64, dh)
		for i := range kdir {
			kdir[i] = float64(wk[(g*dh+i)*D+dim])
		}
		hl := HeadLock{Head: h}
		u := TopLeftSingularVector(wq[h*dh*D:(h+1)*dh*D], dh, D, 0)
		if u != nil && normalize(kdir) {
			hl.Alignment = math.Abs(dot64(u, kdir))
		}
		pos, posW, posU, n := 0, 0, 0, 0
		sum := 0.0
		for b := 0; b < B; b++ {
			k0 := k.Data[((b*T+0)*KV+g)*dh : ((b*T+0)*KV+g+1)*dh]
			for i := 1; i < T; i++ {
				qi := q.Data[((b*T+i)*H+h)*dh : ((b*T+i)*H+h+1)*dh]
				s := dot32(qi, k0)
				if s > 0 {
					pos++
				}
				w := dotMixed(kdir, qi)
				if signs[b]*w > 0 {
					posW++
				}
				if w > 0 {
					posU++
				}
				sum += s
				n++
			}
		}
		hl.PositiveShare = float64(pos) / float64(n)
		hl.WeightShare = float64(posW) / float64(n)
		hl.WeightShareUnsigned = float64(posU) / float64(n)
		hl.MeanScore = sum / float64(n) * scale
		return hl
	}
	// Heads are independent (each writes only out[h]): one goroutine per head, at most GOMAXPROCS at
	// a time (one after the other, a Llama-2-7B-shaped model's 32 heads took 2 s).
	var wg sync.WaitGroup
	slots := make(chan struct{}, runtime.GOMAXPROCS(0))
	for h := 0; h < H; h++ {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer func() { <-slots; wg.Done() }()
			out[h] = headLock(h)
		}()
	}
	wg.Wait()
	return out, nil
}

// dotMixed is Σ a[i]·b[i] in float64.
func dotMixed(a []float64, b []float32) float64 {
	s := 0.0
	for i, x := range a {
		s += x * float64(b[i])
	}
	return s
}
