package train

import (
	"errors"
	"fmt"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/distributed"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/core/tensors/dtensor"
	gtrain "github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/support/exceptions"
)

// dataParallel trains on Options.Devices devices of one backend with XLA's own distribution
// (GoMLX AutoSharding): every micro-batch is split on its batch axis over a one-axis mesh "data",
// the variables are replicated on every device, and XLA's sharding propagation inserts the
// all-reduce of the gradients into the one compiled training step. Only the training step is
// distributed: the validation loss and the sink statistics run on device 0 from the merged
// (replicated) values, as on the single-device path.
type dataParallel struct {
	inputs  *distributed.ShardingSpec // tokens [batch, T]: batch split over "data"
	labels  *distributed.ShardingSpec // labels [batch, T, 1]: batch split over "data"
	devices []compute.DeviceNum       // devices 0 … n−1 of the backend
	backend compute.Backend
}

// newDataParallel prepares data parallelism over devices 0 … n−1 of be (n ≥ 2; GoMLX distributes over two or more).
func newDataParallel(be compute.Backend, n int) (*dataParallel, error) {
	if have := be.NumDevices(); n > have {
		return nil, fmt.Errorf("train: %d devices asked, backend %q has %d", n, be.String(), have)
	}
	mesh, err := distributed.NewDeviceMesh([]int{n}, []string{"data"})
	if err != nil {
		return nil, fmt.Errorf("train: a mesh of %d devices: %w", n, err)
	}
	dp := &dataParallel{backend: be}
	if dp.inputs, err = distributed.BuildSpec(mesh).S("data").R().Done(); err != nil {
		return nil, err
	}
	if dp.labels, err = distributed.BuildSpec(mesh).S("data").R().R().Done(); err != nil {
		return nil, err
	}
	for d := range n {
		dp.devices = append(dp.devices, compute.DeviceNum(d))
	}
	return dp, nil
}

// step runs one training step on b, its rows split evenly over the devices. It takes b's tensors
// (the trainer takes the shards).
func (dp *dataParallel) step(trainer *gtrain.Trainer, b gtrain.Batch) ([]*tensors.Tensor, error) {
	defer b.Finalize() // the shards are copies
	in, err := dtensor.ShardTensor(dp.inputs, b.Inputs[0])
	if err != nil {
		return nil, fmt.Errorf("splitting the tokens over %d devices: %w", len(dp.devices), err)
	}
	lab, err := dtensor.ShardTensor(dp.labels, b.Labels[0])
	if err != nil {
		_ = in.FinalizeAll()
		return nil, fmt.Errorf("splitting the labels over %d devices: %w", len(dp.devices), err)
	}
	var ms []*tensors.Tensor
	// A backend that cannot build a distributed graph (the pure-Go one) makes GoMLX panic with a
	// not-implemented error at the first step's compilation, not return it.
	if panicked := exceptions.TryCatch[error](func() {
		ms, err = trainer.DistributedTrainStep(distributed.AutoSharding, dp.devices,
			gtrain.DistributedBatch{Inputs: []*dtensor.Tensor{in}, Labels: []*dtensor.Tensor{lab}})
	}); panicked != nil {
		err = panicked
	}
	if errors.Is(err, compute.ErrNotImplemented) {
		return nil, fmt.Errorf("the %s cannot run the data-parallel path (devices %d): it has no distributed execution; "+
			"it needs an XLA backend (%s=xla:<plugin>): %w", dp.backend.Name(), len(dp.devices), compute.ConfigEnvVar, err)
	}
	return ms, err
}
