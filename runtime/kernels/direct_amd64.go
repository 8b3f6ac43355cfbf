//go:build !purego && !noasm

package kernels

// stencilAVX2 is stencilGeneric with fused multiply-adds, for len(offs) >
// 0: 32 outputs at a time (four YMM accumulators over all taps), then 8,
// then one.
//
//go:noescape
func stencilAVX2(dst, src, w []float32, offs []int, b float32)

// dot2x4AVX2 sets out[4r+j] to the dot product of the k values at ar
// (a0, a1) and at bj (b0 … b3), for k a positive multiple of 8, with one
// YMM accumulator per row and column.
//
//go:noescape
func dot2x4AVX2(a0, a1 *float32, k int, b0, b1, b2, b3 *float32, out *[8]float32)

func stencil(dst, src, w []float32, offs []int, b float32) {
	if useAVX2FMA {
		stencilAVX2(dst, src, w, offs, b)
		return
	}
	stencilGeneric(dst, src, w, offs, b)
}

func dot2x4(a0, a1, b []float32, offs *[4]int, out *[8]float32) {
	if !useAVX2FMA {
		dot2x4Generic(a0, a1, b, offs, out)
		return
	}
	k := len(a0)
	k8 := k &^ 7
	*out = [8]float32{}
	if k8 > 0 {
		dot2x4AVX2(&a0[0], &a1[0], k8, &b[offs[0]], &b[offs[1]], &b[offs[2]], &b[offs[3]], out)
	}
	a1 = a1[:k]
	for j, o := range offs {
		s0, s1 := out[j], out[4+j]
		for p := k8; p < k; p++ {
			s0 += a0[p] * b[o+p]
			s1 += a1[p] * b[o+p]
		}
		out[j], out[4+j] = s0, s1
	}
}
