package onnx

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/podaml/poda/onnx/pb"
	"github.com/podaml/poda/tensor"
	"google.golang.org/protobuf/proto"
)

// ToTensor converts a validated TensorProto with inline data into a dense
// tensor. Float and Int64 tensors land in F32 and I64; every other numeric
// type lands in Raw as little-endian bytes, as raw_data holds them.
func ToTensor(t *pb.TensorProto) (*tensor.Tensor, error) {
	dt := tensor.DType(t.GetDataType())
	if !dt.Valid() {
		return nil, fmt.Errorf("tensor %q: data_type %d is undefined or unknown", t.GetName(), t.GetDataType())
	}
	if t.GetDataLocation() == pb.TensorProto_EXTERNAL {
		return nil, fmt.Errorf("tensor %q: external data was not loaded", t.GetName())
	}
	numel, err := tensor.Numel(t.Dims)
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", t.GetName(), err)
	}
	shape := make([]int, len(t.Dims))
	for i, d := range t.Dims {
		shape[i] = int(d)
	}
	out := &tensor.Tensor{DType: dt, Shape: shape}
	n := int(numel)
	size := n * dt.Size()
	if t.RawData != nil {
		if dt == tensor.String || len(t.RawData) != size {
			return nil, fmt.Errorf("tensor %q: raw_data has %d bytes, want %d", t.GetName(), len(t.RawData), size)
		}
	}
	switch dt {
	case tensor.Float:
		out.F32 = make([]float32, n)
		if t.RawData != nil {
			for i := range out.F32 {
				out.F32[i] = math.Float32frombits(binary.LittleEndian.Uint32(t.RawData[4*i:]))
			}
		} else if len(t.FloatData) == n {
			copy(out.F32, t.FloatData)
		} else {
			return nil, fmt.Errorf("tensor %q: float_data has %d values, want %d", t.GetName(), len(t.FloatData), n)
		}
	case tensor.Int64:
		out.I64 = make([]int64, n)
		if t.RawData != nil {
			for i := range out.I64 {
				out.I64[i] = int64(binary.LittleEndian.Uint64(t.RawData[8*i:]))
			}
		} else if len(t.Int64Data) == n {
			copy(out.I64, t.Int64Data)
		} else {
			return nil, fmt.Errorf("tensor %q: int64_data has %d values, want %d", t.GetName(), len(t.Int64Data), n)
		}
	case tensor.String:
		if len(t.StringData) != n {
			return nil, fmt.Errorf("tensor %q: string_data has %d values, want %d", t.GetName(), len(t.StringData), n)
		}
		out.Str = make([][]byte, n)
		for i, s := range t.StringData {
			out.Str[i] = append([]byte(nil), s...)
		}
	default:
		raw, err := typedToRaw(t, dt, n)
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", t.GetName(), err)
		}
		out.Raw = raw
	}
	return out, nil
}

// typedToRaw turns the typed fields of a non-float, non-int64 tensor into
// little-endian raw bytes.
func typedToRaw(t *pb.TensorProto, dt tensor.DType, n int) ([]byte, error) {
	size := dt.Size()
	if t.RawData != nil {
		return append([]byte(nil), t.RawData...), nil
	}
	raw := make([]byte, n*size)
	switch dt {
	case tensor.Int32, tensor.Int16, tensor.Int8, tensor.Uint16, tensor.Uint8, tensor.Bool, tensor.Float16, tensor.BFloat16:
		if len(t.Int32Data) != n {
			return nil, fmt.Errorf("int32_data has %d values, want %d", len(t.Int32Data), n)
		}
		for i, v := range t.Int32Data {
			switch size {
			case 1:
				raw[i] = byte(v)
			case 2:
				binary.LittleEndian.PutUint16(raw[2*i:], uint16(v))
			case 4:
				binary.LittleEndian.PutUint32(raw[4*i:], uint32(v))
			}
		}
	case tensor.Double, tensor.Complex128:
		vals := t.DoubleData
		if len(vals)*8 != len(raw) {
			return nil, fmt.Errorf("double_data has %d values for %d elements", len(vals), n)
		}
		for i, v := range vals {
			binary.LittleEndian.PutUint64(raw[8*i:], math.Float64bits(v))
		}
	case tensor.Complex64:
		if len(t.FloatData)*4 != len(raw) {
			return nil, fmt.Errorf("float_data has %d values for %d elements", len(t.FloatData), n)
		}
		for i, v := range t.FloatData {
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
		}
	case tensor.Uint32, tensor.Uint64:
		if len(t.Uint64Data) != n {
			return nil, fmt.Errorf("uint64_data has %d values, want %d", len(t.Uint64Data), n)
		}
		for i, v := range t.Uint64Data {
			if size == 4 {
				binary.LittleEndian.PutUint32(raw[4*i:], uint32(v))
			} else {
				binary.LittleEndian.PutUint64(raw[8*i:], v)
			}
		}
	default:
		return nil, fmt.Errorf("cannot decode %s values", dt)
	}
	return raw, nil
}

// FromTensor converts a dense tensor into a TensorProto named name, with
// its elements in raw_data (strings in string_data).
func FromTensor(name string, t *tensor.Tensor) *pb.TensorProto {
	p := &pb.TensorProto{Name: proto.String(name), DataType: proto.Int32(int32(t.DType))}
	p.Dims = make([]int64, len(t.Shape))
	for i, d := range t.Shape {
		p.Dims[i] = int64(d)
	}
	switch t.DType {
	case tensor.Float:
		raw := make([]byte, 4*len(t.F32))
		for i, v := range t.F32 {
			binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
		}
		p.RawData = raw
	case tensor.Int64:
		raw := make([]byte, 8*len(t.I64))
		for i, v := range t.I64 {
			binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
		}
		p.RawData = raw
	case tensor.String:
		p.StringData = make([][]byte, len(t.Str))
		for i, s := range t.Str {
			p.StringData[i] = append([]byte(nil), s...)
		}
	default:
		p.RawData = append([]byte{}, t.Raw...)
	}
	return p
}
