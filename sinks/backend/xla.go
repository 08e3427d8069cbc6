//go:build !noxla

package backend

// The XLA backend (PJRT plugins such as CUDA). It is only used when $GOMLX_BACKEND names it; no plugin
// is ever downloaded (set GOMLX_NO_AUTO_INSTALL=1 on machines without network).
import _ "github.com/gomlx/go-xla/compute/xla"
