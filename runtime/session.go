package runtime

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/tensor"
)

// Options configure a Session.
type Options struct {
	// Threads bounds the goroutines the runtime's own parallel loops and
	// the sparse kernels use (0 means GOMAXPROCS). The dense GEMM kernel
	// follows GOMAXPROCS.
	Threads int
	// Dense disables sparse execution: weights that are mostly zeros
	// (pruned models) run on dense GEMM like the others.
	Dense bool
	// Tune times each pruned Conv, Gemm and MatMul (a constant weight with
	// at most half its values nonzero) in dense and in each sparse format
	// that fits it, and each other Conv in dense and "direct", at each new
	// input signature when planning, and keeps the fastest (dense unless a
	// format is measurably faster). Without it, the format follows a
	// density heuristic (sparse.go).
	Tune bool
	// Formats forces the format of layers by node name (or, for an
	// unnamed node, its first output's name): "dense", "csr", "bsr1x8"
	// (or "bsr8"), "nm2:4" and other N:M, and for ungrouped stride-1
	// convolutions "direct" (CSR taps over the image, no im2col). A format
	// the weight does not fit runs dense. It takes precedence over Tune;
	// LoadTuning reads one from a tuning file.
	Formats map[string]string
}

// Session runs one model. It is safe for concurrent use.
type Session struct {
	nodes       []*execNode
	consts      []*graph.Tensor
	inputNames  []string
	inputDTypes []tensor.DType
	inputShapes []graph.Shape
	outputNames []string
	consumed    map[string]bool // values some node reads
	// valueInputs are the graph inputs whose contents shapes depend on
	// (e.g. a Reshape target fed as an input): plans are keyed on them.
	valueInputs map[string]bool
	threads     int
	dense       bool // Options.Dense
	tune        bool
	formats     map[string]string

	mu     sync.Mutex
	plans  []*plan    // most recently used first
	planMu sync.Mutex // serialises planning, so a signature is planned once
}

// maxPlans bounds the plans a Session keeps (one per input signature).
const maxPlans = 16

// execNode is a node with its op built. Fusion may rewire its outputs.
type execNode struct {
	node             *graph.Node
	op               op
	opset            int64
	inputs, outputs  []string
	nondeterministic bool
}

// New prepares m for execution. It fails, naming the node and the op, if
// an op is not supported at the model's opset or its attributes are
// invalid. The Session keeps references to m's nodes and initializers
// (it does not copy the weights): do not modify the model while the
// Session is in use.
func New(m *graph.Model, opt Options) (*Session, error) {
	if m == nil || m.Graph == nil {
		return nil, errors.New("runtime: nil model")
	}
	g := m.Graph
	s := &Session{threads: opt.Threads, dense: opt.Dense, tune: opt.Tune, formats: opt.Formats, consumed: map[string]bool{}, valueInputs: map[string]bool{}}
	if s.threads <= 0 {
		s.threads = runtime.GOMAXPROCS(0)
	}
	for _, n := range g.Nodes {
		opset := m.Opset(n.Domain)
		if n.HasSubgraph() {
			return nil, &UnsupportedError{Node: n.Name, OpType: n.OpType, Opset: opset, Reason: "subgraphs are not supported"}
		}
		b, ok := lookup(n.Domain, n.OpType, opset)
		if !ok {
			reason := "not implemented"
			if n.Domain != "" && n.Domain != "ai.onnx" {
				reason = "not implemented (domain " + n.Domain + ")"
			} else if len(registry[opKey{"", n.OpType}]) > 0 {
				reason = "not implemented at this opset"
			}
			return nil, &UnsupportedError{Node: n.Name, OpType: n.OpType, Opset: opset, Reason: reason}
		}
		o, err := b(n, opset)
		if err != nil {
			return nil, fmt.Errorf("runtime: %s: %w", n, err)
		}
		s.nodes = append(s.nodes, &execNode{node: n, op: o, opset: opset,
			inputs: n.Inputs, outputs: n.Outputs, nondeterministic: isRandom(n.OpType)})
	}
	s.consts = g.Initializers
	for _, v := range g.RealInputs() {
		s.inputNames = append(s.inputNames, v.Name)
		s.inputDTypes = append(s.inputDTypes, v.DType)
		s.inputShapes = append(s.inputShapes, v.Shape)
	}
	for _, v := range g.Outputs {
		s.outputNames = append(s.outputNames, v.Name)
	}
	s.fuse(g)
	for _, en := range s.nodes {
		for _, in := range en.inputs {
			s.consumed[in] = true
		}
	}
	s.findValueInputs()
	return s, nil
}

func isRandom(opType string) bool {
	switch opType {
	case "RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Multinomial", "Bernoulli":
		return true
	}
	return false
}

// findValueInputs marks the graph inputs whose contents output shapes
// depend on, following shape inputs back through the nodes that compute
// them (but not through Shape, which reads only its input's shape).
func (s *Session) findValueInputs() {
	need := map[string]bool{}
	for i := len(s.nodes) - 1; i >= 0; i-- {
		en := s.nodes[i]
		if si, ok := en.op.(shapeInputs); ok {
			for _, j := range si.shapeInputs() {
				if j < len(en.inputs) && en.inputs[j] != "" {
					need[en.inputs[j]] = true
				}
			}
		}
		if _, ok := en.op.(shapeOnly); ok {
			continue
		}
		for _, o := range en.outputs {
			if need[o] {
				for _, in := range en.inputs {
					if in != "" {
						need[in] = true
					}
				}
				break
			}
		}
	}
	for _, name := range s.inputNames {
		if need[name] {
			s.valueInputs[name] = true
		}
	}
}

// InputNames returns the names of the inputs Run expects (graph inputs
// that are not initializers), in graph order.
func (s *Session) InputNames() []string { return append([]string(nil), s.inputNames...) }

// OutputNames returns the names of the outputs Run returns, in graph order.
func (s *Session) OutputNames() []string { return append([]string(nil), s.outputNames...) }

// Run executes the model. Every input must be given, with its declared
// element type and a shape matching its declared one; the outputs are
// freshly allocated tensors. Run is safe for concurrent use.
func (s *Session) Run(ctx context.Context, inputs map[string]*tensor.Tensor) (map[string]*tensor.Tensor, error) {
	var buf [8]*tensor.Tensor
	ins := buf[:0]
	for i, name := range s.inputNames {
		t := inputs[name]
		if t == nil {
			return nil, fmt.Errorf("runtime: missing input %q", name)
		}
		if err := s.checkInput(i, t); err != nil {
			return nil, err
		}
		ins = append(ins, t)
	}
	if len(inputs) != len(s.inputNames) {
		for name := range inputs {
			if !s.isInput(name) {
				return nil, fmt.Errorf("runtime: %q is not an input of the model (inputs: %v)", name, s.inputNames)
			}
		}
	}
	p, err := s.planFor(ins)
	if err != nil {
		return nil, err
	}
	var obuf [8]*tensor.Tensor // most models' outputs, without an allocation
	outs := obuf[:]
	if len(p.outputs) > len(obuf) {
		outs = make([]*tensor.Tensor, len(p.outputs))
	}
	outs = outs[:len(p.outputs)]
	if err := p.execute(ctx, ins, outs); err != nil {
		return nil, err
	}
	res := make(map[string]*tensor.Tensor, len(outs))
	for i, name := range s.outputNames {
		res[name] = outs[i]
	}
	return res, nil
}

// cachedPlan returns the cached plan for these inputs, or nil.
func (s *Session) cachedPlan(ins []*tensor.Tensor) *plan {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, p := range s.plans {
		if p.key.matches(ins) {
			if i > 0 {
				copy(s.plans[1:i+1], s.plans[:i])
				s.plans[0] = p
			}
			return p
		}
	}
	return nil
}

func (s *Session) isInput(name string) bool {
	for _, n := range s.inputNames {
		if n == name {
			return true
		}
	}
	return false
}

func (s *Session) checkInput(i int, t *tensor.Tensor) error {
	name := s.inputNames[i]
	if dt := s.inputDTypes[i]; dt != tensor.Undefined && t.DType != dt {
		return fmt.Errorf("runtime: input %q is %s, want %s", name, t.DType, dt)
	}
	if sh := s.inputShapes[i]; sh != nil {
		if len(sh) != len(t.Shape) {
			return fmt.Errorf("runtime: input %q has shape %v, want %v", name, t.Shape, sh)
		}
		for j, d := range sh {
			if d.Known() && int64(t.Shape[j]) != d.Value {
				return fmt.Errorf("runtime: input %q has shape %v, want %v", name, t.Shape, sh)
			}
		}
	}
	n := tensor.Prod(t.Shape)
	var have int
	switch t.DType {
	case tensor.Float:
		have = len(t.F32)
	case tensor.Int64:
		have = len(t.I64)
	case tensor.String:
		return &UnsupportedError{OpType: "input", Reason: fmt.Sprintf("string input %q", name)}
	default:
		if t.DType.Size() == 0 {
			return fmt.Errorf("runtime: input %q has element type %s", name, t.DType)
		}
		have = len(t.Raw) / t.DType.Size()
	}
	if have != n {
		return fmt.Errorf("runtime: input %q has %d elements for shape %v", name, have, t.Shape)
	}
	return nil
}

// planFor returns the plan for these inputs, making it on first use.
func (s *Session) planFor(ins []*tensor.Tensor) (*plan, error) {
	if p := s.cachedPlan(ins); p != nil {
		return p, nil
	}
	s.planMu.Lock()
	defer s.planMu.Unlock()
	if p := s.cachedPlan(ins); p != nil {
		return p, nil
	}
	p, err := s.makePlan(ins)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.plans = append([]*plan{p}, s.plans...)
	if len(s.plans) > maxPlans {
		s.plans = s.plans[:maxPlans]
	}
	s.mu.Unlock()
	return p, nil
}

// execute runs the plan's steps on an arena from its free list and sets outs
// (one per session output) to the outputs. A panic in an op (a bug, or
// input contents an op does not check) becomes an error naming the node.
func (p *plan) execute(ctx context.Context, ins, outs []*tensor.Tensor) (err error) {
	cur := -1
	defer func() {
		if r := recover(); r != nil {
			name := "planning"
			if cur >= 0 {
				name = p.steps[cur].node.node.String()
			}
			err = fmt.Errorf("runtime: %s: internal error: %v", name, r)
		}
	}()
	a := p.arenas.Get()
	defer func() {
		for _, si := range p.inputs {
			a.t[si] = tensor.Tensor{}
		}
		for _, si := range p.outputs {
			if p.slots[si].kind == slotOutput {
				a.t[si] = tensor.Tensor{}
			}
		}
		a.env.ctx = nil
		p.arenas.Put(a)
	}()
	for i, si := range p.inputs {
		a.t[si] = *ins[i]
	}
	for i, si := range p.outputs {
		sl := &p.slots[si]
		if sl.kind == slotOutput {
			if prev := indexOf(p.outputs[:i], si); prev >= 0 {
				outs[i] = outs[prev]
				continue
			}
			outs[i] = newTensor(sl.dtype, sl.shape)
			a.t[si] = *outs[i]
		}
	}
	for _, si := range p.rebind {
		p.bindAlias(a, si)
	}
	e := &a.env
	e.ctx, e.scratch, e.threads = ctx, a.scratch, p.threads
	for i := range p.steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		st := &p.steps[i]
		cur = i
		if err := st.run(e, a.ins[i], a.outs[i]); err != nil {
			return fmt.Errorf("runtime: %s: %w", st.node.node, err)
		}
	}
	cur = -1
	for i, si := range p.outputs {
		if outs[i] == nil {
			// An input, a constant or a view of one: copy it out.
			t := a.t[si]
			t.Shape = p.slots[si].shape
			outs[i] = t.Clone()
		}
	}
	return nil
}

func indexOf(s []int, v int) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}
