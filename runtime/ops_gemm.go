package runtime

import (
	"fmt"
	"math"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/runtime/kernels"
	"github.com/podaml/poda/tensor"
)

// Gemm and MatMul, on float32, through kernels.Sgemm.

// activation is an activation fused into a Conv or Gemm.
type activation struct {
	act      kernels.Activation
	min, max float32
	alpha    float32
}

// parseAct recognises a fusable activation node. konst resolves Clip's
// bound inputs (opset ≥ 11), which must be initializers.
func parseAct(en *execNode, konst func(string) *tensor.Tensor) (activation, bool) {
	n := en.node
	switch n.OpType {
	case "Relu":
		return activation{act: kernels.ActRelu}, true
	case "LeakyRelu":
		return activation{act: kernels.ActLeakyRelu, alpha: n.Float("alpha", 0.01)}, true
	case "Clip":
		a := activation{act: kernels.ActClip, min: -math.MaxFloat32, max: math.MaxFloat32}
		if en.opset < 11 {
			a.min, a.max = n.Float("min", a.min), n.Float("max", a.max)
			return a, true
		}
		for i, p := range []*float32{&a.min, &a.max} {
			name := n.Input(i + 1)
			if name == "" {
				continue
			}
			t := konst(name)
			if t == nil || t.DType != tensor.Float || len(t.F32) != 1 {
				return a, false
			}
			*p = t.F32[0]
		}
		return a, true
	}
	return activation{}, false
}

func (a *activation) epilogue(bias []float32, perRow bool) *kernels.Epilogue {
	return &kernels.Epilogue{Bias: bias, BiasPerRow: perRow, Act: a.act, Min: a.min, Max: a.max, Alpha: a.alpha}
}

// apply runs the activation on x in place; a nil activation does nothing.
func (a *activation) apply(x []float32) {
	if a == nil {
		return
	}
	switch a.act {
	case kernels.ActRelu:
		kernels.Relu(x, x)
	case kernels.ActClip:
		kernels.Clip(x, x, a.min, a.max)
	case kernels.ActLeakyRelu:
		kernels.LeakyRelu(x, x, a.alpha)
	}
}

type gemmOp struct {
	alpha, beta    float32
	transA, transB bool
	act            activation
	fused          bool
	sparse         sparseCache
}

func init() {
	register("", "Gemm", 1, 99, func(n *graph.Node, opset int64) (op, error) {
		return &gemmOp{alpha: n.Float("alpha", 1), beta: n.Float("beta", 1),
			transA: n.Int("transA", 0) != 0, transB: n.Int("transB", 0) != 0}, nil
	})
	register("", "MatMul", 1, 99, func(n *graph.Node, opset int64) (op, error) { return &matmulOp{}, nil })
}

func (o *gemmOp) fuseAct(act *execNode, konst func(string) *tensor.Tensor) bool {
	if o.fused {
		return false
	}
	a, ok := parseAct(act, konst)
	if ok {
		o.act, o.fused = a, true
	}
	return ok
}

func (o *gemmOp) prepare(c *pctx) (runFunc, error) {
	a, b, cc := c.input(0), c.input(1), c.input(2)
	if a.dtype != tensor.Float || b.dtype != tensor.Float {
		return nil, errDType(c, a.dtype)
	}
	if len(a.shape) != 2 || len(b.shape) != 2 {
		return nil, fmt.Errorf("A %v and B %v must be matrices", a.shape, b.shape)
	}
	m, k := a.shape[0], a.shape[1]
	if o.transA {
		m, k = k, m
	}
	k2, n := b.shape[0], b.shape[1]
	if o.transB {
		k2, n = n, k2
	}
	if k != k2 {
		return nil, fmt.Errorf("A %v and B %v do not multiply", a.shape, b.shape)
	}
	c.set(0, tensor.Float, []int{m, n})
	lda, ldb := a.shape[1], b.shape[1]
	alpha, beta := o.alpha, o.beta
	act := o.act
	biasRow := cc != nil && beta == 1 && cc.numel() == n && (len(cc.shape) == 1 || cc.shape[0] == 1) && n > 1 &&
		cc.dtype == tensor.Float
	var sp kernels.SparseMatrix
	if c.sparseWeight(1) && !o.transA && (cc == nil || beta == 0 || biasRow) && k > 0 {
		// Y = X·Wᵀ with W = alpha·op(B)ᵀ, n×k.
		bw := b.konst
		sp = o.sparse.get(c, bw, 0, m, func() []float32 {
			if o.transB {
				return scaled(bw.F32, alpha)
			}
			return transposed(bw.F32, k, n, alpha)
		}, n, k)
	}
	c.layerFormat = formatOf(sp)
	if sp != nil {
		var konstEp *kernels.Epilogue
		if !biasRow {
			konstEp = act.epilogue(nil, false)
		} else if cc.konst != nil {
			konstEp = act.epilogue(cc.konst.F32, false)
		}
		return func(e *env, in, out []*tensor.Tensor) error {
			ep := konstEp
			if ep == nil {
				ep = act.epilogue(in[2].F32, false)
			}
			sp.MulVecBatch(out[0].F32, n, in[0].F32, lda, m, 0, ep)
			return nil
		}, nil
	}
	if cc == nil || beta == 0 {
		ep := act.epilogue(nil, false)
		return func(e *env, in, out []*tensor.Tensor) error {
			kernels.SgemmEpilogue(o.transA, o.transB, m, n, k, alpha, in[0].F32, lda, in[1].F32, ldb, 0, out[0].F32, n, ep)
			return nil
		}, nil
	}
	if _, err := broadcastShape(cc.shape, []int{m, n}); err != nil || len(cc.shape) > 2 {
		return nil, fmt.Errorf("C %v does not broadcast to [%d %d]", cc.shape, m, n)
	}
	if cc.dtype != tensor.Float {
		return nil, errDType(c, cc.dtype)
	}
	// A bias row (C of shape [N] or [1 N]) with beta 1 goes to the epilogue.
	if beta == 1 && cc.numel() == n && (len(cc.shape) == 1 || cc.shape[0] == 1) && n > 1 {
		var konstEp *kernels.Epilogue
		if cc.konst != nil {
			konstEp = act.epilogue(cc.konst.F32, false)
		}
		return func(e *env, in, out []*tensor.Tensor) error {
			ep := konstEp
			if ep == nil {
				ep = act.epilogue(in[2].F32, false)
			}
			kernels.SgemmEpilogue(o.transA, o.transB, m, n, k, alpha, in[0].F32, lda, in[1].F32, ldb, 0, out[0].F32, n, ep)
			return nil
		}, nil
	}
	gp := newGatherPlan([]int{m, n}, broadcastMaps(cc.shape, []int{m, n}))
	return func(e *env, in, out []*tensor.Tensor) error {
		gp.run(e, out[0], in[2], nil)
		kernels.Sgemm(o.transA, o.transB, m, n, k, alpha, in[0].F32, lda, in[1].F32, ldb, beta, out[0].F32, n)
		act.apply(out[0].F32)
		return nil
	}, nil
}

type matmulOp struct{ sparse sparseCache }

func (o *matmulOp) prepare(c *pctx) (runFunc, error) {
	a, b := c.input(0), c.input(1)
	if a.dtype != b.dtype {
		return nil, fmt.Errorf("input types differ")
	}
	if a.dtype != tensor.Float {
		return nil, errDType(c, a.dtype)
	}
	as, bs := a.shape, b.shape
	if len(as) == 0 || len(bs) == 0 {
		return nil, fmt.Errorf("MatMul of a scalar")
	}
	// 1-D operands are promoted to matrices, and the added dim removed.
	aVec, bVec := len(as) == 1, len(bs) == 1
	if aVec {
		as = []int{1, as[0]}
	}
	if bVec {
		bs = []int{bs[0], 1}
	}
	m, k := as[len(as)-2], as[len(as)-1]
	k2, n := bs[len(bs)-2], bs[len(bs)-1]
	if k != k2 {
		return nil, fmt.Errorf("shapes %v and %v do not multiply", a.shape, b.shape)
	}
	batch, err := broadcastShape(as[:len(as)-2], bs[:len(bs)-2])
	if err != nil {
		return nil, err
	}
	shape := append(cloneInts(batch), m, n)
	switch {
	case aVec && bVec:
		shape = batch
	case aVec:
		shape = append(cloneInts(batch), n)
	case bVec:
		shape = append(cloneInts(batch), m)
	}
	c.set(0, tensor.Float, shape)
	nb := tensor.Prod(batch)
	aBatch, bBatch := tensor.Prod(as[:len(as)-2]), tensor.Prod(bs[:len(bs)-2])
	// B shared by every batch: one product with the batches stacked as rows.
	if bBatch == 1 && aBatch == nb {
		rows := nb * m
		var sp kernels.SparseMatrix
		if c.sparseWeight(1) && len(b.shape) == 2 && !aVec && k > 0 {
			bw := b.konst
			sp = o.sparse.get(c, bw, 0, rows, func() []float32 { return transposed(bw.F32, k, n, 1) }, n, k)
		}
		c.layerFormat = formatOf(sp)
		if sp != nil {
			return func(e *env, in, out []*tensor.Tensor) error {
				sp.MulVecBatch(out[0].F32, max(n, 1), in[0].F32, k, rows, 0, nil)
				return nil
			}, nil
		}
		return func(e *env, in, out []*tensor.Tensor) error {
			kernels.Sgemm(false, false, rows, n, k, 1, in[0].F32, max(k, 1), in[1].F32, max(n, 1), 0, out[0].F32, max(n, 1))
			return nil
		}, nil
	}
	// Per-batch offsets of A and B.
	aStr := bcastStrides(as[:len(as)-2], batch)
	bStr := bcastStrides(bs[:len(bs)-2], batch)
	aOff := make([]int, nb)
	bOff := make([]int, nb)
	bStrides := tensor.Strides(batch)
	for i := 0; i < nb; i++ {
		rem := i
		for d := range batch {
			j := rem / bStrides[d]
			rem %= bStrides[d]
			aOff[i] += j * aStr[d] * m * k
			bOff[i] += j * bStr[d] * k * n
		}
	}
	return func(e *env, in, out []*tensor.Tensor) error {
		forRange(e, nb, nb*m*n*k/8, bmmJob{in[0].F32, in[1].F32, out[0].F32, aOff, bOff, m, n, k})
		return nil
	}, nil
}

type bmmJob struct {
	A, B, C    []float32
	aOff, bOff []int
	m, n, k    int
}

// chunk multiplies batches [lo, hi).
func (j bmmJob) chunk(_, lo, hi int) {
	m, n, k := j.m, j.n, j.k
	for i := lo; i < hi; i++ {
		kernels.Sgemm(false, false, m, n, k, 1, j.A[j.aOff[i]:j.aOff[i]+m*k], max(k, 1), j.B[j.bOff[i]:j.bOff[i]+k*n], max(n, 1), 0, j.C[i*m*n:(i+1)*m*n], max(n, 1))
	}
}
