package runtime

import (
	"fmt"
	"math"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/tensor"
)

// BatchNormalization (inference), LayerNormalization,
// InstanceNormalization, Softmax, LogSoftmax and Hardmax, on float32 with
// float64 accumulation.

func init() {
	register("", "BatchNormalization", 6, 99, func(n *graph.Node, opset int64) (op, error) {
		if n.Int("training_mode", 0) != 0 || (opset < 7 && n.Int("is_test", 0) == 0) {
			return nil, &UnsupportedError{Node: n.Name, OpType: n.OpType, Opset: opset, Reason: "training mode"}
		}
		return &batchNormOp{eps: n.Float("epsilon", 1e-5)}, nil
	})
	register("", "InstanceNormalization", 6, 99, func(n *graph.Node, opset int64) (op, error) {
		return &instanceNormOp{eps: n.Float("epsilon", 1e-5)}, nil
	})
	register("", "LayerNormalization", 17, 99, func(n *graph.Node, opset int64) (op, error) {
		return &layerNormOp{axis: n.Int("axis", -1), eps: n.Float("epsilon", 1e-5)}, nil
	})
	for _, name := range []string{"Softmax", "LogSoftmax", "Hardmax"} {
		name := name
		register("", name, 1, 12, func(n *graph.Node, opset int64) (op, error) {
			return &softmaxOp{kind: name, axis: n.Int("axis", 1), coerce2D: true}, nil
		})
		register("", name, 13, 99, func(n *graph.Node, opset int64) (op, error) {
			return &softmaxOp{kind: name, axis: n.Int("axis", -1)}, nil
		})
	}
}

type batchNormOp struct{ eps float32 }

func (o *batchNormOp) prepare(c *pctx) (runFunc, error) {
	x := c.input(0)
	if x.dtype != tensor.Float {
		return nil, errDType(c, x.dtype)
	}
	if len(x.shape) < 2 {
		return nil, fmt.Errorf("input %v has no channels", x.shape)
	}
	C := x.shape[1]
	for i := 1; i <= 4; i++ {
		v := c.input(i)
		if v == nil || v.numel() != C || v.dtype != tensor.Float {
			return nil, fmt.Errorf("input %d must have %d float32 elements", i, C)
		}
	}
	if len(c.out) > 1 && (c.used[1] || len(c.out) > 2 && c.used[2]) {
		return nil, &UnsupportedError{Node: c.node.Name, OpType: "BatchNormalization", Opset: c.opset, Reason: "training outputs"}
	}
	for i := 1; i < len(c.out); i++ {
		c.set(i, tensor.Float, []int{C})
	}
	c.set(0, tensor.Float, x.shape)
	N, HW := x.shape[0], tensor.Prod(x.shape[2:])
	c.scratch = 2 * C
	eps := float64(o.eps)
	return func(e *env, in, out []*tensor.Tensor) error {
		X, Y := in[0].F32, out[0].F32
		scale, bias, mean, vr := in[1].F32, in[2].F32, in[3].F32, in[4].F32
		a, b := e.scratch[:C], e.scratch[C:2*C]
		for ch := 0; ch < C; ch++ {
			s := float64(scale[ch]) / math.Sqrt(float64(vr[ch])+eps)
			a[ch] = float32(s)
			b[ch] = float32(float64(bias[ch]) - float64(mean[ch])*s)
		}
		forRange(e, N*C, N*C*HW, affineJob{X, Y, a, b, C, HW})
		return nil
	}, nil
}

// affineJob computes y = a[c]·x + b[c] per channel plane.
type affineJob struct {
	X, Y, a, b []float32
	C, HW      int
}

func (j affineJob) chunk(_, lo, hi int) {
	HW := j.HW
	for p := lo; p < hi; p++ {
		ch := p % j.C
		s, d := j.X[p*HW:(p+1)*HW], j.Y[p*HW:(p+1)*HW]
		ac, bc := j.a[ch], j.b[ch]
		for i, v := range s {
			d[i] = v*ac + bc
		}
	}
}

type instanceNormOp struct{ eps float32 }

func (o *instanceNormOp) prepare(c *pctx) (runFunc, error) {
	x := c.input(0)
	if x.dtype != tensor.Float {
		return nil, errDType(c, x.dtype)
	}
	if len(x.shape) < 3 {
		return nil, fmt.Errorf("input %v has no spatial dims", x.shape)
	}
	c.set(0, tensor.Float, x.shape)
	C, HW := x.shape[1], tensor.Prod(x.shape[2:])
	planes := x.shape[0] * C
	eps := float64(o.eps)
	return func(e *env, in, out []*tensor.Tensor) error {
		forRange(e, planes, planes*HW*3, normJob{X: in[0].F32, Y: out[0].F32, scale: in[1].F32, bias: in[2].F32,
			inner: HW, C: C, eps: eps})
		return nil
	}, nil
}

// normJob normalizes rows of inner elements: with C > 0 (instance norm)
// row p uses scale and bias of channel p mod C; otherwise scale and bias
// have stride elements per position.
type normJob struct {
	X, Y, scale, bias, mean, inv []float32
	inner, stride, C             int
	eps                          float64
}

func (j normJob) chunk(_, lo, hi int) {
	n := j.inner
	for p := lo; p < hi; p++ {
		scale, bias := j.scale, j.bias
		if j.C > 0 {
			ch := p % j.C
			scale, bias = scale[ch:ch+1], bias[ch:ch+1]
		}
		m, inv := normalize(j.Y[p*n:(p+1)*n], j.X[p*n:(p+1)*n], j.eps, scale, bias, j.stride)
		if j.mean != nil {
			j.mean[p] = float32(m)
		}
		if j.inv != nil {
			j.inv[p] = float32(inv)
		}
	}
}

// normalize writes (x - mean)/sqrt(var + eps)·scale + bias into d, where
// scale and bias have one value (stride 0) or one per element (stride 1),
// and returns the mean and 1/sqrt(var + eps).
func normalize(d, x []float32, eps float64, scale, bias []float32, stride int) (mean, inv float64) {
	var sum float64
	for _, v := range x {
		sum += float64(v)
	}
	mean = sum / float64(len(x))
	var ss float64
	for _, v := range x {
		dv := float64(v) - mean
		ss += dv * dv
	}
	inv = 1 / math.Sqrt(ss/float64(len(x))+eps)
	for i, v := range x {
		y := (float64(v) - mean) * inv * float64(scale[i*stride])
		if bias != nil {
			y += float64(bias[i*stride])
		}
		d[i] = float32(y)
	}
	return mean, inv
}

type layerNormOp struct {
	axis int64
	eps  float32
}

func (o *layerNormOp) prepare(c *pctx) (runFunc, error) {
	x, s, b := c.input(0), c.input(1), c.input(2)
	if x.dtype != tensor.Float {
		return nil, errDType(c, x.dtype)
	}
	r := len(x.shape)
	ax, err := normAxis(o.axis, r)
	if err != nil {
		return nil, err
	}
	inner := tensor.Prod(x.shape[ax:])
	outer := tensor.Prod(x.shape[:ax])
	stride := func(v *val) (int, error) {
		switch v.numel() {
		case inner:
			return 1, nil
		case 1:
			return 0, nil
		}
		return 0, fmt.Errorf("scale/bias %v do not match normalized shape %v", v.shape, x.shape[ax:])
	}
	ss, err := stride(s)
	if err != nil {
		return nil, err
	}
	bs := 0
	if b != nil {
		if bs, err = stride(b); err != nil {
			return nil, err
		}
	}
	if ss != bs && b != nil {
		return nil, fmt.Errorf("scale %v and bias %v broadcast differently", s.shape, b.shape)
	}
	c.set(0, tensor.Float, x.shape)
	statShape := cloneInts(x.shape)
	for i := ax; i < r; i++ {
		statShape[i] = 1
	}
	for i := 1; i < len(c.out) && i < 3; i++ {
		c.set(i, tensor.Float, statShape)
	}
	eps := float64(o.eps)
	return func(e *env, in, out []*tensor.Tensor) error {
		X, Y, scale := in[0].F32, out[0].F32, in[1].F32
		var bias []float32
		if len(in) > 2 && in[2] != nil {
			bias = in[2].F32
		}
		var mo, io []float32
		if len(out) > 1 && out[1] != nil {
			mo = out[1].F32
		}
		if len(out) > 2 && out[2] != nil {
			io = out[2].F32
		}
		forRange(e, outer, outer*inner*3, normJob{X: X, Y: Y, scale: scale, bias: bias, mean: mo, inv: io,
			inner: inner, stride: ss, eps: eps})
		return nil
	}, nil
}

type softmaxOp struct {
	kind     string
	axis     int64
	coerce2D bool // opsets before 13 flatten to [outer, rest] at axis
}

func (o *softmaxOp) prepare(c *pctx) (runFunc, error) {
	x := c.input(0)
	if x.dtype != tensor.Float {
		return nil, errDType(c, x.dtype)
	}
	c.set(0, tensor.Float, x.shape)
	r := len(x.shape)
	if r == 0 {
		return nil, fmt.Errorf("scalar input")
	}
	ax, err := normAxis(o.axis, r)
	if err != nil {
		return nil, err
	}
	outer := tensor.Prod(x.shape[:ax])
	dim, inner := x.shape[ax], tensor.Prod(x.shape[ax+1:])
	if o.coerce2D {
		dim, inner = tensor.Prod(x.shape[ax:]), 1
	}
	kind := o.kind
	return func(e *env, in, out []*tensor.Tensor) error {
		forRange(e, outer, outer*dim*inner*4, softmaxJob{kind, in[0].F32, out[0].F32, dim, inner})
		return nil
	}, nil
}

type softmaxJob struct {
	kind       string
	X, Y       []float32
	dim, inner int
}

func (j softmaxJob) chunk(_, lo, hi int) {
	for p := lo; p < hi; p++ {
		for i := 0; i < j.inner; i++ {
			base := p*j.dim*j.inner + i
			softmaxLine(j.kind, j.Y[base:], j.X[base:], j.dim, j.inner)
		}
	}
}

// softmaxLine computes one softmax (or log-softmax, or hardmax) over the n
// elements x[0], x[stride], ….
func softmaxLine(kind string, y, x []float32, n, stride int) {
	m := float32(math.Inf(-1))
	arg := 0
	for i := 0; i < n; i++ {
		if v := x[i*stride]; v > m {
			m, arg = v, i
		}
	}
	switch kind {
	case "Hardmax":
		for i := 0; i < n; i++ {
			y[i*stride] = 0
		}
		y[arg*stride] = 1
		return
	case "LogSoftmax":
		var sum float64
		for i := 0; i < n; i++ {
			sum += math.Exp(float64(x[i*stride] - m))
		}
		ls := float32(math.Log(sum))
		for i := 0; i < n; i++ {
			y[i*stride] = x[i*stride] - m - ls
		}
		return
	}
	var sum float64
	for i := 0; i < n; i++ {
		v := math.Exp(float64(x[i*stride] - m))
		y[i*stride] = float32(v)
		sum += v
	}
	inv := float32(1 / sum)
	for i := 0; i < n; i++ {
		y[i*stride] *= inv
	}
}

func init() {
	register("", "LRN", 1, 99, func(n *graph.Node, opset int64) (op, error) {
		size := n.Int("size", 0)
		if size <= 0 {
			return nil, fmt.Errorf("LRN size %d", size)
		}
		return &lrnOp{alpha: float64(n.Float("alpha", 1e-4)), beta: float64(n.Float("beta", 0.75)),
			bias: float64(n.Float("bias", 1)), size: int(size)}, nil
	})
	register("", "MeanVarianceNormalization", 9, 99, func(n *graph.Node, opset int64) (op, error) {
		return &mvnOp{axes: n.Ints("axes", []int64{0, 2, 3})}, nil
	})
}

// lrnOp is LRN: y = x / (bias + alpha/size · Σ x²)^beta over the channels
// [c - ⌊(size-1)/2⌋, c + ⌈(size-1)/2⌉].
type lrnOp struct {
	alpha, beta, bias float64
	size              int
}

func (o *lrnOp) prepare(c *pctx) (runFunc, error) {
	x := c.input(0)
	if x.dtype != tensor.Float {
		return nil, errDType(c, x.dtype)
	}
	if len(x.shape) < 3 {
		return nil, fmt.Errorf("input %v has no spatial dims", x.shape)
	}
	c.set(0, tensor.Float, x.shape)
	N, C, HW := x.shape[0], x.shape[1], tensor.Prod(x.shape[2:])
	lo, hi := (o.size-1)/2, (o.size)/2
	return func(e *env, in, out []*tensor.Tensor) error {
		X, Y := in[0].F32, out[0].F32
		for n := 0; n < N; n++ {
			for ch := 0; ch < C; ch++ {
				for p := 0; p < HW; p++ {
					var ss float64
					for k := max(0, ch-lo); k <= min(C-1, ch+hi); k++ {
						v := float64(X[(n*C+k)*HW+p])
						ss += v * v
					}
					i := (n*C+ch)*HW + p
					Y[i] = float32(float64(X[i]) / math.Pow(o.bias+o.alpha/float64(o.size)*ss, o.beta))
				}
			}
		}
		return nil
	}, nil
}

// mvnOp is MeanVarianceNormalization: (x - mean)/(std + 1e-9) over axes.
type mvnOp struct{ axes []int64 }

func (o *mvnOp) prepare(c *pctx) (runFunc, error) {
	x := c.input(0)
	if x.dtype != tensor.Float {
		return nil, errDType(c, x.dtype)
	}
	r := len(x.shape)
	red := make([]bool, r)
	for _, a := range o.axes {
		ax, err := normAxis(a, r)
		if err != nil {
			return nil, err
		}
		red[ax] = true
	}
	c.set(0, tensor.Float, x.shape)
	// Group elements by their position along the kept axes.
	strides := tensor.Strides(x.shape)
	n := x.numel()
	group := make([]int, n)
	groups := 1
	for d := range x.shape {
		if !red[d] {
			groups *= x.shape[d]
		}
	}
	for i := 0; i < n; i++ {
		g := 0
		for d := range x.shape {
			if !red[d] {
				g = g*x.shape[d] + (i/strides[d])%x.shape[d]
			}
		}
		group[i] = g
	}
	return func(e *env, in, out []*tensor.Tensor) error {
		X, Y := in[0].F32, out[0].F32
		sum := make([]float64, groups)
		sq := make([]float64, groups)
		cnt := make([]float64, groups)
		for i, v := range X {
			g := group[i]
			sum[g] += float64(v)
			sq[g] += float64(v) * float64(v)
			cnt[g]++
		}
		for i, v := range X {
			g := group[i]
			mean := sum[g] / cnt[g]
			std := math.Sqrt(math.Max(sq[g]/cnt[g]-mean*mean, 0))
			Y[i] = float32((float64(v) - mean) / (std + 1e-9))
		}
		return nil
	}, nil
}
