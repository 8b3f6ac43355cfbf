package depgraph

import (
	"fmt"
	"sort"
	"strings"

	"github.com/podaml/poda/graph"
)

// Role says what a member tensor is to the channels of its group. Criteria
// pick the roles they score; Zero picks the roles that make a channel's
// output vanish.
type Role int

const (
	// RoleOut is a producer's weight along its output-channel axis (Conv
	// weight axis 0, Gemm/MatMul output features, a depthwise conv's
	// filters).
	RoleOut Role = iota
	// RoleIn is a consumer's weight along its input-channel axis.
	RoleIn
	// RoleBias is an additive per-channel term of a producer (Conv or Gemm
	// bias, the B of a MatMul+Add).
	RoleBias
	// RoleNormScale is a normalization's per-channel scale (BatchNorm or
	// InstanceNorm gamma).
	RoleNormScale
	// RoleNormBias is a normalization's per-channel shift (beta).
	RoleNormBias
	// RoleNormStat is a BatchNorm running mean or variance: statistics, not
	// weights.
	RoleNormStat
	// RoleScale is a per-channel multiplicative constant (Mul, Div, PRelu
	// slope).
	RoleScale
)

var roleNames = [...]string{"out", "in", "bias", "norm-scale", "norm-bias", "norm-stat", "scale"}

func (r Role) String() string {
	if int(r) < len(roleNames) {
		return roleNames[r]
	}
	return fmt.Sprintf("role(%d)", int(r))
}

// Slice is one member of a group: the positions along Axis of initializer
// Tensor that belong to each of the group's channels.
type Slice struct {
	Tensor string
	Axis   int
	Role   Role
	Node   string // the node whose rule registered the slice
	// Index[c] lists the positions along Axis that belong to channel c
	// (one position for a plain conv; a block of features after Flatten;
	// head_dim positions per head of an attention projection).
	Index [][]int
}

// Group is a set of coupled channels: removing channel c removes
// Index[c] from every member.
type Group struct {
	ID int
	// Name is the first producer's node name (or output name); stable
	// across builds of the same model, used for per-group options.
	Name string
	// Producers are the nodes whose output channels form the group.
	Producers []string
	Channels  int
	Members   []Slice
	// Declined is empty for prunable groups, else why the group cannot be
	// pruned (naming the nodes that block it).
	Declined string

	classes []int // channel c is the atom class classes[c]
}

func (g *Group) String() string {
	return fmt.Sprintf("group %d %q (%d channels, %d members)", g.ID, g.Name, g.Channels, len(g.Members))
}

// Graph is the dependency graph of one model. Apply and Zero edit that
// model; build a new Graph after any other edit.
type Graph struct {
	Groups []*Group
	m      *graph.Model
	b      *builder
}

// Prunable returns the groups that are not declined.
func (d *Graph) Prunable() []*Group {
	var out []*Group
	for _, g := range d.Groups {
		if g.Declined == "" {
			out = append(out, g)
		}
	}
	return out
}

// Group returns the group called name, or nil.
func (d *Graph) Group(name string) *Group {
	for _, g := range d.Groups {
		if g.Name == name {
			return g
		}
	}
	return nil
}

// chanInfo says which axis of a value carries tracked channels and which
// atom each index along it carries.
type chanInfo struct {
	axis  int
	atoms []int
}

type paramKey struct {
	tensor string
	axis   int
}

type param struct {
	key   paramKey
	atoms []int
	role  Role
	node  string
	users map[*graph.Node]bool
	order int
}

type source struct {
	name string
}

// fixup rewrites something that depends on a channel count after the
// initializers have shrunk; a.kept and a.keptCount say what survives.
type fixup func(a *applier) error

type builder struct {
	m      *graph.Model
	g      *graph.Graph
	shapes graph.Shapes

	chans map[string]*chanInfo

	parent  []int // atom union-find
	atomSrc []int
	srcPar  []int // source union-find
	sources []source
	reason  map[int]string // first block reason per atom

	params     map[paramKey]*param
	paramOrder int
	fixups     []fixup
}

func (b *builder) find(a int) int {
	for b.parent[a] != a {
		b.parent[a] = b.parent[b.parent[a]]
		a = b.parent[a]
	}
	return a
}

func (b *builder) findSrc(s int) int {
	for b.srcPar[s] != s {
		b.srcPar[s] = b.srcPar[b.srcPar[s]]
		s = b.srcPar[s]
	}
	return s
}

func (b *builder) union(x, y int) {
	rx, ry := b.find(x), b.find(y)
	if rx != ry {
		if ry < rx {
			rx, ry = ry, rx
		}
		b.parent[ry] = rx
	}
	sx, sy := b.findSrc(b.atomSrc[x]), b.findSrc(b.atomSrc[y])
	if sx != sy {
		if sy < sx {
			sx, sy = sy, sx
		}
		b.srcPar[sy] = sx
	}
}

// unionAll unions two equally long atom lists index by index.
func (b *builder) unionAll(x, y []int) {
	for i := range x {
		b.union(x[i], y[i])
	}
}

// fresh creates n new atoms owned by a new source called name.
func (b *builder) fresh(n int, name string) []int {
	s := len(b.sources)
	b.sources = append(b.sources, source{name: name})
	b.srcPar = append(b.srcPar, s)
	out := make([]int, n)
	for i := range out {
		a := len(b.parent)
		b.parent = append(b.parent, a)
		b.atomSrc = append(b.atomSrc, s)
		out[i] = a
	}
	return out
}

// block marks atoms as unprunable.
func (b *builder) block(atoms []int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	for _, a := range atoms {
		if _, ok := b.reason[a]; !ok {
			b.reason[a] = msg
		}
	}
}

// blockValue blocks the atoms of a tracked value, if any.
func (b *builder) blockValue(name string, format string, args ...any) {
	if c := b.chans[name]; c != nil {
		b.block(c.atoms, format, args...)
	}
}

// blockInputs blocks every tracked input of n.
func (b *builder) blockInputs(n *graph.Node, format string, args ...any) {
	for _, in := range n.Inputs {
		b.blockValue(in, format, args...)
	}
}

func (b *builder) chanOf(name string) *chanInfo {
	if name == "" {
		return nil
	}
	return b.chans[name]
}

func (b *builder) setChan(name string, axis int, atoms []int) {
	if name == "" {
		return
	}
	b.chans[name] = &chanInfo{axis: axis, atoms: atoms}
}

// param registers that the initializer called name carries atoms along
// axis. It reports false (and registers nothing) when name is not an
// initializer of that size along axis; the caller then blocks. Slices of the
// same tensor axis registered by several nodes (shared weights) are tied.
func (b *builder) param(n *graph.Node, name string, axis int, atoms []int, role Role) bool {
	t := b.g.Initializer(name)
	if t == nil || axis < 0 || axis >= len(t.Shape) || t.Shape[axis] != len(atoms) {
		return false
	}
	k := paramKey{name, axis}
	if p := b.params[k]; p != nil {
		b.unionAll(p.atoms, atoms)
		p.users[n] = true
		return true
	}
	b.params[k] = &param{key: k, atoms: atoms, role: role, node: nodeName(n), users: map[*graph.Node]bool{n: true}, order: b.paramOrder}
	b.paramOrder++
	return true
}

func nodeName(n *graph.Node) string {
	if n.Name != "" {
		return n.Name
	}
	if len(n.Outputs) > 0 {
		return n.Outputs[0]
	}
	return n.OpType
}

// Build computes the dependency graph of m. It fails only when shape
// inference fails; everything it cannot handle becomes a declined group.
func Build(m *graph.Model) (*Graph, error) {
	shapes, err := graph.InferShapes(m, nil)
	if err != nil {
		return nil, fmt.Errorf("depgraph: %w", err)
	}
	b := &builder{m: m, g: m.Graph, shapes: shapes, chans: map[string]*chanInfo{},
		reason: map[int]string{}, params: map[paramKey]*param{}}
	for _, n := range b.g.Nodes {
		if n.Domain != "" && n.Domain != "ai.onnx" {
			b.blockInputs(n, "%s is in domain %q, which has no coupling rules", n, n.Domain)
			continue
		}
		if len(n.Outputs) == 0 {
			b.blockInputs(n, "%s has no outputs", n)
			continue
		}
		if n.HasSubgraph() {
			b.blockInputs(n, "%s has a subgraph", n)
			continue
		}
		r := rules[n.OpType]
		if r == nil {
			b.blockInputs(n, "%s has no coupling rule", n)
			continue
		}
		r(b, n)
	}
	b.finish()
	return b.groups(), nil
}

// finish applies the checks that need the whole graph: graph outputs,
// initializers read by nodes that did not register them.
func (b *builder) finish() {
	for _, o := range b.g.Outputs {
		b.blockValue(o.Name, "channels reach graph output %q", o.Name)
	}
	for _, p := range b.params {
		// An initializer listed among the graph inputs (IR < 4 models list
		// them all) is treated as the constant it holds; Apply updates the
		// input's declared shape.
		for _, c := range b.g.Consumers(p.key.tensor) {
			if !p.users[c] {
				b.block(p.atoms, "initializer %q is also read by %s", p.key.tensor, c)
				break
			}
		}
	}
}

func (b *builder) groups() *Graph {
	type gacc struct {
		g       *Group
		classOf map[int]int
		reasons map[string]bool
		members map[paramKey]*Slice
		srcs    map[int]bool
	}
	acc := map[int]*gacc{}
	var order []int
	get := func(atom int) *gacc {
		s := b.findSrc(b.atomSrc[atom])
		a := acc[s]
		if a == nil {
			a = &gacc{g: &Group{}, classOf: map[int]int{}, reasons: map[string]bool{},
				members: map[paramKey]*Slice{}, srcs: map[int]bool{}}
			acc[s] = a
			order = append(order, s)
		}
		return a
	}
	// Channels in atom order: a producer's channels keep their order.
	for atom := range b.parent {
		a := get(atom)
		a.srcs[b.atomSrc[atom]] = true
		r := b.find(atom)
		if _, ok := a.classOf[r]; !ok {
			a.classOf[r] = len(a.g.classes)
			a.g.classes = append(a.g.classes, r)
		}
		if msg, ok := b.reason[atom]; ok {
			a.reasons[msg] = true
		}
	}
	params := make([]*param, 0, len(b.params))
	for _, p := range b.params {
		params = append(params, p)
	}
	sort.Slice(params, func(i, j int) bool { return params[i].order < params[j].order })
	var memberOrder = map[*gacc][]paramKey{}
	for _, p := range params {
		for i, atom := range p.atoms {
			a := get(atom)
			s := a.members[p.key]
			if s == nil {
				s = &Slice{Tensor: p.key.tensor, Axis: p.key.axis, Role: p.role, Node: p.node,
					Index: make([][]int, len(a.g.classes))}
				a.members[p.key] = s
				memberOrder[a] = append(memberOrder[a], p.key)
			}
			c := a.classOf[b.find(atom)]
			s.Index[c] = append(s.Index[c], i)
		}
	}
	d := &Graph{m: b.m, b: b}
	for _, s := range order {
		a := acc[s]
		if len(a.members) == 0 {
			continue
		}
		g := a.g
		g.ID = len(d.Groups)
		var srcs []int
		for x := range a.srcs {
			srcs = append(srcs, x)
		}
		sort.Ints(srcs)
		for _, x := range srcs {
			g.Producers = append(g.Producers, b.sources[x].name)
		}
		g.Name = g.Producers[0]
		g.Channels = len(g.classes)
		for _, k := range memberOrder[a] {
			g.Members = append(g.Members, *a.members[k])
		}
		if len(a.reasons) > 0 {
			var rs []string
			for r := range a.reasons {
				rs = append(rs, r)
			}
			sort.Strings(rs)
			if len(rs) > 3 {
				rs = append(rs[:3], fmt.Sprintf("and %d more", len(rs)-3))
			}
			g.Declined = strings.Join(rs, "; ")
		}
		d.Groups = append(d.Groups, g)
	}
	return d
}
