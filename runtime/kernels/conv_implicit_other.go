//go:build !amd64 || purego || noasm

package kernels

// shiftedKernel forwards to shiftedKernelGeneric.
func shiftedKernel(_, k int, a, x []float32, off []int32, c []float32, ldc int, beta float32) {
	shiftedKernelGeneric(k, a, x, off, c, ldc, beta)
}
