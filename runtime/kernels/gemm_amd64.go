//go:build !purego && !noasm

package kernels

import "golang.org/x/sys/cpu"

// useAVX2FMA selects the AVX2+FMA assembly kernels. Tests switch it off to
// compare the assembly against the generic Go code.
var useAVX2FMA bool

func init() {
	useAVX2FMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA
}

// kernel6x16AVX2 computes one 6×16 tile of C from a packed A sliver (k
// groups of 6 values, see packA) and a packed B sliver (k groups of 16
// values, see packB). It is
//
//	for i := 0; i < 6; i++ {
//		for j := 0; j < 16; j++ {
//			var s float32
//			for p := 0; p < k; p++ {
//				s += a[p*6+i] * b[p*16+j]
//			}
//			if beta == 0 {
//				c[i*ldc+j] = s
//			} else {
//				c[i*ldc+j] = beta*c[i*ldc+j] + s
//			}
//		}
//	}
//
// beta == 0 (of either sign) overwrites C without reading it. With a
// bias (6 values, one per row) it fuses the epilogue of kernelEpGeneric
// before storing: row i becomes min(max(C + bias[i], lo), hi).
//
//go:noescape
func kernel6x16AVX2(k int, a, b, c *float32, ldc int, beta float32, bias *float32, lo, hi float32)

// microKernel dispatches the 6×16 micro-kernel; c must hold 5*ldc+16
// elements and a, b at least k*mr and k*nr.
func microKernel(k int, a, b, c []float32, ldc int, beta float32) {
	if useAVX2FMA {
		_ = a[k*mr-1]
		_ = b[k*nr-1]
		_ = c[5*ldc+nr-1]
		kernel6x16AVX2(k, &a[0], &b[0], &c[0], ldc, beta, nil, 0, 0)
		return
	}
	kernelGeneric(k, a, b, c, ldc, beta)
}

// microKernelEp dispatches the micro-kernel with the fused epilogue (see
// kernelEpGeneric); bias holds the tile's 6 row biases.
func microKernelEp(k int, a, b, c []float32, ldc int, beta float32, bias []float32, lo, hi float32) {
	if useAVX2FMA {
		_ = a[k*mr-1]
		_ = b[k*nr-1]
		_ = c[5*ldc+nr-1]
		_ = bias[mr-1]
		kernel6x16AVX2(k, &a[0], &b[0], &c[0], ldc, beta, &bias[0], lo, hi)
		return
	}
	kernelEpGeneric(k, a, b, c, ldc, beta, bias, lo, hi)
}

// packBTransAVX2 packs the first kc8 (a multiple of 8) rows of a 16-column
// sliver of Bᵀ, 8×8 blocks at a time; it is
//
//	for p := 0; p < kc8; p++ {
//		for j := 0; j < 16; j++ {
//			dst[p*16+j] = b[j*ldb+p]
//		}
//	}
//
//go:noescape
func packBTransAVX2(dst, b *float32, ldb, kc8 int)

// packBTrans16 packs a full 16-column sliver of op(B) = Bᵀ (see packB).
func packBTrans16(dst, b []float32, ldb, kc int) {
	kc8 := kc &^ 7
	if useAVX2FMA && kc8 > 0 {
		_ = dst[kc*nr-1]
		_ = b[(nr-1)*ldb+kc-1]
		packBTransAVX2(&dst[0], &b[0], ldb, kc8)
	} else {
		kc8 = 0
	}
	packBTrans16Generic(dst, b, ldb, kc8, kc)
}

// packBCopyAVX2 packs a full 16-column sliver of op(B) = B; it is
//
//	for p := 0; p < kc; p++ {
//		for j := 0; j < 16; j++ {
//			dst[p*16+j] = b[p*ldb+j]
//		}
//	}
//
//go:noescape
func packBCopyAVX2(dst, b *float32, ldb, kc int)

// packBCopy16 packs a full 16-column sliver of op(B) = B (see packB).
func packBCopy16(dst, b []float32, ldb, kc int) {
	if useAVX2FMA {
		_ = dst[kc*nr-1]
		_ = b[(kc-1)*ldb+nr-1]
		packBCopyAVX2(&dst[0], &b[0], ldb, kc)
		return
	}
	packBCopy16Generic(dst, b, ldb, kc)
}

// packA6AVX2 packs the first kc8 (a multiple of 8) depths of a full 6-row
// sliver of alpha·op(A) = alpha·A; it is
//
//	for p := 0; p < kc8; p++ {
//		for i := 0; i < 6; i++ {
//			dst[p*6+i] = alpha * a[i*lda+p]
//		}
//	}
//
// except that it also writes zeros to dst[kc8*6] and dst[kc8*6+1], so
// callers pass kc8 < kc and fill depth kc8 afterwards.
//
//go:noescape
func packA6AVX2(dst, a *float32, lda, kc8 int, alpha float32)

// packA6 packs a full 6-row sliver of alpha·op(A) = alpha·A (see packA).
func packA6(dst, a []float32, lda, kc int, alpha float32) {
	kc8 := (kc - 1) &^ 7 // leave at least one depth for the generic tail
	if useAVX2FMA && kc8 > 0 {
		_ = dst[kc*mr-1]
		_ = a[(mr-1)*lda+kc-1]
		packA6AVX2(&dst[0], &a[0], lda, kc8, alpha)
	} else {
		kc8 = 0
	}
	packA6Generic(dst, a, lda, kc8, kc, alpha)
}
