package depgraph

import (
	"slices"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/tensor"
)

type tensorT = tensor.Tensor

// FoldIdentities replaces every Identity node that copies an initializer
// with a private initializer of its own (named as the Identity's output).
// Exporters deduplicate equal parameters that way (untrained BatchNorm
// scales, for one); folded, each use can be sliced with its own group. The
// model computes the same function. It returns the folded names (private
// initializer → source initializer) for ReshareIdentities.
func FoldIdentities(m *graph.Model) map[string]string {
	g := m.Graph
	folded := map[string]string{}
	for _, n := range slices.Clone(g.Nodes) {
		if n.OpType != "Identity" || (n.Domain != "" && n.Domain != "ai.onnx") || len(n.Outputs) != 1 {
			continue
		}
		src := g.Initializer(n.Input(0))
		out := n.Outputs[0]
		if src == nil || g.Value(src.Name) != nil || g.IsOutput(out) || g.Initializer(out) != nil {
			continue
		}
		g.RemoveNode(n)
		g.AddInitializer(out, src.Tensor.Clone())
		folded[out] = src.Name
	}
	return folded
}

// ReshareIdentities undoes FoldIdentities for the private initializers that
// still equal their source (pruning did not touch them): they become
// Identity nodes again, so unpruned models do not grow.
func ReshareIdentities(m *graph.Model, folded map[string]string) {
	g := m.Graph
	names := make([]string, 0, len(folded))
	for k := range folded {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, out := range names {
		t, src := g.Initializer(out), g.Initializer(folded[out])
		if t == nil || src == nil || !sameTensor(&t.Tensor, &src.Tensor) {
			continue
		}
		g.RemoveInitializer(out)
		g.InsertNode(0, &graph.Node{Name: g.UniqueName(out + "_identity"), OpType: "Identity",
			Inputs: []string{src.Name}, Outputs: []string{out}})
	}
}

func sameTensor(a, b *tensorT) bool {
	return a.DType == b.DType && slices.Equal(a.Shape, b.Shape) && slices.Equal(a.F32, b.F32) &&
		slices.Equal(a.I64, b.I64) && slices.Equal(a.Raw, b.Raw)
}
