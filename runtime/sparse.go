package runtime

import (
	"fmt"
	"sync"

	"github.com/podaml/poda/runtime/kernels"
	"github.com/podaml/poda/tensor"
)

// Sparse execution of pruned weights. A Conv, Gemm or MatMul whose weight
// is a constant with enough zeros runs on runtime/kernels' sparse formats
// instead of dense GEMM. The choice follows the kernels' measurements
// (sparse_doc.go, TestSparseBreakEven on LeNet-300's fc1):
//
//   - narrow products (a Gemm or MatMul on fewer than 4 rows): BSR 1×8
//     from 60% zeros (1.2× dense there, 1.8× at 80%, 3× at 90%), else 2:4
//     N:M when the weight has that structure (1.7×);
//   - wide products (4 or more rows, or a convolution's output pixels):
//     N:M when the weight has the structure (1:8 4×, 1:4 and 2:8 2×, 2:4
//     1.2×), else CSR from 65% zeros (1.07× at 60%, 1.4× at 70%, 2× at
//     80%);
//   - ungrouped stride-1 convolutions from 65% zeros: the direct sparse
//     convolution (ops_conv_sparse.go), which needs no im2col.
//
// Anything denser stays on dense GEMM. That is the choice without
// Options.Tune; with it (tune.go) each layer's format is measured instead,
// and Options.Formats (or a tuning file from `poda bench --tune`) forces
// one.
//
// # Measured speedups (whole models, tuned formats vs dense kernels)
//
// Ratios of median Run times, each pruned model on its tuned sparse
// formats (Options.Tune) against the same pruned weights on dense kernels
// (Options.Dense), alternating in one process, three runs of 1000
// iterations each (the spread is the range over the three):
//
//	go test ./runtime -run '^$' -bench 'BenchmarkSparseModel|BenchmarkNM24|BenchmarkStructuredPlusSparse' -benchtime 1000x -count 3
//
//	model, pruning, batch                 dense µs   sparse µs   speedup
//	LeNet-300-100, 95% global, b1           21–29     4.4–6.5    4.35–4.65×
//	LeNet-300-100, 95% global, b64         393–420     77–107    3.9–5.1×
//	LeNet-5, 90% global, b1                177–208     80–86     2.11–2.43×
//	LeNet-300-100, 2:4 forced, b1           27–28      14        1.92–1.96×
//	LeNet-300-100, 2:4 forced, b64         362–432    217–267    1.62–1.67×
//	LeNet-5, Gemms 2:4 forced, b1          176–197    160–175    1.10–1.13×
//	LeNet-5 structured 50% (dense), b1     194–245     55–63     3.5–4.1× vs the original
//	LeNet-5 structured 50% + 90%, b1       193–292     32–33     6.0–9.0× vs the original
//
// These are after the worker pool began polling (runtime/kernels/pool.go),
// which made the dense references faster (two threads now share products
// of a few hundred µs) and the 2:4 ones at batch 64 too; earlier runs had
// LeNet-300 at 95% b1 3.94–4.75× and b64 5.7–6.0×, LeNet-5 at 90%
// 2.5–3.2×.
//
// Per layer: LeNet-300 at 95% fc1 7.0× (bsr1x8 at b1, the tuner's own
// timings; 5–7× on the former 1×8 layout) and 7–9× (csr at b64); LeNet-5 at 90% conv2 4.6–5× on the
// direct convolution (CSR taps over the image, ops_conv_sparse.go) where
// im2col + CSR gave 1.3–1.4×, conv1 (77% nonzero) 1.4× on the direct
// path too, fc1 2.0–2.5× (bsr1x8). 2:4 per Gemm of every fixture, b1 and
// b64, is bench/nm24_layers.sh (the README has its table): 1.3× or more
// on every layer, but for single tunings hit by load.
//
// Machine caveat: AMD EPYC (Zen 3, AVX2+FMA), 2 vCPUs, GOMAXPROCS 2, Go 1.26,
// linux/amd64; expect ±20% between runs. Other architectures run the
// generic Go sparse loops and will differ.
const (
	maxSparseDensity = 0.5  // no format pays above this
	bsrDensity       = 0.4  // narrow products: BSR8 at or below
	csrDensity       = 0.35 // wide products: CSR at or below
	sparseWidthCSR   = 4    // rows of X (or pixels) from which a product is wide
)

// sparseCache holds the sparse forms an op built, so that plans for other
// input shapes reuse them.
type sparseCache struct {
	mu sync.Mutex
	m  map[sparseKey]kernels.SparseMatrix
}

type sparseKey struct {
	w      *tensor.Tensor
	group  int
	wide   bool
	format string // "" for the heuristic choice, else the format asked for
	image  [2]int // "direct": the padded image's height and width
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
// produces (row-major) for c's node: the format c.format asks for (nil for
// "dense" or a format the weight does not fit, such as N:M without the
// structure), or, when c.format is "", the one best suited to a product of
// the given width by the density heuristic (nil when dense GEMM is
// expected to be faster). Forms are built once and cached.
func (sc *sparseCache) get(c *pctx, w *tensor.Tensor, group, width int, build func() []float32, rows, cols int) kernels.SparseMatrix {
	wide := width >= sparseWidthCSR
	format := c.format
	if format != "" {
		wide = false
	}
	sc.mu.Lock()
	defer sc.mu.Unlock()
	k := sparseKey{w: w, group: group, wide: wide, format: format}
	if m, ok := sc.m[k]; ok {
		return m
	}
	var m kernels.SparseMatrix
	if format == "" {
		m = chooseSparse(build(), rows, cols, wide, c.threads)
	} else {
		m = buildSparse(format, build(), rows, cols, c.threads)
	}
	if sc.m == nil {
		sc.m = map[sparseKey]kernels.SparseMatrix{}
	}
	sc.m[k] = m
	return m
}

// getDirect returns the CSR form of w whose column indices are tap
// offsets into a padded image of the given height and width (see
// ops_conv_sparse.go), built by build once per image size.
func (sc *sparseCache) getDirect(w *tensor.Tensor, image [2]int, build func() *kernels.CSR) *kernels.CSR {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	k := sparseKey{w: w, format: "direct", image: image}
	if m, ok := sc.m[k]; ok {
		return m.(*kernels.CSR)
	}
	m := build()
	if sc.m == nil {
		sc.m = map[sparseKey]kernels.SparseMatrix{}
	}
	sc.m[k] = m
	return m
}

// keep drops the cached forms built for formats other than format (the
// candidates a tuning pass tried and rejected).
func (sc *sparseCache) keep(format string) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	for k := range sc.m {
		if k.format != "" && k.format != format {
			delete(sc.m, k)
		}
	}
}

// formatOf names the format of m, "dense" for nil.
func formatOf(m kernels.SparseMatrix) string {
	if m == nil {
		return "dense"
	}
	return m.Format()
}

// buildSparse builds the named format ("csr", "bsr1x8" or "bsr8",
// "nmN:M"), or returns nil for "dense", an unknown name or a weight
// without the N:M structure.
func buildSparse(format string, dense []float32, rows, cols, threads int) kernels.SparseMatrix {
	switch format {
	case "csr":
		c := kernels.NewCSR(dense, rows, cols)
		c.Threads = threads
		return c
	case "bsr8", "bsr1x8":
		b := kernels.NewBSR8(dense, rows, cols)
		b.Threads = threads
		return b
	}
	var n, m int
	if _, err := fmt.Sscanf(format, "nm%d:%d", &n, &m); err != nil || n <= 0 || m <= n {
		return nil
	}
	nm, err := kernels.NewNM(dense, rows, cols, n, m)
	if err != nil {
		return nil
	}
	nm.Threads = threads
	return nm
}

// canonicalFormat maps the accepted spellings of a format to the name
// kernels.SparseMatrix.Format reports ("bsr8" → "bsr1x8").
func canonicalFormat(f string) string {
	if f == "bsr8" {
		return "bsr1x8"
	}
	return f
}

// nmPatterns are the N:M structures tried, most profitable first.
var nmPatterns = [][2]int{{1, 8}, {1, 4}, {2, 8}, {2, 4}}

func chooseSparse(dense []float32, rows, cols int, wide bool, threads int) kernels.SparseMatrix {
	d := density(dense)
	if !wide {
		if d <= bsrDensity {
			b := kernels.NewBSR8(dense, rows, cols)
			b.Threads = threads
			return b
		}
		if nm, err := kernels.NewNM(dense, rows, cols, 2, 4); err == nil && d <= 0.5 {
			nm.Threads = threads
			return nm
		}
		return nil
	}
	for _, p := range nmPatterns {
		if d > float64(p[0])/float64(p[1]) {
			continue
		}
		if nm, err := kernels.NewNM(dense, rows, cols, p[0], p[1]); err == nil {
			nm.Threads = threads
			return nm
		}
	}
	if d <= csrDensity {
		c := kernels.NewCSR(dense, rows, cols)
		c.Threads = threads
		return c
	}
	return nil
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
