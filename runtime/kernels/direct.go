package kernels

import "fmt"

// Kernels for convolutions computed directly rather than through GEMM:
// Stencil for depthwise convolutions (one input channel per output
// channel) and MultiDot for convolutions with only a few output pixels,
// whose cost is reading the weights.

// Stencil computes dst[i] = b + Σ_t w[t]·src[i+offs[t]] for i <
// len(dst), adding the taps in order. It is a depthwise convolution of a
// zero-padded image flattened with its row stride: the output, with the
// same row stride, is then one stencil whose offsets are the taps'
// (row·stride + column) positions. Every offset must be ≥ 0 and
// len(dst)+offs[t] ≤ len(src).
func Stencil(dst, src, w []float32, offs []int, b float32) {
	checkLen("Stencil", len(w), len(offs))
	for _, o := range offs {
		if o < 0 || o+len(dst) > len(src) {
			panic(fmt.Sprintf("kernels: Stencil: offset %d outside the %d-element source for %d outputs", o, len(src), len(dst)))
		}
	}
	if len(offs) == 0 {
		for i := range dst {
			dst[i] = b
		}
		return
	}
	stencil(dst, src, w, offs, b)
}

// MultiDot computes C = ep(A·Bᵀ) for an m×k matrix A (row stride lda) and
// an n×k matrix B (row stride ldb): c[i·ldc+j] is the dot product of
// row i of A and row j of B, then the epilogue's bias (per row of C if
// ep.BiasPerRow, else per column) and activation. It reads each row of A
// once per four columns of C, two rows at a time, so for small n (a
// convolution with a few output pixels, A its weights) it runs at the
// speed of reading A, where Sgemm would first pack it.
func MultiDot(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, ep *Epilogue) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("kernels: MultiDot: negative size m=%d n=%d k=%d", m, n, k))
	}
	checkMatrix("MultiDot", "a", m, k, a, lda)
	checkMatrix("MultiDot", "b", n, k, b, ldb)
	checkMatrix("MultiDot", "c", m, n, c, ldc)
	if ep.noop() {
		ep = nil
	} else if ep.Bias != nil {
		if ep.BiasPerRow {
			checkLen("MultiDot bias", len(ep.Bias), m)
		} else {
			checkLen("MultiDot bias", len(ep.Bias), n)
		}
	}
	var offs [4]int
	var out [8]float32
	// Two rows of A at a time (the second repeating the first after an
	// odd last row): each row's sums are the same either way.
	for i := 0; i < m; i += 2 {
		i1 := min(i+1, m-1)
		a0, a1 := a[i*lda:i*lda+k], a[i1*lda:i1*lda+k]
		c0, c1 := c[i*ldc:i*ldc+n], c[i1*ldc:i1*ldc+n]
		for j0 := 0; j0 < n; j0 += 4 {
			nb := min(4, n-j0)
			// Short groups repeat their last column.
			for j := range offs {
				offs[j] = (j0 + min(j, nb-1)) * ldb
			}
			dot2x4(a0, a1, b, &offs, &out)
			copy(c0[j0:j0+nb], out[:nb])
			copy(c1[j0:j0+nb], out[4:4+nb])
		}
		if ep != nil {
			ep.applyRow(c0, i, 0)
			if i1 > i {
				ep.applyRow(c1, i1, 0)
			}
		}
	}
}

// dot2x4Generic sets out[4r+j] to the dot product of ar (a0, a1) and
// b[offs[j]:] (len(a0) terms), for r < 2 and j < 4.
func dot2x4Generic(a0, a1, b []float32, offs *[4]int, out *[8]float32) {
	for j, o := range offs {
		out[j] = dotGeneric(a0, b[o:o+len(a0)])
		out[4+j] = dotGeneric(a1, b[o:o+len(a0)])
	}
}

// stencilGeneric is Stencil's loop, one Axpy per tap.
func stencilGeneric(dst, src, w []float32, offs []int, b float32) {
	for i := range dst {
		dst[i] = b
	}
	for t, o := range offs {
		axpyGeneric(w[t], src[o:o+len(dst)], dst)
	}
}
