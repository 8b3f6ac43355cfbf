package train

import (
	"fmt"
	"math"
	"sync"

	"github.com/podaml/poda/graph"
)

func init() {
	register("MaxPool", newPool)
	register("AveragePool", newPool)
	register("GlobalAveragePool", func(*graph.Node, int64) (op, error) { return &gapOp{}, nil })
}

// poolOp is 1-D or 2-D MaxPool or AveragePool.
type poolOp struct {
	max                        bool
	kernel, pads, strides, dil []int
	autoPad                    string
	ceil, includePad           bool

	n, c, h, w int
	win        window
	arg        []int32 // MaxPool: input offset (within the plane) of each maximum

	// the call in progress, for runChunk
	fwd     bool
	in, out []*value
	wg      sync.WaitGroup
}

func newPool(n *graph.Node, _ int64) (op, error) {
	o := &poolOp{max: n.OpType == "MaxPool",
		kernel: intsAttr(n, "kernel_shape", nil), pads: intsAttr(n, "pads", nil),
		strides: intsAttr(n, "strides", nil), dil: intsAttr(n, "dilations", nil),
		autoPad: n.Str("auto_pad", "NOTSET"), ceil: n.Int("ceil_mode", 0) != 0,
		includePad: n.Int("count_include_pad", 0) != 0}
	if o.kernel == nil {
		return nil, fmt.Errorf("%s without kernel_shape", n.OpType)
	}
	if len(n.Outputs) > 1 && n.Outputs[1] != "" {
		return nil, fmt.Errorf("MaxPool Indices output: %w", ErrUnsupported)
	}
	return o, nil
}

func (o *poolOp) plan(in, out []*value) error {
	x := in[0]
	win, err := resolveWindow(len(x.shape), x.shape, o.kernel, o.pads, o.strides, o.dil, o.autoPad, o.ceil)
	if err != nil {
		return err
	}
	o.win = win
	o.n, o.c = x.shape[0], x.shape[1]
	o.h, o.w = 1, x.shape[2]
	if len(x.shape) == 4 {
		o.h, o.w = x.shape[2], x.shape[3]
		setShape(out[0], o.n, o.c, win.oh, win.ow)
	} else {
		setShape(out[0], o.n, o.c, win.ow)
	}
	if o.max {
		m := o.n * o.c * win.oh * win.ow
		if cap(o.arg) < m {
			o.arg = make([]int32, m)
		}
		o.arg = o.arg[:m]
	}
	return nil
}

// maxPool2x2 is the common MaxPool 2×2, stride 2, no padding or dilation.
func (o *poolOp) maxPool2x2(x, y []float32, p0, p1 int) {
	wn := &o.win
	hw, P := o.h*o.w, wn.oh*wn.ow
	for pl := p0; pl < p1; pl++ {
		src := x[pl*hw : (pl+1)*hw]
		dst := y[pl*P : (pl+1)*P]
		arg := o.arg[pl*P : (pl+1)*P]
		for oy := 0; oy < wn.oh; oy++ {
			r0 := src[2*oy*o.w : 2*oy*o.w+o.w]
			r1 := src[(2*oy+1)*o.w : (2*oy+1)*o.w+o.w]
			d := dst[oy*wn.ow : (oy+1)*wn.ow]
			a := arg[oy*wn.ow : (oy+1)*wn.ow]
			for ox := range d {
				i := 2 * ox
				best, bi := r0[i], 2*oy*o.w+i
				if v := r0[i+1]; v > best {
					best, bi = v, 2*oy*o.w+i+1
				}
				if v := r1[i]; v > best {
					best, bi = v, (2*oy+1)*o.w+i
				}
				if v := r1[i+1]; v > best {
					best, bi = v, (2*oy+1)*o.w+i+1
				}
				d[ox], a[ox] = best, int32(bi)
			}
		}
	}
}

func (o *poolOp) forward(_ *Program, in, out []*value, _ bool) {
	o.fwd, o.in, o.out = true, in, out
	parallelChunks(o, &o.wg)
	o.in, o.out = nil, nil
}

func (o *poolOp) backward(_ *Program, in, out []*value) {
	if in[0].grad == nil {
		return
	}
	o.fwd, o.in, o.out = false, in, out
	parallelChunks(o, &o.wg)
	o.in, o.out = nil, nil
}

func (o *poolOp) runChunk(c int) {
	p0, p1 := chunkRange(c, o.n*o.c)
	if o.fwd {
		o.forwardPlanes(o.in[0].data, o.out[0].data, p0, p1)
	} else {
		o.backwardPlanes(o.in[0].grad, o.out[0].grad, p0, p1)
	}
}

func (o *poolOp) forwardPlanes(x, y []float32, p0, p1 int) {
	wn := &o.win
	if o.max && wn.kh == 2 && wn.kw == 2 && wn.sh == 2 && wn.sw == 2 && wn.dh == 1 && wn.dw == 1 &&
		wn.pt == 0 && wn.pl == 0 && 2*wn.oh <= o.h && 2*wn.ow <= o.w {
		o.maxPool2x2(x, y, p0, p1)
		return
	}
	hw := o.h * o.w
	P := wn.oh * wn.ow
	for pl := p0; pl < p1; pl++ {
		src := x[pl*hw : (pl+1)*hw]
		dst := y[pl*P : (pl+1)*P]
		for oy := 0; oy < wn.oh; oy++ {
			y0 := oy*wn.sh - wn.pt
			for ox := 0; ox < wn.ow; ox++ {
				x0 := ox*wn.sw - wn.pl
				if o.max {
					best, bi := float32(math.Inf(-1)), int32(-1)
					for ki := 0; ki < wn.kh; ki++ {
						iy := y0 + ki*wn.dh
						if iy < 0 || iy >= o.h {
							continue
						}
						for kj := 0; kj < wn.kw; kj++ {
							ix := x0 + kj*wn.dw
							if ix < 0 || ix >= o.w {
								continue
							}
							if v := src[iy*o.w+ix]; v > best || bi < 0 {
								best, bi = v, int32(iy*o.w+ix)
							}
						}
					}
					dst[oy*wn.ow+ox] = best
					o.arg[pl*P+oy*wn.ow+ox] = bi
					continue
				}
				var s float32
				cnt := 0
				for ki := 0; ki < wn.kh; ki++ {
					iy := y0 + ki*wn.dh
					if iy < 0 || iy >= o.h {
						continue
					}
					for kj := 0; kj < wn.kw; kj++ {
						ix := x0 + kj*wn.dw
						if ix < 0 || ix >= o.w {
							continue
						}
						s += src[iy*o.w+ix]
						cnt++
					}
				}
				dst[oy*wn.ow+ox] = s / float32(o.divisor(oy, ox, cnt))
			}
		}
	}
}

// divisor is AveragePool's count for window (oy, ox): the valid inputs, or
// with count_include_pad the window clipped to the padded input (torch's
// rule).
func (o *poolOp) divisor(oy, ox, valid int) int {
	if !o.includePad {
		return max(valid, 1)
	}
	wn := &o.win
	y0, x0 := oy*wn.sh-wn.pt, ox*wn.sw-wn.pl
	y1 := min(y0+(wn.kh-1)*wn.dh+1, o.h+wn.pb)
	x1 := min(x0+(wn.kw-1)*wn.dw+1, o.w+wn.pr)
	return max(1, ((y1-y0+wn.dh-1)/wn.dh)*((x1-x0+wn.dw-1)/wn.dw))
}

func (o *poolOp) backwardPlanes(dx, dy []float32, p0, p1 int) {
	wn := &o.win
	hw := o.h * o.w
	P := wn.oh * wn.ow
	for pl := p0; pl < p1; pl++ {
		d := dx[pl*hw : (pl+1)*hw]
		g := dy[pl*P : (pl+1)*P]
		if o.max {
			for i, a := range o.arg[pl*P : (pl+1)*P] {
				if a >= 0 {
					d[a] += g[i]
				}
			}
			continue
		}
		for oy := 0; oy < wn.oh; oy++ {
			y0 := oy*wn.sh - wn.pt
			for ox := 0; ox < wn.ow; ox++ {
				x0 := ox*wn.sw - wn.pl
				cnt := 0
				for ki := 0; ki < wn.kh; ki++ {
					iy := y0 + ki*wn.dh
					if iy < 0 || iy >= o.h {
						continue
					}
					for kj := 0; kj < wn.kw; kj++ {
						if ix := x0 + kj*wn.dw; ix >= 0 && ix < o.w {
							cnt++
						}
					}
				}
				v := g[oy*wn.ow+ox] / float32(o.divisor(oy, ox, cnt))
				for ki := 0; ki < wn.kh; ki++ {
					iy := y0 + ki*wn.dh
					if iy < 0 || iy >= o.h {
						continue
					}
					for kj := 0; kj < wn.kw; kj++ {
						if ix := x0 + kj*wn.dw; ix >= 0 && ix < o.w {
							d[iy*o.w+ix] += v
						}
					}
				}
			}
		}
	}
}

// gapOp is GlobalAveragePool over every dimension after the second.
type gapOp struct{ planes, size int }

func (o *gapOp) plan(in, out []*value) error {
	s := in[0].shape
	if len(s) < 3 {
		return fmt.Errorf("GlobalAveragePool of rank %d", len(s))
	}
	o.planes, o.size = s[0]*s[1], tensorProd(s[2:])
	shape := []int{s[0], s[1]}
	for range s[2:] {
		shape = append(shape, 1)
	}
	setShape(out[0], shape...)
	return nil
}

func (o *gapOp) forward(_ *Program, in, out []*value, _ bool) {
	x, y := in[0].data, out[0].data
	for p := 0; p < o.planes; p++ {
		var s float32
		for _, v := range x[p*o.size : (p+1)*o.size] {
			s += v
		}
		y[p] = s / float32(o.size)
	}
}

func (o *gapOp) backward(_ *Program, in, out []*value) {
	dx, dy := in[0].grad, out[0].grad
	if dx == nil {
		return
	}
	for p := 0; p < o.planes; p++ {
		g := dy[p] / float32(o.size)
		d := dx[p*o.size : (p+1)*o.size]
		for i := range d {
			d[i] += g
		}
	}
}
