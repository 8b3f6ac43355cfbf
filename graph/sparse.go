package graph

import (
	"fmt"

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

// StoreSparse marks every float initializer that names[t] selects (nil:
// all) for sparse storage when values plus indices take fewer bytes than
// the dense tensor, and for dense storage otherwise. It returns the
// number of tensors stored sparse. Models older than IR version 6 have no
// sparse_initializer and are left dense.
func (m *Model) StoreSparse(selected func(t *Tensor) bool) int {
	if m.IRVersion < 6 {
		return 0
	}
	n := 0
	for _, t := range m.Graph.Initializers {
		if t.DType != tensor.Float || (selected != nil && !selected(t)) {
			t.Sparse = false
			continue
		}
		t.Sparse = SparseBytes(&t.Tensor) < t.Bytes()
		if t.Sparse {
			n++
		}
	}
	return n
}
