package runtime_test

import (
	"context"
	"fmt"
	"log"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/runtime"
	"github.com/podaml/poda/tensor"
)

// A model built in memory: Y = Relu(X·W + b). Models read from files come
// from graph.Load.
func Example() {
	g := &graph.Graph{
		Inputs:  []*graph.Value{{Name: "X", DType: tensor.Float, Shape: graph.Shape{graph.Sym("N"), graph.Size(2)}}},
		Outputs: []*graph.Value{{Name: "Y", DType: tensor.Float}},
		Nodes: []*graph.Node{
			{OpType: "Gemm", Inputs: []string{"X", "W", "b"}, Outputs: []string{"h"}},
			{OpType: "Relu", Inputs: []string{"h"}, Outputs: []string{"Y"}},
		},
	}
	g.AddInitializer("W", tensor.FromFloat32([]float32{1, -1, 2, 0.5}, 2, 2))
	g.AddInitializer("b", tensor.FromFloat32([]float32{0, 1}, 2))
	m := &graph.Model{Graph: g, Opsets: []graph.Opset{{Domain: "", Version: 13}}}

	s, err := runtime.New(m, runtime.Options{})
	if err != nil {
		log.Fatal(err)
	}
	x := tensor.FromFloat32([]float32{1, 1, -1, 2}, 2, 2)
	out, err := s.Run(context.Background(), map[string]*tensor.Tensor{"X": x})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(s.InputNames(), s.OutputNames(), out["Y"].Shape, out["Y"].F32)
	// Output: [X] [Y] [2 2] [3 0.5 3 3]
}
