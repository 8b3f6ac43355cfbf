package kernels

import "fmt"

// NM is a Rows×Cols matrix with N:M structured sparsity: every group of M
// consecutive columns of a row (the last one possibly shorter) holds at
// most N nonzeros. Each row stores exactly N values per group, Groups·N in
// all, with the column of value j of group g at g·M + Off[…] (Off < M);
// groups with fewer than N nonzeros are padded with zero values.
//
//	2:4, row [0 a b 0 | c 0 0 0]:  Val = [a b c 0]  Off = [1 2 0 0]
//
// Value q of row r is Val[r·Groups·N + q], in group q/N. Metadata costs one
// byte per value (a 2:4 layer takes 62.5% of the dense bytes; packing the
// offsets into 2 bits would make it 53%, at the price of a shift per value
// in the kernels).
type NM struct {
	Rows, Cols int
	N, M       int // at most N nonzeros in every M columns; 1 ≤ N ≤ M ≤ 16
	Groups     int // ceil(Cols / M)
	Val        []float32
	Off        []uint8

	// Threads bounds the goroutines of one product; 0 means GOMAXPROCS.
	Threads int

	// pairs is the batch-1 layout NewNM adds for 2:4 (nil otherwise, and
	// for a matrix assembled by hand).
	pairs *nm24Pairs
}

// NewNM returns the N:M form of the dense rows×cols row-major matrix w. It
// fails if some group has more than n nonzeros, or unless 1 ≤ n ≤ m ≤ 16.
func NewNM(w []float32, rows, cols, n, m int) (*NM, error) {
	checkMatrix("NewNM", "w", rows, cols, w, max(cols, 1))
	if n < 1 || n > m || m > 16 {
		return nil, fmt.Errorf("kernels: NewNM: unsupported %d:%d sparsity (want 1 ≤ N ≤ M ≤ 16)", n, m)
	}
	g := (cols + m - 1) / m
	s := &NM{
		Rows: rows, Cols: cols, N: n, M: m, Groups: g,
		Val: make([]float32, rows*g*n),
		Off: make([]uint8, rows*g*n, rows*g*n+8), // slack for the 2:4 batch-1 kernel
	}
	for r := 0; r < rows; r++ {
		for gi := 0; gi < g; gi++ {
			q := (r*g + gi) * n
			j := 0
			for k := gi * m; k < min((gi+1)*m, cols); k++ {
				v := w[r*cols+k]
				if v == 0 {
					continue
				}
				if j == n {
					return nil, fmt.Errorf("kernels: NewNM: row %d, columns %d…%d hold more than %d nonzeros", r, gi*m, min((gi+1)*m, cols)-1, n)
				}
				s.Val[q+j], s.Off[q+j] = v, uint8(k-gi*m)
				j++
			}
		}
	}
	s.pairs = newNM24Pairs(s)
	return s, nil
}

// Dims returns Rows, Cols.
func (s *NM) Dims() (rows, cols int) { return s.Rows, s.Cols }

// NNZ returns len(Val): N values per group, padding included.
func (s *NM) NNZ() int { return len(s.Val) }

// Bytes returns 5 bytes per stored value, plus 4.5 for 2:4 matrices from
// NewNM with 8 rows or more (the batch-1 layout holds a copy).
func (s *NM) Bytes() int { return 4*len(s.Val) + len(s.Off) + s.pairs.bytes() }

// Format returns "nm" followed by N:M, as in "nm2:4".
func (s *NM) Format() string { return fmt.Sprintf("nm%d:%d", s.N, s.M) }

// Validate checks the shape fields, the lengths and that every offset
// falls inside its group and the matrix.
func (s *NM) Validate() error {
	if err := s.shapeError(); err != nil {
		return err
	}
	for r := 0; r < s.Rows; r++ {
		for q := 0; q < s.Groups*s.N; q++ {
			i := r*s.Groups*s.N + q
			if k := q/s.N*s.M + int(s.Off[i]); int(s.Off[i]) >= s.M || k >= s.Cols {
				return sparseFormatError(s.Format(), "row %d value %d: offset %d outside its group or the %d columns", r, q, s.Off[i], s.Cols)
			}
		}
	}
	return nil
}

func (s *NM) shapeError() error {
	switch {
	case s.Rows < 0 || s.Cols < 0:
		return sparseFormatError("nm", "negative shape %d×%d", s.Rows, s.Cols)
	case s.N < 1 || s.N > s.M || s.M > 16:
		return sparseFormatError("nm", "unsupported %d:%d", s.N, s.M)
	case s.Groups != (s.Cols+s.M-1)/s.M:
		return sparseFormatError("nm", "%d groups for %d columns of %d", s.Groups, s.Cols, s.M)
	case len(s.Val) != s.Rows*s.Groups*s.N || len(s.Off) != len(s.Val):
		return sparseFormatError("nm", "len(Val) = %d, len(Off) = %d, want %d", len(s.Val), len(s.Off), s.Rows*s.Groups*s.N)
	}
	return nil
}

// MulDense computes C = ep(W·B + beta·C); see SparseMatrix.
func (s *NM) MulDense(c []float32, ldc int, b []float32, ldb, p int, beta float32, ep *Epilogue) {
	s.checkShape()
	sparseMulDense(s, s.Threads, c, ldc, b, ldb, p, beta, ep)
}

// MulVecBatch computes Y = ep(X·Wᵀ + beta·Y); see SparseMatrix.
func (s *NM) MulVecBatch(y []float32, ldy int, x []float32, ldx, m int, beta float32, ep *Epilogue) {
	s.checkShape()
	if m == 1 && beta == 0 && s.pairs != nil && s.rowWork(s.Rows) < 2*sparseParallelWork {
		// Batch 1 on the 2:4 layout, on this goroutine: for a 10-output
		// layer the shared driver's dispatch cost as much as the product.
		checkMatrix("MulVecBatch", "x", 1, s.Cols, x, ldx)
		checkMatrix("MulVecBatch", "y", 1, s.Rows, y, ldy)
		ep = checkSparseEpilogue(ep, 1, s.Rows)
		s.dotBatch(0, s.Rows, x, ldx, y, ldy, 1)
		if ep != nil {
			ep.applyRow(y[:s.Rows], 0, 0)
		}
		return
	}
	sparseMulVecBatch(s, s.Threads, y, ldy, x, ldx, m, beta, ep)
}

func (s *NM) checkShape() {
	if err := s.shapeError(); err != nil {
		panic(err.Error())
	}
}

// transposeMin: see BenchmarkSparseVecBatchM (sparse_doc.go).
func (s *NM) transposeMin() int { return 16 }

func (s *NM) dims() (int, int)  { return s.Rows, s.Cols }
func (s *NM) rowWork(r int) int { return r * s.Groups * s.N }

func (s *NM) mulRows(r0, r1 int, b []float32, ldb int, c []float32, ldc, n int, beta float32) {
	st := s.Groups * s.N
	nmMulDense(r1-r0, s.Groups, s.N, s.M, s.Off[r0*st:r1*st], s.Val[r0*st:r1*st], b, ldb, c[r0*ldc:], ldc, n, beta)
}

func (s *NM) dotRows(r0, r1 int, x, y []float32, beta float32) {
	s.dotRowsByRow(r0, r1, x, y, beta)
}

// batchDot: the 2:4 layout, below transposeMin rows of X (at 64 rows the
// 2:4 MulDense kernel on Xᵀ is twice as fast: the layout's permute per 8
// values is repeated for every row of X).
func (s *NM) batchDot() bool { return s.pairs != nil }

// dotBatch runs the passes of eight rows inside [r0, r1) on the 2:4
// layout, the tail (the last Rows%8 rows, in row pairs) too when r1 ends
// the matrix, and the rows around them row by row.
func (s *NM) dotBatch(r0, r1 int, x []float32, ldx int, y []float32, ldy, m int) {
	a := min(8*((r0+7)/8), r1) // the first row on the layout
	b := 8 * (r1 / 8)          // the end of its whole passes in [r0, r1)
	tail := r1 == s.Rows && r1%8 != 0 && b >= a
	end := max(a, b) // the first row after the layout
	if tail {
		end = r1
	}
	for i := 0; i < m; i++ {
		xi, yi := x[i*ldx:i*ldx+s.Cols], y[i*ldy:i*ldy+s.Rows]
		s.dotRowsByRow(r0, a, xi, yi, 0)
		s.dotRowsByRow(end, r1, xi, yi, 0)
	}
	if a < b {
		nm24PairsDot(s.pairs, a/8, b/8, x, ldx, y[a:], ldy, m)
	}
	if tail {
		var out [8]float32
		for i := 0; i < m; i++ {
			nm24Tail(s.pairs, x[i*ldx:i*ldx+s.Cols], &out)
			copy(y[i*ldy+b:i*ldy+r1], out[:r1-b])
		}
	}
}

func (s *NM) dotRowsByRow(r0, r1 int, x, y []float32, beta float32) {
	if r0 >= r1 {
		return
	}
	st := s.Groups * s.N
	nmDot(r1-r0, s.Groups, s.N, s.M, s.Off[r0*st:r1*st], s.Val[r0*st:r1*st], x, y[r0:r1], beta)
}
