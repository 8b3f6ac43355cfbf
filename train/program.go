package train

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/tensor"
)

// ErrUnsupported reports an op (or op configuration) the trainer cannot
// differentiate.
var ErrUnsupported = errors.New("unsupported for training")

// Param is one trainable tensor. Data aliases the initializer's F32, so
// updates land in the model in place.
type Param struct {
	Name  string
	Shape []int
	Data  []float32
	Grad  []float32
	// Mask, if not nil, marks the entries that may be non-zero (true =
	// kept). Optimizers zero the gradient, the state and the weight of
	// every masked-out entry after each step.
	Mask []bool
}

// Options configures Compile.
type Options struct {
	// Freeze names initializers that are not trained.
	Freeze []string
	// FreezeBN runs BatchNormalization in inference mode during training:
	// running statistics are used and not updated (γ and β still train
	// unless frozen).
	FreezeBN bool
	// InputGrad also computes the gradient with respect to the graph
	// input (InputGrad returns it).
	InputGrad bool
	// Seed seeds the random stream used by Dropout.
	Seed uint64
}

// value is one named tensor of the program.
type value struct {
	name     string
	dtype    tensor.DType
	shape    []int
	data     []float32 // float values
	ints     []int64   // every other dtype, widened to int64
	grad     []float32 // nil unless needGrad (after planning)
	needGrad bool
	fixed    bool // does not change between steps of one plan
	param    *Param
}

func (v *value) isFloat() bool { return v.dtype == tensor.Float }
func (v *value) numel() int    { return tensor.Prod(v.shape) }

// op is one node with training semantics.
type op interface {
	// plan sets the outputs' shapes (and dtypes it changes) from the
	// inputs' shapes and sizes the op's scratch buffers. Inputs that are
	// fixed (integers, constants) have their values available.
	plan(in, out []*value) error
	// forward computes the outputs; train selects training semantics
	// (batch statistics, dropout).
	forward(p *Program, in, out []*value, train bool)
	// backward adds the gradients of the inputs that have a grad buffer,
	// given the outputs' gradients.
	backward(p *Program, in, out []*value)
}

type opFactory func(n *graph.Node, opset int64) (op, error)

var registry = map[string]opFactory{}

func register(name string, f opFactory) { registry[name] = f }

// SupportedOps lists the op types Compile accepts.
func SupportedOps() []string {
	var s []string
	for k := range registry {
		s = append(s, k)
	}
	sort.Strings(s)
	return s
}

type step struct {
	node    *graph.Node
	op      op
	in, out []*value
	fixed   bool // evaluated at plan time
	grad    bool // has an input that needs a gradient
}

// Program is a model compiled for training: its forward pass with training
// semantics, its backward pass, and its parameters. A Program is not safe
// for concurrent use.
type Program struct {
	model      *graph.Model
	values     map[string]*value
	steps      []*step
	params     []*Param
	stats      []*graph.Tensor // BatchNormalization running statistics
	out        tensor.Tensor   // what Forward returns
	input      *value
	inputShape graph.Shape // as declared (may be symbolic or unknown)
	output     *value
	planned    []int
	rng        rng
	opt        Options
	all        []*value // values with grad buffers, zeroed before backward
}

// Compile builds the training program of m. The program keeps references
// to m's initializers and updates them in place. Values computed only from
// constants and frozen initializers are cached per batch shape: a caller
// that edits frozen initializers must compile again.
func Compile(m *graph.Model, opt Options) (*Program, error) {
	g := m.Graph
	opset := m.Opset("")
	p := &Program{model: m, values: map[string]*value{}, opt: opt, rng: rng{seed: opt.Seed}}
	frozen := map[string]bool{}
	for _, f := range opt.Freeze {
		if g.Initializer(f) == nil {
			return nil, fmt.Errorf("train: freezing %q, which is not an initializer", f)
		}
		frozen[f] = true
	}
	// Identity of an initializer (torch's exporter emits it for
	// deduplicated equal tensors) is an alias of the initializer: one
	// tensor, trained (or updated as running statistics) once.
	alias := map[string]string{}
	resolve := func(s string) string {
		if a, ok := alias[s]; ok {
			return a
		}
		return s
	}
	for _, n := range g.Nodes {
		if n.OpType == "Identity" && len(n.Inputs) == 1 && len(n.Outputs) == 1 && !g.IsOutput(n.Outputs[0]) {
			if in := resolve(n.Inputs[0]); g.Initializer(in) != nil {
				alias[n.Outputs[0]] = in
			}
		}
	}
	// Initializers that are running statistics, or bounds and ratios,
	// never trained.
	notParam := map[string]bool{}
	constant := map[string]bool{}
	for _, n := range g.Nodes {
		switch n.OpType {
		case "BatchNormalization":
			for _, i := range []int{3, 4} {
				if s := n.Input(i); s != "" {
					notParam[resolve(s)] = true
				}
			}
		case "Clip", "Dropout":
			for _, i := range []int{1, 2} {
				if s := n.Input(i); s != "" {
					constant[resolve(s)] = true
				}
			}
		}
	}
	for _, t := range g.Initializers {
		v := &value{name: t.Name, dtype: t.DType, shape: append([]int(nil), t.Shape...)}
		switch t.DType {
		case tensor.Float:
			v.data = t.F32
			if len(v.data) != t.Numel() {
				return nil, fmt.Errorf("train: initializer %q: %d values for shape %v", t.Name, len(v.data), t.Shape)
			}
			if notParam[t.Name] {
				p.stats = append(p.stats, t)
			} else if !frozen[t.Name] && !constant[t.Name] {
				v.param = &Param{Name: t.Name, Shape: v.shape, Data: t.F32, Grad: make([]float32, len(t.F32))}
				v.grad = v.param.Grad
				v.needGrad = true
				p.params = append(p.params, v.param)
			}
			v.fixed = v.param == nil && !notParam[t.Name]
		default:
			ints, err := asInts(&t.Tensor)
			if err != nil {
				return nil, fmt.Errorf("train: initializer %q: %w", t.Name, err)
			}
			v.ints = ints
			v.fixed = true
		}
		p.values[t.Name] = v
	}
	for _, in := range g.Inputs {
		if p.values[in.Name] != nil {
			continue
		}
		if p.input != nil {
			return nil, fmt.Errorf("train: graph has more than one input (%q, %q): %w", p.input.name, in.Name, ErrUnsupported)
		}
		dt := in.DType
		if dt == tensor.Undefined {
			dt = tensor.Float
		}
		if dt != tensor.Float {
			return nil, fmt.Errorf("train: input %q is %v, want float32: %w", in.Name, dt, ErrUnsupported)
		}
		p.input = &value{name: in.Name, dtype: dt, needGrad: opt.InputGrad}
		p.inputShape = in.Shape
		p.values[in.Name] = p.input
	}
	if p.input == nil {
		return nil, fmt.Errorf("train: graph has no input")
	}
	for out, in := range alias {
		p.values[out] = p.values[in]
	}
	var missing []string
	for _, n := range g.Nodes {
		if n.OpType == "Identity" && len(n.Outputs) == 1 && alias[n.Outputs[0]] != "" {
			continue
		}
		f := registry[n.OpType]
		if f == nil || (n.Domain != "" && n.Domain != "ai.onnx") {
			missing = append(missing, n.OpType)
			for _, o := range n.Outputs {
				p.values[o] = &value{name: o, dtype: tensor.Float}
			}
			continue
		}
		o, err := f(n, opset)
		if err != nil {
			return nil, fmt.Errorf("train: %s: %w", n, err)
		}
		s := &step{node: n, op: o}
		fixed := true
		for _, name := range n.Inputs {
			if name == "" {
				s.in = append(s.in, nil)
				continue
			}
			v := p.values[name]
			if v == nil {
				return nil, fmt.Errorf("train: %s: input %q is not defined", n, name)
			}
			s.in = append(s.in, v)
			if !v.fixed {
				fixed = false
			}
			if v.needGrad {
				s.grad = true
			}
		}
		if n.OpType == "Shape" || n.OpType == "Size" {
			fixed = true
		}
		dts := outDTypes(n, s.in)
		for i, name := range n.Outputs {
			if name == "" {
				s.out = append(s.out, nil)
				continue
			}
			v := &value{name: name, dtype: dts[i]}
			p.values[name] = v
			s.out = append(s.out, v)
		}
		// Steps whose inputs are all fixed (shape arithmetic, constants,
		// frozen weights only) run once per plan.
		s.fixed = fixed
		for _, v := range s.out {
			if v == nil {
				continue
			}
			v.fixed = s.fixed
			v.needGrad = !s.fixed && s.grad && v.isFloat()
		}
		p.steps = append(p.steps, s)
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		missing = slices.Compact(missing)
		return nil, fmt.Errorf("train: ops %s: %w", strings.Join(missing, ", "), ErrUnsupported)
	}
	if len(g.Outputs) == 0 {
		return nil, fmt.Errorf("train: graph has no output")
	}
	p.output = p.values[g.Outputs[0].Name]
	if p.output == nil || !p.output.isFloat() {
		return nil, fmt.Errorf("train: output %q is not a float value", g.Outputs[0].Name)
	}
	for _, v := range p.values {
		if v.needGrad && v.param == nil {
			p.all = append(p.all, v)
		}
	}
	sort.Slice(p.all, func(i, j int) bool { return p.all[i].name < p.all[j].name })
	return p, nil
}

// outDTypes infers the element types of n's outputs at compile time.
func outDTypes(n *graph.Node, in []*value) []tensor.DType {
	first := tensor.Float
	for _, v := range in {
		if v != nil {
			first = v.dtype
			break
		}
	}
	out := make([]tensor.DType, len(n.Outputs))
	for i := range out {
		out[i] = first
	}
	switch n.OpType {
	case "Shape", "Size":
		out[0] = tensor.Int64
	case "Cast":
		out[0] = tensor.DType(n.Int("to", int64(tensor.Float)))
	case "Constant":
		out[0] = tensor.Float
		if a := n.Attr("value"); a != nil && a.T != nil {
			out[0] = tensor.DType(a.T.GetDataType())
		} else if n.Attr("value_int") != nil || n.Attr("value_ints") != nil {
			out[0] = tensor.Int64
		}
	case "ConstantOfShape":
		out[0] = tensor.Float
		if a := n.Attr("value"); a != nil && a.T != nil {
			out[0] = tensor.DType(a.T.GetDataType())
		}
	case "Dropout":
		if len(out) > 1 {
			out[1] = tensor.Bool
		}
	case "Equal", "Less", "Greater", "Not":
		out[0] = tensor.Bool
	}
	return out
}

// asInts widens an integer or bool tensor to int64.
func asInts(t *tensor.Tensor) ([]int64, error) {
	switch t.DType {
	case tensor.Int64:
		return t.I64, nil
	case tensor.Int32:
		out := make([]int64, t.Numel())
		for i := range out {
			b := t.Raw[4*i:]
			out[i] = int64(int32(uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24))
		}
		return out, nil
	case tensor.Bool, tensor.Uint8:
		out := make([]int64, t.Numel())
		for i := range out {
			out[i] = int64(t.Raw[i])
		}
		return out, nil
	case tensor.Int8:
		out := make([]int64, t.Numel())
		for i := range out {
			out[i] = int64(int8(t.Raw[i]))
		}
		return out, nil
	case tensor.Double:
		return nil, fmt.Errorf("float64 tensors: %w", ErrUnsupported)
	}
	return nil, fmt.Errorf("%v tensors: %w", t.DType, ErrUnsupported)
}

// Params returns the trainable parameters in initializer order.
func (p *Program) Params() []*Param { return p.params }

// Param returns the parameter called name, or nil.
func (p *Program) Param(name string) *Param {
	for _, q := range p.params {
		if q.Name == name {
			return q
		}
	}
	return nil
}

// Model returns the model the program trains.
func (p *Program) Model() *graph.Model { return p.model }

// grow returns s resized to n, reallocating only when its capacity is too
// small.
func grow(s []float32, n int) []float32 {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]float32, n)
}

func growInts(s []int64, n int) []int64 {
	if cap(s) >= n {
		return s[:n]
	}
	return make([]int64, n)
}

// plan sizes every buffer for an input of the given shape. It does nothing
// when the shape is the one already planned.
func (p *Program) plan(shape []int) error {
	if p.planned != nil && slices.Equal(shape, p.planned) {
		return nil
	}
	p.planned = nil
	p.input.shape = append(p.input.shape[:0], shape...)
	n := tensor.Prod(shape)
	p.input.data = grow(p.input.data, n)
	if p.input.needGrad {
		p.input.grad = grow(p.input.grad, n)
	}
	for _, s := range p.steps {
		if err := s.op.plan(s.in, s.out); err != nil {
			return fmt.Errorf("train: planning %s for input shape %v: %w", s.node, shape, err)
		}
		for _, o := range s.out {
			if o == nil {
				continue
			}
			n := o.numel()
			if o.isFloat() {
				o.data = grow(o.data, n)
				if o.needGrad {
					o.grad = grow(o.grad, n)
				}
			} else {
				o.ints = growInts(o.ints, n)
			}
		}
		if s.fixed {
			s.op.forward(p, s.in, s.out, false)
		}
	}
	p.planned = append([]int(nil), shape...)
	return nil
}

// Forward runs the forward pass on x (its shape must match the graph
// input's, with any batch size) and returns the output. The returned tensor
// aliases the program's buffer and is overwritten by the next call. With
// train, BatchNormalization uses batch statistics and updates its running
// statistics, and Dropout drops.
func (p *Program) Forward(x *tensor.Tensor, train bool) (*tensor.Tensor, error) {
	if x.DType != tensor.Float {
		return nil, fmt.Errorf("train: input is %v, want float32", x.DType)
	}
	if err := p.checkInput(x.Shape); err != nil {
		return nil, err
	}
	if err := p.plan(x.Shape); err != nil {
		return nil, err
	}
	copy(p.input.data, x.F32)
	p.forward(train)
	return p.Output(), nil
}

func (p *Program) forward(train bool) {
	for _, s := range p.steps {
		if !s.fixed {
			s.op.forward(p, s.in, s.out, train)
		}
	}
}

// Backward propagates dOut, the gradient of the loss with respect to the
// output of the last Forward, to every parameter's Grad (overwritten, not
// accumulated). Forward must have been called with train set to true for
// the gradient to be that of the training-mode function.
func (p *Program) Backward(dOut []float32) error {
	if p.planned == nil {
		return fmt.Errorf("train: Backward before Forward")
	}
	if len(dOut) != len(p.output.data) {
		return fmt.Errorf("train: output gradient has %d values, want %d", len(dOut), len(p.output.data))
	}
	p.zeroGrads()
	if p.output.grad == nil {
		return nil // no parameter reaches the output
	}
	copy(p.output.grad, dOut)
	p.backward()
	return nil
}

func (p *Program) zeroGrads() {
	for _, v := range p.all {
		clear(v.grad)
	}
	for _, q := range p.params {
		clear(q.Grad)
	}
	if p.input.grad != nil {
		clear(p.input.grad)
	}
}

func (p *Program) backward() {
	for i := len(p.steps) - 1; i >= 0; i-- {
		s := p.steps[i]
		if s.fixed || !s.grad {
			continue
		}
		live := false
		for _, o := range s.out {
			if o != nil && o.grad != nil {
				live = true
			}
		}
		if live {
			s.op.backward(p, s.in, s.out)
		}
	}
}

// InputGrad returns the gradient with respect to the graph input computed
// by the last Backward (nil unless Options.InputGrad).
func (p *Program) InputGrad() []float32 { return p.input.grad }

// Output returns the output of the last Forward. The tensor is the
// program's own and changes with every Forward.
func (p *Program) Output() *tensor.Tensor {
	p.out = tensor.Tensor{DType: tensor.Float, Shape: p.output.shape, F32: p.output.data}
	return &p.out
}

// GradNorm returns the global L2 norm of the parameter gradients.
func (p *Program) GradNorm() float64 {
	var s float64
	for _, q := range p.params {
		for _, g := range q.Grad {
			s += float64(g) * float64(g)
		}
	}
	return math.Sqrt(s)
}

// checkInput compares a batch shape with the declared input shape (known
// dimensions only).
func (p *Program) checkInput(shape []int) error {
	if tensor.Prod(shape) == 0 && len(shape) > 0 && shape[0] == 0 {
		return fmt.Errorf("train: empty batch")
	}
	s := p.inputShape
	if s == nil {
		return nil
	}
	if len(s) != len(shape) {
		return fmt.Errorf("train: input %q has rank %d (%v), the batch has shape %v", p.input.name, len(s), s, shape)
	}
	for i, d := range s {
		if d.Known() && int(d.Value) != shape[i] {
			return fmt.Errorf("train: input %q has shape %v, the batch has shape %v", p.input.name, s, shape)
		}
	}
	return nil
}
