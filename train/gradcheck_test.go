package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/onnx/pb"
	"github.com/podaml/poda/tensor"
	"google.golang.org/protobuf/proto"
)

// node builds a graph node; attrs are name, value pairs (int, []int,
// float32, string, *tensor.Tensor).
func node(op string, in, out []string, attrs ...any) *graph.Node {
	n := &graph.Node{OpType: op, Inputs: in, Outputs: out}
	for i := 0; i < len(attrs); i += 2 {
		name := attrs[i].(string)
		switch v := attrs[i+1].(type) {
		case int:
			n.SetInt(name, int64(v))
		case []int:
			n.SetInts(name, toI64(v))
		case float32:
			n.SetFloat(name, v)
		case string:
			n.Attrs = append(n.Attrs, &pb.AttributeProto{Name: proto.String(name), Type: pb.AttributeProto_STRING.Enum(), S: []byte(v)})
		case *tensor.Tensor:
			n.SetTensor(name, v)
		default:
			panic(fmt.Sprintf("attr %s: %T", name, v))
		}
	}
	return n
}

// model builds a one-input model with opset 17.
func model(nodes []*graph.Node, inits map[string]*tensor.Tensor, output string) *graph.Model {
	g := &graph.Graph{Nodes: nodes,
		Inputs:  []*graph.Value{{Name: "x", DType: tensor.Float}},
		Outputs: []*graph.Value{{Name: output, DType: tensor.Float}}}
	names := make([]string, 0, len(inits))
	for name := range inits {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		g.Initializers = append(g.Initializers, &graph.Tensor{Name: name, Tensor: *inits[name]})
	}
	return &graph.Model{IRVersion: 8, Opsets: []graph.Opset{{Domain: "", Version: 17}}, Graph: g}
}

func randT(r *rand.Rand, shape ...int) *tensor.Tensor {
	t := tensor.New(shape...)
	for i := range t.F32 {
		t.F32[i] = float32(r.NormFloat64())
	}
	return t
}

func ints(v ...int64) *tensor.Tensor { return tensor.FromInt64(v, len(v)) }

// gradCheck compares the program's gradients of L = Σ out·R with central
// finite differences, for the input and every parameter (a sample of
// elements each).
func gradCheck(t *testing.T, m *graph.Model, xShape []int, opt Options) {
	t.Helper()
	opt.InputGrad = true
	p, err := Compile(m, opt)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	x := randT(r, xShape...)
	rng0 := p.rng
	p.rng = rng0
	out, err := p.Forward(x, true)
	if err != nil {
		t.Fatal(err)
	}
	R := make([]float32, len(out.F32))
	for i := range R {
		R[i] = float32(r.NormFloat64())
	}
	L := func() float64 {
		p.rng = rng0
		out, err := p.Forward(x, true)
		if err != nil {
			t.Fatal(err)
		}
		var s float64
		for i, v := range out.F32 {
			s += float64(v) * float64(R[i])
		}
		return s
	}
	L()
	if err := p.Backward(R); err != nil {
		t.Fatal(err)
	}
	type target struct {
		name string
		data []float32
		grad []float32
	}
	targets := []target{{"input", x.F32, append([]float32(nil), p.InputGrad()...)}}
	for _, q := range p.Params() {
		targets = append(targets, target{q.Name, q.Data, append([]float32(nil), q.Grad...)})
	}
	const eps = 3e-3
	for _, tg := range targets {
		idx := r.Perm(len(tg.data))
		if len(idx) > 24 {
			idx = idx[:24]
		}
		bad := 0
		for _, i := range idx {
			old := tg.data[i]
			tg.data[i] = old + eps
			lp := L()
			tg.data[i] = old - eps
			lm := L()
			tg.data[i] = old
			fd := (lp - lm) / (2 * eps)
			g := float64(tg.grad[i])
			if math.Abs(g-fd) > 2e-2*math.Max(math.Abs(g), math.Abs(fd))+5e-3 {
				bad++
				if bad <= 3 {
					t.Errorf("%s[%d]: grad %.6g, finite difference %.6g", tg.name, i, g, fd)
				}
			}
		}
	}
}

func TestGradConv(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	cases := []struct {
		name  string
		x     []int
		w     []int
		bias  bool
		attrs []any
	}{
		{"plain", []int{2, 3, 6, 6}, []int{4, 3, 3, 3}, true, nil},
		{"padded-strided", []int{2, 3, 7, 6}, []int{4, 3, 3, 2}, true, []any{"pads", []int{1, 0, 2, 1}, "strides", []int{2, 2}}},
		{"dilated", []int{1, 2, 7, 7}, []int{3, 2, 3, 3}, false, []any{"dilations", []int{2, 1}, "pads", []int{1, 1, 1, 1}}},
		{"groups", []int{2, 4, 5, 5}, []int{6, 2, 3, 3}, true, []any{"group", 2, "pads", []int{1, 1, 1, 1}}},
		{"depthwise", []int{2, 4, 6, 6}, []int{4, 1, 3, 3}, true, []any{"group", 4, "strides", []int{2, 2}, "pads", []int{1, 1, 1, 1}}},
		{"same-upper", []int{1, 2, 5, 5}, []int{2, 2, 2, 2}, false, []any{"auto_pad", "SAME_UPPER", "strides", []int{2, 2}}},
		{"1d", []int{2, 3, 9}, []int{4, 3, 3}, true, []any{"pads", []int{1, 1}, "strides", []int{2}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			inits := map[string]*tensor.Tensor{"w": randT(r, c.w...)}
			in := []string{"x", "w"}
			if c.bias {
				inits["b"] = randT(r, c.w[0])
				in = append(in, "b")
			}
			attrs := append([]any{"kernel_shape", c.w[2:]}, c.attrs...)
			m := model([]*graph.Node{node("Conv", in, []string{"y"}, attrs...)}, inits, "y")
			gradCheck(t, m, c.x, Options{})
			// frozen weight: the columns are not kept
			gradCheck(t, m, c.x, Options{Freeze: []string{"w"}})
		})
	}
}

func TestGradGemmMatMul(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, c := range []struct {
		name  string
		x     []int
		inits map[string]*tensor.Tensor
		in    []string
		attrs []any
		op    string
	}{
		{"gemm", []int{3, 4}, map[string]*tensor.Tensor{"w": randT(r, 4, 5), "b": randT(r, 5)}, []string{"x", "w", "b"}, nil, "Gemm"},
		{"gemm-transB-alpha-beta", []int{3, 4}, map[string]*tensor.Tensor{"w": randT(r, 5, 4), "b": randT(r, 1, 5)}, []string{"x", "w", "b"}, []any{"transB", 1, "alpha", float32(0.7), "beta", float32(1.3)}, "Gemm"},
		{"gemm-transA-colbias", []int{4, 3}, map[string]*tensor.Tensor{"w": randT(r, 4, 5), "b": randT(r, 3, 1)}, []string{"x", "w", "b"}, []any{"transA", 1}, "Gemm"},
		{"gemm-both-trans-scalar", []int{4, 3}, map[string]*tensor.Tensor{"w": randT(r, 5, 4), "b": randT(r, 1)}, []string{"x", "w", "b"}, []any{"transA", 1, "transB", 1}, "Gemm"},
		{"gemm-weight-first", []int{4, 5}, map[string]*tensor.Tensor{"w": randT(r, 3, 4)}, []string{"w", "x"}, nil, "Gemm"},
		{"matmul-2d", []int{3, 4}, map[string]*tensor.Tensor{"w": randT(r, 4, 5)}, []string{"x", "w"}, nil, "MatMul"},
		{"matmul-batched-weight", []int{2, 3, 4}, map[string]*tensor.Tensor{"w": randT(r, 4, 5)}, []string{"x", "w"}, nil, "MatMul"},
		{"matmul-broadcast", []int{2, 1, 3, 4}, map[string]*tensor.Tensor{"w": randT(r, 3, 4, 2)}, []string{"x", "w"}, nil, "MatMul"},
		{"matmul-vector", []int{4}, map[string]*tensor.Tensor{"w": randT(r, 2, 4, 3)}, []string{"x", "w"}, nil, "MatMul"},
		{"matmul-weight-left", []int{2, 4, 3}, map[string]*tensor.Tensor{"w": randT(r, 5, 4)}, []string{"w", "x"}, nil, "MatMul"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := model([]*graph.Node{node(c.op, c.in, []string{"y"}, c.attrs...)}, c.inits, "y")
			gradCheck(t, m, c.x, Options{})
		})
	}
}

func TestGradUnary(t *testing.T) {
	for _, c := range []struct {
		op    string
		attrs []any
	}{
		{"Relu", nil}, {"LeakyRelu", []any{"alpha", float32(0.2)}}, {"Sigmoid", nil}, {"Tanh", nil},
		{"Gelu", nil}, {"Gelu", []any{"approximate", "tanh"}}, {"Erf", nil}, {"Exp", nil}, {"Neg", nil},
		{"Identity", nil}, {"Softmax", []any{"axis", 1}}, {"LogSoftmax", nil}, {"Softmax", nil},
		{"ReduceMean", []any{"axes", []int{1}}}, {"ReduceSum", []any{"axes", []int{0, 2}, "keepdims", 0}},
		{"Flatten", []any{"axis", 2}}, {"Transpose", []any{"perm", []int{2, 0, 1}}}, {"Transpose", nil},
		{"Dropout", nil},
	} {
		t.Run(c.op, func(t *testing.T) {
			m := model([]*graph.Node{node(c.op, []string{"x"}, []string{"y"}, c.attrs...)}, nil, "y")
			if c.op == "Dropout" {
				m = model([]*graph.Node{node(c.op, []string{"x", "r"}, []string{"y"})},
					map[string]*tensor.Tensor{"r": tensor.FromFloat32([]float32{0.3})}, "y")
				m.Graph.Initializers[0].Name = "r"
			}
			gradCheck(t, m, []int{2, 3, 4}, Options{Seed: 7})
		})
	}
	t.Run("Clip", func(t *testing.T) {
		c := func(v float32) *tensor.Tensor { return tensor.FromFloat32([]float32{v}) }
		m := model([]*graph.Node{node("Clip", []string{"x", "lo", "hi"}, []string{"y"})},
			map[string]*tensor.Tensor{"lo": c(-0.5), "hi": c(0.8)}, "y")
		gradCheck(t, m, []int{3, 5}, Options{})
	})
}

func TestGradBinaryBroadcast(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, op := range []string{"Add", "Sub", "Mul", "Div"} {
		for _, ws := range [][]int{{2, 3, 4}, {4}, {3, 1}, {1}, {2, 1, 4}, {1, 1, 1, 1}} {
			t.Run(fmt.Sprint(op, ws), func(t *testing.T) {
				w := randT(r, ws...)
				if op == "Div" {
					for i := range w.F32 {
						w.F32[i] = 1.5 + float32(math.Abs(float64(w.F32[i])))
					}
				}
				m := model([]*graph.Node{node(op, []string{"x", "w"}, []string{"y"})}, map[string]*tensor.Tensor{"w": w}, "y")
				gradCheck(t, m, []int{2, 3, 4}, Options{})
				m = model([]*graph.Node{node(op, []string{"w", "x"}, []string{"y"})}, map[string]*tensor.Tensor{"w": w}, "y")
				if op != "Div" {
					gradCheck(t, m, []int{2, 3, 4}, Options{})
				}
			})
		}
	}
	t.Run("same-input-twice", func(t *testing.T) {
		m := model([]*graph.Node{node("Mul", []string{"x", "x"}, []string{"y"})}, nil, "y")
		gradCheck(t, m, []int{3, 4}, Options{})
	})
}

func TestGradPool(t *testing.T) {
	for _, c := range []struct {
		name  string
		op    string
		x     []int
		attrs []any
	}{
		{"max", "MaxPool", []int{2, 3, 6, 6}, []any{"kernel_shape", []int{2, 2}, "strides", []int{2, 2}}},
		{"max-overlap-pad", "MaxPool", []int{1, 2, 7, 7}, []any{"kernel_shape", []int{3, 3}, "strides", []int{2, 2}, "pads", []int{1, 1, 1, 1}}},
		{"max-ceil", "MaxPool", []int{1, 2, 7, 7}, []any{"kernel_shape", []int{2, 2}, "strides", []int{2, 2}, "ceil_mode", 1}},
		{"avg", "AveragePool", []int{2, 3, 6, 6}, []any{"kernel_shape", []int{3, 3}, "strides", []int{1, 1}}},
		{"avg-pad", "AveragePool", []int{1, 2, 5, 5}, []any{"kernel_shape", []int{3, 3}, "strides", []int{2, 2}, "pads", []int{1, 1, 1, 1}}},
		{"avg-pad-include", "AveragePool", []int{1, 2, 5, 5}, []any{"kernel_shape", []int{3, 3}, "strides", []int{2, 2}, "pads", []int{1, 1, 1, 1}, "count_include_pad", 1}},
		{"gap", "GlobalAveragePool", []int{2, 3, 4, 5}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := model([]*graph.Node{node(c.op, []string{"x"}, []string{"y"}, c.attrs...)}, nil, "y")
			gradCheck(t, m, c.x, Options{})
		})
	}
}

func TestGradNorm(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	bn := func() map[string]*tensor.Tensor {
		v := randT(r, 3)
		for i := range v.F32 {
			v.F32[i] = 0.5 + float32(math.Abs(float64(v.F32[i])))
		}
		return map[string]*tensor.Tensor{"g": randT(r, 3), "b": randT(r, 3), "m": randT(r, 3), "v": v}
	}
	t.Run("batchnorm-train", func(t *testing.T) {
		m := model([]*graph.Node{node("BatchNormalization", []string{"x", "g", "b", "m", "v"}, []string{"y"})}, bn(), "y")
		gradCheck(t, m, []int{4, 3, 2, 3}, Options{})
	})
	t.Run("batchnorm-frozen", func(t *testing.T) {
		m := model([]*graph.Node{node("BatchNormalization", []string{"x", "g", "b", "m", "v"}, []string{"y"})}, bn(), "y")
		gradCheck(t, m, []int{4, 3, 2, 3}, Options{FreezeBN: true})
	})
	t.Run("layernorm", func(t *testing.T) {
		m := model([]*graph.Node{node("LayerNormalization", []string{"x", "g", "b"}, []string{"y"})},
			map[string]*tensor.Tensor{"g": randT(r, 5), "b": randT(r, 5)}, "y")
		gradCheck(t, m, []int{2, 3, 5}, Options{})
	})
	t.Run("layernorm-axis1", func(t *testing.T) {
		m := model([]*graph.Node{node("LayerNormalization", []string{"x", "g", "b"}, []string{"y"}, "axis", 1)},
			map[string]*tensor.Tensor{"g": randT(r, 3, 5), "b": randT(r, 3, 5)}, "y")
		gradCheck(t, m, []int{2, 3, 5}, Options{})
	})
}

func TestGradShapeOps(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	w := map[string]*tensor.Tensor{"w": randT(r, 2, 2, 4)}
	for _, c := range []struct {
		name  string
		nodes []*graph.Node
		inits map[string]*tensor.Tensor
	}{
		{"reshape-shape-subgraph", []*graph.Node{
			node("Shape", []string{"x"}, []string{"s"}),
			node("Constant", nil, []string{"i0"}, "value", tensor.FromInt64([]int64{0})),
			node("Gather", []string{"s", "i0"}, []string{"n"}, "axis", 0),
			node("Unsqueeze", []string{"n", "ax"}, []string{"n1"}),
			node("Constant", nil, []string{"m1"}, "value", ints(-1)),
			node("Concat", []string{"n1", "m1"}, []string{"shp"}, "axis", 0),
			node("Reshape", []string{"x", "shp"}, []string{"y"}),
		}, map[string]*tensor.Tensor{"ax": ints(0)}},
		{"concat-split", []*graph.Node{
			node("Concat", []string{"x", "w"}, []string{"c"}, "axis", 1),
			node("Split", []string{"c", "sp"}, []string{"a", "b"}, "axis", 1),
			node("Tanh", []string{"a"}, []string{"ta"}),
			node("Concat", []string{"b", "ta"}, []string{"y"}, "axis", 1),
		}, map[string]*tensor.Tensor{"w": randT(r, 2, 2, 4), "sp": ints(3, 2)}},
		{"slice", []*graph.Node{
			node("Slice", []string{"x", "st", "en", "ax", "stp"}, []string{"y"}),
		}, map[string]*tensor.Tensor{"st": ints(1, -1), "en": ints(3, -5), "ax": ints(1, 2), "stp": ints(1, -2)}},
		{"squeeze-unsqueeze", []*graph.Node{
			node("Unsqueeze", []string{"x", "a"}, []string{"u"}),
			node("Mul", []string{"u", "w"}, []string{"m"}),
			node("Squeeze", []string{"m", "a"}, []string{"y"}),
		}, map[string]*tensor.Tensor{"a": ints(1), "w": randT(r, 2, 1, 3, 4)}},
		{"gather-float", []*graph.Node{
			node("Gather", []string{"x", "i"}, []string{"y"}, "axis", 2),
		}, map[string]*tensor.Tensor{"i": tensor.FromInt64([]int64{3, 0, 3, -1}, 2, 2)}},
		{"transpose-matmul", []*graph.Node{
			node("Transpose", []string{"w"}, []string{"wt"}, "perm", []int{0, 2, 1}),
			node("MatMul", []string{"x", "wt"}, []string{"y"}),
		}, w},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := model(c.nodes, c.inits, "y")
			gradCheck(t, m, []int{2, 3, 4}, Options{})
		})
	}
}

func TestGradPadPow(t *testing.T) {
	r := rand.New(rand.NewPCG(13, 14))
	for _, mode := range []string{"constant", "edge", "reflect"} {
		t.Run(mode, func(t *testing.T) {
			m := model([]*graph.Node{node("Pad", []string{"x", "p", "v"}, []string{"y"}, "mode", mode)},
				map[string]*tensor.Tensor{"p": ints(0, 1, 2, 0, 2, 1), "v": tensor.FromFloat32([]float32{0.5})}, "y")
			m.Graph.Nodes[0].Inputs = []string{"x", "p"}
			if mode == "constant" {
				m.Graph.Nodes[0].Inputs = []string{"x", "p", "v"}
			}
			gradCheck(t, m, []int{2, 3, 4}, Options{Freeze: []string{"v"}})
		})
	}
	t.Run("pow", func(t *testing.T) {
		e := tensor.FromFloat32([]float32{2, 3, 1.5, 0.5}, 4)
		m := model([]*graph.Node{
			node("Mul", []string{"x", "x"}, []string{"x2"}),
			node("Add", []string{"x2", "one"}, []string{"pos"}),
			node("Pow", []string{"pos", "e"}, []string{"y"}),
		}, map[string]*tensor.Tensor{"e": e, "one": tensor.FromFloat32([]float32{0.5})}, "y")
		gradCheck(t, m, []int{3, 4}, Options{Freeze: []string{"one"}})
		_ = r
	})
}

// TestCastOfActivations: an integer value computed from activations is
// recomputed every step, not frozen at plan time.
func TestCastOfActivations(t *testing.T) {
	m := model([]*graph.Node{
		node("Cast", []string{"x"}, []string{"i"}, "to", int(tensor.Int64)),
		node("Cast", []string{"i"}, []string{"y"}, "to", int(tensor.Float)),
	}, nil, "y")
	p, err := Compile(m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []float32{1.7, -2.2} {
		out, err := p.Forward(tensor.FromFloat32([]float32{v, 2 * v}, 1, 2), true)
		if err != nil {
			t.Fatal(err)
		}
		if out.F32[0] != float32(int(v)) || out.F32[1] != float32(int(2*v)) {
			t.Errorf("Cast round trip of %v: %v", v, out.F32)
		}
	}
}

// TestBatchNormRunningStats checks the running-statistics update (torch's
// convention: ONNX momentum 0.9 = torch momentum 0.1, unbiased variance)
// and the optional running-statistics outputs.
func TestBatchNormRunningStats(t *testing.T) {
	ones := tensor.FromFloat32([]float32{1, 1}, 2)
	m := model([]*graph.Node{node("BatchNormalization", []string{"x", "g", "b", "m", "v"}, []string{"y", "rm", "rv"}, "momentum", float32(0.9))},
		map[string]*tensor.Tensor{"g": ones, "b": tensor.New(2), "m": tensor.FromFloat32([]float32{1, 2}, 2), "v": ones.Clone()}, "y")
	p, err := Compile(m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// channel 0: 1, 2, 3, 6 (mean 3, unbiased var 14/3); channel 1: all 5
	x := tensor.FromFloat32([]float32{1, 2, 5, 5, 3, 6, 5, 5}, 2, 2, 2)
	if _, err := p.Forward(x, true); err != nil {
		t.Fatal(err)
	}
	rm, rv := m.Graph.Initializer("m").F32, m.Graph.Initializer("v").F32
	want := []float32{0.9*1 + 0.1*3, 0.9*2 + 0.1*5, 0.9 + 0.1*14.0/3, 0.9}
	got := []float32{rm[0], rm[1], rv[0], rv[1]}
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 1e-6 {
			t.Fatalf("running stats %v, want %v", got, want)
		}
	}
	if out := p.values["rv"].data; out[0] != rv[0] {
		t.Errorf("running variance output %v, want %v", out, rv)
	}
	// Inference uses (and keeps) the running statistics.
	if _, err := p.Forward(x, false); err != nil {
		t.Fatal(err)
	}
	if rm[0] != got[0] {
		t.Error("inference changed the running mean")
	}
	y := p.Output().F32
	if wantY := (1 - rm[0]) / float32(math.Sqrt(float64(rv[0])+1e-5)); math.Abs(float64(y[0]-wantY)) > 1e-6 {
		t.Errorf("inference output %v, want %v", y[0], wantY)
	}
}

// TestIdentityOfInitializer: torch's exporter ties equal tensors with
// Identity nodes; the alias is the same tensor (gradients add up, running
// statistics update the initializer).
func TestIdentityOfInitializer(t *testing.T) {
	r := rand.New(rand.NewPCG(15, 16))
	m := model([]*graph.Node{
		node("Identity", []string{"w"}, []string{"w2"}),
		node("Mul", []string{"x", "w"}, []string{"a"}),
		node("Mul", []string{"x", "w2"}, []string{"b"}),
		node("Add", []string{"a", "b"}, []string{"y"}),
	}, map[string]*tensor.Tensor{"w": randT(r, 4)}, "y")
	gradCheck(t, m, []int{3, 4}, Options{})

	ones := tensor.FromFloat32([]float32{1, 1}, 2)
	m = model([]*graph.Node{
		node("Identity", []string{"v"}, []string{"v2"}),
		node("BatchNormalization", []string{"x", "g", "b", "m", "v2"}, []string{"y"}),
	}, map[string]*tensor.Tensor{"g": ones, "b": tensor.New(2), "m": tensor.New(2), "v": ones.Clone()}, "y")
	p, err := Compile(m, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Param("v") != nil {
		t.Error("running variance behind an Identity became a parameter")
	}
	if _, err := p.Forward(tensor.FromFloat32([]float32{0, 0, 4, 4}, 2, 2, 1), true); err != nil {
		t.Fatal(err)
	}
	if v := m.Graph.Initializer("v").F32; v[0] == 1 {
		t.Errorf("running variance behind an Identity not updated: %v", v)
	}
}
