package runtime

import (
	"fmt"
	"math"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/runtime/kernels"
	"github.com/podaml/poda/tensor"
)

// Elementwise unary ops: math functions and activations. Float ops work on
// float32 and float64 (float64 through the same float64 formula); Abs, Neg
// and Sign also take integers; Not takes bools.

type unaryOp struct {
	name string
	f    func(x float64) float64  // generic formula
	f32  func(dst, src []float32) // optional float32 fast path
	ints bool                     // also defined on integers (Abs, Neg, Sign)
}

func init() {
	simple := map[string]func(float64) float64{
		"Sqrt": math.Sqrt, "Exp": math.Exp, "Log": math.Log, "Erf": math.Erf,
		"Floor": math.Floor, "Ceil": math.Ceil, "Round": math.RoundToEven,
		"Sin": math.Sin, "Cos": math.Cos, "Tan": math.Tan, "Asin": math.Asin,
		"Acos": math.Acos, "Atan": math.Atan, "Sinh": math.Sinh, "Cosh": math.Cosh,
		"Asinh": math.Asinh, "Acosh": math.Acosh, "Atanh": math.Atanh, "Tanh": math.Tanh,
		"Reciprocal": func(x float64) float64 { return 1 / x },
		"Sigmoid":    sigmoid,
		"Softplus":   func(x float64) float64 { return math.Log1p(math.Exp(x)) },
		"Softsign":   func(x float64) float64 { return x / (1 + math.Abs(x)) },
		"HardSwish":  func(x float64) float64 { return x * math.Max(0, math.Min(1, x/6+0.5)) },
	}
	since := map[string]int64{"Erf": 9, "Sin": 7, "Cos": 7, "Tan": 7, "Asin": 7, "Acos": 7, "Atan": 7,
		"Sinh": 9, "Cosh": 9, "Asinh": 9, "Acosh": 9, "Atanh": 9, "Round": 11, "HardSwish": 14, "Softplus": 1, "Softsign": 1}
	for name, f := range simple {
		s := since[name]
		if s == 0 {
			s = 6
		}
		register("", name, s, 99, unary(name, f, nil, false))
	}
	register("", "Relu", 6, 99, unary("Relu", func(x float64) float64 { return math.Max(x, 0) }, kernels.Relu, true))
	register("", "Abs", 6, 99, unary("Abs", math.Abs, nil, true))
	register("", "Neg", 6, 99, unary("Neg", func(x float64) float64 { return -x }, nil, true))
	register("", "Sign", 9, 99, unary("Sign", sign, nil, true))
	register("", "IsNaN", 9, 99, func(n *graph.Node, opset int64) (op, error) { return &isOp{nan: true}, nil })
	register("", "IsInf", 10, 99, func(n *graph.Node, opset int64) (op, error) {
		return &isOp{pos: n.Int("detect_positive", 1) != 0, neg: n.Int("detect_negative", 1) != 0}, nil
	})
	register("", "Not", 1, 99, func(n *graph.Node, opset int64) (op, error) { return notOp{}, nil })

	register("", "LeakyRelu", 6, 99, func(n *graph.Node, opset int64) (op, error) {
		a := n.Float("alpha", 0.01)
		return &unaryOp{name: "LeakyRelu", f: func(x float64) float64 {
			if x < 0 {
				return float64(a) * x
			}
			return x
		}, f32: func(d, s []float32) { kernels.LeakyRelu(d, s, a) }}, nil
	})
	register("", "Elu", 6, 99, func(n *graph.Node, opset int64) (op, error) {
		a := float64(n.Float("alpha", 1))
		return &unaryOp{name: "Elu", f: func(x float64) float64 {
			if x < 0 {
				return a * (math.Exp(x) - 1)
			}
			return x
		}}, nil
	})
	register("", "Celu", 12, 99, func(n *graph.Node, opset int64) (op, error) {
		a := float64(n.Float("alpha", 1))
		return &unaryOp{name: "Celu", f: func(x float64) float64 {
			return math.Max(0, x) + math.Min(0, a*(math.Exp(x/a)-1))
		}}, nil
	})
	register("", "Selu", 6, 99, func(n *graph.Node, opset int64) (op, error) {
		a := float64(n.Float("alpha", 1.67326319217681884765625))
		g := float64(n.Float("gamma", 1.05070102214813232421875))
		return &unaryOp{name: "Selu", f: func(x float64) float64 {
			if x <= 0 {
				return g * (a*math.Exp(x) - a)
			}
			return g * x
		}}, nil
	})
	register("", "ThresholdedRelu", 10, 99, func(n *graph.Node, opset int64) (op, error) {
		a := float64(n.Float("alpha", 1))
		return &unaryOp{name: "ThresholdedRelu", f: func(x float64) float64 {
			if x > a {
				return x
			}
			return 0
		}}, nil
	})
	register("", "HardSigmoid", 6, 99, func(n *graph.Node, opset int64) (op, error) {
		a, b := float64(n.Float("alpha", 0.2)), float64(n.Float("beta", 0.5))
		return &unaryOp{name: "HardSigmoid", f: func(x float64) float64 { return math.Max(0, math.Min(1, a*x+b)) }}, nil
	})
	register("", "Shrink", 9, 99, func(n *graph.Node, opset int64) (op, error) {
		l, b := float64(n.Float("lambd", 0.5)), float64(n.Float("bias", 0))
		return &unaryOp{name: "Shrink", f: func(x float64) float64 {
			switch {
			case x < -l:
				return x + b
			case x > l:
				return x - b
			}
			return 0
		}}, nil
	})
	register("", "Gelu", 20, 99, func(n *graph.Node, opset int64) (op, error) {
		switch ap := n.Str("approximate", "none"); ap {
		case "none":
			return &unaryOp{name: "Gelu", f: func(x float64) float64 { return 0.5 * x * (1 + math.Erf(x/math.Sqrt2)) }}, nil
		case "tanh":
			return &unaryOp{name: "Gelu", f: func(x float64) float64 {
				return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
			}}, nil
		default:
			return nil, fmt.Errorf("Gelu approximate=%q", ap)
		}
	})
}

func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

func sign(x float64) float64 {
	switch {
	case x > 0:
		return 1
	case x < 0:
		return -1
	}
	return x
}

func unary(name string, f func(float64) float64, f32 func(d, s []float32), ints bool) builder {
	return func(n *graph.Node, opset int64) (op, error) {
		return &unaryOp{name: name, f: f, f32: f32, ints: ints}, nil
	}
}

func (o *unaryOp) prepare(c *pctx) (runFunc, error) {
	x := c.input(0)
	c.set(0, x.dtype, x.shape)
	n := x.numel()
	f := o.f
	switch x.dtype {
	case tensor.Float:
		if o.f32 != nil {
			f32 := o.f32
			return func(e *env, in, out []*tensor.Tensor) error {
				forRange(e, n, n, unaryJob{f32: f32, dst: out[0].F32, src: in[0].F32})
				return nil
			}, nil
		}
		return func(e *env, in, out []*tensor.Tensor) error {
			forRange(e, n, 16*n, unaryJob{f: f, dst: out[0].F32, src: in[0].F32})
			return nil
		}, nil
	case tensor.Double:
		return func(e *env, in, out []*tensor.Tensor) error {
			src, dst := view[float64](in[0]), view[float64](out[0])
			for i, v := range src {
				dst[i] = f(v)
			}
			return nil
		}, nil
	case tensor.Float16:
		return func(e *env, in, out []*tensor.Tensor) error {
			src, dst := view[uint16](in[0]), view[uint16](out[0])
			for i, v := range src {
				dst[i] = tensor.Float32To16(float32(f(float64(tensor.Float16To32(v)))))
			}
			return nil
		}, nil
	}
	if !o.ints {
		return nil, errDType(c, x.dtype)
	}
	switch x.dtype {
	case tensor.Int64:
		return intUnary[int64](f), nil
	case tensor.Int32:
		return intUnary[int32](f), nil
	case tensor.Int16:
		return intUnary[int16](f), nil
	case tensor.Int8:
		return intUnary[int8](f), nil
	case tensor.Uint8:
		return intUnary[uint8](f), nil
	case tensor.Uint16:
		return intUnary[uint16](f), nil
	case tensor.Uint32:
		return intUnary[uint32](f), nil
	case tensor.Uint64:
		return intUnary[uint64](f), nil
	}
	return nil, errDType(c, x.dtype)
}

type unaryJob struct {
	f        func(float64) float64
	f32      func(dst, src []float32)
	dst, src []float32
}

func (j unaryJob) chunk(_, lo, hi int) {
	if j.f32 != nil {
		j.f32(j.dst[lo:hi], j.src[lo:hi])
		return
	}
	dst, src := j.dst[lo:hi], j.src[lo:hi]
	for i, v := range src {
		dst[i] = float32(j.f(float64(v)))
	}
}

// intUnary applies f through float64 on integers (exact for Abs, Neg, Sign
// and Relu, the ones registered for integers, except at int64 extremes).
func intUnary[T number](f func(float64) float64) runFunc {
	return func(e *env, in, out []*tensor.Tensor) error {
		src, dst := view[T](in[0]), view[T](out[0])
		for i, v := range src {
			dst[i] = T(f(float64(v)))
		}
		return nil
	}
}

type isOp struct{ nan, pos, neg bool }

func (o *isOp) prepare(c *pctx) (runFunc, error) {
	x := c.input(0)
	if !x.dtype.IsFloat() {
		return nil, errDType(c, x.dtype)
	}
	c.set(0, tensor.Bool, x.shape)
	dt := x.dtype
	return func(e *env, in, out []*tensor.Tensor) error {
		d := out[0].Raw
		for i := range d {
			v := getF64(in[0], dt, i)
			if o.nan {
				d[i] = b2u(v != v)
			} else {
				d[i] = b2u((o.pos && math.IsInf(v, 1)) || (o.neg && math.IsInf(v, -1)))
			}
		}
		return nil
	}, nil
}

type notOp struct{}

func (notOp) prepare(c *pctx) (runFunc, error) {
	x := c.input(0)
	if x.dtype != tensor.Bool {
		return nil, errDType(c, x.dtype)
	}
	c.set(0, tensor.Bool, x.shape)
	return func(e *env, in, out []*tensor.Tensor) error {
		for i, v := range in[0].Raw {
			out[0].Raw[i] = v ^ 1
		}
		return nil
	}, nil
}

// clipOp is Clip: bounds are attributes before opset 11, optional inputs
// from 11 on.
type clipOp struct {
	attrs    bool
	min, max float32
}

func init() {
	register("", "Clip", 6, 10, func(n *graph.Node, opset int64) (op, error) {
		return &clipOp{attrs: true, min: n.Float("min", -math.MaxFloat32), max: n.Float("max", math.MaxFloat32)}, nil
	})
	register("", "Clip", 11, 99, func(n *graph.Node, opset int64) (op, error) { return &clipOp{}, nil })
}

func (o *clipOp) prepare(c *pctx) (runFunc, error) {
	x := c.input(0)
	c.set(0, x.dtype, x.shape)
	if o.attrs {
		if x.dtype != tensor.Float {
			return nil, errDType(c, x.dtype)
		}
		lo, hi := o.min, o.max
		return func(e *env, in, out []*tensor.Tensor) error {
			kernels.Clip(out[0].F32, in[0].F32, lo, hi)
			return nil
		}, nil
	}
	switch x.dtype {
	case tensor.Float:
		return clipRun[float32](-math.MaxFloat32, math.MaxFloat32), nil
	case tensor.Double:
		return clipRun[float64](-math.MaxFloat64, math.MaxFloat64), nil
	case tensor.Int64:
		return clipRun[int64](math.MinInt64, math.MaxInt64), nil
	case tensor.Int32:
		return clipRun[int32](math.MinInt32, math.MaxInt32), nil
	case tensor.Int8:
		return clipRun[int8](math.MinInt8, math.MaxInt8), nil
	case tensor.Uint8:
		return clipRun[uint8](0, math.MaxUint8), nil
	}
	return nil, errDType(c, x.dtype)
}

func clipRun[T number](lo0, hi0 T) runFunc {
	return func(e *env, in, out []*tensor.Tensor) error {
		lo, hi := lo0, hi0
		if len(in) > 1 && in[1] != nil {
			lo = view[T](in[1])[0]
		}
		if len(in) > 2 && in[2] != nil {
			hi = view[T](in[2])[0]
		}
		if f, ok := any(view[T](out[0])).([]float32); ok {
			kernels.Clip(f, in[0].F32, float32(lo), float32(hi))
			return nil
		}
		src, dst := view[T](in[0]), view[T](out[0])
		for i, v := range src {
			if v < lo {
				v = lo
			}
			if v > hi {
				v = hi
			}
			dst[i] = v
		}
		return nil
	}
}
