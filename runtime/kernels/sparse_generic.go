package kernels

// The reference sparse loops. The dispatchers csrMulDense, csrDot, …
// (sparse_amd64.go, sparse_other.go) pick these or the assembly. In every
// kernel c (or y) starts at the first row to compute, rowptr covers those
// rows only (len rows+1, absolute offsets into idx and val), and beta == 0
// overwrites the output without reading it.

// scaleRowGeneric is scaleRow without the assembly.
func scaleRowGeneric(beta float32, x []float32) {
	switch beta {
	case 0:
		clear(x)
	case 1:
	default:
		scaleGeneric(beta, x)
	}
}

// csrMulDenseGeneric computes, for each row r,
//
//	C[r, :n] = beta·C[r, :n] + Σ_q val[q]·B[idx[q], :n]   (q in rowptr[r]..rowptr[r+1]-1)
func csrMulDenseGeneric(rowptr, idx []int32, val, b []float32, ldb int, c []float32, ldc, n int, beta float32) {
	for r := 0; r+1 < len(rowptr); r++ {
		cr := c[r*ldc : r*ldc+n]
		scaleRowGeneric(beta, cr)
		q0, q1 := rowptr[r], rowptr[r+1]
		for q, k := range idx[q0:q1] {
			axpyGeneric(val[int(q0)+q], b[int(k)*ldb:int(k)*ldb+n], cr)
		}
	}
}

// csrDotGeneric computes, for each row r,
//
//	y[r] = beta·y[r] + Σ_q val[q]·x[idx[q]]
func csrDotGeneric(rowptr, idx []int32, val, x, y []float32, beta float32) {
	for r := 0; r+1 < len(rowptr); r++ {
		q0, q1 := rowptr[r], rowptr[r+1]
		vs := val[q0:q1]
		var s float32
		for q, k := range idx[q0:q1] {
			s += vs[q] * x[k]
		}
		if beta != 0 {
			s += beta * y[r]
		}
		y[r] = s
	}
}

// bsrMulDenseGeneric computes, for each row r and block q of it (columns
// k0 = idx[q] … k0+7, clipped to cols),
//
//	C[r, :n] = beta·C[r, :n] + Σ_q Σ_j val[8q+j]·B[k0+j, :n]
func bsrMulDenseGeneric(rowptr, idx []int32, val []float32, cols int, b []float32, ldb int, c []float32, ldc, n int, beta float32) {
	for r := 0; r+1 < len(rowptr); r++ {
		cr := c[r*ldc : r*ldc+n]
		scaleRowGeneric(beta, cr)
		for q := rowptr[r]; q < rowptr[r+1]; q++ {
			k0 := int(idx[q])
			for j, v := range val[8*q : 8*q+int32(min(8, cols-k0))] {
				if v != 0 {
					axpyGeneric(v, b[(k0+j)*ldb:(k0+j)*ldb+n], cr)
				}
			}
		}
	}
}

// bsrDotGeneric computes, for each row r,
//
//	y[r] = beta·y[r] + Σ_q Σ_j val[8q+j]·x[idx[q]+j]
func bsrDotGeneric(rowptr, idx []int32, val []float32, x, y []float32, beta float32) {
	for r := 0; r+1 < len(rowptr); r++ {
		var s float32
		for q := rowptr[r]; q < rowptr[r+1]; q++ {
			k0 := int(idx[q])
			xs := x[k0:min(k0+8, len(x))]
			for j, v := range val[8*q : 8*q+int32(len(xs))] {
				s += v * xs[j]
			}
		}
		if beta != 0 {
			s += beta * y[r]
		}
		y[r] = s
	}
}

// nmMulDenseGeneric computes, for each of rows rows with g groups of n
// values (row stride g·nn in val and off),
//
//	C[r, :n] = beta·C[r, :n] + Σ_g Σ_j val[r·g·nn+g·nn+j]·B[g·mm+off[…], :n]
func nmMulDenseGeneric(rows, groups, nn, mm int, off []uint8, val, b []float32, ldb int, c []float32, ldc, n int, beta float32) {
	stride := groups * nn
	for r := 0; r < rows; r++ {
		cr := c[r*ldc : r*ldc+n]
		scaleRowGeneric(beta, cr)
		vs, os := val[r*stride:(r+1)*stride], off[r*stride:(r+1)*stride]
		for q, v := range vs {
			if v != 0 {
				k := q/nn*mm + int(os[q])
				axpyGeneric(v, b[k*ldb:k*ldb+n], cr)
			}
		}
	}
}

// nmDotGeneric computes, for each row r,
//
//	y[r] = beta·y[r] + Σ_q val[r·stride+q]·x[(q/nn)·mm + off[r·stride+q]]
func nmDotGeneric(rows, groups, nn, mm int, off []uint8, val, x, y []float32, beta float32) {
	stride := groups * nn
	for r := 0; r < rows; r++ {
		vs, os := val[r*stride:(r+1)*stride], off[r*stride:(r+1)*stride]
		var s float32
		for g := 0; g < groups; g++ {
			xg := x[g*mm:]
			for j := g * nn; j < (g+1)*nn; j++ {
				s += vs[j] * xg[os[j]]
			}
		}
		if beta != 0 {
			s += beta * y[r]
		}
		y[r] = s
	}
}
