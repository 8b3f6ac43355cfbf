package graph

import (
	"fmt"

	"github.com/podaml/poda/onnx"
	"github.com/podaml/poda/onnx/pb"
	"github.com/podaml/poda/tensor"
	"google.golang.org/protobuf/proto"
)

// Tensor is a named initializer: a weight or constant of the graph.
type Tensor struct {
	Name string
	tensor.Tensor
	// Storage says how Save writes the tensor; Load keeps the form the
	// file used.
	Storage Storage
	proto   *pb.TensorProto // doc string and metadata, without the data
}

// Storage is how an initializer is written to a file.
type Storage int

const (
	// Dense writes an initializer with every element.
	Dense Storage = iota
	// SparseConstant writes a Constant node whose sparse_value holds the
	// non-zero values and their indices. Every ONNX consumer sees a dense
	// tensor, so onnx.checker's full check and any runtime accept it.
	SparseConstant
	// SparseInitializer writes a sparse_initializer (values plus indices).
	// onnx.checker's strict shape inference (onnx 1.12) rejects these as
	// inputs of dense ops, so Poda only keeps this form for files that
	// used it.
	SparseInitializer
)

// Graph is a computation graph. Nodes are kept in topological order.
type Graph struct {
	Name         string
	Nodes        []*Node
	Inputs       []*Value // may include initializers (overridable defaults)
	Outputs      []*Value
	ValueInfo    []*Value
	Initializers []*Tensor
	proto        *pb.GraphProto // doc string, annotations, metadata

	// Lazily built indices; nil after an edit.
	inits map[string]*Tensor
	prod  map[string]*Node
	cons  map[string][]*Node
}

func graphFromProto(p *pb.GraphProto) (*Graph, error) {
	g := &Graph{Name: p.GetName()}
	for _, n := range p.Node {
		g.Nodes = append(g.Nodes, nodeFromProto(n))
	}
	for _, vi := range p.Input {
		g.Inputs = append(g.Inputs, valueFromProto(vi))
	}
	for _, vi := range p.Output {
		g.Outputs = append(g.Outputs, valueFromProto(vi))
	}
	for _, vi := range p.ValueInfo {
		g.ValueInfo = append(g.ValueInfo, valueFromProto(vi))
	}
	for _, tp := range p.Initializer {
		t, err := onnx.ToTensor(tp)
		if err != nil {
			return nil, err
		}
		g.Initializers = append(g.Initializers, &Tensor{Name: tp.GetName(), Tensor: *t, proto: metaOnly(tp)})
	}
	for _, sp := range p.SparseInitializer {
		t, err := densify(sp)
		if err != nil {
			return nil, err
		}
		g.Initializers = append(g.Initializers, &Tensor{Name: sp.GetValues().GetName(), Tensor: *t, Storage: SparseInitializer, proto: metaOnly(sp.GetValues())})
	}
	if err := g.absorbSparseConstants(); err != nil {
		return nil, err
	}
	rest := proto.Clone(p).(*pb.GraphProto)
	rest.Node, rest.Input, rest.Output, rest.ValueInfo, rest.Initializer, rest.SparseInitializer = nil, nil, nil, nil, nil, nil
	g.proto = rest
	return g, nil
}

// metaOnly keeps a tensor's doc string and metadata, not its data.
func metaOnly(t *pb.TensorProto) *pb.TensorProto {
	if t.DocString == nil && len(t.MetadataProps) == 0 {
		return nil
	}
	return &pb.TensorProto{DocString: t.DocString, MetadataProps: t.MetadataProps}
}

func (g *Graph) toProto() (*pb.GraphProto, error) {
	var out *pb.GraphProto
	if g.proto != nil {
		out = proto.Clone(g.proto).(*pb.GraphProto)
	} else {
		out = &pb.GraphProto{}
	}
	out.Name = proto.String(g.Name)
	for _, n := range g.Nodes {
		out.Node = append(out.Node, n.toProto())
	}
	for _, v := range g.Inputs {
		out.Input = append(out.Input, v.toProto())
	}
	for _, v := range g.Outputs {
		out.Output = append(out.Output, v.toProto())
	}
	for _, v := range g.ValueInfo {
		out.ValueInfo = append(out.ValueInfo, v.toProto())
	}
	var constants []*pb.NodeProto
	for _, t := range g.Initializers {
		if t.Storage != Dense && t.DType == tensor.Float {
			sp := sparseProto(t)
			if t.proto != nil {
				sp.Values.DocString, sp.Values.MetadataProps = t.proto.DocString, t.proto.MetadataProps
			}
			if t.Storage == SparseInitializer {
				out.SparseInitializer = append(out.SparseInitializer, sp)
			} else {
				constants = append(constants, sparseConstant(t.Name, sp))
			}
			continue
		}
		tp := onnx.FromTensor(t.Name, &t.Tensor)
		if t.proto != nil {
			tp.DocString, tp.MetadataProps = t.proto.DocString, t.proto.MetadataProps
		}
		out.Initializer = append(out.Initializer, tp)
	}
	out.Node = append(constants, out.Node...)
	return out, nil
}

// Clone returns a deep copy of the graph.
func (g *Graph) Clone() *Graph {
	c := &Graph{Name: g.Name}
	for _, n := range g.Nodes {
		c.Nodes = append(c.Nodes, n.Clone())
	}
	cloneValues := func(vs []*Value) []*Value {
		var out []*Value
		for _, v := range vs {
			cv := *v
			cv.Shape = append(Shape(nil), v.Shape...)
			if v.Shape == nil {
				cv.Shape = nil
			}
			out = append(out, &cv)
		}
		return out
	}
	c.Inputs, c.Outputs, c.ValueInfo = cloneValues(g.Inputs), cloneValues(g.Outputs), cloneValues(g.ValueInfo)
	for _, t := range g.Initializers {
		c.Initializers = append(c.Initializers, &Tensor{Name: t.Name, Tensor: *t.Tensor.Clone(), Storage: t.Storage, proto: t.proto})
	}
	if g.proto != nil {
		c.proto = proto.Clone(g.proto).(*pb.GraphProto)
	}
	return c
}

// Invalidate drops the cached producer, consumer and initializer maps. Call
// it after editing Nodes or Initializers directly; the edit methods do.
func (g *Graph) Invalidate() { g.inits, g.prod, g.cons = nil, nil, nil }

func (g *Graph) index() {
	if g.prod != nil {
		return
	}
	g.inits = make(map[string]*Tensor, len(g.Initializers))
	for _, t := range g.Initializers {
		g.inits[t.Name] = t
	}
	g.prod = map[string]*Node{}
	g.cons = map[string][]*Node{}
	for _, n := range g.Nodes {
		for _, o := range n.Outputs {
			if o != "" {
				g.prod[o] = n
			}
		}
		seen := map[string]bool{}
		for _, in := range n.Inputs {
			if in != "" && !seen[in] {
				seen[in] = true
				g.cons[in] = append(g.cons[in], n)
			}
		}
	}
}

// Initializer returns the initializer called name, or nil.
func (g *Graph) Initializer(name string) *Tensor {
	g.index()
	return g.inits[name]
}

// Producer returns the node that outputs name, or nil for graph inputs,
// initializers and unknown names.
func (g *Graph) Producer(name string) *Node {
	g.index()
	return g.prod[name]
}

// Consumers returns the nodes that read name, in graph order.
func (g *Graph) Consumers(name string) []*Node {
	g.index()
	return g.cons[name]
}

// IsOutput reports whether name is a graph output.
func (g *Graph) IsOutput(name string) bool {
	for _, o := range g.Outputs {
		if o.Name == name {
			return true
		}
	}
	return false
}

// RealInputs returns the graph inputs that are not initializers.
func (g *Graph) RealInputs() []*Value {
	var out []*Value
	for _, v := range g.Inputs {
		if g.Initializer(v.Name) == nil {
			out = append(out, v)
		}
	}
	return out
}

// Value returns the declared Value (input, output or value_info) called
// name, or nil.
func (g *Graph) Value(name string) *Value {
	for _, list := range [][]*Value{g.Inputs, g.Outputs, g.ValueInfo} {
		for _, v := range list {
			if v.Name == name {
				return v
			}
		}
	}
	return nil
}

// AddInitializer adds (or replaces) an initializer.
func (g *Graph) AddInitializer(name string, t *tensor.Tensor) *Tensor {
	if old := g.Initializer(name); old != nil {
		old.Tensor = *t
		return old
	}
	nt := &Tensor{Name: name, Tensor: *t}
	g.Initializers = append(g.Initializers, nt)
	g.Invalidate()
	return nt
}

// RemoveInitializer removes an initializer and any graph input that names it.
func (g *Graph) RemoveInitializer(name string) {
	out := g.Initializers[:0]
	for _, t := range g.Initializers {
		if t.Name != name {
			out = append(out, t)
		}
	}
	g.Initializers = out
	ins := g.Inputs[:0]
	for _, v := range g.Inputs {
		if v.Name != name {
			ins = append(ins, v)
		}
	}
	g.Inputs = ins
	g.Invalidate()
}

// RemoveNode removes n from the graph. Its outputs become undefined;
// rewire their consumers first (ReplaceUses).
func (g *Graph) RemoveNode(n *Node) {
	out := g.Nodes[:0]
	for _, x := range g.Nodes {
		if x != n {
			out = append(out, x)
		}
	}
	g.Nodes = out
	g.Invalidate()
}

// InsertNode inserts n at position i of the node list (len(Nodes) appends).
func (g *Graph) InsertNode(i int, n *Node) {
	g.Nodes = append(g.Nodes, nil)
	copy(g.Nodes[i+1:], g.Nodes[i:])
	g.Nodes[i] = n
	g.Invalidate()
}

// NodeIndex returns the position of n in the node list, or -1.
func (g *Graph) NodeIndex(n *Node) int {
	for i, x := range g.Nodes {
		if x == n {
			return i
		}
	}
	return -1
}

// ReplaceUses makes every consumer of old (and the graph outputs) read
// new instead.
func (g *Graph) ReplaceUses(old, new string) {
	for _, n := range g.Nodes {
		for i, in := range n.Inputs {
			if in == old {
				n.Inputs[i] = new
			}
		}
	}
	for _, o := range g.Outputs {
		if o.Name == old {
			o.Name = new
		}
	}
	g.Invalidate()
}

// UniqueName returns prefix, or prefix with a numeric suffix, that no value,
// initializer or node of the graph uses.
func (g *Graph) UniqueName(prefix string) string {
	used := map[string]bool{}
	for _, t := range g.Initializers {
		used[t.Name] = true
	}
	for _, n := range g.Nodes {
		used[n.Name] = true
		for _, o := range n.Outputs {
			used[o] = true
		}
	}
	for _, v := range g.Inputs {
		used[v.Name] = true
	}
	if !used[prefix] {
		return prefix
	}
	for i := 1; ; i++ {
		s := fmt.Sprintf("%s_%d", prefix, i)
		if !used[s] {
			return s
		}
	}
}

// ShrinkAxis keeps only the slices at positions keep (ascending) along
// axis of the initializer called name.
func (g *Graph) ShrinkAxis(name string, axis int, keep []int) error {
	t := g.Initializer(name)
	if t == nil {
		return fmt.Errorf("shrinking %q: no such initializer", name)
	}
	nt, err := Slice(&t.Tensor, axis, keep)
	if err != nil {
		return fmt.Errorf("shrinking %q: %w", name, err)
	}
	t.Tensor = *nt
	return nil
}

// Slice returns the slices of t at positions keep along axis.
func Slice(t *tensor.Tensor, axis int, keep []int) (*tensor.Tensor, error) {
	if axis < 0 || axis >= len(t.Shape) {
		return nil, fmt.Errorf("axis %d out of range for shape %v", axis, t.Shape)
	}
	for i, k := range keep {
		if k < 0 || k >= t.Shape[axis] || (i > 0 && k <= keep[i-1]) {
			return nil, fmt.Errorf("keep list %v is not ascending within [0,%d)", keep, t.Shape[axis])
		}
	}
	outer := tensor.Prod(t.Shape[:axis])
	inner := tensor.Prod(t.Shape[axis+1:])
	shape := append([]int(nil), t.Shape...)
	shape[axis] = len(keep)
	out := &tensor.Tensor{DType: t.DType, Shape: shape}
	esz := t.DType.Size()
	switch t.DType {
	case tensor.Float:
		out.F32 = make([]float32, tensor.Prod(shape))
	case tensor.Int64:
		out.I64 = make([]int64, tensor.Prod(shape))
	case tensor.String:
		return nil, fmt.Errorf("cannot slice string tensors")
	default:
		out.Raw = make([]byte, tensor.Prod(shape)*esz)
	}
	dst := 0
	for o := 0; o < outer; o++ {
		for _, k := range keep {
			src := (o*t.Shape[axis] + k) * inner
			switch t.DType {
			case tensor.Float:
				copy(out.F32[dst:dst+inner], t.F32[src:src+inner])
			case tensor.Int64:
				copy(out.I64[dst:dst+inner], t.I64[src:src+inner])
			default:
				copy(out.Raw[dst*esz:(dst+inner)*esz], t.Raw[src*esz:(src+inner)*esz])
			}
			dst += inner
		}
	}
	return out, nil
}

// Check verifies the graph's invariants: names unique among initializers,
// every node input defined before use (topological order), every value
// assigned once, every graph output defined.
func (g *Graph) Check() error {
	defined := map[string]bool{}
	for _, v := range g.Inputs {
		defined[v.Name] = true
	}
	for _, t := range g.Initializers {
		if t.Name == "" {
			return fmt.Errorf("graph %q has an unnamed initializer", g.Name)
		}
		if defined[t.Name] && g.Value(t.Name) == nil {
			return fmt.Errorf("initializer %q is defined twice", t.Name)
		}
		defined[t.Name] = true
		if tensor.Prod(t.Shape) != len(t.F32)+len(t.I64)+len(t.Str) && t.Raw == nil {
			return fmt.Errorf("initializer %q has shape %v and %d elements", t.Name, t.Shape, len(t.F32)+len(t.I64))
		}
	}
	for _, n := range g.Nodes {
		for _, in := range n.Inputs {
			if in != "" && !defined[in] {
				return fmt.Errorf("%s reads %q before it is defined", n, in)
			}
		}
		for _, o := range n.Outputs {
			if o == "" {
				continue
			}
			if defined[o] {
				return fmt.Errorf("%s assigns %q, which is already defined", n, o)
			}
			defined[o] = true
		}
	}
	for _, o := range g.Outputs {
		if !defined[o.Name] {
			return fmt.Errorf("graph output %q is not defined", o.Name)
		}
	}
	return nil
}

// SortTopological reorders the nodes so that every node comes after the
// producers of its inputs, keeping the existing order where possible.
func (g *Graph) SortTopological() error {
	g.index()
	done := map[string]bool{}
	for _, v := range g.Inputs {
		done[v.Name] = true
	}
	for _, t := range g.Initializers {
		done[t.Name] = true
	}
	placed := make([]bool, len(g.Nodes))
	var out []*Node
	for len(out) < len(g.Nodes) {
		progress := false
		for i, n := range g.Nodes {
			if placed[i] {
				continue
			}
			ready := true
			for _, in := range n.Inputs {
				if in != "" && !done[in] && g.prod[in] != nil {
					ready = false
					break
				}
			}
			if ready {
				placed[i] = true
				out = append(out, n)
				for _, o := range n.Outputs {
					done[o] = true
				}
				progress = true
			}
		}
		if !progress {
			return fmt.Errorf("graph %q has a cycle", g.Name)
		}
	}
	g.Nodes = out
	g.Invalidate()
	return nil
}

// Prune removes nodes whose outputs no graph output needs, and
// initializers and value_info entries no node reads.
func (g *Graph) Prune() {
	need := map[string]bool{}
	for _, o := range g.Outputs {
		need[o.Name] = true
	}
	keep := make([]bool, len(g.Nodes))
	for i := len(g.Nodes) - 1; i >= 0; i-- {
		n := g.Nodes[i]
		for _, o := range n.Outputs {
			if need[o] {
				keep[i] = true
				break
			}
		}
		if keep[i] {
			for _, in := range n.Inputs {
				need[in] = true
			}
		}
	}
	var nodes []*Node
	for i, n := range g.Nodes {
		if keep[i] {
			nodes = append(nodes, n)
		}
	}
	g.Nodes = nodes
	var inits []*Tensor
	wasInit := map[string]bool{}
	for _, t := range g.Initializers {
		wasInit[t.Name] = true
		if need[t.Name] {
			inits = append(inits, t)
		}
	}
	g.Initializers = inits
	var ins []*Value
	for _, v := range g.Inputs {
		// Real inputs stay (the model's interface); initializer-backed
		// inputs go with their initializer.
		if need[v.Name] || !wasInit[v.Name] {
			ins = append(ins, v)
		}
	}
	g.Inputs = ins
	var vis []*Value
	for _, v := range g.ValueInfo {
		if need[v.Name] {
			vis = append(vis, v)
		}
	}
	g.ValueInfo = vis
	g.Invalidate()
}
