package train

import "math/bits"

// rng is a counter-based generator (SplitMix64): the n-th number depends
// only on seed and n, so its position is saved and restored exactly as
// (seed, counter).
type rng struct {
	seed, ctr uint64
}

func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Uint64 returns the next number.
func (r *rng) Uint64() uint64 {
	r.ctr++
	return mix64(r.seed + r.ctr*0x9e3779b97f4a7c15)
}

// Float32 returns a number in [0, 1).
func (r *rng) Float32() float32 { return float32(r.Uint64()>>40) / (1 << 24) }

// Intn returns a number in [0, n).
func (r *rng) Intn(n int) int {
	// Lemire's multiply-shift; the bias is below 2^-32 for n < 2^32.
	hi, _ := bits.Mul64(r.Uint64(), uint64(n))
	return int(hi)
}
