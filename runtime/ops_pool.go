package runtime

import (
	"fmt"
	"math"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/runtime/kernels"
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
	fast := r == 2 && !withIdx
	if fast {
		pp.plan2D()
		c.scratch = c.threads * pp.scratch
	}
	work := planes * outSize * pp.kk
	return func(e *env, in, out []*tensor.Tensor) error {
		j := poolJob{p: pp, X: in[0].F32, Y: out[0].F32, fast: fast, scratch: e.scratch}
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
	pool2D
}

// pool2D is the geometry of chunk2D: see there.
type pool2D struct {
	rowsF    int       // rows of v and h: (oh-1)·sh + 1
	mL, vLen int       // v's margin before its rows, and its length with both margins
	rowOffs  []int     // per kernel row, the input row that v's row 0 reads
	colOffs  []int     // per kernel column, the column of v that h's column 0 reads
	inner    [2]int    // the output columns [a, b) whose windows are inside the input's columns
	counts   []float32 // averages: per output pixel, the number of values its window counts
	identity []float32 // vLen values of the identity (-Inf or 0)
	scratch  int       // floats per goroutine: v, then h
}

// plan2D resolves chunk2D's offsets, border columns and counts.
func (p *poolPlan) plan2D() {
	g := p.g
	H, W, oh, ow := g.in[0], g.in[1], g.out[0], g.out[1]
	kh, sh, dh, pt := g.k[0], g.stride[0], g.dil[0], g.padB[0]
	kw, sw, dw, pl := g.k[1], g.stride[1], g.dil[1], g.padB[1]
	p.rowsF = (oh-1)*sh + 1
	for ki := 0; ki < kh; ki++ {
		p.rowOffs = append(p.rowOffs, ki*dh-pt)
	}
	for kj := 0; kj < kw; kj++ {
		p.colOffs = append(p.colOffs, kj*dw-pl)
	}
	p.mL, p.vLen = pl, pl+p.rowsF*W+max(0, (kw-1)*dw-pl)
	a, b := 0, ow
	for a < ow && a*sw+p.colOffs[0] < 0 {
		a++
	}
	for b > a && (b-1)*sw+p.colOffs[kw-1] >= W {
		b--
	}
	p.inner = [2]int{a, b}
	if !p.isMax {
		// The rows and columns of each window inside the input or, with
		// count_include_pad, inside the padded input.
		inside := func(i, n, padE int) bool { return i < n+padE && (p.includePad || i >= 0 && i < n) }
		for oy := 0; oy < oh; oy++ {
			rows := 0
			for _, off := range p.rowOffs {
				if inside(oy*sh+off, H, g.padE[0]) {
					rows++
				}
			}
			for ox := 0; ox < ow; ox++ {
				cols := 0
				for _, off := range p.colOffs {
					if inside(ox*sw+off, W, g.padE[1]) {
						cols++
					}
				}
				p.counts = append(p.counts, float32(rows*cols))
			}
		}
	}
	p.identity = make([]float32, p.vLen)
	if p.isMax {
		for i := range p.identity {
			p.identity[i] = float32(math.Inf(-1))
		}
	}
	p.scratch = p.vLen + p.rowsF*W
}

type poolJob struct {
	p       *poolPlan
	X, Y    []float32
	I       []int64
	fast    bool // 2-D without Indices
	scratch []float32
}

// chunk2D pools planes [lo, hi) of a 2-D input in two passes over the
// whole plane, each a few calls of a vector kernel (max or sum) on long
// runs: v, with the input's row stride, combines the input rows of each
// kernel row, at every row from the first window's to the last one's (a
// run of rows per kernel row); h combines the columns of v of each kernel
// column, at every position (a run over all of v per kernel column). The
// outputs are then every sh-th row and sw-th column of h (a sum divided
// by its count), except at the columns whose windows cross the input's
// left or right edge, where h's run read the neighbouring row: those are
// combined again from v, tap by tap.
func (j poolJob) chunk2D(t, lo, hi int) {
	p := j.p
	g := p.g
	H, W, oh, ow, sh, sw := g.in[0], g.in[1], g.out[0], g.out[1], g.stride[0], g.stride[1]
	n := p.rowsF * W
	buf := j.scratch[t*p.scratch : (t+1)*p.scratch]
	vm, h := buf[:p.vLen], buf[p.vLen:p.vLen+n]
	v := vm[p.mL : p.mL+n]
	combine := kernels.AddTo
	if p.isMax {
		combine = kernels.MaxTo
	}
	for pl := lo; pl < hi; pl++ {
		img := j.X[pl*p.inSize : (pl+1)*p.inSize]
		dst := j.Y[pl*p.outSize : (pl+1)*p.outSize]
		copy(vm, p.identity)
		for _, off := range p.rowOffs {
			// Rows y of v whose input row y + off is inside the input.
			y0, y1 := max(0, -off), min(p.rowsF, H-off)
			if y0 < y1 {
				combine(v[y0*W:y1*W], img[(y0+off)*W:(y1+off)*W])
			}
		}
		copy(h, p.identity[:n])
		for _, off := range p.colOffs {
			combine(h, vm[p.mL+off:p.mL+off+n])
		}
		for oy := 0; oy < oh; oy++ {
			vrow, hrow := v[oy*sh*W:(oy*sh+1)*W], h[oy*sh*W:]
			drow := dst[oy*ow : (oy+1)*ow]
			a, b := p.inner[0], p.inner[1]
			if sw == 1 {
				copy(drow[a:b], hrow[a:b])
			} else if a < b {
				hr := hrow[a*sw : (b-1)*sw+1]
				for i := range drow[a:b] {
					drow[a+i] = hr[i*sw]
				}
			}
			for ox := 0; ox < a; ox++ {
				drow[ox] = p.edge(vrow, ox*sw, W)
			}
			for ox := b; ox < ow; ox++ {
				drow[ox] = p.edge(vrow, ox*sw, W)
			}
			if !p.isMax {
				for ox, c := range p.counts[oy*ow : (oy+1)*ow] {
					drow[ox] /= c
				}
			}
		}
	}
}

// edge combines, tap by tap, the window at column x of the row vrow of v
// (W wide), whose taps are not all inside it.
func (p *poolPlan) edge(vrow []float32, x, W int) float32 {
	m := p.identity[0]
	for _, off := range p.colOffs {
		if i := x + off; i >= 0 && i < W {
			if !p.isMax {
				m += vrow[i]
			} else if u := vrow[i]; u > m || u != u {
				m = u
			}
		}
	}
	return m
}

// chunk pools planes [lo, hi): through chunk2D when it applies, else
// for any spatial rank and the Indices output.
func (j poolJob) chunk(t, lo, hi int) {
	if j.fast {
		j.chunk2D(t, lo, hi)
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
