package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	goruntime "runtime"
	"slices"
	"testing"
	"time"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/internal/testalloc"
	"github.com/podaml/poda/onnx"
)

// spRandom returns a rows×cols matrix of normals with a fraction s of its
// entries (chosen at random) set to zero.
func spRandom(r *rand.Rand, rows, cols int, s float64) []float32 {
	w := randSlice(r, rows*cols)
	for i := range w {
		if r.Float64() < s {
			w[i] = 0
		}
	}
	return w
}

// spMagnitudePrune zeros the fraction s of w with the smallest |w|, as
// unstructured magnitude pruning does.
func spMagnitudePrune(w []float32, s float64) []float32 {
	out := slices.Clone(w)
	mags := make([]float64, len(w))
	for i, v := range w {
		mags[i] = math.Abs(float64(v))
	}
	slices.Sort(mags)
	cut := int(s * float64(len(w)))
	if cut == 0 {
		return out
	}
	thr := mags[cut-1]
	zeroed := 0
	for i, v := range out {
		if zeroed < cut && math.Abs(float64(v)) <= thr {
			out[i] = 0
			zeroed++
		}
	}
	return out
}

// spNMPrune keeps the n largest |w| of every m consecutive columns of each
// row (the last group may be shorter).
func spNMPrune(w []float32, rows, cols, n, m int) []float32 {
	out := slices.Clone(w)
	idx := make([]int, m)
	for r := 0; r < rows; r++ {
		for g := 0; g < cols; g += m {
			grp := out[r*cols+g : r*cols+min(g+m, cols)]
			idx = idx[:len(grp)]
			for i := range idx {
				idx[i] = i
			}
			slices.SortFunc(idx, func(a, b int) int {
				return -cmpAbs(grp[a], grp[b])
			})
			for _, i := range idx[min(n, len(idx)):] {
				grp[i] = 0
			}
		}
	}
	return out
}

func cmpAbs(a, b float32) int {
	x, y := math.Abs(float64(a)), math.Abs(float64(b))
	switch {
	case x < y:
		return -1
	case x > y:
		return 1
	}
	return 0
}

// spBuild returns every format of the dense w that can hold it: CSR and
// BSR8 always, NM for each of nms whose pattern w satisfies.
func spBuild(t *testing.T, w []float32, rows, cols int, nms ...[2]int) []SparseMatrix {
	t.Helper()
	out := []SparseMatrix{NewCSR(w, rows, cols), NewBSR8(w, rows, cols)}
	for _, nm := range nms {
		s, err := NewNM(w, rows, cols, nm[0], nm[1])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	for _, s := range out {
		if err := s.Validate(); err != nil {
			t.Fatalf("%s: %v", s.Format(), err)
		}
	}
	return out
}

// spWantEpilogue applies ep to the float64 reference (rows×cols, dense).
func spWantEpilogue(want, bound []float64, rows, cols int, ep *Epilogue) {
	if ep == nil {
		return
	}
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			v := want[i*cols+j]
			if ep.Bias != nil {
				bv := ep.Bias[min(j, len(ep.Bias)-1)]
				if ep.BiasPerRow {
					bv = ep.Bias[i]
				}
				v += float64(bv)
				bound[i*cols+j] += math.Abs(float64(bv))
			}
			if ep.Act == ActRelu && v < 0 {
				v = 0
			}
			want[i*cols+j] = v
		}
	}
}

type spCase struct {
	rows, cols, width int // width: p for MulDense, m for MulVecBatch
	beta              float32
	padIn, padOut     int
	ep                bool
	vec               bool // MulVecBatch (else MulDense)
}

func (tc spCase) String() string {
	op := "MulDense"
	if tc.vec {
		op = "MulVecBatch"
	}
	return fmt.Sprintf("%s %d×%d width %d beta %v pads %d,%d ep %v", op, tc.rows, tc.cols, tc.width, tc.beta, tc.padIn, tc.padOut, tc.ep)
}

// spCheck runs one product of s (the sparse form of the dense w) against
// naiveGemm, with guards around the output and in its row padding. It
// returns the output.
func spCheck(t *testing.T, r *rand.Rand, s SparseMatrix, w []float32, tc spCase) []float32 {
	t.Helper()
	rows, cols := tc.rows, tc.cols
	// Output outR×outC, input inR×inC.
	outR, outC, inR, inC := rows, tc.width, cols, tc.width
	if tc.vec {
		outR, outC, inR, inC = tc.width, rows, tc.width, cols
	}
	ldi, ldo := max(inC+tc.padIn, 1), max(outC+tc.padOut, 1)
	in := randSlice(r, max(0, (inR-1)*ldi+inC))
	olen := max(0, (outR-1)*ldo+outC)
	o0 := randSlice(r, olen)
	if tc.beta == 0 {
		for i := range o0 {
			o0[i] = float32(math.NaN()) // must be overwritten, not scaled
		}
	}
	for i := range o0 {
		if i%ldo >= outC {
			o0[i] = guardVal
		}
	}
	var ep *Epilogue
	if tc.ep {
		ep = &Epilogue{Act: ActRelu}
		if tc.vec {
			ep.Bias = randSlice(r, rows)
		} else {
			ep.Bias, ep.BiasPerRow = randSlice(r, rows), true
		}
	}
	buf, out := guarded(olen, func(i int) float32 { return o0[i] })
	var want, bound []float64
	if tc.vec {
		want, bound = naiveGemm(false, true, outR, outC, cols, 1, in, ldi, w, max(cols, 1), tc.beta, o0, ldo)
		s.MulVecBatch(out, ldo, in, ldi, tc.width, tc.beta, ep)
	} else {
		want, bound = naiveGemm(false, false, outR, outC, cols, 1, w, max(cols, 1), in, ldi, tc.beta, o0, ldo)
		s.MulDense(out, ldo, in, ldi, tc.width, tc.beta, ep)
	}
	spWantEpilogue(want, bound, outR, outC, ep)
	checkGuards(t, s.Format()+" "+tc.String(), buf, olen)
	eps := float64(1.0 / (1 << 23))
	for i := 0; i < outR; i++ {
		for j := 0; j < ldo && i*ldo+j < olen; j++ {
			got := out[i*ldo+j]
			if j >= outC {
				if math.Float32bits(got) != math.Float32bits(guardVal) {
					t.Fatalf("%s %v: padding [%d,%d] overwritten: %v", s.Format(), tc, i, j, got)
				}
				continue
			}
			wv, tol := want[i*outC+j], 2*float64(cols+4)*eps*bound[i*outC+j]+1e-30
			if d := math.Abs(float64(got) - wv); !(d <= tol) {
				t.Fatalf("%s %v: out[%d,%d] = %v, want %v (|diff| %g > tol %g)", s.Format(), tc, i, j, got, wv, d, tol)
			}
		}
	}
	return out
}

var spNMs = [][2]int{{2, 4}, {1, 4}, {4, 8}, {3, 8}, {2, 16}, {1, 1}}

func TestSparseRandom(t *testing.T) {
	impls(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(21, 22))
		betas := []float32{0, 1, 0.5}
		for _, sp := range []float64{0, 0.5, 0.9, 0.98} {
			for it := 0; it < 60; it++ {
				rows, cols := 1+r.IntN(67), 1+r.IntN(67)
				w := spRandom(r, rows, cols, sp)
				nm := spNMs[it%len(spNMs)]
				wnm := spNMPrune(w, rows, cols, nm[0], nm[1])
				mats := spBuild(t, w, rows, cols)
				nmMats := spBuild(t, wnm, rows, cols, nm)
				for _, vec := range []bool{false, true} {
					width := 1 + r.IntN(67)
					if vec && it%3 == 0 {
						width = 1 + r.IntN(3) // the dot-product path
					}
					tc := spCase{rows: rows, cols: cols, width: width, beta: betas[r.IntN(3)],
						padIn: r.IntN(2) * r.IntN(5), padOut: r.IntN(2) * r.IntN(7), ep: it%4 == 1, vec: vec}
					for _, s := range mats {
						spCheck(t, r, s, w, tc)
					}
					for _, s := range nmMats {
						spCheck(t, r, s, wnm, tc)
					}
				}
			}
		}
	})
}

// TestSparseEdges covers every column tail of the AVX2 kernels (widths 1
// … 130), empty rows and matrices, and fewer than 8 columns (where BSR8
// blocks are shorter than 8).
func TestSparseEdges(t *testing.T) {
	impls(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(23, 24))
		for _, sz := range [][2]int{{1, 1}, {3, 5}, {7, 8}, {9, 9}, {5, 17}, {13, 40}, {4, 0}} {
			rows, cols := sz[0], sz[1]
			for _, sp := range []float64{0, 0.7, 1} {
				w := spRandom(r, rows, cols, sp)
				for i := range w {
					if r.IntN(3) == 0 && i/max(cols, 1)%2 == 1 {
						w[i] = 0 // empty rows in between
					}
				}
				wnm := spNMPrune(w, rows, cols, 2, 4)
				for width := 1; width <= 130; width += 1 + width/16 {
					for _, vec := range []bool{false, true} {
						tc := spCase{rows: rows, cols: cols, width: width, beta: float32(width % 2), padOut: 1, vec: vec}
						for _, s := range spBuild(t, w, rows, cols) {
							spCheck(t, r, s, w, tc)
						}
						for _, s := range spBuild(t, wnm, rows, cols, [2]int{2, 4}) {
							spCheck(t, r, s, wnm, tc)
						}
					}
				}
			}
		}
	})
}

func TestSparseThreads(t *testing.T) {
	saved := sparseParallelWork
	defer func() { sparseParallelWork = saved }()
	sparseParallelWork = 1 << 10
	r := rand.New(rand.NewPCG(25, 26))
	for _, threads := range []int{0, 1, 2, 3, 5} {
		impls(t, func(t *testing.T) {
			for _, sz := range [][3]int{{200, 150, 70}, {8, 700, 90}, {50, 500, 64}, {97, 101, 103}} {
				rows, cols, width := sz[0], sz[1], sz[2]
				w := spRandom(r, rows, cols, 0.8)
				wnm := spNMPrune(w, rows, cols, 2, 4)
				for _, vec := range []bool{false, true} {
					tc := spCase{rows: rows, cols: cols, width: width, beta: 0.25, padOut: 1, ep: true, vec: vec}
					for _, s := range spBuild(t, w, rows, cols) {
						setThreads(s, threads)
						spCheck(t, r, s, w, tc)
					}
					for _, s := range spBuild(t, wnm, rows, cols, [2]int{2, 4}) {
						setThreads(s, threads)
						spCheck(t, r, s, wnm, tc)
					}
					tc.width = 1
					if vec {
						for _, s := range spBuild(t, w, rows, cols) {
							setThreads(s, threads)
							spCheck(t, r, s, w, tc)
						}
					}
				}
			}
		})
	}
}

func setThreads(s SparseMatrix, n int) {
	switch s := s.(type) {
	case *CSR:
		s.Threads = n
	case *BSR8:
		s.Threads = n
	case *NM:
		s.Threads = n
	}
}

// lenetFC1 returns LeNet-300-100's fc1 weight, [300, 784].
func lenetFC1(tb testing.TB) []float32 {
	tb.Helper()
	m, err := graph.Load("../../testdata/models/lenet300.onnx", onnx.Limits{})
	if err != nil {
		tb.Fatal(err)
	}
	w := m.Graph.Initializer("fc1.weight")
	if w == nil || len(w.F32) != 300*784 {
		tb.Fatalf("fc1.weight: %v", w)
	}
	return w.F32
}

// TestSparseLeNet300 checks every format on LeNet-300's fc1 pruned by
// magnitude to 95% (and to 2:4), at batch 1 and 64 and as a 64-wide
// MulDense.
func TestSparseLeNet300(t *testing.T) {
	fc1 := lenetFC1(t)
	const rows, cols = 300, 784
	w := spMagnitudePrune(fc1, 0.95)
	w24 := spNMPrune(fc1, rows, cols, 2, 4)
	impls(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(27, 28))
		for _, tc := range []spCase{
			{rows: rows, cols: cols, width: 1, vec: true, ep: true},
			{rows: rows, cols: cols, width: 64, vec: true, ep: true},
			{rows: rows, cols: cols, width: 64, beta: 1},
		} {
			for _, s := range spBuild(t, w, rows, cols) {
				spCheck(t, r, s, w, tc)
			}
			for _, s := range spBuild(t, w24, rows, cols, [2]int{2, 4}) {
				spCheck(t, r, s, w24, tc)
			}
		}
	})
}

// TestSparseFastMatchesGeneric compares the assembly with the generic
// loops directly.
func TestSparseFastMatchesGeneric(t *testing.T) {
	if !useAVX2FMA {
		t.Skip("no assembly on this CPU/build")
	}
	defer func() { useAVX2FMA = true }()
	r := rand.New(rand.NewPCG(29, 30))
	for it := 0; it < 40; it++ {
		rows, cols, width := 1+r.IntN(90), 1+r.IntN(300), 1+r.IntN(90)
		w := spNMPrune(spRandom(r, rows, cols, 0.3), rows, cols, 2, 4)
		in := randSlice(r, max(rows, width)*cols)
		for _, s := range spBuild(t, w, rows, cols, [2]int{2, 4}) {
			for _, vec := range []bool{false, true} {
				n := rows * width
				out0 := randSlice(r, n)
				fast, gen := slices.Clone(out0), slices.Clone(out0)
				for _, f := range []bool{true, false} {
					useAVX2FMA = f
					dst := fast
					if !f {
						dst = gen
					}
					if vec {
						s.MulVecBatch(dst, rows, in, cols, width, 0.5, nil)
					} else {
						s.MulDense(dst, width, in, width, width, 0.5, nil)
					}
				}
				for i := range fast {
					if d := math.Abs(float64(fast[i] - gen[i])); d > 1e-5*float64(cols) {
						t.Fatalf("%s vec=%v %d×%d width %d: fast[%d] = %v, generic %v", s.Format(), vec, rows, cols, width, i, fast[i], gen[i])
					}
				}
			}
		}
	}
}

func TestSparseAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	defer goruntime.GOMAXPROCS(goruntime.GOMAXPROCS(2))
	defer SetWorkerSpin(SetWorkerSpin(time.Second)) // see internal/testalloc
	// noAllocs checks f at GOMAXPROCS 1 (AllocsPerRun) and split over two
	// goroutines (testalloc; below 0.5 leaves room for a stray
	// allocation of the test framework, not one per call).
	noAllocs := func(what string, f func()) {
		t.Helper()
		f() // warm the pools and start the workers
		if allocs := testing.AllocsPerRun(20, f); allocs != 0 {
			t.Errorf("%s: %v allocations per call, want 0", what, allocs)
		}
		if allocs := testalloc.PerRun(20, f); allocs >= 0.5 {
			t.Errorf("%s at GOMAXPROCS 2: %v allocations per call, want 0", what, allocs)
		}
	}
	r := rand.New(rand.NewPCG(31, 32))
	const rows, cols = 300, 784
	w := spNMPrune(spRandom(r, rows, cols, 0.9), rows, cols, 2, 4)
	x, y := randSlice(r, 64*cols), make([]float32, 64*rows)
	ep := &Epilogue{Bias: randSlice(r, rows), Act: ActRelu}
	for _, s := range spBuild(t, w, rows, cols, [2]int{2, 4}) {
		for _, m := range []int{1, 64} {
			noAllocs(fmt.Sprintf("%s MulVecBatch m=%d", s.Format(), m), func() { s.MulVecBatch(y, rows, x, cols, m, 0, ep) })
		}
		epr := &Epilogue{Bias: randSlice(r, rows), BiasPerRow: true}
		noAllocs(s.Format()+" MulDense", func() { s.MulDense(y, 64, x, 64, 64, 0, epr) })
	}
}

func TestNewBSR8Layout(t *testing.T) {
	const a, b, c, d = 1, 2, 3, 4
	w := []float32{
		0, a, 0, 0, 0, 0, 0, 0, 0, b, c, 0,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		a, 0, 0, 0, 0, 0, 0, b, c, 0, 0, d,
	}
	s := NewBSR8(w, 3, 12)
	if want := []int32{0, 2, 2, 4}; !slices.Equal(s.RowPtr, want) {
		t.Errorf("RowPtr = %v, want %v", s.RowPtr, want)
	}
	// A block starting at 8 or 9 would cross the end: it moves to 4, with
	// its already covered columns held as zeros.
	if want := []int32{1, 4, 0, 4}; !slices.Equal(s.ColIdx, want) {
		t.Errorf("ColIdx = %v, want %v", s.ColIdx, want)
	}
	if want := []float32{
		a, 0, 0, 0, 0, 0, 0, 0,
		0, 0, 0, 0, 0, b, c, 0,
		a, 0, 0, 0, 0, 0, 0, b,
		0, 0, 0, 0, c, 0, 0, d,
	}; !slices.Equal(s.Val, want) {
		t.Errorf("Val = %v, want %v", s.Val, want)
	}
	if err := s.Validate(); err != nil {
		t.Error(err)
	}
}

func TestSparseValidate(t *testing.T) {
	w := []float32{1, 0, 2, 0, 0, 3, 0, 4}
	csr := NewCSR(w, 2, 4)
	csr.ColIdx[1] = 4
	if csr.Validate() == nil {
		t.Error("CSR with column 4 of 4 validated")
	}
	bsr := NewBSR8(w, 1, 8)
	bsr.ColIdx[0] = 1
	if bsr.Validate() == nil {
		t.Error("BSR8 block crossing the end validated")
	}
	nm, err := NewNM(w, 2, 4, 2, 4)
	if err != nil {
		t.Fatal(err)
	}
	nm.Off[0] = 4
	if nm.Validate() == nil {
		t.Error("NM offset 4 in a group of 4 validated")
	}
	if _, err := NewNM(w, 1, 8, 1, 4); err == nil {
		t.Error("NewNM accepted 2 nonzeros in a group of a 1:4 matrix")
	}
	if _, err := NewNM(w, 1, 8, 2, 17); err == nil {
		t.Error("NewNM accepted M = 17")
	}
}

func TestSparsePanics(t *testing.T) {
	s := NewCSR([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	a := make([]float32, 12)
	for name, f := range map[string]func(){
		"short b":    func() { s.MulDense(a, 5, a, 5, 5, 0, nil) },
		"short c":    func() { s.MulDense(a[:5], 3, a, 3, 3, 0, nil) },
		"short x":    func() { s.MulVecBatch(a, 2, a, 3, 5, 0, nil) },
		"bias len":   func() { s.MulVecBatch(a, 2, a, 3, 2, 0, &Epilogue{Bias: a[:3]}) },
		"negative p": func() { s.MulDense(a, 3, a, 3, -1, 0, nil) },
		"bad rowptr": func() { (&CSR{Rows: 2, Cols: 3, RowPtr: []int32{0, 1}}).MulDense(a, 3, a, 3, 3, 0, nil) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

// TestNMNoSlack runs the 2:4 batch-1 path on an NM whose Off has no spare
// capacity (built by hand rather than by NewNM): the partial last chunk
// must then go through the Go loop rather than read past Off.
func TestNMNoSlack(t *testing.T) {
	impls(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(33, 34))
		for _, sz := range [][2]int{{5, 300}, {8, 36}, {3, 20}, {9, 100}} {
			rows, cols := sz[0], sz[1]
			w := spNMPrune(spRandom(r, rows, cols, 0.2), rows, cols, 2, 4)
			s, err := NewNM(w, rows, cols, 2, 4)
			if err != nil {
				t.Fatal(err)
			}
			s.Off = slices.Clip(s.Off)
			for _, m := range []int{1, 3} {
				spCheck(t, r, s, w, spCase{rows: rows, cols: cols, width: m, beta: 0.5, vec: true})
			}
		}
	})
}

// TestCSRMulShifted checks MulShifted against its definition, C[r, j] =
// beta·C[r, j] + Σ W(r, k)·b[k+j], on random shapes (widths across the
// kernel's 64-column blocks and lane tails), with the assembly and the
// generic loops.
func TestCSRMulShifted(t *testing.T) {
	asm := useAVX2FMA
	defer func() { useAVX2FMA = asm }()
	r := rand.New(rand.NewPCG(33, 34))
	for it := 0; it < 60; it++ {
		rows, cols, p := 1+r.IntN(20), 1+r.IntN(200), 1+r.IntN(150)
		w := spRandom(r, rows, cols, 0.8)
		s := NewCSR(w, rows, cols)
		b := randSlice(r, cols-1+p)
		ldc := p + r.IntN(3)
		c0 := randSlice(r, rows*ldc)
		beta := float32(r.IntN(2)) * 0.5
		ep := &Epilogue{Bias: randSlice(r, rows), BiasPerRow: true, Act: ActRelu}
		want := make([]float64, len(c0))
		for i := 0; i < rows; i++ {
			for j := 0; j < p; j++ {
				v := float64(beta) * float64(c0[i*ldc+j])
				if beta == 0 {
					v = 0
				}
				for k := 0; k < cols; k++ {
					v += float64(w[i*cols+k]) * float64(b[k+j])
				}
				want[i*ldc+j] = max(0, v+float64(ep.Bias[i]))
			}
		}
		for _, fast := range []bool{true, false} {
			useAVX2FMA = fast && asm
			c := slices.Clone(c0)
			s.MulShifted(c, ldc, b, p, beta, ep)
			for i := 0; i < rows; i++ {
				for j := 0; j < p; j++ {
					if d := math.Abs(float64(c[i*ldc+j]) - want[i*ldc+j]); d > 1e-4*(1+math.Abs(want[i*ldc+j])) {
						t.Fatalf("fast %v %d×%d p %d: C[%d, %d] = %v, want %v", fast, rows, cols, p, i, j, c[i*ldc+j], want[i*ldc+j])
					}
				}
			}
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("short b: no panic")
		}
	}()
	NewCSR([]float32{1, 2}, 1, 2).MulShifted(make([]float32, 4), 4, make([]float32, 4), 4, 0, nil)
}

// TestBSRSlicedMatchesRows checks the batch-1 BSR8 layout (every lane of
// a slice, a partial last slice, rows without blocks, odd block counts,
// blocks moved left at the end of a row) against the row-by-row generic
// loop, with the assembly and the generic loop.
func TestBSRSlicedMatchesRows(t *testing.T) {
	asm := useAVX2FMA
	defer func() { useAVX2FMA = asm }()
	r := rand.New(rand.NewPCG(35, 36))
	for it := 0; it < 60; it++ {
		rows, cols := 1+r.IntN(40), 4+r.IntN(100)
		w := spRandom(r, rows, cols, r.Float64())
		for i := 0; i < rows; i += 1 + r.IntN(4) {
			clear(w[i*cols : (i+1)*cols])
		}
		s := NewBSR8(w, rows, cols)
		if s.sliced == nil {
			t.Fatalf("%d×%d: no sliced layout", rows, cols)
		}
		x := randSlice(r, cols)
		want := randSlice(r, rows)
		bsrDotGeneric(s.RowPtr, s.ColIdx, s.Val, x, want, 0)
		for _, fast := range []bool{true, false} {
			useAVX2FMA = fast && asm
			got := randSlice(r, rows)
			bsrSlicedDot(s.sliced, x, got)
			for i := range want {
				if d := math.Abs(float64(got[i] - want[i])); d > 1e-5*float64(cols) {
					t.Fatalf("fast %v %d×%d: y[%d] = %v, want %v", fast, rows, cols, i, got[i], want[i])
				}
			}
		}
	}
	if NewBSR8(make([]float32, 6), 2, 3).sliced != nil {
		t.Error("a sliced layout for 3 columns")
	}
	if NewBSR8(make([]float32, maxSlicedCols+1), 1, maxSlicedCols+1).sliced != nil {
		t.Error("a sliced layout for more columns than uint16 numbers")
	}
}

// TestNM24PairsMatchesRows checks the 2:4 batch layout (odd group
// counts, partial chunks, row counts around multiples of 8 and below,
// whose last pass is padded, row ranges that cut passes, several rows of
// X with strides; nothing outside the rows asked for is written) against the row-by-row
// generic loop, with the assembly and the generic loop.
func TestNM24PairsMatchesRows(t *testing.T) {
	asm := useAVX2FMA
	defer func() { useAVX2FMA = asm }()
	r := rand.New(rand.NewPCG(37, 38))
	for it := 0; it < 60; it++ {
		rows, cols, m := 1+r.IntN(37), 1+r.IntN(70), 1+r.IntN(5)
		w := spNMPrune(spRandom(r, rows, cols, 0.2), rows, cols, 2, 4)
		s, err := NewNM(w, rows, cols, 2, 4)
		if err != nil {
			t.Fatal(err)
		}
		if s.pairs == nil {
			t.Fatalf("%d×%d: no 2:4 layout", rows, cols)
		}
		ldx, ldy := cols+r.IntN(3), rows+r.IntN(3)
		x := randSlice(r, m*ldx)
		want := make([]float32, m*ldy)
		for i := 0; i < m; i++ {
			nmDotGeneric(rows, s.Groups, 2, 4, s.Off, s.Val, x[i*ldx:i*ldx+cols], want[i*ldy:i*ldy+rows], 0)
		}
		r0 := r.IntN(rows)
		r1 := r0 + 1 + r.IntN(rows-r0)
		for _, fast := range []bool{true, false} {
			useAVX2FMA = fast && asm
			got := randSlice(r, m*ldy)
			before := slices.Clone(got)
			s.dotBatch(r0, r1, x, ldx, got, ldy, m)
			for i := range got {
				if k := i % ldy; (k < r0 || k >= r1 || i/ldy >= m) && got[i] != before[i] {
					t.Fatalf("fast %v %d×%d m %d rows [%d, %d): y[%d, %d] written", fast, rows, cols, m, r0, r1, i/ldy, k)
				}
			}
			for i := 0; i < m; i++ {
				for k := r0; k < r1; k++ {
					if d := math.Abs(float64(got[i*ldy+k] - want[i*ldy+k])); d > 1e-5*float64(cols) {
						t.Fatalf("fast %v %d×%d m %d rows [%d, %d): y[%d, %d] = %v, want %v", fast, rows, cols, m, r0, r1, i, k, got[i*ldy+k], want[i*ldy+k])
					}
				}
			}
		}
	}
}

// TestNMFullPanels checks nmMulDense against nmMulDenseGeneric on widths
// that take the 64-column kernels (spmmNM<n>FullAVX2) for every N they
// exist for, with odd and even group counts, several k-blocks, a tail
// panel and both beta paths.
func TestNMFullPanels(t *testing.T) {
	r := rand.New(rand.NewPCG(31, 32))
	for _, nm := range [][2]int{{2, 4}, {4, 8}, {8, 16}, {2, 8}, {1, 4}} {
		nn, mm := nm[0], nm[1]
		for _, groups := range []int{1, 2, 3, 16, 17, 33, 50} {
			for _, width := range []int{64, 128, 150} {
				rows, ldb, ldc := 1+r.IntN(9), width+r.IntN(3), width+r.IntN(3)
				off := make([]uint8, rows*groups*nn)
				for i := range off {
					off[i] = uint8(r.IntN(mm))
				}
				val := randSlice(r, len(off))
				b := randSlice(r, groups*mm*ldb)
				for _, beta := range []float32{0, 0.5} {
					c0 := randSlice(r, rows*ldc)
					fast, gen := slices.Clone(c0), slices.Clone(c0)
					nmMulDense(rows, groups, nn, mm, off, val, b, ldb, fast, ldc, width, beta)
					nmMulDenseGeneric(rows, groups, nn, mm, off, val, b, ldb, gen, ldc, width, beta)
					for i := range fast {
						if d := math.Abs(float64(fast[i] - gen[i])); d > 1e-4*float64(groups*nn) {
							t.Fatalf("%d:%d groups %d width %d beta %v: c[%d] = %v, generic %v", nn, mm, groups, width, beta, i, fast[i], gen[i])
						}
					}
				}
			}
		}
	}
}
