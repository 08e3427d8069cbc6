//go:build !noxla

package backend

import (
	"errors"
	"testing"

	"github.com/gomlx/go-xla/compute/xla"
)

// BF16Products turns XLA's DEFAULT dot precision on only while fn runs, restores the backend's own
// setting afterwards (also when fn fails) and passes fn's error through.
func TestBF16ProductsScopesPrecision(t *testing.T) {
	for _, own := range []bool{false, true} {
		xb := &xla.Backend{DotGeneralUseTF32: own}
		inside := false
		boom := errors.New("boom")
		err := BF16Products(xb, func() error { inside = xb.DotGeneralUseTF32; return boom })
		if !errors.Is(err, boom) {
			t.Fatalf("own %v: error %v, want fn's", own, err)
		}
		if !inside {
			t.Errorf("own %v: DotGeneralUseTF32 was false inside fn; want true (DEFAULT precision)", own)
		}
		if xb.DotGeneralUseTF32 != own {
			t.Errorf("own %v: DotGeneralUseTF32 is %v after fn; want it restored", own, xb.DotGeneralUseTF32)
		}
	}
}
