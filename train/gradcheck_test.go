package train

import (
	"fmt"
	"math"
	"math/rand/v2"
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
	for name, t := range inits {
		g.Initializers = append(g.Initializers, &graph.Tensor{Name: name, Tensor: *t})
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
		})
	}
}
