//go:build !purego && !noasm

package kernels

// copyStride2AVX2 is
//
//	for i := 0; i < n; i++ {
//		dst[i] = src[2*i]
//	}
//
// for n a multiple of 8; it reads src[0 : 2*n].
//
//go:noescape
func copyStride2AVX2(dst, src *float32, n int)

// copyStride2 sets dst[i] = src[2·i] for i < len(dst); src holds at least
// 2·len(dst) - 1 values.
func copyStride2(dst, src []float32) {
	n8 := min(len(dst), len(src)/2) &^ 7
	if useAVX2FMA && n8 > 0 {
		copyStride2AVX2(&dst[0], &src[0], n8)
	} else {
		n8 = 0
	}
	copyStridedGeneric(dst[n8:], src[2*n8:], 2)
}
