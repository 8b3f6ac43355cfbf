package train

import (
	"fmt"
	"math"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/runtime/kernels"
)

func init() {
	for _, name := range []string{"Relu", "LeakyRelu", "Sigmoid", "Tanh", "Gelu", "Erf", "Exp", "Neg", "Sqrt", "Identity", "Clip"} {
		register(name, newUnary)
	}
	for _, name := range []string{"Add", "Sub", "Mul", "Div", "Pow"} {
		register(name, newBinary)
	}
}

// unaryOp is an elementwise function of one input.
type unaryOp struct {
	kind     string
	alpha    float32 // LeakyRelu slope
	lo, hi   float32 // Clip bounds from attributes (opset < 11)
	tanhGelu bool
}

func newUnary(n *graph.Node, opset int64) (op, error) {
	o := &unaryOp{kind: n.OpType, alpha: n.Float("alpha", 0.01),
		lo: n.Float("min", -math.MaxFloat32), hi: n.Float("max", math.MaxFloat32)}
	if n.OpType == "Gelu" {
		switch n.Str("approximate", "none") {
		case "none":
		case "tanh":
			o.tanhGelu = true
		default:
			return nil, fmt.Errorf("Gelu approximate %q: %w", n.Str("approximate", ""), ErrUnsupported)
		}
	}
	return o, nil
}

func (o *unaryOp) plan(in, out []*value) error {
	if o.kind == "Identity" {
		out[0].dtype = in[0].dtype
	}
	setShape(out[0], in[0].shape...)
	return nil
}

func (o *unaryOp) bounds(in []*value) (lo, hi float32) {
	lo, hi = o.lo, o.hi
	if len(in) > 1 && in[1] != nil && len(in[1].data) > 0 {
		lo = in[1].data[0]
	}
	if len(in) > 2 && in[2] != nil && len(in[2].data) > 0 {
		hi = in[2].data[0]
	}
	return
}

const invSqrt2 = 0.7071067811865476

func (o *unaryOp) forward(_ *Program, in, out []*value, _ bool) {
	x, y := in[0].data, out[0].data
	switch o.kind {
	case "Identity":
		if !in[0].isFloat() {
			copy(out[0].ints, in[0].ints)
			return
		}
		copy(y, x)
	case "Relu":
		kernels.Relu(y, x)
	case "LeakyRelu":
		kernels.LeakyRelu(y, x, o.alpha)
	case "Clip":
		lo, hi := o.bounds(in)
		kernels.Clip(y, x, lo, hi)
	case "Sigmoid":
		for i, v := range x {
			y[i] = float32(1 / (1 + math.Exp(-float64(v))))
		}
	case "Tanh":
		for i, v := range x {
			y[i] = float32(math.Tanh(float64(v)))
		}
	case "Erf":
		for i, v := range x {
			y[i] = float32(math.Erf(float64(v)))
		}
	case "Exp":
		for i, v := range x {
			y[i] = float32(math.Exp(float64(v)))
		}
	case "Neg":
		for i, v := range x {
			y[i] = -v
		}
	case "Sqrt":
		for i, v := range x {
			y[i] = float32(math.Sqrt(float64(v)))
		}
	case "Gelu":
		for i, v := range x {
			y[i] = float32(gelu(float64(v), o.tanhGelu))
		}
	}
}

func gelu(x float64, tanh bool) float64 {
	if tanh {
		return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
	}
	return 0.5 * x * (1 + math.Erf(x*invSqrt2))
}

func geluGrad(x float64, tanh bool) float64 {
	if tanh {
		c := math.Sqrt(2 / math.Pi)
		u := c * (x + 0.044715*x*x*x)
		t := math.Tanh(u)
		return 0.5*(1+t) + 0.5*x*(1-t*t)*c*(1+3*0.044715*x*x)
	}
	return 0.5*(1+math.Erf(x*invSqrt2)) + x*math.Exp(-0.5*x*x)/math.Sqrt(2*math.Pi)
}

func (o *unaryOp) backward(_ *Program, in, out []*value) {
	dx := in[0].grad
	if dx == nil {
		return
	}
	x, y, dy := in[0].data, out[0].data, out[0].grad
	switch o.kind {
	case "Identity":
		kernels.AddTo(dx, dy)
	case "Relu":
		for i, v := range x {
			if v > 0 {
				dx[i] += dy[i]
			}
		}
	case "LeakyRelu":
		for i, v := range x {
			if v >= 0 {
				dx[i] += dy[i]
			} else {
				dx[i] += o.alpha * dy[i]
			}
		}
	case "Clip":
		lo, hi := o.bounds(in)
		for i, v := range x {
			if v >= lo && v <= hi {
				dx[i] += dy[i]
			}
		}
	case "Sigmoid":
		for i, s := range y {
			dx[i] += dy[i] * s * (1 - s)
		}
	case "Tanh":
		for i, t := range y {
			dx[i] += dy[i] * (1 - t*t)
		}
	case "Erf":
		for i, v := range x {
			dx[i] += dy[i] * float32(2/math.SqrtPi*math.Exp(-float64(v)*float64(v)))
		}
	case "Exp":
		for i, e := range y {
			dx[i] += dy[i] * e
		}
	case "Neg":
		for i := range dx {
			dx[i] -= dy[i]
		}
	case "Sqrt":
		for i, s := range y {
			dx[i] += dy[i] * 0.5 / s
		}
	case "Gelu":
		for i, v := range x {
			dx[i] += dy[i] * float32(geluGrad(float64(v), o.tanhGelu))
		}
	}
}

// binaryOp is Add, Sub, Mul or Div with numpy broadcasting; gradients are
// summed over the broadcast axes. On integer inputs (shape arithmetic) it
// is evaluated at plan time.
type binaryOp struct {
	kind string
	same bool
	it   bcastIter
}

func newBinary(n *graph.Node, _ int64) (op, error) { return &binaryOp{kind: n.OpType}, nil }

func (o *binaryOp) plan(in, out []*value) error {
	s, err := broadcastShape(in[0].shape, in[1].shape)
	if err != nil {
		return err
	}
	if in[0].isFloat() != in[1].isFloat() {
		return fmt.Errorf("%s of %v and %v: %w", o.kind, in[0].dtype, in[1].dtype, ErrUnsupported)
	}
	setShape(out[0], s...)
	o.same = equalInts(in[0].shape, s) && equalInts(in[1].shape, s)
	o.it.set(in[0].shape, in[1].shape, s)
	return nil
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func (o *binaryOp) forward(_ *Program, in, out []*value, _ bool) {
	if !out[0].isFloat() {
		a, b, y := in[0].ints, in[1].ints, out[0].ints
		o.it.rows(func(yo, ao, bo int) {
			for j := 0; j < o.it.inner; j++ {
				x, z := a[ao+j*o.it.ia], b[bo+j*o.it.ib]
				switch o.kind {
				case "Add":
					y[yo+j] = x + z
				case "Sub":
					y[yo+j] = x - z
				case "Mul":
					y[yo+j] = x * z
				case "Div":
					if z != 0 {
						y[yo+j] = x / z
					}
				case "Pow":
					y[yo+j] = int64(math.Pow(float64(x), float64(z)))
				}
			}
		})
		return
	}
	a, b, y := in[0].data, in[1].data, out[0].data
	if o.same {
		switch o.kind {
		case "Add":
			copy(y, a)
			kernels.AddTo(y, b)
			return
		case "Mul":
			copy(y, a)
			kernels.MulTo(y, b)
			return
		}
	}
	ia, ib, n := o.it.ia, o.it.ib, o.it.inner
	o.it.rows(func(yo, ao, bo int) {
		yr := y[yo : yo+n]
		switch o.kind {
		case "Add":
			for j := range yr {
				yr[j] = a[ao+j*ia] + b[bo+j*ib]
			}
		case "Sub":
			for j := range yr {
				yr[j] = a[ao+j*ia] - b[bo+j*ib]
			}
		case "Mul":
			for j := range yr {
				yr[j] = a[ao+j*ia] * b[bo+j*ib]
			}
		case "Div":
			for j := range yr {
				yr[j] = a[ao+j*ia] / b[bo+j*ib]
			}
		case "Pow":
			for j := range yr {
				yr[j] = pow32(a[ao+j*ia], b[bo+j*ib])
			}
		}
	})
}

func (o *binaryOp) backward(_ *Program, in, out []*value) {
	a, b, dy := in[0], in[1], out[0].grad
	da, db := a.grad, b.grad
	if o.same && (o.kind == "Add" || o.kind == "Sub") {
		if da != nil {
			kernels.AddTo(da, dy)
		}
		if db != nil {
			if o.kind == "Add" {
				kernels.AddTo(db, dy)
			} else {
				kernels.Axpy(-1, dy, db)
			}
		}
		return
	}
	ia, ib, n := o.it.ia, o.it.ib, o.it.inner
	o.it.rows(func(yo, ao, bo int) {
		g := dy[yo : yo+n]
		for j, d := range g {
			ja, jb := ao+j*ia, bo+j*ib
			switch o.kind {
			case "Add":
				if da != nil {
					da[ja] += d
				}
				if db != nil {
					db[jb] += d
				}
			case "Sub":
				if da != nil {
					da[ja] += d
				}
				if db != nil {
					db[jb] -= d
				}
			case "Mul":
				if da != nil {
					da[ja] += d * b.data[jb]
				}
				if db != nil {
					db[jb] += d * a.data[ja]
				}
			case "Div":
				bv := b.data[jb]
				if da != nil {
					da[ja] += d / bv
				}
				if db != nil {
					db[jb] -= d * a.data[ja] / (bv * bv)
				}
			case "Pow":
				av, bv := float64(a.data[ja]), float64(b.data[jb])
				if da != nil && (av != 0 || bv >= 1) {
					da[ja] += d * float32(bv*math.Pow(av, bv-1))
				}
				if db != nil && av > 0 {
					db[jb] += d * float32(math.Pow(av, bv)*math.Log(av))
				}
			}
		}
	})
}

func pow32(a, b float32) float32 {
	switch b {
	case 2:
		return a * a
	case 1:
		return a
	case 0.5:
		return float32(math.Sqrt(float64(a)))
	}
	return float32(math.Pow(float64(a), float64(b)))
}
