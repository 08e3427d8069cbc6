// Package interventions holds the paper's two causal interventions on the attention sink as data
// that can be printed, saved in results.json and replayed:
//
//   - Mask (paper Fig. 5): restrict what some queries may attend to — isolate a token so it attends
//     only to itself, or limit a query row to a prefix — in every layer or a chosen set. Isolating
//     token k removes the context from its hidden state, the way position 0 never has context, and
//     the paper reports that k then becomes a new sink column.
//   - Amplification (paper Fig. 6): scale the W_O input of target token k about the value mean μ,
//     o'_k = μ + λ(o_k − μ), in chosen layers, and read the attention to column k at a later layer;
//     the control arm scales without centring, o'_k = λ·o_k.
//
// Beyond the paper: Removal (Remove) and Mask.Hide (MaskLoss) take the first-token sink away at
// inference and read the next-token loss and accuracy; Mask.Isolate, Amplification.Positions and
// RunMaskColumns make several sinks at once; SweepPositions moves the target k along the sequence.
//
// Both run on transformer.Model through graph inputs only: the mask is transformer.WithAttentionMask
// and λ, k, the layer set and μ are transformer.WithInput values read by a hook with a stable ID, so
// a whole λ sweep runs one compiled graph.
//
// The sink score of column k at a layer is the mean over sequences, heads and queries i > k of the
// attention weight A[i, k] (SinkScore).
package interventions

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
)

// Mask is an attention-mask intervention (paper Fig. 5). Rules apply in the listed Layers, or in
// every layer when Layers is empty. The causal mask still applies on top.
type Mask struct {
	// Layers restricts the mask to these layers; empty means every layer.
	Layers []int `json:"layers,omitempty"`
	// Isolate lists tokens that may attend only to themselves (row t: only column t).
	Isolate []int `json:"isolate,omitempty"`
	// Hide lists keys no other query may attend to (column t: only row t keeps it), e.g. Hide [0]
	// takes the first-token sink away (beyond the paper).
	Hide []int `json:"hide,omitempty"`
	// Prefix restricts query rows to a key prefix.
	Prefix []PrefixRule `json:"prefix,omitempty"`
}

// PrefixRule lets query Query attend only to keys 0..Keys−1 (and, for Keys > Query, the causal
// mask still cuts it at Query). Keys must be at least 1, or the row would have nothing to attend to.
type PrefixRule struct {
	Query int `json:"query"`
	Keys  int `json:"keys"`
}

// HideTokens is a mask that hides the given keys from every other query in the given layers (every
// layer when none are given): HideTokens([]int{0}) removes the first-token sink.
func HideTokens(keys []int, layers ...int) Mask {
	return Mask{Layers: layers, Hide: keys}
}

// IsolateToken is the paper's Fig. 5 mask: token k attends only to itself in the given layers
// (every layer when none are given).
func IsolateToken(k int, layers ...int) Mask {
	return Mask{Layers: layers, Isolate: []int{k}}
}

// String prints the mask in one line, e.g. "mask{isolate [9] in all layers}".
func (m Mask) String() string {
	var parts []string
	if len(m.Isolate) > 0 {
		parts = append(parts, fmt.Sprintf("isolate %v", m.Isolate))
	}
	if len(m.Hide) > 0 {
		parts = append(parts, fmt.Sprintf("hide %v", m.Hide))
	}
	for _, p := range m.Prefix {
		parts = append(parts, fmt.Sprintf("query %d sees keys <%d", p.Query, p.Keys))
	}
	where := "all layers"
	if len(m.Layers) > 0 {
		where = fmt.Sprintf("layers %v", m.Layers)
	}
	return fmt.Sprintf("mask{%s in %s}", strings.Join(parts, ", "), where)
}

// JSON is the mask as JSON (for results files); ParseMask reads it back.
func (m Mask) JSON() ([]byte, error) { return json.Marshal(m) }

// ParseMask reads a mask written by JSON.
func ParseMask(data []byte) (Mask, error) { return parse[Mask]("mask", data) }

// parse reads an intervention written with encoding/json.
func parse[T any](what string, data []byte) (T, error) {
	var v T
	if err := json.Unmarshal(data, &v); err != nil {
		return v, fmt.Errorf("parsing %s: %w", what, err)
	}
	return v, nil
}

// Validate checks the mask against a model of nLayers layers and sequences of T tokens; the error
// names the layer, position or rule that is out of range.
func (m Mask) Validate(nLayers, T int) error {
	if len(m.Isolate) == 0 && len(m.Hide) == 0 && len(m.Prefix) == 0 {
		return fmt.Errorf("mask: no rule (give Isolate, Hide or Prefix)")
	}
	if err := checkLayers(m.Layers, nLayers); err != nil {
		return fmt.Errorf("mask: %w", err)
	}
	for _, t := range m.Isolate {
		if t < 0 || t >= T {
			return fmt.Errorf("mask: isolated position %d is out of range [0, %d) for %d-token sequences", t, T, T)
		}
	}
	for _, t := range m.Hide {
		if t < 0 || t >= T {
			return fmt.Errorf("mask: hidden position %d is out of range [0, %d) for %d-token sequences", t, T, T)
		}
	}
	for _, p := range m.Prefix {
		if p.Query < 0 || p.Query >= T {
			return fmt.Errorf("mask: prefix rule query %d is out of range [0, %d) for %d-token sequences", p.Query, T, T)
		}
		if p.Keys < 1 || p.Keys > T {
			return fmt.Errorf("mask: prefix rule for query %d keeps %d keys, want 1..%d", p.Query, p.Keys, T)
		}
	}
	return nil
}

// checkLayers checks a layer set: every layer in [0, nLayers), no repeats.
func checkLayers(layers []int, nLayers int) error {
	seen := map[int]bool{}
	for _, l := range layers {
		if l < 0 || l >= nLayers {
			return fmt.Errorf("layer %d is out of range [0, %d)", l, nLayers)
		}
		if seen[l] {
			return fmt.Errorf("layer %d is listed twice", l)
		}
		seen[l] = true
	}
	return nil
}

// Build returns the additive mask data and dims for transformer.WithAttentionMask: [T, T] when the
// mask applies to every layer, else [L, T, T] with zeros in the layers it leaves alone. 0 keeps an
// entry, −Inf forbids it.
func (m Mask) Build(nLayers, T int) ([]float32, []int, error) {
	if err := m.Validate(nLayers, T); err != nil {
		return nil, nil, err
	}
	row := make([]float32, T*T) // [q, k]
	neg := float32(math.Inf(-1))
	for _, t := range m.Isolate {
		for k := 0; k < T; k++ {
			if k != t {
				row[t*T+k] = neg
			}
		}
	}
	for _, t := range m.Hide {
		for q := 0; q < T; q++ {
			if q != t {
				row[q*T+t] = neg
			}
		}
	}
	for _, p := range m.Prefix {
		for k := p.Keys; k < T; k++ {
			row[p.Query*T+k] = neg
		}
	}
	if len(m.Layers) == 0 {
		return row, []int{T, T}, nil
	}
	data := make([]float32, nLayers*T*T) // [l, q, k]
	for _, l := range m.Layers {
		copy(data[l*T*T:(l+1)*T*T], row)
	}
	return data, []int{nLayers, T, T}, nil
}
