package runtime

import (
	"github.com/podaml/poda/runtime/kernels"
	"github.com/podaml/poda/tensor"
)

// Direct sparse convolution ("direct"): a pruned, ungrouped, stride-1
// 1-D or 2-D convolution without im2col. The image is zero-padded (when
// the convolution pads) to Hp×Wp, and each output channel is computed on
// the padded width: output pixel j = oy·Wp + ox reads the padded image at
// j + c·Hp·Wp + ky·dh·Wp + kx·dw for tap (c, ky, kx). So every nonzero
// weight adds itself times one contiguous run of the image to the
// channel's output row, and the weights are a CSR matrix whose column
// indices are those tap offsets (kernels.CSR.MulShifted). The columns
// ox ≥ ow of each output row are then dropped. Compared with im2col +
// sparse GEMM this skips unrolling the image (K·P floats written and read
// back) and reads the image in place.

// directConv is the geometry of a direct sparse convolution.
type directConv struct {
	csr        *kernels.CSR
	C, M, H, W int // input channels, output channels, input height and width
	hp, wp     int // padded height and width
	pt, pl     int // padding at the top and left
	oh, ow     int // output height and width
	span       int // L = (oh-1)·wp + ow: output floats per channel on the padded width
	pad, crop  bool
	output     int // scratch offset (floats) of the wide output: the padded image comes first
}

// sparseDirect prepares the direct sparse path for c's convolution when it
// applies and is asked for ("direct") or, without a format asked, when
// the weight is sparse enough (the density heuristic of sparse.go). ok
// reports whether it did.
func (o *convOp) sparseDirect(c *pctx, g *geom, act activation) (run runFunc, ok bool) {
	x, w, b := c.input(0), c.input(1), c.input(2)
	r := len(g.in)
	if o.group != 1 || r > 2 || !c.sparseWeight(1) {
		return nil, false
	}
	if c.format != "direct" && (c.format != "" || density(w.konst.F32) > csrDensity) {
		return nil, false
	}
	for i := 0; i < r; i++ {
		if g.stride[i] != 1 || g.padB[i] < 0 || g.padE[i] < 0 {
			return nil, false
		}
	}
	N, C, M := x.shape[0], x.shape[1], w.shape[0]
	// A 1-D convolution is a 2-D one of height 1.
	h, kh, dh, pt, pb, oh := 1, 1, 1, 0, 0, 1
	if r == 2 {
		h, kh, dh, pt, pb, oh = g.in[0], g.k[0], g.dil[0], g.padB[0], g.padE[0], g.out[0]
	}
	wd, kw, dw, pl, pr, ow := g.in[r-1], g.k[r-1], g.dil[r-1], g.padB[r-1], g.padE[r-1], g.out[r-1]
	d := &directConv{C: C, M: M, H: h, W: wd, hp: h + pt + pb, wp: wd + pl + pr, pt: pt, pl: pl, oh: oh, ow: ow}
	d.span = (oh-1)*d.wp + ow
	d.pad = d.hp != h || d.wp != wd
	d.crop = ow != d.wp
	K := C * kh * kw
	if M == 0 || K == 0 || d.span <= 0 {
		return nil, false
	}
	wt := w.konst
	d.csr = o.sparse.getDirect(wt, [2]int{d.hp, d.wp}, func() *kernels.CSR {
		s := kernels.NewCSR(wt.F32, M, K)
		for q, k := range s.ColIdx {
			ci, t := int(k)/(kh*kw), int(k)%(kh*kw)
			s.ColIdx[q] = int32(ci*d.hp*d.wp + t/kw*dh*d.wp + t%kw*dw)
		}
		s.Cols = C*d.hp*d.wp - d.span + 1
		s.Threads = c.threads
		return s
	})
	c.layerFormat = "direct"
	if d.pad {
		d.output = C * d.hp * d.wp
	}
	c.scratch = d.output
	if d.crop {
		c.scratch += M * d.span
	}
	var konstEp *kernels.Epilogue
	if b == nil || b.konst != nil {
		var bias []float32
		if b != nil {
			bias = b.konst.F32
		}
		konstEp = act.epilogue(bias, true)
	}
	P := oh * ow
	return func(e *env, in, out []*tensor.Tensor) error {
		ep := konstEp
		if ep == nil {
			ep = act.epilogue(in[2].F32, true)
		}
		X, Y := in[0].F32, out[0].F32
		for n := 0; n < N; n++ {
			d.run(X[n*C*h*wd:(n+1)*C*h*wd], Y[n*M*P:(n+1)*M*P], ep, e.scratch)
		}
		return nil
	}, true
}

// run convolves one image x into y ([M, oh·ow]).
func (d *directConv) run(x, y []float32, ep *kernels.Epilogue, scratch []float32) {
	img := x
	if d.pad {
		img = scratch[:d.output]
		clear(img)
		plane := d.hp * d.wp
		for ci := 0; ci < d.C; ci++ {
			padRows(img[ci*plane:], x[ci*d.H*d.W:(ci+1)*d.H*d.W], d.H, d.W, d.wp, d.pt, d.pl, 1, d.hp)
		}
	}
	if !d.crop {
		// Output rows as wide as the padded image: y is the wide output.
		d.csr.MulShifted(y, d.oh*d.ow, img, d.span, 0, ep)
		return
	}
	wide := scratch[d.output : d.output+d.M*d.span]
	d.csr.MulShifted(wide, d.span, img, d.span, 0, ep)
	P := d.oh * d.ow
	for m := 0; m < d.M; m++ {
		for oy := 0; oy < d.oh; oy++ {
			copy(y[m*P+oy*d.ow:m*P+(oy+1)*d.ow], wide[m*d.span+oy*d.wp:])
		}
	}
}
