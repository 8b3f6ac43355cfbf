package kernels

// nm24Pairs is a 2:4 matrix's values laid out for the batch-1 product,
// eight rows (a pass) at a time. x is read in chunks of 8 columns (two
// groups, four values of each row), and rows p and p+4 of a pass are
// paired: their four values each sit side by side in one 8-lane vector,
// with the eight column numbers within the chunk (0…7) as the nibbles of
// one uint32. The kernel broadcasts that word, shifts lane l's nibble
// down (VPERMPS ignores the other bits), permutes the x chunk with it and
// does one FMA: one permute per 8 values, where the row-by-row 2:4
// kernel needs an offset decode, two in-lane permutes and a blend, and
// 4.5 bytes per value instead of 5. The four accumulators of a pass sum
// to its eight outputs in order with three horizontal adds.
type nm24Pairs struct {
	cols           int
	passes, chunks int      // chunks = ceil(Cols/8), the last one possibly partial
	full           int      // chunks that lie inside x (the last is partial otherwise)
	idx            []uint32 // per pass, chunk and pair: the lanes' columns within the chunk
	val            []float32

	// The tail: the last Rows%8 rows, in pairs of consecutive rows (the
	// second one zero when the count is odd), each pair over all chunks,
	// so that ten outputs cost five pairs per chunk rather than a pass of
	// eight padded with zero rows.
	tailRows  int
	tailPairs int
	tidx      []uint32 // per pair and chunk
	tval      []float32
}

// nm24Shifts moves lane l's nibble to the bottom of its lane.
var nm24Shifts = [8]uint32{0, 4, 8, 12, 16, 20, 24, 28}

// newNM24Pairs lays out the passes and the tail of the 2:4 matrix s (nil
// unless s is 2:4 with columns).
func newNM24Pairs(s *NM) *nm24Pairs {
	if s.N != 2 || s.M != 4 || s.Rows == 0 || s.Cols == 0 {
		return nil
	}
	d := &nm24Pairs{cols: s.Cols, passes: s.Rows / 8, chunks: (s.Cols + 7) / 8, full: s.Cols / 8}
	d.tailRows = s.Rows % 8
	d.tailPairs = (d.tailRows + 1) / 2
	st := s.Groups * 2
	// pair appends the chunk c of the rows whose lanes 0–3 and 4–7 hold
	// rows r0 and r1 (zero beyond the matrix).
	pair := func(idx []uint32, val []float32, c, r0, r1 int) ([]uint32, []float32) {
		var word uint32
		for l := 0; l < 8; l++ {
			r := r0
			if l >= 4 {
				r = r1
			}
			g := 2*c + l%4/2 // the chunk's first or second group
			var v float32
			var col uint32
			if g < s.Groups && r < s.Rows {
				q := r*st + 2*g + l%2
				v, col = s.Val[q], uint32(l%4/2*4)+uint32(s.Off[q])
			}
			word |= col << (4 * l)
			val = append(val, v)
		}
		return append(idx, word), val
	}
	for p := 0; p < d.passes; p++ {
		for c := 0; c < d.chunks; c++ {
			for pr := 0; pr < 4; pr++ {
				d.idx, d.val = pair(d.idx, d.val, c, 8*p+pr, 8*p+pr+4)
			}
		}
	}
	for j := 0; j < d.tailPairs; j++ {
		r := 8*d.passes + 2*j
		for c := 0; c < d.chunks; c++ {
			d.tidx, d.tval = pair(d.tidx, d.tval, c, r, r+1)
		}
	}
	return d
}

func (d *nm24Pairs) bytes() int {
	if d == nil {
		return 0
	}
	return 4 * (len(d.idx) + len(d.val) + len(d.tidx) + len(d.tval))
}

// nm24TailGeneric computes the tail's outputs, rows 8·passes… of W times
// x, into out[:tailRows] (out[tailRows] may be written too).
func nm24TailGeneric(d *nm24Pairs, x []float32, out *[8]float32) {
	for j := 0; j < d.tailPairs; j++ {
		var a, b float32
		for c := 0; c < d.chunks; c++ {
			var xc [8]float32
			copy(xc[:], x[8*c:d.cols])
			q := j*d.chunks + c
			word := d.tidx[q]
			for l := 0; l < 8; l++ {
				v := d.tval[8*q+l] * xc[word>>(4*l)&7]
				if l < 4 {
					a += v
				} else {
					b += v
				}
			}
		}
		out[2*j], out[2*j+1] = a, b
	}
}

// nm24PairsDotGeneric computes Y[i, 8(p-p0):8(p-p0)+8] = rows 8p… of W
// times X[i, :] for the passes [p0, p1) and the m rows of X (stride ldx)
// and Y (stride ldy): y starts at output 8·p0.
func nm24PairsDotGeneric(d *nm24Pairs, p0, p1 int, x []float32, ldx int, y []float32, ldy, m int) {
	for i := 0; i < m; i++ {
		xi := x[i*ldx : i*ldx+d.cols]
		for p := p0; p < p1; p++ {
			var acc [8]float32
			for c := 0; c < d.chunks; c++ {
				var xc [8]float32
				copy(xc[:], xi[8*c:])
				for pr := 0; pr < 4; pr++ {
					q := (p*d.chunks+c)*4 + pr
					word := d.idx[q]
					for l := 0; l < 8; l++ {
						acc[pr+4*(l/4)] += d.val[8*q+l] * xc[word>>(4*l)&7]
					}
				}
			}
			copy(y[i*ldy+8*(p-p0):i*ldy+8*(p-p0)+8], acc[:])
		}
	}
}
