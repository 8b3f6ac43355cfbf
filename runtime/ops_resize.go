package runtime

import (
	"fmt"
	"math"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/tensor"
)

// Resize (opsets 10-19: nearest with every coordinate_transformation_mode
// and nearest_mode, N-linear and N-cubic) and Upsample (opsets 7-9), on
// float32. Antialiasing, axes and keep_aspect_ratio_policy (opset 18) are
// not implemented.

type resizeOp struct {
	upsample    bool // Upsample: scales (attribute before opset 9), asymmetric
	scalesAttr  []float32
	opset10     bool   // Resize-10: X and scales only, asymmetric
	mode        string // nearest, linear (cubic unsupported)
	coordMode   string
	nearestMode string
	extrapolate float32
	excludeOut  bool
	cubicA      float64
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
			cubicA:      float64(n.Float("cubic_coeff_a", -0.75)),
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
	if o.mode != "nearest" && o.mode != "linear" && o.mode != "cubic" {
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

	// Per output dim and position: the input taps (index and weight) that
	// are combined; nil marks extrapolation (tf_crop_and_resize).
	rp := &resizePlan{shape: shape, strides: tensor.Strides(x.shape), extrapolate: o.extrapolate}
	rp.taps = make([][][]tap, r)
	for d := 0; d < r; d++ {
		in, out := x.shape[d], shape[d]
		rp.taps[d] = make([][]tap, out)
		for j := 0; j < out; j++ {
			// With scales, the reference uses the unrounded length in·scale.
			outLen := float64(out)
			if sizes == nil && o.coordMode == "align_corners" {
				outLen = float64(in) * scale[d]
			}
			xo, ok := o.transform(float64(j), scale[d], in, out, outLen, roi, d, r)
			if !ok {
				continue
			}
			switch o.mode {
			case "nearest":
				rp.taps[d][j] = []tap{{o.nearest(xo, in), 1}}
			case "linear":
				xo = math.Max(0, math.Min(xo, float64(in-1)))
				lo := int(math.Floor(xo))
				w := float32(xo - float64(lo))
				rp.taps[d][j] = []tap{{lo, 1 - w}, {min(lo+1, in-1), w}}
			case "cubic":
				rp.taps[d][j] = o.cubicTaps(xo, in)
			}
		}
	}
	return func(e *env, in, out []*tensor.Tensor) error {
		rp.run(in[0].F32, out[0].F32)
		return nil
	}, nil
}

// cubicTaps are the four neighbours of x with Keys' cubic weights
// (coefficient cubic_coeff_a); outside the input they repeat the edge, or
// with exclude_outside they are dropped and the weights renormalised.
func (o *resizeOp) cubicTaps(x float64, in int) []tap {
	a := o.cubicA
	i := math.Floor(x)
	t := x - i
	w := [4]float64{
		((a*(t+1)-5*a)*(t+1)+8*a)*(t+1) - 4*a,
		((a+2)*t-(a+3))*t*t + 1,
		((a+2)*(1-t)-(a+3))*(1-t)*(1-t) + 1,
		((a*(2-t)-5*a)*(2-t)+8*a)*(2-t) - 4*a,
	}
	taps := make([]tap, 0, 4)
	var sum float64
	for k := 0; k < 4; k++ {
		idx := int(i) - 1 + k
		if idx < 0 || idx >= in {
			if o.excludeOut {
				continue
			}
			idx = min(max(idx, 0), in-1)
		}
		taps = append(taps, tap{idx, float32(w[k])})
		sum += w[k]
	}
	if o.excludeOut && sum != 0 {
		for k := range taps {
			taps[k].w = float32(float64(taps[k].w) / sum)
		}
	}
	return taps
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

type tap struct {
	i int
	w float32
}

type resizePlan struct {
	shape, strides []int
	taps           [][][]tap
	extrapolate    float32
}

func (p *resizePlan) run(X, Y []float32) {
	r := len(p.shape)
	n := tensor.Prod(p.shape)
	var idx, ti [maxRank]int
	var taps [maxRank][]tap
	for o := 0; o < n; o++ {
		rem := o
		outside := false
		for d := r - 1; d >= 0; d-- {
			idx[d] = rem % p.shape[d]
			rem /= p.shape[d]
			taps[d] = p.taps[d][idx[d]]
			outside = outside || taps[d] == nil
			ti[d] = 0
		}
		if outside {
			Y[o] = p.extrapolate
			continue
		}
		// Sum over every combination of taps.
		var sum float32
		for {
			w, off := float32(1), 0
			for d := 0; d < r; d++ {
				t := taps[d][ti[d]]
				w *= t.w
				off += t.i * p.strides[d]
			}
			sum += w * X[off]
			d := r - 1
			for ; d >= 0; d-- {
				ti[d]++
				if ti[d] < len(taps[d]) {
					break
				}
				ti[d] = 0
			}
			if d < 0 {
				break
			}
		}
		Y[o] = sum
	}
}
