package kernels

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/onnx"
)

// spBenchLayer is one layer of a small model in the two product shapes:
// vec (Gemm with transB: Y[m, rows] = X[m, cols]·Wᵀ) or conv (Im2col:
// C[rows, p] = W[rows, cols]·B[cols, p], m = p).
type spBenchLayer struct {
	name       string
	rows, cols int
	m          int
	conv       bool
	w          func(tb testing.TB) []float32 // dense weights before pruning
	sparsity   float64
}

var (
	lenet300Once    sync.Once
	lenet300Weights map[string][]float32
)

// lenet300 returns LeNet-300-100's trained fc1 and fc2 weights.
func lenet300(tb testing.TB, name string) []float32 {
	lenet300Once.Do(func() {
		m, err := graph.Load("../../testdata/models/lenet300.onnx", onnx.Limits{})
		if err != nil {
			tb.Fatal(err)
		}
		lenet300Weights = map[string][]float32{}
		for _, n := range []string{"fc1.weight", "fc2.weight"} {
			if w := m.Graph.Initializer(n); w != nil {
				lenet300Weights[n] = w.F32
			}
		}
	})
	w := lenet300Weights[name]
	if w == nil {
		tb.Fatalf("lenet300.onnx has no %s", name)
	}
	return w
}

func spRandomWeights(rows, cols int) func(testing.TB) []float32 {
	return func(testing.TB) []float32 {
		return randSlice(rand.New(rand.NewPCG(uint64(rows), uint64(cols))), rows*cols)
	}
}

// spBenchLayers: LeNet-300-100 (trained weights, magnitude-pruned to 95%)
// and LeNet-5 (random weights, 90%; its conv2 is 50×(20·5·5) on an 8×8
// output).
var spBenchLayers = []spBenchLayer{
	{"lenet300_fc1_b1", 300, 784, 1, false, func(tb testing.TB) []float32 { return lenet300(tb, "fc1.weight") }, 0.95},
	{"lenet300_fc1_b64", 300, 784, 64, false, func(tb testing.TB) []float32 { return lenet300(tb, "fc1.weight") }, 0.95},
	{"lenet300_fc2_b1", 100, 300, 1, false, func(tb testing.TB) []float32 { return lenet300(tb, "fc2.weight") }, 0.95},
	{"lenet300_fc2_b64", 100, 300, 64, false, func(tb testing.TB) []float32 { return lenet300(tb, "fc2.weight") }, 0.95},
	{"lenet5_conv2_p64", 50, 500, 64, true, spRandomWeights(50, 500), 0.90},
	{"lenet5_fc1_b1", 500, 800, 1, false, spRandomWeights(500, 800), 0.90},
	{"lenet5_fc1_b64", 500, 800, 64, false, spRandomWeights(500, 800), 0.90},
}

// spTime returns the best per-call time of f over many short rounds: on
// a loaded machine the minimum is the least disturbed measure.
func spTime(f func()) time.Duration {
	t, _ := spCompare(f, nil)
	return t
}

// spCompare times f and g (if not nil) in alternating rounds of about
// 0.5 ms, 60 of each, and returns the best per-call time of each.
func spCompare(f, g func()) (tf, tg time.Duration) {
	calib := func(h func()) int {
		h()
		n := 1
		for {
			t0 := time.Now()
			for range n {
				h()
			}
			d := time.Since(t0)
			if d > 200*time.Microsecond || n > 1<<20 {
				return max(1, int(float64(n)*float64(500*time.Microsecond)/float64(d+1)))
			}
			n *= 2
		}
	}
	round := func(h func(), n int) time.Duration {
		t0 := time.Now()
		for range n {
			h()
		}
		return time.Since(t0) / time.Duration(n)
	}
	nf, ng := calib(f), 0
	if g != nil {
		ng = calib(g)
	}
	tf, tg = 1<<62, 1<<62
	for range 60 {
		tf = min(tf, round(f, nf))
		if g != nil {
			tg = min(tg, round(g, ng))
		}
	}
	return tf, tg
}

// spLayerFuncs returns closures running layer l densely (Sgemm) and with
// the sparse matrix s built from the pruned weights w.
func spLayerFuncs(l spBenchLayer, w []float32, s SparseMatrix) (dense, sparse func()) {
	r := rand.New(rand.NewPCG(1, 2))
	if l.conv {
		b, c := randSlice(r, l.cols*l.m), make([]float32, l.rows*l.m)
		dense = func() { Sgemm(false, false, l.rows, l.m, l.cols, 1, w, l.cols, b, l.m, 0, c, l.m) }
		sparse = func() { s.MulDense(c, l.m, b, l.m, l.m, 0, nil) }
		return dense, sparse
	}
	x, y := randSlice(r, l.m*l.cols), make([]float32, l.m*l.rows)
	dense = func() { Sgemm(false, true, l.m, l.rows, l.cols, 1, x, l.cols, w, l.cols, 0, y, l.rows) }
	sparse = func() { s.MulVecBatch(y, l.rows, x, l.cols, l.m, 0, nil) }
	return dense, sparse
}

// spFormatsFor returns the formats benchmarked for the pruned w: CSR and
// BSR8, or NM for a 2:4 matrix.
func spFormatsFor(tb testing.TB, w []float32, rows, cols int, nm bool) []SparseMatrix {
	if nm {
		s, err := NewNM(w, rows, cols, 2, 4)
		if err != nil {
			tb.Fatal(err)
		}
		return []SparseMatrix{s}
	}
	return []SparseMatrix{NewCSR(w, rows, cols), NewBSR8(w, rows, cols)}
}

// BenchmarkSparse times each format against dense Sgemm on the same layer
// in the same run: the dense sub-benchmark reports ns/op, and each format
// reports its ns/op and x_vs_dense, the dense time (best of 5, measured
// just before) over its own. Unstructured layers are magnitude-pruned to
// the layer's sparsity; the nm2:4 ones keep the 2 largest of every 4.
//
//	go test -run '^$' -bench BenchmarkSparse$ -cpu 1 ./runtime/kernels/
func BenchmarkSparse(b *testing.B) {
	for _, l := range spBenchLayers {
		dw := l.w(b)
		for _, nm := range []bool{false, true} {
			if nm && l.conv {
				continue
			}
			var w []float32
			name := fmt.Sprintf("%s_s%02.0f", l.name, 100*l.sparsity)
			if nm {
				w, name = spNMPrune(dw, l.rows, l.cols, 2, 4), l.name+"_2:4"
			} else {
				w = spMagnitudePrune(dw, l.sparsity)
			}
			dense, _ := spLayerFuncs(l, w, nil)
			b.Run(name+"/dense", func(b *testing.B) {
				for b.Loop() {
					dense()
				}
			})
			for _, s := range spFormatsFor(b, w, l.rows, l.cols, nm) {
				_, sparse := spLayerFuncs(l, w, s)
				b.Run(name+"/"+s.Format(), func(b *testing.B) {
					td, ts := spCompare(dense, sparse)
					b.ResetTimer()
					for b.Loop() {
						sparse()
					}
					b.ReportMetric(float64(ts.Nanoseconds()), "best-ns/op")
					b.ReportMetric(float64(td.Nanoseconds()), "dense-best-ns/op")
					b.ReportMetric(float64(td)/float64(ts), "x_vs_dense")
					b.ReportMetric(float64(s.Bytes())/float64(4*len(w)), "bytes_vs_dense")
				})
			}
		}
	}
}

// TestSparseBreakEven prints, for LeNet-300's fc1 magnitude-pruned to each
// sparsity, every format's speed-up over dense Sgemm at batch 1 and 64,
// and the lowest sparsity at which each format wins. It takes about a
// minute, so it runs only when PODA_SPARSE_SWEEP is set:
//
//	PODA_SPARSE_SWEEP=1 go test -run TestSparseBreakEven -v -cpu 1 ./runtime/kernels/
func TestSparseBreakEven(t *testing.T) {
	if os.Getenv("PODA_SPARSE_SWEEP") == "" {
		t.Skip("set PODA_SPARSE_SWEEP=1 to run the sweep")
	}
	fc1 := lenet300(t, "fc1.weight")
	const rows, cols = 300, 784
	sparsities := []float64{0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98}
	for _, m := range []int{1, 64} {
		l := spBenchLayer{rows: rows, cols: cols, m: m}
		var out strings.Builder
		fmt.Fprintf(&out, "fc1 784→300, batch %d: speed-up over dense Sgemm (dense/sparse time)\n%-8s", m, "sparsity")
		for _, sp := range sparsities {
			fmt.Fprintf(&out, " %6.0f%%", 100*sp)
		}
		out.WriteString("  break-even\n")
		ratios := map[string][]float64{}
		var order []string
		for _, sp := range sparsities {
			w := spMagnitudePrune(fc1, sp)
			dense, _ := spLayerFuncs(l, w, nil)
			for _, s := range spFormatsFor(t, w, rows, cols, false) {
				_, sparse := spLayerFuncs(l, w, s)
				if _, ok := ratios[s.Format()]; !ok {
					order = append(order, s.Format())
				}
				td, ts := spCompare(dense, sparse)
				ratios[s.Format()] = append(ratios[s.Format()], float64(td)/float64(ts))
			}
		}
		for _, f := range order {
			fmt.Fprintf(&out, "%-8s", f)
			be := "none"
			for i, x := range ratios[f] {
				fmt.Fprintf(&out, " %6.2fx", x)
				if x > 1 && be == "none" {
					be = fmt.Sprintf("%.0f%%", 100*sparsities[i])
				}
			}
			fmt.Fprintf(&out, "  %s\n", be)
		}
		// N:M at its own sparsity (N/M kept).
		for _, nm := range [][2]int{{2, 4}, {1, 4}, {2, 8}, {1, 8}} {
			w := spNMPrune(fc1, rows, cols, nm[0], nm[1])
			s, err := NewNM(w, rows, cols, nm[0], nm[1])
			if err != nil {
				t.Fatal(err)
			}
			dense, sparse := spLayerFuncs(l, w, s)
			td, ts := spCompare(dense, sparse)
			x := float64(td) / float64(ts)
			fmt.Fprintf(&out, "%-8s at %4.1f%%: %.2fx\n", s.Format(), 100*(1-float64(nm[0])/float64(nm[1])), x)
		}
		t.Log("\n" + out.String())
	}
}

// BenchmarkSparseVecBatchM times MulVecBatch's two strategies (a sparse
// dot product per row of X, or transposing X and running the MulDense
// kernel) for small batches, to place sparseTransposeMin.
//
//	go test -run '^$' -bench BenchmarkSparseVecBatchM -cpu 1 ./runtime/kernels/
func BenchmarkSparseVecBatchM(b *testing.B) {
	saved := sparseTransposeMin
	defer func() { sparseTransposeMin = saved }()
	w := spMagnitudePrune(lenet300(b, "fc1.weight"), 0.95)
	w24 := spNMPrune(lenet300(b, "fc1.weight"), 300, 784, 2, 4)
	nm, _ := NewNM(w24, 300, 784, 2, 4)
	for _, s := range []SparseMatrix{NewCSR(w, 300, 784), NewBSR8(w, 300, 784), nm} {
		for _, m := range []int{1, 2, 4, 8, 16, 32} {
			for _, tr := range []bool{false, true} {
				l := spBenchLayer{rows: 300, cols: 784, m: m}
				_, f := spLayerFuncs(l, w, s)
				name := fmt.Sprintf("%s/m=%d/dot", s.Format(), m)
				if tr {
					name = fmt.Sprintf("%s/m=%d/transpose", s.Format(), m)
				}
				b.Run(name, func(b *testing.B) {
					sparseTransposeMin = 1 << 30
					if tr {
						sparseTransposeMin = 1
					}
					for b.Loop() {
						f()
					}
				})
			}
		}
	}
}
