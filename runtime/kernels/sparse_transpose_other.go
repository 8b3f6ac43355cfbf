//go:build !amd64 || purego || noasm

package kernels

// transposeTiles leaves the whole matrix to transposeInto's loops.
func transposeTiles(dst []float32, ldd int, src []float32, lds, r, c int, beta float32) (rows, cols int) {
	return 0, 0
}
