// Package kernels holds the runtime's fp32 compute kernels: a packed,
// cache-blocked, multi-threaded SGEMM with a fused bias/activation
// epilogue, a few vector kernels for epilogues, broadcasting fast paths
// and optimizer updates, and Im2col/Col2im for lowering 2-D convolution
// to GEMM.
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
// each tile while it is in L1.
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
// Edge tiles are zero-padded in the packed buffers; the micro-kernel then
// writes a full 6×16 tile into a scratch buffer that is merged into C, so
// nothing outside the m×n result is ever written. The m == 1 case (a
// batch-1 MLP layer) skips packing altogether and streams B with Axpy or
// Dot, since there every B element is used once.
//
// Products with m·n·k ≥ 2·parallelWork (2^20) run on up to
// runtime.GOMAXPROCS goroutines (the caller plus long-lived workers, one
// per 2^19 of m·n·k). C is cut into 2 chunks per goroutine, contiguous
// ranges of whole 6-row or 16-column slivers (whichever divides more
// evenly), which the goroutines take from an atomic counter, so a
// goroutine that starts late or shares its core with another process does
// less. Each goroutine has its own packing buffers; a chunk repacks the
// operand that is not split. Contexts and buffers are recycled through a
// sync.Pool, so a steady-state call does not allocate (TestSgemmAllocs).
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
// # Performance
//
// PERFORMANCE_PLACEHOLDER
package kernels
