package graph

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/podaml/poda/onnx"
	"github.com/podaml/poda/onnx/pb"
	"github.com/podaml/poda/tensor"
)

// densify turns a validated SparseTensorProto into a dense tensor.
func densify(sp *pb.SparseTensorProto) (*tensor.Tensor, error) {
	name := sp.GetValues().GetName()
	vals, err := onnx.ToTensor(sp.GetValues())
	if err != nil {
		return nil, err
	}
	idx, err := onnx.ToTensor(sp.GetIndices())
	if err != nil {
		return nil, fmt.Errorf("sparse tensor %q indices: %w", name, err)
	}
	if vals.DType != tensor.Float {
		return nil, fmt.Errorf("sparse tensor %q: only float32 sparse initializers are supported, got %s", name, vals.DType)
	}
	shape := make([]int, len(sp.Dims))
	for i, d := range sp.Dims {
		shape[i] = int(d)
	}
	out := tensor.New(shape...)
	strides := tensor.Strides(shape)
	nnz := len(vals.F32)
	coords := len(idx.Shape) == 2
	for k := 0; k < nnz; k++ {
		lin := 0
		if coords {
			for d := range shape {
				lin += int(idx.I64[k*len(shape)+d]) * strides[d]
			}
		} else {
			lin = int(idx.I64[k])
		}
		if lin < 0 || lin >= len(out.F32) {
			return nil, fmt.Errorf("sparse tensor %q: index %d out of range", name, lin)
		}
		out.F32[lin] = vals.F32[k]
	}
	return out, nil
}

// sparseProto stores a float tensor as values plus linear indices of its
// non-zero elements.
func sparseProto(t *Tensor) *pb.SparseTensorProto {
	var vals []float32
	var idx []int64
	for i, v := range t.F32 {
		if v != 0 {
			vals = append(vals, v)
			idx = append(idx, int64(i))
		}
	}
	dims := make([]int64, len(t.Shape))
	for i, d := range t.Shape {
		dims[i] = int64(d)
	}
	vp := onnx.FromTensor(t.Name, tensor.FromFloat32(vals, len(vals)))
	ip := onnx.FromTensor("", tensor.FromInt64(idx, len(idx)))
	ip.Name = nil
	return &pb.SparseTensorProto{Values: vp, Indices: ip, Dims: dims}
}

// SparseBytes is the size a float tensor takes stored sparse: 4 bytes per
// non-zero value plus 8 per int64 index.
func SparseBytes(t *tensor.Tensor) int64 {
	nnz := 0
	for _, v := range t.F32 {
		if v != 0 {
			nnz++
		}
	}
	return int64(nnz) * 12
}

// StoreSparse marks every float initializer that selected picks (nil: all)
// for sparse storage (a Constant node with sparse_value) when values plus
// indices take fewer bytes than the dense tensor, and for dense storage
// otherwise. It returns the number of tensors stored sparse. Models older
// than IR version 6 have no sparse tensors and are left dense.
func (m *Model) StoreSparse(selected func(t *Tensor) bool) int {
	if m.IRVersion < 6 {
		return 0
	}
	n := 0
	for _, t := range m.Graph.Initializers {
		if t.DType != tensor.Float || (selected != nil && !selected(t)) {
			t.Storage = Dense
			continue
		}
		t.Storage = Dense
		if SparseBytes(&t.Tensor) < t.Bytes() {
			t.Storage = SparseConstant
			n++
		}
	}
	return n
}

// sparseConstant is a Constant node that outputs the dense tensor name from
// its sparse_value.
func sparseConstant(name string, sp *pb.SparseTensorProto) *pb.NodeProto {
	sp.Values.Name = proto.String(name)
	return &pb.NodeProto{
		Output: []string{name},
		Name:   proto.String(name + "_sparse"),
		OpType: proto.String("Constant"),
		Attribute: []*pb.AttributeProto{{
			Name:         proto.String("sparse_value"),
			Type:         pb.AttributeProto_SPARSE_TENSOR.Enum(),
			SparseTensor: sp,
		}},
	}
}

// absorbSparseConstants turns Constant nodes with a float sparse_value
// into initializers stored as SparseConstant, so that pruning, inspection
// and the runtime see them as the weights they are.
func (g *Graph) absorbSparseConstants() error {
	var keep []*Node
	for _, n := range g.Nodes {
		a := n.Attr("sparse_value")
		if n.OpType != "Constant" || (n.Domain != "" && n.Domain != "ai.onnx") || a == nil || a.SparseTensor == nil ||
			len(n.Attrs) != 1 || len(n.Outputs) != 1 || a.SparseTensor.GetValues().GetDataType() != int32(tensor.Float) {
			keep = append(keep, n)
			continue
		}
		t, err := densify(a.SparseTensor)
		if err != nil {
			return fmt.Errorf("%s: %w", n, err)
		}
		g.Initializers = append(g.Initializers, &Tensor{Name: n.Outputs[0], Tensor: *t, Storage: SparseConstant})
	}
	g.Nodes = keep
	g.Invalidate()
	return nil
}
