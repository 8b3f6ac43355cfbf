package train

import (
	"fmt"
	"math"
	"sync"

	"github.com/podaml/poda/graph"
)

func init() {
	register("BatchNormalization", newBatchNorm)
	register("LayerNormalization", newLayerNorm)
}

// batchNormOp is BatchNormalization. In training (unless
// Options.FreezeBN) it normalises with the batch statistics and updates the
// running statistics as torch does:
//
//	running = momentum·running + (1 − momentum)·batch
//
// with ONNX's momentum (= 1 − torch's momentum) and, for the variance, the
// unbiased batch variance. Otherwise it uses the running statistics.
type batchNormOp struct {
	eps, momentum float32
	n, c, s       int
	mean, invstd  []float32 // per channel, of the last forward
	batch         bool      // last forward used batch statistics

	// the call in progress, for runChunk
	fwd     bool
	in, out []*value
	wg      sync.WaitGroup
}

func newBatchNorm(n *graph.Node, _ int64) (op, error) {
	if len(n.Outputs) > 3 {
		return nil, fmt.Errorf("BatchNormalization with saved mean/variance outputs (opset < 9): %w", ErrUnsupported)
	}
	return &batchNormOp{eps: n.Float("epsilon", 1e-5), momentum: n.Float("momentum", 0.9)}, nil
}

func (o *batchNormOp) plan(in, out []*value) error {
	s := in[0].shape
	if len(s) < 2 {
		return fmt.Errorf("BatchNormalization of %v", s)
	}
	o.n, o.c, o.s = s[0], s[1], tensorProd(s[2:])
	for i := 1; i < 5; i++ {
		if in[i] == nil || in[i].numel() != o.c {
			return fmt.Errorf("BatchNormalization input %d is not a [%d] tensor", i, o.c)
		}
	}
	o.mean, o.invstd = grow(o.mean, o.c), grow(o.invstd, o.c)
	setShape(out[0], s...)
	for _, v := range out[1:] { // running mean and variance outputs
		if v != nil {
			setShape(v, o.c)
		}
	}
	return nil
}

func (o *batchNormOp) forward(p *Program, in, out []*value, train bool) {
	o.batch = train && !p.opt.FreezeBN
	o.fwd, o.in, o.out = true, in, out
	parallelChunks(o, &o.wg)
	o.in, o.out = nil, nil
	if len(out) > 1 && out[1] != nil {
		copy(out[1].data, in[3].data)
	}
	if len(out) > 2 && out[2] != nil {
		copy(out[2].data, in[4].data)
	}
}

func (o *batchNormOp) backward(_ *Program, in, out []*value) {
	o.fwd, o.in, o.out = false, in, out
	parallelChunks(o, &o.wg)
	o.in, o.out = nil, nil
}

// runChunk normalises (or back-propagates) chunk c of the channels.
func (o *batchNormOp) runChunk(c int) {
	c0, c1 := chunkRange(c, o.c)
	if o.fwd {
		o.forwardChannels(c0, c1)
	} else {
		o.backwardChannels(c0, c1)
	}
}

func (o *batchNormOp) forwardChannels(c0, c1 int) {
	in, out := o.in, o.out
	x, y := in[0].data, out[0].data
	gamma, beta, rm, rv := in[1].data, in[2].data, in[3].data, in[4].data
	cs := o.c * o.s
	m := float64(o.n * o.s)
	for c := c0; c < c1; c++ {
		var mean, vr float64
		if o.batch {
			var sum float64
			for b := 0; b < o.n; b++ {
				for _, v := range x[b*cs+c*o.s : b*cs+(c+1)*o.s] {
					sum += float64(v)
				}
			}
			mean = sum / m
			var sq float64
			for b := 0; b < o.n; b++ {
				for _, v := range x[b*cs+c*o.s : b*cs+(c+1)*o.s] {
					d := float64(v) - mean
					sq += d * d
				}
			}
			vr = sq / m
			unbiased := vr
			if m > 1 {
				unbiased = sq / (m - 1)
			}
			mom := o.momentum
			rm[c] = mom*rm[c] + (1-mom)*float32(mean)
			rv[c] = mom*rv[c] + (1-mom)*float32(unbiased)
		} else {
			mean, vr = float64(rm[c]), float64(rv[c])
		}
		o.mean[c] = float32(mean)
		o.invstd[c] = float32(1 / math.Sqrt(vr+float64(o.eps)))
		sc := gamma[c] * o.invstd[c]
		sh := beta[c] - o.mean[c]*sc
		for b := 0; b < o.n; b++ {
			xs := x[b*cs+c*o.s : b*cs+(c+1)*o.s]
			ys := y[b*cs+c*o.s : b*cs+(c+1)*o.s]
			for i, v := range xs {
				ys[i] = v*sc + sh
			}
		}
	}
}

func (o *batchNormOp) backwardChannels(c0, c1 int) {
	in, out := o.in, o.out
	x, dy := in[0].data, out[0].grad
	dx, gamma := in[0].grad, in[1].data
	dg, db := in[1].grad, in[2].grad
	cs := o.c * o.s
	m := float32(o.n * o.s)
	for c := c0; c < c1; c++ {
		mean, is := o.mean[c], o.invstd[c]
		var sdy, sdyx float64
		for b := 0; b < o.n; b++ {
			xs := x[b*cs+c*o.s : b*cs+(c+1)*o.s]
			gs := dy[b*cs+c*o.s : b*cs+(c+1)*o.s]
			for i, g := range gs {
				sdy += float64(g)
				sdyx += float64(g) * float64((xs[i]-mean)*is)
			}
		}
		if dg != nil {
			dg[c] += float32(sdyx)
		}
		if db != nil {
			db[c] += float32(sdy)
		}
		if dx == nil {
			continue
		}
		k := gamma[c] * is
		a, bb := float32(sdy)/m, float32(sdyx)/m
		for b := 0; b < o.n; b++ {
			xs := x[b*cs+c*o.s : b*cs+(c+1)*o.s]
			gs := dy[b*cs+c*o.s : b*cs+(c+1)*o.s]
			ds := dx[b*cs+c*o.s : b*cs+(c+1)*o.s]
			if !o.batch {
				for i, g := range gs {
					ds[i] += k * g
				}
				continue
			}
			for i, g := range gs {
				xh := (xs[i] - mean) * is
				ds[i] += k * (g - a - xh*bb)
			}
		}
	}
}

// layerNormOp is LayerNormalization over the dimensions from axis on.
type layerNormOp struct {
	axis         int
	eps          float32
	outer, inner int
	mean, invstd []float32
}

func newLayerNorm(n *graph.Node, _ int64) (op, error) {
	for _, o := range n.Outputs[1:] {
		if o != "" {
			return nil, fmt.Errorf("LayerNormalization Mean/InvStdDev outputs: %w", ErrUnsupported)
		}
	}
	return &layerNormOp{axis: int(n.Int("axis", -1)), eps: n.Float("epsilon", 1e-5)}, nil
}

func (o *layerNormOp) plan(in, out []*value) error {
	s := in[0].shape
	ax, err := normAxis(o.axis, len(s))
	if err != nil {
		return err
	}
	o.outer, o.inner = tensorProd(s[:ax]), tensorProd(s[ax:])
	for i := 1; i < len(in); i++ {
		if in[i] != nil && in[i].numel() != o.inner {
			return fmt.Errorf("LayerNormalization input %d has shape %v, want %v: %w", i, in[i].shape, s[ax:], ErrUnsupported)
		}
	}
	o.mean, o.invstd = grow(o.mean, o.outer), grow(o.invstd, o.outer)
	setShape(out[0], s...)
	return nil
}

func (o *layerNormOp) forward(_ *Program, in, out []*value, _ bool) {
	x, y := in[0].data, out[0].data
	gamma := in[1].data
	var beta []float32
	if len(in) > 2 && in[2] != nil {
		beta = in[2].data
	}
	n := o.inner
	for r := 0; r < o.outer; r++ {
		xs, ys := x[r*n:(r+1)*n], y[r*n:(r+1)*n]
		var sum float64
		for _, v := range xs {
			sum += float64(v)
		}
		mean := sum / float64(n)
		var sq float64
		for _, v := range xs {
			d := float64(v) - mean
			sq += d * d
		}
		is := float32(1 / math.Sqrt(sq/float64(n)+float64(o.eps)))
		o.mean[r], o.invstd[r] = float32(mean), is
		mf := float32(mean)
		for i, v := range xs {
			ys[i] = (v - mf) * is * gamma[i]
			if beta != nil {
				ys[i] += beta[i]
			}
		}
	}
}

func (o *layerNormOp) backward(_ *Program, in, out []*value) {
	x, dy, dx := in[0].data, out[0].grad, in[0].grad
	gamma, dg := in[1].data, in[1].grad
	var db []float32
	if len(in) > 2 && in[2] != nil {
		db = in[2].grad
	}
	n := o.inner
	for r := 0; r < o.outer; r++ {
		xs, gs := x[r*n:(r+1)*n], dy[r*n:(r+1)*n]
		mean, is := o.mean[r], o.invstd[r]
		var sd, sdx float64
		for i, g := range gs {
			xh := (xs[i] - mean) * is
			if dg != nil {
				dg[i] += g * xh
			}
			if db != nil {
				db[i] += g
			}
			d := g * gamma[i]
			sd += float64(d)
			sdx += float64(d) * float64(xh)
		}
		if dx == nil {
			continue
		}
		ds := dx[r*n : (r+1)*n]
		a, b := float32(sd/float64(n)), float32(sdx/float64(n))
		for i, g := range gs {
			xh := (xs[i] - mean) * is
			ds[i] += is * (g*gamma[i] - a - xh*b)
		}
	}
}
