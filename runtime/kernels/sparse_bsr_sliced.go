package kernels

import "sort"

// bsrSliced is a BSR8 matrix's nonzeros laid out for the batch-1 product
// (one x), eight rows at a time. Each row is cut again into 1×4 blocks
// (greedily, as NewBSR8 cuts 1×8 ones: a block starts at the first
// nonzero not yet covered, moved left to Cols-4 where it would cross the
// end), the rows are sorted by block count (most first) and cut into
// slices of eight, and step t of a slice holds blocks 2t and 2t+1 of each
// of its eight rows, side by side (a row with fewer blocks gets zero
// blocks at column 0). The kernel loads a row's two x[k:k+4] into the
// halves of one vector and does one FMA with its eight values, keeps one
// accumulator per row, runs one loop of steps[s] steps per slice rather
// than one per row, and sums the eight accumulators with one transposing
// reduction, so a row costs no loop exit and no horizontal sum of its own.
//
// Why 1×4 blocks in pairs rather than the 1×8 blocks themselves: the
// kernel streams the values from L2 (without the value loads it ran 1.6×
// faster), and at high sparsity most of a 1×8 block is zeros. On
// LeNet-300's fc1 at 96% zeros the pairs hold 23,400 values where the 1×8
// blocks hold 37,700, and the kernel is 1.21× the 1×8 one (which did one
// unaligned 8-wide load of x per block); 1.42× on a random 500×800 matrix
// at 97%, 1.07–1.09× at 90%, equal at 60–88% (the two 4-wide loads of x
// cost what the fewer values save).
type bsrSliced struct {
	rows, cols int
	steps      []int32   // steps of each slice
	idx        []uint16  // per step and lane, the columns of its two blocks
	val        []float32 // per step and lane, the 4+4 values of its two blocks
	perm       []int32   // row of each lane, -1 for the padding of the last slice
}

// maxSlicedCols bounds the columns of a bsrSliced matrix, whose block
// columns are uint16: the kernel then reads those of two lanes with one
// load, and with 10% fewer bytes ran 4% faster on LeNet-300's fc1 than
// with int32 columns. Wider matrices run the row-by-row BSR8 kernel.
const maxSlicedCols = 1 << 16

// bsrSlicedBlock is one 1×4 block: its first column and values.
type bsrSlicedBlock struct {
	k0  int32
	val [4]float32
}

// newBSRSliced lays out the dense rows×cols row-major matrix w; it needs
// 4 ≤ cols ≤ maxSlicedCols (padding blocks read x[0:4]).
func newBSRSliced(w []float32, rows, cols int) *bsrSliced {
	if cols < 4 || cols > maxSlicedCols || rows == 0 {
		return nil
	}
	blocks := make([][]bsrSlicedBlock, rows)
	for r := range blocks {
		row := w[r*cols : r*cols+cols]
		next := 0 // first column not yet covered
		for k := 0; k < cols; k++ {
			if k < next || row[k] == 0 {
				continue
			}
			b := bsrSlicedBlock{k0: int32(min(k, cols-4))}
			for j := max(int(b.k0), next); j < int(b.k0)+4; j++ {
				b.val[j-int(b.k0)] = row[j]
			}
			blocks[r] = append(blocks[r], b)
			next = int(b.k0) + 4
		}
	}
	order := make([]int32, rows)
	for r := range order {
		order[r] = int32(r)
	}
	sort.SliceStable(order, func(i, j int) bool { return len(blocks[order[i]]) > len(blocks[order[j]]) })
	nsl := (rows + 7) / 8
	d := &bsrSliced{rows: rows, cols: cols, steps: make([]int32, nsl), perm: make([]int32, 8*nsl)}
	for sl := 0; sl < nsl; sl++ {
		lanes := order[8*sl : min(8*sl+8, rows)]
		n := (len(blocks[lanes[0]]) + 1) / 2
		d.steps[sl] = int32(n)
		for i := range 8 {
			d.perm[8*sl+i] = -1
			if i < len(lanes) {
				d.perm[8*sl+i] = lanes[i]
			}
		}
		for t := 0; t < n; t++ {
			for i := range 8 {
				for h := 2 * t; h < 2*t+2; h++ {
					var b bsrSlicedBlock
					if i < len(lanes) && h < len(blocks[lanes[i]]) {
						b = blocks[lanes[i]][h]
					}
					d.idx = append(d.idx, uint16(b.k0))
					d.val = append(d.val, b.val[:]...)
				}
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
	return 4*(len(d.steps)+len(d.val)+len(d.perm)) + 2*len(d.idx)
}

// bsrSlicedDotGeneric computes y[perm[l]] = Σ_b val[b]·x[idx[b]:+4] over
// the blocks b of lane l, for every lane of every slice (see bsrSliced),
// for x of d.cols and y of d.rows elements.
func bsrSlicedDotGeneric(d *bsrSliced, x, y []float32) {
	q := 0 // first block of the step
	for sl, n := range d.steps {
		var acc [8]float32
		for t := int32(0); t < n; t++ {
			for i := range acc {
				for b := q + 2*i; b < q+2*i+2; b++ {
					k0 := int(d.idx[b])
					xs := x[k0 : k0+4]
					for j, v := range d.val[4*b : 4*b+4] {
						acc[i] += v * xs[j]
					}
				}
			}
			q += 16
		}
		for i, r := range d.perm[8*sl : 8*sl+8] {
			if r >= 0 {
				y[r] = acc[i]
			}
		}
	}
}
