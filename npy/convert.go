package npy

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/podaml/poda/tensor"
)

// AsFloat32 converts a real numeric tensor (float16/32/64, signed or
// unsigned integers, bool) to a new float32 tensor; a float32 tensor is
// returned as is. Float64 values out of float32 range become ±Inf.
func AsFloat32(t *tensor.Tensor) (*tensor.Tensor, error) {
	if t == nil {
		return nil, fmt.Errorf("npy: nil tensor")
	}
	if t.DType == tensor.Float {
		return t, nil
	}
	n, err := check(t)
	if err != nil {
		return nil, fmt.Errorf("npy: %w", err)
	}
	out := &tensor.Tensor{DType: tensor.Float, Shape: append([]int(nil), t.Shape...), F32: make([]float32, n)}
	r := t.Raw
	le := binary.LittleEndian
	for i := range out.F32 {
		var v float32
		switch t.DType {
		case tensor.Double:
			v = float32(math.Float64frombits(le.Uint64(r[8*i:])))
		case tensor.Float16:
			v = tensor.Float16To32(le.Uint16(r[2*i:]))
		case tensor.Int64:
			v = float32(t.I64[i])
		case tensor.Int32:
			v = float32(int32(le.Uint32(r[4*i:])))
		case tensor.Int16:
			v = float32(int16(le.Uint16(r[2*i:])))
		case tensor.Int8:
			v = float32(int8(r[i]))
		case tensor.Uint64:
			v = float32(le.Uint64(r[8*i:]))
		case tensor.Uint32:
			v = float32(le.Uint32(r[4*i:]))
		case tensor.Uint16:
			v = float32(le.Uint16(r[2*i:]))
		case tensor.Uint8, tensor.Bool:
			v = float32(r[i])
		default:
			return nil, fmt.Errorf("npy: cannot convert %v to float32", t.DType)
		}
		out.F32[i] = v
	}
	return out, nil
}

// AsInt64 converts an integer or bool tensor to a new int64 tensor; an
// int64 tensor is returned as is. Uint64 values above MaxInt64 are an
// error, as are floating-point and complex tensors.
func AsInt64(t *tensor.Tensor) (*tensor.Tensor, error) {
	if t == nil {
		return nil, fmt.Errorf("npy: nil tensor")
	}
	if t.DType == tensor.Int64 {
		return t, nil
	}
	n, err := check(t)
	if err != nil {
		return nil, fmt.Errorf("npy: %w", err)
	}
	out := &tensor.Tensor{DType: tensor.Int64, Shape: append([]int(nil), t.Shape...), I64: make([]int64, n)}
	r := t.Raw
	le := binary.LittleEndian
	for i := range out.I64 {
		var v int64
		switch t.DType {
		case tensor.Int32:
			v = int64(int32(le.Uint32(r[4*i:])))
		case tensor.Int16:
			v = int64(int16(le.Uint16(r[2*i:])))
		case tensor.Int8:
			v = int64(int8(r[i]))
		case tensor.Uint64:
			u := le.Uint64(r[8*i:])
			if u > math.MaxInt64 {
				return nil, fmt.Errorf("npy: uint64 element %d (%d) overflows int64", i, u)
			}
			v = int64(u)
		case tensor.Uint32:
			v = int64(le.Uint32(r[4*i:]))
		case tensor.Uint16:
			v = int64(le.Uint16(r[2*i:]))
		case tensor.Uint8, tensor.Bool:
			v = int64(r[i])
		default:
			return nil, fmt.Errorf("npy: cannot convert %v to int64 (integer types only)", t.DType)
		}
		out.I64[i] = v
	}
	return out, nil
}
