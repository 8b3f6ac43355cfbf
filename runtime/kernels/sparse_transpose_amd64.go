//go:build !purego && !noasm

package kernels

// transpose8AVX2 transposes the (8·r8)×(8·c8) block of src (row stride
// lds bytes) into dst (row stride ldd bytes); it is
//
//	for i := 0; i < 8*r8; i++ {
//		for j := 0; j < 8*c8; j++ {
//			if beta == 0 {
//				dst[j*ldd+i] = src[i*lds+j]
//			} else {
//				dst[j*ldd+i] = beta*dst[j*ldd+i] + src[i*lds+j]
//			}
//		}
//	}
//
// with the strides counted in elements in the loop.
//
//go:noescape
func transpose8AVX2(dst *float32, ldd int, src *float32, lds int, r8, c8 int, beta float32)

// transposeTiles transposes the whole 8×8 tiles of the r×c matrix src
// into dst (see transposeInto) and returns how many rows and columns of
// src it covered.
func transposeTiles(dst []float32, ldd int, src []float32, lds, r, c int, beta float32) (rows, cols int) {
	r8, c8 := r/8, c/8
	if !useAVX2FMA || r8 == 0 || c8 == 0 {
		return 0, 0
	}
	_ = src[(8*r8-1)*lds+8*c8-1]
	_ = dst[(8*c8-1)*ldd+8*r8-1]
	transpose8AVX2(&dst[0], 4*ldd, &src[0], 4*lds, r8, c8, beta)
	return 8 * r8, 8 * c8
}
