//go:build !purego && !noasm

package kernels

// nm24PairsDotAVX2 is nm24PairsDotGeneric over passes passes starting at
// idx, val and y (row 0), for m rows of x (stride ldx bytes) and y
// (stride ldy bytes) and full whole chunks; with tail set, each pass ends
// with a chunk of x read under the lane mask.
//
//go:noescape
func nm24PairsDotAVX2(passes, full, tail int, idx *uint32, val *float32, x *float32, ldx, m int, y *float32, ldy int, shifts *uint32, mask *int32)

func nm24PairsDot(d *nm24Pairs, p0, p1 int, x []float32, ldx int, y []float32, ldy, m int) {
	if !useAVX2FMA || p0 >= p1 || m == 0 {
		nm24PairsDotGeneric(d, p0, p1, x, ldx, y, ldy, m)
		return
	}
	_ = x[(m-1)*ldx+d.cols-1]
	_ = y[(m-1)*ldy+8*(p1-p0)-1]
	q := p0 * d.chunks * 4
	rest := d.cols - 8*d.full
	nm24PairsDotAVX2(p1-p0, d.full, rest, &d.idx[q], &d.val[8*q], &x[0], 4*ldx, m, &y[0], 4*ldy,
		&nm24Shifts[0], &spMaskTable[8-rest])
}

// nm24TailAVX2 is nm24TailGeneric for pairs pairs from idx and val, with
// full whole chunks of x and, with tail set, a last chunk read under the
// lane mask; it writes 2·pairs floats to out.
//
//go:noescape
func nm24TailAVX2(pairs, full, tail int, idx *uint32, val *float32, x *float32, out *float32, shifts *uint32, mask *int32)

func nm24Tail(d *nm24Pairs, x []float32, out *[8]float32) {
	if !useAVX2FMA || d.tailPairs == 0 {
		nm24TailGeneric(d, x, out)
		return
	}
	_ = x[d.cols-1]
	rest := d.cols - 8*d.full
	nm24TailAVX2(d.tailPairs, d.full, rest, &d.tidx[0], &d.tval[0], &x[0], &out[0], &nm24Shifts[0], &spMaskTable[8-rest])
}
