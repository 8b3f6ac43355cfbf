package runtime

import (
	"sync/atomic"

	"github.com/podaml/poda/runtime/kernels"
	"github.com/podaml/poda/tensor"
)

// Stride-1 convolutions with one group (1-D and 2-D) as an implicit GEMM,
// kernels.ConvShifted: each band of output rows reads a zero-padded copy
// of the input rows it needs, and the GEMM's B is that plane shifted by
// one offset per kernel tap, so there is no im2col matrix (kh·kw times
// the input) and no packing of B. Images, or bands of one image, are
// split across goroutines.

// implicitPlan is an implicit-GEMM convolution's geometry, fixed when
// planning.
type implicitPlan struct {
	C, H, W, M, oh, ow int
	pt, pl             int
	hb, wp             int // band plane height (rows + kernel span - 1) and padded width
	rows, bands        int // output rows per band, bands per image
	off                []int32
	pa                 *kernels.PackedA
	plane, tmp         int // scratch floats per goroutine
	threads            int
}

// convImplicit enables the implicit-GEMM path; tests switch it off to
// compare it with im2col + GEMM.
var convImplicit = true

// implicitTmp bounds the floats of one band's padded-width output
// (kernels.ConvShiftedTmp): 128 KiB, a quarter of Zen 3's L2, so that the
// output is still there when it is compacted.
const implicitTmp = 1 << 15

// useImplicit reports whether the convolution with geometry g (r ≤ 2
// spatial dims), M output channels and one group runs as an implicit
// GEMM: stride 1, non-negative pads, and more than a 1×1 kernel without
// padding (that one is a plain GEMM on the input).
func useImplicit(g *geom, M int) bool {
	if M <= 4 {
		return false // kernels.PackA does not pack so few rows
	}
	pointwise := true
	for i := range g.k {
		if g.stride[i] != 1 || g.padB[i] < 0 || g.padE[i] < 0 {
			return false
		}
		if g.k[i] != 1 || g.padB[i] != 0 || g.padE[i] != 0 {
			pointwise = false
		}
	}
	return !pointwise
}

// implicit plans the convolution of N images of C channels by the
// constant weights w (M output channels) with geometry g, which
// useImplicit accepted. eps, if not nil, is the one group's epilogue.
func (o *convOp) implicit(c *pctx, g *geom, N, C, M int, w *tensor.Tensor, eps []*kernels.Epilogue, act activation) (runFunc, error) {
	p := &implicitPlan{C: C, H: 1, W: g.in[len(g.in)-1], M: M, oh: 1, ow: g.out[len(g.out)-1], pl: g.padB[len(g.in)-1]}
	kh, kw, dh, dw := 1, g.k[len(g.k)-1], 1, g.dil[len(g.k)-1]
	if len(g.in) == 2 {
		p.H, p.oh, p.pt = g.in[0], g.out[0], g.padB[0]
		kh, dh = g.k[0], g.dil[0]
	}
	p.wp = p.ow + (kw-1)*dw
	K := C * kh * kw
	P := p.oh * p.ow
	// Bands: as many rows as the output buffer allows, and at least
	// one band per goroutine when there are fewer images.
	p.threads = max(1, min(c.threads, N*p.oh, N*M*K*P/parallelMin))
	maxRows := p.oh
	for maxRows > 1 && kernels.ConvShiftedTmp(M, maxRows, p.wp, p.ow) > implicitTmp {
		maxRows--
	}
	p.bands = max((p.oh+maxRows-1)/maxRows, (p.threads+N-1)/N)
	p.rows = (p.oh + p.bands - 1) / p.bands
	p.bands = (p.oh + p.rows - 1) / p.rows
	p.threads = min(p.threads, N*p.bands)
	p.hb = p.rows + (kh-1)*dh
	p.off = make([]int32, 0, K)
	for ci := 0; ci < C; ci++ {
		for ky := 0; ky < kh; ky++ {
			for kx := 0; kx < kw; kx++ {
				p.off = append(p.off, int32(ci*p.hb*p.wp+ky*dh*p.wp+kx*dw))
			}
		}
	}
	p.plane = C*p.hb*p.wp + kernels.ConvShiftedSpan(p.rows, p.wp, p.ow)
	p.tmp = kernels.ConvShiftedTmp(M, p.rows, p.wp, p.ow)
	p.pa = o.packed.get(w, 1, M, K)[0]
	c.scratch = p.threads * (p.plane + p.tmp)
	return func(e *env, in, out []*tensor.Tensor) error {
		var ep *kernels.Epilogue
		if eps != nil {
			ep = eps[0]
		} else {
			ep = act.epilogue(in[2].F32, true)
		}
		j := implicitJob{p: p, X: in[0].F32, Y: out[0].F32, ep: ep, scratch: e.scratch, items: N * p.bands}
		if p.threads == 1 {
			j.chunk(0, 0, j.items)
			return nil
		}
		// The goroutines take items as they finish: on a shared machine
		// one of them may get its core late.
		j.next = new(atomic.Int64)
		parallelChunks(p.threads, p.threads, j)
		return nil
	}, nil
}

type implicitJob struct {
	p       *implicitPlan
	X, Y    []float32
	ep      *kernels.Epilogue
	scratch []float32
	items   int           // bands of all images
	next    *atomic.Int64 // the next item to take, when parallel
}

// chunk convolves items [lo, hi), an item being one band of one image,
// or with j.next the items it takes from j.next. The plane is cleared
// once: the items write the same interior columns, so the left and right
// padding stays zero.
func (j implicitJob) chunk(t, lo, hi int) {
	p := j.p
	buf := j.scratch[t*(p.plane+p.tmp) : (t+1)*(p.plane+p.tmp)]
	plane, tmp := buf[:p.plane], buf[p.plane:]
	clear(plane)
	HW, P := p.H*p.W, p.oh*p.ow
	for it := lo; ; it++ {
		if j.next != nil {
			it = int(j.next.Add(1)) - 1
			hi = j.items
		}
		if it >= hi {
			return
		}
		n, y0 := it/p.bands, it%p.bands*p.rows
		rows := min(p.rows, p.oh-y0)
		p.padBand(plane, j.X[n*p.C*HW:(n+1)*p.C*HW], y0, rows+p.hb-p.rows)
		kernels.ConvShifted(p.pa, p.off, plane, rows, p.wp, p.ow, j.Y[n*p.M*P+y0*p.ow:], P, j.ep, tmp)
	}
}

// padBand writes the first n rows of each channel's band plane, padded
// input rows y0… (input row y0 - pt …): the image's columns, or zeros
// for rows outside the image. The other columns must already be zero.
func (p *implicitPlan) padBand(dst, src []float32, y0, n int) {
	H, W, wp, pl := p.H, p.W, p.wp, p.pl
	r0, r1 := max(0, p.pt-y0), min(n, H+p.pt-y0) // rows inside the image
	for c := 0; c < p.C; c++ {
		d := dst[c*p.hb*wp : c*p.hb*wp+n*wp]
		if r0 >= r1 {
			clear(d)
			continue
		}
		clear(d[:r0*wp])
		clear(d[r1*wp:])
		img := src[c*H*W : (c+1)*H*W]
		for r := r0; r < r1; r++ {
			iy := y0 + r - p.pt
			copy(d[r*wp+pl:r*wp+pl+W], img[iy*W:(iy+1)*W])
		}
	}
}
