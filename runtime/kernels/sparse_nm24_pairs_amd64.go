//go:build !purego && !noasm

package kernels

// nm24PairsDotAVX2 is nm24PairsDotGeneric over passes passes starting at
// idx, val and y, for x holding full whole chunks; with tail set, the last
// chunk of each pass reads the 8 floats at xt instead.
//
//go:noescape
func nm24PairsDotAVX2(passes, full, tail int, idx *uint32, val *float32, x, xt, y *float32, shifts *uint32)

func nm24PairsDot(d *nm24Pairs, p0, p1 int, x, y []float32) {
	if !useAVX2FMA || p0 >= p1 {
		nm24PairsDotGeneric(d, p0, p1, x, y)
		return
	}
	_ = y[8*p1-1]
	var xt [8]float32
	tail := d.chunks - d.full
	if tail > 0 {
		copy(xt[:], x[8*d.full:])
	}
	var xp *float32 // not read without a full chunk
	if d.full > 0 {
		_ = x[8*d.full-1]
		xp = &x[0]
	}
	q := p0 * d.chunks * 4
	nm24PairsDotAVX2(p1-p0, d.full, tail, &d.idx[q], &d.val[8*q], xp, &xt[0], &y[8*p0], &nm24Shifts[0])
}
