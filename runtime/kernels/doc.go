// Package kernels holds the runtime's fp32 compute kernels: a packed,
// cache-blocked, multi-threaded SGEMM with a fused bias/activation
// epilogue, a few vector kernels for epilogues, broadcasting fast paths,
// pooling and optimizer updates, Im2col/Col2im for lowering 2-D
// convolution to GEMM, ConvShifted, convolution as an implicit GEMM, and
// Stencil and MultiDot for the convolutions computed directly.
//
// # Conventions
//
// Matrices are row-major []float32 with an explicit row stride (ld ≥
// columns), as in CBLAS with CblasRowMajor:
//
//	element (i, j) of an r×c matrix X with stride ldx is x[i*ldx+j]
//
//	     j=0 1 2 … c-1  (ldx-c unused)
//	i=0  [x x x … x]  . . .
//	i=1  [x x x … x]  . . .
//
// A transposed operand is passed in its stored shape: with transA, A is
// stored k×m and op(A) = Aᵀ is m×k. Only len(x) ≥ (r-1)·ldx + c is
// required, so a sub-matrix is a reslice plus the parent's stride.
// Invalid sizes, strides or short slices panic (programming errors, as in
// gonum/blas); kernels never return errors. Outputs must not overlap
// inputs, except where a kernel says dst may equal src.
//
// # SGEMM
//
// Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
// computes C = alpha·op(A)·op(B) + beta·C with BLAS semantics: beta == 0
// overwrites C (NaN in C is not propagated), alpha == 0 or k == 0 only
// scales C. SgemmEpilogue adds C = Act(… + Bias) with a per-column (Gemm)
// or per-row (Conv) bias and Relu, Clip (Relu6) or LeakyRelu, applied to
// each block of up to 144 rows × 256 columns as soon as it is final,
// while it is still in L2 (BenchmarkSgemmEpilogue: the same cost as
// Sgemm alone within noise; one call per 6×16 tile was slower than a
// separate pass).
//
// It follows Goto and BLIS: op(B) is packed into kc×nc panels and op(A)
// into mc×kc blocks (alpha folded in), both laid out as the micro-kernel
// reads them, and an mr×nr = 6×16 micro-kernel keeps the C tile in 12 YMM
// registers, doing 12 FMAs per 2 B loads and 6 A broadcasts:
//
//	packed A sliver (6 rows)     packed B sliver (16 columns)
//	p=0: a00 a10 a20 … a50       p=0: b00 b01 … b0,15
//	p=1: a01 a11 a21 … a51       p=1: b10 b11 … b1,15
//	…                            …
//
//	for jc in steps of nc:                 B panel kc×nc (L3)
//	    for pc in steps of kc:             pack B; beta applies to pc = 0
//	        for ic in steps of mc:         pack A block mc×kc (L2)
//	            for jr in steps of 16:     B sliver kc×16 (L1)
//	                for ir in steps of 6:  micro-kernel, C tile 6×16
//
// Blocking for Zen 3 (32 KiB L1d, 512 KiB L2 per core, shared L3):
// kc = 256 so that a B sliver (16 KiB) and an A sliver (6 KiB) share L1;
// mc = 144 so that the A block (144 KiB) sits in L2 with room for C and B
// traffic; nc = 4096 so that the B panel (4 MiB) sits in L3. k and m are
// cut into equal blocks no larger than these (k = 784 gives 4×196, not
// 3×256 + 16). When all rows fit one mc block (batch-64 MLPs, convolutions
// with up to 144 output channels), B is not reused across row blocks, so
// each 16-column sliver is packed just before use and never leaves L1.
//
// PackA packs a constant A (Conv weights) once into the layout the
// loop nest reads, every kc block's 6-row slivers in turn; SgemmPacked
// then takes its blocks in place of packing them, with bitwise the same
// results (TestSgemmPacked). With few columns (convolutions on 4×4 to
// 16×16 outputs) packing A on every call costs a large share: in a CPU
// profile of ResNet-18 at 64×64, batch 1, packA took 0.50 s against the
// micro-kernel's 0.99 s.
//
// Edge tiles are zero-padded in the packed buffers; the micro-kernel then
// writes a full 6×16 tile into a scratch buffer that is merged into C, so
// nothing outside the m×n result is ever written. Products with m ≤ 4
// (batch-1 to batch-4 MLP layers) or n == 1 skip packing altogether and
// stream the large operand once per row with Axpy or Dot, since there each
// of its elements is used at most 4 times.
//
// Products with m·n·k ≥ 2·parallelWork (2^20) run on up to
// runtime.GOMAXPROCS goroutines (the caller plus workers of the package's
// pool, pool.go, one per 2^19 of m·n·k). C is cut into 2 chunks per goroutine, contiguous
// ranges of whole 6-row or 16-column slivers (whichever divides more
// evenly), which the goroutines take from an atomic counter, so a
// goroutine that starts late or shares its core with another process does
// less. Each goroutine has its own packing buffers; a chunk repacks the
// operand that is not split. Chunks follow the global 6×16 tile grid and
// every goroutine uses the same k blocking, so results are bitwise
// identical at any GOMAXPROCS (TestSgemmDeterministic). Contexts and
// buffers are recycled through a free list (internal/freelist: a
// sync.Pool missed whenever the caller had moved to another processor),
// so a steady-state call does not allocate, split or not
// (TestSgemmAllocs).
//
// # Vector kernels
//
// Axpy, Dot, Sum, Scale, AddConst, AddTo, MulTo, MaxTo, Relu and Clip
// have AVX2 loops (32 floats per iteration, then 8, then a scalar tail);
// LeakyRelu and AddBias are built on them. Relu and Clip pass NaN and -0
// through exactly like their generic "if v < lo { v = lo }" loops (the
// source is VMAXPS's second operand), and MaxTo blends a NaN source back
// over VMAXPS's result, so these agree bit for bit; Axpy, Dot and
// Sum differ from the generic loops only by FMA rounding and summation
// order; the other kernels match them exactly.
//
// # Dispatch
//
// As in golang.org/x/crypto/blake2b and gonum's internal/asm:
//
//	gemm_generic.go, vec_generic.go   the reference Go code, always built
//	gemm_amd64.go/.s, vec_amd64.go/.s AVX2+FMA (!purego && !noasm)
//	gemm_other.go, vec_other.go       forward to generic elsewhere
//
// useAVX2FMA is set in init from golang.org/x/sys/cpu (HasAVX2 && HasFMA)
// and tests switch it off to run every case on both paths. Each assembly
// stub's doc comment is its reference loop. The packing and blocking
// driver (gemm.go) is shared, so the generic build is blocked and parallel
// too, just with a Go micro-kernel. There is no AVX-512 kernel: this
// machine has no AVX-512, so one could not be tested here; a 6×32 or
// 14×32 ZMM kernel would slot in as gemm_avx512_amd64.s behind
// cpu.X86.HasAVX512F.
//
// # Convolution
//
// Im2col(dst, src, c, h, w, kh, kw, padT, padL, padB, padR, sH, sW, dH,
// dW) writes the [c·kh·kw, outH·outW] matrix whose row (ci·kh+ki)·kw+kj is
// the input plane ci shifted by (ki·dH - padT, kj·dW - padL) and
// subsampled by the strides, so that Conv = W[Cout, c·kh·kw] × col, a
// Sgemm with m = Cout (use Epilogue{BiasPerRow: true} for the bias).
// Col2im is its adjoint, accumulating, for the input gradient.
//
// ConvShifted skips that matrix (and the packing of B): on a zero-padded
// copy of the input, row p of col is the plane itself shifted by one
// offset per kernel tap, so the 6×16 micro-kernel reads B's 16 values
// straight from the plane at that offset (an int32 table, one per depth)
// and writes the output with the padded row width, whose extra columns
// are dropped when it is copied out. BenchmarkConvShifted: at the GEMM's
// rate per computed output (60–69 GFLOP/cpu-s on resnet's 3×3 layers),
// without the im2col copy.
//
// Two convolutions skip GEMM. A depthwise one (one input channel per
// output channel) is, on its zero-padded image flattened with its row
// stride, one Stencil: dst[i] = b + Σ_t w[t]·src[i+offs[t]], 32 outputs
// per iteration in four YMM accumulators over all taps. One with a few
// output pixels (ResNet-18's last stages at small inputs) is MultiDot,
// C = A·Bᵀ with B the transposed im2col matrix: each row of the weights
// A is read once per four pixels, two rows at a time (8 YMM
// accumulators, 6 loads per 8 FMAs), so it runs at the speed of reading
// the weights where Sgemm would first pack them (BenchmarkMultiDot
// reports that speed).
//
// # Performance
//
// Peak fp32 rate of this machine (AMD EPYC, family 25 model 1 = Zen 3
// Milan, 2 vCPUs, AVX2+FMA, no AVX-512; a shared KVM guest):
//
//	peak = cores × FMA units/core × fp32 lanes × 2 flops/FMA × clock
//	     = 2 × 2 × 8 × 2 × clock = 64 flops/cycle × clock
//
// /proc/cpuinfo reports "cpu MHz: 2445.432", the nominal clock (boost is
// invisible in the VM): 64 × 2.445 GHz = 156.5 GFLOP/s (78.3 per core).
// BenchmarkClock times a dependent chain of FP adds (3-cycle latency on
// Zen 3). In short runs that the scheduler left alone (-benchtime 10x,
// ~150 µs each, 12:45, load 7) it measured 3.24 GHz of wall-clock time in
// 7 of 10 samples (3.236–3.245; the rest lower), so the cores run boosted
// and
//
//	peak = 64 × 3.24 GHz = 207.4 GFLOP/s (103.7 per core); 60% = 124.4
//
// Timed per CPU-second instead, the same chain gives 3.0–3.1 GHz: the
// guest's CPU-time accounting charges about 5% more time than the thread
// ran (steal by the host), so the GFLOP/cpu-s figures below are about 5%
// low. The micro-kernel alone on L1-resident panels (BenchmarkMicroKernel)
// ran at medians of 84.6–92.8 GFLOP/cpu-s in the runs below: 82–89% of
// the per-core peak before that correction.
//
// Measured with
//
//	go test -run XXX -bench '^BenchmarkSgemm$|^BenchmarkSgemmGeneric$|MicroKernel|Clock' \
//	    -cpu 1,2 -count 3 ./runtime/kernels
//
// (go1.26.8, 2026-11-27, medians of 3). Other sessions' builds, tests and
// benchmarks shared the machine the whole time, with load averages of 4
// to 19 on its 2 CPUs, so the wall-clock GFLOP/s mostly shows how much
// CPU the benchmark got (BenchmarkClock's wall-clock rate was 6–100% of
// its per-CPU-second rate). So each benchmark also reports GFLOP/cpu-s:
// flops per second of CPU time summed over threads. That is the per-core
// efficiency while running, which time-slicing does not distort (the
// neighbours' use of L3 and memory still moves it by up to 25% between
// runs). The table is run F (12:50, load 4–7, the quietest):
//
//	shape (m×n×k)                    GFLOP/cpu-s       GFLOP/s wall      generic
//	                                 -cpu 1   -cpu 2   -cpu 1   -cpu 2   GFLOP/cpu-s
//	1024×1024×1024                   76.9     74.6     34.5     36.6     3.0
//	MLP b1   784→300   1×300×784     25.1     23.0     6.2      11.6     1.8
//	MLP b64  784→300   64×300×784    65.2     59.0     60.2     41.3     2.9
//	MLP b256 784→300   256×300×784   69.5     72.0     57.9     67.0     3.2
//	MLP b64  300→100   64×100×300    52.4     32.5     28.1     29.0     3.0
//	MLP b256 800→500   256×500×800   71.6     69.6     43.8     42.4     3.7
//	LeNet conv1        20×576×25     51.1     49.5     36.2     31.6     2.8
//	LeNet conv2        50×64×500     60.1     32.3     27.8     32.3     2.7
//	3×3 conv 14²       64×196×576    65.7     52.9     33.3     52.8     3.2
//	3×3 conv 56²       64×3136×576   66.7     63.3     65.3     62.7     3.4
//	3×3 conv 28²       128×784×1152  67.2     59.7     41.0     36.7     2.7
//
// (MLP layers are Gemm with transB, as PyTorch exports Linear.) Earlier
// runs of the same code under heavier load gave, at 1024³ with -cpu 1 and
// 2: run A (12:10, load 13–15) 81.3 and 71.8 GFLOP/cpu-s, 22.4 and 27.5
// GFLOP/s wall; run B (12:35, load 12–18) 63.5 and 60.1 GFLOP/cpu-s, 9.4
// and 16.4 wall. Their other rows differed from run F by up to 25%.
// The micro-kernel medians were 91.2 (F), 84.6 (A) and 92.8 (B)
// GFLOP/cpu-s.
//
// At 1024³ one core sustained 64–81 GFLOP/cpu-s over the three runs
// (76.9 in run F): 61–78% of the 103.7 per-core peak. In the quietest
// window (run G, 12:53, -benchtime 2x -count 15, with one other process
// using about 1.2 CPUs) a single goroutine ran at a median of 87.2 GFLOP/s
// wall-clock (79.1–91.5): 84% of the per-core peak, measured. With two
// goroutines each core sustained 60–77 GFLOP/cpu-s (74.6 in run F, 76.9
// in run G). An idle machine should therefore give about 2 × 75 = 150
// GFLOP/s (120–154 over the runs): 72% (58–74%) of the 207.4 peak, or
// 96% of the nominal 156.5. That is an estimate. Measured two-goroutine
// wall-clock rates stayed below the 60% target because the second
// goroutine never found a free core: run G's median was 77.4 GFLOP/s
// (58.1–88.9), no better than one goroutine, and run F's was 36.6. The
// generic (pure Go) path runs at 2–4 GFLOP/cpu-s, 20–30× slower.
//
// The threading crossover, from
//
//	go test -run XXX -bench Crossover -cpu 2 -count 3 ./runtime/kernels
//
// (n³ products on one goroutine vs split, same run; re-measured after the
// pool's workers began polling, pool.go): split is about even at 64³ (9.4–
// 11.1 vs 8.1–10.7 µs), a little faster at 96³ (19–23 vs 22–23 µs) and
// 1.3–1.9× faster from 128³ (38–45 vs 55–57 µs; 192³: 105–122 vs 172–198
// µs), for 15–50% more CPU time. parallelWork = 2^19 splits from m·n·k ≥
// 2^20 (about 101³), where splitting starts to pay.
package kernels
