package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/podaml/poda/internal/testalloc"
)

// impls runs f once per available implementation: with the assembly (if
// this CPU and build have it), then with useAVX2FMA switched off.
func impls(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	saved := useAVX2FMA
	defer func() { useAVX2FMA = saved }()
	if saved {
		useAVX2FMA = true
		t.Run("avx2fma", f)
	}
	useAVX2FMA = false
	t.Run("generic", f)
}

const guardLen = 37

var guardVal = float32(math.Float32frombits(0x7fc0beef)) // a NaN payload

// guarded returns a slice of n values drawn from fill, surrounded by
// guardLen guard values on each side; the returned slice has no spare
// capacity, so appends or overruns show up in checkGuards.
func guarded(n int, fill func(i int) float32) (buf, s []float32) {
	buf = make([]float32, n+2*guardLen)
	for i := range buf {
		buf[i] = guardVal
	}
	s = buf[guardLen : guardLen+n : guardLen+n]
	for i := range s {
		s[i] = fill(i)
	}
	return buf, s
}

func checkGuards(t *testing.T, name string, buf []float32, n int) {
	t.Helper()
	for i := 0; i < guardLen; i++ {
		if math.Float32bits(buf[i]) != math.Float32bits(guardVal) {
			t.Fatalf("%s: guard before the data overwritten at %d: %v", name, i-guardLen, buf[i])
		}
		if j := guardLen + n + i; math.Float32bits(buf[j]) != math.Float32bits(guardVal) {
			t.Fatalf("%s: guard after the data overwritten at +%d: %v", name, i, buf[j])
		}
	}
}

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

// naiveGemm is the triple loop in float64, also returning for each element
// the bound |alpha|·Σ|a||b| + |beta||c| that scales the rounding error.
func naiveGemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) (want, bound []float64) {
	want = make([]float64, m*n)
	bound = make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s, sa float64
			for p := 0; p < k; p++ {
				var av, bv float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += float64(av) * float64(bv)
				sa += math.Abs(float64(av) * float64(bv))
			}
			v := float64(alpha) * s
			bd := math.Abs(float64(alpha)) * sa
			if beta != 0 {
				v += float64(beta) * float64(c[i*ldc+j])
				bd += math.Abs(float64(beta) * float64(c[i*ldc+j]))
			}
			want[i*n+j] = v
			bound[i*n+j] = bd
		}
	}
	return want, bound
}

type gemmCase struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	padA, padB     int // extra row stride
	padC           int
}

// runGemmCase checks Sgemm against naiveGemm with guards around C and in
// the padding between its rows; it returns C.
func runGemmCase(t *testing.T, r *rand.Rand, tc gemmCase) []float32 {
	t.Helper()
	ar, ac := tc.m, tc.k
	if tc.transA {
		ar, ac = tc.k, tc.m
	}
	br, bc := tc.k, tc.n
	if tc.transB {
		br, bc = tc.n, tc.k
	}
	lda, ldb, ldc := ac+tc.padA, bc+tc.padB, tc.n+tc.padC
	a := randSlice(r, max(0, (ar-1)*lda+ac))
	b := randSlice(r, max(0, (br-1)*ldb+bc))
	clen := (tc.m-1)*ldc + tc.n
	c0 := randSlice(r, clen)
	if tc.beta == 0 {
		for i := range c0 {
			c0[i] = float32(math.NaN()) // must be overwritten, not scaled
		}
	}
	for i := range c0 {
		if i%ldc >= tc.n {
			c0[i] = guardVal
		}
	}
	buf, c := guarded(clen, func(i int) float32 { return c0[i] })
	want, bound := naiveGemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, c0, ldc)
	Sgemm(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, c, ldc)
	checkGuards(t, "C", buf, clen)
	eps := float64(1.0 / (1 << 23))
	for i := 0; i < tc.m; i++ {
		for j := 0; j < ldc && i*ldc+j < clen; j++ {
			got := c[i*ldc+j]
			if j >= tc.n {
				if math.Float32bits(got) != math.Float32bits(guardVal) {
					t.Fatalf("%+v: C padding [%d,%d] overwritten: %v", tc, i, j, got)
				}
				continue
			}
			w, tol := want[i*tc.n+j], 2*float64(tc.k+2)*eps*bound[i*tc.n+j]+1e-30
			if d := math.Abs(float64(got) - w); !(d <= tol) {
				t.Fatalf("%+v: C[%d,%d] = %v, want %v (|diff| %g > tol %g)", tc, i, j, got, w, d, tol)
			}
		}
	}
	return c
}

func TestSgemmRandomShapes(t *testing.T) {
	impls(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		alphas := []float32{1, -0.5, 0}
		betas := []float32{0, 1, 0.7}
		for it := 0; it < 400; it++ {
			tc := gemmCase{
				transA: it&1 != 0, transB: it&2 != 0,
				m: 1 + r.IntN(67), n: 1 + r.IntN(67), k: 1 + r.IntN(67),
				alpha: alphas[r.IntN(3)], beta: betas[r.IntN(3)],
				padA: r.IntN(3) * r.IntN(5), padB: r.IntN(3) * r.IntN(5), padC: r.IntN(2) * r.IntN(7),
			}
			runGemmCase(t, r, tc)
		}
	})
}

func TestSgemmEdges(t *testing.T) {
	impls(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(3, 4))
		for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
			for _, sz := range [][3]int{
				{1, 1, 1}, {1, 67, 13}, {67, 1, 13}, {6, 16, 1}, {7, 17, 2}, {5, 15, 3},
				{mr, nr, kcBlock}, {mr + 1, nr + 1, kcBlock + 1}, {mcBlock + 7, 33, kcBlock*2 + 5},
				{150, 200, 300}, {3, ncBlock + 20, 4}, {4, 36, 3}, {2, 3, 0}, {0, 5, 5}, {5, 0, 5},
			} {
				for _, ab := range [][2]float32{{1, 0}, {2, 1}, {-1, 0.5}} {
					if sz[0] == 0 || sz[1] == 0 {
						continue
					}
					runGemmCase(t, r, gemmCase{transA: tr[0], transB: tr[1], m: sz[0], n: sz[1], k: sz[2], alpha: ab[0], beta: ab[1], padA: 1, padB: 2, padC: 3})
				}
			}
		}
	})
}

// TestSgemmThreads runs shapes large enough to be split, under several
// GOMAXPROCS values, so both the row and the column partition are used.
func TestSgemmThreads(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	r := rand.New(rand.NewPCG(5, 6))
	for _, procs := range []int{1, 2, 3, 5} {
		runtime.GOMAXPROCS(procs)
		impls(t, func(t *testing.T) {
			for _, sz := range [][3]int{{200, 150, 70}, {8, 700, 90}, {13, 64, 500}, {300, 20, 100}, {97, 101, 103}} {
				for _, tr := range [][2]bool{{false, false}, {true, true}} {
					runGemmCase(t, r, gemmCase{transA: tr[0], transB: tr[1], m: sz[0], n: sz[1], k: sz[2], alpha: 1.5, beta: 0.25, padC: 1})
				}
			}
		})
	}
}

// TestSgemmFastMatchesGeneric compares the two implementations with each
// other directly, on top of each against the float64 triple loop.
func TestSgemmFastMatchesGeneric(t *testing.T) {
	if !useAVX2FMA {
		t.Skip("no assembly on this CPU/build")
	}
	defer func() { useAVX2FMA = true }()
	r := rand.New(rand.NewPCG(7, 8))
	for it := 0; it < 50; it++ {
		m, n, k := 1+r.IntN(90), 1+r.IntN(90), 1+r.IntN(300)
		a, b := randSlice(r, m*k), randSlice(r, k*n)
		c0 := randSlice(r, m*n)
		fast := append([]float32(nil), c0...)
		gen := append([]float32(nil), c0...)
		useAVX2FMA = true
		Sgemm(false, false, m, n, k, 1, a, k, b, n, 0.5, fast, n)
		useAVX2FMA = false
		Sgemm(false, false, m, n, k, 1, a, k, b, n, 0.5, gen, n)
		for i := range fast {
			if d := math.Abs(float64(fast[i] - gen[i])); d > 1e-5*float64(k) {
				t.Fatalf("m=%d n=%d k=%d: fast[%d]=%v generic=%v", m, n, k, i, fast[i], gen[i])
			}
		}
	}
}

func TestSgemmEpilogue(t *testing.T) {
	impls(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(9, 10))
		eps := []Epilogue{
			{Act: ActRelu},
			{Act: ActClip, Min: -0.5, Max: 0.75},
			{Act: ActLeakyRelu, Alpha: 0.1},
			{BiasPerRow: true, Act: ActRelu},
			{Act: ActNone},
			{BiasPerRow: true, Act: ActNone},
			{BiasPerRow: true, Act: ActClip, Min: 0, Max: 0.5},
			{BiasPerRow: true, Act: ActLeakyRelu, Alpha: 0.2},
		}
		for _, sz := range [][3]int{{1, 37, 20}, {3, 37, 20}, {37, 1, 20}, {150, 600, 30}, {7, 530, 9}, {20, 576, 25}, {50, 64, 500}, {64, 196, 300}, {96, 1024, 16}, {13, 47, 600}} {
			m, n, k := sz[0], sz[1], sz[2]
			for ei, ep := range eps {
				if ep.BiasPerRow {
					ep.Bias = randSlice(r, m)
				} else if ei%2 == 0 {
					ep.Bias = randSlice(r, n)
				}
				a, b := randSlice(r, m*k), randSlice(r, n*k)
				c0 := randSlice(r, m*n)
				got := append([]float32(nil), c0...)
				want := append([]float32(nil), c0...)
				SgemmEpilogue(false, true, m, n, k, 0.5, a, k, b, k, 0.5, got, n, &ep)
				Sgemm(false, true, m, n, k, 0.5, a, k, b, k, 0.5, want, n)
				if ep.Bias != nil {
					AddBias(want, m, n, n, ep.Bias, ep.BiasPerRow)
				}
				for i, v := range want {
					switch ep.Act {
					case ActRelu:
						v = max(v, 0)
					case ActClip:
						v = min(max(v, ep.Min), ep.Max)
					case ActLeakyRelu:
						if v < 0 {
							v *= ep.Alpha
						}
					}
					if d := math.Abs(float64(got[i] - v)); d > 1e-6*float64(k) {
						t.Fatalf("%v %+v: C[%d] = %v, want %v", sz, ep, i, got[i], v)
					}
				}
			}
		}
	})
}

func TestSgemmAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	defer SetWorkerSpin(SetWorkerSpin(time.Second)) // see internal/testalloc
	r := rand.New(rand.NewPCG(11, 12))
	for _, sz := range [][3]int{{1, 300, 784}, {3, 300, 784}, {64, 1, 576}, {64, 300, 784}, {256, 100, 300}, {20, 576, 25}, {200, 200, 200}} {
		m, n, k := sz[0], sz[1], sz[2]
		a, b, c := randSlice(r, m*k), randSlice(r, n*k), make([]float32, m*n)
		ep := &Epilogue{Bias: randSlice(r, n), Act: ActRelu}
		for _, transB := range []bool{false, true} {
			ldb := n
			if transB {
				ldb = k
			}
			f := func() { SgemmEpilogue(true, transB, m, n, k, 1, a, m, b, ldb, 0, c, n, ep) }
			f() // warm the pools and start the workers
			if allocs := testing.AllocsPerRun(20, f); allocs != 0 {
				t.Errorf("%v transB=%v: %v allocations per call, want 0", sz, transB, allocs)
			}
			// Split over two goroutines too (AllocsPerRun runs at
			// GOMAXPROCS 1); below 0.5 leaves room for a stray
			// allocation of the test framework, not one per call.
			if allocs := testalloc.PerRun(20, f); allocs >= 0.5 {
				t.Errorf("%v transB=%v at GOMAXPROCS 2: %v allocations per call, want 0", sz, transB, allocs)
			}
		}
	}
}

// TestSgemmEmpty checks that zero-sized operands need neither storage nor
// a positive stride, and that k == 0 still applies beta and the epilogue.
func TestSgemmEmpty(t *testing.T) {
	Sgemm(false, false, 0, 0, 0, 1, nil, 0, nil, 0, 0, nil, 0)
	Sgemm(false, true, 0, 3, 2, 1, nil, 0, make([]float32, 6), 2, 0, nil, 3)
	c := []float32{1, float32(math.NaN()), -3, 4}
	SgemmEpilogue(false, false, 2, 2, 0, 1, nil, 0, nil, 0, 0, c, 2, &Epilogue{Bias: []float32{1, -1}, Act: ActRelu})
	for i, v := range c {
		want := float32(1 - i%2) // beta == 0 zeroes C, then bias, then Relu
		if v != want {
			t.Fatalf("k == 0: c[%d] = %v, want %v", i, v, want)
		}
	}
}

func TestSgemmPanics(t *testing.T) {
	a := make([]float32, 12)
	for name, f := range map[string]func(){
		"negative m": func() { Sgemm(false, false, -1, 2, 2, 1, a, 2, a, 2, 0, a, 2) },
		"short lda":  func() { Sgemm(false, false, 2, 2, 3, 1, a, 2, a, 2, 0, a, 2) },
		"short a":    func() { Sgemm(false, false, 4, 2, 4, 1, a, 4, a, 2, 0, a, 2) },
		"short c":    func() { Sgemm(false, false, 3, 5, 1, 1, a, 1, a, 5, 0, a, 5) },
		"bias len":   func() { SgemmEpilogue(false, false, 2, 2, 2, 1, a, 2, a, 2, 0, a, 2, &Epilogue{Bias: a[:3]}) },
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

// FuzzSgemm checks arbitrary small shapes, strides and flags against the
// float64 triple loop; the seeds run as part of go test.
func FuzzSgemm(f *testing.F) {
	f.Add(uint8(7), uint8(17), uint8(9), uint8(0), uint8(3), uint64(1))
	f.Add(uint8(1), uint8(40), uint8(70), uint8(2), uint8(0), uint64(2))
	f.Add(uint8(13), uint8(1), uint8(33), uint8(1), uint8(5), uint64(3))
	f.Add(uint8(64), uint8(35), uint8(5), uint8(3), uint8(1), uint64(4))
	f.Add(uint8(3), uint8(35), uint8(3), uint8(15), uint8(1), uint64(5)) // found by fuzzing: m ≤ gemvRows, transA, k < m
	f.Fuzz(func(t *testing.T, m, n, k, flags, pad uint8, seed uint64) {
		alphas := []float32{1, -0.5, 0, 2}
		betas := []float32{0, 1, 0.7, -1}
		r := rand.New(rand.NewPCG(seed, 7))
		runGemmCase(t, r, gemmCase{
			transA: flags&1 != 0, transB: flags&2 != 0,
			m: 1 + int(m)%80, n: 1 + int(n)%80, k: int(k) % 80,
			alpha: alphas[flags>>2&3], beta: betas[flags>>4&3],
			padA: int(pad) & 3, padB: int(pad) >> 2 & 3, padC: int(pad) >> 4 & 3,
		})
	})
}

// TestSgemmConcurrent runs parallel-sized products from several goroutines
// at once: they share the worker pool and the context pool.
func TestSgemmConcurrent(t *testing.T) {
	const m, n, k, callers = 130, 120, 110, 6
	r := rand.New(rand.NewPCG(13, 14))
	a, b := randSlice(r, m*k), randSlice(r, k*n)
	want := make([]float32, m*n)
	Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, want, n)
	errs := make(chan string, callers)
	for g := 0; g < callers; g++ {
		go func() {
			c := make([]float32, m*n)
			for it := 0; it < 20; it++ {
				Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n)
				for i := range c {
					if c[i] != want[i] {
						errs <- fmt.Sprintf("c[%d] = %v, want %v", i, c[i], want[i])
						return
					}
				}
			}
			errs <- ""
		}()
	}
	for g := 0; g < callers; g++ {
		if e := <-errs; e != "" {
			t.Error(e)
		}
	}
}

// TestSgemmDeterministic checks that the result does not depend on how the
// work is split: the tile grid and the k blocking are global, so every
// element sees the same operations in the same order at any GOMAXPROCS.
func TestSgemmDeterministic(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	r := rand.New(rand.NewPCG(15, 16))
	for _, sz := range [][3]int{{301, 77, 530}, {20, 900, 75}} {
		m, n, k := sz[0], sz[1], sz[2]
		a, b, c0 := randSlice(r, m*k), randSlice(r, k*n), randSlice(r, m*n)
		var first []float32
		for _, procs := range []int{1, 2, 3, 4} {
			runtime.GOMAXPROCS(procs)
			c := append([]float32(nil), c0...)
			Sgemm(false, true, m, n, k, 0.5, a, k, b, k, 0.25, c, n)
			if first == nil {
				first = c
				continue
			}
			for i := range c {
				if math.Float32bits(c[i]) != math.Float32bits(first[i]) {
					t.Fatalf("%v GOMAXPROCS=%d: c[%d] = %v, with 1 goroutine %v", sz, procs, i, c[i], first[i])
				}
			}
		}
	}
}

// TestMicroKernelEp checks the fused-epilogue micro-kernel against
// kernelGeneric followed by the bias and clamp, NaN and -0 included, with
// and without beta.
func TestMicroKernelEp(t *testing.T) {
	impls(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(13, 14))
		inf := float32(math.Inf(1))
		nan := float32(math.NaN())
		for _, k := range []int{1, 3, 4, 16, 17, 256} {
			for _, bounds := range [][2]float32{{-inf, inf}, {0, inf}, {0, 6}, {-0.5, 0.25}} {
				for _, beta := range []float32{0, 1, 0.5} {
					const ldc = 21
					a, b := randSlice(r, k*mr), randSlice(r, k*nr)
					a[0], a[len(a)-1] = nan, float32(math.Copysign(0, -1))
					bias := randSlice(r, mr)
					bias[2] = float32(math.Copysign(0, -1))
					c0 := randSlice(r, 5*ldc+nr)
					c0[3*ldc+4] = nan
					got := append([]float32(nil), c0...)
					want := append([]float32(nil), c0...)
					microKernelEp(k, a, b, got, ldc, beta, bias, bounds[0], bounds[1])
					kernelGeneric(k, a, b, want, ldc, beta)
					for i := range mr {
						for j := range nr {
							v := want[i*ldc+j] + bias[i]
							if v < bounds[0] {
								v = bounds[0]
							}
							if v > bounds[1] {
								v = bounds[1]
							}
							g := got[i*ldc+j]
							if v != v {
								if g == g {
									t.Fatalf("k=%d %v beta=%v: C[%d][%d] = %v, want NaN", k, bounds, beta, i, j, g)
								}
								continue
							}
							if d := math.Abs(float64(g - v)); d > 1e-5*float64(k) {
								t.Fatalf("k=%d %v beta=%v: C[%d][%d] = %v, want %v", k, bounds, beta, i, j, g, v)
							}
						}
					}
					for i := range c0 {
						if i%ldc >= nr && got[i] != c0[i] && !(got[i] != got[i] && c0[i] != c0[i]) {
							t.Fatalf("k=%d: wrote C[%d] outside the tile", k, i)
						}
					}
				}
			}
		}
	})
}
