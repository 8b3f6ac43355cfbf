package onnx

import (
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/podaml/poda/onnx/pb"
	"google.golang.org/protobuf/proto"
)

// Builders for small valid models that the tests then break one way each.

func f32raw(vals ...float32) []byte {
	b := make([]byte, 4*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

func i64raw(vals ...int64) []byte {
	b := make([]byte, 8*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(v))
	}
	return b
}

func floatTensor(name string, dims []int64, vals ...float32) *pb.TensorProto {
	return &pb.TensorProto{Name: proto.String(name), DataType: proto.Int32(int32(pb.TensorProto_FLOAT)), Dims: dims, RawData: f32raw(vals...)}
}

func int64Tensor(name string, dims []int64, vals ...int64) *pb.TensorProto {
	return &pb.TensorProto{Name: proto.String(name), DataType: proto.Int32(int32(pb.TensorProto_INT64)), Dims: dims, RawData: i64raw(vals...)}
}

func tensorValue(name string, dims ...int64) *pb.ValueInfoProto {
	shape := &pb.TensorShapeProto{}
	for _, d := range dims {
		shape.Dim = append(shape.Dim, &pb.TensorShapeProto_Dimension{Value: &pb.TensorShapeProto_Dimension_DimValue{DimValue: d}})
	}
	return &pb.ValueInfoProto{Name: proto.String(name), Type: &pb.TypeProto{Value: &pb.TypeProto_TensorType{
		TensorType: &pb.TypeProto_Tensor{ElemType: proto.Int32(int32(pb.TensorProto_FLOAT)), Shape: shape}}}}
}

func node(name, op string, in, out []string, attrs ...*pb.AttributeProto) *pb.NodeProto {
	return &pb.NodeProto{Name: proto.String(name), OpType: proto.String(op), Input: in, Output: out, Attribute: attrs}
}

func intAttr(name string, v int64) *pb.AttributeProto {
	return &pb.AttributeProto{Name: proto.String(name), Type: pb.AttributeProto_INT.Enum(), I: proto.Int64(v)}
}

func tensorAttr(name string, t *pb.TensorProto) *pb.AttributeProto {
	return &pb.AttributeProto{Name: proto.String(name), Type: pb.AttributeProto_TENSOR.Enum(), T: t}
}

func graphAttr(name string, g *pb.GraphProto) *pb.AttributeProto {
	return &pb.AttributeProto{Name: proto.String(name), Type: pb.AttributeProto_GRAPH.Enum(), G: g}
}

// gemmModel is Y = Gemm(X, W, B, transB=1) with X [1,2], W [3,2], B [3]:
// IR version 8, opset 17, so that onnx 1.12's checker accepts it too.
func gemmModel() *pb.ModelProto {
	g := &pb.GraphProto{
		Name:   proto.String("main"),
		Input:  []*pb.ValueInfoProto{tensorValue("X", 1, 2)},
		Output: []*pb.ValueInfoProto{tensorValue("Y", 1, 3)},
		Initializer: []*pb.TensorProto{
			floatTensor("W", []int64{3, 2}, 1, 2, 3, 4, 5, 6),
			floatTensor("B", []int64{3}, 0.5, -0.5, 0),
		},
		Node: []*pb.NodeProto{node("gemm", "Gemm", []string{"X", "W", "B"}, []string{"Y"}, intAttr("transB", 1))},
	}
	return &pb.ModelProto{
		IrVersion:    proto.Int64(8),
		ProducerName: proto.String("poda-test"),
		OpsetImport:  []*pb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)}},
		Graph:        g,
	}
}

// constModel is Y = Add(X, C) where C comes from a Constant node, followed
// by an If node whose branches each hold a Constant and an initializer.
func constModel() *pb.ModelProto {
	branch := func(name string, v float32) *pb.GraphProto {
		return &pb.GraphProto{
			Name:        proto.String(name),
			Initializer: []*pb.TensorProto{floatTensor(name+"_init", []int64{1, 2}, v, v)},
			Node: []*pb.NodeProto{
				node(name+"_const", "Constant", nil, []string{name + "_c"}, tensorAttr("value", floatTensor("", []int64{1, 2}, v, v))),
				node(name+"_add", "Add", []string{name + "_c", name + "_init"}, []string{name + "_out"}),
			},
			Output: []*pb.ValueInfoProto{tensorValue(name+"_out", 1, 2)},
		}
	}
	g := &pb.GraphProto{
		Name:   proto.String("main"),
		Input:  []*pb.ValueInfoProto{tensorValue("X", 1, 2)},
		Output: []*pb.ValueInfoProto{tensorValue("Z", 1, 2)},
		Initializer: []*pb.TensorProto{
			{Name: proto.String("cond"), DataType: proto.Int32(int32(pb.TensorProto_BOOL)), RawData: []byte{1}},
		},
		Node: []*pb.NodeProto{
			node("const", "Constant", nil, []string{"C"}, tensorAttr("value", floatTensor("", []int64{1, 2}, 1, 2))),
			node("add", "Add", []string{"X", "C"}, []string{"Y"}),
			node("if", "If", []string{"cond"}, []string{"Z"}, graphAttr("then_branch", branch("then", 1)), graphAttr("else_branch", branch("else", 2))),
		},
	}
	return &pb.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*pb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)}},
		Graph:       g,
	}
}

// withFunction adds a local function "custom.Twice" holding a Constant, and
// a node of the main graph that calls it.
func withFunction(m *pb.ModelProto) *pb.ModelProto {
	m.OpsetImport = append(m.OpsetImport, &pb.OperatorSetIdProto{Domain: proto.String("custom"), Version: proto.Int64(1)})
	m.Functions = append(m.Functions, &pb.FunctionProto{
		Name:        proto.String("Twice"),
		Domain:      proto.String("custom"),
		Input:       []string{"a"},
		Output:      []string{"b"},
		OpsetImport: []*pb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)}},
		Node: []*pb.NodeProto{
			node("two", "Constant", nil, []string{"k"}, tensorAttr("value", floatTensor("", nil, 2))),
			node("mul", "Mul", []string{"a", "k"}, []string{"b"}),
		},
	})
	g := m.Graph
	g.Node = append(g.Node, &pb.NodeProto{Name: proto.String("twice"), OpType: proto.String("Twice"), Domain: proto.String("custom"),
		Input: []string{"Y"}, Output: []string{"Y2"}})
	g.Output = append(g.Output, tensorValue("Y2", 1, 3))
	return m
}

// sparseModel adds a sparse initializer S (dense [2,3], values at linear
// positions 1 and 5) consumed by an Add.
func sparseModel() *pb.ModelProto {
	m := gemmModel()
	m.Graph.SparseInitializer = append(m.Graph.SparseInitializer, &pb.SparseTensorProto{
		Values:  floatTensor("S", []int64{2}, 7, 8),
		Indices: int64Tensor("", []int64{2}, 1, 5),
		Dims:    []int64{2, 3},
	})
	m.Graph.Node = append(m.Graph.Node, node("adds", "Add", []string{"Y", "S"}, []string{"YS"}))
	m.Graph.Output = append(m.Graph.Output, tensorValue("YS", 2, 3))
	return m
}

func mustMarshal(t testing.TB, m *pb.ModelProto) []byte {
	t.Helper()
	b, err := Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeModel(t testing.TB, dir, name string, m *pb.ModelProto) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, mustMarshal(t, m), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func writeBytes(t testing.TB, p string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// externalize moves t's raw_data out to the given entries.
func externalize(t *pb.TensorProto, kv ...string) {
	t.RawData = nil
	t.DataLocation = pb.TensorProto_EXTERNAL.Enum()
	t.ExternalData = nil
	for i := 0; i+1 < len(kv); i += 2 {
		t.ExternalData = append(t.ExternalData, &pb.StringStringEntryProto{Key: proto.String(kv[i]), Value: proto.String(kv[i+1])})
	}
}

// wantReject checks that err is an *Error whose message names every one of
// subs (the file, the tensor or node, the rule).
func wantReject(t testing.TB, err error, subs ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted; want an error mentioning %q", subs)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *onnx.Error", err, err)
	}
	for _, s := range subs {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
}

func graphOf(m *pb.ModelProto, name string) *pb.GraphProto {
	var find func(g *pb.GraphProto) *pb.GraphProto
	find = func(g *pb.GraphProto) *pb.GraphProto {
		if g.GetName() == name {
			return g
		}
		for _, n := range g.Node {
			for _, a := range n.Attribute {
				if a.G != nil {
					if r := find(a.G); r != nil {
						return r
					}
				}
			}
		}
		return nil
	}
	return find(m.Graph)
}

func nodeOf(g *pb.GraphProto, name string) *pb.NodeProto {
	for _, n := range g.Node {
		if n.GetName() == name {
			return n
		}
	}
	return nil
}
