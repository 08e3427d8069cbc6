package transformer

import (
	"fmt"
	"strings"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/distributed"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/core/tensors/dtensor"
)

// ShardMeshAxis is the name of the one mesh axis a sharded model's weights are split over.
const ShardMeshAxis = "model"

// sharding is how a sharded model runs (see ShardOver): the mesh, the spec of every run input and
// output (a full copy on every device) and the axis of each parameter split over the mesh.
type sharding struct {
	mesh       *distributed.DeviceMesh   // one axis ShardMeshAxis of n devices
	replicated *distributed.ShardingSpec // run inputs (tokens, WithInput values, mask) and outputs
	axes       map[string]int            // parameter name → axis split over the mesh, −1: replicated
}

// ShardOver splits the model's weights over devices 0 … n−1 of its backend (tensor parallelism,
// Megatron-style) so that a model larger than one device's memory can be analysed; every later run
// (Run, RunWithCache, reductions, hooks) compiles one graph for all n devices with GoMLX
// AutoSharding, and XLA's sharding propagation places the collectives. Results are unchanged: the
// run's inputs go to every device whole, and every output (captures, logits, reductions) comes back
// whole, as from an unsharded model, up to float32 rounding of sums split across devices.
//
// The matrices are split over the mesh axis "model" (ShardMeshAxis); linear layers are [out, in]:
//
//	attn/q, attn/k, attn/v, attn/gate   [out, D]        split on out (heads·d_head)
//	mlp/gate, mlp/up                    [F, D]          split on F
//	attn/o                              [D, H·dh]       split on its input H·dh
//	mlp/down                            [D, F]          split on its input F
//	embed, unembed                      [V, D]          split on V, or on D when V does not divide by n
//	pos_embed                           [MaxSeqLen, D]  split on D
//
// Norm scales, biases, HeadNorm γ and the sink key/value are replicated (a full copy on every
// device), and so is any matrix whose axis does not divide by n. ShardOver(1) changes nothing: the
// model stays on one device unsharded, because GoMLX runs a distributed graph only over two or more
// devices (measured on one H200: a one-device AutoSharding graph failed to compile without a device
// assignment, and GoMLX refuses to gather the outputs of one device as a distributed result).
//
// The backend must have n devices and distributed execution: the pure-Go backend has no
// distributed execution, and ShardOver says so at once (an XLA backend, GOMLX_BACKEND=xla:<plugin>,
// is needed); CheckShardOver gives the same errors before a model is loaded. The graphs already
// compiled are dropped, and full copies of the weights that earlier runs left on a device are
// freed. The host keeps the whole weights (Param reads them) and, after the first run, a host copy
// of every device's part. SetParam still works: the next run splits the new values. Calling
// ShardOver again with the same n does nothing; another n is an error (build a new model). A model
// from FromStore shares its store with a trainer and cannot be sharded.
func (m *Model) ShardOver(n int) error {
	if m.sharedStore { // set once by FromStore
		return fmt.Errorf("ShardOver(%d): the model shares its store with a trainer (transformer.FromStore); shard a model built by New or NewRandom", n)
	}
	if err := CheckShardOver(m.Backend, n); err != nil {
		return err
	}
	if n == 1 {
		return nil // one device: the plain graphs (see above)
	}
	m.runs.Lock() // no run in flight
	defer m.runs.Unlock()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.shard != nil {
		if have := m.shard.mesh.NumDevices(); have != n {
			return fmt.Errorf("ShardOver(%d): the model is already sharded over %d device(s); build a new model to change it", n, have)
		}
		return nil
	}
	mesh, err := shardMesh(n)
	if err != nil {
		return err
	}

	// Every spec is built before any variable changes, so an error leaves the model as it was.
	axes := shardAxes(m.Config, n)
	specs := make(map[string]*distributed.ShardingSpec, len(axes))
	for name, axis := range axes {
		b := distributed.BuildSpec(mesh)
		for a := range m.Config.ParamShapes()[name] {
			if a == axis {
				b = b.S(ShardMeshAxis)
			} else {
				b = b.R()
			}
		}
		if specs[name], err = b.Done(); err != nil {
			return fmt.Errorf("ShardOver(%d): the sharding of parameter %q (axis %d): %w", n, name, axis, err)
		}
	}
	m.dropCompiled() // single-device graphs
	for _, name := range sortedKeys(specs) {
		v := m.Store.GetVariable("/" + name)
		if v == nil {
			return fmt.Errorf("ShardOver(%d): no parameter %q in the model store", n, name)
		}
		if err := v.SetShardingSpec(specs[name]); err != nil {
			return fmt.Errorf("ShardOver(%d): parameter %q: %w", n, name, err)
		}
		// A plain run leaves the whole matrix on device 0: free it, keep the host copy.
		t, err := v.Value()
		if err != nil {
			return fmt.Errorf("ShardOver(%d): reading parameter %q: %w", n, name, err)
		}
		if err := t.ToLocal(); err != nil {
			return fmt.Errorf("ShardOver(%d): moving parameter %q to the host: %w", n, name, err)
		}
	}
	m.shard = &sharding{mesh: mesh, replicated: distributed.NewReplicatedShardingSpec(mesh), axes: axes}
	return nil
}

// ShardedOver is the number of devices the weights are split over (ShardOver), 0 when the model
// runs on one device unsharded.
func (m *Model) ShardedOver() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.shard == nil {
		return 0
	}
	return m.shard.mesh.NumDevices()
}

// CheckShardOver returns the error ShardOver(n) would give on backend be for n itself: n < 1, more
// devices than be has, or a backend without distributed execution (the pure-Go one). It builds
// nothing, so a command can check its flag before loading a large model.
func CheckShardOver(be compute.Backend, n int) error {
	if n < 1 {
		return fmt.Errorf("ShardOver(%d): the number of devices must be at least 1", n)
	}
	if have := be.NumDevices(); n > have {
		return fmt.Errorf("ShardOver(%d): backend %q has %d device(s), fewer than the %d asked", n, be.Name(), have, n)
	}
	if n == 1 {
		return nil // nothing to split: ShardOver(1) leaves the model as it is
	}
	mesh, err := shardMesh(n)
	if err != nil {
		return err
	}
	// Ask the backend for a graph builder distributed over the mesh, without building anything: the
	// pure-Go backend answers compute.ErrNotImplemented.
	b := be.Builder("transformer.ShardOver")
	if b == nil {
		err = fmt.Errorf("backend %q gave no graph builder", be.Name())
	} else {
		err = b.DistributedAutoSharding(mesh.ToBackendsMesh())
	}
	if err != nil {
		return fmt.Errorf("ShardOver(%d): backend %q has no distributed execution (GoMLX AutoSharding); splitting the weights needs an XLA backend (%s=xla:<plugin>): %w",
			n, be.Name(), compute.ConfigEnvVar, err)
	}
	return nil
}

// shardMesh is the one-axis mesh of n devices the weights are split over.
func shardMesh(n int) (*distributed.DeviceMesh, error) {
	mesh, err := distributed.NewDeviceMesh([]int{n}, []string{ShardMeshAxis})
	if err != nil {
		return nil, fmt.Errorf("ShardOver(%d): a mesh of %d devices: %w", n, n, err)
	}
	return mesh, nil
}

// shardAxes is the axis of each parameter of cfg split over n devices (see ShardOver), −1 for a
// replicated one.
func shardAxes(cfg *Config, n int) map[string]int {
	shapes := cfg.ParamShapes()
	axes := make(map[string]int, len(shapes))
	divides := func(dims []int, axis int) int {
		if dims[axis]%n == 0 {
			return axis
		}
		return -1
	}
	for name, dims := range shapes {
		axis := -1
		switch {
		case hasAnySuffix(name, "attn/q/weights", "attn/k/weights", "attn/v/weights", "attn/gate/weights",
			"mlp/gate/weights", "mlp/up/weights"): // [out, D]: each device computes a slice of the outputs
			axis = divides(dims, 0)
		case hasAnySuffix(name, "attn/o/weights", "mlp/down/weights"): // [D, in]: partial sums over the inputs
			axis = divides(dims, 1)
		case name == "embed/weights" || name == "unembed/weights": // [V, D]
			if axis = divides(dims, 0); axis < 0 {
				axis = divides(dims, 1)
			}
		case name == "pos_embed/weights": // [MaxSeqLen, D]
			axis = divides(dims, 1)
		}
		axes[name] = axis
	}
	return axes
}

func hasAnySuffix(s string, suffixes ...string) bool {
	for _, x := range suffixes {
		if strings.HasSuffix(s, x) {
			return true
		}
	}
	return false
}

// shardExec makes a run's Exec compile for the model's mesh: nInputs inputs and every output whole
// on every device (replicated), the weights as ShardOver split them.
func (s *sharding) shardExec(e *runExec, nInputs int) {
	specs := make([]*distributed.ShardingSpec, nInputs)
	for i := range specs {
		specs[i] = s.replicated
	}
	devices := make([]compute.DeviceNum, s.mesh.NumDevices())
	for i := range devices {
		devices[i] = compute.DeviceNum(i)
	}
	// Without a device assignment XLA refuses to compile a graph that is not device-portable.
	e.Exec.AutoSharding(s.mesh).WithInputShardingSpecs(specs...).WithOutputShardingSpecs(s.replicated).
		WithDeviceAssignment(devices)
}

// call runs a sharded Exec on its n ≥ 2 devices: each argument is copied to every device, and the
// outputs of device 0 come back (every output is replicated, so device 0 holds all of it); the
// other devices' copies are freed.
func (s *sharding) call(e *runExec, args []any) ([]*tensors.Tensor, error) {
	n := s.mesh.NumDevices()
	dargs := make([]any, len(args))
	defer func() {
		for _, d := range dargs {
			if d != nil {
				_ = d.(*dtensor.Tensor).FinalizeAll()
			}
		}
	}()
	for i, a := range args {
		t, ok := a.(*tensors.Tensor)
		if !ok {
			return nil, fmt.Errorf("run input %d is a %T, want a *tensors.Tensor", i, a)
		}
		d, err := dtensor.ShardTensor(s.replicated, t)
		if err != nil {
			return nil, fmt.Errorf("copying run input %d %v to %d devices: %w", i, t.Shape(), n, err)
		}
		dargs[i] = d
	}
	outs, err := callExec(e.Exec, dargs)
	if err != nil {
		return nil, err
	}
	if len(outs)%n != 0 {
		for _, o := range outs {
			o.FinalizeAll()
		}
		return nil, fmt.Errorf("the sharded run returned %d outputs, not a multiple of its %d devices", len(outs), n)
	}
	k := len(outs) / n // device-major: device 0's outputs first
	for _, o := range outs[k:] {
		o.FinalizeAll()
	}
	return outs[:k], nil
}
