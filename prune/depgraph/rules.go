package depgraph

import (
	"github.com/podaml/poda/graph"
)

// rule is an op type's coupling rule: it reads the channel info of n's
// inputs, sets that of n's outputs, registers the parameter slices n
// touches, unions coupled atoms and blocks what it cannot rewrite.
type rule func(b *builder, n *graph.Node)

// rules maps op types (default domain) to their coupling rule. Ops without
// a rule block every tracked channel that reaches them.
var rules = map[string]rule{}

func register(r rule, ops ...string) {
	for _, op := range ops {
		rules[op] = r
	}
}

func init() {
	register(passThrough, "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Clip", "Erf", "Sqrt", "Exp", "Log",
		"Neg", "Abs", "Reciprocal", "HardSigmoid", "HardSwish", "Gelu", "Identity", "Dropout", "Elu",
		"Selu", "Softplus", "Softsign", "Mish", "Celu", "Cast", "Floor", "Ceil", "Round", "Sign",
		"Sin", "Cos", "ThresholdedRelu")
	register(ignore, "Shape", "Size", "Constant")
	register(convRule, "Conv")
	register(convTransposeRule, "ConvTranspose")
	register(gemmRule, "Gemm")
	register(matmulRule, "MatMul")
	register(batchNormRule, "BatchNormalization")
	register(instanceNormRule, "InstanceNormalization")
	register(binaryRule, "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Sum", "Mean", "PRelu")
	register(poolRule, "MaxPool", "AveragePool", "LpPool", "GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool")
	register(softmaxRule, "Softmax", "LogSoftmax", "Hardmax")
	register(layerNormRule, "LayerNormalization")
	register(transposeRule, "Transpose")
	register(reduceRule, "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1",
		"ReduceL2", "ReduceSumSquare", "ReduceLogSumExp", "ArgMax", "ArgMin")
	register(concatRule, "Concat")
	register(splitRule, "Split")
	register(sliceRule, "Slice")
	register(padRule, "Pad")
	register(resizeRule, "Resize", "Upsample")
	register(squeezeRule, "Squeeze", "Unsqueeze")
	register(flattenRule, "Flatten")
	register(reshapeRule, "Reshape")
}

func (b *builder) shape(name string) graph.Shape { return b.shapes.Shape(name) }

// ints returns the statically known contents of an int64 value.
func (b *builder) ints(name string) ([]int64, bool) {
	info := b.shapes[name]
	if name == "" || info == nil || info.Value == nil {
		return nil, false
	}
	out := make([]int64, len(info.Value))
	for i, d := range info.Value {
		if !d.Known() {
			return nil, false
		}
		out[i] = d.Value
	}
	return out, true
}

func (b *builder) rank(name string) int {
	if s := b.shape(name); s != nil {
		return len(s)
	}
	return -1
}

func normAxis(axis int64, rank int) (int, bool) {
	if axis < 0 {
		axis += int64(rank)
	}
	return int(axis), axis >= 0 && axis < int64(rank)
}

// passThrough: elementwise ops keep every channel where it is.
func passThrough(b *builder, n *graph.Node) {
	c := b.chanOf(n.Input(0))
	if c == nil {
		for _, in := range n.Inputs[min(1, len(n.Inputs)):] {
			b.blockValue(in, "%s reads channels as a parameter", n)
		}
		return
	}
	for _, in := range n.Inputs[1:] {
		b.blockValue(in, "%s reads channels as a parameter", n)
	}
	for _, o := range n.Outputs {
		b.setChan(o, c.axis, c.atoms)
	}
}

// ignore: ops that read only metadata (Shape, Size) or nothing.
func ignore(*builder, *graph.Node) {}

// convRule: output channels are a fresh set on weight axis 0 and the bias;
// input channels are weight axis 1. A depthwise conv (group == C_in,
// weight [C_in·mult, 1, ...]) passes its input channels through instead.
func convRule(b *builder, n *graph.Node) {
	x, wName, bias := n.Input(0), n.Input(1), n.Input(2)
	w := b.g.Initializer(wName)
	out := n.Outputs[0]
	group := int(n.Int("group", 1))
	c := b.chanOf(x)
	if w == nil || len(w.Shape) < 3 {
		b.blockValue(x, "%s: weight %q is not an initializer", n, wName)
		return
	}
	cout := w.Shape[0]
	if c != nil && c.axis != 1 {
		b.block(c.atoms, "%s reads channels on axis %d", n, c.axis)
		c = nil
	}
	if c != nil && group > 1 {
		cin := len(c.atoms)
		if group == cin && w.Shape[1] == 1 && cout%cin == 0 {
			mult := cout / cin
			atoms := make([]int, cout)
			for o := range atoms {
				atoms[o] = c.atoms[o/mult]
			}
			ok := b.param(n, wName, 0, atoms, RoleOut)
			if ok && bias != "" {
				ok = b.param(n, bias, 0, atoms, RoleBias)
			}
			if !ok {
				b.block(c.atoms, "%s: depthwise weight or bias cannot be sliced", n)
			}
			b.setChan(out, 1, atoms)
			in := c.atoms
			b.fixups = append(b.fixups, func(a *applier) error {
				k := a.keptCount(in)
				n.SetInt("group", int64(k))
				return nil
			})
			return
		}
		b.block(c.atoms, "%s is a grouped conv (group %d) that is not depthwise", n, group)
		c = nil
	}
	if c != nil {
		if !b.param(n, wName, 1, c.atoms, RoleIn) {
			b.block(c.atoms, "%s: weight %q does not match %d input channels", n, wName, len(c.atoms))
		}
	}
	atoms := b.fresh(cout, nodeName(n))
	if group > 1 {
		b.block(atoms, "%s is a grouped conv (group %d)", n, group)
	}
	ok := b.param(n, wName, 0, atoms, RoleOut)
	if ok && bias != "" {
		ok = b.param(n, bias, 0, atoms, RoleBias)
	}
	if !ok {
		b.block(atoms, "%s: weight or bias cannot be sliced", n)
	}
	b.setChan(out, 1, atoms)
}

// convTransposeRule: weight [C_in, C_out/group, ...].
func convTransposeRule(b *builder, n *graph.Node) {
	x, wName, bias := n.Input(0), n.Input(1), n.Input(2)
	w := b.g.Initializer(wName)
	c := b.chanOf(x)
	if w == nil || len(w.Shape) < 3 {
		b.blockValue(x, "%s: weight %q is not an initializer", n, wName)
		return
	}
	group := int(n.Int("group", 1))
	if group != 1 || n.Attr("output_shape") != nil {
		b.blockValue(x, "%s: grouped ConvTranspose or explicit output_shape", n)
		return
	}
	if c != nil {
		if c.axis != 1 || !b.param(n, wName, 0, c.atoms, RoleIn) {
			b.block(c.atoms, "%s: input channels cannot be mapped to the weight", n)
		}
	}
	atoms := b.fresh(w.Shape[1], nodeName(n))
	ok := b.param(n, wName, 1, atoms, RoleOut)
	if ok && bias != "" {
		ok = b.param(n, bias, 0, atoms, RoleBias)
	}
	if !ok {
		b.block(atoms, "%s: weight or bias cannot be sliced", n)
	}
	b.setChan(n.Outputs[0], 1, atoms)
}

// gemmRule: Y = A·B (+C); with transB the weight is [N,K].
func gemmRule(b *builder, n *graph.Node) {
	a, wName, cName := n.Input(0), n.Input(1), n.Input(2)
	w := b.g.Initializer(wName)
	transA, transB := n.Int("transA", 0) != 0, n.Int("transB", 0) != 0
	ca := b.chanOf(a)
	b.blockValue(wName, "%s reads channels as its B operand", n)
	b.blockValue(cName, "%s reads channels as its C operand", n)
	if w == nil || len(w.Shape) != 2 {
		b.blockValue(a, "%s: weight %q is not a 2-D initializer", n, wName)
		return
	}
	inAxis, outAxis := 0, 1
	if transB {
		inAxis, outAxis = 1, 0
	}
	if ca != nil {
		if transA || ca.axis != 1 || !b.param(n, wName, inAxis, ca.atoms, RoleIn) {
			b.block(ca.atoms, "%s: input channels cannot be mapped to the weight", n)
		}
	}
	atoms := b.fresh(w.Shape[outAxis], nodeName(n))
	ok := b.param(n, wName, outAxis, atoms, RoleOut)
	if ok && cName != "" {
		ok = b.perChannelConst(n, cName, 2, 1, atoms, RoleBias)
	}
	if !ok {
		b.block(atoms, "%s: weight or bias cannot be sliced", n)
	}
	b.setChan(n.Outputs[0], 1, atoms)
}

// perChannelConst handles an untracked operand u broadcast against a value
// of rank outRank whose channel axis is axis: fine if it is 1 (or absent)
// along that axis, registered as a slice if it is an initializer of full
// size there, not rewritable otherwise.
func (b *builder) perChannelConst(n *graph.Node, u string, outRank, axis int, atoms []int, role Role) bool {
	sh := b.shape(u)
	if sh == nil {
		return false
	}
	ua := axis - (outRank - len(sh))
	if ua < 0 {
		return true // broadcast from the left: no channel axis
	}
	d := sh[ua]
	if d.Known() && d.Value == 1 {
		return true
	}
	if !d.Known() || int(d.Value) != len(atoms) {
		return false
	}
	return b.param(n, u, ua, atoms, role)
}

// matmulRule: with an initializer weight [K,N], channels on A's last axis
// map to weight axis 0 and a fresh set of N output channels to weight
// axis 1. Between two activations (attention), tracked batch axes pass
// through and are tied across operands, rows and columns pass to the
// output, and the contracted axis ties A's columns to B's rows.
func matmulRule(b *builder, n *graph.Node) {
	a, bb := n.Input(0), n.Input(1)
	ca, cb := b.chanOf(a), b.chanOf(bb)
	ra, rb := b.rank(a), b.rank(bb)
	if w := b.g.Initializer(bb); w != nil {
		if len(w.Shape) != 2 || ra < 2 {
			b.blockValue(a, "%s: weight %q is not 2-D or input rank unknown", n, bb)
			return
		}
		if ca != nil {
			if ca.axis != ra-1 || !b.param(n, bb, 0, ca.atoms, RoleIn) {
				b.block(ca.atoms, "%s: input channels on axis %d cannot be mapped to the weight", n, ca.axis)
			}
		}
		atoms := b.fresh(w.Shape[1], nodeName(n))
		if !b.param(n, bb, 1, atoms, RoleOut) {
			b.block(atoms, "%s: weight cannot be sliced", n)
		}
		b.setChan(n.Outputs[0], ra-1, atoms)
		return
	}
	if b.g.Initializer(a) != nil {
		b.blockValue(bb, "%s: left operand is a constant", n)
		return
	}
	if ca == nil && cb == nil {
		return
	}
	if ra < 2 || rb < 2 {
		b.blockInputs(n, "%s: operand ranks unknown or 1-D", n)
		return
	}
	ro := max(ra, rb)
	outAxis := -1
	fail := func(msg string) {
		b.blockInputs(n, "%s: %s", n, msg)
	}
	// Contracted axis.
	if ca != nil && ca.axis == ra-1 || cb != nil && cb.axis == rb-2 {
		if ca == nil || cb == nil || ca.axis != ra-1 || cb.axis != rb-2 || len(ca.atoms) != len(cb.atoms) {
			fail("channels on the contracted axis of one operand only")
			return
		}
		b.unionAll(ca.atoms, cb.atoms)
		return
	}
	if ca != nil {
		if ca.axis == ra-2 {
			outAxis = ro - 2
		} else {
			outAxis = ca.axis + ro - ra
		}
	}
	if cb != nil {
		ob := cb.axis + ro - rb
		if cb.axis == rb-1 {
			ob = ro - 1
		}
		if outAxis >= 0 && outAxis != ob {
			fail("channels on two different axes")
			return
		}
		if ca != nil {
			if len(ca.atoms) != len(cb.atoms) {
				fail("channel counts differ")
				return
			}
			b.unionAll(ca.atoms, cb.atoms)
		}
		outAxis = ob
	}
	// A tracked batch axis must not meet a full-size untracked axis.
	if outAxis < ro-2 {
		for _, side := range []struct {
			name string
			c    *chanInfo
			r    int
		}{{a, ca, ra}, {bb, cb, rb}} {
			if side.c != nil {
				continue
			}
			sh := b.shape(side.name)
			if j := outAxis - (ro - side.r); j >= 0 && (sh == nil || !sh[j].Known() || sh[j].Value != 1) {
				fail("a batch axis is tracked on one operand only")
				return
			}
		}
	}
	atoms := ca
	if atoms == nil {
		atoms = cb
	}
	b.setChan(n.Outputs[0], outAxis, atoms.atoms)
}

func batchNormRule(b *builder, n *graph.Node) {
	c := b.chanOf(n.Input(0))
	for _, in := range n.Inputs[1:] {
		b.blockValue(in, "%s reads channels as a parameter", n)
	}
	if c == nil {
		return
	}
	if c.axis != 1 {
		b.block(c.atoms, "%s normalizes axis 1, channels are on axis %d", n, c.axis)
		return
	}
	roles := []Role{RoleNormScale, RoleNormBias, RoleNormStat, RoleNormStat}
	for i, r := range roles {
		if !b.param(n, n.Input(i+1), 0, c.atoms, r) {
			b.block(c.atoms, "%s: parameter %q cannot be sliced", n, n.Input(i+1))
		}
	}
	if len(n.Outputs) > 1 {
		b.block(c.atoms, "%s is in training mode", n)
	}
	b.setChan(n.Outputs[0], 1, c.atoms)
}

func instanceNormRule(b *builder, n *graph.Node) {
	c := b.chanOf(n.Input(0))
	if c == nil {
		return
	}
	if c.axis != 1 || !b.param(n, n.Input(1), 0, c.atoms, RoleNormScale) || !b.param(n, n.Input(2), 0, c.atoms, RoleNormBias) {
		b.block(c.atoms, "%s: parameters cannot be sliced", n)
		return
	}
	b.setChan(n.Outputs[0], 1, c.atoms)
}

// binaryRule: broadcasting elementwise ops. Tracked operands must carry
// their channels on the same (right-aligned) axis and are tied index by
// index (a residual Add makes one group of all the convs it joins);
// untracked operands must broadcast along that axis or be per-channel
// initializers, which shrink with the group.
func binaryRule(b *builder, n *graph.Node) {
	outRank := b.rank(n.Outputs[0])
	var first *chanInfo
	axis := -1
	for _, in := range n.Inputs {
		c := b.chanOf(in)
		if c == nil {
			continue
		}
		r := b.rank(in)
		if outRank < 0 || r < 0 {
			b.blockInputs(n, "%s: operand ranks unknown", n)
			return
		}
		ax := c.axis + outRank - r
		if first == nil {
			first, axis = c, ax
			continue
		}
		if ax != axis || len(c.atoms) != len(first.atoms) {
			b.blockInputs(n, "%s joins channels on different axes or of different counts", n)
			return
		}
		b.unionAll(first.atoms, c.atoms)
	}
	if first == nil {
		return
	}
	role := RoleScale
	if n.OpType == "Add" || n.OpType == "Sub" || n.OpType == "Sum" || n.OpType == "Max" || n.OpType == "Min" {
		role = RoleBias
	}
	for _, in := range n.Inputs {
		if in == "" || b.chanOf(in) != nil {
			continue
		}
		if !b.perChannelConst(n, in, outRank, axis, first.atoms, role) {
			if b.g.Initializer(in) != nil {
				b.block(first.atoms, "%s: initializer operand %q cannot be sliced per channel", n, in)
			} else if pr := b.g.Producer(in); pr != nil {
				b.block(first.atoms, "%s: operand %q (output of %s) has the full channel axis but carries no prunable channels", n, in, pr)
			} else {
				b.block(first.atoms, "%s: operand %q (a graph input) has the full channel axis", n, in)
			}
		}
	}
	b.setChan(n.Outputs[0], axis, first.atoms)
}

// poolRule: pools and global pools keep channels on axis 1.
func poolRule(b *builder, n *graph.Node) {
	c := b.chanOf(n.Input(0))
	if c == nil {
		return
	}
	if c.axis != 1 {
		b.block(c.atoms, "%s pools with channels on axis %d", n, c.axis)
		return
	}
	if len(n.Outputs) > 1 && n.Outputs[1] != "" && len(b.g.Consumers(n.Outputs[1])) > 0 {
		b.block(c.atoms, "%s: its Indices output depends on the channel count", n)
		return
	}
	b.setChan(n.Outputs[0], 1, c.atoms)
}

func softmaxRule(b *builder, n *graph.Node) {
	c := b.chanOf(n.Input(0))
	if c == nil {
		return
	}
	r := b.rank(n.Input(0))
	def := int64(-1)
	if b.m.Opset("") < 13 {
		def = 1
	}
	ax, ok := normAxis(n.Int("axis", def), r)
	if !ok || c.axis == ax || (b.m.Opset("") < 13 && c.axis >= ax) {
		b.block(c.atoms, "%s normalizes over the channel axis", n)
		return
	}
	b.setChan(n.Outputs[0], c.axis, c.atoms)
}

func layerNormRule(b *builder, n *graph.Node) {
	c := b.chanOf(n.Input(0))
	for _, in := range n.Inputs[1:] {
		b.blockValue(in, "%s reads channels as a parameter", n)
	}
	if c == nil {
		return
	}
	ax, ok := normAxis(n.Int("axis", -1), b.rank(n.Input(0)))
	if !ok || c.axis >= ax {
		b.block(c.atoms, "%s normalizes over the channel axis", n)
		return
	}
	b.setChan(n.Outputs[0], c.axis, c.atoms)
}

func transposeRule(b *builder, n *graph.Node) {
	c := b.chanOf(n.Input(0))
	if c == nil {
		return
	}
	r := b.rank(n.Input(0))
	perm := n.Ints("perm", nil)
	if perm == nil && r >= 0 {
		for i := r - 1; i >= 0; i-- {
			perm = append(perm, int64(i))
		}
	}
	for i, p := range perm {
		if int(p) == c.axis {
			b.setChan(n.Outputs[0], i, c.atoms)
			return
		}
	}
	b.block(c.atoms, "%s: permutation unknown", n)
}

func reduceRule(b *builder, n *graph.Node) {
	c := b.chanOf(n.Input(0))
	if c == nil {
		return
	}
	r := b.rank(n.Input(0))
	keep := n.Int("keepdims", 1) == 1
	var axes []int64
	switch {
	case n.OpType == "ArgMax" || n.OpType == "ArgMin":
		axes = []int64{n.Int("axis", 0)}
	case n.Attr("axes") != nil:
		axes = n.Ints("axes", nil)
	case n.Input(1) != "":
		var ok bool
		if axes, ok = b.ints(n.Input(1)); !ok {
			b.block(c.atoms, "%s: axes unknown", n)
			return
		}
	}
	if len(axes) == 0 {
		if n.Int("noop_with_empty_axes", 0) == 1 {
			b.setChan(n.Outputs[0], c.axis, c.atoms)
			return
		}
		b.block(c.atoms, "%s reduces over all axes", n)
		return
	}
	out := c.axis
	for _, a := range axes {
		ax, ok := normAxis(a, r)
		if !ok || ax == c.axis {
			b.block(c.atoms, "%s reduces over the channel axis", n)
			return
		}
		if ax < c.axis && !keep {
			out--
		}
	}
	b.setChan(n.Outputs[0], out, c.atoms)
}

// concatRule: on the channel axis, the output's channels are the operands'
// channels side by side; untracked operands get fresh, blocked atoms.
func concatRule(b *builder, n *graph.Node) {
	var any *chanInfo
	for _, in := range n.Inputs {
		if c := b.chanOf(in); c != nil {
			any = c
			break
		}
	}
	if any == nil {
		return
	}
	r := b.rank(n.Outputs[0])
	ax, ok := normAxis(n.Int("axis", 0), r)
	if !ok {
		b.blockInputs(n, "%s: axis unknown", n)
		return
	}
	if ax != any.axis {
		// Concatenating along another axis: every operand must carry the
		// same channels.
		for _, in := range n.Inputs {
			c := b.chanOf(in)
			if c == nil || c.axis != any.axis || len(c.atoms) != len(any.atoms) {
				b.blockInputs(n, "%s concatenates along axis %d, channels are on axis %d", n, ax, any.axis)
				return
			}
			b.unionAll(any.atoms, c.atoms)
		}
		b.setChan(n.Outputs[0], any.axis, any.atoms)
		return
	}
	var atoms []int
	for _, in := range n.Inputs {
		c := b.chanOf(in)
		if c != nil && c.axis == ax {
			atoms = append(atoms, c.atoms...)
			continue
		}
		sh := b.shape(in)
		if c != nil || sh == nil || len(sh) != r || !sh[ax].Known() {
			b.blockInputs(n, "%s: operand %q cannot be mapped", n, in)
			return
		}
		opaque := b.fresh(int(sh[ax].Value), in)
		b.block(opaque, "%s concatenates untracked %q", n, in)
		atoms = append(atoms, opaque...)
	}
	b.setChan(n.Outputs[0], ax, atoms)
}

// splitRule: along the channel axis each output takes its range of
// channels, and the split sizes are rewritten; along other axes channels
// pass through.
func splitRule(b *builder, n *graph.Node) {
	c := b.chanOf(n.Input(0))
	if c == nil {
		return
	}
	r := b.rank(n.Input(0))
	ax, ok := normAxis(n.Int("axis", 0), r)
	if !ok {
		b.block(c.atoms, "%s: axis unknown", n)
		return
	}
	if ax != c.axis {
		for _, o := range n.Outputs {
			b.setChan(o, c.axis, c.atoms)
		}
		return
	}
	var sizes []int
	for _, o := range n.Outputs {
		sh := b.shape(o)
		if sh == nil || len(sh) != r || !sh[ax].Known() {
			b.block(c.atoms, "%s: split sizes unknown", n)
			return
		}
		sizes = append(sizes, int(sh[ax].Value))
	}
	if in := n.Input(1); in != "" && b.g.Initializer(in) == nil && (b.g.Producer(in) == nil || b.g.Producer(in).OpType != "Constant") {
		b.block(c.atoms, "%s: split sizes are computed at run time", n)
		return
	}
	off := 0
	var parts [][]int
	for i, o := range n.Outputs {
		if off+sizes[i] > len(c.atoms) {
			b.block(c.atoms, "%s: split sizes exceed the channel count", n)
			return
		}
		part := c.atoms[off : off+sizes[i]]
		parts = append(parts, part)
		b.setChan(o, ax, part)
		off += sizes[i]
	}
	b.fixups = append(b.fixups, func(a *applier) error {
		split := make([]int64, len(parts))
		for i, p := range parts {
			split[i] = int64(a.keptCount(p))
			if split[i] == 0 {
				return errorf("%s would produce an empty output", n)
			}
		}
		if a.m.Opset("") >= 13 {
			name := a.m.Graph.UniqueName(nodeName(n) + "_split")
			a.m.Graph.AddInitializer(name, int64Tensor(split))
			for len(n.Inputs) < 2 {
				n.Inputs = append(n.Inputs, "")
			}
			n.Inputs[1] = name
			removeAttr(n, "num_outputs")
		} else {
			n.SetInts("split", split)
		}
		return nil
	})
}

func sliceRule(b *builder, n *graph.Node) {
	c := b.chanOf(n.Input(0))
	for _, in := range n.Inputs[1:] {
		b.blockValue(in, "%s reads channels as slice bounds", n)
	}
	if c == nil {
		return
	}
	r := b.rank(n.Input(0))
	var axes []int64
	if b.m.Opset("") < 10 {
		axes = n.Ints("axes", nil)
		if axes == nil {
			for i := range n.Ints("starts", nil) {
				axes = append(axes, int64(i))
			}
		}
	} else if n.Input(3) != "" {
		var ok bool
		if axes, ok = b.ints(n.Input(3)); !ok {
			b.block(c.atoms, "%s: axes unknown", n)
			return
		}
	} else {
		starts, ok := b.ints(n.Input(1))
		if !ok {
			b.block(c.atoms, "%s: axes unknown", n)
			return
		}
		for i := range starts {
			axes = append(axes, int64(i))
		}
	}
	for _, a := range axes {
		if ax, ok := normAxis(a, r); !ok || ax == c.axis {
			b.block(c.atoms, "%s slices the channel axis", n)
			return
		}
	}
	b.setChan(n.Outputs[0], c.axis, c.atoms)
}

func padRule(b *builder, n *graph.Node) {
	c := b.chanOf(n.Input(0))
	if c == nil {
		return
	}
	r := b.rank(n.Input(0))
	pads := n.Ints("pads", nil)
	if pads == nil {
		var ok bool
		if pads, ok = b.ints(n.Input(1)); !ok || n.Input(3) != "" {
			b.block(c.atoms, "%s: pads unknown", n)
			return
		}
	}
	if len(pads) != 2*r || pads[c.axis] != 0 || pads[c.axis+r] != 0 {
		b.block(c.atoms, "%s pads the channel axis", n)
		return
	}
	b.setChan(n.Outputs[0], c.axis, c.atoms)
}

func resizeRule(b *builder, n *graph.Node) {
	c := b.chanOf(n.Input(0))
	if c == nil {
		return
	}
	// Scales: input 2 (Resize opset ≥ 11), input 1 (Upsample, Resize-10).
	scalesIn := n.Input(2)
	if n.OpType == "Upsample" || b.m.Opset("") < 11 {
		scalesIn = n.Input(1)
	}
	if n.OpType == "Resize" && n.Input(3) != "" {
		b.block(c.atoms, "%s has explicit output sizes", n)
		return
	}
	t := b.g.Initializer(scalesIn)
	var scales []float32
	if t != nil {
		scales = t.F32
	} else if p := b.g.Producer(scalesIn); p != nil && p.OpType == "Constant" {
		if v, err := p.Tensor("value"); err == nil && v != nil {
			scales = v.F32
		}
	} else if scalesIn == "" {
		scales = n.Floats("scales", nil)
	}
	if c.axis >= len(scales) || scales[c.axis] != 1 {
		b.block(c.atoms, "%s: scale along the channel axis is not known to be 1", n)
		return
	}
	b.setChan(n.Outputs[0], c.axis, c.atoms)
}

func squeezeRule(b *builder, n *graph.Node) {
	c := b.chanOf(n.Input(0))
	if c == nil {
		return
	}
	r := b.rank(n.Input(0))
	axes := n.Ints("axes", nil)
	if axes == nil && n.Input(1) != "" {
		var ok bool
		if axes, ok = b.ints(n.Input(1)); !ok {
			b.block(c.atoms, "%s: axes unknown", n)
			return
		}
	}
	if n.OpType == "Squeeze" {
		if axes == nil {
			b.block(c.atoms, "%s squeezes unknown axes", n)
			return
		}
		out := c.axis
		for _, a := range axes {
			ax, ok := normAxis(a, r)
			if !ok || ax == c.axis {
				b.block(c.atoms, "%s squeezes the channel axis", n)
				return
			}
			if ax < c.axis {
				out--
			}
		}
		b.setChan(n.Outputs[0], out, c.atoms)
		return
	}
	ro := r + len(axes)
	ins := map[int]bool{}
	for _, a := range axes {
		ax, ok := normAxis(a, ro)
		if !ok {
			b.block(c.atoms, "%s: axes out of range", n)
			return
		}
		ins[ax] = true
	}
	j := 0
	for i := 0; i < ro; i++ {
		if ins[i] {
			continue
		}
		if j == c.axis {
			b.setChan(n.Outputs[0], i, c.atoms)
			return
		}
		j++
	}
	b.block(c.atoms, "%s: axes out of range", n)
}
