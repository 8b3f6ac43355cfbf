package prune

import (
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/prune/depgraph"
	"github.com/podaml/poda/tensor"
)

// GroupCriterion scores the channels of a dependency group: one score per
// channel, higher is more important. Criteria see only the group's member
// slices (tensor, axis, role, indices) and never switch on op types, so a
// new coupling rule in depgraph needs no change here. An error declines
// the group, with the error as the reason.
type GroupCriterion interface {
	Score(g *depgraph.Group, m *graph.Model) ([]float64, error)
}

var (
	_ GroupCriterion = GroupL1{}
	_ GroupCriterion = GroupL2{}
	_ GroupCriterion = GroupBNScale{}
	_ GroupCriterion = GroupRandom{}
)

// weightRoles are the roles the norm criteria read by default: everything
// but BatchNorm running statistics.
var weightRoles = []depgraph.Role{depgraph.RoleOut, depgraph.RoleIn, depgraph.RoleBias,
	depgraph.RoleNormScale, depgraph.RoleNormBias, depgraph.RoleScale}

// GroupL1 scores channel c by the sum of |w| over every weight of the group
// that belongs to c: the producers' filters and biases, the consumers'
// input slices, normalization scale and shift (the group's whole weight
// mass, as Torch-Pruning's GroupMagnitudeImportance with p=1 and sum
// reduction). By default slices are not normalized: a channel that feeds
// large consumers carries more of the model and scores higher. PerSlice
// divides each slice's scores by their mean first, so that every member
// weighs the same whatever its size or scale. Roles restricts the member
// roles read (nil: all but BatchNorm running statistics).
type GroupL1 struct {
	Roles    []depgraph.Role
	PerSlice bool
}

// Score implements GroupCriterion.
func (c GroupL1) Score(g *depgraph.Group, m *graph.Model) ([]float64, error) {
	return groupNorm(g, m, c.Roles, func(v float32) float64 { return math.Abs(float64(v)) }, false, c.PerSlice)
}

// GroupL2 scores channel c by the Euclidean norm of all its weights in the
// group (the group-lasso norm: square root of the summed squares over
// every member slice). Roles and PerSlice (applied to the summed squares)
// as for GroupL1.
type GroupL2 struct {
	Roles    []depgraph.Role
	PerSlice bool
}

// Score implements GroupCriterion.
func (c GroupL2) Score(g *depgraph.Group, m *graph.Model) ([]float64, error) {
	return groupNorm(g, m, c.Roles, func(v float32) float64 { return float64(v) * float64(v) }, true, c.PerSlice)
}

// GroupBNScale is network slimming's criterion: |γ| of the normalization
// scales of the group (summed when a residual group has several). Groups
// without a normalization scale use Fallback, or are declined when it is
// nil.
type GroupBNScale struct{ Fallback GroupCriterion }

// Score implements GroupCriterion.
func (c GroupBNScale) Score(g *depgraph.Group, m *graph.Model) ([]float64, error) {
	for _, s := range g.Members {
		if s.Role == depgraph.RoleNormScale {
			return groupNorm(g, m, []depgraph.Role{depgraph.RoleNormScale}, func(v float32) float64 { return math.Abs(float64(v)) }, false, false)
		}
	}
	if c.Fallback != nil {
		return c.Fallback.Score(g, m)
	}
	return nil, fmt.Errorf("no normalization scale follows the group (BN folded or absent)")
}

// GroupRandom scores channels uniformly at random: a baseline. The stream
// depends on Seed and the group's name only, so results are reproducible
// and independent of the other groups.
type GroupRandom struct{ Seed uint64 }

// Score implements GroupCriterion.
func (c GroupRandom) Score(g *depgraph.Group, _ *graph.Model) ([]float64, error) {
	h := fnv.New64a()
	h.Write([]byte(g.Name))
	rng := rand.New(rand.NewPCG(c.Seed, h.Sum64()))
	out := make([]float64, g.Channels)
	for i := range out {
		out[i] = rng.Float64()
	}
	return out, nil
}

// GroupCriterionByName maps the names used in recipes and on the command
// line (l1, l2, bn, random) to criteria; bn falls back to l1 for groups
// without a normalization.
func GroupCriterionByName(name string, seed uint64) (GroupCriterion, error) {
	switch name {
	case "", "l1":
		return GroupL1{}, nil
	case "l2":
		return GroupL2{}, nil
	case "bn":
		return GroupBNScale{Fallback: GroupL1{}}, nil
	case "random":
		return GroupRandom{Seed: seed}, nil
	}
	return nil, fmt.Errorf("unknown structured criterion %q (want l1, l2, bn or random)", name)
}

func groupNorm(g *depgraph.Group, m *graph.Model, roles []depgraph.Role, f func(float32) float64, sqrt, perSlice bool) ([]float64, error) {
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
		if t == nil {
			return nil, fmt.Errorf("member %q is not an initializer", s.Tensor)
		}
		if t.DType != tensor.Float {
			return nil, fmt.Errorf("member %q is %s, not float32", s.Tensor, t.DType)
		}
		used = true
		outer := tensor.Prod(t.Shape[:s.Axis])
		inner := tensor.Prod(t.Shape[s.Axis+1:])
		size := t.Shape[s.Axis]
		part := make([]float64, g.Channels)
		var mean float64
		for c, idx := range s.Index {
			var acc float64
			for _, i := range idx {
				for o := 0; o < outer; o++ {
					base := (o*size + i) * inner
					for _, v := range t.F32[base : base+inner] {
						acc += f(v)
					}
				}
			}
			part[c] = acc
			mean += acc / float64(g.Channels)
		}
		if !perSlice || mean == 0 {
			mean = 1
		}
		for c, v := range part {
			out[c] += v / mean
		}
	}
	if !used {
		return nil, fmt.Errorf("no member with the roles %v", roles)
	}
	if sqrt {
		for i, v := range out {
			out[i] = math.Sqrt(v)
		}
	}
	return out, nil
}
