package recovery

import (
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
