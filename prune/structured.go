package prune

import (
	"context"
	"fmt"
	"math"
	"path"
	"sort"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/prune/depgraph"
	"github.com/podaml/poda/tensor"
)

// StructuredOptions configures Structured.
type StructuredOptions struct {
	// Ratio is the fraction of channels to remove, in [0, 1).
	Ratio float64
	// Global ranks channels across all groups (scores normalized by each
	// group's mean) and removes the lowest Ratio of all channels; otherwise
	// each group loses Ratio of its own channels.
	Global bool
	// Criterion scores channels; nil means GroupL1.
	Criterion GroupCriterion
	// RoundTo, when > 1, rounds every pruned group's surviving width up
	// to a multiple of RoundTo (or leaves the group whole): the channel
	// count for convs and linear layers, heads × head_dim for attention
	// (with head_dim 8 and RoundTo 16, an even number of heads). At least
	// one step of channels is always kept.
	RoundTo int
	// Seed seeds GroupRandom when the criterion is a GroupRandom with a
	// zero Seed.
	Seed uint64
	// Exclude lists globs (path.Match) matched against a group's name, its
	// producer nodes, its member tensors and nodes, and those nodes' op
	// types (so "Gemm" keeps every group that touches a Gemm); matching
	// groups are left whole.
	Exclude []string
	// PerGroup overrides Ratio for groups whose name equals or matches
	// (path.Match) a key; such groups are pruned on their own even when
	// Global is set.
	PerGroup map[string]float64
}

// GroupReport describes one dependency group.
type GroupReport struct {
	Name      string   `json:"name"`
	Producers []string `json:"producers"`
	// Members are "tensor[axis] role" strings.
	Members []string `json:"members"`
	Before  int      `json:"channels_before"`
	After   int      `json:"channels_after"`
	// Declined says why the group was left whole ("" when it was
	// considered; After == Before then means nothing was worth removing).
	Declined string `json:"declined,omitempty"`
}

// StructuredReport is the outcome of Structured.
type StructuredReport struct {
	Groups []GroupReport `json:"groups"`
	// ParamsBefore and ParamsAfter count float initializer elements.
	ParamsBefore int64 `json:"params_before"`
	ParamsAfter  int64 `json:"params_after"`
	// ChannelsBefore and ChannelsAfter sum over the pruned groups.
	ChannelsBefore int `json:"channels_before"`
	ChannelsAfter  int `json:"channels_after"`
}

// Declined returns the reports of the declined groups.
func (r *StructuredReport) Declined() []GroupReport {
	var out []GroupReport
	for _, g := range r.Groups {
		if g.Declined != "" {
			out = append(out, g)
		}
	}
	return out
}

// Structured removes whole channels (conv filters, linear neurons,
// attention heads) together with everything coupled to them, as found by
// package depgraph, and rewrites m in place into a smaller dense model.
// Groups the dependency graph declines, excluded groups and groups the
// criterion cannot score are left whole and reported with the reason.
//
// The work is done on a copy: on any error (including cancellation) m is
// left as it was, and the rewritten graph replaces m's only after it
// passes graph.Check and shape inference.
func Structured(ctx context.Context, m *graph.Model, opt StructuredOptions) (*StructuredReport, error) {
	before := floatParams(m)
	c := m.Clone()
	d, plan, rep, err := planStructured(ctx, c, opt)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := d.Apply(plan); err != nil {
		return nil, fmt.Errorf("structured pruning: %w", err)
	}
	depgraph.ReshareIdentities(c, d.folded)
	if err := c.Graph.Check(); err != nil {
		return nil, fmt.Errorf("structured pruning produced an invalid graph: %w", err)
	}
	if _, err := graph.InferShapes(c, nil); err != nil {
		return nil, fmt.Errorf("structured pruning produced inconsistent shapes: %w", err)
	}
	*m.Graph = *c.Graph
	m.Graph.Invalidate()
	rep.ParamsBefore, rep.ParamsAfter = before, floatParams(m)
	return rep, nil
}

type structuredPlan struct {
	*depgraph.Graph
	folded map[string]string
}

// PlanStructured builds m's dependency graph and chooses the channels
// Structured would remove. It edits m only to fold Identity copies of
// initializers into initializers of their own (depgraph.FoldIdentities),
// which preserves the function. Apply the plan with
// d.Apply(plan) (what Structured does) or d.Zero(plan) (same function,
// original shapes). rep's parameter counts are left zero.
func PlanStructured(ctx context.Context, m *graph.Model, opt StructuredOptions) (*depgraph.Graph, depgraph.Plan, *StructuredReport, error) {
	d, plan, rep, err := planStructured(ctx, m, opt)
	if err != nil {
		return nil, nil, nil, err
	}
	return d.Graph, plan, rep, nil
}

func planStructured(ctx context.Context, m *graph.Model, opt StructuredOptions) (*structuredPlan, depgraph.Plan, *StructuredReport, error) {
	if opt.Ratio < 0 || opt.Ratio >= 1 || math.IsNaN(opt.Ratio) {
		return nil, nil, nil, fmt.Errorf("structured pruning: ratio %v not in [0, 1)", opt.Ratio)
	}
	for k, r := range opt.PerGroup {
		if r < 0 || r >= 1 || math.IsNaN(r) {
			return nil, nil, nil, fmt.Errorf("structured pruning: ratio %v for group %q not in [0, 1)", r, k)
		}
	}
	if opt.RoundTo < 0 {
		return nil, nil, nil, fmt.Errorf("structured pruning: negative RoundTo %d", opt.RoundTo)
	}
	crit := opt.Criterion
	if crit == nil {
		crit = GroupL1{}
	}
	if r, ok := crit.(GroupRandom); ok && r.Seed == 0 {
		crit = GroupRandom{Seed: opt.Seed}
	}
	folded := depgraph.FoldIdentities(m)
	dg, err := depgraph.Build(m)
	if err != nil {
		depgraph.ReshareIdentities(m, folded)
		return nil, nil, nil, fmt.Errorf("structured pruning: %w", err)
	}
	d := &structuredPlan{dg, folded}
	rep := &StructuredReport{}
	opTypes := map[string]string{} // node name (or first output) → op type
	for _, n := range m.Graph.Nodes {
		opTypes[n.Name] = n.OpType
		if len(n.Outputs) > 0 {
			opTypes[n.Outputs[0]] = n.OpType
		}
	}
	type cand struct {
		g      *depgraph.Group
		rep    int // index into rep.Groups
		scores []float64
		ratio  float64
		local  bool
		keep   int
	}
	var cands []*cand
	for _, g := range d.Groups {
		gr := GroupReport{Name: g.Name, Producers: g.Producers, Before: g.Channels, After: g.Channels, Declined: g.Declined}
		for _, s := range g.Members {
			gr.Members = append(gr.Members, fmt.Sprintf("%s[%d] %s", s.Tensor, s.Axis, s.Role))
		}
		if gr.Declined == "" {
			if p := excludedBy(g, opt.Exclude, opTypes); p != "" {
				gr.Declined = fmt.Sprintf("excluded by pattern %q", p)
			}
		}
		if gr.Declined == "" {
			if err := ctx.Err(); err != nil {
				depgraph.ReshareIdentities(m, folded)
				return nil, nil, nil, err
			}
			scores, err := crit.Score(g, m)
			switch {
			case err != nil:
				gr.Declined = "criterion: " + err.Error()
			case len(scores) != g.Channels:
				gr.Declined = fmt.Sprintf("criterion returned %d scores for %d channels", len(scores), g.Channels)
			default:
				ratio, local := opt.Ratio, !opt.Global
				if r, ok := groupRatio(g.Name, opt.PerGroup); ok {
					ratio, local = r, true
				}
				cands = append(cands, &cand{g: g, rep: len(rep.Groups), scores: scores, ratio: ratio, local: local})
			}
		}
		rep.Groups = append(rep.Groups, gr)
	}
	// A group's step: kept channel counts are multiples of it, so that
	// the kept width (channels × positions per channel, e.g. heads ×
	// head_dim) is a multiple of RoundTo.
	step := func(g *depgraph.Group) int {
		if opt.RoundTo <= 1 {
			return 1
		}
		w := channelWidth(g)
		return opt.RoundTo / gcd(opt.RoundTo, w)
	}
	minKeep := func(c *cand) int { return min(c.g.Channels, step(c.g)) }
	roundUp := func(keep int, c *cand) int {
		st := step(c.g)
		if keep%st != 0 {
			keep += st - keep%st
		}
		return max(min(keep, c.g.Channels), minKeep(c))
	}
	// Local groups: each loses its ratio of channels.
	for _, c := range cands {
		if c.local {
			n := c.g.Channels
			c.keep = roundUp(n-int(math.Round(c.ratio*float64(n))), c)
		}
	}
	// Global pool: the lowest normalized scores across groups.
	type entry struct {
		c     *cand
		score float64
	}
	var pool []entry
	total := 0
	for _, c := range cands {
		if c.local {
			continue
		}
		c.keep = c.g.Channels
		total += c.g.Channels
		mean := 0.0
		for _, s := range c.scores {
			mean += s
		}
		mean /= float64(len(c.scores))
		if mean == 0 || math.IsNaN(mean) || math.IsInf(mean, 0) {
			mean = 1
		}
		for _, s := range c.scores {
			pool = append(pool, entry{c, s / mean})
		}
	}
	sort.SliceStable(pool, func(i, j int) bool { return pool[i].score < pool[j].score })
	target := int(math.Round(opt.Ratio * float64(total)))
	for _, e := range pool {
		if target == 0 {
			break
		}
		if e.c.keep > minKeep(e.c) {
			e.c.keep--
			target--
		}
	}
	plan := depgraph.Plan{}
	for _, c := range cands {
		n := c.g.Channels
		if !c.local {
			c.keep = roundUp(c.keep, c)
		}
		gr := &rep.Groups[c.rep]
		gr.After = c.keep
		rep.ChannelsBefore += n
		rep.ChannelsAfter += c.keep
		if c.keep >= n {
			continue
		}
		order := make([]int, n)
		for i := range order {
			order[i] = i
		}
		sort.SliceStable(order, func(i, j int) bool { return c.scores[order[i]] < c.scores[order[j]] })
		drop := keepEveryMember(c.g, order, n-c.keep)
		gr.After = n - len(drop)
		rep.ChannelsAfter += c.keep - gr.After
		if len(drop) > 0 {
			plan[c.g.ID] = drop
		}
	}
	return d, plan, rep, nil
}

// channelWidth is the number of positions one channel occupies on the
// group's producer outputs (1 for conv filters, head_dim for attention
// heads), when all channels agree; else 1.
func channelWidth(g *depgraph.Group) int {
	for _, s := range g.Members {
		if s.Role != depgraph.RoleOut || len(s.Index) == 0 {
			continue
		}
		w := len(s.Index[0])
		for _, idx := range s.Index {
			if len(idx) != w {
				return 1
			}
		}
		if w > 0 {
			return w
		}
	}
	return 1
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// keepEveryMember drops the first k channels of order (lowest scores
// first) but keeps, for every member slice, the best channel it has: a
// group that spans several producers (the operands of a Concat that meet
// in a residual Add) must not empty any of them.
func keepEveryMember(g *depgraph.Group, order []int, k int) []int {
	dropped := make([]bool, g.Channels)
	for _, c := range order[:k] {
		dropped[c] = true
	}
	for _, s := range g.Members {
		best, alive := -1, false
		for _, c := range order {
			if len(s.Index[c]) == 0 {
				continue
			}
			if !dropped[c] {
				alive = true
				break
			}
			best = c // order is ascending: the last seen is the best
		}
		if !alive && best >= 0 {
			dropped[best] = false
		}
	}
	var drop []int
	for c, d := range dropped {
		if d {
			drop = append(drop, c)
		}
	}
	return drop
}

func excludedBy(g *depgraph.Group, patterns []string, opTypes map[string]string) string {
	names := append([]string{g.Name}, g.Producers...)
	for _, p := range g.Producers {
		names = append(names, opTypes[p])
	}
	for _, s := range g.Members {
		names = append(names, s.Tensor, s.Node, opTypes[s.Node])
	}
	for _, p := range patterns {
		for _, s := range names {
			if ok, _ := path.Match(p, s); ok {
				return p
			}
		}
	}
	return ""
}

func groupRatio(name string, per map[string]float64) (float64, bool) {
	if r, ok := per[name]; ok {
		return r, true
	}
	keys := make([]string, 0, len(per))
	for k := range per {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if ok, _ := path.Match(k, name); ok {
			return per[k], true
		}
	}
	return 0, false
}

// floatParams counts the elements of m's float initializers.
func floatParams(m *graph.Model) int64 {
	var n int64
	for _, t := range m.Graph.Initializers {
		if t.DType == tensor.Float {
			n += int64(t.Numel())
		}
	}
	return n
}
