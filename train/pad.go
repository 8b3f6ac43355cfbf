package train

import (
	"fmt"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/tensor"
)

func init() { register("Pad", newPad) }

// padOp is Pad in constant, edge or reflect mode, as a map from each
// output element to its input element (−1: the constant).
type padOp struct {
	mode  string
	pads  []int // opset < 11 attribute
	value float32
	idx   []int32
}

func newPad(n *graph.Node, opset int64) (op, error) {
	o := &padOp{mode: n.Str("mode", "constant"), value: n.Float("value", 0)}
	if opset < 11 {
		o.pads = intsAttr(n, "pads", nil)
	}
	switch o.mode {
	case "constant", "edge", "reflect":
	default:
		return nil, fmt.Errorf("Pad mode %q: %w", o.mode, ErrUnsupported)
	}
	return o, nil
}

func (o *padOp) plan(in, out []*value) error {
	s := in[0].shape
	r := len(s)
	pads := o.pads
	if pads == nil {
		pv, err := fixedInts(in[1])
		if err != nil {
			return err
		}
		axes := make([]int, r)
		for i := range axes {
			axes[i] = i
		}
		if len(in) > 3 && in[3] != nil {
			av, err := fixedInts(in[3])
			if err != nil {
				return err
			}
			axes = axes[:0]
			for _, a := range av {
				a, err := normAxis(int(a), r)
				if err != nil {
					return err
				}
				axes = append(axes, a)
			}
		}
		if len(pv) != 2*len(axes) {
			return fmt.Errorf("Pad pads %v for %d axes", pv, len(axes))
		}
		pads = make([]int, 2*r)
		for i, a := range axes {
			pads[a], pads[r+a] = int(pv[i]), int(pv[len(axes)+i])
		}
	}
	if len(pads) != 2*r {
		return fmt.Errorf("Pad pads %v for rank %d", pads, r)
	}
	if len(in) > 2 && in[2] != nil {
		if !in[2].fixed || len(in[2].data) != 1 {
			return fmt.Errorf("Pad constant_value must be a constant scalar: %w", ErrUnsupported)
		}
		o.value = in[2].data[0]
	}
	shape := make([]int, r)
	for i := range s {
		shape[i] = s[i] + pads[i] + pads[r+i]
		if shape[i] < 0 || pads[i] < 0 || pads[r+i] < 0 {
			return fmt.Errorf("Pad of %v by %v: negative pads: %w", s, pads, ErrUnsupported)
		}
		if o.mode == "reflect" && (pads[i] >= s[i] || pads[r+i] >= s[i]) {
			return fmt.Errorf("Pad reflect of %v by %v", s, pads)
		}
	}
	st := tensor.Strides(s)
	n := tensorProd(shape)
	if cap(o.idx) < n {
		o.idx = make([]int32, n)
	}
	o.idx = o.idx[:n]
	ix := make([]int, r)
	for i := 0; i < n; i++ {
		off := 0
		for d := 0; d < r && off >= 0; d++ {
			j := ix[d] - pads[d]
			if j < 0 || j >= s[d] {
				switch o.mode {
				case "constant":
					off = -1
					continue
				case "edge":
					j = min(max(j, 0), s[d]-1)
				case "reflect":
					if j < 0 {
						j = -j
					} else {
						j = 2*(s[d]-1) - j
					}
				}
			}
			off += j * st[d]
		}
		o.idx[i] = int32(off)
		for d := r - 1; d >= 0; d-- {
			ix[d]++
			if ix[d] < shape[d] {
				break
			}
			ix[d] = 0
		}
	}
	setShape(out[0], shape...)
	return nil
}

func (o *padOp) forward(_ *Program, in, out []*value, _ bool) {
	x, y := in[0].data, out[0].data
	for i, j := range o.idx {
		if j < 0 {
			y[i] = o.value
		} else {
			y[i] = x[j]
		}
	}
}

func (o *padOp) backward(_ *Program, in, out []*value) {
	dx, dy := in[0].grad, out[0].grad
	if dx == nil {
		return
	}
	for i, j := range o.idx {
		if j >= 0 {
			dx[j] += dy[i]
		}
	}
}
