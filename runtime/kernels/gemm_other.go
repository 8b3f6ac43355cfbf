//go:build !amd64 || purego || noasm

package kernels

// useAVX2FMA is always false without the amd64 assembly; it exists so that
// tests can toggle it on every build.
var useAVX2FMA = false

// microKernel forwards to kernelGeneric.
func microKernel(k int, a, b, c []float32, ldc int, beta float32) {
	kernelGeneric(k, a, b, c, ldc, beta)
}

// microKernelEp forwards to kernelEpGeneric.
func microKernelEp(k int, a, b, c []float32, ldc int, beta float32, bias []float32, lo, hi float32) {
	kernelEpGeneric(k, a, b, c, ldc, beta, bias, lo, hi)
}

// packBTrans16 forwards to packBTrans16Generic.
func packBTrans16(dst, b []float32, ldb, kc int) {
	packBTrans16Generic(dst, b, ldb, 0, kc)
}

// packBCopy16 forwards to packBCopy16Generic.
func packBCopy16(dst, b []float32, ldb, kc int) {
	packBCopy16Generic(dst, b, ldb, kc)
}

// packA6 forwards to packA6Generic.
func packA6(dst, a []float32, lda, kc int, alpha float32) {
	packA6Generic(dst, a, lda, 0, kc, alpha)
}
