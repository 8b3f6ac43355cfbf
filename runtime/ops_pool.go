package runtime

import (
	"fmt"
	"math"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/tensor"
)

// MaxPool (with ceil_mode, dilations, pads and the optional Indices
// output), AveragePool (count_include_pad), GlobalAveragePool and
// GlobalMaxPool, on float32, for any number of spatial dims.

type poolOp struct {
	convAttrs
	max          bool
	ceil         bool
	includePad   bool
	storageOrder int64
}

func init() {
	register("", "MaxPool", 1, 99, func(n *graph.Node, opset int64) (op, error) {
		return &poolOp{convAttrs: parseConvAttrs(n), max: true, ceil: n.Int("ceil_mode", 0) != 0,
			storageOrder: n.Int("storage_order", 0)}, nil
	})
	register("", "AveragePool", 1, 99, func(n *graph.Node, opset int64) (op, error) {
		return &poolOp{convAttrs: parseConvAttrs(n), ceil: n.Int("ceil_mode", 0) != 0,
			includePad: n.Int("count_include_pad", 0) != 0}, nil
	})
	register("", "GlobalAveragePool", 1, 99, func(n *graph.Node, opset int64) (op, error) { return &globalPoolOp{}, nil })
	register("", "GlobalMaxPool", 1, 99, func(n *graph.Node, opset int64) (op, error) { return &globalPoolOp{max: true}, nil })
}

func (o *poolOp) prepare(c *pctx) (runFunc, error) {
	x := c.input(0)
	if x.dtype != tensor.Float {
		return nil, errDType(c, x.dtype)
	}
	r := len(x.shape) - 2
	if r < 1 || len(o.kernel) != r {
		return nil, fmt.Errorf("kernel_shape %v for input %v", o.kernel, x.shape)
	}
	g, err := o.geometry(x.shape[2:], intsOf(o.kernel), o.ceil)
	if err != nil {
		return nil, err
	}
	shape := append([]int{x.shape[0], x.shape[1]}, g.out...)
	c.set(0, tensor.Float, shape)
	withIdx := len(c.out) > 1 && c.used[1]
	if len(c.out) > 1 {
		c.set(1, tensor.Int64, shape)
	}
	planes := x.shape[0] * x.shape[1]
	inSize, outSize := tensor.Prod(g.in), tensor.Prod(g.out)
	inStr := tensor.Strides(g.in)
	// Column-major indices (storage_order 1) use reversed strides.
	idxStr := inStr
	if o.storageOrder == 1 {
		idxStr = make([]int, r)
		n := 1
		for d := 0; d < r; d++ {
			idxStr[d] = n
			n *= g.in[d]
		}
	}
	pp := &poolPlan{g: g, r: r, inSize: inSize, outSize: outSize, inStr: inStr, idxStr: idxStr,
		kk: tensor.Prod(g.k), isMax: o.max, includePad: o.includePad}
	fast := r == 2 && !withIdx && g.dil[0] == 1 && g.dil[1] == 1
	pp.max2x2 = fast && o.max && g.k[0] == 2 && g.k[1] == 2 && g.stride[0] == 2 && g.stride[1] == 2 &&
		g.padB[0] == 0 && g.padB[1] == 0 && 2*g.out[1] <= g.in[1]
	if fast {
		W, kw := g.in[1], g.k[1]
		for ox := 0; ox < g.out[1]; ox++ {
			xs := ox*g.stride[1] - g.padB[1]
			pp.xr = append(pp.xr, max(xs, 0), min(xs+kw, W), min(xs+kw, W+g.padE[1])-xs)
		}
	}
	work := planes * outSize * pp.kk
	return func(e *env, in, out []*tensor.Tensor) error {
		j := poolJob{p: pp, X: in[0].F32, Y: out[0].F32, fast: fast}
		if withIdx {
			j.I = out[1].I64
		}
		forRange(e, planes, work, j)
		return nil
	}, nil
}

type poolPlan struct {
	g                      *geom
	r, inSize, outSize, kk int
	inStr, idxStr          []int
	isMax, includePad      bool
	// xr holds, per output column of the 2-D path, the input columns
	// [x0, x1) of its window and the window width within the padding.
	xr     []int
	max2x2 bool // 2×2 windows at stride 2 without padding
}

type poolJob struct {
	p    *poolPlan
	X, Y []float32
	I    []int64
	fast bool // 2-D without dilation or Indices
}

// chunk2D pools planes [lo, hi) of a 2-D input without dilation: each
// window is clipped to the input once, with the column ranges computed
// when planning.
func (j poolJob) chunk2D(lo, hi int) {
	p := j.p
	g := p.g
	H, W := g.in[0], g.in[1]
	oh, ow := g.out[0], g.out[1]
	kh, sh, pt, pe := g.k[0], g.stride[0], g.padB[0], g.padE[0]
	xr := p.xr
	negInf := float32(math.Inf(-1))
	for pl := lo; pl < hi; pl++ {
		img := j.X[pl*p.inSize : (pl+1)*p.inSize]
		dst := j.Y[pl*p.outSize : (pl+1)*p.outSize]
		for oy := 0; oy < oh; oy++ {
			ys := oy*sh - pt
			y0, y1 := max(ys, 0), min(ys+kh, H)
			ph := min(ys+kh, H+pe) - ys
			drow := dst[oy*ow : (oy+1)*ow]
			if p.isMax && p.max2x2 && y1-y0 == 2 {
				// 2×2, stride 2, no padding: the common LeNet/VGG case.
				r0 := img[y0*W : y0*W+2*ow]
				r1 := img[(y0+1)*W : (y0+1)*W+2*ow]
				for ox := range drow {
					drow[ox] = max(r0[2*ox], r0[2*ox+1], r1[2*ox], r1[2*ox+1])
				}
				continue
			}
			if p.isMax {
				for ox := range drow {
					x0, x1 := xr[3*ox], xr[3*ox+1]
					m := negInf
					for y := y0; y < y1; y++ {
						for _, v := range img[y*W+x0 : y*W+x1] {
							m = max(m, v) // branch-free; NaN propagates
						}
					}
					drow[ox] = m
				}
				continue
			}
			for ox := range drow {
				x0, x1 := xr[3*ox], xr[3*ox+1]
				var sum float32
				for y := y0; y < y1; y++ {
					for _, v := range img[y*W+x0 : y*W+x1] {
						sum += v
					}
				}
				n := (y1 - y0) * (x1 - x0)
				if p.includePad {
					n = ph * xr[3*ox+2]
				}
				drow[ox] = sum / float32(n)
			}
		}
	}
}

// chunk pools planes [lo, hi): through chunk2D when it applies, else for
// any spatial rank, dilation and the Indices output.
func (j poolJob) chunk(_, lo, hi int) {
	if j.fast {
		j.chunk2D(lo, hi)
		return
	}
	p := j.p
	g, r := p.g, p.r
	X, Y, I := j.X, j.Y, j.I
	var oidx, kidx [maxRank]int
	for pl := lo; pl < hi; pl++ {
		img := X[pl*p.inSize : (pl+1)*p.inSize]
		for q := 0; q < p.outSize; q++ {
			rem := q
			for d := r - 1; d >= 0; d-- {
				oidx[d] = rem % g.out[d]
				rem /= g.out[d]
			}
			best, bestIdx := float32(math.Inf(-1)), -1
			var sum float32
			count, padCount := 0, 0
			for kp := 0; kp < p.kk; kp++ {
				rem := kp
				for d := r - 1; d >= 0; d-- {
					kidx[d] = rem % g.k[d]
					rem /= g.k[d]
				}
				off, idx, inside, inPad := 0, 0, true, true
				for d := 0; d < r; d++ {
					i := oidx[d]*g.stride[d] - g.padB[d] + kidx[d]*g.dil[d]
					if i < 0 || i >= g.in[d] {
						inside = false
						if i >= g.in[d]+g.padE[d] {
							inPad = false
						}
						continue
					}
					off += i * p.inStr[d]
					idx += i * p.idxStr[d]
				}
				if inPad {
					padCount++
				}
				if !inside {
					continue
				}
				v := img[off]
				count++
				if p.isMax {
					if v > best || bestIdx < 0 && v != v {
						best, bestIdx = v, idx
					}
				} else {
					sum += v
				}
			}
			o := pl*p.outSize + q
			switch {
			case p.isMax:
				Y[o] = best
				if I != nil {
					I[o] = int64(pl*p.inSize + bestIdx)
				}
			case p.includePad:
				Y[o] = sum / float32(padCount)
			default:
				Y[o] = sum / float32(count)
			}
		}
	}
}

type globalPoolOp struct{ max bool }

func (o *globalPoolOp) prepare(c *pctx) (runFunc, error) {
	x := c.input(0)
	if x.dtype != tensor.Float {
		return nil, errDType(c, x.dtype)
	}
	if len(x.shape) < 2 {
		return nil, fmt.Errorf("input %v has no channels", x.shape)
	}
	shape := cloneInts(x.shape)
	for i := 2; i < len(shape); i++ {
		shape[i] = 1
	}
	c.set(0, tensor.Float, shape)
	planes := x.shape[0] * x.shape[1]
	n := tensor.Prod(x.shape[2:])
	isMax := o.max
	return func(e *env, in, out []*tensor.Tensor) error {
		X, Y := in[0].F32, out[0].F32
		for p := 0; p < planes; p++ {
			s := X[p*n : (p+1)*n]
			if isMax {
				m := float32(math.Inf(-1))
				for _, v := range s {
					m = max(m, v)
				}
				Y[p] = m
				continue
			}
			var sum float32
			for _, v := range s {
				sum += v
			}
			Y[p] = sum / float32(n)
		}
		return nil
	}, nil
}
