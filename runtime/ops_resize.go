package runtime

import (
	"fmt"
	"math"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/tensor"
)

// Resize (opsets 10-19: nearest with every coordinate_transformation_mode
// and nearest_mode, and N-linear) and Upsample (opsets 7-9), on float32.
// Cubic interpolation and antialiasing are not implemented.

type resizeOp struct {
	upsample    bool // Upsample: scales (attribute before opset 9), asymmetric
	scalesAttr  []float32
	opset10     bool   // Resize-10: X and scales only, asymmetric
	mode        string // nearest, linear (cubic unsupported)
	coordMode   string
	nearestMode string
	extrapolate float32
	excludeOut  bool
	axes        []int64
	aspect      string
	antialias   bool
}

func init() {
	register("", "Upsample", 7, 9, func(n *graph.Node, opset int64) (op, error) {
		return &resizeOp{upsample: true, scalesAttr: n.Floats("scales", nil), mode: n.Str("mode", "nearest"),
			coordMode: "asymmetric", nearestMode: "floor"}, nil
	})
	register("", "Resize", 10, 10, func(n *graph.Node, opset int64) (op, error) {
		return &resizeOp{opset10: true, mode: n.Str("mode", "nearest"), coordMode: "asymmetric", nearestMode: "floor"}, nil
	})
	register("", "Resize", 11, 99, func(n *graph.Node, opset int64) (op, error) {
		return &resizeOp{
			mode:        n.Str("mode", "nearest"),
			coordMode:   n.Str("coordinate_transformation_mode", "half_pixel"),
			nearestMode: n.Str("nearest_mode", "round_prefer_floor"),
			extrapolate: n.Float("extrapolation_value", 0),
			excludeOut:  n.Int("exclude_outside", 0) != 0,
			axes:        n.Ints("axes", nil),
			aspect:      n.Str("keep_aspect_ratio_policy", "stretch"),
			antialias:   n.Int("antialias", 0) != 0,
		}, nil
	})
}

func (o *resizeOp) shapeInputs() []int {
	switch {
	case o.upsample, o.opset10:
		return []int{1}
	}
	return []int{1, 2, 3}
}

func (o *resizeOp) unsupported(c *pctx, why string) error {
	return &UnsupportedError{Node: c.node.Name, OpType: c.node.OpType, Opset: c.opset, Reason: why}
}

func (o *resizeOp) prepare(c *pctx) (runFunc, error) {
	x := c.input(0)
	if x.dtype != tensor.Float {
		return nil, errDType(c, x.dtype)
	}
	if o.mode != "nearest" && o.mode != "linear" {
		return nil, o.unsupported(c, o.mode+" mode")
	}
	if o.antialias || o.axes != nil || (o.aspect != "stretch" && o.aspect != "") {
		return nil, o.unsupported(c, "antialias, axes or keep_aspect_ratio_policy")
	}
	r := len(x.shape)
	floats := func(i int, what string) ([]float32, error) {
		if c.input(i) == nil {
			return nil, nil
		}
		t, err := c.konst(i, what)
		if err != nil {
			return nil, err
		}
		if t.Numel() == 0 {
			return nil, nil
		}
		return floats32(t)
	}
	var scales, roi []float32
	var sizes []int64
	var err error
	switch {
	case o.upsample && o.scalesAttr != nil:
		scales = o.scalesAttr
	case o.upsample || o.opset10:
		scales, err = floats(1, "scales")
	default:
		if roi, err = floats(1, "roi"); err != nil {
			return nil, err
		}
		if scales, err = floats(2, "scales"); err != nil {
			return nil, err
		}
		if c.input(3) != nil {
			t, err := c.konst(3, "sizes")
			if err != nil {
				return nil, err
			}
			if t.Numel() > 0 {
				if sizes, err = ints64(t); err != nil {
					return nil, err
				}
			}
		}
	}
	if err != nil {
		return nil, err
	}
	if (scales == nil) == (sizes == nil) {
		return nil, fmt.Errorf("exactly one of scales and sizes must be given")
	}
	if (scales != nil && len(scales) != r) || (sizes != nil && len(sizes) != r) {
		return nil, fmt.Errorf("scales %v / sizes %v do not match rank %d", scales, sizes, r)
	}
	if o.coordMode == "tf_crop_and_resize" && len(roi) != 2*r {
		return nil, fmt.Errorf("roi %v for rank %d", roi, r)
	}
	shape := make([]int, r)
	scale := make([]float64, r)
	for d := 0; d < r; d++ {
		if sizes != nil {
			shape[d] = int(sizes[d])
			scale[d] = float64(shape[d]) / float64(x.shape[d])
		} else {
			scale[d] = float64(scales[d])
			if scale[d] <= 0 {
				return nil, fmt.Errorf("scale %g", scale[d])
			}
			span := 1.0
			if o.coordMode == "tf_crop_and_resize" {
				span = float64(roi[d+r] - roi[d])
			}
			shape[d] = int(math.Floor(float64(x.shape[d]) * span * scale[d]))
		}
	}
	c.set(0, tensor.Float, shape)

	// Per output dim: source indices (nearest), or two indices and a
	// weight (linear); -1 marks extrapolation (tf_crop_and_resize).
	rp := &resizePlan{shape: shape, in: x.shape, strides: tensor.Strides(x.shape), linear: o.mode == "linear",
		extrapolate: o.extrapolate}
	rp.i0 = make([][]int, r)
	rp.i1 = make([][]int, r)
	rp.w = make([][]float32, r)
	for d := 0; d < r; d++ {
		in, out := x.shape[d], shape[d]
		rp.i0[d] = make([]int, out)
		rp.i1[d] = make([]int, out)
		rp.w[d] = make([]float32, out)
		for j := 0; j < out; j++ {
			// With scales, the reference uses the unrounded length in·scale.
			outLen := float64(out)
			if sizes == nil && o.coordMode == "align_corners" {
				outLen = float64(in) * scale[d]
			}
			xo, ok := o.transform(float64(j), scale[d], in, out, outLen, roi, d, r)
			if !ok {
				rp.i0[d][j] = -1
				continue
			}
			if !rp.linear {
				rp.i0[d][j] = o.nearest(xo, in)
				continue
			}
			xo = math.Max(0, math.Min(xo, float64(in-1)))
			lo := int(math.Floor(xo))
			hi := min(lo+1, in-1)
			rp.i0[d][j], rp.i1[d][j], rp.w[d][j] = lo, hi, float32(xo-float64(lo))
		}
	}
	return func(e *env, in, out []*tensor.Tensor) error {
		rp.run(in[0].F32, out[0].F32)
		return nil
	}, nil
}

// transform maps output coordinate x to the input's.
func (o *resizeOp) transform(x, scale float64, in, out int, outLen float64, roi []float32, d, r int) (float64, bool) {
	switch o.coordMode {
	case "half_pixel":
		return (x+0.5)/scale - 0.5, true
	case "pytorch_half_pixel":
		if out > 1 {
			return (x+0.5)/scale - 0.5, true
		}
		return 0, true
	case "align_corners":
		if out == 1 {
			return 0, true
		}
		return x * float64(in-1) / (outLen - 1), true
	case "asymmetric":
		return x / scale, true
	case "tf_half_pixel_for_nn":
		return (x + 0.5) / scale, true
	case "tf_crop_and_resize":
		s, e := float64(roi[d]), float64(roi[d+r])
		var v float64
		if out > 1 {
			v = s*float64(in-1) + x*(e-s)*float64(in-1)/float64(out-1)
		} else {
			v = 0.5 * (s + e) * float64(in-1)
		}
		if v < 0 || v > float64(in-1) {
			return 0, false
		}
		return v, true
	}
	return x / scale, true
}

// nearest rounds an input coordinate by nearest_mode and clamps it.
func (o *resizeOp) nearest(x float64, in int) int {
	var i float64
	switch o.nearestMode {
	case "round_prefer_ceil":
		i = math.Floor(x + 0.5)
	case "floor":
		i = math.Floor(x)
	case "ceil":
		i = math.Ceil(x)
	default: // round_prefer_floor
		if x == math.Floor(x)+0.5 {
			i = math.Floor(x)
		} else {
			i = math.Round(x)
		}
	}
	return min(max(int(i), 0), in-1)
}

type resizePlan struct {
	shape, in, strides []int
	linear             bool
	i0, i1             [][]int
	w                  [][]float32
	extrapolate        float32
}

func (p *resizePlan) run(X, Y []float32) {
	r := len(p.shape)
	n := tensor.Prod(p.shape)
	var idx [maxRank]int
	for o := 0; o < n; o++ {
		rem := o
		for d := r - 1; d >= 0; d-- {
			idx[d] = rem % p.shape[d]
			rem /= p.shape[d]
		}
		if !p.linear {
			off, ok := 0, true
			for d := 0; d < r; d++ {
				i := p.i0[d][idx[d]]
				if i < 0 {
					ok = false
					break
				}
				off += i * p.strides[d]
			}
			if ok {
				Y[o] = X[off]
			} else {
				Y[o] = p.extrapolate
			}
			continue
		}
		// Sum over the 2^r corners, skipping zero-weight ones.
		var sum float32
		ok := true
		for corner := 0; corner < 1<<r && ok; corner++ {
			wt, off := float32(1), 0
			for d := 0; d < r; d++ {
				j := idx[d]
				i0 := p.i0[d][j]
				if i0 < 0 {
					ok = false
					break
				}
				if corner>>d&1 == 1 {
					wt *= p.w[d][j]
					off += p.i1[d][j] * p.strides[d]
				} else {
					wt *= 1 - p.w[d][j]
					off += i0 * p.strides[d]
				}
				if wt == 0 {
					break
				}
			}
			if ok && wt != 0 {
				sum += wt * X[off]
			}
		}
		if !ok {
			sum = p.extrapolate
		}
		Y[o] = sum
	}
}
