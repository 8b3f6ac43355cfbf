package kernels

// PackedA is a GEMM's left operand alpha·op(A), packed once in the
// layout Sgemm's micro-kernel reads, for products that reuse a constant
// A (a convolution's or a layer's weights) with many B: SgemmPacked then
// skips repacking A on every call. It holds on to A for the small
// products that do not pack it.
type PackedA struct {
	transA bool
	m, k   int
	alpha  float32
	a      []float32
	lda    int
	data   []float32 // nil when the products would not use it
}

// PackA packs alpha·op(A), an m×k matrix (A stored k×m if transA), with
// row stride lda. A must not change while the result is in use. The
// packed copy takes about m·k floats (m rounded up to a multiple of 6).
func PackA(transA bool, m, k int, alpha float32, a []float32, lda int) *PackedA {
	if m < 0 || k < 0 {
		panic("kernels: PackA: negative size")
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	checkMatrix("PackA", "a", ar, ac, a, lda)
	p := &PackedA{transA: transA, m: m, k: k, alpha: alpha, a: a, lda: lda}
	if m <= gemvRows || k == 0 || alpha == 0 {
		return p
	}
	// The layout sgemmBlocked reads: for each kc block of depth (as
	// blocked cuts k), the mr-row slivers of all rows, each kc×mr.
	mp := roundUp(m, mr)
	p.data = growAligned(nil, mp*k)
	kcStep := ceilDiv(k, ceilDiv(k, kcBlock))
	for pc := 0; pc < k; pc += kcStep {
		kc := min(kcStep, k-pc)
		for r := 0; r < m; r += mr {
			o := pc*mp + r*kc
			packA(p.data[o:o+mr*kc], a, lda, transA, alpha, r, min(mr, m-r), pc, kc)
		}
	}
	return p
}

// Rows and Cols are the shape of op(A).
func (p *PackedA) Rows() int { return p.m }

// Cols is the depth k of op(A).
func (p *PackedA) Cols() int { return p.k }

// SgemmPacked is SgemmEpilogue with the pre-packed A: C = ep.Act(op(A)·
// op(B) + beta·C + ep.Bias), alpha being PackA's. Its results are
// bitwise those of SgemmEpilogue with the same operands.
func SgemmPacked(pa *PackedA, transB bool, n int, b []float32, ldb int, beta float32, c []float32, ldc int, ep *Epilogue) {
	m, k := pa.m, pa.k
	if pa.data == nil || n <= 1 || m == 0 || n == 0 {
		SgemmEpilogue(pa.transA, transB, m, n, k, pa.alpha, pa.a, pa.lda, b, ldb, beta, c, ldc, ep)
		return
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	checkMatrix("SgemmPacked", "b", br, bc, b, ldb)
	checkMatrix("SgemmPacked", "c", m, n, c, ldc)
	if ep.noop() {
		ep = nil
	} else if ep.Bias != nil {
		if ep.BiasPerRow {
			checkLen("SgemmPacked bias", len(ep.Bias), m)
		} else {
			checkLen("SgemmPacked bias", len(ep.Bias), n)
		}
	}
	sgemmBlocked(pa.transA, transB, m, n, k, pa.alpha, pa.a, pa.lda, b, ldb, beta, c, ldc, ep, pa.data)
}
