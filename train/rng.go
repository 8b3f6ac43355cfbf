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

// permutation fills perm with a permutation of 0..len(perm)-1 that depends
// only on seed and epoch (Fisher–Yates over its own stream).
func permutation(perm []int, seed uint64, epoch int) {
	r := rng{seed: mix64(seed^0x5eed) + uint64(epoch)*0xd1b54a32d192ed03}
	for i := range perm {
		perm[i] = i
	}
	for i := len(perm) - 1; i > 0; i-- {
		j := r.Intn(i + 1)
		perm[i], perm[j] = perm[j], perm[i]
	}
}
