package runtime

import (
	"math"
	"sync/atomic"

	"github.com/podaml/poda/runtime/kernels"
	"github.com/podaml/poda/tensor"
)

// Convolutions with one group (1-D and 2-D) as an implicit GEMM,
// kernels.ConvShifted: each band of output rows reads a zero-padded copy
// of the input rows it needs, and the GEMM's B is that plane shifted by
// one offset per kernel tap, so there is no im2col matrix (kh·kw times
// the input) and no packing of B. With strides sh×sw the padded input is
// split into its sh·sw stride phases (rows ≡ py mod sh, columns ≡ px mod
// sw), each a plane of its own: tap (ky, kx) of output (oy, ox) reads
// phase (ky·dh mod sh, kx·dw mod sw) at (oy + ky·dh/sh, ox + kx·dw/sw),
// a stride-1 shift again. Images, bands of one image or shares of the
// output channels are split across goroutines.

// implicitPlan is an implicit-GEMM convolution's geometry, fixed when
// planning.
type implicitPlan struct {
	N, C, H, W, M, oh, ow int
	pt, pl, sh, sw        int
	hb, wp                int // a band's phase plane: height (rows + (kh-1)·dh/sh) and width
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
// which the implicit GEMM is used, for single images and for batches: it
// computes whole 16-column tiles in padded-width rows, wp - ow garbage
// columns per output row. BenchmarkConvLayers (3×3, pad 1; GFLOP/cpu-s,
// medians of 3 on the shared 2-vCPU machine, implicit vs im2col + GEMM,
// waste in brackets):
//
//	batch 64: 28×28 45 vs 29 (1.08), 14×14 44 vs 25 (1.14), 7×7 42 vs 38
//	(1.31), 3×3 25 vs 19 (1.78), 5×5 22 vs 15 (1.92), 4×4 33 vs 35 (2.0);
//	stride 2 from 28×28 29 vs 17, from 14×14 29 vs 16, from 8×8 31 vs 32
//	(2.0)
//	batch 1: 28×28 28 vs 22, 14×14 31 vs 19, 7×7 33 vs 23 (1.31), 6×6 33
//	vs 16 (1.33), 8×8 51 vs 49 (1.25), 16×16 45 vs 45; 5×5 22 vs 25
//	(1.92), 4×4 37 vs 49 (2.0), stride 2 from 8×8 26 vs 33 (2.0); 7×7
//	stride 2 from 64×64×3 40 vs 20
//
// (im2col's batches of small images pack many images' columns, which
// costs more than single images' GEMMs.) Tests set both to 0 (never) or
// +Inf (always).
var implicitWaste = [2]float64{1.4, 1.95}

// planImplicit plans the convolution of N images of C channels by M
// output channels with geometry g (one group, r ≤ 2 spatial dims) as an
// implicit GEMM on up to threads goroutines, or returns nil where im2col
// + GEMM is the better choice or the only one: negative pads, 1×1
// kernels without padding (a plain GEMM on the input, or on its
// subsample), at most 4 output channels (which kernels.PackA does not
// pack), empty inputs, more than implicitWaste times as many computed outputs as
// useful ones, and planes too large for int32 offsets.
func planImplicit(g *geom, N, C, M, threads int) *implicitPlan {
	if M <= 4 || N == 0 || C == 0 {
		return nil
	}
	pointwise := true
	for i := range g.k {
		if g.padB[i] < 0 || g.padE[i] < 0 {
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
	p := &implicitPlan{N: N, C: C, H: 1, W: g.in[r-1], M: M, oh: 1, ow: g.out[r-1], pl: g.padB[r-1], sh: 1, sw: g.stride[r-1]}
	kh, kw, dh, dw := 1, g.k[r-1], 1, g.dil[r-1]
	if r == 2 {
		p.H, p.oh, p.pt, p.sh = g.in[0], g.out[0], g.padB[0], g.stride[0]
		kh, dh = g.k[0], g.dil[0]
	}
	p.wp = p.ow + (kw-1)*dw/p.sw
	K := C * kh * kw
	P := p.oh * p.ow
	t := max(1, min(threads, N*M*K*P/parallelMin))
	// Work is shared out as items of bands of output rows (as many rows
	// as the output buffer allows) and, when there are fewer images than
	// goroutines, either more bands or shares of the output channels,
	// whichever finishes first counting the computed outputs: a band
	// computes up to wp - ow + 15 garbage columns, a share repads the
	// whole band.
	split := func(parts int) (bands, rows int, cost int) {
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
	bands, rows, cost := split(1)
	if parts := min((t+N-1)/N, (M+5)/6); parts > 1 {
		if b, r, c := split(parts); c < cost {
			p.parts, bands, rows = parts, b, r
		}
	}
	p.bands, p.rows = bands, rows
	limit := implicitWaste[0]
	if N > 1 {
		limit = implicitWaste[1]
	}
	if float64(bands*kernels.ConvShiftedSpan(rows, p.wp, p.ow)) > limit*float64(P) {
		return nil
	}
	p.threads = min(t, N*bands*p.parts)
	p.hb = p.rows + (kh-1)*dh/p.sh
	if C*p.sh*p.sw*p.hb*p.wp > math.MaxInt32-kernels.ConvShiftedSpan(p.rows, p.wp, p.ow) {
		return nil // the offsets are int32
	}
	p.off = make([]int32, 0, K)
	for ci := 0; ci < C; ci++ {
		for ky := 0; ky < kh; ky++ {
			for kx := 0; kx < kw; kx++ {
				phase := (ci*p.sh+ky*dh%p.sh)*p.sw + kx*dw%p.sw
				p.off = append(p.off, int32(phase*p.hb*p.wp+ky*dh/p.sh*p.wp+kx*dw/p.sw))
			}
		}
	}
	p.plane = C*p.sh*p.sw*p.hb*p.wp + kernels.ConvShiftedSpan(p.rows, p.wp, p.ow)
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
		j.next = e.items()
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

// padBand writes the first n rows of each channel's band planes: for
// phase (py, px), row r and column x, the padded input at row (y0+r)·sh
// + py and column x·sw + px, or zeros for rows outside the image. The
// columns outside the image must already be zero.
func (p *implicitPlan) padBand(dst, src []float32, y0, n int) {
	H, W, wp, sw := p.H, p.W, p.wp, p.sw
	size := p.hb * wp
	for c := 0; c < p.C; c++ {
		img := src[c*H*W : (c+1)*H*W]
		for py := 0; py < p.sh; py++ {
			// Rows [r0, r1) are inside the image.
			r0 := max(0, (p.pt-py-y0*p.sh+p.sh-1)/p.sh)
			r1 := min(n, max(r0, (H+p.pt-py-y0*p.sh+p.sh-1)/p.sh))
			for px := 0; px < sw; px++ {
				d := dst[((c*p.sh+py)*sw+px)*size:][:n*wp]
				clear(d[:r0*wp])
				clear(d[r1*wp:])
				// Columns [x0, x1) are inside the image, from input column ix0.
				x0 := max(0, (p.pl-px+sw-1)/sw)
				x1 := min(wp, max(x0, (W+p.pl-px+sw-1)/sw))
				ix0 := x0*sw + px - p.pl
				for r := r0; r < r1; r++ {
					iy := (y0+r)*p.sh + py - p.pt
					row := d[r*wp+x0 : r*wp+x1]
					if sw == 1 {
						copy(row, img[iy*W+ix0:])
						continue
					}
					s := img[iy*W+ix0:]
					for x := range row {
						row[x] = s[x*sw]
					}
				}
			}
		}
	}
}
