package train

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/gomlx/compute"

	"github.com/sinkscope/sinkscope/datasets/stream"
)

// Asking for more devices than the backend has, a micro-batch that does not split over the devices,
// accumulation with devices: each is refused before the run directory is touched, with the numbers
// named. One device is the plain step.
func TestDataParallelErrors(t *testing.T) {
	be := newBackend(t)
	ctx, data := context.Background(), chainStream{16, 16}
	for _, c := range []struct {
		batch, accum, devices int
		want                  string
	}{
		{8, 1, be.NumDevices() + 1, fmt.Sprintf("train: %d devices asked, backend %q has %d", be.NumDevices()+1, be.String(), be.NumDevices())},
		{6, 1, 4, "train: batch 6 with accumulation 1 gives micro-batches of 6 windows, which do not split evenly over 4 devices"},
		{8, 2, 2, "train: accumulation 2 with 2 devices: GoMLX's distributed training step does not accumulate gradients; " +
			"use accumulation 1 (each device then takes batch/devices = 4 windows) or devices 0"},
		{8, 1, -1, "train: devices -1 must not be negative"},
	} {
		opts := tinyOptions(4)
		opts.Batch, opts.Accum, opts.Devices = c.batch, c.accum, c.devices
		dir := filepath.Join(t.TempDir(), "run")
		_, err := Run(ctx, be, dir, opts, data, nil)
		if err == nil || err.Error() != c.want {
			t.Errorf("batch %d, accum %d, devices %d: error %v\nwant %s", c.batch, c.accum, c.devices, err, c.want)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("batch %d, accum %d, devices %d: the run directory was created", c.batch, c.accum, c.devices)
		}
	}

	// One device is the plain step (GoMLX distributes only over two or more), on every backend: the
	// same log, bit for bit, as devices 0.
	plain, one := tinyOptions(8), tinyOptions(8)
	one.Devices = 1
	if got, want := runLog(t, be, one, data), runLog(t, be, plain, data); !reflect.DeepEqual(got, want) {
		t.Errorf("devices 1: log %+v\nwant the plain step's %+v", got, want)
	}
}

// runLog trains opts to the end in a new directory and returns its log.
func runLog(t *testing.T, be compute.Backend, opts Options, data stream.Stream) []Record {
	t.Helper()
	dir := t.TempDir()
	if _, err := Run(context.Background(), be, dir, opts, data, nil); err != nil {
		t.Fatalf("devices %d: %v", opts.Devices, err)
	}
	return readLog(t, dir)
}

// dataParallelDevices is the device counts to check against the plain path: 2 (GoMLX distributes
// over two or more devices). The test skips on a backend without distributed execution or with one
// device.
func dataParallelDevices(t *testing.T, be compute.Backend) []int {
	t.Helper()
	if be.String() != "xla" || be.NumDevices() < 2 {
		t.Skipf("runs on an XLA backend (GOMLX_BACKEND=xla:<plugin>) with 2 or more devices (scripts/gpu-dataparallel.sh); this is %q with %d", be.String(), be.NumDevices())
	}
	return []int{2}
}

// Training data-parallel gives the losses and weights of the plain single-device step from the
// same seed, to float32 tolerance (the all-reduce sums the gradients in another order).
func TestDataParallelMatchesSingleDevice(t *testing.T) {
	be := newBackend(t)
	devices := dataParallelDevices(t, be)
	ctx, data := context.Background(), chainStream{16, 16}
	const steps = 8
	plain := t.TempDir()
	if _, err := Run(ctx, be, plain, tinyOptions(steps), data, nil); err != nil {
		t.Fatal(err)
	}
	want := readLog(t, plain)
	for _, n := range devices {
		dir := t.TempDir()
		opts := tinyOptions(steps)
		opts.Devices = n
		if _, err := Run(ctx, be, dir, opts, data, nil); err != nil {
			t.Fatalf("%d devices: %v", n, err)
		}
		got := readLog(t, dir)
		if len(got) != steps {
			t.Fatalf("%d devices: %d log records, want %d", n, len(got), steps)
		}
		for i := range got {
			if !relClose(got[i].Loss, want[i].Loss, 1e-5) || !relClose(got[i].GradNorm, want[i].GradNorm, 1e-4) {
				t.Errorf("%d devices, step %d: loss %.7g grad norm %.6g; single device %.7g, %.6g",
					n, got[i].Step, got[i].Loss, got[i].GradNorm, want[i].Loss, want[i].GradNorm)
			}
		}
		if !relClose(got[steps-1].ValLoss, want[steps-1].ValLoss, 1e-5) {
			t.Errorf("%d devices: validation loss %.7g, single device %.7g", n, got[steps-1].ValLoss, want[steps-1].ValLoss)
		}
		ck := fmt.Sprintf("ckpt-%07d", steps)
		for _, f := range []string{"model.safetensors", "optimizer.safetensors"} {
			tensorsClose(t, fmt.Sprintf("%d devices: %s", n, f), filepath.Join(dir, ck, f), filepath.Join(plain, ck, f), 1e-5)
		}
	}
}

// A run stopped half-way resumes on another number of devices (data-parallel → plain and plain →
// data-parallel) and ends where an uninterrupted plain run ends, to float32 tolerance.
func TestDataParallelResume(t *testing.T) {
	be := newBackend(t)
	devices := dataParallelDevices(t, be)
	n := devices[len(devices)-1]
	ctx, data := context.Background(), chainStream{16, 16}
	opts := tinyOptions(16)
	opts.SaveEvery, opts.Keep = 7, 0
	straight := t.TempDir()
	if _, err := Run(ctx, be, straight, opts, data, nil); err != nil {
		t.Fatal(err)
	}
	for _, d := range [][2]int{{n, 0}, {0, n}} {
		dir := t.TempDir()
		first := opts
		first.Devices, first.StopAfter = d[0], 9
		if _, err := Run(ctx, be, dir, first, data, nil); err != nil {
			t.Fatalf("devices %d: %v", d[0], err)
		}
		if err := os.RemoveAll(filepath.Join(dir, "ckpt-0000009")); err != nil { // killed before its last save
			t.Fatal(err)
		}
		second := opts
		second.Devices = d[1]
		s, err := Run(ctx, be, dir, second, data, nil)
		if err != nil {
			t.Fatalf("devices %d → %d: %v", d[0], d[1], err)
		}
		if s.Resumed != 7 || s.Step != 16 {
			t.Fatalf("devices %d → %d: resumed from %d to %d; want 7 → 16", d[0], d[1], s.Resumed, s.Step)
		}
		want, got := readLog(t, straight), readLog(t, dir)
		for i := range want {
			if i >= len(got) || !relClose(got[i].Loss, want[i].Loss, 1e-5) {
				t.Errorf("devices %d → %d: step %d loss differs from the uninterrupted run's %.7g: %+v", d[0], d[1], i+1, want[i].Loss, got[min(i, len(got)-1)])
			}
		}
		for _, f := range []string{"model.safetensors", "optimizer.safetensors"} {
			tensorsClose(t, fmt.Sprintf("devices %d → %d: %s", d[0], d[1], f),
				filepath.Join(dir, "ckpt-0000016", f), filepath.Join(straight, "ckpt-0000016", f), 1e-5)
		}
	}
}

func relClose(a, b, rel float64) bool {
	return math.Abs(a-b) <= rel*math.Max(math.Abs(a), math.Abs(b))
}

// tensorsClose requires the same tensors in two safetensors files, each agreeing to rel relative
// to its largest magnitude (elements near zero have no meaningful relative error of their own).
func tensorsClose(t *testing.T, what, got, want string, rel float64) {
	t.Helper()
	eachTensorPair(t, got, want, true, func(name string, a, b []float32) {
		scale, worst := 0.0, 0.0
		for i := range b {
			scale = math.Max(scale, math.Abs(float64(b[i])))
			worst = math.Max(worst, math.Abs(float64(a[i]-b[i])))
		}
		if worst > rel*scale {
			t.Errorf("%s %s: differs by up to %.3g, %.3g of its largest magnitude %.3g (tolerance %g)", what, name, worst, worst/scale, scale, rel)
		}
	})
}
