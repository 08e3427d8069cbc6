// Package winrng holds the randomness shared by the training-data streams: one PCG generator per
// window, seeded from a hash of (stream seed, split, step, micro-batch, index in the batch), so a
// window is a pure function of its coordinates and never of how many windows were drawn before.
// Bounded integers and floats are derived here from the raw PCG output (rejection sampling, the
// top 53 bits), so the draws do not change with the standard library's algorithms.
package winrng

import (
	"hash/fnv"
	"math/rand/v2"
)

// Split names the part of a stream a window belongs to. Train and validation windows hash
// different inputs, so their seed spaces are disjoint.
type Split uint64

const (
	Train Split = 1
	Val   Split = 2
)

func (s Split) String() string {
	switch s {
	case Train:
		return "train"
	case Val:
		return "val"
	}
	return "split?"
}

// mix is the splitmix64 finalizer: a bijection on uint64 with good avalanche.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// Hash combines words into one 64-bit value, order-sensitive.
func Hash(words ...uint64) uint64 {
	h := uint64(0x6a09e667f3bcc908)
	for _, w := range words {
		h = mix(h + 0x9e3779b97f4a7c15 + mix(w))
	}
	return h
}

// HashString is Hash of a string (FNV-1a 64) with the given words, e.g. to key a document by
// its ID.
func HashString(s string, words ...uint64) uint64 {
	f := fnv.New64a()
	f.Write([]byte(s))
	return Hash(append([]uint64{f.Sum64()}, words...)...)
}

// Rand is a PCG generator with the bounded draws the streams need.
type Rand struct{ pcg rand.PCG }

// New returns the generator of one window. stream separates the uses of one seed by different
// kinds of data (each package has its own constant).
func New(stream, seed uint64, split Split, step, micro, index int) *Rand {
	r := &Rand{}
	r.Reset(stream, seed, split, step, micro, index)
	return r
}

// Reset reseeds r in place for another window (no allocation).
func (r *Rand) Reset(stream, seed uint64, split Split, step, micro, index int) {
	h := Hash(stream, seed, uint64(split), uint64(step), uint64(micro), uint64(index))
	r.pcg.Seed(h, mix(h^stream))
}

// Uint64 is the raw PCG output.
func (r *Rand) Uint64() uint64 { return r.pcg.Uint64() }

// Float64 is uniform on [0, 1): the top 53 bits of one PCG output times 2^-53.
func (r *Rand) Float64() float64 { return float64(r.pcg.Uint64()>>11) * 0x1p-53 }

// Below returns an unbiased integer in [0, n), n > 0, by rejection sampling.
func (r *Rand) Below(n int) int {
	m := uint64(n)
	threshold := -m % m // 2^64 mod m
	for {
		if x := r.pcg.Uint64(); x >= threshold {
			return int(x % m)
		}
	}
}
