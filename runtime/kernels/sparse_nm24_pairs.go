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
}

// nm24Shifts moves lane l's nibble to the bottom of its lane.
var nm24Shifts = [8]uint32{0, 4, 8, 12, 16, 20, 24, 28}

// newNM24Pairs lays out the passes of the 2:4 matrix s (nil unless s is
// 2:4 with columns). A last pass of fewer than eight rows is padded with
// zero rows, so that a layer of ten outputs (LeNet's last) takes one
// kernel call rather than one pass and two rows by the row-by-row
// kernel, each with its own setup.
func newNM24Pairs(s *NM) *nm24Pairs {
	if s.N != 2 || s.M != 4 || s.Rows == 0 || s.Cols == 0 {
		return nil
	}
	d := &nm24Pairs{cols: s.Cols, passes: (s.Rows + 7) / 8, chunks: (s.Cols + 7) / 8, full: s.Cols / 8}
	st := s.Groups * 2
	for p := 0; p < d.passes; p++ {
		for c := 0; c < d.chunks; c++ {
			for pr := 0; pr < 4; pr++ {
				var word uint32
				for l := 0; l < 8; l++ {
					r := 8*p + pr + 4*(l/4)
					g := 2*c + l%4/2 // the chunk's first or second group
					var v float32
					var col uint32
					if g < s.Groups && r < s.Rows {
						q := r*st + 2*g + l%2
						v, col = s.Val[q], uint32(l%4/2*4)+uint32(s.Off[q])
					}
					word |= col << (4 * l)
					d.val = append(d.val, v)
				}
				d.idx = append(d.idx, word)
			}
		}
	}
	return d
}

func (d *nm24Pairs) bytes() int {
	if d == nil {
		return 0
	}
	return 4 * (len(d.idx) + len(d.val))
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
