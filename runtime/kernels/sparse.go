package kernels

import (
	"fmt"
	"runtime"

	"github.com/podaml/poda/internal/freelist"
)

// SparseMatrix is a constant rows×cols weight matrix W stored in a sparse
// format (CSR, BSR8 or NM). The two products the runtime needs are
//
//	MulDense:    C[rows, p] = W · B[cols, p] + beta·C   (Conv via Im2col)
//	MulVecBatch: Y[m, rows] = X[m, cols] · Wᵀ + beta·Y  (Gemm with transB)
//
// each followed by an optional Epilogue, with Sgemm's beta rules (beta == 0
// overwrites without reading). Matrices are row-major with an explicit row
// stride, as everywhere in this package; invalid shapes panic.
//
// The kernels trust the index arrays: a matrix built by its constructor is
// valid, one assembled or edited by hand must pass Validate first (the
// assembly reads out of bounds otherwise).
//
// Large products are split by rows of W over up to Threads goroutines (0:
// runtime.GOMAXPROCS); small ones stay on the calling goroutine. Scratch
// is recycled (internal/freelist), so steady-state calls do not allocate.
type SparseMatrix interface {
	// Dims returns the dense shape of W.
	Dims() (rows, cols int)
	// MulDense computes C = ep(W·B + beta·C) for B cols×p (stride ldb) and
	// C rows×p (stride ldc). For Conv, C is [Cout, outH·outW] and the bias
	// is per row (Epilogue.BiasPerRow).
	MulDense(c []float32, ldc int, b []float32, ldb, p int, beta float32, ep *Epilogue)
	// MulVecBatch computes Y = ep(X·Wᵀ + beta·Y) for X m×cols (stride ldx)
	// and Y m×rows (stride ldy): ONNX Gemm with transB = 1 and W as B. The
	// bias is per column of Y (one per output neuron).
	MulVecBatch(y []float32, ldy int, x []float32, ldx, m int, beta float32, ep *Epilogue)
	// NNZ returns the number of stored values, explicit zeros included
	// (BSR8 blocks and NM groups store some).
	NNZ() int
	// Bytes returns the memory held by values and indices.
	Bytes() int
	// Format names the format: "csr", "bsr1x8" or "nm2:4" and so on.
	Format() string
	// Validate checks the index arrays against the shape.
	Validate() error
}

var (
	_ SparseMatrix = (*CSR)(nil)
	_ SparseMatrix = (*BSR8)(nil)
	_ SparseMatrix = (*NM)(nil)
)

// sparseParallelWork is the number of multiply-adds (stored values × width)
// each extra goroutine must get before a sparse product is split. A
// variable so that tests and benchmarks can move it.
var sparseParallelWork = 1 << 18

// sparseTransposeMin, if positive, overrides each format's smallest batch
// m for which MulVecBatch transposes X and runs the MulDense kernel (AXPYs
// over the batch) instead of one sparse dot product per row of X (see
// transposeMin and BenchmarkSparseVecBatchM).
var sparseTransposeMin = 0

// maxSparseThreads bounds the goroutines of one sparse product.
const maxSparseThreads = 64

// sparseRows is what a format implements for the shared driver: the rows
// [r0, r1) of the two products, with no epilogue.
type sparseRows interface {
	dims() (rows, cols int)
	// rowWork returns the cumulative work before row r (stored values),
	// used to balance the goroutines' shares.
	rowWork(r int) int
	// mulRows computes C[r, :n] = W[r, :]·B + beta·C[r, :n] for r in
	// [r0, r1); c starts at row 0 of C.
	mulRows(r0, r1 int, b []float32, ldb int, c []float32, ldc, n int, beta float32)
	// dotRows computes y[r] = W[r, :]·x + beta·y[r] for r in [r0, r1).
	dotRows(r0, r1 int, x, y []float32, beta float32)
	// transposeMin is the smallest batch for which MulVecBatch goes
	// through Xᵀ and mulRows rather than dotRows.
	transposeMin() int
}

// batchDotter is implemented by formats with a kernel of their own for
// MulVecBatch below transposeMin rows (when batchDot reports it applies),
// which the driver prefers to dotRows one row of X at a time.
type batchDotter interface {
	batchDot() bool
	// dotBatch computes Y[i, r] = W[r, :]·X[i, :] for r in [r0, r1) and
	// the m rows of X and Y.
	dotBatch(r0, r1 int, x []float32, ldx int, y []float32, ldy, m int)
}

// sparseJob carries one sparse product through its goroutines; it and its
// scratch are recycled through sparseJobs.
type sparseJob struct {
	w       sparseRows
	threads int

	dot       bool        // dotRows (one row of X) instead of mulRows
	batch     batchDotter // dotBatch (all rows of X) instead of either
	b         []float32
	ldb       int
	c         []float32
	ldc, n    int
	beta      float32
	ep        *Epilogue
	epRowsOfC bool // apply ep to rows r0..r1 of C (else columns of row 0)
	nt        int
	bounds    [maxSparseThreads + 1]int
	tasks     [maxSparseThreads]sparseTask // the workers' shares
	wg        TaskGroup
	xt, yt    []float32 // transposition scratch for MulVecBatch
}

var sparseJobs freelist.List[sparseJob]

func getSparseJob(w sparseRows, threads int) *sparseJob {
	j := sparseJobs.Get()
	j.w, j.threads = w, threads
	return j
}

func putSparseJob(j *sparseJob) {
	j.w, j.b, j.c, j.ep, j.batch = nil, nil, nil, nil, nil
	sparseJobs.Put(j)
}

// run computes all rows of W, splitting them into shares of about equal
// work when width·nnz is large enough.
func (j *sparseJob) run(width int) {
	rows, _ := j.w.dims()
	total := j.w.rowWork(rows)
	j.nt = sparseShares(j.w, j.threads, width)
	j.bounds[0] = 0
	for t := 1; t < j.nt; t++ {
		// The first row whose cumulative work reaches t/nt of the total.
		target := total * t / j.nt
		lo, hi := j.bounds[t-1], rows
		for lo < hi {
			mid := (lo + hi) / 2
			if j.w.rowWork(mid) < target {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		j.bounds[t] = lo
	}
	j.bounds[j.nt] = rows
	if j.nt == 1 {
		j.share(0)
		return
	}
	StartWorkers(j.nt - 1)
	j.wg.Add(j.nt - 1)
	for t := 1; t < j.nt; t++ {
		j.tasks[t] = sparseTask{j, t}
		if !Submit(&j.tasks[t]) {
			j.tasks[t].RunTask() // queue full
		}
	}
	j.share(0)
	RunQueued()
	j.wg.Wait()
}

// sparseShares returns the goroutines a product of the given width on w
// runs on: one per sparseParallelWork multiply-adds, within threads (0:
// GOMAXPROCS) and the rows.
func sparseShares(w sparseRows, threads, width int) int {
	rows, _ := w.dims()
	nt := min(maxSparseThreads, rows, w.rowWork(rows)*max(width, 1)/sparseParallelWork)
	if nt <= 1 {
		return 1 // without asking GOMAXPROCS, which takes a lock
	}
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	return max(1, min(nt, threads))
}

// share computes rows bounds[t]..bounds[t+1] and their epilogue.
func (j *sparseJob) share(t int) {
	r0, r1 := j.bounds[t], j.bounds[t+1]
	if r0 >= r1 {
		return
	}
	if j.batch != nil {
		j.batch.dotBatch(r0, r1, j.b, j.ldb, j.c, j.ldc, j.n)
		return
	}
	if j.dot {
		j.w.dotRows(r0, r1, j.b, j.c, j.beta)
		if j.ep != nil {
			j.ep.apply(j.c, len(j.c), 0, r0, 1, r1-r0)
		}
		return
	}
	j.w.mulRows(r0, r1, j.b, j.ldb, j.c, j.ldc, j.n, j.beta)
	if j.ep != nil && j.epRowsOfC {
		j.ep.apply(j.c, j.ldc, r0, 0, r1-r0, j.n)
	}
}

// sparseTask is share t of a sparse product, for the pool.
type sparseTask struct {
	j *sparseJob
	t int
}

func (tk *sparseTask) RunTask() {
	tk.j.share(tk.t)
	tk.j.wg.Done()
}

// sparseMulDense is the shared MulDense driver.
func sparseMulDense(w sparseRows, threads int, c []float32, ldc int, b []float32, ldb, p int, beta float32, ep *Epilogue) {
	rows, cols := w.dims()
	if p < 0 {
		panic(fmt.Sprintf("kernels: MulDense: negative width p=%d", p))
	}
	checkMatrix("MulDense", "b", cols, p, b, ldb)
	checkMatrix("MulDense", "c", rows, p, c, ldc)
	ep = checkSparseEpilogue(ep, rows, p)
	runMulDense(w, threads, c, ldc, b, ldb, p, beta, ep)
}

// runMulDense runs a checked MulDense product (ldb = 1 for MulShifted).
func runMulDense(w sparseRows, threads int, c []float32, ldc int, b []float32, ldb, p int, beta float32, ep *Epilogue) {
	rows, _ := w.dims()
	if rows == 0 || p == 0 {
		return
	}
	j := getSparseJob(w, threads)
	j.dot = false
	j.b, j.ldb, j.c, j.ldc, j.n, j.beta = b, ldb, c, ldc, p, beta
	j.ep, j.epRowsOfC = ep, true
	j.run(p)
	putSparseJob(j)
}

// sparseMulVecBatch is the shared MulVecBatch driver: one sparse dot
// product per output for small m, otherwise Xᵀ (cols×m) is formed in
// scratch, Yᵀ = W·Xᵀ computed with the MulDense kernel, and Yᵀ transposed
// into Y.
func sparseMulVecBatch(w sparseRows, threads int, y []float32, ldy int, x []float32, ldx, m int, beta float32, ep *Epilogue) {
	rows, cols := w.dims()
	if m < 0 {
		panic(fmt.Sprintf("kernels: MulVecBatch: negative batch m=%d", m))
	}
	checkMatrix("MulVecBatch", "x", m, cols, x, ldx)
	checkMatrix("MulVecBatch", "y", m, rows, y, ldy)
	ep = checkSparseEpilogue(ep, m, rows)
	if rows == 0 || m == 0 {
		return
	}
	tmin := w.transposeMin()
	if sparseTransposeMin > 0 {
		tmin = sparseTransposeMin
	}
	bd, batch := w.(batchDotter)
	batch = batch && m < tmin && beta == 0 && cols > 0 && bd.batchDot()
	if (batch || m == 1 && cols > 0) && sparseShares(w, threads, m) == 1 {
		// One goroutine: no job to hand out.
		if batch {
			bd.dotBatch(0, rows, x, ldx, y, ldy, m)
		} else {
			w.dotRows(0, rows, x[:cols], y[:rows], beta)
		}
		if ep != nil {
			ep.apply(y, ldy, 0, 0, m, rows)
		}
		return
	}
	j := getSparseJob(w, threads)
	if batch {
		j.batch = bd
		j.b, j.ldb, j.c, j.ldc, j.n = x, ldx, y, ldy, m
		j.run(m)
		if ep != nil {
			ep.apply(y, ldy, 0, 0, m, rows)
		}
		putSparseJob(j)
		return
	}
	if m < tmin || cols == 0 {
		j.dot, j.ldb, j.ldc, j.n, j.beta = true, 0, 0, 0, beta
		for i := 0; i < m; i++ {
			j.b, j.c = x[i*ldx:i*ldx+cols], y[i*ldy:i*ldy+rows]
			j.ep = nil
			if ep != nil && !ep.BiasPerRow {
				j.ep = ep
			}
			j.run(1)
			if ep != nil && ep.BiasPerRow {
				ep.apply(y, ldy, i, 0, 1, rows)
			}
		}
		putSparseJob(j)
		return
	}
	j.xt = growAligned(j.xt, cols*m)
	j.yt = growAligned(j.yt, rows*m)
	transposeInto(j.xt, m, x, ldx, m, cols, 0)
	j.dot = false
	j.b, j.ldb, j.c, j.ldc, j.n, j.beta = j.xt, m, j.yt, m, m, 0
	j.ep = nil
	j.run(m)
	transposeInto(y, ldy, j.yt, m, rows, m, beta)
	if ep != nil {
		ep.apply(y, ldy, 0, 0, m, rows)
	}
	putSparseJob(j)
}

// checkSparseEpilogue returns nil for a no-op epilogue and checks the bias
// length against the rows×cols output.
func checkSparseEpilogue(ep *Epilogue, rows, cols int) *Epilogue {
	if ep.noop() {
		return nil
	}
	if ep.Bias != nil {
		if ep.BiasPerRow {
			checkLen("sparse product bias", len(ep.Bias), rows)
		} else {
			checkLen("sparse product bias", len(ep.Bias), cols)
		}
	}
	return ep
}

// transposeInto writes the transpose of the r×c matrix src (stride lds)
// into dst (c×r, stride ldd): dst[j*ldd+i] = src[i*lds+j] + beta·dst[…],
// with beta == 0 overwriting. Whole 8×8 tiles go through transposeTiles
// (AVX2 on amd64), the edges through transposeEdge.
func transposeInto(dst []float32, ldd int, src []float32, lds, r, c int, beta float32) {
	rt, ct := transposeTiles(dst, ldd, src, lds, r, c, beta)
	if rt == 0 || ct == 0 {
		transposeEdge(dst, ldd, src, lds, 0, r, 0, c, beta)
		return
	}
	transposeEdge(dst, ldd, src, lds, 0, rt, ct, c, beta) // right edge
	transposeEdge(dst, ldd, src, lds, rt, r, 0, c, beta)  // bottom rows
}

// transposeEdge transposes rows [i0, i1) × columns [j0, j1) of src.
func transposeEdge(dst []float32, ldd int, src []float32, lds, i0, i1, j0, j1 int, beta float32) {
	for j := j0; j < j1; j++ {
		if i0 >= i1 {
			return
		}
		d := dst[j*ldd+i0 : j*ldd+i1]
		if beta == 0 {
			for i := range d {
				d[i] = src[(i0+i)*lds+j]
			}
		} else {
			for i := range d {
				d[i] = beta*d[i] + src[(i0+i)*lds+j]
			}
		}
	}
}

// sparseFormatError reports an invalid sparse matrix.
func sparseFormatError(format, msg string, args ...any) error {
	return fmt.Errorf("kernels: invalid %s matrix: %s", format, fmt.Sprintf(msg, args...))
}
