package runtime

import (
	"sync"

	"github.com/podaml/poda/runtime/kernels"
	"github.com/podaml/poda/tensor"
)

// Sparse execution of pruned weights. A Conv, Gemm or MatMul whose weight
// is a constant with at most sparseDensity of its elements nonzero runs
// on runtime/kernels' sparse formats instead of dense GEMM: CSR when the
// product is wide (a batch of rows, or a convolution's output pixels),
// BSR 1×8 for a single row, where gathering one input per nonzero is the
// bottleneck. The thresholds follow the kernels' break-even sweep on
// LeNet-300's fc1 (TestSparseBreakEven): at 80% zeros CSR beats Sgemm at
// batch 64 and BSR8 at batch 1; at 50-70% zeros dense wins or ties.
const sparseDensity = 0.2

// sparseWidthCSR is the product width (rows of X, or output pixels) from
// which CSR is preferred to BSR8.
const sparseWidthCSR = 2

// sparseCache holds the sparse forms an op built, so that plans for other
// input shapes reuse them.
type sparseCache struct {
	mu sync.Mutex
	m  map[sparseKey]kernels.SparseMatrix
}

type sparseKey struct {
	w      *tensor.Tensor
	group  int
	format string
}

// density returns the fraction of nonzero elements of w.
func density(w []float32) float64 {
	if len(w) == 0 {
		return 1
	}
	nz := 0
	for _, v := range w {
		if v != 0 {
			nz++
		}
	}
	return float64(nz) / float64(len(w))
}

// get returns the sparse form of the rows×cols matrix that build
// produces (row-major), in the format suited to a product of the given
// width, building it on first use.
func (sc *sparseCache) get(w *tensor.Tensor, group, width, threads int, build func() []float32, rows, cols int) kernels.SparseMatrix {
	format := "csr"
	if width < sparseWidthCSR {
		format = "bsr8"
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	k := sparseKey{w, group, format}
	if m, ok := sc.m[k]; ok {
		return m
	}
	dense := build()
	var m kernels.SparseMatrix
	if format == "csr" {
		c := kernels.NewCSR(dense, rows, cols)
		c.Threads = threads
		m = c
	} else {
		b := kernels.NewBSR8(dense, rows, cols)
		b.Threads = threads
		m = b
	}
	if sc.m == nil {
		sc.m = map[sparseKey]kernels.SparseMatrix{}
	}
	sc.m[k] = m
	return m
}

// transposed returns the cols×rows transpose of the rows×cols matrix w,
// scaled by alpha.
func transposed(w []float32, rows, cols int, alpha float32) []float32 {
	out := make([]float32, len(w))
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			out[j*rows+i] = alpha * w[i*cols+j]
		}
	}
	return out
}

func scaled(w []float32, alpha float32) []float32 {
	out := make([]float32, len(w))
	for i, v := range w {
		out[i] = alpha * v
	}
	return out
}
