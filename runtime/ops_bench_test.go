package runtime

import (
	"context"
	"fmt"
	"math/rand"
	"testing"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/onnx/pb"
	"github.com/podaml/poda/tensor"
)

// Benchmarks of single ops at the shapes of the fixtures' slow layers,
// for example:
//
//	go test ./runtime -run '^$' -bench 'Conv|Pool' -count 3
//
// Each reports ns/op and cpu-ns/op as benchModel does.

// benchNode times the one step of n's one-node model (X the only graph
// input, the other inputs initializers) at the session's default thread
// count, on a fixed arena as TestProfileSteps does: the output is not
// allocated per run, as inside a model.
func benchNode(b *testing.B, n *graph.Node, x *tensor.Tensor, consts map[string]*tensor.Tensor) {
	g := &graph.Graph{Nodes: []*graph.Node{n}, Inputs: []*graph.Value{{Name: "x", DType: tensor.Float}}}
	for name, c := range consts {
		g.AddInitializer(name, c)
	}
	g.Outputs = append(g.Outputs, &graph.Value{Name: n.Outputs[0]})
	s, err := New(&graph.Model{Graph: g, Opsets: []graph.Opset{{Version: 13}}}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	ins := []*tensor.Tensor{x}
	p, err := s.planFor(ins)
	if err != nil {
		b.Fatal(err)
	}
	a := p.newArena()
	a.t[p.inputs[0]] = *x
	for _, si := range p.outputs {
		a.t[si] = *newTensor(p.slots[si].dtype, p.slots[si].shape)
	}
	e := &env{ctx: context.Background(), scratch: a.scratch, threads: p.threads}
	st := &p.steps[0]
	if err := st.run(e, a.ins[0], a.outs[0]); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	c0 := cpuTime()
	for i := 0; i < b.N; i++ {
		if err := st.run(e, a.ins[0], a.outs[0]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpuTime()-c0)/float64(b.N), "cpu-ns/op")
}

// BenchmarkConvSmallImages is ResNet-18's 3×3 convolutions at 64×64
// input: few output pixels, many channels.
func BenchmarkConvSmallImages(b *testing.B) {
	r := rand.New(rand.NewSource(1))
	for _, tc := range []struct{ c, hw int }{{512, 2}, {256, 4}, {128, 8}} {
		b.Run(fmt.Sprintf("%d@%dx%d", tc.c, tc.hw, tc.hw), func(b *testing.B) {
			n := &graph.Node{OpType: "Conv", Inputs: []string{"x", "w", "b"}, Outputs: []string{"y"},
				Attrs: []*pb.AttributeProto{intsAttr("pads", 1, 1, 1, 1)}}
			benchNode(b, n, randTensor(r, 1, tc.c, tc.hw, tc.hw),
				map[string]*tensor.Tensor{"w": randTensor(r, tc.c, tc.c, 3, 3), "b": randTensor(r, tc.c)})
		})
	}
}

// BenchmarkDepthwise is MobileNetV2's 3×3 depthwise convolution on 96
// channels of 32×32, at stride 1 and 2, and on 960 channels of 2×2.
func BenchmarkDepthwise(b *testing.B) {
	r := rand.New(rand.NewSource(1))
	for _, tc := range []struct{ c, hw, s int }{{96, 32, 1}, {96, 32, 2}, {960, 2, 1}} {
		b.Run(fmt.Sprintf("%d@%dx%d/stride%d", tc.c, tc.hw, tc.hw, tc.s), func(b *testing.B) {
			s := int64(tc.s)
			n := &graph.Node{OpType: "Conv", Inputs: []string{"x", "w", "b"}, Outputs: []string{"y"},
				Attrs: []*pb.AttributeProto{intAttr("group", int64(tc.c)), intsAttr("pads", 1, 1, 1, 1), intsAttr("strides", s, s)}}
			benchNode(b, n, randTensor(r, 1, tc.c, tc.hw, tc.hw),
				map[string]*tensor.Tensor{"w": randTensor(r, tc.c, 1, 3, 3), "b": randTensor(r, tc.c)})
		})
	}
}

// BenchmarkPointwiseExpand is MobileNetV2's 1×1 expansion, 16 to 96
// channels on 32×32.
func BenchmarkPointwiseExpand(b *testing.B) {
	r := rand.New(rand.NewSource(1))
	n := &graph.Node{OpType: "Conv", Inputs: []string{"x", "w", "b"}, Outputs: []string{"y"}}
	benchNode(b, n, randTensor(r, 1, 16, 32, 32),
		map[string]*tensor.Tensor{"w": randTensor(r, 96, 16, 1, 1), "b": randTensor(r, 96)})
}

// BenchmarkMaxPool is ResNet-18's 3×3 stride-2 max pooling with padding 1
// on 64 channels of 32×32.
func BenchmarkMaxPool(b *testing.B) {
	r := rand.New(rand.NewSource(1))
	n := &graph.Node{OpType: "MaxPool", Inputs: []string{"x"}, Outputs: []string{"y"}, Attrs: []*pb.AttributeProto{
		intsAttr("kernel_shape", 3, 3), intsAttr("strides", 2, 2), intsAttr("pads", 1, 1, 1, 1)}}
	benchNode(b, n, randTensor(r, 1, 64, 32, 32), nil)
}

// BenchmarkConvStem is ResNet-18's first convolution: 3 to 64 channels,
// 7×7 at stride 2 with padding 3, on 64×64.
func BenchmarkConvStem(b *testing.B) {
	r := rand.New(rand.NewSource(1))
	n := &graph.Node{OpType: "Conv", Inputs: []string{"x", "w", "b"}, Outputs: []string{"y"},
		Attrs: []*pb.AttributeProto{intsAttr("pads", 3, 3, 3, 3), intsAttr("strides", 2, 2)}}
	benchNode(b, n, randTensor(r, 1, 3, 64, 64),
		map[string]*tensor.Tensor{"w": randTensor(r, 64, 3, 7, 7), "b": randTensor(r, 64)})
}
