// Package graph is Poda's editable intermediate representation of an ONNX
// model: nodes with named inputs and outputs, initializers (weights) as
// dense tensors, graph inputs and outputs with symbolic shapes, and the
// model's opsets.
//
// Everything Poda does not interpret (metadata, doc strings, unknown ops and
// their attributes, functions, training info) is carried through untouched,
// so Load followed by Save preserves it.
//
// Edits go through methods that keep the graph consistent: ShrinkAxis
// removes slices of an initializer along an axis, ReplaceUses rewires a
// value's consumers, RemoveNode and InsertNode change the node list,
// Prune drops what no output needs, and Check verifies the invariants
// (single assignment, topological order, every input defined). Producer and
// consumer maps are rebuilt lazily after edits.
//
// Data flows one way: package onnx decodes files into protobufs, this
// package builds the IR, and the analysis, pruning, runtime and training
// packages work on it.
package graph
