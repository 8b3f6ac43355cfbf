package depgraph

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/onnx"
	"github.com/podaml/poda/runtime"
	"github.com/podaml/poda/tensor"
)

// mb builds small models in memory.
type mb struct {
	m   *graph.Model
	rng *rand.Rand
}

func newModel(opset int64, input string, shape ...int) *mb {
	g := &graph.Graph{Name: "t"}
	g.Inputs = []*graph.Value{{Name: input, DType: tensor.Float, Shape: graph.ShapeOf(shape...)}}
	return &mb{m: &graph.Model{IRVersion: 8, Opsets: []graph.Opset{{Domain: "", Version: opset}}, Graph: g},
		rng: rand.New(rand.NewPCG(1, 2))}
}

func (b *mb) init(name string, shape ...int) string {
	t := tensor.New(shape...)
	for i := range t.F32 {
		t.F32[i] = float32(b.rng.NormFloat64())
	}
	b.m.Graph.AddInitializer(name, t)
	return name
}

func (b *mb) ints(name string, v ...int64) string {
	b.m.Graph.AddInitializer(name, tensor.FromInt64(v, len(v)))
	return name
}

func (b *mb) node(op string, ins, outs []string, set ...func(n *graph.Node)) *graph.Node {
	n := &graph.Node{Name: op + "_" + outs[0], OpType: op, Inputs: ins, Outputs: outs}
	for _, f := range set {
		f(n)
	}
	b.m.Graph.Nodes = append(b.m.Graph.Nodes, n)
	b.m.Graph.Invalidate()
	return n
}

func (b *mb) output(name string) *graph.Model {
	b.m.Graph.Outputs = append(b.m.Graph.Outputs, &graph.Value{Name: name, DType: tensor.Float})
	return b.m
}

func attr(name string, v int64) func(*graph.Node) { return func(n *graph.Node) { n.SetInt(name, v) } }

func mustBuild(t *testing.T, m *graph.Model) *Graph {
	t.Helper()
	d, err := Build(m)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func groupOf(t *testing.T, d *Graph, name string) *Group {
	t.Helper()
	g := d.Group(name)
	if g == nil {
		var names []string
		for _, x := range d.Groups {
			names = append(names, x.Name)
		}
		t.Fatalf("no group %q among %v", name, names)
	}
	return g
}

func member(g *Group, tensor string, axis int) *Slice {
	for i := range g.Members {
		if g.Members[i].Tensor == tensor && g.Members[i].Axis == axis {
			return &g.Members[i]
		}
	}
	return nil
}

func shapeOf(m *graph.Model, name string) []int {
	return m.Graph.Initializer(name).Shape
}

// run evaluates m on x with the runtime, skipping while it lacks an op.
func run(t *testing.T, m *graph.Model, x *tensor.Tensor) *tensor.Tensor {
	t.Helper()
	s, err := runtime.New(m, runtime.Options{})
	var ue *runtime.UnsupportedError
	if errors.As(err, &ue) {
		t.Skipf("runtime: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Run(context.Background(), map[string]*tensor.Tensor{m.Graph.RealInputs()[0].Name: x})
	if err != nil {
		t.Fatal(err)
	}
	return out[m.Graph.Outputs[0].Name].Clone()
}

// checkZeroEqualsApply removes plan from one copy and zeroes it in another,
// and compares their outputs on a random input.
func checkZeroEqualsApply(t *testing.T, m *graph.Model, plan func(d *Graph) Plan, shape ...int) *graph.Model {
	t.Helper()
	mz, mp := m.Clone(), m.Clone()
	dz, dp := mustBuild(t, mz), mustBuild(t, mp)
	if err := dz.Zero(plan(dz)); err != nil {
		t.Fatal(err)
	}
	if err := dp.Apply(plan(dp)); err != nil {
		t.Fatal(err)
	}
	if _, err := graph.InferShapes(mp, nil); err != nil {
		t.Fatalf("pruned model: %v", err)
	}
	x := tensor.New(shape...)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range x.F32 {
		x.F32[i] = float32(rng.NormFloat64())
	}
	yz, yp := run(t, mz, x), run(t, mp, x)
	var d, s float64
	for i := range yz.F32 {
		d = max(d, math.Abs(float64(yz.F32[i]-yp.F32[i])))
		s = max(s, math.Abs(float64(yz.F32[i])))
	}
	if d > 1e-5*s {
		t.Errorf("zeroed and pruned outputs differ by %g (max |y| %g)", d, s)
	}
	return mp
}

func TestConvChain(t *testing.T) {
	b := newModel(13, "x", 1, 3, 8, 8)
	b.node("Conv", []string{"x", b.init("w1", 8, 3, 3, 3), b.init("b1", 8)}, []string{"c1"}, func(n *graph.Node) { n.SetInts("pads", []int64{1, 1, 1, 1}) })
	b.node("Relu", []string{"c1"}, []string{"r1"})
	b.node("Conv", []string{"r1", b.init("w2", 4, 8, 1, 1)}, []string{"y"})
	m := b.output("y")
	m.Graph.ValueInfo = []*graph.Value{{Name: "r1", DType: tensor.Float, Shape: graph.ShapeOf(1, 8, 8, 8)}}
	d := mustBuild(t, m)
	g := groupOf(t, d, "Conv_c1")
	if g.Declined != "" || g.Channels != 8 || len(g.Members) != 3 {
		t.Fatalf("conv1 group: %+v", g)
	}
	if s := member(g, "w2", 1); s == nil || s.Role != RoleIn || !slices.Equal(s.Index[5], []int{5}) {
		t.Errorf("w2 member: %+v", s)
	}
	if g2 := groupOf(t, d, "Conv_y"); !strings.Contains(g2.Declined, `graph output "y"`) {
		t.Errorf("conv2 group not declined for the graph output: %q", g2.Declined)
	}
	mp := checkZeroEqualsApply(t, m, func(d *Graph) Plan { return Plan{d.Group("Conv_c1").ID: {1, 5}} }, 1, 3, 8, 8)
	if !slices.Equal(shapeOf(mp, "w1"), []int{6, 3, 3, 3}) || !slices.Equal(shapeOf(mp, "b1"), []int{6}) || !slices.Equal(shapeOf(mp, "w2"), []int{4, 6, 1, 1}) {
		t.Errorf("shapes after pruning: %v %v %v", shapeOf(mp, "w1"), shapeOf(mp, "b1"), shapeOf(mp, "w2"))
	}
	if v := mp.Graph.Value("r1"); v == nil || v.Shape.String() != "[1 6 8 8]" {
		t.Errorf("value_info of r1 after pruning: %+v", v)
	}
}

func TestResidualIsOneGroup(t *testing.T) {
	b := newModel(13, "x", 1, 3, 6, 6)
	b.node("Conv", []string{"x", b.init("w1", 8, 3, 1, 1), b.init("b1", 8)}, []string{"c1"})
	b.node("Relu", []string{"c1"}, []string{"h"})
	b.node("Conv", []string{"h", b.init("w2", 8, 8, 1, 1), b.init("b2", 8)}, []string{"c2"})
	b.node("Mul", []string{"c2", b.init("s", 8, 1, 1)}, []string{"c2s"})
	b.node("Add", []string{"c2s", "h"}, []string{"y1"})
	b.node("Relu", []string{"y1"}, []string{"y2"})
	b.node("Conv", []string{"y2", b.init("w3", 5, 8, 1, 1)}, []string{"y"})
	m := b.output("y")
	d := mustBuild(t, m)
	g := groupOf(t, d, "Conv_c1")
	if g.Declined != "" || !slices.Equal(g.Producers, []string{"Conv_c1", "Conv_c2"}) {
		t.Fatalf("residual group: %+v", g)
	}
	for _, want := range []struct {
		tensor string
		axis   int
	}{{"w1", 0}, {"b1", 0}, {"w2", 1}, {"w2", 0}, {"b2", 0}, {"s", 0}, {"w3", 1}} {
		if member(g, want.tensor, want.axis) == nil {
			t.Errorf("no member %s[%d]", want.tensor, want.axis)
		}
	}
	checkZeroEqualsApply(t, m, func(d *Graph) Plan { return Plan{d.Group("Conv_c1").ID: {0, 3, 7}} }, 1, 3, 6, 6)
}

func TestDepthwiseAndConcat(t *testing.T) {
	b := newModel(13, "x", 1, 3, 6, 6)
	b.node("Conv", []string{"x", b.init("wa", 4, 3, 1, 1)}, []string{"a"})
	b.node("Conv", []string{"x", b.init("wb", 6, 3, 1, 1), b.init("bb", 6)}, []string{"bo"})
	b.node("Concat", []string{"a", "bo"}, []string{"c"}, attr("axis", 1))
	b.node("Conv", []string{"c", b.init("wd", 10, 1, 3, 3), b.init("bd", 10)}, []string{"dw"}, attr("group", 10), func(n *graph.Node) { n.SetInts("pads", []int64{1, 1, 1, 1}) })
	b.node("Clip", []string{"dw", b.init("lo", 1), b.init("hi", 1)}, []string{"r"})
	b.node("Conv", []string{"r", b.init("wp", 5, 10, 1, 1)}, []string{"y"})
	m := b.output("y")
	m.Graph.Initializer("lo").F32[0], m.Graph.Initializer("hi").F32[0] = 0, 6
	m.Graph.Initializer("lo").Shape, m.Graph.Initializer("hi").Shape = []int{}, []int{}
	d := mustBuild(t, m)
	ga, gb := groupOf(t, d, "Conv_a"), groupOf(t, d, "Conv_bo")
	if ga.Declined != "" || gb.Declined != "" {
		t.Fatalf("declined: %q %q", ga.Declined, gb.Declined)
	}
	if s := member(gb, "wp", 1); s == nil || !slices.Equal(s.Index[0], []int{4}) || !slices.Equal(s.Index[5], []int{9}) {
		t.Errorf("concat offsets: %+v", s)
	}
	if s := member(gb, "wd", 0); s == nil || s.Role != RoleOut || !slices.Equal(s.Index[2], []int{6}) {
		t.Errorf("depthwise member: %+v", s)
	}
	mp := checkZeroEqualsApply(t, m, func(d *Graph) Plan {
		return Plan{d.Group("Conv_a").ID: {1}, d.Group("Conv_bo").ID: {0, 2, 5}}
	}, 1, 3, 6, 6)
	for _, n := range mp.Graph.Nodes {
		if n.Outputs[0] == "dw" && n.Int("group", 0) != 6 {
			t.Errorf("depthwise group %d, want 6", n.Int("group", 0))
		}
	}
	if !slices.Equal(shapeOf(mp, "wd"), []int{6, 1, 3, 3}) || !slices.Equal(shapeOf(mp, "wp"), []int{5, 6, 1, 1}) {
		t.Errorf("shapes: wd %v wp %v", shapeOf(mp, "wd"), shapeOf(mp, "wp"))
	}
}

func TestFlattenAndReshapeIntoGemm(t *testing.T) {
	for _, viaReshape := range []bool{false, true} {
		b := newModel(13, "x", 2, 3, 4, 4)
		b.node("Conv", []string{"x", b.init("w", 4, 3, 3, 3)}, []string{"c"}, attr("group", 1))
		b.node("MaxPool", []string{"c"}, []string{"p"}, func(n *graph.Node) { n.SetInts("kernel_shape", []int64{1, 1}) })
		if viaReshape {
			b.node("Reshape", []string{"p", b.ints("target", -1, 16)}, []string{"f"})
		} else {
			b.node("Flatten", []string{"p"}, []string{"f"})
		}
		b.node("Gemm", []string{"f", b.init("fw", 5, 16), b.init("fb", 5)}, []string{"y"}, attr("transB", 1))
		m := b.output("y")
		d := mustBuild(t, m)
		g := groupOf(t, d, "Conv_c")
		if g.Declined != "" {
			t.Fatal(g.Declined)
		}
		if s := member(g, "fw", 1); s == nil || !slices.Equal(s.Index[1], []int{4, 5, 6, 7}) {
			t.Errorf("feature block of channel 1: %+v", s)
		}
		mp := checkZeroEqualsApply(t, m, func(d *Graph) Plan { return Plan{d.Group("Conv_c").ID: {1, 2}} }, 2, 3, 4, 4)
		if !slices.Equal(shapeOf(mp, "fw"), []int{5, 8}) {
			t.Errorf("fc weight %v", shapeOf(mp, "fw"))
		}
	}
}

func TestSplitSizesRewritten(t *testing.T) {
	b := newModel(13, "x", 1, 3, 4, 4)
	b.node("Conv", []string{"x", b.init("w", 8, 3, 1, 1)}, []string{"c"})
	b.node("Split", []string{"c", b.ints("sizes", 3, 5)}, []string{"s0", "s1"}, attr("axis", 1))
	b.node("Conv", []string{"s0", b.init("w0", 2, 3, 1, 1)}, []string{"y0"})
	b.node("Conv", []string{"s1", b.init("w1", 2, 5, 1, 1)}, []string{"y1"})
	b.node("Add", []string{"y0", "y1"}, []string{"y"})
	m := b.output("y")
	d := mustBuild(t, m)
	if g := groupOf(t, d, "Conv_c"); g.Declined != "" {
		t.Fatal(g.Declined)
	}
	mp := checkZeroEqualsApply(t, m, func(d *Graph) Plan { return Plan{d.Group("Conv_c").ID: {0, 7}} }, 1, 3, 4, 4)
	for _, n := range mp.Graph.Nodes {
		if n.OpType == "Split" {
			if t2 := mp.Graph.Initializer(n.Input(1)); t2 == nil || !slices.Equal(t2.I64, []int64{2, 4}) {
				t.Errorf("split sizes %v", t2)
			}
		}
	}
}

func TestDeclineReasons(t *testing.T) {
	cases := []struct {
		name  string
		build func(b *mb)
		want  string
	}{
		{"unknown op", func(b *mb) {
			b.node("LRN", []string{"c"}, []string{"r"}, attr("size", 3))
			b.node("Conv", []string{"r", b.init("w2", 2, 4, 1, 1)}, []string{"y"})
		}, "has no coupling rule"},
		{"grouped conv", func(b *mb) {
			b.node("Conv", []string{"c", b.init("w2", 2, 2, 1, 1)}, []string{"y"}, attr("group", 2))
		}, "grouped conv (group 2) that is not depthwise"},
		{"layernorm over channels", func(b *mb) {
			b.node("Transpose", []string{"c"}, []string{"t"}, func(n *graph.Node) { n.SetInts("perm", []int64{0, 2, 3, 1}) })
			b.node("LayerNormalization", []string{"t", b.init("g", 4), b.init("be", 4)}, []string{"y"})
		}, "normalizes over the channel axis"},
		{"slice of channels", func(b *mb) {
			b.node("Slice", []string{"c", b.ints("st", 0), b.ints("en", 2), b.ints("ax", 1)}, []string{"s"})
			b.node("Conv", []string{"s", b.init("w2", 2, 2, 1, 1)}, []string{"y"})
		}, "slices the channel axis"},
		{"add of the graph input", func(b *mb) {
			b.node("Add", []string{"c", "x"}, []string{"a"})
			b.node("Conv", []string{"a", b.init("w2", 2, 4, 1, 1)}, []string{"y"})
		}, `operand "x" (a graph input) has the full channel axis`},
		{"shared weight", func(b *mb) {
			b.node("Conv", []string{"c", b.init("w2", 2, 4, 1, 1)}, []string{"y1"})
			b.node("ReduceSum", []string{"w2"}, []string{"s"}, attr("keepdims", 0))
			b.node("Mul", []string{"y1", "s"}, []string{"y"})
		}, `initializer "w2" is also read by`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := newModel(17, "x", 1, 4, 4, 4)
			b.node("Conv", []string{"x", b.init("w", 4, 4, 1, 1)}, []string{"c"})
			c.build(b)
			d := mustBuild(t, b.output("y"))
			g := groupOf(t, d, "Conv_c")
			if !strings.Contains(g.Declined, c.want) {
				t.Errorf("declined %q, want it to mention %q", g.Declined, c.want)
			}
			if err := d.Apply(Plan{g.ID: {0}}); err == nil {
				t.Error("Apply accepted a declined group")
			}
		})
	}
}

func TestApplyRefusesBadPlans(t *testing.T) {
	b := newModel(13, "x", 1, 3, 4, 4)
	b.node("Conv", []string{"x", b.init("w", 2, 3, 1, 1)}, []string{"c"})
	b.node("Conv", []string{"c", b.init("w2", 2, 2, 1, 1)}, []string{"y"})
	m := b.output("y")
	for _, p := range []Plan{{0: {0, 1}}, {0: {5}}, {9: {0}}} {
		if err := mustBuild(t, m.Clone()).Apply(p); err == nil {
			t.Errorf("plan %v accepted", p)
		}
	}
	d := mustBuild(t, m)
	if err := d.Apply(Plan{0: {0}}); err != nil {
		t.Fatal(err)
	}
	if err := d.Apply(Plan{0: {0}}); !errors.Is(err, ErrApplied) {
		t.Errorf("second Apply: %v", err)
	}
}

// TestAttentionHeads checks on the transformer fixture that q/k/v and the
// output projection form one group per layer whose channels are heads,
// and that pruning a head rewrites the Reshape targets.
func TestAttentionHeads(t *testing.T) {
	p := filepath.Join("..", "..", "testdata", "models", "transformer.onnx")
	if _, err := os.Stat(p); err != nil {
		t.Skip("transformer fixture not present")
	}
	m, err := graph.Load(p, onnx.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	d := mustBuild(t, m)
	heads := 0
	for _, g := range d.Groups {
		if len(g.Producers) == 3 {
			heads++
			if g.Channels != 4 || g.Declined != "" {
				t.Errorf("attention group %s: %d channels, declined %q", g.Name, g.Channels, g.Declined)
			}
			for _, s := range g.Members {
				for _, idx := range s.Index {
					if len(idx) != 8 {
						t.Errorf("%s: head of %d channels, want 8", s.Tensor, len(idx))
					}
				}
			}
		}
	}
	if heads != 2 {
		t.Fatalf("%d attention groups, want 2", heads)
	}
	plan := Plan{}
	for _, g := range d.Prunable() {
		if len(g.Producers) == 3 {
			plan[g.ID] = []int{1}
		}
	}
	if err := d.Apply(plan); err != nil {
		t.Fatal(err)
	}
	shapes, err := graph.InferShapes(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range m.Graph.Nodes {
		if n.OpType != "Reshape" {
			continue
		}
		sh := shapes.Shape(n.Outputs[0])
		switch len(sh) {
		case 4:
			if sh[2] != graph.Size(3) || sh[3] != graph.Size(8) {
				t.Errorf("%s: heads reshape to %v, want [.. .. 3 8]", n, sh)
			}
		case 3:
			if sh[2] != graph.Size(24) {
				t.Errorf("%s: merge reshape to %v, want [.. .. 24]", n, sh)
			}
		}
	}
}

func TestPassThroughOps(t *testing.T) {
	b := newModel(13, "x", 1, 3, 4, 4)
	b.node("Conv", []string{"x", b.init("w", 6, 3, 1, 1), b.init("cb", 6)}, []string{"c"})
	b.node("InstanceNormalization", []string{"c", b.init("is", 6), b.init("ib", 6)}, []string{"in"})
	b.node("PRelu", []string{"in", b.init("slope", 6, 1, 1)}, []string{"pr"})
	b.node("Pad", []string{"pr", b.ints("pads", 0, 0, 1, 1, 0, 0, 1, 1)}, []string{"pd"})
	b.node("AveragePool", []string{"pd"}, []string{"ap"}, func(n *graph.Node) { n.SetInts("kernel_shape", []int64{2, 2}) })
	scales := tensor.FromFloat32([]float32{1, 1, 2, 2}, 4)
	b.m.Graph.AddInitializer("scales", scales)
	b.node("Resize", []string{"ap", "", "scales"}, []string{"rs"})
	b.node("ConvTranspose", []string{"rs", b.init("tw", 6, 4, 2, 2), b.init("tb", 4)}, []string{"ct"}, func(n *graph.Node) { n.SetInts("strides", []int64{2, 2}) })
	b.node("GlobalAveragePool", []string{"ct"}, []string{"gp"})
	b.node("Flatten", []string{"gp"}, []string{"f"})
	b.node("Gemm", []string{"f", b.init("g1", 4, 7), b.init("g1b", 7)}, []string{"h"})
	b.node("Relu", []string{"h"}, []string{"hr"})
	b.node("Gemm", []string{"hr", b.init("g2", 7, 3)}, []string{"y"})
	m := b.output("y")
	d := mustBuild(t, m)
	want := map[string][]string{
		"Conv_c":           {"w[0]", "cb[0]", "is[0]", "ib[0]", "slope[0]", "tw[0]"},
		"ConvTranspose_ct": {"tw[1]", "tb[0]", "g1[0]"},
		"Gemm_h":           {"g1[1]", "g1b[0]", "g2[0]"},
	}
	for name, members := range want {
		g := groupOf(t, d, name)
		if g.Declined != "" {
			t.Errorf("%s declined: %s", name, g.Declined)
		}
		for _, mem := range members {
			var tn string
			var ax int
			i := strings.IndexByte(mem, '[')
			tn, ax = mem[:i], int(mem[i+1]-'0')
			if member(g, tn, ax) == nil {
				t.Errorf("%s has no member %s", name, mem)
			}
		}
	}
	checkZeroEqualsApply(t, m, func(d *Graph) Plan {
		return Plan{d.Group("Conv_c").ID: {0, 4}, d.Group("ConvTranspose_ct").ID: {2}, d.Group("Gemm_h").ID: {1, 2, 6}}
	}, 1, 3, 4, 4)
}

// TestInitializersAsInputs: IR < 4 models list every initializer among the
// graph inputs; they prune like constants and the declared input shapes
// follow.
func TestInitializersAsInputs(t *testing.T) {
	b := newModel(9, "x", 1, 3, 4, 4)
	b.node("Conv", []string{"x", b.init("w", 6, 3, 1, 1)}, []string{"c"})
	b.node("Conv", []string{"c", b.init("w2", 2, 6, 1, 1)}, []string{"y"})
	m := b.output("y")
	m.IRVersion = 3
	for _, n := range []string{"w", "w2"} {
		m.Graph.Inputs = append(m.Graph.Inputs, &graph.Value{Name: n, DType: tensor.Float, Shape: graph.ShapeOf(shapeOf(m, n)...)})
	}
	d := mustBuild(t, m)
	if err := d.Apply(Plan{groupOf(t, d, "Conv_c").ID: {1, 2}}); err != nil {
		t.Fatal(err)
	}
	if v := m.Graph.Value("w"); v.Shape.String() != "[4 3 1 1]" {
		t.Errorf("input w declared %v", v.Shape)
	}
	if v := m.Graph.Value("w2"); v.Shape.String() != "[2 4 1 1]" {
		t.Errorf("input w2 declared %v", v.Shape)
	}
}
