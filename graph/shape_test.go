package graph

import (
	"fmt"
	"strings"
	"testing"

	"github.com/podaml/poda/tensor"
)

func int64Init(name string, vals ...int64) *Tensor {
	return &Tensor{Name: name, Tensor: *tensor.FromInt64(vals, len(vals))}
}

func model(opset int64, inputs []*Value, inits []*Tensor, nodes ...*Node) *Model {
	return &Model{IRVersion: 8, Opsets: []Opset{{Version: opset}}, Graph: &Graph{Name: "g", Inputs: inputs, Initializers: inits, Nodes: nodes}}
}

func fnode(op string, in []string, out ...string) *Node {
	return &Node{Name: op, OpType: op, Inputs: in, Outputs: out}
}

// noPanic runs InferShapes and reports a panic as a test failure.
func noPanic(t *testing.T, m *Model) (s Shapes, err error) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("InferShapes panicked: %v", r)
		}
	}()
	return InferShapes(m, nil)
}

func TestInferShapesBasics(t *testing.T) {
	x := &Value{Name: "x", DType: tensor.Float, Shape: Shape{Size(2), Size(3), Size(8), Size(8)}}
	w := &Tensor{Name: "w", Tensor: *tensor.New(16, 3, 3, 3)}
	conv := fnode("Conv", []string{"x", "w"}, "c")
	conv.SetInts("pads", []int64{1, 1, 1, 1})
	conv.SetInts("strides", []int64{2, 2})
	shape := fnode("Shape", []string{"c"}, "s")
	gather := fnode("Gather", []string{"s", "idx"}, "n")
	concat := fnode("Concat", []string{"n", "rest"}, "target")
	reshape := fnode("Reshape", []string{"c", "target"}, "r")
	m := model(13, []*Value{x}, []*Tensor{w, int64Init("idx", 0), int64Init("rest", 256)}, conv, shape, gather, concat, reshape)
	s, err := noPanic(t, m)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Shape("c").String(); got != "[2 16 4 4]" {
		t.Errorf("Conv: %s", got)
	}
	if got := s.Shape("r").String(); got != "[2 256]" {
		t.Errorf("Reshape: %s", got)
	}
}

// §A.8: attributes that disagree with the shapes are errors naming the
// node, never panics.
func TestInferShapesRejects(t *testing.T) {
	x := &Value{Name: "x", DType: tensor.Float, Shape: ShapeOf(2, 3, 4)}
	for _, tc := range []struct {
		name string
		node func() *Node
		want string
	}{
		{"transpose perm out of range", func() *Node {
			n := fnode("Transpose", []string{"x"}, "y")
			n.SetInts("perm", []int64{0, 1, 3})
			return n
		}, "not a permutation"},
		{"transpose perm repeated", func() *Node {
			n := fnode("Transpose", []string{"x"}, "y")
			n.SetInts("perm", []int64{0, 1, 1})
			return n
		}, "not a permutation"},
		{"transpose perm short", func() *Node { n := fnode("Transpose", []string{"x"}, "y"); n.SetInts("perm", []int64{0}); return n }, "does not match rank"},
		{"gather axis", func() *Node { n := fnode("Gather", []string{"x", "k"}, "y"); n.SetInt("axis", 3); return n }, "out of range"},
		{"flatten axis", func() *Node { n := fnode("Flatten", []string{"x"}, "y"); n.SetInt("axis", -4); return n }, "out of range"},
		{"concat axis", func() *Node { n := fnode("Concat", []string{"x", "x"}, "y"); n.SetInt("axis", 5); return n }, "out of range"},
		{"reduce axes", func() *Node { n := fnode("ReduceMean", []string{"x"}, "y"); n.SetInts("axes", []int64{-9}); return n }, "out of range"},
		{"squeeze axes", func() *Node { n := fnode("Squeeze", []string{"x"}, "y"); n.SetInts("axes", []int64{3}); return n }, "out of range"},
		{"split axis", func() *Node { n := fnode("Split", []string{"x"}, "y"); n.SetInt("axis", 7); return n }, "out of range"},
		{"gemm ranks", func() *Node { return fnode("Gemm", []string{"x", "x"}, "y") }, "2-D"},
		{"matmul inner", func() *Node { return fnode("MatMul", []string{"x", "x"}, "y") }, "inner dimensions"},
		{"conv group", func() *Node { n := fnode("Conv", []string{"x", "w"}, "y"); n.SetInt("group", 0); return n }, "group"},
		{"conv channels", func() *Node { n := fnode("Conv", []string{"x", "w"}, "y"); n.SetInt("group", 2); return n }, "channels"},
		{"conv strides", func() *Node { n := fnode("Conv", []string{"x", "w"}, "y"); n.SetInts("strides", []int64{0}); return n }, "positive"},
		{"conv kernel too big", func() *Node {
			n := fnode("Conv", []string{"x", "w"}, "y")
			n.SetInts("dilations", []int64{9})
			return n
		}, "larger than the padded input"},
		{"broadcast", func() *Node { return fnode("Add", []string{"x", "w"}, "y") }, "do not broadcast"},
		{"reshape count", func() *Node { return fnode("Reshape", []string{"x", "k"}, "y") }, "cannot reshape"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := tc.node()
			w := &Tensor{Name: "w", Tensor: *tensor.New(5, 3, 2)}
			m := model(13, []*Value{x}, []*Tensor{w, int64Init("k", 5)}, n)
			_, err := noPanic(t, m)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), n.String()) {
				t.Errorf("err = %v; want one naming %s and %q", err, n, tc.want)
			}
		})
	}
}

// Found by reading and fuzzing: Slice with fewer axes or steps than
// starts indexed past them.
func TestInferShapesSliceShortAxes(t *testing.T) {
	x := &Value{Name: "x", DType: tensor.Float, Shape: ShapeOf(4, 5)}
	for _, in := range [][]string{
		{"x", "two", "two", "one"},
		{"x", "two", "two", "", "one"},
		{"x", "two", "two", "two", "one"},
	} {
		m := model(13, []*Value{x}, []*Tensor{int64Init("two", 0, 1), int64Init("one", 1)}, fnode("Slice", in, "y"))
		noPanic(t, m)
	}
	n := fnode("Slice", []string{"x"}, "y")
	n.SetInts("starts", []int64{0, 0})
	n.SetInts("ends", []int64{1, 1})
	n.SetInts("axes", []int64{1})
	noPanic(t, model(9, []*Value{x}, nil, n))
}

// Found by reading: integer arithmetic on an empty shape value and a
// one-element one indexed element -1.
func TestInferShapesEmptyValueArith(t *testing.T) {
	for _, op := range []string{"Add", "Sub", "Mul", "Div"} {
		m := model(13, nil, []*Tensor{int64Init("empty"), int64Init("one", 3)},
			fnode(op, []string{"empty", "one"}, "y"), fnode(op, []string{"one", "empty"}, "z"))
		noPanic(t, m)
	}
}

// Found by reading: each Concat of a shape value with itself doubled the
// followed values, so 40 nodes asked for 2^40 of them.
func TestInferShapesConcatValuesBounded(t *testing.T) {
	nodes := []*Node{}
	prev := "k"
	for i := range 40 {
		out := fmt.Sprintf("c%d", i)
		nodes = append(nodes, fnode("Concat", []string{prev, prev}, out))
		prev = out
	}
	s, err := noPanic(t, model(13, nil, []*Tensor{int64Init("k", 1)}, nodes...))
	if err != nil {
		t.Fatal(err)
	}
	for name, info := range s {
		if len(info.Value) > maxValueElems {
			t.Fatalf("%s follows %d values, over %d", name, len(info.Value), maxValueElems)
		}
	}
}
