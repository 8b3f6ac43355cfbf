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
// once per four columns of C, so for small n (a convolution with a few
// output pixels, A its weights) it runs at the speed of reading A, where
// Sgemm would first pack it.
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
	var out [4]float32
	for i := 0; i < m; i++ {
		row := a[i*lda : i*lda+k]
		crow := c[i*ldc : i*ldc+n]
		for j0 := 0; j0 < n; j0 += 4 {
			nb := min(4, n-j0)
			// Short groups repeat their last column.
			for j := range offs {
				offs[j] = (j0 + min(j, nb-1)) * ldb
			}
			dot4(row, b, &offs, &out)
			copy(crow[j0:j0+nb], out[:nb])
		}
		if ep != nil {
			ep.applyRow(crow, i, 0)
		}
	}
}

// dot4Generic sets out[j] to the dot product of a and b[offs[j]:] (len(a)
// terms), for j < 4.
func dot4Generic(a, b []float32, offs *[4]int, out *[4]float32) {
	for j, o := range offs {
		out[j] = dotGeneric(a, b[o:o+len(a)])
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
