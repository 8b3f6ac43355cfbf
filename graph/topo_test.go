package graph

import (
	"path/filepath"
	"testing"

	"github.com/podaml/poda/onnx"
)

// TestSortTopological reverses a fixture's node list, which breaks Check,
// and checks that SortTopological restores a valid order with the same
// nodes, and that a cycle is reported.
func TestSortTopological(t *testing.T) {
	m, err := Load(filepath.Join("..", "testdata", "models", "resnet_bn.onnx"), onnx.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	g := m.Graph
	n := len(g.Nodes)
	for i, j := 0, n-1; i < j; i, j = i+1, j-1 {
		g.Nodes[i], g.Nodes[j] = g.Nodes[j], g.Nodes[i]
	}
	g.Invalidate()
	if g.Check() == nil {
		t.Fatal("reversed graph passes Check")
	}
	if err := g.SortTopological(); err != nil {
		t.Fatal(err)
	}
	if err := g.Check(); err != nil {
		t.Fatalf("after sorting: %v", err)
	}
	if len(g.Nodes) != n {
		t.Fatalf("%d nodes after sorting, had %d", len(g.Nodes), n)
	}
	// A cycle: the first node reads the last node's output.
	g.Nodes[0].Inputs = append(g.Nodes[0].Inputs, g.Nodes[n-1].Outputs[0])
	g.Invalidate()
	if err := g.SortTopological(); err == nil {
		t.Error("a cycle was sorted")
	}
}
