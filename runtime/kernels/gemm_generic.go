package kernels

// kernelGeneric is the reference 6×16 micro-kernel (see kernel6x16AVX2 for
// the packed layouts):
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
// It walks the tile in 2×4 blocks so that the eight accumulators and the
// operands stay in registers.
func kernelGeneric(k int, a, b, c []float32, ldc int, beta float32) {
	a = a[:k*mr]
	b = b[:k*nr]
	_ = c[5*ldc+nr-1]
	for i := 0; i < mr; i += 2 {
		for j := 0; j < nr; j += 4 {
			var c00, c01, c02, c03, c10, c11, c12, c13 float32
			for p := 0; p < k; p++ {
				ap := a[p*mr+i : p*mr+i+2 : p*mr+i+2]
				bp := b[p*nr+j : p*nr+j+4 : p*nr+j+4]
				a0, a1 := ap[0], ap[1]
				b0, b1, b2, b3 := bp[0], bp[1], bp[2], bp[3]
				c00 += a0 * b0
				c01 += a0 * b1
				c02 += a0 * b2
				c03 += a0 * b3
				c10 += a1 * b0
				c11 += a1 * b1
				c12 += a1 * b2
				c13 += a1 * b3
			}
			r0 := c[i*ldc+j : i*ldc+j+4 : i*ldc+j+4]
			r1 := c[(i+1)*ldc+j : (i+1)*ldc+j+4 : (i+1)*ldc+j+4]
			if beta == 0 {
				r0[0], r0[1], r0[2], r0[3] = c00, c01, c02, c03
				r1[0], r1[1], r1[2], r1[3] = c10, c11, c12, c13
			} else {
				r0[0] = beta*r0[0] + c00
				r0[1] = beta*r0[1] + c01
				r0[2] = beta*r0[2] + c02
				r0[3] = beta*r0[3] + c03
				r1[0] = beta*r1[0] + c10
				r1[1] = beta*r1[1] + c11
				r1[2] = beta*r1[2] + c12
				r1[3] = beta*r1[3] + c13
			}
		}
	}
}

// packBTrans16Generic packs rows p0..kc-1 of a full 16-column sliver of
// op(B) = Bᵀ, where b starts at the sliver's first element:
//
//	dst[p*16+j] = b[j*ldb+p]
func packBTrans16Generic(dst, b []float32, ldb, p0, kc int) {
	for j := 0; j < nr; j++ {
		for p, v := range b[j*ldb+p0 : j*ldb+kc] {
			dst[(p0+p)*nr+j] = v
		}
	}
}

// packBCopy16Generic packs a full 16-column sliver of op(B) = B, where b
// starts at the sliver's first element:
//
//	dst[p*16+j] = b[p*ldb+j]
func packBCopy16Generic(dst, b []float32, ldb, kc int) {
	for p := 0; p < kc; p++ {
		*(*[nr]float32)(dst[p*nr:]) = [nr]float32(b[p*ldb : p*ldb+nr])
	}
}

// packA6Generic packs depths p0..kc-1 of a full 6-row sliver of
// alpha·op(A) = alpha·A, where a starts at the sliver's first element:
//
//	dst[p*6+i] = alpha * a[i*lda+p]
func packA6Generic(dst, a []float32, lda, p0, kc int, alpha float32) {
	r0 := a[p0:kc]
	r1 := a[lda+p0 : lda+kc]
	r2 := a[2*lda+p0 : 2*lda+kc]
	r3 := a[3*lda+p0 : 3*lda+kc]
	r4 := a[4*lda+p0 : 4*lda+kc]
	r5 := a[5*lda+p0 : 5*lda+kc]
	for p := range r0 {
		d := dst[(p0+p)*mr : (p0+p)*mr+mr : (p0+p)*mr+mr]
		d[0] = alpha * r0[p]
		d[1] = alpha * r1[p]
		d[2] = alpha * r2[p]
		d[3] = alpha * r3[p]
		d[4] = alpha * r4[p]
		d[5] = alpha * r5[p]
	}
}

// kernelEpGeneric is kernelGeneric followed by an epilogue that is a
// per-row bias and a clamp (Epilogue.clamp): row i of the tile becomes
// min(max(C + bias[i], lo), hi), a NaN staying NaN.
func kernelEpGeneric(k int, a, b, c []float32, ldc int, beta float32, bias []float32, lo, hi float32) {
	kernelGeneric(k, a, b, c, ldc, beta)
	for i, bi := range bias[:mr] {
		row := c[i*ldc : i*ldc+nr]
		for j, v := range row {
			v += bi
			if v < lo {
				v = lo
			}
			if v > hi {
				v = hi
			}
			row[j] = v
		}
	}
}
