package runtime

import (
	"fmt"
	"unsafe"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/tensor"
)

// Data movement ops, for any element type: Transpose, Slice, Expand, Tile
// and Pad go through one gather kernel driven by per-dimension offset maps;
// Concat, Split, Gather and Where have their own loops.

// gatherPlan maps each output element to a source element: out[i₀,…,iₖ]
// = src[Σ maps[d][i_d]], or the fill value when any maps[d][i_d] is -1.
type gatherPlan struct {
	shape  []int
	maps   [][]int
	contig bool // the last map is m₀, m₀+1, … with no -1: copy runs
}

func newGatherPlan(shape []int, maps [][]int) *gatherPlan {
	p := &gatherPlan{shape: shape, maps: maps}
	if r := len(shape); r > 0 {
		last := maps[r-1]
		p.contig = true
		for i, m := range last {
			if m < 0 || m != last[0]+i {
				p.contig = false
				break
			}
		}
	}
	return p
}

func (p *gatherPlan) run(e *env, dst, src, fill *tensor.Tensor) {
	switch dst.DType.Size() {
	case 1:
		gatherRun(e, p, view[uint8](dst), view[uint8](src), fillOf[uint8](fill))
	case 2:
		gatherRun(e, p, view[uint16](dst), view[uint16](src), fillOf[uint16](fill))
	case 4:
		gatherRun(e, p, view[uint32](dst), view[uint32](src), fillOf[uint32](fill))
	case 8:
		gatherRun(e, p, view[uint64](dst), view[uint64](src), fillOf[uint64](fill))
	}
}

func fillOf[T any](t *tensor.Tensor) T {
	var z T
	if t == nil {
		return z
	}
	if v := view[T](t); len(v) > 0 {
		return v[0]
	}
	return z
}

func gatherRun[T any](e *env, p *gatherPlan, dst, src []T, fill T) {
	r := len(p.shape)
	if r == 0 {
		dst[0] = src[0]
		return
	}
	n := p.shape[r-1]
	outer := tensor.Prod(p.shape[:r-1])
	if n == 0 || outer == 0 {
		return
	}
	forRange(e, outer, outer*n, gatherJob[T]{p, dst, src, fill})
}

type gatherJob[T any] struct {
	p        *gatherPlan
	dst, src []T
	fill     T
}

// chunk fills output rows [lo, hi) (rows along the last dim).
func (j gatherJob[T]) chunk(_, lo, hi int) {
	p, dst, src, fill := j.p, j.dst, j.src, j.fill
	r := len(p.shape)
	n := p.shape[r-1]
	last := p.maps[r-1]
	var idx [maxRank]int
	rem := lo
	for d := r - 2; d >= 0; d-- {
		idx[d] = rem % p.shape[d]
		rem /= p.shape[d]
	}
	for it := lo; it < hi; it++ {
		off, pad := 0, false
		for d := 0; d < r-1; d++ {
			m := p.maps[d][idx[d]]
			if m < 0 {
				pad = true
				break
			}
			off += m
		}
		dd := dst[it*n : it*n+n]
		switch {
		case pad:
			for i := range dd {
				dd[i] = fill
			}
		case p.contig:
			copy(dd, src[off+last[0]:off+last[0]+n])
		default:
			for i, m := range last {
				if m < 0 {
					dd[i] = fill
				} else {
					dd[i] = src[off+m]
				}
			}
		}
		for d := r - 2; d >= 0; d-- {
			idx[d]++
			if idx[d] < p.shape[d] {
				break
			}
			idx[d] = 0
		}
	}
}

func init() {
	register("", "Transpose", 1, 99, func(n *graph.Node, opset int64) (op, error) {
		return &transposeOp{perm: n.Ints("perm", nil)}, nil
	})
	register("", "Slice", 1, 9, func(n *graph.Node, opset int64) (op, error) {
		return &sliceOp{attrs: true, starts: n.Ints("starts", nil), ends: n.Ints("ends", nil), axes: n.Ints("axes", nil)}, nil
	})
	register("", "Slice", 10, 99, func(n *graph.Node, opset int64) (op, error) { return &sliceOp{}, nil })
	register("", "Expand", 8, 99, func(n *graph.Node, opset int64) (op, error) { return expandOp{}, nil })
	register("", "Tile", 6, 99, func(n *graph.Node, opset int64) (op, error) { return tileOp{}, nil })
	register("", "Pad", 2, 10, func(n *graph.Node, opset int64) (op, error) {
		return &padOp{attrs: true, mode: n.Str("mode", "constant"), pads: n.Ints("pads", nil), value: n.Float("value", 0)}, nil
	})
	register("", "Pad", 11, 99, func(n *graph.Node, opset int64) (op, error) {
		return &padOp{mode: n.Str("mode", "constant")}, nil
	})
}

type transposeOp struct{ perm []int64 }

func (o *transposeOp) prepare(c *pctx) (runFunc, error) {
	x := c.input(0)
	r := len(x.shape)
	perm := make([]int, r)
	if o.perm == nil {
		for i := range perm {
			perm[i] = r - 1 - i
		}
	} else {
		if len(o.perm) != r {
			return nil, fmt.Errorf("perm %v for rank %d", o.perm, r)
		}
		seen := make([]bool, r)
		for i, p := range o.perm {
			if p < 0 || int(p) >= r || seen[p] {
				return nil, fmt.Errorf("perm %v is not a permutation", o.perm)
			}
			seen[p] = true
			perm[i] = int(p)
		}
	}
	strides := tensor.Strides(x.shape)
	shape := make([]int, r)
	maps := make([][]int, r)
	for i, p := range perm {
		shape[i] = x.shape[p]
		maps[i] = make([]int, shape[i])
		for j := range maps[i] {
			maps[i][j] = j * strides[p]
		}
	}
	c.set(0, x.dtype, shape)
	if r > 0 {
		// Keeping the order of non-unit dims is a reshape.
		prev, moves := -1, false
		for _, p := range perm {
			if x.shape[p] == 1 {
				continue
			}
			if p < prev {
				moves = true
			}
			prev = p
		}
		if !moves {
			c.alias = true
			return copyRun, nil
		}
	}
	gp := newGatherPlan(shape, maps)
	if r == 2 && x.dtype.Size() == 4 {
		rows, cols := x.shape[0], x.shape[1]
		return func(e *env, in, out []*tensor.Tensor) error {
			transpose2D(view[uint32](out[0]), view[uint32](in[0]), rows, cols)
			return nil
		}, nil
	}
	return func(e *env, in, out []*tensor.Tensor) error {
		gp.run(e, out[0], in[0], nil)
		return nil
	}, nil
}

// transpose2D writes the cols×rows transpose of the rows×cols src, in
// cache-friendly blocks.
func transpose2D[T any](dst, src []T, rows, cols int) {
	const b = 32
	for i0 := 0; i0 < rows; i0 += b {
		for j0 := 0; j0 < cols; j0 += b {
			for i := i0; i < min(i0+b, rows); i++ {
				for j := j0; j < min(j0+b, cols); j++ {
					dst[j*rows+i] = src[i*cols+j]
				}
			}
		}
	}
}

type sliceOp struct {
	attrs              bool
	starts, ends, axes []int64
}

func (o *sliceOp) shapeInputs() []int {
	if o.attrs {
		return nil
	}
	return []int{1, 2, 3, 4}
}

func (o *sliceOp) prepare(c *pctx) (runFunc, error) {
	x := c.input(0)
	starts, ends, axes := o.starts, o.ends, o.axes
	var steps []int64
	if !o.attrs {
		get := func(i int, what string) ([]int64, error) {
			t, err := c.konst(i, what)
			if err != nil || t == nil {
				return nil, err
			}
			return ints64(t)
		}
		var err error
		if starts, err = get(1, "starts"); err != nil {
			return nil, err
		}
		if ends, err = get(2, "ends"); err != nil {
			return nil, err
		}
		if axes, err = get(3, "axes"); err != nil {
			return nil, err
		}
		if steps, err = get(4, "steps"); err != nil {
			return nil, err
		}
	}
	if len(starts) != len(ends) || (axes != nil && len(axes) != len(starts)) || (steps != nil && len(steps) != len(starts)) {
		return nil, fmt.Errorf("starts, ends, axes and steps differ in length")
	}
	r := len(x.shape)
	begin := make([]int, r)
	step := make([]int, r)
	shape := cloneInts(x.shape)
	for i := range step {
		step[i] = 1
	}
	seen := make([]bool, r)
	for i := range starts {
		ax := i
		if axes != nil {
			a, err := normAxis(axes[i], r)
			if err != nil {
				return nil, err
			}
			ax = a
		}
		if seen[ax] {
			return nil, fmt.Errorf("axis %d repeated", ax)
		}
		seen[ax] = true
		st := int64(1)
		if steps != nil {
			st = steps[i]
		}
		if st == 0 {
			return nil, fmt.Errorf("step is zero")
		}
		dim := int64(x.shape[ax])
		s, e := starts[i], ends[i]
		if s < 0 {
			s += dim
		}
		if e < 0 {
			e += dim
		}
		var n int64
		if st > 0 {
			s, e = min(max(s, 0), dim), min(max(e, 0), dim)
			if e > s {
				n = (e - s + st - 1) / st
			}
		} else {
			s, e = min(max(s, -1), dim-1), min(max(e, -1), dim-1)
			if s > e {
				n = (s - e - st - 1) / -st
			}
		}
		begin[ax], step[ax], shape[ax] = int(s), int(st), int(n)
	}
	c.set(0, x.dtype, shape)
	strides := tensor.Strides(x.shape)
	maps := make([][]int, r)
	for d := range maps {
		maps[d] = make([]int, shape[d])
		for j := range maps[d] {
			maps[d][j] = (begin[d] + j*step[d]) * strides[d]
		}
	}
	gp := newGatherPlan(shape, maps)
	return func(e *env, in, out []*tensor.Tensor) error {
		gp.run(e, out[0], in[0], nil)
		return nil
	}, nil
}

// broadcastMaps returns gather maps reading src (of shape s) broadcast to
// the output shape.
func broadcastMaps(s, shape []int) [][]int {
	st := bcastStrides(s, shape)
	maps := make([][]int, len(shape))
	for d := range maps {
		maps[d] = make([]int, shape[d])
		for j := range maps[d] {
			maps[d][j] = j * st[d]
		}
	}
	return maps
}

type expandOp struct{}

func (expandOp) shapeInputs() []int { return []int{1} }

func (expandOp) prepare(c *pctx) (runFunc, error) {
	x := c.input(0)
	st, err := c.konst(1, "shape")
	if err != nil {
		return nil, err
	}
	spec, err := ints64(st)
	if err != nil {
		return nil, err
	}
	target := make([]int, len(spec))
	for i, d := range spec {
		target[i] = int(d)
	}
	shape, err := broadcastShape(x.shape, target)
	if err != nil {
		return nil, err
	}
	c.set(0, x.dtype, shape)
	if tensor.Prod(shape) == x.numel() {
		c.alias = true
		return copyRun, nil
	}
	gp := newGatherPlan(shape, broadcastMaps(x.shape, shape))
	return func(e *env, in, out []*tensor.Tensor) error {
		gp.run(e, out[0], in[0], nil)
		return nil
	}, nil
}

type tileOp struct{}

func (tileOp) shapeInputs() []int { return []int{1} }

func (tileOp) prepare(c *pctx) (runFunc, error) {
	x := c.input(0)
	rt, err := c.konst(1, "repeats")
	if err != nil {
		return nil, err
	}
	reps, err := ints64(rt)
	if err != nil {
		return nil, err
	}
	if len(reps) != len(x.shape) {
		return nil, fmt.Errorf("%d repeats for rank %d", len(reps), len(x.shape))
	}
	strides := tensor.Strides(x.shape)
	shape := make([]int, len(x.shape))
	maps := make([][]int, len(x.shape))
	for d, rep := range reps {
		if rep < 0 {
			return nil, fmt.Errorf("negative repeat")
		}
		shape[d] = x.shape[d] * int(rep)
		maps[d] = make([]int, shape[d])
		for j := range maps[d] {
			maps[d][j] = (j % x.shape[d]) * strides[d]
		}
	}
	c.set(0, x.dtype, shape)
	gp := newGatherPlan(shape, maps)
	return func(e *env, in, out []*tensor.Tensor) error {
		gp.run(e, out[0], in[0], nil)
		return nil
	}, nil
}

type padOp struct {
	attrs bool
	mode  string
	pads  []int64
	value float32
}

func (o *padOp) shapeInputs() []int {
	if o.attrs {
		return nil
	}
	return []int{1, 3}
}

func (o *padOp) prepare(c *pctx) (runFunc, error) {
	x := c.input(0)
	r := len(x.shape)
	pads := o.pads
	var fill *tensor.Tensor
	if o.attrs {
		fill = newTensor(x.dtype, nil)
		if x.dtype.IsFloat() {
			setF64(fill, x.dtype, 0, float64(o.value))
		} else {
			setI64(fill, x.dtype, 0, int64(o.value))
		}
	} else {
		pt, err := c.konst(1, "pads")
		if err != nil {
			return nil, err
		}
		if pads, err = ints64(pt); err != nil {
			return nil, err
		}
		if c.input(3) != nil {
			at, err := c.konst(3, "axes")
			if err != nil {
				return nil, err
			}
			axes, err := ints64(at)
			if err != nil {
				return nil, err
			}
			full := make([]int64, 2*r)
			for i, a := range axes {
				ax, err := normAxis(a, r)
				if err != nil {
					return nil, err
				}
				full[ax], full[ax+r] = pads[i], pads[i+len(axes)]
			}
			pads = full
		}
	}
	if len(pads) != 2*r {
		return nil, fmt.Errorf("%d pads for rank %d", len(pads), r)
	}
	strides := tensor.Strides(x.shape)
	shape := make([]int, r)
	maps := make([][]int, r)
	for d := 0; d < r; d++ {
		b, e := int(pads[d]), int(pads[d+r])
		n := x.shape[d]
		shape[d] = n + b + e
		if shape[d] < 0 {
			return nil, fmt.Errorf("pads %v make dim %d negative", pads, d)
		}
		if o.mode != "constant" && n == 0 && shape[d] > 0 {
			return nil, fmt.Errorf("%s padding of an empty dim", o.mode)
		}
		maps[d] = make([]int, shape[d])
		for j := range maps[d] {
			i := j - b
			switch o.mode {
			case "constant":
				if i < 0 || i >= n {
					i = -1
				}
			case "edge":
				i = min(max(i, 0), n-1)
			case "reflect":
				if n == 1 {
					i = 0
					break
				}
				period := 2 * (n - 1)
				i = ((i % period) + period) % period
				if i >= n {
					i = period - i
				}
			case "wrap":
				i = ((i % n) + n) % n
			default:
				return nil, fmt.Errorf("unknown pad mode %q", o.mode)
			}
			if i < 0 {
				maps[d][j] = -1
			} else {
				maps[d][j] = i * strides[d]
			}
		}
	}
	c.set(0, x.dtype, shape)
	gp := newGatherPlan(shape, maps)
	return func(e *env, in, out []*tensor.Tensor) error {
		f := fill
		if !o.attrs && len(in) > 2 && in[2] != nil {
			f = in[2]
		}
		gp.run(e, out[0], in[0], f)
		return nil
	}, nil
}

func init() {
	register("", "Concat", 4, 99, func(n *graph.Node, opset int64) (op, error) {
		if n.Attr("axis") == nil {
			return nil, fmt.Errorf("missing axis")
		}
		return &concatOp{axis: n.Int("axis", 0)}, nil
	})
	register("", "Split", 2, 12, func(n *graph.Node, opset int64) (op, error) {
		return &splitOp{axis: n.Int("axis", 0), split: n.Ints("split", nil)}, nil
	})
	register("", "Split", 13, 99, func(n *graph.Node, opset int64) (op, error) {
		return &splitOp{axis: n.Int("axis", 0), fromInput: true, numOutputs: n.Int("num_outputs", 0)}, nil
	})
	register("", "Gather", 1, 99, func(n *graph.Node, opset int64) (op, error) {
		return &gatherOp{axis: n.Int("axis", 0)}, nil
	})
	register("", "Where", 9, 99, func(n *graph.Node, opset int64) (op, error) { return whereOp{}, nil })
}

type concatOp struct{ axis int64 }

func (o *concatOp) prepare(c *pctx) (runFunc, error) {
	x := c.input(0)
	if x == nil {
		return nil, fmt.Errorf("no inputs")
	}
	r := len(x.shape)
	ax, err := normAxis(o.axis, r)
	if err != nil {
		return nil, err
	}
	shape := cloneInts(x.shape)
	shape[ax] = 0
	var widths []int
	for _, v := range c.in {
		if v == nil || v.dtype != x.dtype || len(v.shape) != r {
			return nil, fmt.Errorf("inputs differ in type or rank")
		}
		for d := range v.shape {
			if d != ax && v.shape[d] != x.shape[d] {
				return nil, fmt.Errorf("input shapes %v and %v differ off the axis", x.shape, v.shape)
			}
		}
		shape[ax] += v.shape[ax]
		widths = append(widths, tensor.Prod(v.shape[ax:])*x.dtype.Size())
	}
	c.set(0, x.dtype, shape)
	outer := tensor.Prod(shape[:ax])
	rowBytes := tensor.Prod(shape[ax:]) * x.dtype.Size()
	return func(e *env, in, out []*tensor.Tensor) error {
		d := bytesOf(out[0])
		off := 0
		for i, t := range in {
			s, w := bytesOf(t), widths[i]
			for j := 0; j < outer; j++ {
				copy(d[j*rowBytes+off:j*rowBytes+off+w], s[j*w:(j+1)*w])
			}
			off += w
		}
		return nil
	}, nil
}

type splitOp struct {
	axis       int64
	split      []int64
	fromInput  bool
	numOutputs int64
}

func (o *splitOp) shapeInputs() []int {
	if o.fromInput {
		return []int{1}
	}
	return nil
}

func (o *splitOp) prepare(c *pctx) (runFunc, error) {
	x := c.input(0)
	ax, err := normAxis(o.axis, len(x.shape))
	if err != nil {
		return nil, err
	}
	split := o.split
	if o.fromInput && c.input(1) != nil {
		t, err := c.konst(1, "split")
		if err != nil {
			return nil, err
		}
		if split, err = ints64(t); err != nil {
			return nil, err
		}
	}
	n := len(c.out)
	dim := x.shape[ax]
	if split == nil {
		// Equal parts; with num_outputs the last may be smaller.
		k := (dim + n - 1) / n
		for i := 0; i < n; i++ {
			split = append(split, int64(min(k, max(dim-i*k, 0))))
		}
		if o.numOutputs == 0 && dim%n != 0 {
			return nil, fmt.Errorf("dim %d does not split into %d equal parts", dim, n)
		}
	}
	if len(split) != n {
		return nil, fmt.Errorf("%d split sizes for %d outputs", len(split), n)
	}
	total := 0
	for i, s := range split {
		sh := cloneInts(x.shape)
		sh[ax] = int(s)
		total += int(s)
		c.set(i, x.dtype, sh)
	}
	if total != dim {
		return nil, fmt.Errorf("split %v does not add up to %d", split, dim)
	}
	outer := tensor.Prod(x.shape[:ax])
	es := x.dtype.Size()
	rowBytes := tensor.Prod(x.shape[ax:]) * es
	inner := tensor.Prod(x.shape[ax+1:]) * es
	return func(e *env, in, out []*tensor.Tensor) error {
		s := bytesOf(in[0])
		off := 0
		for i, t := range out {
			w := int(split[i]) * inner
			if t != nil {
				d := bytesOf(t)
				for j := 0; j < outer; j++ {
					copy(d[j*w:(j+1)*w], s[j*rowBytes+off:j*rowBytes+off+w])
				}
			}
			off += w
		}
		return nil
	}, nil
}

type gatherOp struct{ axis int64 }

func (o *gatherOp) prepare(c *pctx) (runFunc, error) {
	x, idx := c.input(0), c.input(1)
	ax, err := normAxis(o.axis, len(x.shape))
	if err != nil {
		return nil, err
	}
	if idx.dtype != tensor.Int64 && idx.dtype != tensor.Int32 {
		return nil, errDType(c, idx.dtype)
	}
	shape := append(append(cloneInts(x.shape[:ax]), idx.shape...), x.shape[ax+1:]...)
	c.set(0, x.dtype, shape)
	outer := tensor.Prod(x.shape[:ax])
	dim := x.shape[ax]
	es := x.dtype.Size()
	inner := tensor.Prod(x.shape[ax+1:]) * es
	nIdx := idx.numel()
	idt := idx.dtype
	return func(e *env, in, out []*tensor.Tensor) error {
		s, d := bytesOf(in[0]), bytesOf(out[0])
		for j := 0; j < nIdx; j++ {
			k := getI64(in[1], idt, j)
			if k < 0 {
				k += int64(dim)
			}
			if k < 0 || k >= int64(dim) {
				return fmt.Errorf("index %d out of range [%d, %d)", getI64(in[1], idt, j), -dim, dim)
			}
			for o := 0; o < outer; o++ {
				src := s[(o*dim+int(k))*inner : (o*dim+int(k)+1)*inner]
				copy(d[(o*nIdx+j)*inner:], src)
			}
		}
		return nil
	}, nil
}

type whereOp struct{}

func (whereOp) prepare(c *pctx) (runFunc, error) {
	cond, x, y := c.input(0), c.input(1), c.input(2)
	if cond.dtype != tensor.Bool || x.dtype != y.dtype {
		return nil, fmt.Errorf("Where needs a bool condition and two inputs of one type")
	}
	shape, err := broadcastShape(cond.shape, x.shape, y.shape)
	if err != nil {
		return nil, err
	}
	c.set(0, x.dtype, shape)
	gc := newGatherPlan(shape, broadcastMaps(cond.shape, shape))
	gx := newGatherPlan(shape, broadcastMaps(x.shape, shape))
	gy := newGatherPlan(shape, broadcastMaps(y.shape, shape))
	n := tensor.Prod(shape)
	dt := x.dtype
	// Scratch: the broadcast condition (bytes in float32 units) and the
	// broadcast y.
	c.scratch = alignUp(n, 8)/4 + n*dt.Size()/4 + 2
	return func(e *env, in, out []*tensor.Tensor) error {
		sb := view[byte](&tensor.Tensor{DType: tensor.Float, F32: e.scratch})
		cb := tensor.Tensor{DType: tensor.Bool, Shape: shape, Raw: sb[:n]}
		yb := bindTensor(dt, shape, unsafe.Pointer(&sb[alignUp(n, 8)]))
		gc.run(e, &cb, in[0], nil)
		gx.run(e, out[0], in[1], nil)
		gy.run(e, &yb, in[2], nil)
		d, ys := bytesOf(out[0]), bytesOf(&yb)
		es := dt.Size()
		for i, v := range cb.Raw {
			if v == 0 {
				copy(d[i*es:(i+1)*es], ys[i*es:(i+1)*es])
			}
		}
		return nil
	}, nil
}
