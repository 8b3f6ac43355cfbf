package runtime

import (
	"fmt"
	"math"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/runtime/kernels"
	"github.com/podaml/poda/tensor"
)

// Elementwise binary ops with numpy broadcasting: arithmetic (Add Sub Mul
// Div Pow, and variadic Max Min Sum Mean), comparisons (Equal Less Greater
// LessOrEqual GreaterOrEqual, with bool results), logic (And Or Xor) and
// PRelu.

type number interface {
	~float32 | ~float64 | ~int8 | ~uint8 | ~int16 | ~uint16 | ~int32 | ~uint32 | ~int64 | ~uint64
}

type binKind uint8

const (
	binArith binKind = iota
	binCompare
	binLogic
)

type binaryOp struct {
	name string
	kind binKind
	// legacyAxis, for opsets before 7 with broadcast=1: B's dims line up
	// with A's from this axis (-1: from the right).
	legacy     bool
	legacyAxis int64
	// act is an activation fused into a float32 Add (a residual
	// connection followed by Relu).
	act   activation
	fused bool
}

func (o *binaryOp) fuseAct(act *execNode, konst func(string) *tensor.Tensor) bool {
	if o.fused || o.name != "Add" {
		return false
	}
	a, ok := parseAct(act, konst)
	if ok {
		o.act, o.fused = a, true
	}
	return ok
}

func init() {
	for _, name := range []string{"Add", "Sub", "Mul", "Div", "Pow"} {
		name := name
		register("", name, 1, 6, func(n *graph.Node, opset int64) (op, error) {
			return &binaryOp{name: name, kind: binArith, legacy: n.Int("broadcast", 0) != 0, legacyAxis: n.Int("axis", -1)}, nil
		})
		register("", name, 7, 99, newBinary(name, binArith))
	}
	for _, name := range []string{"Equal", "Less", "Greater"} {
		register("", name, 7, 99, newBinary(name, binCompare))
	}
	for _, name := range []string{"LessOrEqual", "GreaterOrEqual"} {
		register("", name, 12, 99, newBinary(name, binCompare))
	}
	for _, name := range []string{"And", "Or", "Xor"} {
		register("", name, 7, 99, newBinary(name, binLogic))
	}
	register("", "BitShift", 11, 99, func(n *graph.Node, opset int64) (op, error) {
		if n.Str("direction", "") == "LEFT" {
			return &binaryOp{name: "ShiftLeft", kind: binArith}, nil
		}
		return &binaryOp{name: "ShiftRight", kind: binArith}, nil
	})
	register("", "Mod", 10, 99, func(n *graph.Node, opset int64) (op, error) {
		if n.Int("fmod", 0) != 0 {
			return &binaryOp{name: "Fmod", kind: binArith}, nil
		}
		return &binaryOp{name: "Mod", kind: binArith}, nil
	})
	register("", "PRelu", 6, 6, func(n *graph.Node, opset int64) (op, error) {
		// Opset 6's slope is one value or one per channel (axis 1).
		return &binaryOp{name: "PRelu", kind: binArith, legacy: true, legacyAxis: 1}, nil
	})
	register("", "PRelu", 7, 99, newBinary("PRelu", binArith))
	for _, name := range []string{"Max", "Min", "Sum", "Mean"} {
		register("", name, 6, 99, newVariadic(name))
	}
}

func newBinary(name string, kind binKind) builder {
	return func(n *graph.Node, opset int64) (op, error) {
		return &binaryOp{name: name, kind: kind}, nil
	}
}

func (o *binaryOp) prepare(c *pctx) (runFunc, error) {
	a, b := c.input(0), c.input(1)
	if a == nil || b == nil {
		return nil, fmt.Errorf("%s needs two inputs", o.name)
	}
	if o.name != "Pow" && a.dtype != b.dtype {
		return nil, fmt.Errorf("input types differ: %s and %s", a.dtype, b.dtype)
	}
	bshape := b.shape
	if o.legacy && len(b.shape) < len(a.shape) && b.numel() > 1 {
		// Old-style broadcasting: place B's dims at legacyAxis of A.
		ax := len(a.shape) - len(b.shape)
		if o.legacyAxis >= 0 {
			ax = int(o.legacyAxis)
		}
		if ax+len(b.shape) > len(a.shape) {
			return nil, fmt.Errorf("B %v does not fit A %v at axis %d", b.shape, a.shape, ax)
		}
		bshape = make([]int, len(a.shape))
		for i := range bshape {
			bshape[i] = 1
		}
		copy(bshape[ax:], b.shape)
	}
	shape, err := broadcastShape(a.shape, bshape)
	if err != nil {
		return nil, err
	}
	if o.name == "PRelu" {
		// PRelu broadcasts the slope to X (unidirectionally).
		if !sameInts(shape, a.shape) {
			return nil, fmt.Errorf("slope %v does not broadcast to X %v", b.shape, a.shape)
		}
	}
	st, err := newStrided(shape, bcastStrides(a.shape, shape), bcastStrides(bshape, shape))
	if err != nil {
		return nil, err
	}
	outType := a.dtype
	switch o.kind {
	case binCompare:
		outType = tensor.Bool
	case binLogic:
		if a.dtype != tensor.Bool {
			return nil, errDType(c, a.dtype)
		}
	}
	c.set(0, outType, shape)
	dt := a.dtype
	switch o.kind {
	case binLogic:
		f := logicFn(o.name)
		return func(e *env, in, out []*tensor.Tensor) error {
			binLoop(e, st, out[0].Raw, in[0].Raw, in[1].Raw, f)
			return nil
		}, nil
	case binCompare:
		run := compareRun(o.name, dt)
		if run == nil {
			return nil, errDType(c, dt)
		}
		return func(e *env, in, out []*tensor.Tensor) error {
			run(e, st, out[0], in[0], in[1])
			return nil
		}, nil
	}
	if o.name == "Pow" {
		run := powRun(dt, b.dtype)
		if run == nil {
			return nil, errDType(c, b.dtype)
		}
		return func(e *env, in, out []*tensor.Tensor) error {
			run(e, st, out[0], in[0], in[1])
			return nil
		}, nil
	}
	if dt == tensor.Float && o.name != "Mod" && o.name != "Fmod" && o.name != "ShiftLeft" && o.name != "ShiftRight" {
		code := o.name
		act := &o.act
		return func(e *env, in, out []*tensor.Tensor) error {
			f32Binary(e, st, code, out[0].F32, in[0].F32, in[1].F32, act)
			return nil
		}, nil
	}

	run := arithRun(o.name, dt)
	if run == nil {
		return nil, errDType(c, dt)
	}
	fused, act := o.fused, o.act
	return func(e *env, in, out []*tensor.Tensor) error {
		run(e, st, out[0], in[0], in[1])
		if fused {
			applyActAny(out[0], act)
		}
		return nil
	}, nil
}

// applyActAny applies a fused activation to a tensor of any numeric type.
func applyActAny(t *tensor.Tensor, a activation) {
	dt := t.DType
	n := t.Numel()
	for i := 0; i < n; i++ {
		var v float64
		if dt.IsFloat() {
			v = getF64(t, dt, i)
		} else {
			v = float64(getI64(t, dt, i))
		}
		switch a.act {
		case kernels.ActRelu:
			v = math.Max(v, 0)
		case kernels.ActClip:
			v = math.Min(math.Max(v, float64(a.min)), float64(a.max))
		case kernels.ActLeakyRelu:
			if v < 0 {
				v *= float64(a.alpha)
			}
		}
		if dt.IsFloat() {
			setF64(t, dt, i, v)
		} else {
			setI64(t, dt, i, int64(v))
		}
	}
}

type binRun func(e *env, st *strided, out, a, b *tensor.Tensor)

// binLoop computes d = f(a, b) elementwise over the broadcast iteration st.
func binLoop[A, B, U any](e *env, st *strided, d []U, a []A, b []B, f func(A, B) U) {
	forRange(e, st.outer(), 2*st.n, binJob[A, B, U]{st, d, a, b, f})
}

type binJob[A, B, U any] struct {
	st *strided
	d  []U
	a  []A
	b  []B
	f  func(A, B) U
}

func (j binJob[A, B, U]) chunk(_, lo, hi int) {
	st, d, a, b, f := j.st, j.d, j.a, j.b, j.f
	last := len(st.dims) - 1
	as, bs := st.str[0][last], st.str[1][last]
	n := st.inner
	st.each(lo, hi, func(o int, offs [4]int) {
		dd := d[o : o+n]
		ao, bo := offs[0], offs[1]
		switch {
		case as == 1 && bs == 1:
			aa, bb := a[ao:ao+n], b[bo:bo+n]
			for i := range dd {
				dd[i] = f(aa[i], bb[i])
			}
		case as == 1:
			aa, y := a[ao:ao+n], b[bo]
			for i := range dd {
				dd[i] = f(aa[i], y)
			}
		case bs == 1:
			x, bb := a[ao], b[bo:bo+n]
			for i := range dd {
				dd[i] = f(x, bb[i])
			}
		default:
			for i := range dd {
				dd[i] = f(a[ao], b[bo])
			}
		}
	})
}

// f32Binary is the float32 arithmetic fast path: whole runs at a time.
// act (not nil) is applied to each run while it is in cache.
func f32Binary(e *env, st *strided, code string, d, a, b []float32, act *activation) {
	forRange(e, st.outer(), 2*st.n, f32BinJob{st, code, d, a, b, act})
}

type f32BinJob struct {
	st      *strided
	code    string
	d, a, b []float32
	act     *activation
}

func (j f32BinJob) chunk(_, lo, hi int) {
	st, code, d, a, b, act := j.st, j.code, j.d, j.a, j.b, j.act
	last := len(st.dims) - 1
	as, bs := st.str[0][last], st.str[1][last]
	n := st.inner
	st.each(lo, hi, func(o int, offs [4]int) {
		dd := d[o : o+n]
		ao, bo := offs[0], offs[1]
		switch {
		case as == 1 && bs == 1:
			f32vv(code, dd, a[ao:ao+n], b[bo:bo+n])
		case as == 1:
			f32vs(code, dd, a[ao:ao+n], b[bo])
		case bs == 1:
			f32sv(code, dd, a[ao], b[bo:bo+n])
		default:
			var x [1]float32
			f32vs(code, x[:], a[ao:ao+1], b[bo])
			for i := range dd {
				dd[i] = x[0]
			}
		}
		act.apply(dd)
	})
}

func f32vv(code string, d, a, b []float32) {
	b = b[:len(d)]
	a = a[:len(d)]
	switch code {
	case "Add":
		if &d[0] == &b[0] {
			kernels.AddTo(d, a)
			return
		}
		copy(d, a)
		kernels.AddTo(d, b)
	case "Mul":
		if &d[0] == &b[0] {
			kernels.MulTo(d, a)
			return
		}
		copy(d, a)
		kernels.MulTo(d, b)
	case "Sub":
		for i := range d {
			d[i] = a[i] - b[i]
		}
	case "Div":
		for i := range d {
			d[i] = a[i] / b[i]
		}
	case "PRelu":
		for i := range d {
			if x := a[i]; x < 0 {
				d[i] = x * b[i]
			} else {
				d[i] = x
			}
		}
	}
}

func f32vs(code string, d, a []float32, s float32) {
	a = a[:len(d)]
	switch code {
	case "Add":
		copy(d, a)
		kernels.AddConst(s, d)
	case "Mul":
		copy(d, a)
		kernels.Scale(s, d)
	case "Sub":
		copy(d, a)
		kernels.AddConst(-s, d)
	case "Div":
		for i := range d {
			d[i] = a[i] / s
		}
	case "PRelu":
		kernels.LeakyRelu(d, a, s)
	}
}

func f32sv(code string, d []float32, s float32, b []float32) {
	b = b[:len(d)]
	switch code {
	case "Add":
		copy(d, b)
		kernels.AddConst(s, d)
	case "Mul":
		copy(d, b)
		kernels.Scale(s, d)
	case "Sub":
		for i := range d {
			d[i] = s - b[i]
		}
	case "Div":
		for i := range d {
			d[i] = s / b[i]
		}
	case "PRelu":
		for i := range d {
			if s < 0 {
				d[i] = s * b[i]
			} else {
				d[i] = s
			}
		}
	}
}

func arithFn[T number](name string) func(a, b T) T {
	switch name {
	case "Add", "Sum":
		return func(a, b T) T { return a + b }
	case "Sub":
		return func(a, b T) T { return a - b }
	case "Mul":
		return func(a, b T) T { return a * b }
	case "Div":
		var z T
		if isInt(z) {
			return func(a, b T) T {
				if b == 0 {
					return 0
				}
				return a / b
			}
		}
		return func(a, b T) T { return a / b }
	case "Max":
		return func(a, b T) T {
			if a != a || a > b {
				return a
			}
			return b
		}
	case "Min":
		return func(a, b T) T {
			if a != a || a < b {
				return a
			}
			return b
		}
	case "PRelu":
		return func(a, b T) T {
			if a < 0 {
				return a * b
			}
			return a
		}
	case "ShiftLeft", "ShiftRight":
		var z T
		if !isUnsigned(z) || !isInt(z) {
			return nil
		}
		left := name == "ShiftLeft"
		return func(a, b T) T {
			if uint64(b) >= 64 {
				return 0
			}
			if left {
				return T(uint64(a) << uint64(b))
			}
			return T(uint64(a) >> uint64(b))
		}
	case "Fmod", "Mod":
		var z T
		if !isInt(z) {
			if name == "Mod" {
				return nil // floats need fmod=1
			}
			return func(a, b T) T { return T(math.Mod(float64(a), float64(b))) }
		}
		floor := name == "Mod" // the result takes the divisor's sign
		return func(a, b T) T {
			if b == 0 {
				return 0
			}
			x, y := int64(a), int64(b)
			if isUnsigned(z) {
				return T(uint64(a) % uint64(b))
			}
			r := x % y
			if floor && r != 0 && (r < 0) != (y < 0) {
				r += y
			}
			return T(r)
		}
	}
	return nil
}

func isUnsigned[T number](x T) bool {
	x = 0
	x--
	return x > 0
}

func isInt[T number](x T) bool {
	x = 1
	x /= 2
	return x == 0
}

func arithRunT[T number](name string) binRun {
	f := arithFn[T](name)
	if f == nil {
		return nil
	}
	return func(e *env, st *strided, out, a, b *tensor.Tensor) {
		binLoop(e, st, view[T](out), view[T](a), view[T](b), f)
	}
}

func arithRun(name string, dt tensor.DType) binRun {
	switch dt {
	case tensor.Float:
		return arithRunT[float32](name)
	case tensor.Double:
		return arithRunT[float64](name)
	case tensor.Int64:
		return arithRunT[int64](name)
	case tensor.Int32:
		return arithRunT[int32](name)
	case tensor.Int16:
		return arithRunT[int16](name)
	case tensor.Int8:
		return arithRunT[int8](name)
	case tensor.Uint8:
		return arithRunT[uint8](name)
	case tensor.Uint16:
		return arithRunT[uint16](name)
	case tensor.Uint32:
		return arithRunT[uint32](name)
	case tensor.Uint64:
		return arithRunT[uint64](name)
	}
	return nil
}

func compareRunT[T number](name string) binRun {
	var f func(a, b T) byte
	switch name {
	case "Equal":
		f = func(a, b T) byte { return b2u(a == b) }
	case "Less":
		f = func(a, b T) byte { return b2u(a < b) }
	case "Greater":
		f = func(a, b T) byte { return b2u(a > b) }
	case "LessOrEqual":
		f = func(a, b T) byte { return b2u(a <= b) }
	case "GreaterOrEqual":
		f = func(a, b T) byte { return b2u(a >= b) }
	}
	return func(e *env, st *strided, out, a, b *tensor.Tensor) {
		binLoop(e, st, out.Raw, view[T](a), view[T](b), f)
	}
}

func compareRun(name string, dt tensor.DType) binRun {
	switch dt {
	case tensor.Float:
		return compareRunT[float32](name)
	case tensor.Double:
		return compareRunT[float64](name)
	case tensor.Int64:
		return compareRunT[int64](name)
	case tensor.Int32:
		return compareRunT[int32](name)
	case tensor.Int16:
		return compareRunT[int16](name)
	case tensor.Int8:
		return compareRunT[int8](name)
	case tensor.Uint8, tensor.Bool:
		if dt == tensor.Bool && name != "Equal" {
			return nil
		}
		return compareRunT[uint8](name)
	case tensor.Uint16:
		return compareRunT[uint16](name)
	case tensor.Uint32:
		return compareRunT[uint32](name)
	case tensor.Uint64:
		return compareRunT[uint64](name)
	}
	return nil
}

func b2u(b bool) byte {
	if b {
		return 1
	}
	return 0
}

func logicFn(name string) func(a, b byte) byte {
	switch name {
	case "And":
		return func(a, b byte) byte { return a & b }
	case "Or":
		return func(a, b byte) byte { return a | b }
	}
	return func(a, b byte) byte { return a ^ b }
}

func powRunAB[A, B number]() binRun {
	return func(e *env, st *strided, out, a, b *tensor.Tensor) {
		binLoop(e, st, view[A](out), view[A](a), view[B](b), func(x A, y B) A {
			return A(math.Pow(float64(x), float64(y)))
		})
	}
}

func powRunA[A number](eb tensor.DType) binRun {
	switch eb {
	case tensor.Float:
		return powRunAB[A, float32]()
	case tensor.Double:
		return powRunAB[A, float64]()
	case tensor.Int64:
		return powRunAB[A, int64]()
	case tensor.Int32:
		return powRunAB[A, int32]()
	case tensor.Uint32:
		return powRunAB[A, uint32]()
	case tensor.Uint64:
		return powRunAB[A, uint64]()
	}
	return nil
}

func powRun(base, exp tensor.DType) binRun {
	switch base {
	case tensor.Float:
		return powRunA[float32](exp)
	case tensor.Double:
		return powRunA[float64](exp)
	case tensor.Int64:
		return powRunA[int64](exp)
	case tensor.Int32:
		return powRunA[int32](exp)
	}
	return nil
}

// variadicOp is Max, Min, Sum or Mean over any number of broadcast inputs.
type variadicOp struct{ name string }

func newVariadic(name string) builder {
	return func(n *graph.Node, opset int64) (op, error) { return &variadicOp{name}, nil }
}

func (o *variadicOp) prepare(c *pctx) (runFunc, error) {
	if len(c.in) == 0 {
		return nil, fmt.Errorf("%s needs at least one input", o.name)
	}
	var shapes [][]int
	dt := c.in[0].dtype
	for _, v := range c.in {
		if v == nil || v.dtype != dt {
			return nil, fmt.Errorf("inputs must all be present and of one type")
		}
		shapes = append(shapes, v.shape)
	}
	shape, err := broadcastShape(shapes...)
	if err != nil {
		return nil, err
	}
	c.set(0, dt, shape)
	fname := o.name
	if fname == "Mean" {
		fname = "Sum"
	}
	run := arithRun(fname, dt)
	if run == nil || (o.name == "Mean" && !dt.IsFloat()) {
		return nil, errDType(c, dt)
	}
	// Accumulate into the output: out = in0 (broadcast), then out op= ini.
	outStr := bcastStrides(shape, shape)
	var its []*strided
	for _, v := range c.in {
		st, err := newStrided(shape, outStr, bcastStrides(v.shape, shape))
		if err != nil {
			return nil, err
		}
		its = append(its, st)
	}
	first, err := newStrided(shape, bcastStrides(c.in[0].shape, shape))
	if err != nil {
		return nil, err
	}
	mean := o.name == "Mean"
	nIn := len(c.in)
	return func(e *env, in, out []*tensor.Tensor) error {
		copyStrided(first, out[0], in[0])
		for i := 1; i < len(in); i++ {
			run(e, its[i], out[0], out[0], in[i])
		}
		if mean {
			switch dt {
			case tensor.Float:
				kernels.Scale(1/float32(nIn), out[0].F32)
			case tensor.Double:
				for j, v := range view[float64](out[0]) {
					view[float64](out[0])[j] = v / float64(nIn)
				}
			}
		}
		return nil
	}, nil
}

// copyStrided copies src into dst along the iteration st (one operand).
func copyStrided(st *strided, dst, src *tensor.Tensor) {
	switch dst.DType.Size() {
	case 1:
		copyStridedT(st, view[uint8](dst), view[uint8](src))
	case 2:
		copyStridedT(st, view[uint16](dst), view[uint16](src))
	case 4:
		copyStridedT(st, view[uint32](dst), view[uint32](src))
	case 8:
		copyStridedT(st, view[uint64](dst), view[uint64](src))
	}
}

func copyStridedT[T any](st *strided, d, s []T) {
	last := len(st.dims) - 1
	ss := st.str[0][last]
	n := st.inner
	st.each(0, st.outer(), func(o int, offs [4]int) {
		dd := d[o : o+n]
		if ss == 1 {
			copy(dd, s[offs[0]:offs[0]+n])
			return
		}
		x := s[offs[0]]
		for i := range dd {
			dd[i] = x
		}
	})
}
