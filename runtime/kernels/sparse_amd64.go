//go:build !purego && !noasm

package kernels

// The sparse dispatchers forward to the generic loops without the amd64
// assembly.

func csrMulDense(rowptr, idx []int32, val, b []float32, ldb int, c []float32, ldc, n int, beta float32) {
	csrMulDenseGeneric(rowptr, idx, val, b, ldb, c, ldc, n, beta)
}

func csrDot(rowptr, idx []int32, val, x, y []float32, beta float32) {
	csrDotGeneric(rowptr, idx, val, x, y, beta)
}

func bsrMulDense(rowptr, idx []int32, val []float32, cols int, b []float32, ldb int, c []float32, ldc, n int, beta float32) {
	bsrMulDenseGeneric(rowptr, idx, val, cols, b, ldb, c, ldc, n, beta)
}

func bsrDot(rowptr, idx []int32, val, x, y []float32, beta float32) {
	bsrDotGeneric(rowptr, idx, val, x, y, beta)
}

func nmMulDense(rows, groups, nn, mm int, off []uint8, val, b []float32, ldb int, c []float32, ldc, n int, beta float32) {
	nmMulDenseGeneric(rows, groups, nn, mm, off, val, b, ldb, c, ldc, n, beta)
}

func nmDot(rows, groups, nn, mm int, off []uint8, val, x, y []float32, beta float32) {
	nmDotGeneric(rows, groups, nn, mm, off, val, x, y, beta)
}
