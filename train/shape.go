package train

import (
	"fmt"
	"math"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/tensor"
)

func init() {
	for _, name := range []string{"Reshape", "Flatten", "Squeeze", "Unsqueeze"} {
		register(name, newView)
	}
	register("Transpose", newIndexMap)
	register("Slice", newIndexMap)
	register("Gather", newIndexMap)
	register("Concat", func(n *graph.Node, _ int64) (op, error) { return &concatOp{axis: int(n.Int("axis", 0))}, nil })
	register("Split", newSplit)
	register("Shape", func(n *graph.Node, _ int64) (op, error) {
		return &shapeOp{start: int(n.Int("start", 0)), end: int(n.Int("end", math.MaxInt32))}, nil
	})
	register("Size", func(n *graph.Node, _ int64) (op, error) { return &shapeOp{size: true}, nil })
	register("Constant", newConstant)
	register("ConstantOfShape", newConstant)
	register("Cast", func(*graph.Node, int64) (op, error) { return &castOp{}, nil })
}

// viewOp changes only the shape: Reshape, Flatten, Squeeze, Unsqueeze.
type viewOp struct {
	kind     string
	axis     int   // Flatten
	axes     []int // Squeeze/Unsqueeze attribute (opset < 13)
	allowZ   bool
	axesAttr bool
}

func newView(n *graph.Node, opset int64) (op, error) {
	o := &viewOp{kind: n.OpType, axis: int(n.Int("axis", 1)), allowZ: n.Int("allowzero", 0) != 0}
	if a := n.Attr("axes"); a != nil {
		o.axes, o.axesAttr = intsAttr(n, "axes", nil), true
	}
	return o, nil
}

func (o *viewOp) plan(in, out []*value) error {
	x := in[0]
	s := x.shape
	var shape []int
	switch o.kind {
	case "Reshape":
		want, err := fixedInts(in[1])
		if err != nil {
			return err
		}
		shape = make([]int, len(want))
		infer := -1
		known := 1
		for i, d := range want {
			switch {
			case d == -1:
				if infer >= 0 {
					return fmt.Errorf("Reshape %v: two -1 dims", want)
				}
				infer = i
				continue
			case d == 0 && !o.allowZ:
				if i >= len(s) {
					return fmt.Errorf("Reshape %v of %v: 0 beyond the input rank", want, s)
				}
				shape[i] = s[i]
			case d < 0:
				return fmt.Errorf("Reshape to %v", want)
			default:
				shape[i] = int(d)
			}
			known *= shape[i]
		}
		if infer >= 0 {
			if known == 0 || x.numel()%known != 0 {
				return fmt.Errorf("Reshape %v to %v", s, want)
			}
			shape[infer] = x.numel() / known
		}
	case "Flatten":
		ax := o.axis
		if ax < 0 {
			ax += len(s)
		}
		if ax < 0 || ax > len(s) {
			return fmt.Errorf("Flatten axis %d of rank %d", o.axis, len(s))
		}
		shape = []int{tensorProd(s[:ax]), tensorProd(s[ax:])}
	case "Squeeze", "Unsqueeze":
		axes := o.axes
		if !o.axesAttr && len(in) > 1 && in[1] != nil {
			a, err := fixedInts(in[1])
			if err != nil {
				return err
			}
			axes = make([]int, len(a))
			for i, v := range a {
				axes[i] = int(v)
			}
		}
		if o.kind == "Squeeze" {
			drop := make([]bool, len(s))
			for _, a := range axes {
				a, err := normAxis(a, len(s))
				if err != nil {
					return err
				}
				if s[a] != 1 {
					return fmt.Errorf("Squeeze axis %d of %v", a, s)
				}
				drop[a] = true
			}
			for i, d := range s {
				if (axes == nil && d != 1) || (axes != nil && !drop[i]) {
					shape = append(shape, d)
				}
			}
		} else {
			r := len(s) + len(axes)
			ins := make([]bool, r)
			for _, a := range axes {
				a, err := normAxis(a, r)
				if err != nil {
					return err
				}
				ins[a] = true
			}
			j := 0
			for i := 0; i < r; i++ {
				if ins[i] {
					shape = append(shape, 1)
				} else if j < len(s) {
					shape = append(shape, s[j])
					j++
				}
			}
			if j != len(s) || len(shape) != r {
				return fmt.Errorf("Unsqueeze %v axes %v", s, axes)
			}
		}
	}
	if tensorProd(shape) != x.numel() {
		return fmt.Errorf("%s of %v to %v changes the size", o.kind, s, shape)
	}
	setShape(out[0], shape...)
	return nil
}

func (o *viewOp) forward(_ *Program, in, out []*value, _ bool) {
	if in[0].isFloat() {
		copy(out[0].data, in[0].data)
	} else {
		copy(out[0].ints, in[0].ints)
	}
}

func (o *viewOp) backward(_ *Program, in, out []*value) {
	if dx := in[0].grad; dx != nil {
		addTo(dx, out[0].grad)
	}
}

func addTo(dst, src []float32) {
	for i, v := range src {
		dst[i] += v
	}
}

// indexMapOp is an op whose every output element is one input element:
// out[i] = in[idx[i]] (Transpose, Slice, Gather with constant indices).
// The map is built at plan time.
type indexMapOp struct {
	kind string
	perm []int
	axis int
	// Slice attributes for opset < 10
	starts, ends, axes []int
	attrSlice          bool
	idx                []int32
}

func newIndexMap(n *graph.Node, opset int64) (op, error) {
	o := &indexMapOp{kind: n.OpType, perm: intsAttr(n, "perm", nil), axis: int(n.Int("axis", 0))}
	if n.OpType == "Slice" && opset < 10 {
		o.attrSlice = true
		o.starts, o.ends, o.axes = intsAttr(n, "starts", nil), intsAttr(n, "ends", nil), intsAttr(n, "axes", nil)
	}
	return o, nil
}

func (o *indexMapOp) plan(in, out []*value) error {
	s := in[0].shape
	st := tensor.Strides(s)
	var shape []int
	switch o.kind {
	case "Transpose":
		perm := o.perm
		if perm == nil {
			for i := len(s) - 1; i >= 0; i-- {
				perm = append(perm, i)
			}
		}
		if len(perm) != len(s) {
			return fmt.Errorf("Transpose perm %v for rank %d", perm, len(s))
		}
		shape = make([]int, len(s))
		strides := make([]int, len(s))
		for i, p := range perm {
			if p < 0 || p >= len(s) {
				return fmt.Errorf("Transpose perm %v", perm)
			}
			shape[i], strides[i] = s[p], st[p]
		}
		o.build(shape, func(ix []int) int {
			off := 0
			for i, v := range ix {
				off += v * strides[i]
			}
			return off
		})
	case "Slice":
		var starts, ends, axes, steps []int64
		if o.attrSlice {
			starts, ends, axes = toI64(o.starts), toI64(o.ends), toI64(o.axes)
		} else {
			var err error
			get := func(i int) []int64 {
				if err != nil || i >= len(in) || in[i] == nil {
					return nil
				}
				var v []int64
				v, err = fixedInts(in[i])
				return v
			}
			starts, ends, axes, steps = get(1), get(2), get(3), get(4)
			if err != nil {
				return err
			}
		}
		if len(ends) != len(starts) || axes != nil && len(axes) != len(starts) || steps != nil && len(steps) != len(starts) {
			return fmt.Errorf("Slice starts %v ends %v axes %v steps %v", starts, ends, axes, steps)
		}
		begin := make([]int, len(s))
		step := make([]int, len(s))
		shape = append([]int(nil), s...)
		for i := range s {
			step[i] = 1
		}
		for i := range starts {
			ax := i
			if axes != nil {
				ax = int(axes[i])
			}
			ax, err := normAxis(ax, len(s))
			if err != nil {
				return err
			}
			stp := int64(1)
			if steps != nil {
				stp = steps[i]
			}
			if stp == 0 {
				return fmt.Errorf("Slice step 0")
			}
			d := int64(s[ax])
			clampIdx := func(v int64, lo, hi int64) int64 {
				if v < 0 {
					v += d
				}
				return min(max(v, lo), hi)
			}
			var b, e int64
			if stp > 0 {
				b, e = clampIdx(starts[i], 0, d), clampIdx(ends[i], 0, d)
			} else {
				b, e = clampIdx(starts[i], 0, d-1), clampIdx(ends[i], -1, d-1)
				if ends[i] < -d { // "to the beginning"
					e = -1
				}
			}
			n := int64(0)
			if stp > 0 && e > b {
				n = (e - b + stp - 1) / stp
			} else if stp < 0 && b > e {
				n = (b - e - stp - 1) / -stp
			}
			begin[ax], step[ax], shape[ax] = int(b), int(stp), int(n)
		}
		o.build(shape, func(ix []int) int {
			off := 0
			for i, v := range ix {
				off += (begin[i] + v*step[i]) * st[i]
			}
			return off
		})
	case "Gather":
		ind, err := fixedInts(in[1])
		if err != nil {
			return err
		}
		ax, err := normAxis(o.axis, len(s))
		if err != nil {
			return err
		}
		is := in[1].shape
		shape = append(append(append([]int(nil), s[:ax]...), is...), s[ax+1:]...)
		o.build(shape, func(ix []int) int {
			off := 0
			for i := 0; i < ax; i++ {
				off += ix[i] * st[i]
			}
			flat := 0
			for i := range is {
				flat = flat*is[i] + ix[ax+i]
			}
			k := int(ind[flat])
			if k < 0 {
				k += s[ax]
			}
			off += k * st[ax]
			for i := ax + 1; i < len(s); i++ {
				off += ix[i+len(is)-1] * st[i]
			}
			return off
		})
		for _, k := range ind {
			if k < -int64(s[ax]) || k >= int64(s[ax]) {
				return fmt.Errorf("Gather index %d out of range for dim %d", k, s[ax])
			}
		}
	}
	setShape(out[0], shape...)
	return nil
}

func toI64(s []int) []int64 {
	if s == nil {
		return nil
	}
	out := make([]int64, len(s))
	for i, v := range s {
		out[i] = int64(v)
	}
	return out
}

// build fills idx with off(multi-index) for every element of shape.
func (o *indexMapOp) build(shape []int, off func(ix []int) int) {
	n := tensorProd(shape)
	if cap(o.idx) < n {
		o.idx = make([]int32, n)
	}
	o.idx = o.idx[:n]
	ix := make([]int, len(shape))
	for i := 0; i < n; i++ {
		o.idx[i] = int32(off(ix))
		for d := len(ix) - 1; d >= 0; d-- {
			ix[d]++
			if ix[d] < shape[d] {
				break
			}
			ix[d] = 0
		}
	}
}

func (o *indexMapOp) forward(_ *Program, in, out []*value, _ bool) {
	if in[0].isFloat() {
		x, y := in[0].data, out[0].data
		for i, j := range o.idx {
			y[i] = x[j]
		}
		return
	}
	x, y := in[0].ints, out[0].ints
	for i, j := range o.idx {
		y[i] = x[j]
	}
}

func (o *indexMapOp) backward(_ *Program, in, out []*value) {
	dx, dy := in[0].grad, out[0].grad
	if dx == nil {
		return
	}
	for i, j := range o.idx {
		dx[j] += dy[i]
	}
}

// concatOp concatenates along axis.
type concatOp struct {
	axis  int
	outer int
	inner []int // per input: elements per outer index
}

func (o *concatOp) plan(in, out []*value) error {
	s0 := in[0].shape
	ax, err := normAxis(o.axis, len(s0))
	if err != nil {
		return err
	}
	shape := append([]int(nil), s0...)
	shape[ax] = 0
	o.inner = o.inner[:0]
	for _, v := range in {
		if len(v.shape) != len(s0) {
			return fmt.Errorf("Concat of %v and %v", s0, v.shape)
		}
		for i := range s0 {
			if i != ax && v.shape[i] != s0[i] {
				return fmt.Errorf("Concat of %v and %v on axis %d", s0, v.shape, ax)
			}
		}
		if v.isFloat() != in[0].isFloat() {
			return fmt.Errorf("Concat of mixed types: %w", ErrUnsupported)
		}
		shape[ax] += v.shape[ax]
		o.inner = append(o.inner, tensorProd(v.shape[ax:]))
	}
	o.outer = tensorProd(s0[:ax])
	setShape(out[0], shape...)
	return nil
}

func (o *concatOp) forward(_ *Program, in, out []*value, _ bool) {
	float := in[0].isFloat()
	off := 0
	for r := 0; r < o.outer; r++ {
		for i, v := range in {
			n := o.inner[i]
			if float {
				copy(out[0].data[off:off+n], v.data[r*n:(r+1)*n])
			} else {
				copy(out[0].ints[off:off+n], v.ints[r*n:(r+1)*n])
			}
			off += n
		}
	}
}

func (o *concatOp) backward(_ *Program, in, out []*value) {
	dy := out[0].grad
	off := 0
	for r := 0; r < o.outer; r++ {
		for i, v := range in {
			n := o.inner[i]
			if v.grad != nil {
				addTo(v.grad[r*n:(r+1)*n], dy[off:off+n])
			}
			off += n
		}
	}
}

// splitOp splits along axis.
type splitOp struct {
	axis     int
	split    []int
	numOut   int
	outer    int
	inner    []int
	rowWidth int
}

func newSplit(n *graph.Node, _ int64) (op, error) {
	return &splitOp{axis: int(n.Int("axis", 0)), split: intsAttr(n, "split", nil), numOut: len(n.Outputs)}, nil
}

func (o *splitOp) plan(in, out []*value) error {
	s := in[0].shape
	ax, err := normAxis(o.axis, len(s))
	if err != nil {
		return err
	}
	sizes := o.split
	if len(in) > 1 && in[1] != nil {
		v, err := fixedInts(in[1])
		if err != nil {
			return err
		}
		sizes = make([]int, len(v))
		for i, x := range v {
			sizes[i] = int(x)
		}
	}
	if sizes == nil {
		k := (s[ax] + o.numOut - 1) / o.numOut
		rest := s[ax]
		for i := 0; i < o.numOut; i++ {
			sizes = append(sizes, min(k, rest))
			rest -= min(k, rest)
		}
	}
	total := 0
	for _, v := range sizes {
		total += v
	}
	if len(sizes) != len(out) || total != s[ax] {
		return fmt.Errorf("Split of %v on axis %d into %v", s, ax, sizes)
	}
	o.outer = tensorProd(s[:ax])
	after := tensorProd(s[ax+1:])
	o.inner = o.inner[:0]
	for i, v := range out {
		o.inner = append(o.inner, sizes[i]*after)
		if v == nil {
			continue
		}
		sh := append([]int(nil), s...)
		sh[ax] = sizes[i]
		setShape(v, sh...)
	}
	o.rowWidth = s[ax] * after
	return nil
}

func (o *splitOp) forward(_ *Program, in, out []*value, _ bool) {
	off := 0
	for r := 0; r < o.outer; r++ {
		for i, v := range out {
			n := o.inner[i]
			if v != nil {
				if in[0].isFloat() {
					copy(v.data[r*n:(r+1)*n], in[0].data[off:off+n])
				} else {
					copy(v.ints[r*n:(r+1)*n], in[0].ints[off:off+n])
				}
			}
			off += n
		}
	}
}

func (o *splitOp) backward(_ *Program, in, out []*value) {
	dx := in[0].grad
	if dx == nil {
		return
	}
	off := 0
	for r := 0; r < o.outer; r++ {
		for i, v := range out {
			n := o.inner[i]
			if v != nil && v.grad != nil {
				addTo(dx[off:off+n], v.grad[r*n:(r+1)*n])
			}
			off += n
		}
	}
}

// shapeOp is Shape (with start/end) or Size, evaluated at plan time.
type shapeOp struct {
	start, end int
	size       bool
}

func (o *shapeOp) plan(in, out []*value) error {
	if o.size {
		setShape(out[0])
		return nil
	}
	r := len(in[0].shape)
	a, b := o.start, o.end
	if a < 0 {
		a += r
	}
	if b < 0 {
		b += r
	}
	a, b = min(max(a, 0), r), min(max(b, 0), r)
	setShape(out[0], max(0, b-a))
	o.start, o.end = a, b
	return nil
}

func (o *shapeOp) forward(_ *Program, in, out []*value, _ bool) {
	if o.size {
		out[0].ints[0] = int64(in[0].numel())
		return
	}
	for i, d := range in[0].shape[o.start:o.end] {
		out[0].ints[i] = int64(d)
	}
}

func (o *shapeOp) backward(*Program, []*value, []*value) {}

// constOp is Constant or ConstantOfShape.
type constOp struct {
	t     *tensor.Tensor
	ofShp bool
	ints  []int64
}

func newConstant(n *graph.Node, _ int64) (op, error) {
	o := &constOp{ofShp: n.OpType == "ConstantOfShape"}
	t, err := n.Tensor("value")
	if err != nil {
		return nil, err
	}
	switch {
	case t != nil:
	case n.Attr("value_float") != nil:
		t = tensor.FromFloat32([]float32{n.Float("value_float", 0)})
	case n.Attr("value_floats") != nil:
		f := n.Floats("value_floats", nil)
		t = tensor.FromFloat32(append([]float32(nil), f...), len(f))
	case n.Attr("value_int") != nil:
		t = tensor.FromInt64([]int64{n.Int("value_int", 0)})
	case n.Attr("value_ints") != nil:
		v := n.Ints("value_ints", nil)
		t = tensor.FromInt64(append([]int64(nil), v...), len(v))
	case o.ofShp:
		t = tensor.FromFloat32([]float32{0}, 1)
	default:
		return nil, fmt.Errorf("Constant without a supported value attribute: %w", ErrUnsupported)
	}
	if t.DType != tensor.Float {
		ints, err := asInts(t)
		if err != nil {
			return nil, err
		}
		o.ints = ints
	}
	o.t = t
	return o, nil
}

func (o *constOp) plan(in, out []*value) error {
	if !o.ofShp {
		setShape(out[0], o.t.Shape...)
		return nil
	}
	s, err := fixedInts(in[0])
	if err != nil {
		return err
	}
	shape := make([]int, len(s))
	for i, d := range s {
		shape[i] = int(d)
	}
	setShape(out[0], shape...)
	return nil
}

func (o *constOp) forward(_ *Program, in, out []*value, _ bool) {
	v := out[0]
	if !o.ofShp {
		if v.isFloat() {
			copy(v.data, o.t.F32)
		} else {
			copy(v.ints, o.ints)
		}
		return
	}
	if v.isFloat() {
		for i := range v.data {
			v.data[i] = o.t.F32[0]
		}
	} else {
		for i := range v.ints {
			v.ints[i] = o.ints[0]
		}
	}
}

func (o *constOp) backward(*Program, []*value, []*value) {}

// castOp converts between float32 and the integer types (no gradient
// through a cast to integers).
type castOp struct{}

func (castOp) plan(in, out []*value) error {
	if out[0].dtype == tensor.Double || out[0].dtype == tensor.Float16 || out[0].dtype == tensor.BFloat16 {
		return fmt.Errorf("Cast to %v: %w", out[0].dtype, ErrUnsupported)
	}
	setShape(out[0], in[0].shape...)
	return nil
}

func (castOp) forward(_ *Program, in, out []*value, _ bool) {
	x, y := in[0], out[0]
	switch {
	case x.isFloat() && y.isFloat():
		copy(y.data, x.data)
	case x.isFloat():
		for i, v := range x.data {
			y.ints[i] = int64(v)
			if y.dtype == tensor.Bool && v != 0 {
				y.ints[i] = 1
			}
		}
	case y.isFloat():
		for i, v := range x.ints {
			y.data[i] = float32(v)
		}
	default:
		copy(y.ints, x.ints)
		if y.dtype == tensor.Bool {
			for i, v := range y.ints {
				if v != 0 {
					y.ints[i] = 1
				}
			}
		}
	}
}

func (castOp) backward(_ *Program, in, out []*value) {
	if in[0].grad != nil && out[0].grad != nil {
		addTo(in[0].grad, out[0].grad)
	}
}
