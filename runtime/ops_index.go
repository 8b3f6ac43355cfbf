package runtime

import (
	"fmt"
	"math"
	"sort"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/tensor"
)

// Indexing and rearranging ops: GatherElements, GatherND, ScatterElements
// (and the older Scatter), ScatterND, OneHot, TopK, CumSum, Trilu,
// EyeLike, DepthToSpace and SpaceToDepth. Index inputs may be int32 or
// int64 and negative (counted from the end).

func init() {
	register("", "GatherElements", 11, 99, func(n *graph.Node, opset int64) (op, error) {
		return &gatherElementsOp{axis: n.Int("axis", 0)}, nil
	})
	register("", "ScatterElements", 11, 99, func(n *graph.Node, opset int64) (op, error) {
		return &scatterElementsOp{axis: n.Int("axis", 0), reduction: n.Str("reduction", "none")}, nil
	})
	register("", "Scatter", 9, 10, func(n *graph.Node, opset int64) (op, error) {
		return &scatterElementsOp{axis: n.Int("axis", 0), reduction: "none"}, nil
	})
	register("", "GatherND", 11, 99, func(n *graph.Node, opset int64) (op, error) {
		return &gatherNDOp{batchDims: int(n.Int("batch_dims", 0))}, nil
	})
	register("", "ScatterND", 11, 99, func(n *graph.Node, opset int64) (op, error) {
		return &scatterNDOp{reduction: n.Str("reduction", "none")}, nil
	})
	register("", "OneHot", 9, 99, func(n *graph.Node, opset int64) (op, error) {
		return &oneHotOp{axis: n.Int("axis", -1)}, nil
	})
	register("", "TopK", 10, 99, func(n *graph.Node, opset int64) (op, error) {
		return &topKOp{axis: n.Int("axis", -1), largest: n.Int("largest", 1) != 0, sorted: n.Int("sorted", 1) != 0}, nil
	})
	register("", "CumSum", 11, 99, func(n *graph.Node, opset int64) (op, error) {
		return &cumSumOp{exclusive: n.Int("exclusive", 0) != 0, reverse: n.Int("reverse", 0) != 0}, nil
	})
	register("", "Trilu", 14, 99, func(n *graph.Node, opset int64) (op, error) {
		return &triluOp{upper: n.Int("upper", 1) != 0}, nil
	})
	register("", "EyeLike", 9, 99, func(n *graph.Node, opset int64) (op, error) {
		return &eyeLikeOp{dtype: tensor.DType(n.Int("dtype", 0)), k: int(n.Int("k", 0))}, nil
	})
	register("", "DepthToSpace", 1, 99, func(n *graph.Node, opset int64) (op, error) {
		return &depthSpaceOp{toSpace: true, b: int(n.Int("blocksize", 0)), crd: n.Str("mode", "DCR") == "CRD"}, nil
	})
	register("", "SpaceToDepth", 1, 99, func(n *graph.Node, opset int64) (op, error) {
		return &depthSpaceOp{b: int(n.Int("blocksize", 0))}, nil
	})
}

// index reads index i of an int32 or int64 tensor, wrapping negatives by
// dim and checking the range.
func index(t *tensor.Tensor, i, dim int) (int, error) {
	k := getI64(t, t.DType, i)
	if k < 0 {
		k += int64(dim)
	}
	if k < 0 || k >= int64(dim) {
		return 0, fmt.Errorf("index %d out of range for dim %d", getI64(t, t.DType, i), dim)
	}
	return int(k), nil
}

func isIndexType(dt tensor.DType) bool { return dt == tensor.Int64 || dt == tensor.Int32 }

// copyElem copies element si of src to element di of dst (same type).
func copyElem(dst *tensor.Tensor, di int, src *tensor.Tensor, si int) {
	es := dst.DType.Size()
	copy(bytesOf(dst)[di*es:(di+1)*es], bytesOf(src)[si*es:(si+1)*es])
}

// reduceElem combines element si of src into element di of dst.
func reduceElem(reduction string, dst *tensor.Tensor, di int, src *tensor.Tensor, si int) {
	dt := dst.DType
	if reduction == "none" {
		copyElem(dst, di, src, si)
		return
	}
	if dt.IsFloat() {
		a, b := getF64(dst, dt, di), getF64(src, dt, si)
		setF64(dst, dt, di, combine(reduction, a, b))
		return
	}
	a, b := getI64(dst, dt, di), getI64(src, dt, si)
	setI64(dst, dt, di, int64(combine(reduction, float64(a), float64(b))))
}

func combine(reduction string, a, b float64) float64 {
	switch reduction {
	case "add":
		return a + b
	case "mul":
		return a * b
	case "max":
		return math.Max(a, b)
	case "min":
		return math.Min(a, b)
	}
	return b
}

type gatherElementsOp struct{ axis int64 }

func (o *gatherElementsOp) prepare(c *pctx) (runFunc, error) {
	x, idx := c.input(0), c.input(1)
	ax, err := normAxis(o.axis, len(x.shape))
	if err != nil {
		return nil, err
	}
	if !isIndexType(idx.dtype) || len(idx.shape) != len(x.shape) {
		return nil, fmt.Errorf("indices %v (%s) for data %v", idx.shape, idx.dtype, x.shape)
	}
	c.set(0, x.dtype, idx.shape)
	xs, is := tensor.Strides(x.shape), tensor.Strides(idx.shape)
	n := idx.numel()
	return func(e *env, in, out []*tensor.Tensor) error {
		for i := 0; i < n; i++ {
			off, rem := 0, i
			for d := range is {
				j := rem / is[d]
				rem %= is[d]
				if d == ax {
					k, err := index(in[1], i, x.shape[ax])
					if err != nil {
						return err
					}
					j = k
				}
				off += j * xs[d]
			}
			copyElem(out[0], i, in[0], off)
		}
		return nil
	}, nil
}

type scatterElementsOp struct {
	axis      int64
	reduction string
}

func (o *scatterElementsOp) prepare(c *pctx) (runFunc, error) {
	x, idx, upd := c.input(0), c.input(1), c.input(2)
	ax, err := normAxis(o.axis, len(x.shape))
	if err != nil {
		return nil, err
	}
	if !isIndexType(idx.dtype) || !sameInts(idx.shape, upd.shape) || upd.dtype != x.dtype {
		return nil, fmt.Errorf("indices %v and updates %v do not match", idx.shape, upd.shape)
	}
	if o.reduction != "none" && (x.dtype == tensor.Bool || !castable(x.dtype)) {
		return nil, errDType(c, x.dtype)
	}
	c.set(0, x.dtype, x.shape)
	xs, is := tensor.Strides(x.shape), tensor.Strides(idx.shape)
	n := idx.numel()
	red := o.reduction
	return func(e *env, in, out []*tensor.Tensor) error {
		copy(bytesOf(out[0]), bytesOf(in[0]))
		for i := 0; i < n; i++ {
			off, rem := 0, i
			for d := range is {
				j := rem / is[d]
				rem %= is[d]
				if d == ax {
					k, err := index(in[1], i, x.shape[ax])
					if err != nil {
						return err
					}
					j = k
				}
				off += j * xs[d]
			}
			reduceElem(red, out[0], off, in[2], i)
		}
		return nil
	}, nil
}

// ndIndex resolves index tuples of the last dim of indices into element
// offsets of data's first q dims (after b batch dims).
func ndOffsets(indices *tensor.Tensor, dataShape []int, b int) ([]int, error) {
	q := indices.Shape[len(indices.Shape)-1]
	n := indices.Numel() / max(q, 1)
	if q == 0 {
		n = tensor.Prod(indices.Shape[:len(indices.Shape)-1])
	}
	ds := tensor.Strides(dataShape)
	batch := tensor.Prod(dataShape[:b])
	perBatch := n / max(batch, 1)
	offs := make([]int, n)
	for i := 0; i < n; i++ {
		off := 0
		if b > 0 {
			bi := i / perBatch
			rem := bi
			for d := b - 1; d >= 0; d-- {
				off += (rem % dataShape[d]) * ds[d]
				rem /= dataShape[d]
			}
		}
		for j := 0; j < q; j++ {
			k, err := index(indices, i*q+j, dataShape[b+j])
			if err != nil {
				return nil, err
			}
			off += k * ds[b+j]
		}
		offs[i] = off
	}
	return offs, nil
}

type gatherNDOp struct{ batchDims int }

func (o *gatherNDOp) prepare(c *pctx) (runFunc, error) {
	x, idx := c.input(0), c.input(1)
	b := o.batchDims
	if !isIndexType(idx.dtype) || len(idx.shape) < 1 || b >= len(idx.shape) || b > len(x.shape) {
		return nil, fmt.Errorf("indices %v for data %v", idx.shape, x.shape)
	}
	q := idx.shape[len(idx.shape)-1]
	if b+q > len(x.shape) {
		return nil, fmt.Errorf("index tuples of %d for data %v", q, x.shape)
	}
	shape := append(cloneInts(idx.shape[:len(idx.shape)-1]), x.shape[b+q:]...)
	c.set(0, x.dtype, shape)
	slice := tensor.Prod(x.shape[b+q:])
	es := x.dtype.Size()
	return func(e *env, in, out []*tensor.Tensor) error {
		offs, err := ndOffsets(in[1], x.shape, b)
		if err != nil {
			return err
		}
		s, d := bytesOf(in[0]), bytesOf(out[0])
		for i, off := range offs {
			copy(d[i*slice*es:(i+1)*slice*es], s[off*es:(off+slice)*es])
		}
		return nil
	}, nil
}

type scatterNDOp struct{ reduction string }

func (o *scatterNDOp) prepare(c *pctx) (runFunc, error) {
	x, idx, upd := c.input(0), c.input(1), c.input(2)
	if !isIndexType(idx.dtype) || len(idx.shape) < 1 || upd.dtype != x.dtype {
		return nil, fmt.Errorf("indices %v for data %v", idx.shape, x.shape)
	}
	q := idx.shape[len(idx.shape)-1]
	if q > len(x.shape) {
		return nil, fmt.Errorf("index tuples of %d for data %v", q, x.shape)
	}
	if o.reduction != "none" && (x.dtype == tensor.Bool || !castable(x.dtype)) {
		return nil, errDType(c, x.dtype)
	}
	c.set(0, x.dtype, x.shape)
	slice := tensor.Prod(x.shape[q:])
	red := o.reduction
	return func(e *env, in, out []*tensor.Tensor) error {
		copy(bytesOf(out[0]), bytesOf(in[0]))
		offs, err := ndOffsets(in[1], x.shape, 0)
		if err != nil {
			return err
		}
		for i, off := range offs {
			for j := 0; j < slice; j++ {
				reduceElem(red, out[0], off+j, in[2], i*slice+j)
			}
		}
		return nil
	}, nil
}

type oneHotOp struct{ axis int64 }

func (o *oneHotOp) shapeInputs() []int { return []int{1} }

func (o *oneHotOp) prepare(c *pctx) (runFunc, error) {
	idx, vals := c.input(0), c.input(2)
	dt, err := c.konst(1, "depth")
	if err != nil {
		return nil, err
	}
	var depth int
	if dt.DType.IsFloat() {
		depth = int(getF64(dt, dt.DType, 0))
	} else {
		depth = int(getI64(dt, dt.DType, 0))
	}
	if depth <= 0 || vals.numel() != 2 {
		return nil, fmt.Errorf("depth %d, values %v", depth, vals.shape)
	}
	r := len(idx.shape) + 1
	ax, err := normAxis(o.axis, r)
	if err != nil {
		return nil, err
	}
	shape := append(append(cloneInts(idx.shape[:ax]), depth), idx.shape[ax:]...)
	c.set(0, vals.dtype, shape)
	outer, inner := tensor.Prod(idx.shape[:ax]), tensor.Prod(idx.shape[ax:])
	it := idx.dtype
	return func(e *env, in, out []*tensor.Tensor) error {
		for i := 0; i < outer*depth*inner; i++ {
			copyElem(out[0], i, in[2], 0)
		}
		for p := 0; p < outer; p++ {
			for j := 0; j < inner; j++ {
				var k int64
				if it.IsFloat() {
					k = int64(getF64(in[0], it, p*inner+j))
				} else {
					k = getI64(in[0], it, p*inner+j)
				}
				if k < 0 {
					k += int64(depth)
				}
				if k >= 0 && k < int64(depth) {
					copyElem(out[0], (p*depth+int(k))*inner+j, in[2], 1)
				}
			}
		}
		return nil
	}, nil
}

type topKOp struct {
	axis            int64
	largest, sorted bool
}

func (o *topKOp) shapeInputs() []int { return []int{1} }

func (o *topKOp) prepare(c *pctx) (runFunc, error) {
	x := c.input(0)
	kt, err := c.konst(1, "K")
	if err != nil {
		return nil, err
	}
	k := int(getI64(kt, kt.DType, 0))
	ax, err := normAxis(o.axis, len(x.shape))
	if err != nil {
		return nil, err
	}
	if k < 0 || k > x.shape[ax] {
		return nil, fmt.Errorf("K %d for axis of %d", k, x.shape[ax])
	}
	if !castable(x.dtype) || x.dtype == tensor.Bool {
		return nil, errDType(c, x.dtype)
	}
	shape := cloneInts(x.shape)
	shape[ax] = k
	c.set(0, x.dtype, shape)
	c.set(1, tensor.Int64, shape)
	outer, dim, inner := tensor.Prod(x.shape[:ax]), x.shape[ax], tensor.Prod(x.shape[ax+1:])
	dtp := x.dtype
	largest := o.largest
	return func(e *env, in, out []*tensor.Tensor) error {
		order := make([]int, dim)
		vals := make([]float64, dim)
		for p := 0; p < outer; p++ {
			for j := 0; j < inner; j++ {
				for i := 0; i < dim; i++ {
					order[i] = i
					src := (p*dim+i)*inner + j
					if dtp.IsFloat() {
						vals[i] = getF64(in[0], dtp, src)
					} else {
						vals[i] = float64(getI64(in[0], dtp, src))
					}
				}
				sort.SliceStable(order, func(a, b int) bool {
					if largest {
						return vals[order[a]] > vals[order[b]]
					}
					return vals[order[a]] < vals[order[b]]
				})
				for i := 0; i < k; i++ {
					dst := (p*k+i)*inner + j
					copyElem(out[0], dst, in[0], (p*dim+order[i])*inner+j)
					if len(out) > 1 && out[1] != nil {
						out[1].I64[dst] = int64(order[i])
					}
				}
			}
		}
		return nil
	}, nil
}

type cumSumOp struct{ exclusive, reverse bool }

func (o *cumSumOp) shapeInputs() []int { return []int{1} }

func (o *cumSumOp) prepare(c *pctx) (runFunc, error) {
	x := c.input(0)
	at, err := c.konst(1, "axis")
	if err != nil {
		return nil, err
	}
	ax, err := normAxis(getI64(at, at.DType, 0), len(x.shape))
	if err != nil {
		return nil, err
	}
	if !castable(x.dtype) || x.dtype == tensor.Bool {
		return nil, errDType(c, x.dtype)
	}
	c.set(0, x.dtype, x.shape)
	outer, dim, inner := tensor.Prod(x.shape[:ax]), x.shape[ax], tensor.Prod(x.shape[ax+1:])
	dt := x.dtype
	return func(e *env, in, out []*tensor.Tensor) error {
		for p := 0; p < outer; p++ {
			for j := 0; j < inner; j++ {
				var fs float64
				var is int64
				for s := 0; s < dim; s++ {
					i := s
					if o.reverse {
						i = dim - 1 - s
					}
					at := (p*dim+i)*inner + j
					var fv float64
					var iv int64
					if dt.IsFloat() {
						fv = getF64(in[0], dt, at)
					} else {
						iv = getI64(in[0], dt, at)
					}
					if !o.exclusive {
						fs += fv
						is += iv
					}
					if dt.IsFloat() {
						setF64(out[0], dt, at, fs)
					} else {
						setI64(out[0], dt, at, is)
					}
					if o.exclusive {
						fs += fv
						is += iv
					}
				}
			}
		}
		return nil
	}, nil
}

type triluOp struct{ upper bool }

func (o *triluOp) prepare(c *pctx) (runFunc, error) {
	x := c.input(0)
	if len(x.shape) < 2 {
		return nil, fmt.Errorf("input %v is not a matrix", x.shape)
	}
	c.set(0, x.dtype, x.shape)
	r := len(x.shape)
	rows, cols := x.shape[r-2], x.shape[r-1]
	mats := tensor.Prod(x.shape[:r-2])
	es := x.dtype.Size()
	return func(e *env, in, out []*tensor.Tensor) error {
		k := 0
		if len(in) > 1 && in[1] != nil {
			k = int(getI64(in[1], in[1].DType, 0))
		}
		s, d := bytesOf(in[0]), bytesOf(out[0])
		copy(d, s)
		for m := 0; m < mats; m++ {
			for i := 0; i < rows; i++ {
				for j := 0; j < cols; j++ {
					keep := j-i >= k
					if !o.upper {
						keep = j-i <= k
					}
					if !keep {
						at := ((m*rows+i)*cols + j) * es
						clear(d[at : at+es])
					}
				}
			}
		}
		return nil
	}, nil
}

type eyeLikeOp struct {
	dtype tensor.DType
	k     int
}

func (o *eyeLikeOp) prepare(c *pctx) (runFunc, error) {
	x := c.input(0)
	if len(x.shape) != 2 {
		return nil, fmt.Errorf("input %v is not a matrix", x.shape)
	}
	dt := o.dtype
	if dt == tensor.Undefined {
		dt = x.dtype
	}
	if !castable(dt) {
		return nil, errDType(c, dt)
	}
	c.set(0, dt, x.shape)
	rows, cols, k := x.shape[0], x.shape[1], o.k
	return func(e *env, in, out []*tensor.Tensor) error {
		clear(bytesOf(out[0]))
		for i := 0; i < rows; i++ {
			if j := i + k; j >= 0 && j < cols {
				if dt.IsFloat() {
					setF64(out[0], dt, i*cols+j, 1)
				} else {
					setI64(out[0], dt, i*cols+j, 1)
				}
			}
		}
		return nil
	}, nil
}

type depthSpaceOp struct {
	toSpace bool
	b       int
	crd     bool
}

func (o *depthSpaceOp) prepare(c *pctx) (runFunc, error) {
	x := c.input(0)
	if len(x.shape) != 4 || o.b <= 0 {
		return nil, fmt.Errorf("input %v, blocksize %d", x.shape, o.b)
	}
	N, C, H, W := x.shape[0], x.shape[1], x.shape[2], x.shape[3]
	b := o.b
	// Map every output element to its input element.
	var shape []int
	var src []int
	if o.toSpace {
		if C%(b*b) != 0 {
			return nil, fmt.Errorf("%d channels for blocksize %d", C, b)
		}
		Co := C / (b * b)
		shape = []int{N, Co, H * b, W * b}
		src = make([]int, 0, tensor.Prod(shape))
		for n := 0; n < N; n++ {
			for co := 0; co < Co; co++ {
				for y := 0; y < H*b; y++ {
					for xx := 0; xx < W*b; xx++ {
						i, j := y%b, xx%b
						ci := (i*b+j)*Co + co
						if o.crd {
							ci = co*b*b + i*b + j
						}
						src = append(src, ((n*C+ci)*H+y/b)*W+xx/b)
					}
				}
			}
		}
	} else {
		if H%b != 0 || W%b != 0 {
			return nil, fmt.Errorf("spatial %dx%d for blocksize %d", H, W, b)
		}
		shape = []int{N, C * b * b, H / b, W / b}
		src = make([]int, 0, tensor.Prod(shape))
		for n := 0; n < N; n++ {
			for co := 0; co < C*b*b; co++ {
				blk, ci := co/C, co%C
				i, j := blk/b, blk%b
				for y := 0; y < H/b; y++ {
					for xx := 0; xx < W/b; xx++ {
						src = append(src, ((n*C+ci)*H+y*b+i)*W+xx*b+j)
					}
				}
			}
		}
	}
	c.set(0, x.dtype, shape)
	return func(e *env, in, out []*tensor.Tensor) error {
		for i, s := range src {
			copyElem(out[0], i, in[0], s)
		}
		return nil
	}, nil
}
