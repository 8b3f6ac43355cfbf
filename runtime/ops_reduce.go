package runtime

import (
	"fmt"
	"math"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/tensor"
)

// Reductions: ReduceMean ReduceSum ReduceMax ReduceMin ReduceProd
// ReduceL1 ReduceL2 ReduceLogSum ReduceLogSumExp ReduceSumSquare, and
// ArgMax ArgMin. Axes are an attribute before opset 13 (ReduceSum) or 18
// (the others), an optional input after. Accumulation is in float64.

type reduceOp struct {
	kind      string
	axes      []int64
	fromInput bool
	keepDims  bool
	noopEmpty bool
}

func init() {
	for _, name := range []string{"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd",
		"ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"} {
		name := name
		moved := int64(18)
		if name == "ReduceSum" {
			moved = 13
		}
		register("", name, 1, moved-1, func(n *graph.Node, opset int64) (op, error) {
			return &reduceOp{kind: name, axes: n.Ints("axes", nil), keepDims: n.Int("keepdims", 1) != 0}, nil
		})
		register("", name, moved, 99, func(n *graph.Node, opset int64) (op, error) {
			return &reduceOp{kind: name, fromInput: true, keepDims: n.Int("keepdims", 1) != 0,
				noopEmpty: n.Int("noop_with_empty_axes", 0) != 0}, nil
		})
	}
	for _, name := range []string{"ArgMax", "ArgMin"} {
		name := name
		register("", name, 1, 99, func(n *graph.Node, opset int64) (op, error) {
			return &argOp{max: name == "ArgMax", axis: n.Int("axis", 0), keepDims: n.Int("keepdims", 1) != 0,
				last: n.Int("select_last_index", 0) != 0}, nil
		})
	}
}

func (o *reduceOp) shapeInputs() []int {
	if o.fromInput {
		return []int{1}
	}
	return nil
}

func (o *reduceOp) prepare(c *pctx) (runFunc, error) {
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
	r := len(x.shape)
	red := make([]bool, r)
	if len(axes) == 0 {
		if o.noopEmpty {
			c.set(0, x.dtype, x.shape)
			c.alias = true
			return copyRun, nil
		}
		for i := range red {
			red[i] = true
		}
	}
	for _, a := range axes {
		ax, err := normAxis(a, r)
		if err != nil {
			return nil, err
		}
		red[ax] = true
	}
	var shape, keptShape []int
	for i, d := range x.shape {
		if red[i] {
			if o.keepDims {
				shape = append(shape, 1)
			}
			keptShape = append(keptShape, 1)
		} else {
			shape = append(shape, d)
			keptShape = append(keptShape, d)
		}
	}
	if shape == nil {
		shape = []int{}
	}
	c.set(0, x.dtype, shape)
	// Offsets of the reduced elements relative to each output's first.
	strides := tensor.Strides(x.shape)
	var redDims, redStr []int
	for i := range x.shape {
		if red[i] {
			redDims = append(redDims, x.shape[i])
			redStr = append(redStr, strides[i])
		}
	}
	nRed := tensor.Prod(redDims)
	offs := make([]int, nRed)
	for j := range offs {
		rem := j
		for d := len(redDims) - 1; d >= 0; d-- {
			offs[j] += (rem % redDims[d]) * redStr[d]
			rem /= redDims[d]
		}
	}
	// contiguous: the reduced elements of each output are one run.
	contiguous := true
	for j, v := range offs {
		if v != j {
			contiguous = false
			break
		}
	}
	nOut := tensor.Prod(keptShape)
	base := make([]int, nOut)
	kStr := tensor.Strides(keptShape)
	for p := range base {
		rem := p
		for d := range keptShape {
			i := rem / kStr[d]
			rem %= kStr[d]
			base[p] += i * strides[d]
		}
	}
	dt := x.dtype
	if dt != tensor.Float && !castable(dt) || dt == tensor.Bool {
		return nil, errDType(c, dt)
	}
	rp := &reducePlan{kind: o.kind, dt: dt, nRed: nRed, offs: offs, contiguous: contiguous, base: base}
	return func(e *env, in, out []*tensor.Tensor) error {
		forRange(e, nOut, nOut*nRed, reduceJob{rp, in[0], out[0]})
		return nil
	}, nil
}

type reducePlan struct {
	kind       string
	dt         tensor.DType
	nRed       int
	offs, base []int
	contiguous bool
}

type reduceJob struct {
	p       *reducePlan
	in, out *tensor.Tensor
}

func (j reduceJob) chunk(_, lo, hi int) {
	p := j.p
	dt := p.dt
	var X []float32
	if dt == tensor.Float {
		X = j.in.F32
	}
	get := func(i int) float64 {
		if X != nil {
			return float64(X[i])
		}
		if dt.IsFloat() {
			return getF64(j.in, dt, i)
		}
		return float64(getI64(j.in, dt, i))
	}
	for q := lo; q < hi; q++ {
		b := p.base[q]
		acc := reduceInit(p.kind, p.nRed)
		for i := 0; i < p.nRed; i++ {
			k := i
			if !p.contiguous {
				k = p.offs[i]
			}
			acc = reduceStep(p.kind, acc, get(b+k))
		}
		v := reduceFinal(p.kind, acc, p.nRed)
		switch {
		case dt == tensor.Float:
			j.out.F32[q] = float32(v)
		case dt.IsFloat():
			setF64(j.out, dt, q, v)
		default:
			setI64(j.out, dt, q, int64(v))
		}
	}
}

func reduceInit(kind string, n int) float64 {
	switch kind {
	case "ReduceMax":
		return math.Inf(-1)
	case "ReduceMin":
		return math.Inf(1)
	case "ReduceProd":
		return 1
	}
	return 0
}

func reduceStep(kind string, acc, v float64) float64 {
	switch kind {
	case "ReduceMax":
		if v > acc || v != v {
			return v
		}
		return acc
	case "ReduceMin":
		if v < acc || v != v {
			return v
		}
		return acc
	case "ReduceProd":
		return acc * v
	case "ReduceL1":
		return acc + math.Abs(v)
	case "ReduceL2", "ReduceSumSquare":
		return acc + v*v
	case "ReduceLogSumExp":
		return acc + math.Exp(v)
	}
	return acc + v
}

func reduceFinal(kind string, acc float64, n int) float64 {
	switch kind {
	case "ReduceMean":
		return acc / float64(n)
	case "ReduceL2":
		return math.Sqrt(acc)
	case "ReduceLogSum", "ReduceLogSumExp":
		return math.Log(acc)
	}
	return acc
}

type argOp struct {
	max      bool
	axis     int64
	keepDims bool
	last     bool
}

func (o *argOp) prepare(c *pctx) (runFunc, error) {
	x := c.input(0)
	if !castable(x.dtype) || x.dtype == tensor.Bool {
		return nil, errDType(c, x.dtype)
	}
	ax, err := normAxis(o.axis, len(x.shape))
	if err != nil {
		return nil, err
	}
	shape := cloneInts(x.shape)
	if o.keepDims {
		shape[ax] = 1
	} else {
		shape = append(shape[:ax], shape[ax+1:]...)
	}
	c.set(0, tensor.Int64, shape)
	outer, dim, inner := tensor.Prod(x.shape[:ax]), x.shape[ax], tensor.Prod(x.shape[ax+1:])
	if dim == 0 {
		return nil, fmt.Errorf("empty axis")
	}
	dt := x.dtype
	return func(e *env, in, out []*tensor.Tensor) error {
		get := func(i int) float64 {
			if dt.IsFloat() {
				return getF64(in[0], dt, i)
			}
			return float64(getI64(in[0], dt, i))
		}
		for p := 0; p < outer; p++ {
			for j := 0; j < inner; j++ {
				best, arg := get(p*dim*inner+j), 0
				for i := 1; i < dim; i++ {
					v := get((p*dim+i)*inner + j)
					better := v > best
					if !o.max {
						better = v < best
					}
					if better || (o.last && v == best) {
						best, arg = v, i
					}
				}
				out[0].I64[p*inner+j] = int64(arg)
			}
		}
		return nil
	}, nil
}
