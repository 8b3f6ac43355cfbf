package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// benchShapes are the 1024³ reference plus the GEMMs of small models:
// MLP layers (batch × in → out) and convolutions lowered by Im2col
// (Cout × C·kh·kw times C·kh·kw × outH·outW).
var benchShapes = []struct {
	name           string
	m, n, k        int
	transA, transB bool
}{
	{"1024x1024x1024", 1024, 1024, 1024, false, false},
	{"mlp_b1_784x300", 1, 300, 784, false, true},
	{"mlp_b64_784x300", 64, 300, 784, false, true},
	{"mlp_b256_784x300", 256, 300, 784, false, true},
	{"mlp_b64_300x100", 64, 100, 300, false, true},
	{"mlp_b256_800x500", 256, 500, 800, false, true},
	{"conv_lenet1_20x25x576", 20, 576, 25, false, false},
	{"conv_lenet2_50x500x64", 50, 64, 500, false, false},
	{"conv_resnet_64x576x196", 64, 196, 576, false, false},
	{"conv_resnet_64x576x3136", 64, 3136, 576, false, false},
	{"conv_resnet_128x1152x784", 128, 784, 1152, false, false},
}

func benchSgemm(b *testing.B, m, n, k int, transA, transB bool) {
	r := rand.New(rand.NewPCG(1, 1))
	a, bb, c := randSlice(r, m*k), randSlice(r, k*n), make([]float32, m*n)
	lda, ldb := k, n
	if transA {
		lda = m
	}
	if transB {
		ldb = k
	}
	Sgemm(transA, transB, m, n, k, 1, a, lda, bb, ldb, 0, c, n)
	cpu0 := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		Sgemm(transA, transB, m, n, k, 1, a, lda, bb, ldb, 0, c, n)
	}
	reportFlops(b, 2*float64(m)*float64(n)*float64(k), cpuTime()-cpu0)
}

// reportFlops reports GFLOP/s (per wall-clock second) and, where the CPU
// time is known, GFLOP/cpu-s: flops per second of CPU time summed over
// threads, i.e. per-core efficiency, which time-slicing on a busy machine
// does not distort.
func reportFlops(b *testing.B, flopsPerOp float64, cpu time.Duration) {
	total := flopsPerOp * float64(b.N)
	b.ReportMetric(total/b.Elapsed().Seconds()/1e9, "GFLOP/s")
	if cpu > 0 {
		b.ReportMetric(total/cpu.Seconds()/1e9, "GFLOP/cpu-s")
	}
}

// BenchmarkSgemm measures the dispatched (assembly where available) path.
// Run it with -cpu 1,2 to see the parallel speed-up.
func BenchmarkSgemm(b *testing.B) {
	for _, s := range benchShapes {
		b.Run(s.name, func(b *testing.B) { benchSgemm(b, s.m, s.n, s.k, s.transA, s.transB) })
	}
}

// BenchmarkSgemmSmallM is a batch-m Linear layer 784→300 (transB) for
// the smallest batches, where rows go one at a time (gemvRows).
func BenchmarkSgemmSmallM(b *testing.B) {
	for _, m := range []int{1, 2, 3, 4, 6, 8} {
		b.Run(fmt.Sprintf("m=%d", m), func(b *testing.B) { benchSgemm(b, m, 300, 784, false, true) })
	}
}

// BenchmarkSgemmGeneric is BenchmarkSgemm with the assembly switched off.
func BenchmarkSgemmGeneric(b *testing.B) {
	saved := useAVX2FMA
	defer func() { useAVX2FMA = saved }()
	useAVX2FMA = false
	for _, s := range benchShapes {
		b.Run(s.name, func(b *testing.B) { benchSgemm(b, s.m, s.n, s.k, s.transA, s.transB) })
	}
}

// BenchmarkMicroKernel is the 6×16 kernel alone on L1-resident panels: the
// ceiling for the whole GEMM on one core.
func BenchmarkMicroKernel(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	const k = kcBlock
	ap, bp, c := randSlice(r, k*mr), randSlice(r, k*nr), make([]float32, mr*nr)
	cpu0 := cpuTime()
	for b.Loop() {
		microKernel(k, ap, bp, c, nr, 1)
	}
	reportFlops(b, 2*mr*nr*k, cpuTime()-cpu0)
}

func BenchmarkVector(b *testing.B) {
	for _, n := range []int{256, 4096, 65536} {
		r := rand.New(rand.NewPCG(1, 1))
		x, y := randSlice(r, n), randSlice(r, n)
		for _, impl := range []string{"fast", "generic"} {
			run := func(name string, f func()) {
				b.Run(fmt.Sprintf("%s/n=%d/%s", name, n, impl), func(b *testing.B) {
					saved := useAVX2FMA
					defer func() { useAVX2FMA = saved }()
					if impl == "generic" {
						useAVX2FMA = false
					}
					b.SetBytes(int64(4 * n))
					for b.Loop() {
						f()
					}
				})
			}
			run("Axpy", func() { Axpy(1e-3, x, y) })
			run("Dot", func() { Dot(x, y) })
			run("AddTo", func() { AddTo(y, x) })
			run("Relu", func() { Relu(y, x) })
		}
	}
}

func BenchmarkIm2col(b *testing.B) {
	// ResNet-ish 3×3 stride 1 pad 1 on 64×56×56.
	const c, h, w = 64, 56, 56
	r := rand.New(rand.NewPCG(1, 1))
	src := randSlice(r, c*h*w)
	dst := make([]float32, c*9*h*w)
	b.SetBytes(int64(4 * len(dst)))
	for b.Loop() {
		Im2col(dst, src, c, h, w, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1)
	}
}

// BenchmarkSgemmCrossover times cube-ish products on one goroutine and on
// all of GOMAXPROCS (run with -cpu 2), ignoring parallelWork, to find
// where splitting starts to pay.
func BenchmarkSgemmCrossover(b *testing.B) {
	saved := parallelWork
	defer func() { parallelWork = saved }()
	for _, s := range []int{24, 32, 48, 64, 96, 128, 192} {
		for _, split := range []bool{false, true} {
			name := fmt.Sprintf("%d^3/serial", s)
			parallelWork = math.MaxInt
			if split {
				name = fmt.Sprintf("%d^3/split", s)
				parallelWork = 1
			}
			b.Run(name, func(b *testing.B) { benchSgemm(b, s, s, s, false, false) })
		}
	}
}

// addChain runs n iterations of 16 dependent float64 additions.
//
//go:noinline
func addChain(n int, y float64) float64 {
	x := 0.0
	for i := 0; i < n; i++ {
		x += y
		x += y
		x += y
		x += y
		x += y
		x += y
		x += y
		x += y
		x += y
		x += y
		x += y
		x += y
		x += y
		x += y
		x += y
		x += y
	}
	return x
}

// BenchmarkClock estimates the core clock that peak FLOP/s is computed
// from (doc.go): a chain of dependent ADDSDs runs at one per FP-add latency,
// 3 cycles on Zen 2/3 and 4 on recent Intel cores, so GHz = 3·adds/ns on
// Zen. The per-CPU-second figure is immune to time-slicing on a busy
// machine; /proc/cpuinfo's "cpu MHz" shows only the nominal clock in a VM.
func BenchmarkClock(b *testing.B) {
	const perIter, latency = 16, 3
	n := 0
	cpu0 := cpuTime()
	for b.Loop() {
		addChain(1000, 1e-9)
		n += 1000
	}
	cycles := float64(n) * perIter * latency
	b.ReportMetric(cycles/b.Elapsed().Seconds()/1e9, "GHz@3cyc")
	if cpu := cpuTime() - cpu0; cpu > 0 {
		b.ReportMetric(cycles/cpu.Seconds()/1e9, "GHz@3cyc/cpu-s")
	}
}

// BenchmarkSgemmEpilogue compares a fused bias+Relu epilogue with the same
// work done as separate passes over C (a 3×3 conv on 56×56, 64 channels).
func BenchmarkSgemmEpilogue(b *testing.B) {
	const m, n, k = 64, 3136, 576
	r := rand.New(rand.NewPCG(1, 1))
	a, bb, c := randSlice(r, m*k), randSlice(r, k*n), make([]float32, m*n)
	ep := &Epilogue{Bias: randSlice(r, m), BiasPerRow: true, Act: ActRelu}
	b.Run("fused", func(b *testing.B) {
		cpu0 := cpuTime()
		for b.Loop() {
			SgemmEpilogue(false, false, m, n, k, 1, a, k, bb, n, 0, c, n, ep)
		}
		reportFlops(b, 2*m*n*k, cpuTime()-cpu0)
	})
	b.Run("separate", func(b *testing.B) {
		cpu0 := cpuTime()
		for b.Loop() {
			Sgemm(false, false, m, n, k, 1, a, k, bb, n, 0, c, n)
			AddBias(c, m, n, n, ep.Bias, true)
			Relu(c, c)
		}
		reportFlops(b, 2*m*n*k, cpuTime()-cpu0)
	})
}

// BenchmarkSgemmPointwise is MobileNetV2's 1×1 expansion convolutions at
// batch 1 (C = Relu6(W·X + bias), W [96, k], X [k, 32·32]): a small depth,
// where packing, the per-tile overhead and the epilogue weigh most.
func BenchmarkSgemmPointwise(b *testing.B) {
	const m, n = 96, 1024
	for _, k := range []int{16, 24, 32} {
		b.Run(fmt.Sprintf("k=%d", k), func(b *testing.B) {
			r := rand.New(rand.NewPCG(1, 1))
			a, bb, c := randSlice(r, m*k), randSlice(r, k*n), make([]float32, m*n)
			ep := &Epilogue{Bias: randSlice(r, m), BiasPerRow: true, Act: ActClip, Min: 0, Max: 6}
			cpu0 := cpuTime()
			for b.Loop() {
				SgemmEpilogue(false, false, m, n, k, 1, a, k, bb, n, 0, c, n, ep)
			}
			reportFlops(b, 2*m*n*float64(k), cpuTime()-cpu0)
		})
	}
}
