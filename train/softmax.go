package train

import (
	"fmt"
	"math"

	"github.com/podaml/poda/graph"
)

func init() {
	register("Softmax", newSoftmax)
	register("LogSoftmax", newSoftmax)
	register("ReduceMean", newReduce)
	register("ReduceSum", newReduce)
	register("Dropout", newDropout)
}

// softmaxOp is Softmax or LogSoftmax. From opset 13 it normalises along
// one axis; before, over the flattened dimensions from axis on.
type softmaxOp struct {
	log                 bool
	axis                int
	flat                bool
	outer, size, stride int
}

func newSoftmax(n *graph.Node, opset int64) (op, error) {
	def := int64(-1)
	if opset < 13 {
		def = 1
	}
	return &softmaxOp{log: n.OpType == "LogSoftmax", axis: int(n.Int("axis", def)), flat: opset < 13}, nil
}

func (o *softmaxOp) plan(in, out []*value) error {
	s := in[0].shape
	ax, err := normAxis(o.axis, len(s))
	if err != nil {
		return err
	}
	if o.flat {
		o.outer, o.size, o.stride = tensorProd(s[:ax]), tensorProd(s[ax:]), 1
	} else {
		o.outer, o.size, o.stride = tensorProd(s[:ax]), s[ax], tensorProd(s[ax+1:])
	}
	setShape(out[0], s...)
	return nil
}

func (o *softmaxOp) forward(_ *Program, in, out []*value, _ bool) {
	x, y := in[0].data, out[0].data
	for r := 0; r < o.outer; r++ {
		for j := 0; j < o.stride; j++ {
			base := r*o.size*o.stride + j
			mx := float32(math.Inf(-1))
			for k := 0; k < o.size; k++ {
				mx = max(mx, x[base+k*o.stride])
			}
			var sum float64
			for k := 0; k < o.size; k++ {
				sum += math.Exp(float64(x[base+k*o.stride] - mx))
			}
			if o.log {
				ls := float32(math.Log(sum))
				for k := 0; k < o.size; k++ {
					i := base + k*o.stride
					y[i] = x[i] - mx - ls
				}
				continue
			}
			inv := 1 / sum
			for k := 0; k < o.size; k++ {
				i := base + k*o.stride
				y[i] = float32(math.Exp(float64(x[i]-mx)) * inv)
			}
		}
	}
}

func (o *softmaxOp) backward(_ *Program, in, out []*value) {
	dx, y, dy := in[0].grad, out[0].data, out[0].grad
	if dx == nil {
		return
	}
	for r := 0; r < o.outer; r++ {
		for j := 0; j < o.stride; j++ {
			base := r*o.size*o.stride + j
			var s float32
			for k := 0; k < o.size; k++ {
				i := base + k*o.stride
				if o.log {
					s += dy[i]
				} else {
					s += dy[i] * y[i]
				}
			}
			for k := 0; k < o.size; k++ {
				i := base + k*o.stride
				if o.log {
					dx[i] += dy[i] - float32(math.Exp(float64(y[i])))*s
				} else {
					dx[i] += y[i] * (dy[i] - s)
				}
			}
		}
	}
}

// reduceOp is ReduceMean or ReduceSum: every input element maps to one
// output element (map built at plan time).
type reduceOp struct {
	mean      bool
	axes      []int
	hasAxes   bool
	keep      bool
	noopEmpty bool
	scale     float32
	idx       []int32
}

func newReduce(n *graph.Node, _ int64) (op, error) {
	o := &reduceOp{mean: n.OpType == "ReduceMean", keep: n.Int("keepdims", 1) != 0, noopEmpty: n.Int("noop_with_empty_axes", 0) != 0}
	if n.Attr("axes") != nil {
		o.axes, o.hasAxes = intsAttr(n, "axes", nil), true
	}
	return o, nil
}

func (o *reduceOp) plan(in, out []*value) error {
	s := in[0].shape
	axes := o.axes
	if !o.hasAxes && len(in) > 1 && in[1] != nil {
		a, err := fixedInts(in[1])
		if err != nil {
			return err
		}
		axes = nil
		for _, v := range a {
			axes = append(axes, int(v))
		}
	}
	red := make([]bool, len(s))
	if len(axes) == 0 {
		if o.noopEmpty {
			return fmt.Errorf("Reduce with noop_with_empty_axes: %w", ErrUnsupported)
		}
		for i := range red {
			red[i] = true
		}
	}
	for _, a := range axes {
		a, err := normAxis(a, len(s))
		if err != nil {
			return err
		}
		red[a] = true
	}
	var shape, kept []int
	cnt := 1
	for i, d := range s {
		if red[i] {
			cnt *= d
			if o.keep {
				shape = append(shape, 1)
			}
		} else {
			shape = append(shape, d)
			kept = append(kept, d)
		}
	}
	o.scale = 1
	if o.mean && cnt > 0 {
		o.scale = 1 / float32(cnt)
	}
	n := tensorProd(s)
	if cap(o.idx) < n {
		o.idx = make([]int32, n)
	}
	o.idx = o.idx[:n]
	ix := make([]int, len(s))
	for i := 0; i < n; i++ {
		off := 0
		for d := range s {
			if !red[d] {
				off = off*s[d] + ix[d]
			}
		}
		o.idx[i] = int32(off)
		for d := len(ix) - 1; d >= 0; d-- {
			ix[d]++
			if ix[d] < s[d] {
				break
			}
			ix[d] = 0
		}
	}
	_ = kept
	setShape(out[0], shape...)
	return nil
}

func (o *reduceOp) forward(_ *Program, in, out []*value, _ bool) {
	x, y := in[0].data, out[0].data
	clear(y)
	for i, j := range o.idx {
		y[j] += x[i]
	}
	if o.scale != 1 {
		for i := range y {
			y[i] *= o.scale
		}
	}
}

func (o *reduceOp) backward(_ *Program, in, out []*value) {
	dx, dy := in[0].grad, out[0].grad
	if dx == nil {
		return
	}
	for i, j := range o.idx {
		dx[i] += dy[j] * o.scale
	}
}

// dropoutOp is Dropout: in training each element is kept with probability
// 1 − ratio and scaled by 1/(1 − ratio), drawn from the program's seeded
// stream; otherwise it is the identity.
type dropoutOp struct {
	ratio float32
	keep  []float32 // scale per element of the last training forward
	train bool
}

func newDropout(n *graph.Node, _ int64) (op, error) {
	return &dropoutOp{ratio: n.Float("ratio", 0.5)}, nil
}

func (o *dropoutOp) plan(in, out []*value) error {
	if len(in) > 1 && in[1] != nil {
		if !in[1].fixed || len(in[1].data) != 1 {
			return fmt.Errorf("Dropout ratio must be a constant scalar: %w", ErrUnsupported)
		}
	}
	o.keep = grow(o.keep, in[0].numel())
	for _, v := range out {
		if v != nil {
			setShape(v, in[0].shape...)
		}
	}
	return nil
}

func (o *dropoutOp) forward(p *Program, in, out []*value, train bool) {
	x, y := in[0].data, out[0].data
	ratio := o.ratio
	if len(in) > 1 && in[1] != nil {
		ratio = in[1].data[0]
	}
	o.train = train && ratio > 0
	var mask []int64
	if len(out) > 1 && out[1] != nil {
		mask = out[1].ints
	}
	if !o.train {
		copy(y, x)
		for i := range mask {
			mask[i] = 1
		}
		return
	}
	s := 1 / (1 - ratio)
	for i, v := range x {
		k := float32(0)
		if p.rng.Float32() >= ratio {
			k = s
		}
		o.keep[i] = k
		y[i] = v * k
		if mask != nil {
			mask[i] = 0
			if k != 0 {
				mask[i] = 1
			}
		}
	}
}

func (o *dropoutOp) backward(_ *Program, in, out []*value) {
	dx, dy := in[0].grad, out[0].grad
	if dx == nil {
		return
	}
	if !o.train {
		addTo(dx, dy)
		return
	}
	for i, g := range dy {
		dx[i] += g * o.keep[i]
	}
}
