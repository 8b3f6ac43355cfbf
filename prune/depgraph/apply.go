package depgraph

import (
	"errors"
	"fmt"
	"sort"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/tensor"
)

// Plan lists, per group ID, the channels (indices below Group.Channels) to
// remove.
type Plan map[int][]int

// ErrApplied reports a second Apply or Zero on the same Graph.
var ErrApplied = errors.New("depgraph: graph already applied; build it again")

func errorf(format string, args ...any) error {
	return fmt.Errorf("depgraph: "+format, args...)
}

type applier struct {
	m       *graph.Model
	b       *builder
	removed map[int]bool // removed atom classes
}

func (a *applier) kept(atom int) bool { return !a.removed[a.b.find(atom)] }

func (a *applier) keptCount(atoms []int) int {
	k := 0
	for _, x := range atoms {
		if a.kept(x) {
			k++
		}
	}
	return k
}

func (d *Graph) applier(plan Plan) (*applier, error) {
	if d.b == nil {
		return nil, ErrApplied
	}
	a := &applier{m: d.m, b: d.b, removed: map[int]bool{}}
	for id, chans := range plan {
		if id < 0 || id >= len(d.Groups) {
			return nil, errorf("plan names group %d, the graph has %d", id, len(d.Groups))
		}
		g := d.Groups[id]
		if len(chans) == 0 {
			continue
		}
		if g.Declined != "" {
			return nil, errorf("%s is declined: %s", g, g.Declined)
		}
		seen := map[int]bool{}
		for _, c := range chans {
			if c < 0 || c >= g.Channels {
				return nil, errorf("%s has no channel %d", g, c)
			}
			seen[c] = true
			a.removed[g.classes[c]] = true
		}
		if len(seen) >= g.Channels {
			return nil, errorf("plan removes every channel of %s", g)
		}
	}
	return a, nil
}

// params returns the registered parameter slices in registration order.
func (b *builder) sortedParams() []*param {
	ps := make([]*param, 0, len(b.params))
	for _, p := range b.params {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].order < ps[j].order })
	return ps
}

// Apply removes the plan's channels from the model the graph was built
// from: every member initializer shrinks, and Conv group attributes, Split
// sizes, Reshape targets and value_info shapes follow. The result passes
// graph.Check. The Graph cannot be used again afterwards.
func (d *Graph) Apply(plan Plan) error {
	a, err := d.applier(plan)
	if err != nil {
		return err
	}
	d.b = nil
	g := d.m.Graph
	for _, p := range a.b.sortedParams() {
		var keep []int
		for i, atom := range p.atoms {
			if a.kept(atom) {
				keep = append(keep, i)
			}
		}
		if len(keep) == len(p.atoms) {
			continue
		}
		if len(keep) == 0 {
			return errorf("removing every slice of %q", p.key.tensor)
		}
		if err := g.ShrinkAxis(p.key.tensor, p.key.axis, keep); err != nil {
			return errorf("%w", err)
		}
		for _, v := range g.Inputs {
			if v.Name == p.key.tensor {
				v.Shape = graph.ShapeOf(g.Initializer(v.Name).Shape...)
			}
		}
	}
	for _, f := range a.b.fixups {
		if err := f(a); err != nil {
			return err
		}
	}
	g.Invalidate()
	g.Prune()
	if err := a.updateValueInfo(); err != nil {
		return err
	}
	if err := g.Check(); err != nil {
		return errorf("pruned graph is invalid: %w", err)
	}
	return nil
}

// updateValueInfo recomputes the shapes of the value_info entries of
// tracked values and drops those inference cannot recover.
func (a *applier) updateValueInfo() error {
	g := a.m.Graph
	touched := func(name string) bool { return a.b.chans[name] != nil }
	any := false
	for _, v := range g.ValueInfo {
		if touched(v.Name) {
			any = true
			break
		}
	}
	if !any {
		return nil
	}
	shapes, err := graph.InferShapes(a.m, nil)
	if err != nil {
		return errorf("shape inference after pruning: %w", err)
	}
	var vis []*graph.Value
	for _, v := range g.ValueInfo {
		if !touched(v.Name) {
			vis = append(vis, v)
			continue
		}
		sh := shapes.Shape(v.Name)
		if sh == nil || len(sh) != len(v.Shape) {
			continue
		}
		v.Shape = sh
		vis = append(vis, v)
	}
	g.ValueInfo = vis
	return nil
}

// zeroRoles are the roles whose entries decide a channel's output: with
// them zero, the channel is zero wherever the group's consumers read it.
var zeroRoles = map[Role]bool{RoleOut: true, RoleBias: true, RoleNormScale: true, RoleNormBias: true}

// Zero writes zeros into the producer-side entries (weights along the
// output axis, biases, normalization scale and shift) of the plan's
// channels, so that those channels are exactly zero where the group's
// consumers read them (for activations f with f(0) = 0). The model then
// computes what the pruned model computes; shapes do not change. The Graph
// cannot be used again afterwards.
func (d *Graph) Zero(plan Plan) error {
	a, err := d.applier(plan)
	if err != nil {
		return err
	}
	d.b = nil
	g := d.m.Graph
	for _, p := range a.b.sortedParams() {
		if !zeroRoles[p.role] {
			continue
		}
		t := g.Initializer(p.key.tensor)
		if t.DType != tensor.Float {
			return errorf("cannot zero %s tensor %q", t.DType, p.key.tensor)
		}
		outer := tensor.Prod(t.Shape[:p.key.axis])
		inner := tensor.Prod(t.Shape[p.key.axis+1:])
		size := t.Shape[p.key.axis]
		for i, atom := range p.atoms {
			if a.kept(atom) {
				continue
			}
			for o := 0; o < outer; o++ {
				base := (o*size + i) * inner
				clear(t.F32[base : base+inner])
			}
		}
	}
	return nil
}

func removeAttr(n *graph.Node, name string) {
	out := n.Attrs[:0]
	for _, at := range n.Attrs {
		if at.GetName() != name {
			out = append(out, at)
		}
	}
	n.Attrs = out
}
