package graph

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/podaml/poda/onnx"
	"github.com/podaml/poda/onnx/pb"
	"google.golang.org/protobuf/proto"
)

func f32raw(vals ...float32) []byte {
	b := make([]byte, 4*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

func floatInit(name string, dims []int64, vals ...float32) *pb.TensorProto {
	return &pb.TensorProto{Name: proto.String(name), DataType: proto.Int32(1), Dims: dims, RawData: f32raw(vals...)}
}

func valueInfo(name string, elem int32, dims ...any) *pb.ValueInfoProto {
	shape := &pb.TensorShapeProto{}
	for _, d := range dims {
		dim := &pb.TensorShapeProto_Dimension{}
		switch d := d.(type) {
		case int:
			dim.Value = &pb.TensorShapeProto_Dimension_DimValue{DimValue: int64(d)}
		case string:
			dim.Value = &pb.TensorShapeProto_Dimension_DimParam{DimParam: d}
		}
		shape.Dim = append(shape.Dim, dim)
	}
	return &pb.ValueInfoProto{Name: proto.String(name), Type: &pb.TypeProto{Value: &pb.TypeProto_TensorType{
		TensorType: &pb.TypeProto_Tensor{ElemType: proto.Int32(elem), Shape: shape}}}}
}

func mkNode(name, op string, in, out []string, attrs ...*pb.AttributeProto) *pb.NodeProto {
	return &pb.NodeProto{Name: proto.String(name), OpType: proto.String(op), Input: in, Output: out, Attribute: attrs}
}

func kv(k, v string) *pb.StringStringEntryProto {
	return &pb.StringStringEntryProto{Key: proto.String(k), Value: proto.String(v)}
}

// gemmProto is Y = Gemm(X, W, B, transB=1), IR 8, opset 17.
func gemmProto() *pb.ModelProto {
	return &pb.ModelProto{
		IrVersion:   proto.Int64(8),
		OpsetImport: []*pb.OperatorSetIdProto{{Domain: proto.String(""), Version: proto.Int64(17)}},
		Graph: &pb.GraphProto{
			Name:   proto.String("main"),
			Input:  []*pb.ValueInfoProto{valueInfo("X", 1, "batch", 2)},
			Output: []*pb.ValueInfoProto{valueInfo("Y", 1, "batch", 3)},
			Initializer: []*pb.TensorProto{
				floatInit("W", []int64{3, 2}, 1, 2, 3, 4, 5, 6),
				floatInit("B", []int64{3}, 0.5, -0.5, 0),
			},
			Node: []*pb.NodeProto{mkNode("gemm", "Gemm", []string{"X", "W", "B"}, []string{"Y"},
				&pb.AttributeProto{Name: proto.String("transB"), Type: pb.AttributeProto_INT.Enum(), I: proto.Int64(1)})},
		},
	}
}

func writeProto(t testing.TB, dir, name string, m *pb.ModelProto) string {
	t.Helper()
	b, err := onnx.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
