// Package onnx reads and writes ONNX model files safely and exactly.
//
// Reading decodes the protobuf with a recursion limit, loads tensors stored
// as external data beside the model (refusing paths that escape the model's
// folder, symlinks, hard links and sizes that disagree with the tensor), and
// validates every tensor, node and graph against the rules of the ONNX IR
// and against configurable Limits, before any large allocation. Every error
// names the file, the tensor or node, and the rule that was broken.
//
// Writing is deterministic (the same model gives byte-identical files) and
// atomic (temporary file, fsync, rename), refuses to overwrite the model's
// own input files, and can move large tensors to an external data file.
//
// The package works on the protobuf types of package pb; package graph
// builds Poda's editable IR on top of it.
package onnx
