// Package prune removes what contributes little to a model, directly on
// the ONNX graph: unstructured pruning (magnitude or random, layer-wise or
// global, exact sparsity), N:M semi-structured pruning, and structured
// pruning of whole channels, neurons and heads through the dependency
// graph of package prune/depgraph, written back as smaller tensors.
//
// Pruners take a *graph.Model, edit it in place and return a report. The
// model's inputs are never files: callers load with graph.Load and save
// with Model.Save.
package prune

import (
	"path"

	"github.com/podaml/poda/graph"
)

// Target is a prunable weight tensor and the layer that uses it.
type Target struct {
	Tensor string      // initializer name
	Node   *graph.Node // the Conv, ConvTranspose, Gemm or MatMul that reads it
	// ReduceAxis is the axis of the weight along which the layer sums
	// (its input dimension): 1 for Conv (C_in·k_h·k_w flattened from axis
	// 1), 0 for ConvTranspose, Gemm without transB and MatMul, 1 for Gemm
	// with transB.
	ReduceAxis int
}

// Targets lists the weights prunable by default: the weight initializers
// of Conv, ConvTranspose, Gemm, and MatMul with an initializer operand, in
// graph order. Biases, normalization parameters and embeddings (Gather
// tables) are not included. A tensor read by several layers is listed once.
func Targets(m *graph.Model) []Target {
	g := m.Graph
	var out []Target
	seen := map[string]bool{}
	add := func(name string, n *graph.Node, axis int) {
		t := g.Initializer(name)
		if t == nil || !t.DType.IsFloat() || seen[name] || t.Numel() == 0 {
			return
		}
		seen[name] = true
		out = append(out, Target{Tensor: name, Node: n, ReduceAxis: axis})
	}
	for _, n := range g.Nodes {
		switch n.OpType {
		case "Conv":
			add(n.Input(1), n, 1)
		case "ConvTranspose":
			add(n.Input(1), n, 0)
		case "Gemm":
			// Y = A·B: B is [K,N], or [N,K] with transB.
			if n.Int("transB", 0) != 0 {
				add(n.Input(1), n, 1)
			} else {
				add(n.Input(1), n, 0)
			}
		case "MatMul":
			if w := g.Initializer(n.Input(1)); w != nil && len(w.Shape) >= 2 {
				add(n.Input(1), n, len(w.Shape)-2)
			} else if w := g.Initializer(n.Input(0)); w != nil && len(w.Shape) >= 2 {
				// W·X: the weight reduces along its last axis.
				add(n.Input(0), n, len(w.Shape)-1)
			}
		}
	}
	return out
}

// Matches reports whether a target matches any of the glob patterns
// (path.Match syntax), tried against the tensor name, the node name and
// the node's op type.
func (t Target) Matches(patterns []string) bool {
	for _, p := range patterns {
		for _, s := range []string{t.Tensor, t.Node.Name, t.Node.OpType} {
			if ok, _ := path.Match(p, s); ok && s != "" {
				return true
			}
		}
	}
	return false
}

// Zeros counts the exact zeros of the prunable weights (Targets) of m, and
// their elements: the sparsity pruning achieved is zeros/total.
func Zeros(m *graph.Model) (zeros, total int) {
	for _, t := range Targets(m) {
		w := m.Graph.Initializer(t.Tensor).F32
		zeros += countZeros(w)
		total += len(w)
	}
	return zeros, total
}
