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
	N, C, H, W, M, oh, ow int
	pt, pl                int
	hb, wp                int // band plane height (rows + kernel span - 1) and padded width
	rows, bands           int // output rows per band, bands per image
	parts                 int // shares of the output channels (6-row tiles) per band
	off                   []int32
	pa                    *kernels.PackedA
	plane, tmp            int // scratch floats per goroutine
	threads               int
}

// implicitTmp bounds the floats of one band's padded-width output
// (kernels.ConvShiftedTmp): 128 KiB, a quarter of Zen 3's L2, so that the
// output is still there when it is compacted.
const implicitTmp = 1 << 15

// implicitWaste is the largest ratio of computed to useful outputs for
// which the implicit GEMM is used: it computes whole 16-column tiles in
// padded-width rows, wp - ow garbage columns per output row.
// BenchmarkConvLayers (3×3, pad 1), GFLOP/cpu-s implicit vs im2col: TODO
// Tests set it to 0 (never) or +Inf (always).
var implicitWaste = 1.4

// planImplicit plans the stride-1 convolution of N images of C channels
// by M output channels with geometry g (one group, r ≤ 2 spatial dims)
// as an implicit GEMM on up to threads goroutines, or returns nil where
// im2col + GEMM is the better choice: for strides above 1, negative pads,
// 1×1 kernels without padding (a plain GEMM on the input), at most 4
// output channels (which kernels.PackA does not pack) and outputs that
// would be more than implicitWaste times computed.
func planImplicit(g *geom, N, C, M, threads int) *implicitPlan {
	if M <= 4 {
		return nil
	}
	pointwise := true
	for i := range g.k {
		if g.stride[i] != 1 || g.padB[i] < 0 || g.padE[i] < 0 {
			return nil
		}
		if g.k[i] != 1 || g.padB[i] != 0 || g.padE[i] != 0 {
			pointwise = false
		}
	}
	if pointwise {
		return nil
	}
	r := len(g.in)
	p := &implicitPlan{N: N, C: C, H: 1, W: g.in[r-1], M: M, oh: 1, ow: g.out[r-1], pl: g.padB[r-1]}
	kh, kw, dh, dw := 1, g.k[r-1], 1, g.dil[r-1]
	if r == 2 {
		p.H, p.oh, p.pt = g.in[0], g.out[0], g.padB[0]
		kh, dh = g.k[0], g.dil[0]
	}
	p.wp = p.ow + (kw-1)*dw
	K := C * kh * kw
	P := p.oh * p.ow
	t := max(1, min(threads, N*M*K*P/parallelMin))
	// Work is shared out as items of bands of output rows (as many rows
	// as the output buffer allows) and, when there are fewer images than
	// goroutines, either more bands or shares of the output channels,
	// whichever finishes first counting the computed outputs: a band
	// computes up to wp - ow + 15 garbage columns, a share repads the
	// whole band.
	plan := func(parts int) (bands, rows int, cost int) {
		units := (M + 5) / 6
		share := (units + parts - 1) / parts * 6
		maxRows := p.oh
		for maxRows > 1 && kernels.ConvShiftedTmp(share, maxRows, p.wp, p.ow) > implicitTmp {
			maxRows--
		}
		bands = (p.oh + maxRows - 1) / maxRows
		if parts == 1 {
			bands = max(bands, (t+N-1)/N)
		}
		rows = (p.oh + bands - 1) / bands
		bands = (p.oh + rows - 1) / rows
		items := N * bands * parts
		return bands, rows, (items + t - 1) / t * share * kernels.ConvShiftedSpan(rows, p.wp, p.ow)
	}
	p.parts = 1
	bands, rows, cost := plan(1)
	if parts := min((t+N-1)/N, (M+5)/6); parts > 1 {
		if b, r, c := plan(parts); c < cost {
			p.parts, bands, rows = parts, b, r
		}
	}
	p.bands, p.rows = bands, rows
	if float64(bands*kernels.ConvShiftedSpan(rows, p.wp, p.ow)) > implicitWaste*float64(P) {
		return nil
	}
	p.threads = min(t, N*bands*p.parts)
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
	p.tmp = kernels.ConvShiftedTmp(min(M, ((M+5)/6+p.parts-1)/p.parts*6), p.rows, p.wp, p.ow)
	return p
}

// share returns the output channels [i0, i1) of share q.
func (p *implicitPlan) share(q int) (i0, i1 int) {
	units := (p.M + 5) / 6
	return min(p.M, units*q/p.parts*6), min(p.M, units*(q+1)/p.parts*6)
}

// implicit returns the run function of the convolution planned as p by
// the constant weights w. eps, if not nil, is the one group's epilogue.
func (o *convOp) implicit(c *pctx, p *implicitPlan, w *tensor.Tensor, eps []*kernels.Epilogue, act activation) runFunc {
	p.pa = o.packed.get(w, 1, p.M, len(p.off))[0]
	c.scratch = p.threads * (p.plane + p.tmp)
	return func(e *env, in, out []*tensor.Tensor) error {
		var ep *kernels.Epilogue
		if eps != nil {
			ep = eps[0]
		} else {
			ep = act.epilogue(in[2].F32, true)
		}
		j := implicitJob{p: p, X: in[0].F32, Y: out[0].F32, ep: ep, scratch: e.scratch, items: p.N * p.bands * p.parts}
		if p.threads == 1 {
			j.chunk(0, 0, j.items)
			return nil
		}
		// The goroutines take items as they finish: on a shared machine
		// one of them may get its core late.
		j.next = new(atomic.Int64)
		parallelChunks(p.threads, p.threads, j)
		return nil
	}
}

type implicitJob struct {
	p       *implicitPlan
	X, Y    []float32
	ep      *kernels.Epilogue
	scratch []float32
	items   int           // shares of the bands of all images
	next    *atomic.Int64 // the next item to take, when parallel
}

// chunk convolves items [lo, hi), an item being one share of the output
// channels of one band of one image, or with j.next the items it takes
// from j.next. The plane is cleared once: the items write the same
// interior columns, so the left and right padding stays zero; it is
// refilled only for a new band.
func (j implicitJob) chunk(t, lo, hi int) {
	p := j.p
	buf := j.scratch[t*(p.plane+p.tmp) : (t+1)*(p.plane+p.tmp)]
	plane, tmp := buf[:p.plane], buf[p.plane:]
	clear(plane)
	HW, P := p.H*p.W, p.oh*p.ow
	filled := -1
	for it := lo; ; it++ {
		if j.next != nil {
			it = int(j.next.Add(1)) - 1
			hi = j.items
		}
		if it >= hi {
			return
		}
		band := it / p.parts
		n, y0 := band/p.bands, band%p.bands*p.rows
		rows := min(p.rows, p.oh-y0)
		if band != filled {
			p.padBand(plane, j.X[n*p.C*HW:(n+1)*p.C*HW], y0, rows+p.hb-p.rows)
			filled = band
		}
		i0, i1 := p.share(it % p.parts)
		kernels.ConvShifted(p.pa, i0, i1, p.off, plane, rows, p.wp, p.ow, j.Y[n*p.M*P+y0*p.ow:], P, j.ep, tmp)
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
