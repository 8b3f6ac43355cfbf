package train

import (
	"fmt"
	"math"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/tensor"
)

// Optimizer updates parameters from their gradients. Implementations
// follow torch.optim's update formulas in float32. An optimizer allocates
// its state on the first Step and is tied to that parameter list.
type Optimizer interface {
	// Step updates every parameter with learning rate lr, then enforces
	// the parameters' masks.
	Step(params []*Param, lr float64)
	// state returns the step count and each parameter's state buffers
	// (for checkpoints), allocating them for params if needed.
	state(params []*Param) (steps *int, bufs [][][]float32)
}

// SGD is torch.optim.SGD:
//
//	d = g + wd·p
//	b = d (first step), else b = μ·b + (1 − dampening)·d
//	d = d + μ·b (Nesterov) or b
//	p = p − lr·d
type SGD struct {
	Momentum, Dampening, WeightDecay float64
	Nesterov                         bool

	steps int
	buf   [][]float32
}

var _ Optimizer = (*SGD)(nil)

func (o *SGD) state(params []*Param) (*int, [][][]float32) {
	if o.Momentum != 0 && o.buf == nil {
		for _, p := range params {
			o.buf = append(o.buf, make([]float32, len(p.Data)))
		}
	}
	out := make([][][]float32, len(params))
	for k := range o.buf {
		out[k] = [][]float32{o.buf[k]}
	}
	return &o.steps, out
}

// Step implements Optimizer.
func (o *SGD) Step(params []*Param, lr float64) {
	o.state(params)
	mu, damp, wd, nlr := float32(o.Momentum), float32(1-o.Dampening), float32(o.WeightDecay), float32(-lr)
	for k, p := range params {
		maskGrad(p)
		w, g := p.Data, p.Grad
		if o.Momentum == 0 {
			for i, gi := range g {
				if wd != 0 {
					gi += wd * w[i]
				}
				w[i] += nlr * gi
			}
		} else {
			b := o.buf[k]
			first := o.steps == 0
			for i, gi := range g {
				if wd != 0 {
					gi += wd * w[i]
				}
				if first {
					b[i] = gi
				} else {
					b[i] = mu*b[i] + damp*gi
				}
				if o.Nesterov {
					gi += mu * b[i]
				} else {
					gi = b[i]
				}
				w[i] += nlr * gi
			}
		}
		if o.buf != nil {
			maskParam(p, o.buf[k])
		} else {
			maskParam(p)
		}
	}
	o.steps++
}

// Adam is torch.optim.Adam (WeightDecay added to the gradient), or with
// Decoupled torch.optim.AdamW (p ← p·(1 − lr·wd) before the update):
//
//	m = m + (1 − β1)·(g − m);  v = β2·v + (1 − β2)·g²
//	p = p − lr/(1 − β1ᵗ) · m / (√v / √(1 − β2ᵗ) + ε)
//
// Zero Beta1, Beta2 and Eps mean torch's defaults 0.9, 0.999 and 1e-8.
type Adam struct {
	Beta1, Beta2, Eps, WeightDecay float64
	Decoupled                      bool

	steps int
	m, v  [][]float32
}

var _ Optimizer = (*Adam)(nil)

// NewAdamW returns AdamW with torch's defaults (weight decay 0.01).
func NewAdamW(weightDecay float64) *Adam { return &Adam{WeightDecay: weightDecay, Decoupled: true} }

func (o *Adam) state(params []*Param) (*int, [][][]float32) {
	if o.m == nil {
		for _, p := range params {
			o.m = append(o.m, make([]float32, len(p.Data)))
			o.v = append(o.v, make([]float32, len(p.Data)))
		}
	}
	out := make([][][]float32, len(params))
	for k := range o.m {
		out[k] = [][]float32{o.m[k], o.v[k]}
	}
	return &o.steps, out
}

func orDefault(v, def float64) float64 {
	if v == 0 {
		return def
	}
	return v
}

// Step implements Optimizer.
func (o *Adam) Step(params []*Param, lr float64) {
	if o.m == nil {
		o.state(params)
	}
	b1, b2, eps := orDefault(o.Beta1, 0.9), orDefault(o.Beta2, 0.999), orDefault(o.Eps, 1e-8)
	o.steps++
	t := float64(o.steps)
	bc1 := 1 - math.Pow(b1, t)
	bc2 := 1 - math.Pow(b2, t)
	stepSize := float32(lr / bc1)
	bc2s := float32(math.Sqrt(bc2))
	w1, fb2, w2, feps := float32(1-b1), float32(b2), float32(1-b2), float32(eps)
	wd := float32(o.WeightDecay)
	decay := float32(1 - lr*o.WeightDecay)
	for k, p := range params {
		maskGrad(p)
		w, g, m, v := p.Data, p.Grad, o.m[k], o.v[k]
		for i, gi := range g {
			if o.Decoupled {
				if wd != 0 {
					w[i] *= decay
				}
			} else if wd != 0 {
				gi += wd * w[i]
			}
			m[i] += w1 * (gi - m[i])
			v[i] = fb2*v[i] + w2*gi*gi
			den := float32(math.Sqrt(float64(v[i])))/bc2s + feps
			w[i] -= stepSize * (m[i] / den)
		}
		maskParam(p, m, v)
	}
}

// ClipGradNorm scales all gradients so that their global L2 norm is at
// most maxNorm (as torch.nn.utils.clip_grad_norm_, with its 1e-6) and
// returns the norm before clipping.
func ClipGradNorm(params []*Param, maxNorm float64) float64 {
	var s float64
	for _, p := range params {
		for _, g := range p.Grad {
			s += float64(g) * float64(g)
		}
	}
	norm := math.Sqrt(s)
	if maxNorm > 0 {
		if c := maxNorm / (norm + 1e-6); c < 1 {
			f := float32(c)
			for _, p := range params {
				for i := range p.Grad {
					p.Grad[i] *= f
				}
			}
		}
	}
	return norm
}

// maskGrad zeroes the gradient of masked-out entries.
func maskGrad(p *Param) {
	if p.Mask == nil {
		return
	}
	for i, keep := range p.Mask {
		if !keep {
			p.Grad[i] = 0
		}
	}
}

// maskParam zeroes masked-out weights and their optimizer state.
func maskParam(p *Param, state ...[]float32) {
	if p.Mask == nil {
		return
	}
	for i, keep := range p.Mask {
		if !keep {
			p.Data[i] = 0
			for _, s := range state {
				s[i] = 0
			}
		}
	}
}

// SetMask attaches a mask (true = kept) to the parameter called name and
// zeroes its masked-out weights. A nil mask removes it.
func (p *Program) SetMask(name string, mask []bool) error {
	q := p.Param(name)
	if q == nil {
		return fmt.Errorf("train: mask for %q, which is not a trainable parameter", name)
	}
	if mask != nil && len(mask) != len(q.Data) {
		return fmt.Errorf("train: mask for %q has %d entries, the parameter %d", name, len(mask), len(q.Data))
	}
	q.Mask = mask
	maskParam(q)
	return nil
}

// MaskFromZeros returns the mask that keeps exactly the non-zero entries
// of w: the sparsity pattern of an already pruned weight.
func MaskFromZeros(w []float32) []bool {
	m := make([]bool, len(w))
	for i, v := range w {
		m[i] = v != 0
	}
	return m
}

// NMMask returns the N:M mask of a weight of the given shape: in every
// group of m consecutive entries along axis (other coordinates fixed) the
// n of largest magnitude are kept (ties to the lower index). The size of
// axis must be a multiple of m.
func NMMask(w []float32, shape []int, axis, n, m int) ([]bool, error) {
	if n < 0 || m <= 0 || n > m {
		return nil, fmt.Errorf("train: N:M mask %d:%d", n, m)
	}
	ax, err := normAxis(axis, len(shape))
	if err != nil {
		return nil, fmt.Errorf("train: N:M mask: %w", err)
	}
	if tensorProd(shape) != len(w) || shape[ax]%m != 0 {
		return nil, fmt.Errorf("train: N:M mask %d:%d of shape %v along axis %d", n, m, shape, ax)
	}
	outer, d, inner := tensorProd(shape[:ax]), shape[ax], tensorProd(shape[ax+1:])
	mask := make([]bool, len(w))
	idx := make([]int, m)
	for o := 0; o < outer; o++ {
		for in := 0; in < inner; in++ {
			for g := 0; g < d; g += m {
				for k := range idx {
					idx[k] = (o*d+g+k)*inner + in
				}
				// selection of the n largest by insertion sort on |w|
				for a := 1; a < m; a++ {
					for b := a; b > 0 && abs32(w[idx[b]]) > abs32(w[idx[b-1]]); b-- {
						idx[b], idx[b-1] = idx[b-1], idx[b]
					}
				}
				for _, i := range idx[:n] {
					mask[i] = true
				}
			}
		}
	}
	return mask, nil
}

func abs32(x float32) float32 { return float32(math.Abs(float64(x))) }

// SparsityMasks returns, for every float initializer of rank ≥ 2 (a
// weight matrix or filter bank, not a bias or normalisation vector) that
// holds at least one exact zero, the mask of its non-zero entries: pass it
// as Config.Masks to fine-tune an already pruned model without regrowing
// pruned weights.
func SparsityMasks(m *graph.Model) map[string][]bool {
	out := map[string][]bool{}
	for _, t := range m.Graph.Initializers {
		if t.DType != tensor.Float || len(t.Shape) < 2 || t.ZeroFraction() == 0 {
			continue
		}
		out[t.Name] = MaskFromZeros(t.F32)
	}
	return out
}
