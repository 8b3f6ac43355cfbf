package prune

import (
	"fmt"
	"math"
	"sync"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/prune/depgraph"
	"github.com/podaml/poda/tensor"
	"github.com/podaml/poda/train"
)

// GroupTaylor is the first-order Taylor criterion (Molchanov et al. 2019,
// as Torch-Pruning's TaylorImportance): channel c scores Σ |w·∂L/∂w| over
// every weight of the group that belongs to c, the gradient being that of
// the mean cross-entropy over the calibration batches (summed). It
// estimates how much the loss changes when the channel's weights go to
// zero. Gradients come from package train, computed once per model and
// shared by all groups; models the trainer cannot differentiate decline
// every group with the trainer's error.
//
// Use it by pointer (&GroupTaylor{...}) so the gradients are cached.
type GroupTaylor struct {
	// Inputs are calibration batches for the graph's single input.
	Inputs []*tensor.Tensor
	// Labels are the batches' labels; nil uses the model's own
	// predictions (the loss then measures agreement with the unpruned
	// model).
	Labels [][]int
	// Roles restricts the member roles read (nil: all but BatchNorm
	// running statistics).
	Roles []depgraph.Role

	mu    sync.Mutex
	model *graph.Model
	grads map[string][]float32
	err   error
}

var _ GroupCriterion = (*GroupTaylor)(nil)

// Score implements GroupCriterion.
func (c *GroupTaylor) Score(g *depgraph.Group, m *graph.Model) ([]float64, error) {
	grads, err := c.gradients(m)
	if err != nil {
		return nil, err
	}
	roles := c.Roles
	if roles == nil {
		roles = weightRoles
	}
	want := map[depgraph.Role]bool{}
	for _, r := range roles {
		want[r] = true
	}
	out := make([]float64, g.Channels)
	used := false
	for _, s := range g.Members {
		if !want[s.Role] {
			continue
		}
		t := m.Graph.Initializer(s.Tensor)
		gr := grads[s.Tensor]
		if t == nil || gr == nil || len(gr) != len(t.F32) {
			continue // not trained (frozen or not float): no first-order term
		}
		used = true
		outer := tensor.Prod(t.Shape[:s.Axis])
		inner := tensor.Prod(t.Shape[s.Axis+1:])
		size := t.Shape[s.Axis]
		for ch, idx := range s.Index {
			for _, i := range idx {
				for o := 0; o < outer; o++ {
					base := (o*size + i) * inner
					for k := base; k < base+inner; k++ {
						out[ch] += math.Abs(float64(t.F32[k]) * float64(gr[k]))
					}
				}
			}
		}
	}
	if !used {
		return nil, fmt.Errorf("no member of the group has a gradient")
	}
	return out, nil
}

// gradients returns ∂L/∂w for every trainable initializer of m, summed
// over the calibration batches; computed once per model.
func (c *GroupTaylor) gradients(m *graph.Model) (map[string][]float32, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.model == m {
		return c.grads, c.err
	}
	c.model, c.grads, c.err = m, nil, nil
	c.grads, c.err = taylorGradients(m, c.Inputs, c.Labels)
	return c.grads, c.err
}

func taylorGradients(m *graph.Model, inputs []*tensor.Tensor, labels [][]int) (map[string][]float32, error) {
	if len(inputs) == 0 {
		return nil, fmt.Errorf("taylor criterion: no calibration inputs")
	}
	if labels != nil && len(labels) != len(inputs) {
		return nil, fmt.Errorf("taylor criterion: %d label batches for %d input batches", len(labels), len(inputs))
	}
	p, err := train.Compile(m, train.Options{FreezeBN: true})
	if err != nil {
		return nil, fmt.Errorf("taylor criterion: %w", err)
	}
	sums := map[string][]float32{}
	for b, x := range inputs {
		y, err := p.Forward(x, true)
		if err != nil {
			return nil, fmt.Errorf("taylor criterion: %w", err)
		}
		var lab []int
		if labels != nil {
			lab = labels[b]
		} else {
			lab = argmaxRows(y)
		}
		dy := make([]float32, len(y.F32))
		if _, err := train.CrossEntropy(y, lab, dy); err != nil {
			return nil, fmt.Errorf("taylor criterion: %w", err)
		}
		if err := p.Backward(dy); err != nil {
			return nil, fmt.Errorf("taylor criterion: %w", err)
		}
		for _, q := range p.Params() {
			s := sums[q.Name]
			if s == nil {
				s = make([]float32, len(q.Grad))
				sums[q.Name] = s
			}
			for i, v := range q.Grad {
				s[i] += v
			}
		}
	}
	return sums, nil
}

func argmaxRows(y *tensor.Tensor) []int {
	if len(y.Shape) != 2 {
		return nil
	}
	n, k := y.Shape[0], y.Shape[1]
	out := make([]int, n)
	for i := range out {
		row := y.F32[i*k : (i+1)*k]
		for j, v := range row {
			if v > row[out[i]] {
				out[i] = j
			}
		}
	}
	return out
}
