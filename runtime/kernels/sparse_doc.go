package kernels

// sparseDoc anchors the documentation of the sparse kernels (the package
// comment is in doc.go).
//
// # Sparse weights
//
// A pruned weight W (rows×cols, dense row-major) becomes a SparseMatrix
// with NewCSR, NewBSR8 or NewNM; the runtime picks one per layer by timing
// (TestSparseBreakEven shows why no single format wins). All three
// implement
//
//	MulDense(c, ldc, b, ldb, p, beta, ep)      C[rows,p] = ep(W·B + beta·C)   Conv via Im2col
//	MulVecBatch(y, ldy, x, ldx, m, beta, ep)   Y[m,rows] = ep(X·Wᵀ + beta·Y)  Gemm, transB = 1
//
// with Sgemm's conventions (strides, beta == 0 overwrites, *Epilogue with
// the bias per row for MulDense/Conv and per column for MulVecBatch).
//
//	format   layout                                          bytes/value  kernels
//	csr      RowPtr[rows+1], ColIdx[nnz] int32, Val[nnz]     8            any sparsity
//	bsr1x8   RowPtr, ColIdx (block start), Val[8·blocks]     4.5 (+4.5)   batch 1, moderate sparsity
//	nmN:M    Val, Off (uint8) [rows, ceil(cols/M)·N]          5 (+4.5)     2:4, 1:4, 4:8 …
//
// (In parentheses: the copy that NewBSR8 (in 1×4 blocks), and NewNM for
// 2:4, keep in a second layout for the batch-1 kernels, see below.) CSR.MulShifted is
// MulDense with B's rows overlapping (row k at b[k:]), for the direct
// convolution of the runtime, whose column indices are offsets into the
// padded image.
//
// MulDense (and MulVecBatch for m ≥ 4/8/16 with CSR/BSR8/NM, after an
// AVX2 8×8-tile transpose of X into [cols, m]) keeps up to 64 columns of
// one row of C in eight YMM registers for the whole row and, for each
// stored value w = W(r, k), broadcasts w and FMAs it with B[k, j:j+64];
// the last vector of a row is masked, so any width works. NM blocks the
// depth by 64 columns of W so that B's rows stay in L1. The kernels are
// generated (sparse_gen.go → sparse_amd64.s, sparse_stubs_amd64.go) in one
// variant per accumulator count and N.
//
// MulVecBatch for smaller m computes one sparse dot product per output:
// CSR with four scalar FMA chains (3 loads per nonzero; VGATHERDPS is 2×
// slower on this Zen 3); BSR8 eight rows at a time on its sliced layout
// (the rows cut again into 1×4 blocks and sorted by block count, step t
// holding blocks 2t and 2t+1 of each of the eight, whose x[k0:k0+4] and
// x[k1:k1+4] fill the halves of one vector for one FMA; one accumulator
// per row, one transposing reduction per slice: sparse_bsr_sliced.go).
// Slicing removed a loop exit and a horizontal sum per row (1.1–1.2× on
// LeNet-300); the 1×4 pairs, which replaced one 8-wide FMA per 1×8 block
// on x[k0:k0+8], hold 38% fewer values at 96% zeros, and the kernel is
// bound by streaming them from L2 (1.21× on LeNet-300's fc1 at 96%,
// 1.42× on a random 500×800 at 97%, equal at 60–88%); 2:4 on paired rows (rows p and p+4
// of eight share a vector, 4-bit column numbers within an 8-column chunk
// of x, one VPERMPS and one FMA per 8 values: sparse_nm24_pairs.go,
// 1.25× the former kernel, which split x[16c:16c+16] into 128-bit halves,
// permuted each (VPERMILPS) and blended, four rows at a time, and still
// serves rows outside whole passes and beta ≠ 0); 1:2 and 4:8 use
// VPERMPS; other N:M gather.
//
// # Measurements
//
// AMD EPYC (Zen 3, AVX2+FMA, no AVX-512), 2 vCPUs shared with other jobs
// (load average 3–5 during the runs, so ratios moved ±20% between runs;
// times are the best of 60 rounds of 0.5 ms, dense and sparse
// interleaved, and -cpu 1). LeNet-300-100 uses its trained weights from
// testdata/models/lenet300.onnx magnitude-pruned to 95% (2:4: the two
// largest |w| of every four); LeNet-5 layers use random weights pruned to
// 90%. Dense is Sgemm on the same (pruned, dense) weights.
//
//	go test -run '^$' -bench 'BenchmarkSparse$' -cpu 1 -benchtime 200x ./runtime/kernels/
//
//	layer (shape), sparsity               dense µs   csr µs         bsr1x8 µs      nm2:4 µs (50%)
//	LeNet-300 fc1 784→300, b1, 95%          15.7      5.3   3.3×     3.1   6.5×*    9.0  1.74×
//	LeNet-300 fc1 784→300, b64, 95%        440       60     7.3×   169     2.6×   341    1.22×
//	LeNet-300 fc2 300→100, b1, 95%           3.6      1.3   2.8×     0.72  4.9×*    1.5  2.40×
//	LeNet-300 fc2 300→100, b64, 95%         65       10     6.3×    32     2.1×    33    1.67×
//	LeNet-5 conv2 [50,500]·[500,64], 90%    43        7.8   5.5×    36     1.2×      –
//	LeNet-5 fc1 800→500, b1, 90%            26       17     1.7×    10.7   2.4×*   16    1.66×
//	LeNet-5 fc1 800→500, b64, 90%          622      151     4.1×   677     1.1×   670    1.13×
//
// (× = dense time / sparse time on the same weights; the nm2:4 column's
// dense time is that of the 2:4-pruned weights, within noise of the 95%
// one. Earlier runs of the same kernels at b64 gave 1.39–1.49× for nm2:4
// on both fc1. * = the batch-1 layout in 1×4 pairs, from a later run
// (dense 20.3, 3.5 and 26 µs there; the 1×8 layout gave 5.0×, 3.9× and
// 2.0×). Bytes vs dense, both layouts counted: csr 0.10 (95%) / 0.20
// (90%), bsr1x8 0.35–0.89, nm2:4 1.18.)
//
// Break-even on LeNet-300 fc1 (trained weights, magnitude-pruned):
//
//	PODA_SPARSE_SWEEP=1 go test -run TestSparseBreakEven -v -cpu 1 ./runtime/kernels/
//
//	batch 1    50%    60%    70%    80%    90%    95%    98%   break-even
//	csr       0.30×  0.39×  0.41×  0.67×  1.59×  2.95×  6.79×  90%
//	bsr1x8    0.99×  1.10×  1.40×  1.93×  4.41×  6.27×  12.9×  60% (1×4 pairs)
//	(1×8)     1.06×  1.17×  1.47×  1.83×  2.98×  5.07×  10.4×  50% (60%, 50% in two more runs)
//	nm2:4 1.73× (50%), nm1:4 0.52× and nm2:8 0.52× (75%, gathers), nm1:8 0.98× (87.5%)
//
//	batch 64   50%    60%    70%    80%    90%    95%    98%   break-even
//	csr       0.88×  1.08×  1.40×  2.11×  4.22×  8.71×  13.3×  60%
//	bsr1x8    0.64×  0.69×  0.79×  1.01×  1.59×  2.62×  5.99×  80%
//	nm2:4 1.43× (50%), nm1:4 2.32×, nm2:8 2.40× (75%), nm1:8 3.87× (87.5%)
//	with the 64-column N:M kernels (spmmNM<n>Full): nm2:4 1.50×, nm1:4
//	2.26×, nm2:8 2.85×, nm1:8 3.74×; batch 1 in the same run: nm2:4 1.95×
//
// So: batch 1 → bsr1x8 from ~60% (csr above ~95% on fc2-sized layers),
// nm2:4 at 2:4; batch ≥ 4 and Conv → csr from ~60%, nm for N:M. (The
// runtime's direct convolution, TestDirectConvBreakEven in runtime/,
// breaks even lower still on LeNet-5's convolutions.)
// BenchmarkSparseVecBatchM places the per-format switch from dot
// products to the transposed kernel (transposeMin: csr 4, bsr1x8 8,
// nm 16).
//
// # Caveats
//
//   - The kernels trust the index arrays: a hand-built or edited matrix
//     must pass Validate (the constructors' output does).
//   - CSR drops exact zeros, so it never computes 0·Inf = NaN where dense
//     Sgemm would; BSR8 and NM multiply their stored zeros in the
//     assembly but skip them in the generic loops, so with Inf in B or x
//     the two paths can differ. Summation order differs from Sgemm
//     (results agree to rounding).
//   - The AVX2 NM kernels cover N ∈ {1, 2, 4, 8} for MulDense and N | 8
//     for batch 1 (fast only for M = 2N); other N:M run the generic loops.
//     BSR8 with fewer than 8 columns runs the generic loops.
//   - Batch-1 N:M other than 1:2, 2:4 and 4:8 uses VGATHERDPS and is
//     about 2× slower than dense; 2:4 at batch 64 is only 1.0–1.7× dense
//     (the kernel does one B load per FMA, dense Sgemm one per six; on
//     64-column panels spmmNM<n>FullAVX2 keeps every other load off the
//     load ports, and k-blocks of 96 rows of B: the sweep's nm2:4 at b64
//     went from 1.41–1.45× to 1.76–1.78×). That is near the ceiling of
//     the design: with one load per FMA it runs into the load ports, not
//     the FMA units. `go test -run '^$' -bench
//     'BenchmarkSparse/lenet300_fc1_b64_2:4' -cpu 1 ./runtime/kernels`:
//     211–213 µs at best for 7.5M multiply-adds, 11 per cycle at 3.17
//     GHz, against 12.5 for dense on the same product (374–380 µs for
//     15M; the FMA units allow 16).
//   - Batch-1 2:4 spends a VPERMPS (and a shift) per 8 values, which
//     cost this CPU about as much as the FMA, so 2:4 beats dense GEMV by
//     1.5–2×: on layers whose weights stream from L2 or L3 (LeNet's fc1)
//     by the bytes it saves, on 10-output heads by its lean dispatch
//     (MulVecBatch goes straight to the layout for one row of X; the last
//     Rows%8 rows run as row pairs, nm24TailAVX2, not as a pass padded
//     with zero rows). bench/nm24_layers.sh measures every fixture's
//     Gemms.
//   - Parallelism splits rows of W into shares of equal stored values
//     once nnz·width ≥ 2^18 per goroutine (sparseParallelWork), on the
//     worker pool (pool.go). Until its idle workers polled, the second
//     share started about 130 µs late and a 2:4 LeNet-300 fc1 at batch 64
//     ran no faster on two threads than on one (245 µs); polling made it
//     121–146 µs (the table above is single-threaded). Below that
//     threshold (LeNet-5's 90%-sparse conv2 on the direct path, 4.3k
//     values × 92 columns, takes about 15 µs) products stay on the
//     calling goroutine. Threads on each matrix caps it (0: GOMAXPROCS).
//   - There are no arm64 kernels: other architectures run the generic Go
//     loops (sparse_other.go, sparse_transpose_other.go).
const sparseDoc = "see the comment above"
