package runtime

import (
	"context"
	"math"
	"math/rand"
	"testing"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/onnx/pb"
	"github.com/podaml/poda/tensor"
	"google.golang.org/protobuf/proto"
)

func intsAttr(name string, v ...int64) *pb.AttributeProto {
	return &pb.AttributeProto{Name: proto.String(name), Type: pb.AttributeProto_INTS.Enum(), Ints: v}
}

func randTensor(r *rand.Rand, shape ...int) *tensor.Tensor {
	t := tensor.New(shape...)
	for i := range t.F32 {
		t.F32[i] = float32(r.NormFloat64())
	}
	return t
}

// convBNModel is X → Conv(pad 1) → BatchNormalization → act → Y. With
// expose, the Conv and BN outputs are graph outputs too, which keeps the
// fusion passes away.
func convBNModel(act string, expose bool) *graph.Model {
	r := rand.New(rand.NewSource(7))
	g := &graph.Graph{
		Inputs:  []*graph.Value{{Name: "X", DType: tensor.Float, Shape: graph.ShapeOf(2, 3, 9, 9)}},
		Outputs: []*graph.Value{{Name: "Y", DType: tensor.Float}},
		Nodes: []*graph.Node{
			{Name: "conv", OpType: "Conv", Inputs: []string{"X", "W", "B"}, Outputs: []string{"c"},
				Attrs: []*pb.AttributeProto{intsAttr("pads", 1, 1, 1, 1), intsAttr("strides", 2, 1)}},
			{Name: "bn", OpType: "BatchNormalization", Inputs: []string{"c", "s", "b", "m", "v"}, Outputs: []string{"n"}},
			{Name: "act", OpType: act, Inputs: []string{"n", "lo", "hi"}, Outputs: []string{"Y"}},
		},
	}
	if act != "Clip" {
		g.Nodes[2].Inputs = g.Nodes[2].Inputs[:1]
	}
	if expose {
		g.Outputs = append(g.Outputs, &graph.Value{Name: "c"}, &graph.Value{Name: "n"})
	}
	g.AddInitializer("W", randTensor(r, 4, 3, 3, 3))
	g.AddInitializer("B", randTensor(r, 4))
	g.AddInitializer("s", randTensor(r, 4))
	g.AddInitializer("b", randTensor(r, 4))
	g.AddInitializer("m", randTensor(r, 4))
	v := randTensor(r, 4)
	for i := range v.F32 {
		v.F32[i] = float32(math.Abs(float64(v.F32[i]))) + 0.1
	}
	g.AddInitializer("v", v)
	g.AddInitializer("lo", tensor.FromFloat32([]float32{-0.5}))
	g.AddInitializer("hi", tensor.FromFloat32([]float32{1.5}))
	return &graph.Model{Graph: g, Opsets: []graph.Opset{{Domain: "", Version: 13}}}
}

// TestFusionMatchesUnfused compares Conv+BN+activation through the fusion
// passes with the same graph run node by node.
func TestFusionMatchesUnfused(t *testing.T) {
	for _, act := range []string{"Relu", "Clip", "LeakyRelu"} {
		fused, err := New(convBNModel(act, false), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if len(fused.nodes) != 1 {
			t.Errorf("%s: %d nodes after fusion, want 1", act, len(fused.nodes))
		}
		plain, err := New(convBNModel(act, true), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if len(plain.nodes) != 3 {
			t.Errorf("%s: %d nodes without fusion, want 3", act, len(plain.nodes))
		}
		x := randTensor(rand.New(rand.NewSource(1)), 2, 3, 9, 9)
		a, err := fused.Run(context.Background(), map[string]*tensor.Tensor{"X": x})
		if err != nil {
			t.Fatal(err)
		}
		b, err := plain.Run(context.Background(), map[string]*tensor.Tensor{"X": x})
		if err != nil {
			t.Fatal(err)
		}
		if err := compareTensors(a["Y"], b["Y"], 1e-5, 1e-6); err != nil {
			t.Errorf("%s: fused differs from unfused: %v", act, err)
		}
		if !sameInts(a["Y"].Shape, []int{2, 4, 5, 9}) {
			t.Errorf("shape %v", a["Y"].Shape)
		}
	}
}

// TestArenaReuse checks that liveness lets a chain of equal-sized values
// share buffers: the arena of a long chain is about two values, not all.
func TestArenaReuse(t *testing.T) {
	g := &graph.Graph{
		Inputs:  []*graph.Value{{Name: "x0", DType: tensor.Float, Shape: graph.ShapeOf(1000)}},
		Outputs: []*graph.Value{{Name: "x10", DType: tensor.Float}},
	}
	for i := 0; i < 10; i++ {
		g.Nodes = append(g.Nodes, &graph.Node{OpType: "Sigmoid",
			Inputs: []string{"x" + itoa(i)}, Outputs: []string{"x" + itoa(i+1)}})
	}
	g.Nodes[0].Inputs = []string{"x0"}
	s, err := New(&graph.Model{Graph: g, Opsets: []graph.Opset{{Version: 13}}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.New(1000)
	if _, err := s.Run(context.Background(), map[string]*tensor.Tensor{"x0": x}); err != nil {
		t.Fatal(err)
	}
	p, _ := s.planFor([]*tensor.Tensor{x})
	if p.arenaBytes > 2*4096 {
		t.Errorf("arena %d bytes for a chain of 4000-byte values, want at most two", p.arenaBytes)
	}
}

// TestAddReluFusion checks a residual Add followed by Relu, fused, on
// float32 and int64.
func TestAddReluFusion(t *testing.T) {
	for _, dt := range []tensor.DType{tensor.Float, tensor.Int64} {
		g := &graph.Graph{
			Inputs: []*graph.Value{{Name: "a", DType: dt}, {Name: "b", DType: dt}},
			Nodes: []*graph.Node{
				{OpType: "Add", Inputs: []string{"a", "b"}, Outputs: []string{"s"}},
				{OpType: "Relu", Inputs: []string{"s"}, Outputs: []string{"y"}},
			},
			Outputs: []*graph.Value{{Name: "y"}},
		}
		s, err := New(&graph.Model{Graph: g, Opsets: []graph.Opset{{Version: 13}}}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if len(s.nodes) != 1 {
			t.Errorf("%s: %d nodes, want Add and Relu fused", dt, len(s.nodes))
		}
		a, b := []int64{1, -5, 3, -2, 0, 7}, []int64{2, 1, -4}
		ta, tb := tensor.FromInt64(a, 2, 3), tensor.FromInt64(b, 3)
		if dt == tensor.Float {
			ta, tb = tensor.New(2, 3), tensor.New(3)
			for i, v := range a {
				ta.F32[i] = float32(v)
			}
			for i, v := range b {
				tb.F32[i] = float32(v)
			}
		}
		out, err := s.Run(context.Background(), map[string]*tensor.Tensor{"a": ta, "b": tb})
		if err != nil {
			t.Fatal(err)
		}
		want := []int64{3, 0, 0, 0, 1, 3}
		for i, w := range want {
			if got := getI64(out["y"], dt, i); dt == tensor.Int64 && got != w || dt == tensor.Float && out["y"].F32[i] != float32(w) {
				t.Fatalf("%s: y = %v / %v, want %v", dt, out["y"].F32, out["y"].I64, want)
			}
		}
	}
}
