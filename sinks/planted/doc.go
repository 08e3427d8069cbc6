// Package planted builds a small random-init transformer with the paper's causal chain planted into it
// by hand: a super neuron that fires only on token 0, the massive activation it writes into one
// residual dimension, the dimension disparity that follows at the next RMSNorm, and the QK lock that
// turns token 0 into an attention sink from the next layer on. Removing the neuron removes the chain.
//
// Because every link is placed on purpose, the model is ground truth for the detectors of the rest of
// sinkscope (they must find exactly Spec.Neuron and Spec.Dim), and a notebook can show each link
// appearing and, with RemoveNeuron, disappearing.
//
// # The model
//
// A Llama-style decoder (RMSNorm, RoPE, SwiGLU, softmax attention) at the paper's initialisation:
// every matrix ~ N(0, 0.02²), residual output projections (attn/o, mlp/down) ~ N(0, (0.02/√(2L))²),
// norm scales 1. DefaultSpec uses vocab 512, d 128, 6 layers, 4 heads (d_head 32), SwiGLU 512,
// 256 positions. Every sequence starts with an explicit BOS token (Spec.BOS, as the paper's text
// setting prepends BOS); Planted.Tokens draws BOS followed by uniform tokens other than BOS.
// Everything not listed below keeps its random value.
//
// # Link 0: token 0 produces a fixed vector
//
// With a causal mask, position 0 attends only to itself, so its hidden state in every layer is a
// deterministic function of the BOS embedding alone: the FFN input of block Spec.Layer at position 0,
// u = blocks.{Layer}.ln2.hook_normalized[·, 0], is the same vector in every sequence (|u| ≈ √d after
// RMSNorm). Build measures it by running the model. Every other position averages its prefix, so its
// FFN input varies with the context (the paper's variance discrepancy).
//
// Planted piece 1, the shared query offset: every token embedding except BOS's gets +Spec.QueryOffset
// in dimension Spec.QueryDim. All non-BOS positions then share one mean direction (real language
// models' hidden states are similarly anisotropic; with the default 0.3, QueryDim carries about 80%
// of a normalised non-BOS state at the first block and about 50% at the last). Build measures m, the mean FFN input at Layer over
// the non-BOS positions of a calibration batch; m points mostly along e_QueryDim.
//
// # Link 1: the super neuron fires on token 0 only (paper Figs. 8–9)
//
// Planted piece 2, neuron Spec.Neuron of block Spec.Layer's MLP:
//
//	gate row  w_g = α·(û − β·m̂),  α = GatePre/|u|,  β = Suppress
//	up row    w_u = (UpPre/|u|)·û
//
// where û = u/|u| and m̂ is m with its component along û removed, normalised (so m̂·u = 0). At position
// 0 the gate pre-activation is exactly GatePre and the up projection exactly UpPre (defaults 10 and
// 10), so the neuron's output SiLU(10)·10 ≈ 100. At any other position t the FFN input h_t has a small
// cosine with û but a large positive projection on m̂, so the gate pre-activation α(û·h_t − β·m̂·h_t)
// is strongly negative (about −11 at most on random batches) and SiLU(gate) ≈ gate·e^gate ≈ 0: the
// neuron is silent. Its gate and up rows have about 9× and 4× the L2 norm of a random row (a random
// row has norm ≈ 0.02·√d ≈ 0.23): the outlying row norms by which the paper identifies super neurons.
// Without the β term (Suppress 0) the neuron still prefers token 0, but the positions right after BOS,
// which copy part of token 0's state through attention, leak a little into it.
//
// # Link 2: a massive activation in one dimension, then dimension disparity (Fig. 10, Table 1)
//
// Planted piece 3, the neuron's down-projection column: Massive/out₀ in dimension Spec.Dim, where out₀
// is the neuron's output at position 0, and the column's random values divided by out₀ elsewhere (a
// heavy-tailed column: one entry thousands of times larger than the others). Token 0's residual stream therefore gets
// exactly +Massive (default 25, about 10³ times the median |residual entry| of this model, the ratio
// Sun et al. report for massive activations) in Dim after block Layer, and keeps it: later blocks
// change it by a few hundredths. Other positions get ≈ 0 there. The next RMSNorm maps token 0's residual r to
// √d·r/|r|·γ ≈ √d·e_Dim: token 0 becomes nearly a basis vector, with dimension disparity
// |x[Dim]| / mean_j≠Dim |x[j]| ≈ 900 at the input norm of block Layer+1 (the paper: 262.88 for
// Llama-2-7B), and a token-0 norm ≈ 60× that of the other tokens (the paper's Fig. 3 norm spike).
//
// # Link 3: the QK lock makes token 0 a sink (Fig. 12)
//
// Planted piece 4, in every block after Layer and every head: the same unit vector v of the head
// dimension is added to W_K[:, Dim] (scaled by LockK) and to W_Q[:, QueryDim] (scaled by LockQ). Then
//
//	token 0's key    k₀ = W_K·x₀ ≈ √d·W_K[:, Dim] ≈ √d·LockK·v            (x₀ ≈ √d·e_Dim)
//	query i          q_i = W_Q·x_i ≈ x_i[QueryDim]·LockQ·v + (random part)
//	q_i·k₀ ≈ √d·LockQ·LockK·x_i[QueryDim] > 0                              for every query
//
// because x_i[QueryDim] > 0 for every non-BOS token (piece 1). Divided by √d_head this is a score about
// 10–15 above those of the other keys, whose Dim coordinate is O(1): attention collapses on token 0
// (≈ 1.0 at block Layer+1 and after). v lives on the LockPairs slowest RoPE pairs of the head (channels
// j and j + d_head/2 for the largest j; frequencies 10000^(−2j/d_head) ≈ 2·10⁻⁴ and 3·10⁻⁴ rad per
// position for d_head 32), so the rotation RoPE applies to query i (token 0's key, at position 0, is
// not rotated) changes the score by under 0.3% even at position 255: the pre-RoPE score the paper's
// Fig. 12 measures and the score attention uses agree. In blocks up to Layer nothing is planted in
// attention, so attention stays near uniform there (mean attention to token 0 ≈ 0.06 over 64 tokens).
//
// # Removing the neuron
//
// RemoveNeuron zeroes the neuron's gate and up rows and down column and nothing else. Token 0's Dim
// coordinate falls back to a random O(0.1) value, its normalised state is no longer e_Dim, and the
// planted lock, which only reads dimension Dim of the keys, no longer singles token 0 out: attention to
// token 0 at block Layer+1 drops from ≈ 1.0 to ≈ 0.02 and the disparity from ≈ 900 to ≈ 0.2 (for the
// default seed, token 0's Dim coordinate happens to be slightly negative, so the lock mildly disfavours
// it). The lock is latent: the super neuron is what switches it on. Blocks up to Layer are unchanged.
//
// # Weight edits and compiled graphs
//
// Build and RemoveNeuron construct a fresh transformer.Model from the edited weights rather than
// editing a model in place: a backend may embed weights in compiled graphs as constants (GoMLX's
// pure-Go backend does), so a graph compiled before an edit would not see it.
package planted
