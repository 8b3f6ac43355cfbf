package train

import (
	"fmt"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/runtime/kernels"
)

func init() {
	register("Gemm", newGemm)
	register("MatMul", func(*graph.Node, int64) (op, error) { return &matMulOp{}, nil })
}

// gemmOp is Y = alpha·op(A)·op(B) + beta·C with C broadcast to [M, N].
type gemmOp struct {
	transA, transB bool
	alpha, beta    float32
	m, n, k        int
	bc             *bcastIter
}

func newGemm(n *graph.Node, _ int64) (op, error) {
	return &gemmOp{transA: n.Int("transA", 0) != 0, transB: n.Int("transB", 0) != 0,
		alpha: n.Float("alpha", 1), beta: n.Float("beta", 1), bc: &bcastIter{}}, nil
}

func (o *gemmOp) plan(in, out []*value) error {
	a, b := in[0], in[1]
	if len(a.shape) != 2 || len(b.shape) != 2 {
		return fmt.Errorf("Gemm A %v, B %v: want matrices", a.shape, b.shape)
	}
	o.m, o.k = a.shape[0], a.shape[1]
	if o.transA {
		o.m, o.k = o.k, o.m
	}
	kb, n := b.shape[0], b.shape[1]
	if o.transB {
		kb, n = n, kb
	}
	if kb != o.k {
		return fmt.Errorf("Gemm A %v, B %v (transA %v, transB %v): inner sizes differ", a.shape, b.shape, o.transA, o.transB)
	}
	o.n = n
	if len(in) > 2 && in[2] != nil {
		s, err := broadcastShape([]int{o.m, o.n}, in[2].shape)
		if err != nil || s[0] != o.m || s[1] != o.n {
			return fmt.Errorf("Gemm C %v does not broadcast to [%d %d]", in[2].shape, o.m, o.n)
		}
		o.bc.set(in[2].shape, in[2].shape, []int{o.m, o.n})
	}
	setShape(out[0], o.m, o.n)
	return nil
}

func (o *gemmOp) lda() int {
	if o.transA {
		return o.m
	}
	return o.k
}

func (o *gemmOp) ldb() int {
	if o.transB {
		return o.k
	}
	return o.n
}

func (o *gemmOp) forward(_ *Program, in, out []*value, _ bool) {
	y := out[0].data
	beta := float32(0)
	if len(in) > 2 && in[2] != nil && o.beta != 0 {
		c := in[2].data
		o.bc.rows(func(yo, co, _ int) {
			row := y[yo : yo+o.n]
			if o.bc.ia == 0 {
				for j := range row {
					row[j] = o.beta * c[co]
				}
			} else {
				for j := range row {
					row[j] = o.beta * c[co+j]
				}
			}
		})
		beta = 1
	}
	kernels.Sgemm(o.transA, o.transB, o.m, o.n, o.k, o.alpha, in[0].data, o.lda(), in[1].data, o.ldb(), beta, y, o.n)
}

func (o *gemmOp) backward(_ *Program, in, out []*value) {
	dy := out[0].grad
	a, b := in[0], in[1]
	m, n, k := o.m, o.n, o.k
	if a.grad != nil {
		if !o.transA {
			kernels.Sgemm(false, !o.transB, m, k, n, o.alpha, dy, n, b.data, o.ldb(), 1, a.grad, k)
		} else {
			kernels.Sgemm(o.transB, true, k, m, n, o.alpha, b.data, o.ldb(), dy, n, 1, a.grad, m)
		}
	}
	if b.grad != nil {
		if !o.transB {
			kernels.Sgemm(!o.transA, false, k, n, m, o.alpha, a.data, o.lda(), dy, n, 1, b.grad, n)
		} else {
			kernels.Sgemm(true, o.transA, n, k, m, o.alpha, dy, n, a.data, o.lda(), 1, b.grad, k)
		}
	}
	if len(in) > 2 && in[2] != nil && in[2].grad != nil {
		dc := in[2].grad
		o.bc.rows(func(yo, co, _ int) {
			row := dy[yo : yo+n]
			if o.bc.ia == 0 {
				dc[co] += o.beta * kernels.Sum(row)
			} else {
				kernels.Axpy(o.beta, row, dc[co:co+n])
			}
		})
	}
}

// matMulOp is numpy matmul: batched, with broadcast batch dimensions and
// rank-1 operands promoted.
type matMulOp struct {
	m, n, k int
	batch   []int // broadcast batch shape
	sa, sb  []int // batch strides of A and B in matrices (0 = broadcast)
	flat    bool  // B is one matrix: treat A as [batch·M, K]
	idx     []int
}

func (o *matMulOp) plan(in, out []*value) error {
	as, bs := in[0].shape, in[1].shape
	if len(as) == 0 || len(bs) == 0 {
		return fmt.Errorf("MatMul of a scalar")
	}
	a2, b2 := as, bs
	if len(as) == 1 {
		a2 = []int{1, as[0]}
	}
	if len(bs) == 1 {
		b2 = []int{bs[0], 1}
	}
	o.m, o.k = a2[len(a2)-2], a2[len(a2)-1]
	if b2[len(b2)-2] != o.k {
		return fmt.Errorf("MatMul %v × %v: inner sizes differ", as, bs)
	}
	o.n = b2[len(b2)-1]
	ab, bb := a2[:len(a2)-2], b2[:len(b2)-2]
	batch, err := broadcastShape(ab, bb)
	if err != nil {
		return fmt.Errorf("MatMul %v × %v: %w", as, bs, err)
	}
	o.batch = batch
	o.sa, o.sb = bstrides(ab, batch), bstrides(bb, batch)
	o.idx = make([]int, len(batch))
	o.flat = len(bb) == 0 || tensorProd(bb) == 1 && len(ab) == len(batch)
	shape := append([]int(nil), batch...)
	if len(as) > 1 {
		shape = append(shape, o.m)
	}
	if len(bs) > 1 {
		shape = append(shape, o.n)
	}
	setShape(out[0], shape...)
	return nil
}

func tensorProd(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

// each calls f(batch index, A matrix index, B matrix index).
func (o *matMulOp) each(f func(i, ia, ib int)) {
	nb := tensorProd(o.batch)
	for i := range o.idx {
		o.idx[i] = 0
	}
	ia, ib := 0, 0
	for i := 0; i < nb; i++ {
		f(i, ia, ib)
		for d := len(o.idx) - 1; d >= 0; d-- {
			o.idx[d]++
			ia += o.sa[d]
			ib += o.sb[d]
			if o.idx[d] < o.batch[d] {
				break
			}
			ia -= o.sa[d] * o.batch[d]
			ib -= o.sb[d] * o.batch[d]
			o.idx[d] = 0
		}
	}
}

func (o *matMulOp) forward(_ *Program, in, out []*value, _ bool) {
	a, b, y := in[0].data, in[1].data, out[0].data
	m, n, k := o.m, o.n, o.k
	if o.flat {
		kernels.Sgemm(false, false, m*tensorProd(o.batch), n, k, 1, a, k, b, n, 0, y, n)
		return
	}
	o.each(func(i, ia, ib int) {
		kernels.Sgemm(false, false, m, n, k, 1, a[ia*m*k:], k, b[ib*k*n:], n, 0, y[i*m*n:], n)
	})
}

func (o *matMulOp) backward(_ *Program, in, out []*value) {
	a, b, dy := in[0], in[1], out[0].grad
	m, n, k := o.m, o.n, o.k
	if o.flat {
		M := m * tensorProd(o.batch)
		if a.grad != nil {
			kernels.Sgemm(false, true, M, k, n, 1, dy, n, b.data, n, 1, a.grad, k)
		}
		if b.grad != nil {
			kernels.Sgemm(true, false, k, n, M, 1, a.data, k, dy, n, 1, b.grad, n)
		}
		return
	}
	o.each(func(i, ia, ib int) {
		if a.grad != nil {
			kernels.Sgemm(false, true, m, k, n, 1, dy[i*m*n:], n, b.data[ib*k*n:], n, 1, a.grad[ia*m*k:], k)
		}
		if b.grad != nil {
			kernels.Sgemm(true, false, k, n, m, 1, a.data[ia*m*k:], k, dy[i*m*n:], n, 1, b.grad[ib*k*n:], n)
		}
	})
}
