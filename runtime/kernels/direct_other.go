//go:build !amd64 || purego || noasm

package kernels

func stencil(dst, src, w []float32, offs []int, b float32) { stencilGeneric(dst, src, w, offs, b) }

func dot4(a, b []float32, offs *[4]int, out *[4]float32) { dot4Generic(a, b, offs, out) }
