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
