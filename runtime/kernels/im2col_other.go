//go:build !amd64 || purego || noasm

package kernels

// copyStride2 forwards to copyStridedGeneric.
func copyStride2(dst, src []float32) { copyStridedGeneric(dst, src, 2) }
