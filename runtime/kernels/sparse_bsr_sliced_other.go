//go:build !amd64 || purego || noasm

package kernels

func bsrSlicedDot(d *bsrSliced, x, y []float32) { bsrSlicedDotGeneric(d, x, y) }
