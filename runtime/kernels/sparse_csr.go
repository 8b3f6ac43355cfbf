package kernels

import "fmt"

// CSR is a Rows×Cols matrix in compressed sparse row form: the nonzeros of
// row r are Val[RowPtr[r]:RowPtr[r+1]], in columns ColIdx[RowPtr[r]:…]
// (increasing within a row).
//
//	W = [a 0 0 b]     RowPtr = [0 2 3]
//	    [0 0 c 0]     ColIdx = [0 3 2]
//	                  Val    = [a b c]
//
// MulDense adds w·B[k, :] to C[r, :] for each nonzero w = W(r, k), with the
// AVX2 kernel holding up to 64 columns of C[r, :] in registers across the
// whole row; MulVecBatch gathers x[k] for each nonzero (m = 1) or runs the
// same kernel on Xᵀ.
type CSR struct {
	Rows, Cols int
	RowPtr     []int32 // len Rows+1, RowPtr[0] = 0
	ColIdx     []int32 // len RowPtr[Rows]
	Val        []float32

	// Threads bounds the goroutines of one product; 0 means GOMAXPROCS.
	Threads int
}

// NewCSR returns the CSR form of the dense rows×cols row-major matrix w,
// dropping exact zeros (±0; NaN is kept).
func NewCSR(w []float32, rows, cols int) *CSR {
	checkMatrix("NewCSR", "w", rows, cols, w, max(cols, 1))
	nnz := 0
	for _, v := range w[:rows*cols] {
		if v != 0 {
			nnz++
		}
	}
	if nnz > 1<<31-1 {
		panic(fmt.Sprintf("kernels: NewCSR: %d nonzeros overflow int32", nnz))
	}
	s := &CSR{
		Rows: rows, Cols: cols,
		RowPtr: make([]int32, rows+1),
		ColIdx: make([]int32, 0, nnz),
		Val:    make([]float32, 0, nnz),
	}
	for r := 0; r < rows; r++ {
		for k, v := range w[r*cols : r*cols+cols] {
			if v != 0 {
				s.ColIdx = append(s.ColIdx, int32(k))
				s.Val = append(s.Val, v)
			}
		}
		s.RowPtr[r+1] = int32(len(s.Val))
	}
	return s
}

// Dims returns Rows, Cols.
func (s *CSR) Dims() (rows, cols int) { return s.Rows, s.Cols }

// NNZ returns len(Val).
func (s *CSR) NNZ() int { return len(s.Val) }

// Bytes returns 8 bytes per nonzero (value and column) plus the row
// pointers.
func (s *CSR) Bytes() int { return 4*len(s.Val) + 4*len(s.ColIdx) + 4*len(s.RowPtr) }

// Format returns "csr".
func (s *CSR) Format() string { return "csr" }

// Validate checks that RowPtr is a non-decreasing partition of ColIdx and
// Val and that every column index is in [0, Cols).
func (s *CSR) Validate() error {
	if s.Rows < 0 || s.Cols < 0 {
		return sparseFormatError("csr", "negative shape %d×%d", s.Rows, s.Cols)
	}
	if len(s.RowPtr) != s.Rows+1 || s.RowPtr[0] != 0 {
		return sparseFormatError("csr", "RowPtr has length %d for %d rows or does not start at 0", len(s.RowPtr), s.Rows)
	}
	nnz := int(s.RowPtr[s.Rows])
	if len(s.ColIdx) != nnz || len(s.Val) != nnz {
		return sparseFormatError("csr", "RowPtr ends at %d but len(ColIdx) = %d, len(Val) = %d", nnz, len(s.ColIdx), len(s.Val))
	}
	for r := 0; r < s.Rows; r++ {
		if s.RowPtr[r+1] < s.RowPtr[r] {
			return sparseFormatError("csr", "RowPtr decreases at row %d", r)
		}
	}
	for q, k := range s.ColIdx {
		if k < 0 || int(k) >= s.Cols {
			return sparseFormatError("csr", "ColIdx[%d] = %d outside [0, %d)", q, k, s.Cols)
		}
	}
	return nil
}

// MulDense computes C = ep(W·B + beta·C); see SparseMatrix.
func (s *CSR) MulDense(c []float32, ldc int, b []float32, ldb, p int, beta float32, ep *Epilogue) {
	s.checkShape()
	sparseMulDense(s, s.Threads, c, ldc, b, ldb, p, beta, ep)
}

// MulShifted computes C = ep(W·B + beta·C) for the cols×p matrix B whose
// row k is b[k:k+p]: the rows overlap, each one element further along b.
// It is the product of a direct convolution (no im2col) when the column
// indices are offsets into a zero-padded image rather than (channel, tap)
// numbers: output pixel j of a stride-1 convolution, computed on the
// padded image's width, reads the image at j plus the tap's offset. It
// needs len(b) ≥ Cols-1+p; C is rows×p with stride ldc.
func (s *CSR) MulShifted(c []float32, ldc int, b []float32, p int, beta float32, ep *Epilogue) {
	s.checkShape()
	if p < 0 {
		panic(fmt.Sprintf("kernels: MulShifted: negative width p=%d", p))
	}
	if s.Cols > 0 && p > 0 && len(b) < s.Cols-1+p {
		panic(fmt.Sprintf("kernels: MulShifted: len(b) = %d < %d for %d shifted rows of %d", len(b), s.Cols-1+p, s.Cols, p))
	}
	checkMatrix("MulShifted", "c", s.Rows, p, c, ldc)
	ep = checkSparseEpilogue(ep, s.Rows, p)
	if s.Cols == 0 {
		b = nil // no row of B is read
	}
	runMulDense(s, s.Threads, c, ldc, b, 1, p, beta, ep)
}

// MulVecBatch computes Y = ep(X·Wᵀ + beta·Y); see SparseMatrix.
func (s *CSR) MulVecBatch(y []float32, ldy int, x []float32, ldx, m int, beta float32, ep *Epilogue) {
	s.checkShape()
	sparseMulVecBatch(s, s.Threads, y, ldy, x, ldx, m, beta, ep)
}

// checkShape is the O(1) part of Validate, run on every call.
func (s *CSR) checkShape() {
	if s.Rows < 0 || s.Cols < 0 || len(s.RowPtr) != s.Rows+1 ||
		int(s.RowPtr[s.Rows]) > min(len(s.ColIdx), len(s.Val)) {
		panic("kernels: CSR: RowPtr does not match Rows, ColIdx and Val (see Validate)")
	}
}

// transposeMin: see BenchmarkSparseVecBatchM (sparse_doc.go).
func (s *CSR) transposeMin() int { return 4 }

func (s *CSR) dims() (int, int)  { return s.Rows, s.Cols }
func (s *CSR) rowWork(r int) int { return int(s.RowPtr[r]) }

func (s *CSR) mulRows(r0, r1 int, b []float32, ldb int, c []float32, ldc, n int, beta float32) {
	csrMulDense(s.RowPtr[r0:r1+1], s.ColIdx, s.Val, b, ldb, c[r0*ldc:], ldc, n, beta)
}

func (s *CSR) dotRows(r0, r1 int, x, y []float32, beta float32) {
	csrDot(s.RowPtr[r0:r1+1], s.ColIdx, s.Val, x, y[r0:r1], beta)
}
