package graph

import (
	"fmt"

	"github.com/podaml/poda/tensor"
)

// Info is what shape inference knows about a value.
type Info struct {
	DType tensor.DType
	Shape Shape
	// Value holds the elements of small int64 tensors whose contents can be
	// followed symbolically (shape computations such as Shape→Gather→
	// Concat→Reshape), or nil.
	Value []Dim
}

// Shapes maps value names to what inference knows about them.
type Shapes map[string]*Info

// Shape returns the inferred shape of name, or nil.
func (s Shapes) Shape(name string) Shape {
	if i := s[name]; i != nil {
		return i.Shape
	}
	return nil
}

// maxValueElems bounds the int64 tensors whose contents inference follows.
const maxValueElems = 64

// InferShapes infers the type and shape of every value of the main graph,
// from the declared input shapes (with symbolic batch dimensions) or from
// overrides. Ops it does not know leave their outputs unknown; an op whose
// inputs contradict its attributes is an error naming the node.
func InferShapes(m *Model, overrides map[string]Shape) (Shapes, error) {
	g := m.Graph
	s := Shapes{}
	for _, t := range g.Initializers {
		info := &Info{DType: t.DType, Shape: ShapeOf(t.Shape...)}
		if t.DType == tensor.Int64 && len(t.I64) <= maxValueElems {
			info.Value = dimsOf(t.I64)
		}
		s[t.Name] = info
	}
	for _, v := range g.Inputs {
		if _, isInit := s[v.Name]; isInit && overrides[v.Name] == nil {
			continue
		}
		sh := v.Shape
		if o, ok := overrides[v.Name]; ok {
			sh = o
		}
		s[v.Name] = &Info{DType: v.DType, Shape: sh}
	}
	c := &inferCtx{s: s, opset: m.Opset("")}
	for _, n := range g.Nodes {
		if err := c.node(n); err != nil {
			return s, fmt.Errorf("shape inference: %s: %w", n, err)
		}
	}
	return s, nil
}

func dimsOf(v []int64) []Dim {
	out := make([]Dim, len(v))
	for i, x := range v {
		out[i] = Size(x)
	}
	return out
}

type inferCtx struct {
	s     Shapes
	opset int64
}

func (c *inferCtx) in(n *Node, i int) *Info {
	name := n.Input(i)
	if name == "" {
		return nil
	}
	return c.s[name]
}

func (c *inferCtx) shape(n *Node, i int) Shape {
	if info := c.in(n, i); info != nil {
		return info.Shape
	}
	return nil
}

func (c *inferCtx) dtype(n *Node, i int) tensor.DType {
	if info := c.in(n, i); info != nil {
		return info.DType
	}
	return tensor.Undefined
}

// ints returns the known integer contents of input i.
func (c *inferCtx) ints(n *Node, i int) ([]int64, bool) {
	info := c.in(n, i)
	if info == nil || info.Value == nil {
		return nil, false
	}
	out := make([]int64, len(info.Value))
	for k, d := range info.Value {
		if !d.Known() {
			return nil, false
		}
		out[k] = d.Value
	}
	return out, true
}

func (c *inferCtx) set(n *Node, i int, dt tensor.DType, sh Shape) *Info {
	if i >= len(n.Outputs) || n.Outputs[i] == "" {
		return &Info{}
	}
	info := &Info{DType: dt, Shape: sh}
	c.s[n.Outputs[i]] = info
	return info
}

func normAxis(axis int64, rank int) (int, error) {
	if axis < 0 {
		axis += int64(rank)
	}
	if axis < 0 || axis >= int64(rank) {
		return 0, fmt.Errorf("axis %d out of range for rank %d", axis, rank)
	}
	return int(axis), nil
}

var unaryOps = map[string]bool{
	"Relu": true, "LeakyRelu": true, "Sigmoid": true, "Tanh": true, "Clip": true, "Erf": true,
	"Sqrt": true, "Exp": true, "Log": true, "Neg": true, "Abs": true, "Reciprocal": true,
	"HardSigmoid": true, "HardSwish": true, "Gelu": true, "Softmax": true, "LogSoftmax": true,
	"Identity": true, "Dropout": true, "BatchNormalization": true, "LayerNormalization": true,
	"InstanceNormalization": true, "PRelu": true, "Floor": true, "Ceil": true, "Softplus": true,
	"Elu": true, "Selu": true, "Round": true, "Sign": true, "Sin": true, "Cos": true, "Mish": true,
	"Celu": true, "Hardmax": true, "LRN": true, "Not": true, "IsNaN": true,
}

var broadcastOps = map[string]bool{
	"Add": true, "Sub": true, "Mul": true, "Div": true, "Pow": true, "Equal": true, "Less": true,
	"Greater": true, "LessOrEqual": true, "GreaterOrEqual": true, "Where": true, "Max": true,
	"Min": true, "Sum": true, "Mean": true, "And": true, "Or": true, "Xor": true, "Mod": true,
	"BitShift": true,
}

var boolOps = map[string]bool{"Equal": true, "Less": true, "Greater": true, "LessOrEqual": true,
	"GreaterOrEqual": true, "And": true, "Or": true, "Xor": true, "Not": true, "IsNaN": true}

func (c *inferCtx) node(n *Node) error {
	if n.Domain != "" && n.Domain != "ai.onnx" {
		return nil
	}
	x := c.shape(n, 0)
	dt := c.dtype(n, 0)
	switch {
	case unaryOps[n.OpType]:
		out := c.set(n, 0, dt, x)
		if boolOps[n.OpType] {
			out.DType = tensor.Bool
		}
		if n.OpType == "Identity" {
			if in := c.in(n, 0); in != nil {
				out.Value = in.Value
			}
		}
		if n.OpType == "Dropout" && len(n.Outputs) > 1 {
			c.set(n, 1, tensor.Bool, x)
		}
		return nil
	case broadcastOps[n.OpType]:
		return c.broadcast(n)
	}
	switch n.OpType {
	case "Conv", "ConvTranspose", "MaxPool", "AveragePool", "LpPool":
		return c.conv(n)
	case "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool":
		if x == nil {
			c.set(n, 0, dt, nil)
			return nil
		}
		out := append(Shape(nil), x...)
		for i := 2; i < len(out); i++ {
			out[i] = Size(1)
		}
		c.set(n, 0, dt, out)
	case "Gemm":
		return c.gemm(n)
	case "MatMul":
		return c.matmul(n)
	case "Flatten":
		if x == nil {
			c.set(n, 0, dt, nil)
			return nil
		}
		axis, err := normAxisInclusive(n.Int("axis", 1), len(x))
		if err != nil {
			return err
		}
		c.set(n, 0, dt, Shape{prodDims(x[:axis]), prodDims(x[axis:])})
	case "Reshape":
		return c.reshape(n)
	case "Transpose":
		if x == nil {
			c.set(n, 0, dt, nil)
			return nil
		}
		perm := n.Ints("perm", nil)
		if perm == nil {
			for i := len(x) - 1; i >= 0; i-- {
				perm = append(perm, int64(i))
			}
		}
		if len(perm) != len(x) {
			return fmt.Errorf("perm %v does not match rank %d", perm, len(x))
		}
		out := make(Shape, len(x))
		seen := make([]bool, len(x))
		for i, p := range perm {
			if p < 0 || p >= int64(len(x)) || seen[p] {
				return fmt.Errorf("perm %v is not a permutation", perm)
			}
			seen[p] = true
			out[i] = x[p]
		}
		c.set(n, 0, dt, out)
	case "Shape":
		if x == nil {
			c.set(n, 0, tensor.Int64, Shape{Unknown})
			return nil
		}
		start, end := n.Int("start", 0), n.Int("end", int64(len(x)))
		lo, hi := clampRange(start, end, len(x))
		out := c.set(n, 0, tensor.Int64, ShapeOf(hi-lo))
		out.Value = append([]Dim(nil), x[lo:hi]...)
	case "Size":
		out := c.set(n, 0, tensor.Int64, Shape{})
		if x != nil {
			out.Value = []Dim{prodDims(x)}
		}
	case "Constant":
		t, err := n.Tensor("value")
		if err != nil {
			return err
		}
		if t == nil {
			if a := n.Attr("value_ints"); a != nil {
				t = tensor.FromInt64(append([]int64(nil), a.Ints...), len(a.Ints))
			} else if a := n.Attr("value_int"); a != nil {
				t = tensor.FromInt64([]int64{a.GetI()})
			} else if a := n.Attr("value_floats"); a != nil {
				t = tensor.FromFloat32(append([]float32(nil), a.Floats...), len(a.Floats))
			} else if a := n.Attr("value_float"); a != nil {
				t = tensor.FromFloat32([]float32{a.GetF()})
			} else {
				c.set(n, 0, tensor.Undefined, nil)
				return nil
			}
		}
		out := c.set(n, 0, t.DType, ShapeOf(t.Shape...))
		if t.DType == tensor.Int64 && len(t.I64) <= maxValueElems {
			out.Value = dimsOf(t.I64)
		}
	case "ConstantOfShape":
		odt := tensor.Float
		if t, _ := n.Tensor("value"); t != nil {
			odt = t.DType
		}
		if in := c.in(n, 0); in != nil && in.Value != nil {
			c.set(n, 0, odt, append(Shape(nil), in.Value...))
		} else {
			c.set(n, 0, odt, nil)
		}
	case "Cast":
		out := c.set(n, 0, tensor.DType(n.Int("to", 0)), x)
		if in := c.in(n, 0); in != nil && out.DType == tensor.Int64 && (in.DType == tensor.Int64 || in.DType == tensor.Int32) {
			out.Value = in.Value
		}
	case "Concat":
		return c.concat(n)
	case "Split":
		return c.split(n)
	case "Slice":
		return c.slice(n)
	case "Squeeze", "Unsqueeze":
		return c.squeeze(n)
	case "Gather":
		return c.gather(n)
	case "Expand":
		target, ok := c.in(n, 1), false
		if target != nil && target.Value != nil {
			ok = true
		}
		if !ok || x == nil {
			c.set(n, 0, dt, nil)
			return nil
		}
		out, err := broadcastShapes(x, Shape(target.Value))
		if err != nil {
			return err
		}
		c.set(n, 0, dt, out)
	case "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL2", "ReduceL1",
		"ReduceSumSquare", "ReduceLogSumExp", "ArgMax", "ArgMin":
		return c.reduce(n)
	case "Pad":
		return c.pad(n)
	case "Resize", "Upsample":
		return c.resize(n)
	case "Range":
		c.set(n, 0, dt, Shape{Unknown})
	case "Tile":
		reps, ok := c.ints(n, 1)
		if !ok || x == nil || len(reps) != len(x) {
			c.set(n, 0, dt, nil)
			return nil
		}
		out := make(Shape, len(x))
		for i := range x {
			out[i] = mulDim(x[i], Size(reps[i]))
		}
		c.set(n, 0, dt, out)
	default:
		for i := range n.Outputs {
			c.set(n, i, tensor.Undefined, nil)
		}
	}
	return nil
}

func normAxisInclusive(axis int64, rank int) (int, error) {
	if axis < 0 {
		axis += int64(rank)
	}
	if axis < 0 || axis > int64(rank) {
		return 0, fmt.Errorf("axis %d out of range for rank %d", axis, rank)
	}
	return int(axis), nil
}

func clampRange(start, end int64, rank int) (int, int) {
	r := int64(rank)
	if start < 0 {
		start += r
	}
	if end < 0 {
		end += r
	}
	start = max(0, min(start, r))
	end = max(0, min(end, r))
	if end < start {
		end = start
	}
	return int(start), int(end)
}

func prodDims(ds Shape) Dim {
	out := Size(1)
	for _, d := range ds {
		out = mulDim(out, d)
	}
	return out
}

func mulDim(a, b Dim) Dim {
	switch {
	case a.Known() && b.Known():
		return Size(a.Value * b.Value)
	case a.Known() && a.Value == 1:
		return b
	case b.Known() && b.Value == 1:
		return a
	}
	return Unknown
}

func broadcastShapes(a, b Shape) (Shape, error) {
	if a == nil || b == nil {
		return nil, nil
	}
	r := max(len(a), len(b))
	out := make(Shape, r)
	for i := 0; i < r; i++ {
		da, db := Size(1), Size(1)
		if j := i - (r - len(a)); j >= 0 {
			da = a[j]
		}
		if j := i - (r - len(b)); j >= 0 {
			db = b[j]
		}
		switch {
		case da.Known() && da.Value == 1:
			out[i] = db
		case db.Known() && db.Value == 1:
			out[i] = da
		case da == db:
			out[i] = da
		case da.Known() && db.Known():
			return nil, fmt.Errorf("shapes %v and %v do not broadcast", a, b)
		case da.Known():
			out[i] = da
		case db.Known():
			out[i] = db
		default:
			out[i] = Unknown
		}
	}
	return out, nil
}

func (c *inferCtx) broadcast(n *Node) error {
	var out Shape
	first := true
	dt := tensor.Undefined
	for i := range n.Inputs {
		if n.OpType == "Where" && i == 0 {
			// the condition broadcasts but does not set the type
		} else if dt == tensor.Undefined {
			dt = c.dtype(n, i)
		}
		sh := c.shape(n, i)
		if first {
			out, first = sh, false
			continue
		}
		var err error
		out, err = broadcastShapes(out, sh)
		if err != nil {
			return err
		}
	}
	if boolOps[n.OpType] {
		dt = tensor.Bool
	}
	info := c.set(n, 0, dt, out)
	// Follow integer arithmetic on shape values.
	if len(n.Inputs) == 2 && n.OpType != "Where" {
		a, b := c.in(n, 0), c.in(n, 1)
		if a != nil && b != nil && a.Value != nil && b.Value != nil && dt == tensor.Int64 {
			info.Value = valueArith(n.OpType, a.Value, b.Value)
		}
	}
	return nil
}

func valueArith(op string, a, b []Dim) []Dim {
	if len(a) == 0 || len(b) == 0 || len(a) != len(b) && len(a) != 1 && len(b) != 1 {
		return nil
	}
	n := max(len(a), len(b))
	out := make([]Dim, n)
	for i := range out {
		x, y := a[min(i, len(a)-1)], b[min(i, len(b)-1)]
		if !x.Known() || !y.Known() {
			if op == "Mul" {
				out[i] = mulDim(x, y)
			} else {
				out[i] = Unknown
			}
			continue
		}
		switch op {
		case "Add":
			out[i] = Size(x.Value + y.Value)
		case "Sub":
			out[i] = Size(x.Value - y.Value)
		case "Mul":
			out[i] = Size(x.Value * y.Value)
		case "Div":
			if y.Value == 0 {
				return nil
			}
			out[i] = Size(x.Value / y.Value)
		default:
			return nil
		}
	}
	return out
}

// conv handles Conv, ConvTranspose and the pools, whose spatial output
// sizes follow the same pads/strides/dilations arithmetic.
func (c *inferCtx) conv(n *Node) error {
	x := c.shape(n, 0)
	dt := c.dtype(n, 0)
	if x == nil || len(x) < 3 {
		c.set(n, 0, dt, nil)
		return nil
	}
	sp := len(x) - 2
	var kernel []int64
	cout := x[1]
	isConv := n.OpType == "Conv" || n.OpType == "ConvTranspose"
	if isConv {
		w := c.shape(n, 1)
		if w == nil || len(w) != len(x) {
			c.set(n, 0, dt, nil)
			return nil
		}
		group := n.Int("group", 1)
		if group <= 0 {
			return fmt.Errorf("group %d must be positive", group)
		}
		if n.OpType == "Conv" {
			cout = w[0]
			if w[1].Known() && x[1].Known() && w[1].Value*group != x[1].Value {
				return fmt.Errorf("input has %d channels, weight %v expects %d (group %d)", x[1].Value, w, w[1].Value*group, group)
			}
		} else {
			cout = mulDim(w[1], Size(group))
			if w[0].Known() && x[1].Known() && w[0].Value != x[1].Value {
				return fmt.Errorf("input has %d channels, weight %v expects %d", x[1].Value, w, w[0].Value)
			}
		}
		kernel = n.Ints("kernel_shape", nil)
		if kernel == nil {
			for _, d := range w[2:] {
				if !d.Known() {
					c.set(n, 0, dt, nil)
					return nil
				}
				kernel = append(kernel, d.Value)
			}
		}
	} else {
		kernel = n.Ints("kernel_shape", nil)
	}
	if len(kernel) != sp {
		return fmt.Errorf("kernel_shape %v does not match %d spatial dims", kernel, sp)
	}
	strides := n.Ints("strides", nil)
	dil := n.Ints("dilations", nil)
	pads := n.Ints("pads", nil)
	autoPad := n.Str("auto_pad", "NOTSET")
	ceil := n.Int("ceil_mode", 0) == 1
	out := Shape{x[0], cout}
	for i := 0; i < sp; i++ {
		in := x[2+i]
		s, d := int64(1), int64(1)
		if i < len(strides) {
			s = strides[i]
		}
		if i < len(dil) {
			d = dil[i]
		}
		if s <= 0 || d <= 0 || kernel[i] <= 0 {
			return fmt.Errorf("strides %v, dilations %v and kernel %v must be positive", strides, dil, kernel)
		}
		if !in.Known() {
			out = append(out, Unknown)
			continue
		}
		var pb, pe int64
		if len(pads) == 2*sp {
			pb, pe = pads[i], pads[i+sp]
		}
		ek := (kernel[i]-1)*d + 1
		var o int64
		if n.OpType == "ConvTranspose" {
			op := n.Ints("output_padding", nil)
			var opad int64
			if i < len(op) {
				opad = op[i]
			}
			if os := n.Ints("output_shape", nil); len(os) == sp {
				o = os[i]
			} else if autoPad == "SAME_UPPER" || autoPad == "SAME_LOWER" {
				o = in.Value * s
			} else {
				o = s*(in.Value-1) + opad + ek - pb - pe
			}
		} else {
			switch autoPad {
			case "SAME_UPPER", "SAME_LOWER":
				o = (in.Value + s - 1) / s
			case "VALID":
				o = (in.Value-ek)/s + 1
			default:
				num := in.Value + pb + pe - ek
				if num < 0 {
					return fmt.Errorf("kernel %d (dilated) is larger than the padded input %d", ek, in.Value+pb+pe)
				}
				if ceil {
					o = (num+s-1)/s + 1
					if (o-1)*s >= in.Value+pb {
						o--
					}
				} else {
					o = num/s + 1
				}
			}
		}
		out = append(out, Size(o))
	}
	c.set(n, 0, dt, out)
	if n.OpType == "MaxPool" && len(n.Outputs) > 1 {
		c.set(n, 1, tensor.Int64, out)
	}
	return nil
}

func (c *inferCtx) gemm(n *Node) error {
	a, b := c.shape(n, 0), c.shape(n, 1)
	dt := c.dtype(n, 0)
	if a == nil || b == nil {
		c.set(n, 0, dt, nil)
		return nil
	}
	if len(a) != 2 || len(b) != 2 {
		return fmt.Errorf("Gemm needs 2-D operands, got %v and %v", a, b)
	}
	m, ka := a[0], a[1]
	if n.Int("transA", 0) != 0 {
		m, ka = a[1], a[0]
	}
	kb, nn := b[0], b[1]
	if n.Int("transB", 0) != 0 {
		kb, nn = b[1], b[0]
	}
	if ka.Known() && kb.Known() && ka.Value != kb.Value {
		return fmt.Errorf("inner dimensions differ: A %v, B %v", a, b)
	}
	c.set(n, 0, dt, Shape{m, nn})
	return nil
}

func (c *inferCtx) matmul(n *Node) error {
	a, b := c.shape(n, 0), c.shape(n, 1)
	dt := c.dtype(n, 0)
	if a == nil || b == nil {
		c.set(n, 0, dt, nil)
		return nil
	}
	if len(a) == 0 || len(b) == 0 {
		return fmt.Errorf("MatMul operands must not be scalars")
	}
	a1, b1 := len(a) == 1, len(b) == 1
	if a1 {
		a = Shape{Size(1), a[0]}
	}
	if b1 {
		b = Shape{b[0], Size(1)}
	}
	ka, kb := a[len(a)-1], b[len(b)-2]
	if ka.Known() && kb.Known() && ka.Value != kb.Value {
		return fmt.Errorf("inner dimensions differ: %v × %v", a, b)
	}
	batch, err := broadcastShapes(a[:len(a)-2], b[:len(b)-2])
	if err != nil {
		return err
	}
	out := append(Shape{}, batch...)
	if !a1 {
		out = append(out, a[len(a)-2])
	}
	if !b1 {
		out = append(out, b[len(b)-1])
	}
	c.set(n, 0, dt, out)
	return nil
}

func (c *inferCtx) reshape(n *Node) error {
	x := c.shape(n, 0)
	dt := c.dtype(n, 0)
	target := c.in(n, 1)
	if target == nil || target.Value == nil {
		c.set(n, 0, dt, nil)
		return nil
	}
	allowZero := n.Int("allowzero", 0) == 1
	out := make(Shape, len(target.Value))
	infer := -1
	for i, d := range target.Value {
		switch {
		case d.Known() && d.Value == 0 && !allowZero:
			if x == nil || i >= len(x) {
				return fmt.Errorf("shape %v copies dim %d the input does not have", target.Value, i)
			}
			out[i] = x[i]
		case d.Known() && d.Value == -1:
			if infer >= 0 {
				return fmt.Errorf("shape %v has more than one -1", target.Value)
			}
			infer = i
		case d.Known() && d.Value < -1:
			return fmt.Errorf("shape %v has a negative size", target.Value)
		default:
			out[i] = d
		}
	}
	if infer >= 0 {
		out[infer] = Unknown
		if x != nil {
			total := prodDims(x)
			rest := Size(1)
			for i, d := range out {
				if i != infer {
					rest = mulDim(rest, d)
				}
			}
			out[infer] = divDim(total, rest)
		}
	}
	if x != nil {
		if a, b := prodDims(x), prodDims(out); a.Known() && b.Known() && a.Value != b.Value {
			return fmt.Errorf("cannot reshape %v (%d elements) to %v", x, a.Value, out)
		}
	}
	c.set(n, 0, dt, out)
	return nil
}

func divDim(a, b Dim) Dim {
	switch {
	case a.Known() && b.Known() && b.Value != 0:
		return Size(a.Value / b.Value)
	case b.Known() && b.Value == 1:
		return a
	}
	return Unknown
}

func (c *inferCtx) concat(n *Node) error {
	var out Shape
	dt := tensor.Undefined
	var values []Dim
	allValues := true
	for i := range n.Inputs {
		info := c.in(n, i)
		if info == nil || info.Shape == nil {
			c.set(n, 0, c.dtype(n, 0), nil)
			return nil
		}
		if dt == tensor.Undefined {
			dt = info.DType
		}
		if info.Value == nil {
			allValues = false
		} else {
			values = append(values, info.Value...)
		}
		if out == nil {
			out = append(Shape{}, info.Shape...)
			continue
		}
		if len(info.Shape) != len(out) {
			return fmt.Errorf("inputs have ranks %d and %d", len(out), len(info.Shape))
		}
		axis, err := normAxis(n.Int("axis", 0), len(out))
		if err != nil {
			return err
		}
		out[axis] = addDim(out[axis], info.Shape[axis])
	}
	res := c.set(n, 0, dt, out)
	if allValues && len(out) == 1 && len(values) <= maxValueElems {
		res.Value = values
	}
	return nil
}

func addDim(a, b Dim) Dim {
	if a.Known() && b.Known() {
		return Size(a.Value + b.Value)
	}
	return Unknown
}

func (c *inferCtx) split(n *Node) error {
	x := c.shape(n, 0)
	dt := c.dtype(n, 0)
	if x == nil {
		for i := range n.Outputs {
			c.set(n, i, dt, nil)
		}
		return nil
	}
	axis, err := normAxis(n.Int("axis", 0), len(x))
	if err != nil {
		return err
	}
	sizes := n.Ints("split", nil)
	if sizes == nil && len(n.Inputs) > 1 {
		sizes, _ = c.ints(n, 1)
	}
	k := len(n.Outputs)
	for i := 0; i < k; i++ {
		sh := append(Shape{}, x...)
		switch {
		case sizes != nil && len(sizes) == k:
			sh[axis] = Size(sizes[i])
		case x[axis].Known():
			per := (x[axis].Value + int64(k) - 1) / int64(k)
			last := x[axis].Value - per*int64(k-1)
			if i == k-1 {
				sh[axis] = Size(last)
			} else {
				sh[axis] = Size(per)
			}
		default:
			sh[axis] = Unknown
		}
		c.set(n, i, dt, sh)
	}
	return nil
}

func (c *inferCtx) slice(n *Node) error {
	x := c.shape(n, 0)
	dt := c.dtype(n, 0)
	var starts, ends, axes, steps []int64
	ok := true
	if c.opset < 10 {
		starts, ends, axes = n.Ints("starts", nil), n.Ints("ends", nil), n.Ints("axes", nil)
	} else {
		var ok1, ok2 bool
		starts, ok1 = c.ints(n, 1)
		ends, ok2 = c.ints(n, 2)
		ok = ok1 && ok2
		if n.Input(3) != "" {
			var ok3 bool
			axes, ok3 = c.ints(n, 3)
			ok = ok && ok3
		}
		if n.Input(4) != "" {
			var ok4 bool
			steps, ok4 = c.ints(n, 4)
			ok = ok && ok4
		}
	}
	if axes != nil && len(axes) != len(starts) || steps != nil && len(steps) != len(starts) {
		return fmt.Errorf("slice has %d starts, %d axes and %d steps", len(starts), len(axes), len(steps))
	}
	if x == nil || !ok || len(starts) != len(ends) {
		var out Shape
		if x != nil {
			out = make(Shape, len(x))
			for i := range out {
				out[i] = Unknown
			}
		}
		c.set(n, 0, dt, out)
		return nil
	}
	out := append(Shape{}, x...)
	for i := range starts {
		ax := int64(i)
		if axes != nil {
			ax = axes[i]
		}
		a, err := normAxis(ax, len(x))
		if err != nil {
			return err
		}
		step := int64(1)
		if steps != nil {
			step = steps[i]
		}
		if step == 0 {
			return fmt.Errorf("slice step is 0")
		}
		if !x[a].Known() {
			out[a] = Unknown
			continue
		}
		out[a] = Size(sliceLen(starts[i], ends[i], step, x[a].Value))
	}
	res := c.set(n, 0, dt, out)
	if in := c.in(n, 0); in != nil && in.Value != nil && len(x) == 1 && len(starts) == 1 {
		step := int64(1)
		if steps != nil {
			step = steps[0]
		}
		if step == 1 {
			lo, hi := clampRange(starts[0], ends[0], len(in.Value))
			res.Value = append([]Dim(nil), in.Value[lo:hi]...)
		}
	}
	return nil
}

// sliceLen is the number of elements ONNX Slice selects from a dim.
func sliceLen(start, end, step, dim int64) int64 {
	clamp := func(v int64, lo, hi int64) int64 { return max(lo, min(v, hi)) }
	if start < 0 {
		start += dim
	}
	if end < 0 {
		end += dim
	}
	if step > 0 {
		start, end = clamp(start, 0, dim), clamp(end, 0, dim)
		if end <= start {
			return 0
		}
		return (end - start + step - 1) / step
	}
	start, end = clamp(start, 0, dim-1), clamp(end, -1, dim-1)
	if start <= end {
		return 0
	}
	return (start - end - step - 1) / -step
}

func (c *inferCtx) squeeze(n *Node) error {
	x := c.shape(n, 0)
	dt := c.dtype(n, 0)
	axes := n.Ints("axes", nil)
	if axes == nil && n.Input(1) != "" {
		var ok bool
		if axes, ok = c.ints(n, 1); !ok {
			c.set(n, 0, dt, nil)
			return nil
		}
	}
	in := c.in(n, 0)
	if x == nil {
		c.set(n, 0, dt, nil)
		return nil
	}
	if n.OpType == "Squeeze" {
		drop := map[int]bool{}
		if axes == nil {
			for i, d := range x {
				if d.Known() && d.Value == 1 {
					drop[i] = true
				}
			}
		}
		for _, a := range axes {
			ax, err := normAxis(a, len(x))
			if err != nil {
				return err
			}
			drop[ax] = true
		}
		var out Shape = Shape{}
		for i, d := range x {
			if !drop[i] {
				out = append(out, d)
			}
		}
		res := c.set(n, 0, dt, out)
		if in.Value != nil {
			res.Value = in.Value
		}
		return nil
	}
	r := len(x) + len(axes)
	ins := map[int]bool{}
	for _, a := range axes {
		ax, err := normAxis(a, r)
		if err != nil {
			return err
		}
		ins[ax] = true
	}
	out := make(Shape, 0, r)
	j := 0
	for i := 0; i < r; i++ {
		if ins[i] {
			out = append(out, Size(1))
		} else if j < len(x) {
			out = append(out, x[j])
			j++
		}
	}
	res := c.set(n, 0, dt, out)
	if in.Value != nil {
		res.Value = in.Value
	}
	return nil
}

func (c *inferCtx) gather(n *Node) error {
	x := c.shape(n, 0)
	idx := c.shape(n, 1)
	dt := c.dtype(n, 0)
	if x == nil || idx == nil {
		c.set(n, 0, dt, nil)
		return nil
	}
	axis, err := normAxis(n.Int("axis", 0), len(x))
	if err != nil {
		return err
	}
	out := append(Shape{}, x[:axis]...)
	out = append(out, idx...)
	out = append(out, x[axis+1:]...)
	res := c.set(n, 0, dt, out)
	if in := c.in(n, 0); in != nil && in.Value != nil && len(x) == 1 {
		if ix, ok := c.ints(n, 1); ok {
			vals := make([]Dim, len(ix))
			for i, k := range ix {
				if k < 0 {
					k += int64(len(in.Value))
				}
				if k < 0 || k >= int64(len(in.Value)) {
					return fmt.Errorf("index %d out of range for %d elements", ix[i], len(in.Value))
				}
				vals[i] = in.Value[k]
			}
			res.Value = vals
		}
	}
	return nil
}

func (c *inferCtx) reduce(n *Node) error {
	x := c.shape(n, 0)
	dt := c.dtype(n, 0)
	if n.OpType == "ArgMax" || n.OpType == "ArgMin" {
		dt = tensor.Int64
	}
	if x == nil {
		c.set(n, 0, dt, nil)
		return nil
	}
	keep := n.Int("keepdims", 1) == 1
	var axes []int64
	if n.OpType == "ArgMax" || n.OpType == "ArgMin" {
		axes = []int64{n.Int("axis", 0)}
	} else if a := n.Attr("axes"); a != nil {
		axes = a.Ints
	} else if n.Input(1) != "" {
		var ok bool
		if axes, ok = c.ints(n, 1); !ok {
			c.set(n, 0, dt, nil)
			return nil
		}
	}
	red := map[int]bool{}
	if len(axes) == 0 {
		if n.Int("noop_with_empty_axes", 0) == 1 {
			c.set(n, 0, dt, x)
			return nil
		}
		for i := range x {
			red[i] = true
		}
	}
	for _, a := range axes {
		ax, err := normAxis(a, len(x))
		if err != nil {
			return err
		}
		red[ax] = true
	}
	out := Shape{}
	for i, d := range x {
		switch {
		case !red[i]:
			out = append(out, d)
		case keep:
			out = append(out, Size(1))
		}
	}
	c.set(n, 0, dt, out)
	return nil
}

func (c *inferCtx) pad(n *Node) error {
	x := c.shape(n, 0)
	dt := c.dtype(n, 0)
	pads := n.Ints("pads", nil)
	if pads == nil {
		var ok bool
		if pads, ok = c.ints(n, 1); !ok || n.Input(3) != "" {
			c.set(n, 0, dt, nil)
			return nil
		}
	}
	if x == nil || len(pads) != 2*len(x) {
		c.set(n, 0, dt, nil)
		return nil
	}
	out := make(Shape, len(x))
	for i, d := range x {
		out[i] = addDim(d, Size(pads[i]+pads[i+len(x)]))
	}
	c.set(n, 0, dt, out)
	return nil
}

func (c *inferCtx) resize(n *Node) error {
	x := c.shape(n, 0)
	dt := c.dtype(n, 0)
	if x == nil {
		c.set(n, 0, dt, nil)
		return nil
	}
	if sizes, ok := c.ints(n, 3); ok && len(sizes) == len(x) {
		c.set(n, 0, dt, ShapeOf(intsToInt(sizes)...))
		return nil
	}
	out := make(Shape, len(x))
	for i := range out {
		out[i] = Unknown
	}
	c.set(n, 0, dt, out)
	return nil
}

func intsToInt(v []int64) []int {
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out
}
