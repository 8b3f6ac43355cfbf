package kernels

import "fmt"

// BSR8 is a Rows×Cols matrix stored as 1×8 blocks along each row: block q
// of row r holds W(r, k0 … k0+7) in Val[8q:8q+8], with k0 = ColIdx[q], and
// the blocks of row r are RowPtr[r] … RowPtr[r+1]-1. Blocks do not overlap
// and are cut greedily, each starting at the first nonzero not yet covered
// (moved left to Cols-8 where it would cross the end, its already covered
// columns then held as zeros), so they need not be 8-aligned:
//
//	row:    0 a 0 0 0 0 0 0 0 b c 0 …
//	blocks: [a 0 0 0 0 0 0 0] at k0 = 1, [b c 0 0 0 0 0 0] at k0 = 9
//
// Why 1×8 rather than 4×4 or 8×1: with one row per block the batch-1
// product is a plain 8-wide dot product of Val with x[k0:k0+8] (one
// unaligned load, no gather), and one index serves eight values. At
// unstructured sparsity s a random block is nonempty with probability
// 1-s^b, so 8-value blocks waste less than 16-value ones (at 95%: 34% of
// 1×8 blocks vs 56% of 4×4 blocks), and greedy unaligned cutting lowers the
// count further; magnitude-pruned layers are also more clustered along K
// (dead input pixels or channels) than across output rows. On real pruned
// weights BSR8 still stores several times more values than CSR above
// ~90% sparsity, so it pays mainly at moderate sparsity and batch 1; the
// measured break-even points are in sparse_doc.go. (At batch 1 a matrix
// from NewBSR8 runs on a copy in 1×4 blocks, which holds fewer zeros: see
// bsrSliced.)
type BSR8 struct {
	Rows, Cols int
	RowPtr     []int32   // len Rows+1, in blocks
	ColIdx     []int32   // first column of each block
	Val        []float32 // 8 per block

	// Threads bounds the goroutines of one product; 0 means GOMAXPROCS.
	Threads int

	// sliced is the batch-1 layout NewBSR8 adds (nil for a matrix
	// assembled by hand, which runs the row-by-row kernel).
	sliced *bsrSliced
}

// NewBSR8 returns the 1×8 block form of the dense rows×cols row-major
// matrix w, with a block for every run of up to 8 columns that starts with
// a nonzero (exact zeros are dropped as in NewCSR).
func NewBSR8(w []float32, rows, cols int) *BSR8 {
	checkMatrix("NewBSR8", "w", rows, cols, w, max(cols, 1))
	s := &BSR8{Rows: rows, Cols: cols, RowPtr: make([]int32, rows+1)}
	for r := 0; r < rows; r++ {
		row := w[r*cols : r*cols+cols]
		next := 0 // first column not yet covered
		for k := 0; k < cols; k++ {
			if k < next || row[k] == 0 {
				continue
			}
			k0 := max(0, min(k, cols-8))
			var blk [8]float32
			for j := max(k0, next); j < min(k0+8, cols); j++ {
				blk[j-k0] = row[j]
			}
			s.ColIdx = append(s.ColIdx, int32(k0))
			s.Val = append(s.Val, blk[:]...)
			next = k0 + 8
		}
		if len(s.ColIdx) > 1<<31-1 {
			panic(fmt.Sprintf("kernels: NewBSR8: %d blocks overflow int32", len(s.ColIdx)))
		}
		s.RowPtr[r+1] = int32(len(s.ColIdx))
	}
	s.sliced = newBSRSliced(w, rows, cols)
	return s
}

// Dims returns Rows, Cols.
func (s *BSR8) Dims() (rows, cols int) { return s.Rows, s.Cols }

// NNZ returns len(Val), eight per block.
func (s *BSR8) NNZ() int { return len(s.Val) }

// Bytes returns 36 bytes per block plus the row pointers, and for a
// matrix from NewBSR8 the batch-1 layout (a copy of the values in 1×4
// blocks, 18 bytes per block).
func (s *BSR8) Bytes() int {
	return 4*len(s.Val) + 4*len(s.ColIdx) + 4*len(s.RowPtr) + s.sliced.bytes()
}

// Format returns "bsr1x8".
func (s *BSR8) Format() string { return "bsr1x8" }

// Validate checks RowPtr, the lengths, and that every block lies in
// [0, Cols) (or starts at 0 when Cols < 8).
func (s *BSR8) Validate() error {
	if s.Rows < 0 || s.Cols < 0 {
		return sparseFormatError("bsr1x8", "negative shape %d×%d", s.Rows, s.Cols)
	}
	if len(s.RowPtr) != s.Rows+1 || s.RowPtr[0] != 0 {
		return sparseFormatError("bsr1x8", "RowPtr has length %d for %d rows or does not start at 0", len(s.RowPtr), s.Rows)
	}
	nb := int(s.RowPtr[s.Rows])
	if len(s.ColIdx) != nb || len(s.Val) != 8*nb {
		return sparseFormatError("bsr1x8", "RowPtr ends at %d but len(ColIdx) = %d, len(Val) = %d", nb, len(s.ColIdx), len(s.Val))
	}
	for r := 0; r < s.Rows; r++ {
		if s.RowPtr[r+1] < s.RowPtr[r] {
			return sparseFormatError("bsr1x8", "RowPtr decreases at row %d", r)
		}
	}
	for q, k := range s.ColIdx {
		if k < 0 || int(k)+min(8, s.Cols) > s.Cols {
			return sparseFormatError("bsr1x8", "block %d at column %d does not fit %d columns", q, k, s.Cols)
		}
	}
	return nil
}

// MulDense computes C = ep(W·B + beta·C); see SparseMatrix.
func (s *BSR8) MulDense(c []float32, ldc int, b []float32, ldb, p int, beta float32, ep *Epilogue) {
	s.checkShape()
	sparseMulDense(s, s.Threads, c, ldc, b, ldb, p, beta, ep)
}

// MulVecBatch computes Y = ep(X·Wᵀ + beta·Y); see SparseMatrix.
func (s *BSR8) MulVecBatch(y []float32, ldy int, x []float32, ldx, m int, beta float32, ep *Epilogue) {
	s.checkShape()
	sparseMulVecBatch(s, s.Threads, y, ldy, x, ldx, m, beta, ep)
}

func (s *BSR8) checkShape() {
	if s.Rows < 0 || s.Cols < 0 || len(s.RowPtr) != s.Rows+1 ||
		int(s.RowPtr[s.Rows]) > min(len(s.ColIdx), len(s.Val)/8) {
		panic("kernels: BSR8: RowPtr does not match Rows, ColIdx and Val (see Validate)")
	}
}

// transposeMin: see BenchmarkSparseVecBatchM (sparse_doc.go).
func (s *BSR8) transposeMin() int { return 8 }

func (s *BSR8) dims() (int, int)  { return s.Rows, s.Cols }
func (s *BSR8) rowWork(r int) int { return 8 * int(s.RowPtr[r]) }

func (s *BSR8) mulRows(r0, r1 int, b []float32, ldb int, c []float32, ldc, n int, beta float32) {
	bsrMulDense(s.RowPtr[r0:r1+1], s.ColIdx, s.Val, s.Cols, b, ldb, c[r0*ldc:], ldc, n, beta)
}

func (s *BSR8) dotRows(r0, r1 int, x, y []float32, beta float32) {
	if s.sliced != nil && r0 == 0 && r1 == s.Rows && beta == 0 {
		bsrSlicedDot(s.sliced, x, y)
		return
	}
	bsrDot(s.RowPtr[r0:r1+1], s.ColIdx, s.Val, x, y[r0:r1], beta)
}
