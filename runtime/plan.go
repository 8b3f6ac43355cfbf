package runtime

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/internal/freelist"
	"github.com/podaml/poda/tensor"
)

// val is what planning knows about a value: its element type, its concrete
// shape and, for values computable at plan time, its contents.
type val struct {
	dtype tensor.DType
	shape []int
	konst *tensor.Tensor
}

func (v *val) numel() int { return tensor.Prod(v.shape) }

// pctx is the planning context handed to op.prepare.
type pctx struct {
	node    *graph.Node
	opset   int64
	in      []*val // nil for omitted optional inputs
	out     []*val // one per output position; unused outputs have a val too
	used    []bool // whether out[i] is read by anything
	scratch int    // float32 elements of scratch the step needs
	threads int
	dense   bool // never use sparse kernels (Options.Dense)
	// format is the weight format asked of a Conv, Gemm or MatMul
	// ("dense", "csr", "bsr1x8", "nm2:4" …; "" for the density
	// heuristic), and layerFormat the one its prepare used.
	format      string
	layerFormat string
	// alias marks view ops (Reshape, Squeeze, Flatten, Identity …): out[0]
	// has in[0]'s elements, so the planner may make it share in[0]'s
	// storage and drop the step.
	alias bool
}

// input returns in[i], or nil when the input is omitted.
func (c *pctx) input(i int) *val {
	if i < len(c.in) {
		return c.in[i]
	}
	return nil
}

// konst returns the plan-time contents of input i, or an error naming the
// input if they are unknown.
func (c *pctx) konst(i int, what string) (*tensor.Tensor, error) {
	v := c.input(i)
	if v == nil {
		return nil, nil
	}
	if v.konst == nil {
		return nil, fmt.Errorf("input %d (%s) must be computable when planning, from initializers, constants and input shapes", i, what)
	}
	return v.konst, nil
}

// sparseWeight reports whether input i is a constant float32 weight with
// few enough nonzeros that a sparse format may pay (sparseCache.get makes
// the final choice).
func (c *pctx) sparseWeight(i int) bool {
	v := c.input(i)
	if c.dense || v == nil || v.konst == nil || v.dtype != tensor.Float || c.format == "dense" {
		return false
	}
	return c.format != "" || density(v.konst.F32) <= maxSparseDensity
}

// set fixes the type and shape of output i.
func (c *pctx) set(i int, dt tensor.DType, shape []int) {
	c.out[i].dtype = dt
	c.out[i].shape = append([]int(nil), shape...)
}

// shapeInputs is implemented by ops whose output shapes depend on the
// contents of some inputs (Reshape's shape, Slice's starts …): those
// inputs must be known when planning, and the planner makes sure they are.
type shapeInputs interface {
	shapeInputs() []int
}

// shapeOnly is implemented by ops that read only their input's shape
// (Shape, Size): their input's contents need not be known when planning.
type shapeOnly interface {
	shapeOnly()
}

// env is what a runFunc gets besides its tensors.
type env struct {
	ctx     context.Context
	scratch []float32
	threads int
	next    atomic.Int64 // a work counter for the running step (see items)
}

// items returns the run's work counter, reset to 0, for a step whose
// goroutines take items as they finish. Steps run one at a time, so they
// can share it; it lives in the run's arena, so using it allocates nothing.
func (e *env) items() *atomic.Int64 {
	e.next.Store(0)
	return &e.next
}

// A step is one node to execute.
type step struct {
	node    *execNode
	run     runFunc
	in, out []int // slot indices, -1 for omitted
}

type slotKind uint8

const (
	slotConst  slotKind = iota // contents fixed in the plan
	slotInput                  // a graph input, bound at each Run
	slotArena                  // a buffer in the run's arena
	slotOutput                 // a graph output, freshly allocated at each Run
	slotAlias                  // shares the storage of slot root
	slotUnused                 // never read
)

type slot struct {
	name  string
	kind  slotKind
	dtype tensor.DType
	shape []int
	konst *tensor.Tensor
	off   int // byte offset in the arena (slotArena)
	root  int // slotAlias: the slot whose storage is shared
}

// plan is everything one input-shape signature needs: concrete shapes of
// all values, the steps, and the arena layout.
type plan struct {
	key        planKey
	slots      []slot
	steps      []step
	inputs     []int // slots of the session's inputs, in InputNames order
	outputs    []int // slots of the session's outputs, in OutputNames order
	arenaBytes int
	rebind     []int // alias slots whose root is bound at each Run
	scratch    int   // float32 elements
	threads    int
	arenas     freelist.List[arena] // idle arenas (not a sync.Pool: see internal/freelist)
	layers     []LayerFormat        // the Conv, Gemm and MatMul layers with constant weights
}

// planKey identifies the inputs a plan was made for: their shapes and the
// contents of the inputs that shapes depend on.
type planKey struct {
	dtypes []tensor.DType
	shapes [][]int
	values []*tensor.Tensor // nil where contents do not matter
}

func (k *planKey) matches(inputs []*tensor.Tensor) bool {
	for i, t := range inputs {
		if t.DType != k.dtypes[i] || !sameInts(t.Shape, k.shapes[i]) {
			return false
		}
		if kv := k.values[i]; kv != nil && !sameContents(t, kv) {
			return false
		}
	}
	return true
}

func sameInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func sameContents(a, b *tensor.Tensor) bool {
	if a.DType != b.DType || !sameInts(a.Shape, b.Shape) {
		return false
	}
	ab, bb := bytesOf(a), bytesOf(b)
	if len(ab) != len(bb) {
		return false
	}
	for i := range ab {
		if ab[i] != bb[i] {
			return false
		}
	}
	return true
}

// arena is one Run's memory: the buffers of a plan and the tensor headers
// that point into them. Arenas are recycled through the plan's pool, so
// concurrent Runs never share one.
type arena struct {
	mem     []uint64
	t       []tensor.Tensor
	ins     [][]*tensor.Tensor
	outs    [][]*tensor.Tensor
	scratch []float32
	env     env
}

const arenaAlign = 64

func alignUp(n, a int) int { return (n + a - 1) / a * a }

// makePlan plans the session's graph for the given inputs.
func (s *Session) makePlan(inputs []*tensor.Tensor) (*plan, error) {
	p := &plan{threads: s.threads}
	p.arenas.New = p.newArena
	p.key.dtypes = make([]tensor.DType, len(inputs))
	p.key.shapes = make([][]int, len(inputs))
	p.key.values = make([]*tensor.Tensor, len(inputs))
	idx := map[string]int{}
	newSlot := func(sl slot) int {
		p.slots = append(p.slots, sl)
		idx[sl.name] = len(p.slots) - 1
		return len(p.slots) - 1
	}
	for _, t := range s.consts {
		newSlot(slot{name: t.Name, kind: slotConst, dtype: t.DType, shape: t.Shape, konst: &t.Tensor})
	}
	for i, name := range s.inputNames {
		t := inputs[i]
		p.key.dtypes[i] = t.DType
		p.key.shapes[i] = append([]int(nil), t.Shape...)
		sl := slot{name: name, kind: slotInput, dtype: t.DType, shape: p.key.shapes[i]}
		if s.valueInputs[name] {
			c := t.Clone()
			p.key.values[i] = c
			sl.konst = c
		}
		p.inputs = append(p.inputs, newSlot(sl))
	}
	isOutput := map[string]bool{}
	for _, o := range s.outputNames {
		isOutput[o] = true
	}

	var steps []step
	for _, en := range s.nodes {
		c := &pctx{node: en.node, opset: en.opset, threads: s.threads, dense: s.dense}
		allKonst := true
		in := make([]int, len(en.inputs))
		for i, name := range en.inputs {
			in[i] = -1
			if name == "" {
				c.in = append(c.in, nil)
				continue
			}
			si, ok := idx[name]
			if !ok {
				return nil, fmt.Errorf("runtime: %s: input %q is not produced by any node, input or initializer", en.node, name)
			}
			in[i] = si
			sl := &p.slots[si]
			c.in = append(c.in, &val{dtype: sl.dtype, shape: sl.shape, konst: sl.konst})
			if sl.konst == nil {
				allKonst = false
			}
		}
		for _, name := range en.outputs {
			c.out = append(c.out, &val{})
			c.used = append(c.used, name != "" && (s.consumed[name] || isOutput[name]))
		}
		layer := !allKonst && s.weightLayer(en, c)
		var lf LayerFormat
		if layer {
			lf = s.chooseFormat(en, c)
		}
		run, err := safePrepare(en.op, c)
		if layer && err == nil {
			lf.Format = c.layerFormat
			if lf.Format == "" {
				lf.Format = "dense" // depthwise and other paths without sparse kernels
			}
			p.layers = append(p.layers, lf)
		}
		if err != nil {
			var ue *UnsupportedError
			if errors.As(err, &ue) {
				return nil, err
			}
			return nil, fmt.Errorf("runtime: %s: %w", en.node, err)
		}
		out := make([]int, len(en.outputs))
		outKonst := true
		for i, name := range en.outputs {
			out[i] = -1
			if name == "" {
				continue
			}
			v := c.out[i]
			kind := slotArena
			if v.konst != nil {
				kind = slotConst
			}
			out[i] = newSlot(slot{name: name, kind: kind, dtype: v.dtype, shape: v.shape, konst: v.konst})
			if v.konst == nil && c.used[i] {
				outKonst = false
			}
		}
		if outKonst {
			// Shape-only ops already know their results.
			continue
		}
		if allKonst && !en.nondeterministic {
			if err := p.fold(en, run, c, in, out); err != nil {
				return nil, fmt.Errorf("runtime: folding %s: %w", en.node, err)
			}
			continue
		}
		if c.alias && len(out) > 0 && out[0] >= 0 && in[0] >= 0 && !isOutput[en.outputs[0]] {
			sl := &p.slots[out[0]]
			sl.kind, sl.root = slotAlias, in[0]
			continue
		}
		if c.scratch > p.scratch {
			p.scratch = c.scratch
		}
		steps = append(steps, step{node: en, run: run, in: in, out: out})
	}
	for _, o := range s.outputNames {
		si, ok := idx[o]
		if !ok {
			return nil, fmt.Errorf("runtime: graph output %q is not produced by any node, input or initializer", o)
		}
		p.outputs = append(p.outputs, si)
	}
	p.steps = steps
	p.allocate(isOutput)
	return p, nil
}

// safePrepare calls op.prepare, turning a panic (an op meeting inputs it
// did not expect, such as a missing required one) into an error.
func safePrepare(o op, c *pctx) (run runFunc, err error) {
	defer func() {
		if r := recover(); r != nil {
			run, err = nil, fmt.Errorf("invalid inputs: %v", r)
		}
	}()
	return o.prepare(c)
}

// fold runs a node whose inputs are all known when planning and records its
// outputs as constants of the plan.
func (p *plan) fold(en *execNode, run runFunc, c *pctx, in, out []int) error {
	ins := make([]*tensor.Tensor, len(in))
	for i, si := range in {
		if si >= 0 {
			ins[i] = p.slots[si].konst
		}
	}
	outs := make([]*tensor.Tensor, len(out))
	for i, si := range out {
		if si >= 0 {
			outs[i] = newTensor(p.slots[si].dtype, p.slots[si].shape)
		}
	}
	e := &env{ctx: context.Background(), scratch: make([]float32, c.scratch), threads: p.threads}
	if err := safeRun(run, e, ins, outs); err != nil {
		return err
	}
	for i, si := range out {
		if si >= 0 {
			sl := &p.slots[si]
			sl.kind, sl.konst = slotConst, outs[i]
		}
	}
	return nil
}

// allocate drops steps nothing needs, then gives every remaining arena
// value a buffer, reusing the buffers of values that are dead by then
// (best fit among free blocks, else the arena grows).
func (p *plan) allocate(isOutput map[string]bool) {
	// Follow aliases to their roots.
	root := func(si int) int {
		for p.slots[si].kind == slotAlias {
			si = p.slots[si].root
		}
		return si
	}
	// Backward pass: keep the steps whose outputs are needed.
	need := make([]bool, len(p.slots))
	for _, si := range p.outputs {
		need[si] = true
	}
	markAliases := func() {
		for si := len(p.slots) - 1; si >= 0; si-- {
			if need[si] && p.slots[si].kind == slotAlias {
				need[p.slots[si].root] = true
			}
		}
	}
	markAliases()
	var kept []step
	for i := len(p.steps) - 1; i >= 0; i-- {
		st := p.steps[i]
		live := false
		for _, o := range st.out {
			if o >= 0 && need[o] {
				live = true
			}
		}
		if !live {
			continue
		}
		for _, si := range st.in {
			if si >= 0 {
				need[si] = true
			}
		}
		markAliases()
		kept = append(kept, st)
	}
	for i, j := 0, len(kept)-1; i < j; i, j = i+1, j-1 {
		kept[i], kept[j] = kept[j], kept[i]
	}
	p.steps = kept

	for si := range p.slots {
		sl := &p.slots[si]
		if sl.kind == slotArena && isOutput[sl.name] {
			sl.kind = slotOutput
		}
	}
	// Last use of each root buffer, in step indices.
	last := make([]int, len(p.slots))
	for i := range last {
		last[i] = -1
	}
	for i, st := range p.steps {
		for _, si := range st.in {
			if si >= 0 {
				last[root(si)] = i
			}
		}
		for _, si := range st.out {
			if si >= 0 && last[si] < i {
				last[si] = i
			}
		}
	}
	type block struct{ off, size int }
	var free []block
	top := 0
	alloc := func(size int) int {
		best := -1
		for i, b := range free {
			if b.size >= size && (best < 0 || b.size < free[best].size) {
				best = i
			}
		}
		if best < 0 {
			off := top
			top += size
			return off
		}
		b := free[best]
		if b.size == size {
			free = append(free[:best], free[best+1:]...)
		} else {
			free[best] = block{b.off + size, b.size - size}
		}
		return b.off
	}
	release := func(off, size int) {
		free = append(free, block{off, size})
		// Merge neighbours so that large buffers can be rebuilt.
		for merged := true; merged; {
			merged = false
			for i := 0; i < len(free) && !merged; i++ {
				for j := 0; j < len(free); j++ {
					if i != j && free[i].off+free[i].size == free[j].off {
						free[i].size += free[j].size
						free = append(free[:j], free[j+1:]...)
						merged = true
						break
					}
				}
			}
		}
		// A free block at the top shrinks the arena.
		for i := 0; i < len(free); i++ {
			if free[i].off+free[i].size == top {
				top = free[i].off
				free = append(free[:i], free[i+1:]...)
				i = -1
			}
		}
	}
	size := func(sl *slot) int {
		return alignUp(tensor.Prod(sl.shape)*sl.dtype.Size(), arenaAlign)
	}
	maxTop := 0
	for i, st := range p.steps {
		for _, si := range st.out {
			if si < 0 || p.slots[si].kind != slotArena {
				continue
			}
			sl := &p.slots[si]
			sl.off = alloc(size(sl))
			maxTop = max(maxTop, top)
		}
		for _, si := range append(append([]int(nil), st.in...), st.out...) {
			if si < 0 {
				continue
			}
			r := root(si)
			if last[r] == i && p.slots[r].kind == slotArena {
				last[r] = -2 // released
				release(p.slots[r].off, size(&p.slots[r]))
			}
		}
	}
	p.arenaBytes = maxTop
	for si := range p.slots {
		if p.slots[si].kind == slotAlias {
			if k := p.slots[root(si)].kind; k == slotInput || k == slotOutput {
				p.rebind = append(p.rebind, si)
			}
		}
	}
}

// newArena builds the buffers and tensor headers of one Run.
func (p *plan) newArena() *arena {
	a := &arena{
		mem:     make([]uint64, p.arenaBytes/8+arenaAlign/8),
		t:       make([]tensor.Tensor, len(p.slots)),
		scratch: make([]float32, p.scratch),
	}
	base := unsafe.Pointer(unsafe.SliceData(a.mem))
	if pad := int(uintptr(base) % arenaAlign); pad != 0 {
		base = unsafe.Add(base, arenaAlign-pad)
	}
	for si := range p.slots {
		sl := &p.slots[si]
		switch sl.kind {
		case slotConst:
			if sl.konst != nil {
				a.t[si] = *sl.konst
			}
		case slotArena:
			a.t[si] = bindTensor(sl.dtype, sl.shape, unsafe.Add(base, sl.off))
		}
	}
	for si := range p.slots {
		if p.slots[si].kind == slotAlias {
			p.bindAlias(a, si)
		}
	}
	a.ins = make([][]*tensor.Tensor, len(p.steps))
	a.outs = make([][]*tensor.Tensor, len(p.steps))
	for i, st := range p.steps {
		a.ins[i] = make([]*tensor.Tensor, len(st.in))
		for j, si := range st.in {
			if si >= 0 {
				a.ins[i][j] = &a.t[si]
			}
		}
		a.outs[i] = make([]*tensor.Tensor, len(st.out))
		for j, si := range st.out {
			if si >= 0 {
				a.outs[i][j] = &a.t[si]
			}
		}
	}
	return a
}

// bindAlias points alias slot si at its root's storage, with its own shape.
func (p *plan) bindAlias(a *arena, si int) {
	r := p.slots[si].root
	if p.slots[r].kind == slotAlias {
		p.bindAlias(a, r)
	}
	t := a.t[r]
	t.Shape = p.slots[si].shape
	t.DType = p.slots[si].dtype
	a.t[si] = t
}

// bindTensor makes a tensor header over the memory at ptr.
func bindTensor(dt tensor.DType, shape []int, ptr unsafe.Pointer) tensor.Tensor {
	n := tensor.Prod(shape)
	t := tensor.Tensor{DType: dt, Shape: shape}
	switch dt {
	case tensor.Float:
		t.F32 = unsafe.Slice((*float32)(ptr), n)
	case tensor.Int64:
		t.I64 = unsafe.Slice((*int64)(ptr), n)
	default:
		t.Raw = unsafe.Slice((*byte)(ptr), n*dt.Size())
	}
	return t
}

// tensorWithDims is a tensor header with room for its shape, so that a
// tensor of up to 6 dimensions costs one allocation besides its elements.
type tensorWithDims struct {
	t    tensor.Tensor
	dims [6]int
}

// newTensor allocates a zeroed tensor.
func newTensor(dt tensor.DType, shape []int) *tensor.Tensor {
	n := tensor.Prod(shape)
	var t *tensor.Tensor
	if len(shape) <= len(tensorWithDims{}.dims) {
		h := &tensorWithDims{}
		copy(h.dims[:], shape)
		t = &h.t
		t.DType, t.Shape = dt, h.dims[:len(shape):len(shape)]
	} else {
		t = &tensor.Tensor{DType: dt, Shape: append([]int{}, shape...)}
	}
	switch dt {
	case tensor.Float:
		t.F32 = make([]float32, n)
	case tensor.Int64:
		t.I64 = make([]int64, n)
	default:
		t.Raw = make([]byte, n*dt.Size())
	}
	return t
}

// bytesOf returns t's elements as bytes, without copying.
func bytesOf(t *tensor.Tensor) []byte {
	switch {
	case t.DType == tensor.Float:
		return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(t.F32))), 4*len(t.F32))
	case t.DType == tensor.Int64:
		return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(t.I64))), 8*len(t.I64))
	}
	return t.Raw
}

// view returns t's elements as []T; T must have the element size of t's
// type (float32 or uint32 for Float, int64 or uint64 for Int64, …).
func view[T any](t *tensor.Tensor) []T {
	b := bytesOf(t)
	var z T
	sz := int(unsafe.Sizeof(z))
	if len(b) == 0 {
		return nil
	}
	return unsafe.Slice((*T)(unsafe.Pointer(unsafe.SliceData(b))), len(b)/sz)
}

func safeRun(run runFunc, e *env, in, out []*tensor.Tensor) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("internal error: %v", r)
		}
	}()
	return run(e, in, out)
}
