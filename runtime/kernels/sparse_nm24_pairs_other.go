//go:build !amd64 || purego || noasm

package kernels

func nm24PairsDot(d *nm24Pairs, p0, p1 int, x, y []float32) {
	nm24PairsDotGeneric(d, p0, p1, x, y)
}
