//go:build noxla

package backend

import "github.com/gomlx/compute"

// defaultDotPrecision: without XLA there is no precision setting to change.
func defaultDotPrecision(compute.Backend) (restore func()) { return func() {} }
