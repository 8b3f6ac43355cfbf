//go:build !amd64 || purego || noasm

package kernels

func stencil(dst, src, w []float32, offs []int, b float32) { stencilGeneric(dst, src, w, offs, b) }

func dot2x4(a0, a1, b []float32, offs *[4]int, out *[8]float32) {
	dot2x4Generic(a0, a1, b, offs, out)
}
