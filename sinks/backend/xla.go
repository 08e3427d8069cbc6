//go:build !noxla

package backend

// The XLA backend (PJRT plugins such as CUDA). It is only used when $GOMLX_BACKEND names it; no plugin
// is ever downloaded (set GOMLX_NO_AUTO_INSTALL=1 on machines without network).
import (
	"github.com/gomlx/compute"
	"github.com/gomlx/go-xla/compute/xla"
)

// defaultDotPrecision sets an XLA backend's DotGeneralUseTF32 (which go-xla reads while it builds
// each product: false asks for PrecisionConfig HIGHEST, true for DEFAULT) and returns the function
// that restores it. Other backends have no such setting.
func defaultDotPrecision(b compute.Backend) (restore func()) {
	xb, ok := b.(*xla.Backend)
	if !ok {
		return func() {}
	}
	old := xb.DotGeneralUseTF32
	xb.DotGeneralUseTF32 = true
	return func() { xb.DotGeneralUseTF32 = old }
}
