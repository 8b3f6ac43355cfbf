package runtime

import (
	"fmt"
	"math"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/tensor"
)

// Ops that only compute or change shapes: Constant, Shape, Size, Identity,
// Dropout (inference), Reshape, Flatten, Squeeze, Unsqueeze,
// ConstantOfShape and Range. The view ops among them share their input's
// storage when the planner allows it.

func init() {
	register("", "Constant", 1, 99, newConstant)
	register("", "Shape", 1, 99, func(n *graph.Node, opset int64) (op, error) {
		return &shapeOp{start: n.Int("start", 0), end: n.Int("end", math.MaxInt64), hasEnd: n.Attr("end") != nil}, nil
	})
	register("", "Size", 1, 99, func(n *graph.Node, opset int64) (op, error) { return sizeOp{}, nil })
	register("", "Identity", 1, 99, func(n *graph.Node, opset int64) (op, error) { return identityOp{}, nil })
	register("", "Dropout", 7, 99, func(n *graph.Node, opset int64) (op, error) { return dropoutOp{}, nil })
	register("", "Reshape", 5, 99, func(n *graph.Node, opset int64) (op, error) {
		return &reshapeOp{allowZero: n.Int("allowzero", 0) != 0}, nil
	})
	register("", "Flatten", 1, 99, func(n *graph.Node, opset int64) (op, error) {
		return &flattenOp{axis: n.Int("axis", 1)}, nil
	})
	register("", "Squeeze", 1, 12, func(n *graph.Node, opset int64) (op, error) {
		return &squeezeOp{axes: n.Ints("axes", nil)}, nil
	})
	register("", "Squeeze", 13, 99, func(n *graph.Node, opset int64) (op, error) {
		return &squeezeOp{fromInput: true}, nil
	})
	register("", "Unsqueeze", 1, 12, func(n *graph.Node, opset int64) (op, error) {
		return &squeezeOp{unsqueeze: true, axes: n.Ints("axes", nil)}, nil
	})
	register("", "Unsqueeze", 13, 99, func(n *graph.Node, opset int64) (op, error) {
		return &squeezeOp{unsqueeze: true, fromInput: true}, nil
	})
	register("", "ConstantOfShape", 9, 99, func(n *graph.Node, opset int64) (op, error) {
		v, err := n.Tensor("value")
		if err != nil {
			return nil, err
		}
		if v == nil {
			v = tensor.FromFloat32([]float32{0}, 1)
		}
		if tensor.Prod(v.Shape) != 1 {
			return nil, fmt.Errorf("value must have one element, has shape %v", v.Shape)
		}
		return &constantOfShapeOp{value: v}, nil
	})
	register("", "Range", 11, 99, func(n *graph.Node, opset int64) (op, error) { return rangeOp{}, nil })
}

// constantOp is Constant: its output is known when planning.
type constantOp struct{ t *tensor.Tensor }

func newConstant(n *graph.Node, opset int64) (op, error) {
	if t, err := n.Tensor("value"); err != nil || t != nil {
		return &constantOp{t}, err
	}
	switch {
	case n.Attr("value_float") != nil:
		return &constantOp{tensor.FromFloat32([]float32{n.Float("value_float", 0)})}, nil
	case n.Attr("value_floats") != nil:
		v := n.Floats("value_floats", nil)
		return &constantOp{tensor.FromFloat32(append([]float32{}, v...), len(v))}, nil
	case n.Attr("value_int") != nil:
		return &constantOp{tensor.FromInt64([]int64{n.Int("value_int", 0)})}, nil
	case n.Attr("value_ints") != nil:
		v := n.Ints("value_ints", nil)
		return &constantOp{tensor.FromInt64(append([]int64{}, v...), len(v))}, nil
	}
	return nil, fmt.Errorf("Constant without a supported value attribute (sparse and string values are not supported)")
}

func (o *constantOp) prepare(c *pctx) (runFunc, error) {
	c.set(0, o.t.DType, o.t.Shape)
	c.out[0].konst = o.t
	return nil, nil
}

type shapeOp struct {
	start, end int64
	hasEnd     bool
}

func (shapeOp) shapeOnly() {}

func (o *shapeOp) prepare(c *pctx) (runFunc, error) {
	sh := c.input(0).shape
	r := int64(len(sh))
	clampIdx := func(i int64) int64 {
		if i < 0 {
			i += r
		}
		return min(max(i, 0), r)
	}
	s, e := clampIdx(o.start), r
	if o.hasEnd {
		e = clampIdx(o.end)
	}
	var dims []int64
	for i := s; i < e; i++ {
		dims = append(dims, int64(sh[i]))
	}
	t := tensor.FromInt64(append([]int64{}, dims...), len(dims))
	c.set(0, tensor.Int64, t.Shape)
	c.out[0].konst = t
	return nil, nil
}

type sizeOp struct{}

func (sizeOp) shapeOnly() {}

func (sizeOp) prepare(c *pctx) (runFunc, error) {
	c.set(0, tensor.Int64, nil)
	c.out[0].konst = tensor.FromInt64([]int64{int64(c.input(0).numel())})
	return nil, nil
}

// copyRun copies input 0 to output 0 (the fallback of view ops).
func copyRun(e *env, in, out []*tensor.Tensor) error {
	copy(bytesOf(out[0]), bytesOf(in[0]))
	return nil
}

type identityOp struct{}

func (identityOp) prepare(c *pctx) (runFunc, error) {
	x := c.input(0)
	c.set(0, x.dtype, x.shape)
	c.alias = true
	return copyRun, nil
}

type dropoutOp struct{}

// shapeInputs: ratio and training_mode decide whether Dropout is the
// identity, so they must be known when planning.
func (dropoutOp) shapeInputs() []int { return []int{1, 2} }

func (dropoutOp) prepare(c *pctx) (runFunc, error) {
	x := c.input(0)
	c.set(0, x.dtype, x.shape)
	if tm := c.input(2); tm != nil {
		train, err := c.konst(2, "training_mode")
		if err != nil {
			return nil, err
		}
		if train.Raw[0] != 0 {
			ratio := 0.5
			if r := c.input(1); r != nil && r.konst != nil {
				ratio = getF64(r.konst, r.dtype, 0)
			}
			if ratio != 0 {
				return nil, &UnsupportedError{Node: c.node.Name, OpType: "Dropout", Opset: c.opset, Reason: "training mode"}
			}
		}
	}
	if len(c.out) > 1 {
		c.set(1, tensor.Bool, x.shape)
	}
	c.alias = len(c.out) < 2 || !c.used[1]
	return func(e *env, in, out []*tensor.Tensor) error {
		copy(bytesOf(out[0]), bytesOf(in[0]))
		if len(out) > 1 && out[1] != nil {
			for i := range out[1].Raw {
				out[1].Raw[i] = 1
			}
		}
		return nil
	}, nil
}

type reshapeOp struct{ allowZero bool }

func (*reshapeOp) shapeInputs() []int { return []int{1} }

func (o *reshapeOp) prepare(c *pctx) (runFunc, error) {
	x := c.input(0)
	st, err := c.konst(1, "shape")
	if err != nil {
		return nil, err
	}
	spec, err := ints64(st)
	if err != nil {
		return nil, err
	}
	shape := make([]int, len(spec))
	infer, known := -1, 1
	for i, d := range spec {
		switch {
		case d == 0 && !o.allowZero:
			if i >= len(x.shape) {
				return nil, fmt.Errorf("shape %v copies dim %d of a rank-%d input", spec, i, len(x.shape))
			}
			shape[i] = x.shape[i]
		case d == -1:
			if infer >= 0 {
				return nil, fmt.Errorf("shape %v has two -1", spec)
			}
			infer = i
			continue
		case d < 0:
			return nil, fmt.Errorf("shape %v has a negative dim", spec)
		default:
			shape[i] = int(d)
		}
		known *= shape[i]
	}
	n := x.numel()
	if infer >= 0 {
		if known == 0 || n%known != 0 {
			return nil, fmt.Errorf("cannot reshape %v to %v", x.shape, spec)
		}
		shape[infer] = n / known
	} else if known != n {
		return nil, fmt.Errorf("cannot reshape %v (%d elements) to %v", x.shape, n, spec)
	}
	c.set(0, x.dtype, shape)
	c.alias = true
	return copyRun, nil
}

type flattenOp struct{ axis int64 }

func (o *flattenOp) prepare(c *pctx) (runFunc, error) {
	x := c.input(0)
	r := len(x.shape)
	a := int(o.axis)
	if a < 0 {
		a += r
	}
	if a < 0 || a > r {
		return nil, fmt.Errorf("axis %d out of range for rank %d", o.axis, r)
	}
	c.set(0, x.dtype, []int{tensor.Prod(x.shape[:a]), tensor.Prod(x.shape[a:])})
	c.alias = true
	return copyRun, nil
}

type squeezeOp struct {
	unsqueeze, fromInput bool
	axes                 []int64
}

func (o *squeezeOp) shapeInputs() []int {
	if o.fromInput {
		return []int{1}
	}
	return nil
}

func (o *squeezeOp) prepare(c *pctx) (runFunc, error) {
	x := c.input(0)
	axes := o.axes
	if o.fromInput && c.input(1) != nil {
		t, err := c.konst(1, "axes")
		if err != nil {
			return nil, err
		}
		if axes, err = ints64(t); err != nil {
			return nil, err
		}
	}
	var shape []int
	if o.unsqueeze {
		r := len(x.shape) + len(axes)
		ins := make([]bool, r)
		for _, a := range axes {
			ax, err := normAxis(a, r)
			if err != nil {
				return nil, err
			}
			if ins[ax] {
				return nil, fmt.Errorf("axis %d repeated", a)
			}
			ins[ax] = true
		}
		j := 0
		for i := 0; i < r; i++ {
			if ins[i] {
				shape = append(shape, 1)
			} else {
				if j >= len(x.shape) {
					return nil, fmt.Errorf("axes %v out of range", axes)
				}
				shape = append(shape, x.shape[j])
				j++
			}
		}
	} else {
		drop := make([]bool, len(x.shape))
		if axes == nil {
			for i, d := range x.shape {
				drop[i] = d == 1
			}
		}
		for _, a := range axes {
			ax, err := normAxis(a, len(x.shape))
			if err != nil {
				return nil, err
			}
			if x.shape[ax] != 1 {
				return nil, fmt.Errorf("cannot squeeze axis %d of size %d", a, x.shape[ax])
			}
			drop[ax] = true
		}
		shape = []int{}
		for i, d := range x.shape {
			if !drop[i] {
				shape = append(shape, d)
			}
		}
	}
	c.set(0, x.dtype, shape)
	c.alias = true
	return copyRun, nil
}

type constantOfShapeOp struct{ value *tensor.Tensor }

func (*constantOfShapeOp) shapeInputs() []int { return []int{0} }

func (o *constantOfShapeOp) prepare(c *pctx) (runFunc, error) {
	st, err := c.konst(0, "shape")
	if err != nil {
		return nil, err
	}
	spec, err := ints64(st)
	if err != nil {
		return nil, err
	}
	shape := make([]int, len(spec))
	for i, d := range spec {
		if d < 0 {
			return nil, fmt.Errorf("negative dim in shape %v", spec)
		}
		shape[i] = int(d)
	}
	c.set(0, o.value.DType, shape)
	v := bytesOf(o.value)
	return func(e *env, in, out []*tensor.Tensor) error {
		b := bytesOf(out[0])
		for i := 0; i < len(b); i += len(v) {
			copy(b[i:], v)
		}
		return nil
	}, nil
}

type rangeOp struct{}

func (rangeOp) shapeInputs() []int { return []int{0, 1, 2} }

func (rangeOp) prepare(c *pctx) (runFunc, error) {
	dt := c.input(0).dtype
	var vals [3]float64
	for i := range vals {
		t, err := c.konst(i, "bound")
		if err != nil {
			return nil, err
		}
		if t.DType.IsFloat() {
			vals[i] = getF64(t, t.DType, 0)
		} else {
			vals[i] = float64(getI64(t, t.DType, 0))
		}
	}
	start, limit, delta := vals[0], vals[1], vals[2]
	if delta == 0 {
		return nil, fmt.Errorf("delta is zero")
	}
	n := int(max(math.Ceil((limit-start)/delta), 0))
	c.set(0, dt, []int{n})
	if !castable(dt) || dt == tensor.Bool {
		return nil, errDType(c, dt)
	}
	return func(e *env, in, out []*tensor.Tensor) error {
		for i := 0; i < n; i++ {
			if dt.IsFloat() {
				// Accumulate in the element type, as the reference does.
				setF64(out[0], dt, i, start+float64(i)*delta)
			} else {
				setI64(out[0], dt, i, int64(start)+int64(i)*int64(delta))
			}
		}
		return nil
	}, nil
}
