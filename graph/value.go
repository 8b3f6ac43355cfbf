package graph

import (
	"fmt"
	"strings"

	"github.com/podaml/poda/onnx/pb"
	"github.com/podaml/poda/tensor"
	"google.golang.org/protobuf/proto"
)

// Dim is one dimension of a shape: a size, a named symbol (such as
// "batch"), or unknown.
type Dim struct {
	Value int64  // the size, when Param is empty and Value >= 0
	Param string // a symbolic size
}

// Known reports whether d is a concrete size.
func (d Dim) Known() bool { return d.Param == "" && d.Value >= 0 }

// Unknown is a dimension about which nothing is known.
var Unknown = Dim{Value: -1}

// Sym returns a symbolic dimension.
func Sym(name string) Dim { return Dim{Value: -1, Param: name} }

// Size returns a concrete dimension.
func Size(n int64) Dim { return Dim{Value: n} }

func (d Dim) String() string {
	switch {
	case d.Param != "":
		return d.Param
	case d.Value < 0:
		return "?"
	}
	return fmt.Sprint(d.Value)
}

// Shape is a tensor shape. A nil Shape means the rank is unknown.
type Shape []Dim

// Known reports whether every dimension is concrete.
func (s Shape) Known() bool {
	if s == nil {
		return false
	}
	for _, d := range s {
		if !d.Known() {
			return false
		}
	}
	return true
}

// Ints returns the concrete sizes; ok is false if any is not known.
func (s Shape) Ints() (dims []int, ok bool) {
	if s == nil {
		return nil, false
	}
	dims = make([]int, len(s))
	for i, d := range s {
		if !d.Known() {
			return nil, false
		}
		dims[i] = int(d.Value)
	}
	return dims, true
}

func (s Shape) String() string {
	if s == nil {
		return "[?...]"
	}
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = d.String()
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// ShapeOf returns the concrete shape dims.
func ShapeOf(dims ...int) Shape {
	s := make(Shape, len(dims))
	for i, d := range dims {
		s[i] = Size(int64(d))
	}
	return s
}

// Value describes a named value: a graph input, output or intermediate.
type Value struct {
	Name  string
	DType tensor.DType
	Shape Shape
	// proto holds what Poda does not interpret (doc string, metadata, and
	// the whole type when it is not a tensor type).
	proto *pb.ValueInfoProto
}

// IsTensor reports whether the value is a tensor (not a sequence, map or
// optional).
func (v *Value) IsTensor() bool {
	return v.proto == nil || v.proto.GetType() == nil || v.proto.GetType().GetTensorType() != nil
}

func valueFromProto(vi *pb.ValueInfoProto) *Value {
	v := &Value{Name: vi.GetName(), proto: vi}
	if tt := vi.GetType().GetTensorType(); tt != nil {
		v.DType = tensor.DType(tt.GetElemType())
		if tt.Shape != nil {
			v.Shape = make(Shape, len(tt.Shape.Dim))
			for i, d := range tt.Shape.Dim {
				switch x := d.Value.(type) {
				case *pb.TensorShapeProto_Dimension_DimValue:
					v.Shape[i] = Size(x.DimValue)
				case *pb.TensorShapeProto_Dimension_DimParam:
					v.Shape[i] = Sym(x.DimParam)
				default:
					v.Shape[i] = Unknown
				}
			}
		}
	}
	return v
}

func (v *Value) toProto() *pb.ValueInfoProto {
	var out *pb.ValueInfoProto
	if v.proto != nil {
		out = proto.Clone(v.proto).(*pb.ValueInfoProto)
	} else {
		out = &pb.ValueInfoProto{}
	}
	out.Name = proto.String(v.Name)
	if !v.IsTensor() {
		return out
	}
	if out.Type == nil {
		out.Type = &pb.TypeProto{}
	}
	tt := out.Type.GetTensorType()
	if tt == nil {
		tt = &pb.TypeProto_Tensor{}
		out.Type.Value = &pb.TypeProto_TensorType{TensorType: tt}
	}
	if v.DType != tensor.Undefined {
		tt.ElemType = proto.Int32(int32(v.DType))
	}
	if v.Shape == nil {
		tt.Shape = nil
		return out
	}
	old := tt.GetShape().GetDim()
	dims := make([]*pb.TensorShapeProto_Dimension, len(v.Shape))
	for i, d := range v.Shape {
		pd := &pb.TensorShapeProto_Dimension{}
		if i < len(old) && len(old) == len(v.Shape) {
			pd.Denotation = old[i].Denotation
		}
		switch {
		case d.Param != "":
			pd.Value = &pb.TensorShapeProto_Dimension_DimParam{DimParam: d.Param}
		case d.Value >= 0:
			pd.Value = &pb.TensorShapeProto_Dimension_DimValue{DimValue: d.Value}
		}
		dims[i] = pd
	}
	tt.Shape = &pb.TensorShapeProto{Dim: dims}
	return out
}
