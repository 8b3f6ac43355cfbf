package runtime

import (
	"math"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/tensor"
)

// Cast and CastLike convert between float32, float64, float16, bfloat16,
// the integer types and bool. Float→int conversion truncates toward zero,
// as C and numpy's astype do; float→bool is x != 0.

type castOp struct {
	to   tensor.DType
	like bool
}

func init() {
	register("", "Cast", 6, 99, func(n *graph.Node, opset int64) (op, error) {
		return &castOp{to: tensor.DType(n.Int("to", 0))}, nil
	})
	register("", "CastLike", 15, 99, func(n *graph.Node, opset int64) (op, error) {
		return &castOp{like: true}, nil
	})
}

func castable(dt tensor.DType) bool {
	switch dt {
	case tensor.Float, tensor.Double, tensor.Float16, tensor.BFloat16, tensor.Bool,
		tensor.Int8, tensor.Uint8, tensor.Int16, tensor.Uint16, tensor.Int32, tensor.Uint32, tensor.Int64, tensor.Uint64:
		return true
	}
	return false
}

func (o *castOp) prepare(c *pctx) (runFunc, error) {
	x := c.input(0)
	to := o.to
	if o.like {
		to = c.input(1).dtype
	}
	if !castable(x.dtype) {
		return nil, errDType(c, x.dtype)
	}
	if !castable(to) {
		return nil, errDType(c, to)
	}
	c.set(0, to, x.shape)
	if x.dtype == to {
		c.alias = true
	}
	from := x.dtype
	return func(e *env, in, out []*tensor.Tensor) error {
		castTensor(out[0], in[0], from, to)
		return nil
	}, nil
}

// castTensor converts src (of type from) into dst (of type to).
func castTensor(dst, src *tensor.Tensor, from, to tensor.DType) {
	if from == to {
		copy(bytesOf(dst), bytesOf(src))
		return
	}
	// Go through float64 for floats, int64/uint64 for integers.
	switch {
	case to == tensor.Bool:
		d := dst.Raw
		if from.IsFloat() {
			for i := range d {
				d[i] = b2u(getF64(src, from, i) != 0)
			}
		} else {
			for i := range d {
				d[i] = b2u(getI64(src, from, i) != 0)
			}
		}
	case to.IsFloat():
		n := len(bytesOf(dst)) / to.Size()
		if from.IsFloat() {
			for i := 0; i < n; i++ {
				setF64(dst, to, i, getF64(src, from, i))
			}
		} else if from == tensor.Uint64 {
			for i := 0; i < n; i++ {
				setF64(dst, to, i, float64(view[uint64](src)[i]))
			}
		} else {
			for i := 0; i < n; i++ {
				setF64(dst, to, i, float64(getI64(src, from, i)))
			}
		}
	default: // integer target
		n := len(bytesOf(dst)) / to.Size()
		if from.IsFloat() {
			for i := 0; i < n; i++ {
				f := getF64(src, from, i)
				var v int64
				switch {
				case f != f:
					v = math.MinInt64
				case to == tensor.Uint64 || to == tensor.Uint32:
					v = int64(uint64(f))
				default:
					v = int64(f)
				}
				setI64(dst, to, i, v)
			}
		} else {
			for i := 0; i < n; i++ {
				setI64(dst, to, i, getI64(src, from, i))
			}
		}
	}
}

func getF64(t *tensor.Tensor, dt tensor.DType, i int) float64 {
	switch dt {
	case tensor.Float:
		return float64(t.F32[i])
	case tensor.Double:
		return view[float64](t)[i]
	case tensor.Float16:
		return float64(tensor.Float16To32(view[uint16](t)[i]))
	case tensor.BFloat16:
		return float64(math.Float32frombits(uint32(view[uint16](t)[i]) << 16))
	}
	return 0
}

func setF64(t *tensor.Tensor, dt tensor.DType, i int, v float64) {
	switch dt {
	case tensor.Float:
		t.F32[i] = float32(v)
	case tensor.Double:
		view[float64](t)[i] = v
	case tensor.Float16:
		view[uint16](t)[i] = tensor.Float32To16(float32(v))
	case tensor.BFloat16:
		view[uint16](t)[i] = f32tobf16(float32(v))
	}
}

func getI64(t *tensor.Tensor, dt tensor.DType, i int) int64 {
	switch dt {
	case tensor.Int64:
		return t.I64[i]
	case tensor.Int32:
		return int64(view[int32](t)[i])
	case tensor.Int16:
		return int64(view[int16](t)[i])
	case tensor.Int8:
		return int64(view[int8](t)[i])
	case tensor.Uint8, tensor.Bool:
		return int64(t.Raw[i])
	case tensor.Uint16:
		return int64(view[uint16](t)[i])
	case tensor.Uint32:
		return int64(view[uint32](t)[i])
	case tensor.Uint64:
		return int64(view[uint64](t)[i])
	}
	return 0
}

func setI64(t *tensor.Tensor, dt tensor.DType, i int, v int64) {
	switch dt {
	case tensor.Int64:
		t.I64[i] = v
	case tensor.Int32:
		view[int32](t)[i] = int32(v)
	case tensor.Int16:
		view[int16](t)[i] = int16(v)
	case tensor.Int8:
		view[int8](t)[i] = int8(v)
	case tensor.Uint8:
		t.Raw[i] = uint8(v)
	case tensor.Uint16:
		view[uint16](t)[i] = uint16(v)
	case tensor.Uint32:
		view[uint32](t)[i] = uint32(v)
	case tensor.Uint64:
		view[uint64](t)[i] = uint64(v)
	}
}

// f32tobf16 converts float32 to bfloat16, rounding to nearest even.
func f32tobf16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x40
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}
