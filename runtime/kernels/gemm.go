package kernels

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"unsafe"

	"github.com/podaml/poda/internal/freelist"
)

// Register tile and cache blocking (see doc.go for how they were chosen).
const (
	mr = 6  // rows of the micro-tile
	nr = 16 // columns of the micro-tile (two YMM registers)

	kcBlock = 256  // depth of a packed panel: an A and a B sliver fit L1
	mcBlock = 144  // rows of a packed A block (mcBlock×kcBlock ≈ 144 KiB, L2)
	ncBlock = 4096 // columns of a packed B panel (kcBlock×ncBlock = 4 MiB, L3)
)

// parallelWork is the m·n·k that each extra goroutine must get: below it
// waking a worker costs more than it saves (see BenchmarkSgemmCrossover).
// A variable only so that the benchmark can move it.
var parallelWork = 1 << 19

// Sgemm computes C = alpha·op(A)·op(B) + beta·C for row-major matrices,
// where op(X) is X or Xᵀ, op(A) is m×k, op(B) is k×n and C is m×n.
//
// A is stored as m×k (k×m if transA) with row stride lda, B as k×n (n×k
// if transB) with row stride ldb, and C as m×n with row stride ldc. As in
// BLAS, beta == 0 overwrites C without reading it (NaN in C does not
// propagate) and alpha == 0 does not read A or B. Sgemm panics on negative
// sizes, strides smaller than a row, or slices too short for their shape;
// an empty operand (a zero dimension) may have any stride ≥ 0 and a nil
// slice.
//
// Large products are split across up to runtime.GOMAXPROCS goroutines;
// packing buffers are recycled (internal/freelist), so steady-state calls
// do not allocate. Sgemm is safe for concurrent use on distinct outputs.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	SgemmEpilogue(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, nil)
}

// SgemmEpilogue is Sgemm followed by ep (which may be nil): it computes
// C = ep.Act(alpha·op(A)·op(B) + beta·C + ep.Bias), applying the bias and
// activation to each block of C while it is still in cache.
func SgemmEpilogue(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, ep *Epilogue) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("kernels: Sgemm: negative size m=%d n=%d k=%d", m, n, k))
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	checkMatrix("Sgemm", "a", ar, ac, a, lda)
	checkMatrix("Sgemm", "b", br, bc, b, ldb)
	checkMatrix("Sgemm", "c", m, n, c, ldc)
	if ep.noop() {
		ep = nil
	} else if ep.Bias != nil {
		if ep.BiasPerRow {
			checkLen("Sgemm bias", len(ep.Bias), m)
		} else {
			checkLen("Sgemm bias", len(ep.Bias), n)
		}
	}
	if m == 0 || n == 0 {
		return
	}

	if k == 0 || alpha == 0 {
		for i := 0; i < m; i++ {
			scaleRow(beta, c[i*ldc:i*ldc+n])
		}
		if ep != nil {
			ep.apply(c, ldc, 0, 0, m, n)
		}
		return
	}
	if m <= gemvRows {
		for i := 0; i < m; i++ {
			var ai []float32
			if transA {
				ai = a[i:] // column i of A
			} else {
				ai = a[i*lda:] // row i of A
			}
			gemvRow(transA, transB, n, k, alpha, ai, lda, b, ldb, beta, c[i*ldc:i*ldc+n], i, ep)
		}
		return
	}
	if n == 1 {
		gemvCol(transA, transB, m, k, alpha, a, lda, b, ldb, beta, c, ldc, ep)
		return
	}

	sgemmBlocked(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, ep, nil)
}

// sgemmBlocked is the packed, blocked and parallel product; ap, if not
// nil, is op(A) already packed by PackA.
func sgemmBlocked(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, ep *Epilogue, ap []float32) {
	g := ctxFree.Get()
	*g = gemmCtx{
		transA: transA, transB: transB,
		m: m, n: n, k: k,
		alpha: alpha, beta: beta,
		a: a, lda: lda, b: b, ldb: ldb, c: c, ldc: ldc,
		ep:    ep,
		ap:    ap,
		work:  g.work,
		tasks: g.tasks,
	}
	g.lo, g.hi, g.fused = ep.clamp()
	procs := 1
	if m*n*k >= 2*parallelWork {
		procs = runtime.GOMAXPROCS(0)
	}
	g.split(procs)
	g.parallel()
	g.a, g.b, g.c, g.ep, g.ap = nil, nil, nil, nil, nil
	ctxFree.Put(g)
}

// checkMatrix panics unless s can hold a rows×cols row-major matrix with
// row stride ld. An empty matrix (rows or cols 0) accepts any ld ≥ 0, so
// empty ONNX tensors need no special stride.
func checkMatrix(fn, name string, rows, cols int, s []float32, ld int) {
	if rows < 0 || cols < 0 {
		panic(fmt.Sprintf("kernels: %s: %s has negative shape %d×%d", fn, name, rows, cols))
	}
	if rows == 0 || cols == 0 {
		if ld < 0 {
			panic(fmt.Sprintf("kernels: %s: ld%s = %d < 0", fn, name, ld))
		}
		return
	}
	if ld < cols {
		panic(fmt.Sprintf("kernels: %s: ld%s = %d < %d columns", fn, name, ld, cols))
	}
	if len(s) < (rows-1)*ld+cols {
		panic(fmt.Sprintf("kernels: %s: len(%s) = %d < %d for a %d×%d matrix with stride %d",
			fn, name, len(s), (rows-1)*ld+cols, rows, cols, ld))
	}
}

// scaleRow computes x *= beta, writing zeros when beta == 0.
func scaleRow(beta float32, x []float32) {
	switch beta {
	case 0:
		clear(x)
	case 1:
	default:
		scale(beta, x)
	}
}

// gemvRows is the largest m computed one row at a time with gemvRow: up
// to 4 rows, streaming B once per row costs less than packing it
// (BenchmarkSgemmSmallM, 784→300 with transB, in GFLOP/cpu-s: 21–22 row
// by row for m = 1…3, packed 10–11 at m = 2, 17–19 at m = 4, 30 at m = 6).
const gemvRows = 4

// gemvRow computes row i of C (c, length n) from row i of op(A) (which
// starts at a[0], with stride lda if transA), for m <= gemvRows where
// packing B would cost as much as the product. It streams B once, with
// Axpy over B's rows or Dot with its columns (transB).
func gemvRow(transA, transB bool, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, i int, ep *Epilogue) {
	var g *gemmCtx
	var arow []float32
	if !transA || lda == 1 {
		arow = a[:k]
	} else {
		// Row i of op(A) is a column of A: gather it.
		g = ctxFree.Get()
		if len(g.work) == 0 {
			g.work = make([]workerBuf, 1)
		}
		w := &g.work[0]
		w.apack = growAligned(w.apack, k)
		arow = w.apack[:k]
		for p := range arow {
			arow[p] = a[p*lda]
		}
	}
	if transB {
		for j := range c {
			s := alpha * dot(arow, b[j*ldb:j*ldb+k])
			if beta != 0 {
				s += beta * c[j]
			}
			c[j] = s
		}
	} else {
		scaleRow(beta, c)
		for p, v := range arow {
			axpy(alpha*v, b[p*ldb:p*ldb+n], c)
		}
	}
	if ep != nil {
		ep.applyRow(c, i, 0)
	}
	if g != nil {
		ctxFree.Put(g)
	}
}

// gemvCol is the n == 1 case (a 1×1 convolution output, a single-output
// layer): one column of C, computed with Dot over A's rows or Axpy over
// its columns (transA) instead of packing.
func gemvCol(transA, transB bool, m, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, ep *Epilogue) {
	g := ctxFree.Get()
	if len(g.work) == 0 {
		g.work = make([]workerBuf, 1)
	}
	w := &g.work[0]
	bcol := b[:k]
	if !transB && ldb != 1 {
		// op(B) is column 0 of the k×1 matrix B: gather it.
		w.bpack = growAligned(w.bpack, k)
		bcol = w.bpack[:k]
		for p := range bcol {
			bcol[p] = b[p*ldb]
		}
	}
	set := func(i int, s float32) {
		s *= alpha
		if beta != 0 {
			s += beta * c[i*ldc]
		}
		c[i*ldc] = s
	}
	if transA {
		w.apack = growAligned(w.apack, m)
		t := w.apack[:m]
		clear(t)
		for p, v := range bcol {
			axpy(v, a[p*lda:p*lda+m], t)
		}
		for i, s := range t {
			set(i, s)
		}
	} else {
		for i := 0; i < m; i++ {
			set(i, dot(a[i*lda:i*lda+k], bcol))
		}
	}
	if ep != nil {
		ep.apply(c, ldc, 0, 0, m, 1)
	}
	ctxFree.Put(g)
}

// gemmCtx carries one Sgemm call through its goroutines; it and its
// buffers are recycled through ctxFree.
type gemmCtx struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a              []float32
	lda            int
	b              []float32
	ldb            int
	c              []float32
	ldc            int
	ep             *Epilogue
	fused          bool      // the micro-kernel applies ep (Epilogue.clamp)
	lo, hi         float32   // ep's clamp, when fused
	ap             []float32 // op(A) pre-packed by PackA, or nil

	nt        int          // goroutines in use
	splitRows bool         // partition rows (else columns) among them
	units     int          // row slivers (mr) or column slivers (nr) to partition
	chunks    int          // contiguous ranges of units handed out
	next      atomic.Int64 // next chunk to hand out

	work  []workerBuf // one per goroutine
	tasks []gemmTask  // the workers' shares, handed to the pool
	wg    TaskGroup
}

// workerBuf holds one goroutine's packing buffers.
type workerBuf struct {
	apack []float32 // mc×kc A block, mr-row slivers
	bpack []float32 // kc×nc B panel, nr-column slivers
	tmp   [mr * nr]float32
}

var ctxFree freelist.List[gemmCtx] // contexts with their packing buffers

// split chooses the number of goroutines (at most procs, and one per
// parallelWork of m·n·k) and whether they share out rows or columns of C:
// whichever leaves less idle in the last, partial share; rows on a tie.
func (g *gemmCtx) split(procs int) {
	rs := (g.m + mr - 1) / mr
	cs := (g.n + nr - 1) / nr
	nt := min(procs, max(1, g.m*g.n*g.k/max(1, parallelWork)), max(rs, cs))
	g.nt, g.splitRows, g.units, g.chunks = 1, true, rs, 1
	if nt <= 1 {
		return
	}
	eff := func(u int) float64 { return float64(u) / float64(nt*((u+nt-1)/nt)) }
	if eff(cs) > eff(rs) {
		g.splitRows, g.units = false, cs
	}
	g.nt = min(nt, g.units)
	g.chunks = min(g.units, g.nt*chunksPerGoroutine)
}

// chunksPerGoroutine is how many pieces each goroutine's share is cut
// into. The goroutines take pieces as they finish, so one that starts
// late or loses its core to another process (the machines are shared)
// does fewer; each piece repeats the packing of the operand that is not
// split, which costs a few percent at 1024³.
const chunksPerGoroutine = 2

// parallel runs the product on g.nt goroutines, the caller being one.
func (g *gemmCtx) parallel() {
	for len(g.work) < g.nt {
		g.work = append(g.work, workerBuf{})
	}
	if g.nt == 1 {
		g.run(0)
		return
	}
	for len(g.tasks) < g.nt {
		g.tasks = append(g.tasks, gemmTask{g, len(g.tasks)})
	}
	StartWorkers(g.nt - 1)
	g.wg.Add(g.nt - 1)
	for t := 1; t < g.nt; t++ {
		if !Submit(&g.tasks[t]) {
			g.wg.Done() // queue full: the chunks are left to the others
		}
	}
	g.run(0)
	RunQueued()
	g.wg.Wait()
}

// run computes chunks on goroutine t until none are left; a chunk is a
// contiguous range of whole row or column slivers.
func (g *gemmCtx) run(t int) {
	w := &g.work[t]
	for {
		c := int(g.next.Add(1)) - 1
		if c >= g.chunks {
			return
		}
		u0, u1 := g.units*c/g.chunks, g.units*(c+1)/g.chunks
		if g.splitRows {
			g.blocked(w, min(u0*mr, g.m), min(u1*mr, g.m), 0, g.n)
		} else {
			g.blocked(w, 0, g.m, min(u0*nr, g.n), min(u1*nr, g.n))
		}
	}
}

// blocked is the Goto/BLIS loop nest over rows [i0, i1) and columns
// [j0, j1) of C:
//
//	for jc (ncBlock columns):
//		for pc (kcBlock depth):   pack op(B)[pc:, jc:] into bpack
//			for ic (mcBlock rows): pack op(A)[ic:, pc:] into apack
//				for jr (nr), ir (mr): micro-kernel on one mr×nr tile
//
// When the rows fit one mcBlock, B is not reused across ic blocks, so each
// nr-column sliver of B is packed just before its tiles are computed and
// never leaves L1 (the shapes of batch-64 MLPs and convolutions).
func (g *gemmCtx) blocked(w *workerBuf, i0, i1, j0, j1 int) {
	if i0 >= i1 || j0 >= j1 {
		return
	}
	// Split k and the rows into equal blocks no larger than kcBlock and
	// mcBlock, so that no block is a thin remainder.
	kcStep := ceilDiv(g.k, ceilDiv(g.k, kcBlock))
	mcStep := roundUp(ceilDiv(i1-i0, ceilDiv(i1-i0, mcBlock)), mr)
	single := i1-i0 <= mcStep
	if single {
		w.bpack = growAligned(w.bpack, kcStep*nr)
	} else {
		w.bpack = growAligned(w.bpack, kcStep*roundUp(min(ncBlock, j1-j0), nr))
	}
	if g.ap == nil {
		w.apack = growAligned(w.apack, kcStep*min(mcStep, roundUp(i1-i0, mr)))
	}
	for jc := j0; jc < j1; jc += ncBlock {
		nc := min(ncBlock, j1-jc)
		for pc := 0; pc < g.k; pc += kcStep {
			kc := min(kcStep, g.k-pc)
			beta := g.beta
			if pc > 0 {
				beta = 1
			}
			last := pc+kc == g.k
			if single {
				ap := g.packA(w, i0, i1-i0, pc, kc)
				bp := w.bpack[:kc*nr]
				for j := jc; j < jc+nc; j += nr {
					cols := min(nr, jc+nc-j)
					packB(bp, g.b, g.ldb, g.transB, pc, kc, j, cols)
					g.sliver(w, ap, bp, kc, beta, last, i0, i1-i0, j, cols)
					g.epilogue(last, i0, i1-i0, jc, j+cols, jc+nc)
				}
				continue
			}
			for s := 0; s*nr < nc; s++ {
				packB(w.bpack[s*kc*nr:(s+1)*kc*nr], g.b, g.ldb, g.transB, pc, kc, jc+s*nr, min(nr, nc-s*nr))
			}
			for ic := i0; ic < i1; ic += mcStep {
				mc := min(mcStep, i1-ic)
				ap := g.packA(w, ic, mc, pc, kc)
				for s := 0; s*nr < nc; s++ {
					cols := min(nr, nc-s*nr)
					g.sliver(w, ap, w.bpack[s*kc*nr:(s+1)*kc*nr], kc, beta, last, ic, mc, jc+s*nr, cols)
					g.epilogue(last, ic, mc, jc, jc+s*nr+cols, jc+nc)
				}
			}
		}
	}
}

// zeroBias is the row biases of a fused epilogue without bias.
var zeroBias [mr]float32

// epGroup is the width in columns of the C blocks the epilogue runs on:
// wide enough that its per-row calls are amortised (per 6×16 tile they
// cost more than a separate pass over C), narrow enough that an mc×epGroup
// block (144 KiB) is still in L2.
const epGroup = 256

// epilogue runs the epilogue, on the last k block, over rows [i, i+rows)
// and the columns since the last multiple of epGroup after jc, once j1
// (the end of the columns computed so far) reaches such a multiple or jEnd,
// unless the micro-kernel applied it.
func (g *gemmCtx) epilogue(last bool, i, rows, jc, j1, jEnd int) {
	if !last || g.ep == nil || g.fused || ((j1-jc)%epGroup != 0 && j1 != jEnd) {
		return
	}
	j0 := jc + (j1-jc-1)/epGroup*epGroup
	g.ep.apply(g.c, g.ldc, i, j0, rows, j1-j0)
}

// packA packs rows [ic, ic+mc) × depth [pc, pc+kc) of alpha·op(A) into
// w.apack, one mr-row sliver after another, and returns it; with a
// pre-packed A (g.ap) it returns that block of g.ap instead. ic is a
// multiple of mr.
func (g *gemmCtx) packA(w *workerBuf, ic, mc, pc, kc int) []float32 {
	if g.ap != nil {
		o := pc*roundUp(g.m, mr) + ic*kc
		return g.ap[o : o+roundUp(mc, mr)*kc]
	}
	for r := 0; r < mc; r += mr {
		packA(w.apack[r*kc:(r+mr)*kc], g.a, g.lda, g.transA, g.alpha, ic+r, min(mr, mc-r), pc, kc)
	}
	return w.apack
}

// sliver multiplies the packed mc×kc A block (apack) by one packed kc×nr sliver of
// B (bp) into C[ic:ic+mc, j:j+cols], one mr×nr tile at a time. Partial
// edge tiles go through w.tmp. On the last k block (last) a fused
// epilogue is applied to each tile as it is written.
func (g *gemmCtx) sliver(w *workerBuf, apack, bp []float32, kc int, beta float32, last bool, ic, mc, j, cols int) {
	c, ldc := g.c, g.ldc
	fuse := last && g.fused
	for r := 0; r < mc; r += mr {
		i := ic + r
		rows := min(mr, mc-r)
		ap := apack[r*kc : (r+mr)*kc]
		if rows == mr && cols == nr {
			if fuse {
				bias := zeroBias[:]
				if g.ep.Bias != nil {
					bias = g.ep.Bias[i : i+mr]
				}
				microKernelEp(kc, ap, bp, c[i*ldc+j:], ldc, beta, bias, g.lo, g.hi)
				continue
			}
			microKernel(kc, ap, bp, c[i*ldc+j:], ldc, beta)
		} else {
			microKernel(kc, ap, bp, w.tmp[:], nr, 0)
			for ii := 0; ii < rows; ii++ {
				dst := c[(i+ii)*ldc+j : (i+ii)*ldc+j+cols]
				src := w.tmp[ii*nr : ii*nr+cols]
				if beta == 0 {
					copy(dst, src)
				} else {
					for jj, v := range src {
						dst[jj] = beta*dst[jj] + v
					}
				}
				if fuse {
					g.ep.applyRow(dst, i+ii, j)
				}
			}
		}
	}
}

// packB copies the kc×cols block of op(B) at (p0, j0) into dst as kc rows
// of nr values, zero-padding columns cols..nr-1:
//
//	dst[p*nr+j] = op(B)[p0+p][j0+j]
func packB(dst, b []float32, ldb int, transB bool, p0, kc, j0, cols int) {
	dst = dst[:kc*nr]
	if !transB {
		if cols == nr {
			packBCopy16(dst, b[p0*ldb+j0:], ldb, kc)
			return
		}
		for p := 0; p < kc; p++ {
			o := (p0+p)*ldb + j0
			d := dst[p*nr : p*nr+nr]
			copy(d, b[o:o+cols])
			clear(d[cols:])
		}
		return
	}
	if cols == nr {
		packBTrans16(dst, b[j0*ldb+p0:], ldb, kc)
		return
	}
	for j := 0; j < cols; j++ {
		o := (j0+j)*ldb + p0
		for p, v := range b[o : o+kc] {
			dst[p*nr+j] = v
		}
	}
	if cols < nr {
		for p := 0; p < kc; p++ {
			clear(dst[p*nr+cols : p*nr+nr])
		}
	}
}

// packA copies alpha times the rows×kc block of op(A) at (i0, p0) into dst
// as kc groups of mr values, zero-padding rows rows..mr-1:
//
//	dst[p*mr+i] = alpha * op(A)[i0+i][p0+p]
func packA(dst, a []float32, lda int, transA bool, alpha float32, i0, rows, p0, kc int) {
	dst = dst[:kc*mr]
	if transA {
		for p := 0; p < kc; p++ {
			o := (p0+p)*lda + i0
			d := dst[p*mr : p*mr+mr]
			for i, v := range a[o : o+rows] {
				d[i] = alpha * v
			}
			clear(d[rows:])
		}
		return
	}
	if rows == mr {
		packA6(dst, a[i0*lda+p0:], lda, kc, alpha)
		return
	}
	for i := 0; i < rows; i++ {
		o := (i0+i)*lda + p0
		for p, v := range a[o : o+kc] {
			dst[p*mr+i] = alpha * v
		}
	}
	for p := 0; p < kc; p++ {
		clear(dst[p*mr+rows : p*mr+mr])
	}
}

func roundUp(x, m int) int { return (x + m - 1) / m * m }

func ceilDiv(x, m int) int { return (x + m - 1) / m }

// growAligned returns a slice of length n whose first element is 64-byte
// (cache line) aligned, reusing s when it is large enough.
func growAligned(s []float32, n int) []float32 {
	if cap(s) >= n {
		return s[:n]
	}
	buf := make([]float32, n+16)
	off := int((64 - uintptr(unsafe.Pointer(&buf[0]))&63) & 63 / 4)
	return buf[off : off+n : off+n]
}

// gemmTask is goroutine t's share of a parallel product, for the pool.
type gemmTask struct {
	g *gemmCtx
	t int
}

func (tk *gemmTask) RunTask() {
	tk.g.run(tk.t)
	tk.g.wg.Done()
}
