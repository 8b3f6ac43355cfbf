// Package tensor owns Poda's dense in-memory tensor: an element type that
// mirrors ONNX's TensorProto.DataType, a shape, and the elements.
//
// It sits at the bottom of Poda's data flow: the ONNX reader, the graph IR,
// the data loaders, the runtime and the trainer all exchange *tensor.Tensor.
package tensor

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
)

// DType is an element type, numbered as ONNX's TensorProto.DataType.
type DType int32

// The ONNX element types.
const (
	Undefined  DType = 0
	Float      DType = 1
	Uint8      DType = 2
	Int8       DType = 3
	Uint16     DType = 4
	Int16      DType = 5
	Int32      DType = 6
	Int64      DType = 7
	String     DType = 8
	Bool       DType = 9
	Float16    DType = 10
	Double     DType = 11
	Uint32     DType = 12
	Uint64     DType = 13
	Complex64  DType = 14
	Complex128 DType = 15
	BFloat16   DType = 16
)

var dtypeNames = map[DType]string{
	Undefined: "undefined", Float: "float32", Uint8: "uint8", Int8: "int8",
	Uint16: "uint16", Int16: "int16", Int32: "int32", Int64: "int64",
	String: "string", Bool: "bool", Float16: "float16", Double: "float64",
	Uint32: "uint32", Uint64: "uint64", Complex64: "complex64",
	Complex128: "complex128", BFloat16: "bfloat16",
}

func (d DType) String() string {
	if s, ok := dtypeNames[d]; ok {
		return s
	}
	return fmt.Sprintf("dtype(%d)", int32(d))
}

// Size is the size of one element in bytes, or 0 for String, Undefined and
// unknown types.
func (d DType) Size() int {
	switch d {
	case Uint8, Int8, Bool:
		return 1
	case Uint16, Int16, Float16, BFloat16:
		return 2
	case Float, Int32, Uint32:
		return 4
	case Int64, Double, Uint64, Complex64:
		return 8
	case Complex128:
		return 16
	}
	return 0
}

// Valid reports whether d is a known, defined element type.
func (d DType) Valid() bool { return d != Undefined && dtypeNames[d] != "" }

// IsFloat reports whether d is a floating-point type.
func (d DType) IsFloat() bool {
	return d == Float || d == Double || d == Float16 || d == BFloat16
}

// Tensor is a dense, row-major tensor. Exactly one of the element slices is
// used, chosen by DType: F32 for Float, I64 for Int64, Str for String, and
// Raw (little-endian bytes, as in ONNX raw_data) for every other type.
type Tensor struct {
	DType DType
	Shape []int
	F32   []float32
	I64   []int64
	Raw   []byte
	Str   [][]byte
}

// ErrOverflow reports a shape whose element count or byte size does not fit
// in an int64.
var ErrOverflow = errors.New("element count overflows int64")

// Numel returns the product of dims with overflow and sign checks. It is the
// one place where untrusted shapes become sizes: check its result against a
// budget before allocating.
func Numel(dims []int64) (int64, error) {
	n := int64(1)
	for i, d := range dims {
		if d < 0 {
			return 0, fmt.Errorf("dim %d is negative (%d)", i, d)
		}
		hi, lo := bits.Mul64(uint64(n), uint64(d))
		if hi != 0 || lo > math.MaxInt64 {
			return 0, ErrOverflow
		}
		n = int64(lo)
	}
	return n, nil
}

// ByteSize returns numel*elemSize with overflow checks.
func ByteSize(numel int64, d DType) (int64, error) {
	s := int64(d.Size())
	if numel < 0 {
		return 0, fmt.Errorf("negative element count %d", numel)
	}
	if s != 0 && numel > math.MaxInt64/s {
		return 0, ErrOverflow
	}
	return numel * s, nil
}

// New returns a zeroed float32 tensor of the given shape.
func New(shape ...int) *Tensor {
	return &Tensor{DType: Float, Shape: append([]int(nil), shape...), F32: make([]float32, Prod(shape))}
}

// NewInt64 returns a zeroed int64 tensor of the given shape.
func NewInt64(shape ...int) *Tensor {
	return &Tensor{DType: Int64, Shape: append([]int(nil), shape...), I64: make([]int64, Prod(shape))}
}

// FromFloat32 wraps data (not copied) as a float32 tensor of the given shape.
func FromFloat32(data []float32, shape ...int) *Tensor {
	if Prod(shape) != len(data) {
		panic(fmt.Sprintf("tensor.FromFloat32: %d elements for shape %v", len(data), shape))
	}
	return &Tensor{DType: Float, Shape: append([]int(nil), shape...), F32: data}
}

// FromInt64 wraps data (not copied) as an int64 tensor of the given shape.
func FromInt64(data []int64, shape ...int) *Tensor {
	if Prod(shape) != len(data) {
		panic(fmt.Sprintf("tensor.FromInt64: %d elements for shape %v", len(data), shape))
	}
	return &Tensor{DType: Int64, Shape: append([]int(nil), shape...), I64: data}
}

// Prod is the product of trusted dims (shapes already validated).
func Prod(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// Numel is the number of elements of t.
func (t *Tensor) Numel() int { return Prod(t.Shape) }

// Rank is the number of dimensions of t.
func (t *Tensor) Rank() int { return len(t.Shape) }

// Bytes is the size of t's elements in bytes (strings: their total length).
func (t *Tensor) Bytes() int64 {
	if t.DType == String {
		var n int64
		for _, s := range t.Str {
			n += int64(len(s))
		}
		return n
	}
	return int64(t.Numel()) * int64(t.DType.Size())
}

// Clone returns a deep copy of t.
func (t *Tensor) Clone() *Tensor {
	c := &Tensor{DType: t.DType, Shape: append([]int(nil), t.Shape...)}
	if t.F32 != nil {
		c.F32 = append([]float32(nil), t.F32...)
	}
	if t.I64 != nil {
		c.I64 = append([]int64(nil), t.I64...)
	}
	if t.Raw != nil {
		c.Raw = append([]byte(nil), t.Raw...)
	}
	if t.Str != nil {
		c.Str = make([][]byte, len(t.Str))
		for i, s := range t.Str {
			c.Str[i] = append([]byte(nil), s...)
		}
	}
	return c
}

// Strides returns the row-major strides of shape.
func Strides(shape []int) []int {
	s := make([]int, len(shape))
	n := 1
	for i := len(shape) - 1; i >= 0; i-- {
		s[i] = n
		n *= shape[i]
	}
	return s
}

// ZeroFraction is the fraction of float32 elements that are exactly zero.
func (t *Tensor) ZeroFraction() float64 {
	if len(t.F32) == 0 {
		return 0
	}
	z := 0
	for _, v := range t.F32 {
		if v == 0 {
			z++
		}
	}
	return float64(z) / float64(len(t.F32))
}
