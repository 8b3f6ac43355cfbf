package depgraph_test

import (
	"fmt"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/prune/depgraph"
	"github.com/podaml/poda/tensor"
)

// A conv whose 8 output channels feed a second conv: one group of 8
// channels with three members (conv1's filters and bias, conv2's input
// slices); conv2's channels reach the graph output and are declined.
func Example() {
	g := &graph.Graph{Name: "example"}
	g.Inputs = []*graph.Value{{Name: "x", DType: tensor.Float, Shape: graph.ShapeOf(1, 3, 8, 8)}}
	g.AddInitializer("w1", tensor.New(8, 3, 3, 3))
	g.AddInitializer("b1", tensor.New(8))
	g.AddInitializer("w2", tensor.New(4, 8, 1, 1))
	g.Nodes = []*graph.Node{
		{Name: "conv1", OpType: "Conv", Inputs: []string{"x", "w1", "b1"}, Outputs: []string{"h"}},
		{Name: "relu", OpType: "Relu", Inputs: []string{"h"}, Outputs: []string{"r"}},
		{Name: "conv2", OpType: "Conv", Inputs: []string{"r", "w2"}, Outputs: []string{"y"}},
	}
	g.Outputs = []*graph.Value{{Name: "y", DType: tensor.Float}}
	m := &graph.Model{IRVersion: 8, Opsets: []graph.Opset{{Version: 17}}, Graph: g}

	d, err := depgraph.Build(m)
	if err != nil {
		panic(err)
	}
	for _, grp := range d.Groups {
		fmt.Printf("%s: %d channels", grp.Name, grp.Channels)
		if grp.Declined != "" {
			fmt.Printf(", declined: %s", grp.Declined)
		}
		fmt.Println()
		for _, s := range grp.Members {
			fmt.Printf("  %s[%d] %s\n", s.Tensor, s.Axis, s.Role)
		}
	}
	// Remove channels 2 and 5 of conv1 and everything coupled to them.
	if err := d.Apply(depgraph.Plan{d.Group("conv1").ID: {2, 5}}); err != nil {
		panic(err)
	}
	fmt.Println(g.Initializer("w1").Shape, g.Initializer("b1").Shape, g.Initializer("w2").Shape)
	// Output:
	// conv1: 8 channels
	//   w1[0] out
	//   b1[0] bias
	//   w2[1] in
	// conv2: 4 channels, declined: channels reach graph output "y"
	//   w2[0] out
	// [6 3 3 3] [6] [4 6 1 1]
}
