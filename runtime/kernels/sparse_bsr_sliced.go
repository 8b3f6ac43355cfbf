package kernels

import "sort"

// bsrSliced is a BSR8 matrix's blocks laid out for the batch-1 product
// (one x), eight rows at a time: the rows are sorted by block count
// (most first) and cut into slices of eight, and step t of a slice holds
// block t of each of its eight rows, side by side (a row with fewer
// blocks gets zero blocks at column 0). The kernel then keeps one
// accumulator per row of the slice, runs one loop of steps[s] steps per
// slice rather than one per row, and sums the eight accumulators with one
// transposing reduction, so a row costs no loop exit and no horizontal
// sum of its own: at LeNet-300's 95% sparsity, with 15 blocks per row,
// those were most of the row-by-row kernel's time.
type bsrSliced struct {
	rows, cols int
	steps      []int32   // steps of each slice
	idx        []int32   // per step, 8 block columns (lane i: row perm[8s+i])
	val        []float32 // per step, 8 blocks of 8 values
	perm       []int32   // row of each lane, -1 for the padding of the last slice
}

// newBSRSliced lays out s's blocks; it needs Cols ≥ 8 (padding blocks
// read x[0:8]).
func newBSRSliced(s *BSR8) *bsrSliced {
	if s.Cols < 8 || s.Rows == 0 {
		return nil
	}
	order := make([]int32, s.Rows)
	for r := range order {
		order[r] = int32(r)
	}
	count := func(r int32) int32 { return s.RowPtr[r+1] - s.RowPtr[r] }
	sort.SliceStable(order, func(i, j int) bool { return count(order[i]) > count(order[j]) })
	nsl := (s.Rows + 7) / 8
	d := &bsrSliced{rows: s.Rows, cols: s.Cols, steps: make([]int32, nsl), perm: make([]int32, 8*nsl)}
	for sl := 0; sl < nsl; sl++ {
		rows := order[8*sl : min(8*sl+8, s.Rows)]
		n := count(rows[0])
		d.steps[sl] = n
		for i := range 8 {
			d.perm[8*sl+i] = -1
			if i < len(rows) {
				d.perm[8*sl+i] = rows[i]
			}
		}
		for t := int32(0); t < n; t++ {
			for i := range 8 {
				var k0 int32
				var blk []float32
				if i < len(rows) && t < count(rows[i]) {
					q := s.RowPtr[rows[i]] + t
					k0, blk = s.ColIdx[q], s.Val[8*q:8*q+8]
				}
				d.idx = append(d.idx, k0)
				if blk == nil {
					blk = make([]float32, 8)
				}
				d.val = append(d.val, blk...)
			}
		}
	}
	return d
}

// bytes returns the memory the layout holds.
func (d *bsrSliced) bytes() int {
	if d == nil {
		return 0
	}
	return 4 * (len(d.steps) + len(d.idx) + len(d.val) + len(d.perm))
}

// bsrSlicedDotGeneric computes y[perm[l]] = Σ_t val[t, l]·x[idx[t, l]:+8]
// for every lane l of every slice (see bsrSliced), for x of d.cols and y
// of d.rows elements.
func bsrSlicedDotGeneric(d *bsrSliced, x, y []float32) {
	q := 0
	for sl, n := range d.steps {
		var acc [8]float32
		for t := int32(0); t < n; t++ {
			for i := range acc {
				xs := x[d.idx[q+i] : d.idx[q+i]+8]
				for j, v := range d.val[8*(q+i) : 8*(q+i)+8] {
					acc[i] += v * xs[j]
				}
			}
			q += 8
		}
		for i, r := range d.perm[8*sl : 8*sl+8] {
			if r >= 0 {
				y[r] = acc[i]
			}
		}
	}
}
