// Package depgraph owns the channel dependency graph of structured pruning:
// which slices of which initializers must shrink together when channels are
// removed, and the physical rewrite that removes them.
//
// Build walks the graph once in topological order. Every op type has one
// coupling rule (rules.go, reshape.go) that says how channels flow from the
// op's inputs to its outputs and which parameter axes they touch: a Conv
// creates a fresh channel set on its output (weight axis 0, bias) and reads
// its input's channels on weight axis 1; a residual Add ties the channel
// sets of its operands; a Concat lays its operands' channels side by side;
// a Flatten maps each channel to its block of features; a Reshape that
// splits a projection into attention heads ties each head's channels
// together so heads are removed whole. Channels are tracked as atoms: every
// index along a tracked axis of a value or an initializer carries the atom
// it derives from, and coupling rules union atoms (union-find). A channel
// of a Group is one class of atoms; a Group is a set of channel-creating
// producers connected through such unions.
//
// A group is declined, with a reason naming the node, when any of its
// channels reaches a graph input or output, an op without a coupling rule,
// or a use the rules cannot rewrite exactly (a LayerNorm over the channel
// axis, a Reshape target computed at run time, an initializer shared with
// another op, ...). Declined groups are reported and never rewritten.
//
// Apply removes a Plan's channels from every member slice at once and fixes
// what depends on channel counts: Conv group attributes of depthwise convs,
// Split sizes, Reshape targets (head counts, flattened feature counts) and
// the value_info shapes. Zero writes zeros instead, so that the removed
// channels output exactly zero: the model computes the same function as the
// pruned one, which is how the equivalence tests check Apply.
//
// Criteria (package prune) read a Group's Members and never look at op
// types: each Slice says which tensor, which axis, which indices belong to
// each channel, and the Role the tensor plays.
package depgraph
