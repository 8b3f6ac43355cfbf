package recovery

import (
	"context"
	"math"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/prune"
)

// Unstructured prunes to a fraction of Options.Sparsity (and of each
// override's sparsity) at each event.
type Unstructured struct{ Options prune.UnstructuredOptions }

// Prune implements Pruner.
func (u Unstructured) Prune(m *graph.Model, fraction float64) (any, error) {
	o := u.Options
	o.Sparsity *= fraction
	o.Overrides = nil
	for _, ov := range u.Options.Overrides {
		o.Overrides = append(o.Overrides, prune.Override{Pattern: ov.Pattern, Sparsity: ov.Sparsity * fraction})
	}
	return prune.Unstructured(m, o)
}

// Structural implements Pruner.
func (Unstructured) Structural() bool { return false }

// NM prunes toward an N:M pattern: at fraction f of the schedule it keeps
// M − round(f·(M − N)) of every M weights, reaching N:M at f = 1.
type NM struct{ Options prune.NMOptions }

// Prune implements Pruner.
func (p NM) Prune(m *graph.Model, fraction float64) (any, error) {
	o := p.Options
	o.N = o.M - int(math.Round(fraction*float64(o.M-o.N)))
	if o.N >= o.M {
		return nil, nil // nothing to prune yet
	}
	return prune.NM(m, o)
}

// Structural implements Pruner.
func (NM) Structural() bool { return false }

// Structured removes channels toward Options.Ratio of the original
// channels: each event removes the share that brings the cumulative
// fraction to fraction·Ratio.
type Structured struct {
	Options prune.StructuredOptions
	prev    float64 // schedule fraction reached so far
}

// Prune implements Pruner.
func (p *Structured) Prune(m *graph.Model, fraction float64) (any, error) {
	if fraction <= p.prev {
		return nil, nil
	}
	// Of the 1−prev·r channels left, remove enough to leave 1−fraction·r.
	step := func(r float64) float64 { return 1 - (1-fraction*r)/(1-p.prev*r) }
	o := p.Options
	o.Ratio = step(p.Options.Ratio)
	if len(p.Options.PerGroup) > 0 {
		o.PerGroup = map[string]float64{}
		for k, v := range p.Options.PerGroup {
			o.PerGroup[k] = step(v)
		}
	}
	rep, err := prune.Structured(context.Background(), m, o)
	if err != nil {
		return nil, err
	}
	p.prev = fraction
	return rep, nil
}

// Structural implements Pruner.
func (*Structured) Structural() bool { return true }

// Depth removes whole blocks (residual blocks, transformer layers) once,
// at the first event.
type Depth struct {
	Options prune.DepthOptions
	done    bool
}

// Prune implements Pruner.
func (p *Depth) Prune(m *graph.Model, fraction float64) (any, error) {
	if p.done || fraction <= 0 {
		return nil, nil
	}
	p.done = true
	return prune.RemoveBlocks(context.Background(), m, p.Options)
}

// Structural implements Pruner.
func (*Depth) Structural() bool { return true }
