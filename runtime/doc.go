// Package runtime executes ONNX models held in the graph IR, in pure Go.
//
// It owns everything between a loaded *graph.Model and output tensors:
// operator semantics (one ops_*.go file per family, each registering its
// ops in init under a (domain, op type, opset range) key; SupportedOps is
// derived from that registry), planning, memory, and the use of the
// runtime/kernels package (GEMM, im2col, vector loops) for the heavy
// lifting. It does not own file formats (onnx, npy) or graph edits
// (graph, prune).
//
// # Sessions
//
// New builds each node's op from its attributes, so that an unsupported op
// or bad attribute fails there, naming the node. It then rewrites its own
// copy of the node list (the model is not modified): an inference
// BatchNormalization that follows a Conv with constant weights is folded
// into new weights and bias, and an activation (Relu, Clip, LeakyRelu) is
// fused into the Conv, Gemm or Add that feeds it when nothing else reads
// the intermediate value: for Conv and Gemm the activation runs in the
// GEMM epilogue, on tiles still in cache.
//
// # Plans
//
// Run plans the graph once per input signature and caches the plan in the
// Session (up to 16, most recently used first). The signature is the
// inputs' element types and shapes, plus the contents of the few inputs
// that output shapes depend on (for example a Reshape target fed as a
// graph input; New finds them by following shape inputs back through the
// graph, stopping at Shape). Planning:
//
//  1. walks the nodes in order and has each op compute its outputs'
//     concrete shapes and types (op.prepare), returning the function that
//     will compute them with all shape arithmetic (broadcast strides,
//     convolution geometry, gather maps) already done;
//  2. folds constants: a node whose inputs are all known (initializers,
//     Constant, Shape of a known shape, …) runs at plan time and its
//     outputs become plan constants, so shape subgraphs (Shape → Gather →
//     Concat → Reshape) cost nothing per Run;
//  3. turns view ops (Reshape, Flatten, Squeeze, Unsqueeze, Identity,
//     inference Dropout) into aliases of their input's storage;
//  4. drops nodes no output needs, then assigns every remaining
//     intermediate a byte offset in one arena, reusing the space of values
//     whose last reader has run (best fit among free blocks, with
//     neighbouring blocks merged), so the arena is about the size of the
//     largest set of simultaneously live values, not their sum.
//
// Each Run takes an arena (the buffer, tensor headers bound to it and
// scratch space for im2col and the like) from a free list owned by the
// plan (internal/freelist; a plan keeps as many arenas as it ever had Runs
// at once, until the Session drops the plan), so concurrent Runs never
// share buffers and a steady-state Run
// allocates only its output tensors and the result map, on one thread or
// several: loops split across goroutines run on the long-lived workers of
// runtime/kernels' pool (workers.go), which poll for new work for half a
// millisecond before they sleep (kernels.SetWorkerSpin: a sleeping worker
// took 130 µs to start on the 2-vCPU test machines), their bodies small
// job structs recycled per type,
// not closures. Graph outputs are written directly into freshly allocated
// tensors that the caller owns.
//
// # Parallelism
//
// GEMMs are split across cores by runtime/kernels (up to GOMAXPROCS).
// Convolutions over several images or groups, and large elementwise,
// normalisation, pooling and reduction loops, are split into up to
// Options.Threads chunks (GOMAXPROCS by default), on the same pool. Convolutions choose their path per layer
// (ops_conv.go): an implicit GEMM over the zero-padded image for most
// ungrouped ones, dot products streaming the weights for outputs of at
// most 4 pixels, a stencil per channel for depthwise ones, and im2col +
// GEMM (several small images per GEMM in a batch) for the rest.
//
// # Pruned weights
//
// A Conv, Gemm or MatMul whose weight is a constant with enough zeros runs
// on the sparse kernels of runtime/kernels, converted once per Session:
// N:M formats when the weight has that structure, CSR for wide products
// (a batch of rows or a convolution's pixels) from 65% zeros, BSR 1×8 for
// narrow ones from 60% zeros, and a direct sparse convolution (no im2col)
// for ungrouped stride-1 convolutions from 65% zeros (sparse.go has the
// measurements behind these). With Options.Tune, each such layer is instead timed at the
// planned shape in dense and in every format that fits it, and the
// fastest is kept (dense unless a format beats it by 3%): tune.go.
// Options.Formats forces formats by node name (`poda bench --tune` saves
// them in a tuning file; LoadTuning reads it), and LayerFormats reports
// the choice. Options.Dense turns all this off.
//
// # Types
//
// Arithmetic is float32 first; most elementwise ops, Cast, comparisons and
// data movement also handle float64, float16 (converted), the integer
// types and bool. An op given an element type it does not implement fails
// when planning with an *UnsupportedError.
package runtime
