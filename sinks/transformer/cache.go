package transformer

import (
	"fmt"
	"strings"
)

// Activation is one captured tensor, float32, row-major, with its shape and axis names.
type Activation struct {
	Name  string
	Shape []int
	Dims  []string // axis names (see HookPoint), nil if unknown
	Data  []float32
	// Data64 holds a float64 reduction output (see Reduction) instead of Data; nil otherwise.
	Data64 []float64
	// Rounded names the precision the values were rounded to on their way off the device
	// ("bfloat16" with CaptureInBF16); empty for exact float32 activations.
	Rounded string
}

// Offset returns the flat index of a multi-index, with an error naming the axis that is out of range.
func (a *Activation) Offset(idx ...int) (int, error) {
	if len(idx) != len(a.Shape) {
		return 0, fmt.Errorf("%s has shape %v (%s): got %d indices, want %d", a.Name, a.Shape, strings.Join(a.Dims, ", "), len(idx), len(a.Shape))
	}
	off := 0
	for i, x := range idx {
		if x < 0 || x >= a.Shape[i] {
			axis := fmt.Sprint(i)
			if i < len(a.Dims) {
				axis = a.Dims[i]
			}
			return 0, fmt.Errorf("%s: index %d on axis %s is out of range [0, %d)", a.Name, x, axis, a.Shape[i])
		}
		off = off*a.Shape[i] + x
	}
	return off, nil
}

// At returns the value at a multi-index.
func (a *Activation) At(idx ...int) (float32, error) {
	off, err := a.Offset(idx...)
	if err != nil {
		return 0, err
	}
	return a.Data[off], nil
}

// Sub returns the sub-tensor at the leading indices, sharing the data: e.g. on a pattern
// [b, h, q, k], Sub(0, 3) is head 3 of sequence 0, shape [q, k].
func (a *Activation) Sub(idx ...int) (*Activation, error) {
	if len(idx) > len(a.Shape) {
		return nil, fmt.Errorf("%s has rank %d: cannot index with %d indices", a.Name, len(a.Shape), len(idx))
	}
	full := append(append([]int(nil), idx...), make([]int, len(a.Shape)-len(idx))...)
	off, err := a.Offset(full...)
	if err != nil {
		return nil, err
	}
	rest := a.Shape[len(idx):]
	n := 1
	for _, d := range rest {
		n *= d
	}
	var dims []string
	if len(a.Dims) == len(a.Shape) {
		dims = a.Dims[len(idx):]
	}
	return &Activation{Name: a.Name, Shape: append([]int(nil), rest...), Dims: dims, Data: a.Data[off : off+n], Rounded: a.Rounded}, nil
}

// Len is the number of values.
func (a *Activation) Len() int { return len(a.Data) }

// Cache holds the activations captured by a run, by full hook name.
type Cache struct {
	cfg  *Config
	acts map[string]*Activation
}

// Get returns a captured activation by full name ("blocks.3.attn.hook_pattern") or by short name
// and layer like TransformerLens: Get("pattern", 3), Get("resid_post", -1) (negative layers count
// from the end), Get("ln1.normalized", 0), Get("logits").
func (c *Cache) Get(name string, layer ...int) (*Activation, error) {
	if a, ok := c.acts[name]; ok {
		return a, nil
	}
	if len(layer) > 1 {
		return nil, fmt.Errorf("cache.Get(%q): give at most one layer, got %v", name, layer)
	}
	full := name
	if len(layer) == 1 {
		var err error
		full, err = c.cfg.ResolveHookName(name, layer[0])
		if err != nil {
			return nil, err
		}
	} else if _, ok := c.cfg.HookPointByName(name); !ok {
		if _, ok := c.cfg.HookPointByName("hook_" + name); ok {
			full = "hook_" + name
		} else {
			return nil, fmt.Errorf("cache.Get(%q): not a hook point name; block hook points need a layer, e.g. Get(%q, 0)", name, name)
		}
	}
	a, ok := c.acts[full]
	if !ok {
		return nil, fmt.Errorf("%s was not captured in this run (captured: %s); add it to the names filter", full, strings.Join(c.Names(), ", "))
	}
	return a, nil
}

// MustGet is Get that panics on error, for notebooks and examples.
func (c *Cache) MustGet(name string, layer ...int) *Activation {
	a, err := c.Get(name, layer...)
	if err != nil {
		panic(err)
	}
	return a
}

// Names lists the captured hook names.
func (c *Cache) Names() []string { return sortedNames(c.acts) }

// Len is the number of captured activations.
func (c *Cache) Len() int { return len(c.acts) }

// Matrix returns the 2-D slice at the leading indices as rows, copied: e.g. on a pattern
// [b, h, q, k], Matrix(0, 3) is head 3 of sequence 0 as [q][k] (ready for plots).
func (a *Activation) Matrix(idx ...int) ([][]float32, error) {
	s, err := a.Sub(idx...)
	if err != nil {
		return nil, err
	}
	if len(s.Shape) != 2 {
		return nil, fmt.Errorf("%s: indices %v leave shape %v; a matrix needs exactly 2 axes left", a.Name, idx, s.Shape)
	}
	rows, cols := s.Shape[0], s.Shape[1]
	out := make([][]float32, rows)
	for r := range out {
		out[r] = append([]float32(nil), s.Data[r*cols:(r+1)*cols]...)
	}
	return out, nil
}

// Rows is a view of the first n rows (axis 0: the sequences) of the activation, sharing its data:
// a padded micro-batch's real sequences (see MicroBatches). a itself when it has n rows.
func (a *Activation) Rows(n int) *Activation {
	if len(a.Shape) == 0 || a.Shape[0] == n {
		return a
	}
	per := len(a.Data) / a.Shape[0]
	shape := append([]int{n}, a.Shape[1:]...)
	return &Activation{Name: a.Name, Shape: shape, Dims: a.Dims, Data: a.Data[: n*per : n*per], Rounded: a.Rounded}
}

// concatBatch appends the batch axis (axis 0) of other to c, per hook name.
func (c *Cache) concatBatch(other *Cache) error {
	if len(c.acts) == 0 {
		c.acts = other.acts
		return nil
	}
	for name, a := range c.acts {
		b, ok := other.acts[name]
		if !ok {
			return fmt.Errorf("concatenating caches: %s missing from a micro-batch", name)
		}
		if len(a.Shape) != len(b.Shape) || len(a.Shape) == 0 {
			return fmt.Errorf("concatenating caches: %s has shapes %v and %v", name, a.Shape, b.Shape)
		}
		for i := 1; i < len(a.Shape); i++ {
			if a.Shape[i] != b.Shape[i] {
				return fmt.Errorf("concatenating caches: %s has shapes %v and %v", name, a.Shape, b.Shape)
			}
		}
		a.Data = append(a.Data, b.Data...)
		a.Shape[0] += b.Shape[0]
	}
	return nil
}
