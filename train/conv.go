package train

import (
	"fmt"
	"sync"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/runtime/kernels"
)

func init() { register("Conv", newConv) }

// convOp is a 1-D or 2-D convolution with pads, strides, dilations and
// groups, computed per sample and group through im2col (P = outH·outW),
// the batch split into chunks that run in parallel:
//
//	col_s [C·kh·kw, P], Y_s,g [Cout_g, P] = W_g × col_s,g
//	dW_g += dY_s,g × col_s,gᵀ,  dX_s = Col2im(W_gᵀ × dY_s,g)
type convOp struct {
	group                      int
	kernel, pads, strides, dil []int
	autoPad                    string

	n, c, h, w, cout, kh, kw, oh, ow int
	pt, pl, pb, pr, sh, sw, dh, dw   int
	col                              []float32         // [N][C·kh·kw][P] kept for backward, or [chunks][C·kh·kw][P]
	keep                             bool              // col holds every sample (the weight needs a gradient)
	tmp, gw, gb                      [chunks][]float32 // per chunk: column gradient, partial dW and dB
	wt                               []float32         // Wᵀ per group

	// the call in progress, for runChunk
	fwd     bool
	in, out []*value
	wg      sync.WaitGroup
}

func newConv(n *graph.Node, _ int64) (op, error) {
	o := &convOp{
		group:   int(n.Int("group", 1)),
		kernel:  intsAttr(n, "kernel_shape", nil),
		pads:    intsAttr(n, "pads", nil),
		strides: intsAttr(n, "strides", nil),
		dil:     intsAttr(n, "dilations", nil),
		autoPad: n.Str("auto_pad", "NOTSET"),
	}
	if o.group < 1 {
		return nil, fmt.Errorf("group %d", o.group)
	}
	return o, nil
}

// spatial resolves 1-D or 2-D window attributes for an input of spatial
// size h×w (h = 1 for 1-D): kernel, pads, strides, dilations.
type window struct {
	kh, kw, pt, pl, pb, pr, sh, sw, dh, dw, oh, ow int
}

func resolveWindow(rank int, in []int, kernel, pads, strides, dil []int, autoPad string, ceil bool) (window, error) {
	var z window
	sp := rank - 2
	if sp != 1 && sp != 2 {
		return z, fmt.Errorf("%d spatial dims: %w", sp, ErrUnsupported)
	}
	if len(kernel) != sp {
		return z, fmt.Errorf("kernel_shape %v for %d spatial dims", kernel, sp)
	}
	get := func(s []int, i, def int) int {
		if s == nil {
			return def
		}
		return s[i]
	}
	if strides != nil && len(strides) != sp || dil != nil && len(dil) != sp || pads != nil && len(pads) != 2*sp {
		return z, fmt.Errorf("strides %v / dilations %v / pads %v for %d spatial dims", strides, dil, pads, sp)
	}
	k := make([]int, 2)
	st := make([]int, 2)
	d := make([]int, 2)
	pb := make([]int, 2)
	pe := make([]int, 2)
	o := make([]int, 2)
	sz := make([]int, 2)
	k[0], st[0], d[0], sz[0] = 1, 1, 1, 1
	off := 2 - sp
	for i := 0; i < sp; i++ {
		k[off+i] = kernel[i]
		st[off+i] = get(strides, i, 1)
		d[off+i] = get(dil, i, 1)
		pb[off+i] = get(pads, i, 0)
		pe[off+i] = get(pads, sp+i, 0)
		sz[off+i] = in[2+i]
	}
	for i := 0; i < 2; i++ {
		if st[i] < 1 || d[i] < 1 || k[i] < 1 || pb[i] < 0 || pe[i] < 0 {
			return z, fmt.Errorf("invalid window kernel %v strides %v dilations %v pads %v", kernel, strides, dil, pads)
		}
		switch autoPad {
		case "", "NOTSET":
		case "VALID":
			pb[i], pe[i] = 0, 0
		case "SAME_UPPER", "SAME_LOWER":
			out := (sz[i] + st[i] - 1) / st[i]
			total := max(0, (out-1)*st[i]+d[i]*(k[i]-1)+1-sz[i])
			if autoPad == "SAME_UPPER" {
				pb[i], pe[i] = total/2, total-total/2
			} else {
				pb[i], pe[i] = total-total/2, total/2
			}
		default:
			return z, fmt.Errorf("auto_pad %q: %w", autoPad, ErrUnsupported)
		}
		span := sz[i] + pb[i] + pe[i] - d[i]*(k[i]-1) - 1
		if span < 0 {
			return z, fmt.Errorf("window %d (dilation %d) larger than padded input %d", k[i], d[i], sz[i]+pb[i]+pe[i])
		}
		if ceil {
			o[i] = (span+st[i]-1)/st[i] + 1
			// The last window must start inside the input or left padding.
			if (o[i]-1)*st[i] >= sz[i]+pb[i] {
				o[i]--
			}
		} else {
			o[i] = span/st[i] + 1
		}
	}
	return window{kh: k[0], kw: k[1], pt: pb[0], pl: pb[1], pb: pe[0], pr: pe[1],
		sh: st[0], sw: st[1], dh: d[0], dw: d[1], oh: o[0], ow: o[1]}, nil
}

func (o *convOp) plan(in, out []*value) error {
	x, w := in[0], in[1]
	if len(x.shape) < 3 || len(w.shape) != len(x.shape) {
		return fmt.Errorf("Conv input %v, weight %v", x.shape, w.shape)
	}
	kernel := o.kernel
	if kernel == nil {
		kernel = w.shape[2:]
	}
	win, err := resolveWindow(len(x.shape), x.shape, kernel, o.pads, o.strides, o.dil, o.autoPad, false)
	if err != nil {
		return err
	}
	o.n, o.c = x.shape[0], x.shape[1]
	o.h, o.w = 1, x.shape[2]
	if len(x.shape) == 4 {
		o.h, o.w = x.shape[2], x.shape[3]
	}
	o.cout = w.shape[0]
	o.kh, o.kw, o.oh, o.ow = win.kh, win.kw, win.oh, win.ow
	o.pt, o.pl, o.pb, o.pr, o.sh, o.sw, o.dh, o.dw = win.pt, win.pl, win.pb, win.pr, win.sh, win.sw, win.dh, win.dw
	if o.c%o.group != 0 || o.cout%o.group != 0 || w.shape[1] != o.c/o.group {
		return fmt.Errorf("Conv channels: input %v, weight %v, group %d", x.shape, w.shape, o.group)
	}
	if len(in) > 2 && in[2] != nil && (len(in[2].shape) != 1 || in[2].shape[0] != o.cout) {
		return fmt.Errorf("Conv bias %v for %d output channels", in[2].shape, o.cout)
	}
	P := o.oh * o.ow
	K := o.c * o.kh * o.kw
	// The columns are kept for the weight gradient; without one, each
	// chunk reuses a single sample's.
	o.keep = w.needGrad
	if o.keep {
		o.col = grow(o.col, K*o.n*P)
	} else {
		o.col = grow(o.col, K*P*chunks)
	}
	o.wt = grow(o.wt, w.numel())
	for c := range chunks {
		o.tmp[c] = grow(o.tmp[c], K*P)
		o.gw[c] = grow(o.gw[c], w.numel())
		o.gb[c] = grow(o.gb[c], o.cout)
	}
	if len(x.shape) == 4 {
		setShape(out[0], o.n, o.cout, o.oh, o.ow)
	} else {
		setShape(out[0], o.n, o.cout, o.ow)
	}
	return nil
}

func (o *convOp) forward(_ *Program, in, out []*value, _ bool) {
	o.fwd, o.in, o.out = true, in, out
	parallelChunks(o, &o.wg)
	o.in, o.out = nil, nil
}

func (o *convOp) backward(_ *Program, in, out []*value) {
	if in[0].grad != nil {
		// Wᵀ per group, so the column gradient is a non-transposed product.
		K := o.c * o.kh * o.kw
		cog, Kg := o.cout/o.group, K/o.group
		w := in[1].data
		for g := 0; g < o.group; g++ {
			wg, wt := w[g*cog*Kg:(g+1)*cog*Kg], o.wt[g*Kg*cog:(g+1)*Kg*cog]
			for i := 0; i < cog; i++ {
				for k := 0; k < Kg; k++ {
					wt[k*cog+i] = wg[i*Kg+k]
				}
			}
		}
	}
	o.fwd, o.in, o.out = false, in, out
	parallelChunks(o, &o.wg)
	o.in, o.out = nil, nil
	// Reduce the chunks' weight and bias gradients in chunk order.
	if dw := in[1].grad; dw != nil {
		for c := 0; c < chunks; c++ {
			kernels.AddTo(dw, o.gw[c])
		}
	}
	if len(in) > 2 && in[2] != nil && in[2].grad != nil {
		for c := 0; c < chunks; c++ {
			kernels.AddTo(in[2].grad, o.gb[c])
		}
	}
}

func (o *convOp) runChunk(c int) {
	s0, s1 := chunkRange(c, o.n)
	if o.fwd {
		o.forwardSamples(c, s0, s1)
	} else {
		o.backwardSamples(c, s0, s1)
	}
}

// colOf returns the columns of sample s of chunk c.
func (o *convOp) colOf(c, s int) []float32 {
	KP := o.c * o.kh * o.kw * o.oh * o.ow
	if !o.keep {
		return o.col[c*KP : (c+1)*KP]
	}
	return o.col[s*KP : (s+1)*KP]
}

func (o *convOp) forwardSamples(c, s0, s1 int) {
	in, out := o.in, o.out
	x, w, y := in[0].data, in[1].data, out[0].data
	P, K := o.oh*o.ow, o.c*o.kh*o.kw
	chw := o.c * o.h * o.w
	cog, Kg := o.cout/o.group, K/o.group
	var b []float32
	if len(in) > 2 && in[2] != nil {
		b = in[2].data
	}
	for s := s0; s < s1; s++ {
		col := o.colOf(c, s)
		kernels.Im2col(col, x[s*chw:(s+1)*chw], o.c, o.h, o.w, o.kh, o.kw, o.pt, o.pl, o.pb, o.pr, o.sh, o.sw, o.dh, o.dw)
		ys := y[s*o.cout*P : (s+1)*o.cout*P]
		for g := 0; g < o.group; g++ {
			kernels.Sgemm(false, false, cog, P, Kg, 1, w[g*cog*Kg:], Kg, col[g*Kg*P:], P, 0, ys[g*cog*P:], P)
		}
		if b != nil {
			kernels.AddBias(ys, o.cout, P, P, b, true)
		}
	}
}

func (o *convOp) backwardSamples(c, s0, s1 int) {
	in, out := o.in, o.out
	dy := out[0].grad
	P, K := o.oh*o.ow, o.c*o.kh*o.kw
	cog, Kg := o.cout/o.group, K/o.group
	chw := o.c * o.h * o.w
	dx := in[0].grad
	dw, db, tmp := o.gw[c], o.gb[c], o.tmp[c]
	clear(dw)
	clear(db)
	wantW := in[1].grad != nil
	wantB := len(in) > 2 && in[2] != nil && in[2].grad != nil
	for s := s0; s < s1; s++ {
		dys := dy[s*o.cout*P : (s+1)*o.cout*P]
		col := o.colOf(c, s)
		if wantB {
			for co := 0; co < o.cout; co++ {
				db[co] += kernels.Sum(dys[co*P : (co+1)*P])
			}
		}
		if wantW {
			for g := 0; g < o.group; g++ {
				kernels.Sgemm(false, true, cog, Kg, P, 1, dys[g*cog*P:], P, col[g*Kg*P:], P, 1, dw[g*cog*Kg:], Kg)
			}
		}
		if dx != nil {
			for g := 0; g < o.group; g++ {
				kernels.Sgemm(false, false, Kg, P, cog, 1, o.wt[g*Kg*cog:], cog, dys[g*cog*P:], P, 0, tmp[g*Kg*P:], P)
			}
			kernels.Col2im(dx[s*chw:(s+1)*chw], tmp, o.c, o.h, o.w, o.kh, o.kw, o.pt, o.pl, o.pb, o.pr, o.sh, o.sw, o.dh, o.dw)
		}
	}
}
