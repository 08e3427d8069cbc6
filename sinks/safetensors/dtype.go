package safetensors

import (
	"encoding/binary"
	"fmt"
	"math"
)

// DType is an element type, spelled as in the safetensors header.
type DType string

const (
	BOOL    DType = "BOOL"
	U8      DType = "U8"
	I8      DType = "I8"
	F8E5M2  DType = "F8_E5M2"
	F8E4M3  DType = "F8_E4M3" // the "fn" variant: no infinities, a single NaN mantissa
	I16     DType = "I16"
	U16     DType = "U16"
	F16     DType = "F16"
	BF16    DType = "BF16"
	I32     DType = "I32"
	U32     DType = "U32"
	F32     DType = "F32"
	F64     DType = "F64"
	I64     DType = "I64"
	U64     DType = "U64"
	Invalid DType = ""
)

var dtypeSizes = map[DType]int{
	BOOL: 1, U8: 1, I8: 1, F8E5M2: 1, F8E4M3: 1,
	I16: 2, U16: 2, F16: 2, BF16: 2,
	I32: 4, U32: 4, F32: 4,
	F64: 8, I64: 8, U64: 8,
}

// Size is the number of bytes of one element, or 0 for an unknown dtype.
func (d DType) Size() int { return dtypeSizes[d] }

// Known reports whether d is a dtype this package understands.
func (d DType) Known() bool { return dtypeSizes[d] > 0 }

// IsFloat reports whether d is a floating-point dtype.
func (d DType) IsFloat() bool {
	switch d {
	case F8E5M2, F8E4M3, F16, BF16, F32, F64:
		return true
	}
	return false
}

// BFloat16ToFloat32 converts bfloat16 bits to float32. It is exact.
func BFloat16ToFloat32(b uint16) float32 { return math.Float32frombits(uint32(b) << 16) }

// Float32ToBFloat16 converts a float32 to bfloat16 bits, rounding to nearest, ties to even.
// Infinities are kept; NaNs stay NaN (quiet, sign kept); values beyond the bfloat16 range
// round to ±Inf.
func Float32ToBFloat16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7f800000 == 0x7f800000 {
		if b&0x007fffff != 0 { // NaN: keep it a NaN even if the payload sits in the dropped bits.
			return uint16(b>>16) | 0x0040
		}
		return uint16(b >> 16)
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// Float16ToFloat32 converts IEEE 754 binary16 bits to float32. It is exact, subnormals included.
func Float16ToFloat32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f: // Inf or NaN
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp == 0:
		if mant == 0 {
			return math.Float32frombits(sign)
		}
		// Subnormal: mant · 2^-24, exactly representable in float32.
		v := float32(mant) * (1.0 / (1 << 24))
		if sign != 0 {
			v = -v
		}
		return v
	default:
		return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
	}
}

// Float32ToFloat16 converts a float32 to IEEE 754 binary16 bits, rounding to nearest, ties to even.
// Values beyond the float16 range become ±Inf; NaNs stay NaN.
func Float32ToFloat16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant != 0 {
			return sign | 0x7e00 | uint16(mant>>13)
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		// Subnormal or zero in float16: shift the full significand (with its implicit 1).
		if e < -10 {
			return sign // rounds to ±0 (below half of the smallest subnormal)
		}
		m := mant | 0x800000
		shift := uint32(14 - e) // 13 bits of mantissa difference + (1 - e)
		half := uint32(1) << (shift - 1)
		rest := m & (1<<shift - 1)
		r := m >> shift
		if rest > half || (rest == half && r&1 == 1) {
			r++
		}
		return sign | uint16(r)
	}
	r := uint32(e)<<10 | mant>>13
	rest := mant & 0x1fff
	if rest > 0x1000 || (rest == 0x1000 && r&1 == 1) {
		r++ // may carry into the exponent, up to Inf: that is the correct rounding.
	}
	return sign | uint16(r)
}

// Float8E5M2ToFloat32 converts an F8_E5M2 byte to float32 (it is the high byte of a float16).
func Float8E5M2ToFloat32(b uint8) float32 { return Float16ToFloat32(uint16(b) << 8) }

// Float8E4M3ToFloat32 converts an F8_E4M3 ("e4m3fn": bias 7, no infinities, S.1111.111 is NaN)
// byte to float32.
func Float8E4M3ToFloat32(b uint8) float32 {
	sign := float32(1)
	if b&0x80 != 0 {
		sign = -1
	}
	exp := int(b>>3) & 0xf
	mant := int(b & 7)
	if exp == 0xf && mant == 7 {
		return float32(math.NaN())
	}
	if exp == 0 {
		return sign * float32(mant) / 8 * (1.0 / 64) // subnormal: mant/8 · 2^-6
	}
	return sign * float32(math.Ldexp(1+float64(mant)/8, exp-7))
}

// DecodeFloat32 converts len(dst) little-endian elements of dtype d from src to float32.
// src must hold exactly len(dst)·d.Size() bytes. Integers are converted to the nearest float32,
// BOOL to 0 or 1.
func DecodeFloat32(d DType, src []byte, dst []float32) error {
	size := d.Size()
	if size == 0 {
		return fmt.Errorf("safetensors: unknown dtype %q", string(d))
	}
	if len(src) != len(dst)*size {
		return fmt.Errorf("safetensors: %d bytes of %s cannot be %d elements", len(src), d, len(dst))
	}
	le := binary.LittleEndian
	switch d {
	case F32:
		for i := range dst {
			dst[i] = math.Float32frombits(le.Uint32(src[4*i:]))
		}
	case BF16:
		for i := range dst {
			dst[i] = BFloat16ToFloat32(le.Uint16(src[2*i:]))
		}
	case F16:
		for i := range dst {
			dst[i] = Float16ToFloat32(le.Uint16(src[2*i:]))
		}
	case F64:
		for i := range dst {
			dst[i] = float32(math.Float64frombits(le.Uint64(src[8*i:])))
		}
	case F8E5M2:
		for i := range dst {
			dst[i] = Float8E5M2ToFloat32(src[i])
		}
	case F8E4M3:
		for i := range dst {
			dst[i] = Float8E4M3ToFloat32(src[i])
		}
	case BOOL:
		for i := range dst {
			if src[i] != 0 {
				dst[i] = 1
			} else {
				dst[i] = 0
			}
		}
	case U8:
		for i := range dst {
			dst[i] = float32(src[i])
		}
	case I8:
		for i := range dst {
			dst[i] = float32(int8(src[i]))
		}
	case I16:
		for i := range dst {
			dst[i] = float32(int16(le.Uint16(src[2*i:])))
		}
	case U16:
		for i := range dst {
			dst[i] = float32(le.Uint16(src[2*i:]))
		}
	case I32:
		for i := range dst {
			dst[i] = float32(int32(le.Uint32(src[4*i:])))
		}
	case U32:
		for i := range dst {
			dst[i] = float32(le.Uint32(src[4*i:]))
		}
	case I64:
		for i := range dst {
			dst[i] = float32(int64(le.Uint64(src[8*i:])))
		}
	case U64:
		for i := range dst {
			dst[i] = float32(le.Uint64(src[8*i:]))
		}
	default:
		return fmt.Errorf("safetensors: cannot convert dtype %s to float32", d)
	}
	return nil
}

// EncodeFloat32 converts values to little-endian bytes of dtype d, which must be F32, F64, BF16 or
// F16 (the half-precision formats round to nearest, ties to even).
func EncodeFloat32(d DType, values []float32) ([]byte, error) {
	le := binary.LittleEndian
	out := make([]byte, len(values)*d.Size())
	switch d {
	case F32:
		for i, v := range values {
			le.PutUint32(out[4*i:], math.Float32bits(v))
		}
	case F64:
		for i, v := range values {
			le.PutUint64(out[8*i:], math.Float64bits(float64(v)))
		}
	case BF16:
		for i, v := range values {
			le.PutUint16(out[2*i:], Float32ToBFloat16(v))
		}
	case F16:
		for i, v := range values {
			le.PutUint16(out[2*i:], Float32ToFloat16(v))
		}
	default:
		return nil, fmt.Errorf("safetensors: cannot encode float32 values as %q (F32, F64, BF16 or F16)", string(d))
	}
	return out, nil
}
