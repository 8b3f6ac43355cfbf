//go:build !amd64 || purego || noasm

package kernels

func nm24PairsDot(d *nm24Pairs, p0, p1 int, x []float32, ldx int, y []float32, ldy, m int) {
	nm24PairsDotGeneric(d, p0, p1, x, ldx, y, ldy, m)
}

func nm24Tail(d *nm24Pairs, x []float32, out *[8]float32) { nm24TailGeneric(d, x, out) }
