// Package poda makes trained neural networks smaller and faster by pruning
// them directly on their ONNX files, in pure Go.
//
// Data flows one way through its packages:
//
//	ONNX file ──onnx──▶ protobuf ──graph──▶ IR ──┬─▶ inspect   (params, MACs, bytes, sparsity)
//	                                             ├─▶ prune     (unstructured, N:M, structured via prune/depgraph, depth)
//	                                             ├─▶ runtime   (pure-Go executor; runtime/kernels: GEMM, im2col, SIMD)
//	                                             └─▶ train     (autodiff, optimizers; data: MNIST, images, arrays)
//	                          recovery (prune + fine-tune on a schedule) ──▶ graph ──onnx──▶ ONNX file + report
//
// Package tensor is the dense tensor every package exchanges; npy reads and
// writes NumPy files. The command poda (cmd/poda) is a thin layer over
// these packages. This package itself only carries the demo model that
// `poda demo` prunes.
package poda

import _ "embed"

// DemoModel is the repository's LeNet-5 fixture (Caffe variant, trained on
// MNIST by testdata/fixtures/gen_fixtures.py), embedded so that `poda demo`
// runs from any directory.
//
//go:embed testdata/models/lenet5.onnx
var DemoModel []byte
