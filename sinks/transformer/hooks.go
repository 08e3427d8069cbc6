package transformer

import (
	"fmt"
	"path"
	"sort"
	"strings"
)

// HookPoint is a named place in the forward pass where an activation can be read (captured into a
// Cache) or replaced (by a Hook). Dims are the axis names of its shape:
//
//	b: batch   p: position   q/k: query/key position   h: query head   g: key/value head
//	dh: head dimension   d: model dimension   f: MLP dimension   v: vocabulary
type HookPoint struct {
	Name  string
	Layer int // −1 outside the blocks
	Dims  []string
	Doc   string
}

// The hook points of one block, relative to "blocks.{L}.". Shapes use the axis names above.
//
//	hook_resid_pre              [b, p, d]       residual stream entering the block
//	ln1.hook_normalized         [b, p, d]       attention input after the first norm (γ, β applied)
//	attn.hook_q                 [b, p, h, dh]   queries (after bias and q_norm, before RoPE)
//	attn.hook_k                 [b, p, g, dh]   keys (after bias and k_norm, before RoPE)
//	attn.hook_v                 [b, p, g, dh]   values
//	attn.hook_rot_q             [b, p, h, dh]   queries after RoPE (RoPE models only)
//	attn.hook_rot_k             [b, p, g, dh]   keys after RoPE (RoPE models only)
//	attn.hook_attn_scores       [b, h, q, k]    scaled scores q·k/√dh after the causal (and custom)
//	                                            mask; masked entries are −Inf
//	attn.hook_pattern           [b, h, q, k]    attention weights (softmax or sigmoid) on the real keys;
//	                                            with SinkKV the rows sum to 1 − hook_sink_weight
//	attn.hook_sink_weight       [b, h, q]       softmax weight on the learnable sink (SinkKV models only)
//	attn.hook_z                 [b, p, h, dh]   pattern·V per head (+ sink_weight·v_sink with SinkKV):
//	                                            the W_O input of a standard model
//	attn.hook_z_normed          [b, p, h, dh]   after head-wise RMSNorm (HeadNorm models only)
//	attn.hook_gate              [b, p, h, dh]   sigmoid gate values (gated-attention models only)
//	attn.hook_result            [b, p, h, d]    each head's contribution after W_O (bias excluded)
//	hook_attn_out               [b, p, d]       attention block output (W_O applied, bias included)
//	hook_resid_mid              [b, p, d]       residual after attention
//	ln2.hook_normalized         [b, p, d]       MLP input after the second norm
//	mlp.hook_gate               [b, p, f]       gate projection before the activation (SwiGLU only)
//	mlp.hook_up                 [b, p, f]       up projection (SwiGLU only)
//	mlp.hook_pre                [b, p, f]       c_fc output before the activation (plain MLP only)
//	mlp.hook_post               [b, p, f]       the W_down input: act(gate)·up, or act(pre)
//	hook_mlp_out                [b, p, d]       MLP output
//	hook_resid_post             [b, p, d]       residual leaving the block
//
// Outside the blocks: hook_embed [b, p, d] (token embedding), hook_pos_embed [b, p, d] (learned
// positions only), ln_final.hook_normalized [b, p, d] and logits [b, p, v].
//
// With HeadNorm or gating, the W_O input is the last of hook_z, hook_z_normed, hook_z·hook_gate.

// HookPoints lists every hook point of a model with this configuration, in forward order.
func (c *Config) HookPoints() []HookPoint {
	var hp []HookPoint
	add := func(name string, layer int, doc string, dims ...string) {
		hp = append(hp, HookPoint{Name: name, Layer: layer, Dims: dims, Doc: doc})
	}
	add("hook_embed", -1, "token embedding", "b", "p", "d")
	if c.Position == Learned {
		add("hook_pos_embed", -1, "learned position embedding", "b", "p", "d")
	}
	for l := 0; l < c.NLayers; l++ {
		b := fmt.Sprintf("blocks.%d.", l)
		add(b+"hook_resid_pre", l, "residual stream entering the block", "b", "p", "d")
		add(b+"ln1.hook_normalized", l, "attention input after the first norm", "b", "p", "d")
		add(b+"attn.hook_q", l, "queries before RoPE", "b", "p", "h", "dh")
		add(b+"attn.hook_k", l, "keys before RoPE", "b", "p", "g", "dh")
		add(b+"attn.hook_v", l, "values", "b", "p", "g", "dh")
		if c.Position == RoPE {
			add(b+"attn.hook_rot_q", l, "queries after RoPE", "b", "p", "h", "dh")
			add(b+"attn.hook_rot_k", l, "keys after RoPE", "b", "p", "g", "dh")
		}
		add(b+"attn.hook_attn_scores", l, "scaled, masked scores (masked = -Inf)", "b", "h", "q", "k")
		add(b+"attn.hook_pattern", l, "attention weights", "b", "h", "q", "k")
		if c.SinkKV {
			add(b+"attn.hook_sink_weight", l, "softmax weight on the learnable sink key", "b", "h", "q")
		}
		add(b+"attn.hook_z", l, "pattern·V per head (+ sink_weight·v_sink)", "b", "p", "h", "dh")
		if c.HeadNorm.Enabled {
			add(b+"attn.hook_z_normed", l, "head-wise RMSNorm output", "b", "p", "h", "dh")
		}
		if c.GatedAttention {
			add(b+"attn.hook_gate", l, "sigmoid gate on each head's output", "b", "p", "h", "dh")
		}
		add(b+"attn.hook_result", l, "per-head output after W_O", "b", "p", "h", "d")
		add(b+"hook_attn_out", l, "attention block output", "b", "p", "d")
		add(b+"hook_resid_mid", l, "residual after attention", "b", "p", "d")
		add(b+"ln2.hook_normalized", l, "MLP input after the second norm", "b", "p", "d")
		if c.MLP == SwiGLU {
			add(b+"mlp.hook_gate", l, "gate projection before the activation", "b", "p", "f")
			add(b+"mlp.hook_up", l, "up projection", "b", "p", "f")
		} else {
			add(b+"mlp.hook_pre", l, "c_fc output before the activation", "b", "p", "f")
		}
		add(b+"mlp.hook_post", l, "W_down input", "b", "p", "f")
		add(b+"hook_mlp_out", l, "MLP output", "b", "p", "d")
		add(b+"hook_resid_post", l, "residual leaving the block", "b", "p", "d")
	}
	add("ln_final.hook_normalized", -1, "final norm output", "b", "p", "d")
	add("logits", -1, "unembedding output", "b", "p", "v")
	return hp
}

// HookNames lists every hook point name, in forward order.
func (c *Config) HookNames() []string {
	hp := c.HookPoints()
	names := make([]string, len(hp))
	for i, h := range hp {
		names[i] = h.Name
	}
	return names
}

// HookPointByName returns the hook point with this exact name.
func (c *Config) HookPointByName(name string) (HookPoint, bool) {
	for _, h := range c.HookPoints() {
		if h.Name == name {
			return h, true
		}
	}
	return HookPoint{}, false
}

// ResolveHookName turns a short name and a layer into a full hook name, like TransformerLens'
// utils.get_act_name: ("pattern", 3) → "blocks.3.attn.hook_pattern", ("resid_pre", -1) → the last
// layer's "hook_resid_pre", ("ln1.normalized", 0) → "blocks.0.ln1.hook_normalized". Full names are
// accepted as they are (layer ignored when the name already has one). Negative layers count from the end.
func (c *Config) ResolveHookName(short string, layer int) (string, error) {
	if _, ok := c.HookPointByName(short); ok {
		return short, nil
	}
	if layer < -c.NLayers || layer >= c.NLayers {
		return "", fmt.Errorf("layer %d is out of range for a %d-layer model (valid: %d..%d)", layer, c.NLayers, -c.NLayers, c.NLayers-1)
	}
	if layer < 0 {
		layer += c.NLayers
	}
	s := strings.TrimPrefix(short, "hook_")
	if i := strings.LastIndexByte(s, '.'); i >= 0 && !strings.HasPrefix(s[i+1:], "hook_") {
		s = s[:i+1] + "hook_" + s[i+1:] // "ln1.normalized" → "ln1.hook_normalized"
	} else if i < 0 {
		s = "hook_" + s
	}
	prefix := fmt.Sprintf("blocks.%d.", layer)
	var matches []string
	for _, h := range c.HookPoints() {
		if h.Layer != layer {
			continue
		}
		rel := strings.TrimPrefix(h.Name, prefix)
		if rel == s || strings.HasSuffix(rel, "."+s) {
			matches = append(matches, h.Name)
		}
	}
	switch len(matches) {
	case 1:
		return matches[0], nil
	case 0:
		return "", fmt.Errorf("no hook point %q in layer %d; hook points of a block: %s", short, layer, strings.Join(c.blockHookSuffixes(), ", "))
	default:
		return "", fmt.Errorf("hook point %q is ambiguous in layer %d: %s", short, layer, strings.Join(matches, ", "))
	}
}

func (c *Config) blockHookSuffixes() []string {
	var out []string
	for _, h := range c.HookPoints() {
		if h.Layer == 0 {
			out = append(out, strings.TrimPrefix(h.Name, "blocks.0."))
		}
	}
	return out
}

// Names selects hook points by exact name or by glob pattern ("blocks.*.attn.hook_pattern",
// "*hook_resid_post"); '*' matches any run of characters, dots included. It is the memory valve
// of RunWithCache: only selected points are materialised.
type Names []string

// Resolve returns the hook names of cfg selected by the patterns, in forward order. A pattern that
// matches nothing is an error naming it, so a typo never silently captures nothing.
func (n Names) Resolve(cfg *Config) ([]string, error) {
	all := cfg.HookNames()
	selected := make(map[string]bool)
	for _, pat := range n {
		found := false
		for _, name := range all {
			if matchHook(pat, name) {
				selected[name] = true
				found = true
			}
		}
		if !found {
			return nil, fmt.Errorf("hook filter %q matches no hook point of this model (examples: %s)", pat, strings.Join(exampleHooks(all), ", "))
		}
	}
	out := make([]string, 0, len(selected))
	for _, name := range all {
		if selected[name] {
			out = append(out, name)
		}
	}
	return out, nil
}

func exampleHooks(all []string) []string {
	if len(all) <= 6 {
		return all
	}
	return append(append([]string{}, all[:4]...), "…", all[len(all)-1])
}

// matchHook matches a glob where '*' spans dots too (path.Match's '*' stops at '/', which hook names
// do not contain).
func matchHook(pattern, name string) bool {
	if pattern == name {
		return true
	}
	ok, err := path.Match(pattern, name)
	return err == nil && ok
}

// sortedKeys returns the keys of a map in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
