package runtime

import (
	"context"
	"math"
	"math/rand"
	"testing"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/onnx/pb"
	"github.com/podaml/poda/tensor"
	"google.golang.org/protobuf/proto"
)

// Op tests for what the ONNX 1.12 backend data does not cover: opsets
// after 17, the convolution paths (depthwise, grouped, 1-D, 3-D) against a
// naive reference, and fused epilogues.

// runNode builds a one-node model at opset, with the given inputs (graph
// inputs) and constants (initializers), and runs it.
func runNode(t *testing.T, opset int64, n *graph.Node, inputs, consts map[string]*tensor.Tensor) []*tensor.Tensor {
	t.Helper()
	g := &graph.Graph{Nodes: []*graph.Node{n}}
	for _, name := range n.Inputs {
		if x, ok := inputs[name]; ok {
			g.Inputs = append(g.Inputs, &graph.Value{Name: name, DType: x.DType})
		}
	}
	for name, c := range consts {
		g.AddInitializer(name, c)
	}
	for _, o := range n.Outputs {
		g.Outputs = append(g.Outputs, &graph.Value{Name: o})
	}
	s, err := New(&graph.Model{Graph: g, Opsets: []graph.Opset{{Version: opset}}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Run(context.Background(), inputs)
	if err != nil {
		t.Fatal(err)
	}
	var res []*tensor.Tensor
	for _, o := range n.Outputs {
		res = append(res, out[o])
	}
	return res
}

func intAttr(name string, v int64) *pb.AttributeProto {
	return &pb.AttributeProto{Name: proto.String(name), Type: pb.AttributeProto_INT.Enum(), I: proto.Int64(v)}
}

func strAttr(name, v string) *pb.AttributeProto {
	return &pb.AttributeProto{Name: proto.String(name), Type: pb.AttributeProto_STRING.Enum(), S: []byte(v)}
}

func assertClose(t *testing.T, what string, got *tensor.Tensor, want []float32, shape []int, tol float64) {
	t.Helper()
	if !sameInts(got.Shape, shape) {
		t.Fatalf("%s: shape %v, want %v", what, got.Shape, shape)
	}
	if err := compareTensors(got, tensor.FromFloat32(want, shape...), tol, tol); err != nil {
		t.Fatalf("%s: %v\ngot  %v\nwant %v", what, err, got.F32, want)
	}
}

func TestGelu(t *testing.T) {
	xs := []float32{-3, -1, -0.5, 0, 0.5, 1, 3}
	for _, approx := range []string{"none", "tanh"} {
		n := &graph.Node{OpType: "Gelu", Inputs: []string{"x"}, Outputs: []string{"y"}, Attrs: []*pb.AttributeProto{strAttr("approximate", approx)}}
		y := runNode(t, 20, n, map[string]*tensor.Tensor{"x": tensor.FromFloat32(xs, len(xs))}, nil)[0]
		want := make([]float32, len(xs))
		for i, x := range xs {
			v := float64(x)
			if approx == "none" {
				want[i] = float32(v * 0.5 * (1 + math.Erf(v/math.Sqrt2)))
			} else {
				want[i] = float32(0.5 * v * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(v+0.044715*v*v*v))))
			}
		}
		assertClose(t, "Gelu "+approx, y, want, []int{len(xs)}, 1e-6)
	}
	// Gelu(1) with the exact form is 0.8413447; the tanh form 0.8411920.
	n := &graph.Node{OpType: "Gelu", Inputs: []string{"x"}, Outputs: []string{"y"}}
	y := runNode(t, 20, n, map[string]*tensor.Tensor{"x": tensor.FromFloat32([]float32{1}, 1)}, nil)[0]
	assertClose(t, "Gelu(1)", y, []float32{0.8413447}, []int{1}, 1e-6)
}

func TestOpset18Inputs(t *testing.T) {
	x := tensor.FromFloat32([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	// ReduceMean-18 takes axes as an input.
	n := &graph.Node{OpType: "ReduceMean", Inputs: []string{"x", "axes"}, Outputs: []string{"y"}, Attrs: []*pb.AttributeProto{intAttr("keepdims", 0)}}
	y := runNode(t, 18, n, map[string]*tensor.Tensor{"x": x}, map[string]*tensor.Tensor{"axes": tensor.FromInt64([]int64{-1}, 1)})[0]
	assertClose(t, "ReduceMean-18", y, []float32{2, 5}, []int{2}, 0)
	// ... and with noop_with_empty_axes and no axes it is the identity.
	n = &graph.Node{OpType: "ReduceMax", Inputs: []string{"x"}, Outputs: []string{"y"}, Attrs: []*pb.AttributeProto{intAttr("noop_with_empty_axes", 1)}}
	y = runNode(t, 18, n, map[string]*tensor.Tensor{"x": x}, nil)[0]
	assertClose(t, "ReduceMax-18 noop", y, x.F32, []int{2, 3}, 0)
	// ReduceMax-13 still takes an attribute.
	n = &graph.Node{OpType: "ReduceMax", Inputs: []string{"x"}, Outputs: []string{"y"}, Attrs: []*pb.AttributeProto{intsAttr("axes", 0)}}
	y = runNode(t, 13, n, map[string]*tensor.Tensor{"x": x}, nil)[0]
	assertClose(t, "ReduceMax-13", y, []float32{4, 5, 6}, []int{1, 3}, 0)
	// Split-18 with num_outputs: uneven parts, the last smaller.
	v := tensor.FromFloat32([]float32{1, 2, 3, 4, 5}, 5)
	n = &graph.Node{OpType: "Split", Inputs: []string{"v"}, Outputs: []string{"a", "b"}, Attrs: []*pb.AttributeProto{intAttr("num_outputs", 2)}}
	ys := runNode(t, 18, n, map[string]*tensor.Tensor{"v": v}, nil)
	assertClose(t, "Split-18 a", ys[0], []float32{1, 2, 3}, []int{3}, 0)
	assertClose(t, "Split-18 b", ys[1], []float32{4, 5}, []int{2}, 0)
	// Pad-18 with axes: pad only the last axis, reflecting.
	n = &graph.Node{OpType: "Pad", Inputs: []string{"x", "pads", "", "axes"}, Outputs: []string{"y"}, Attrs: []*pb.AttributeProto{strAttr("mode", "reflect")}}
	y = runNode(t, 18, n, map[string]*tensor.Tensor{"x": x}, map[string]*tensor.Tensor{
		"pads": tensor.FromInt64([]int64{1, 2}, 2), "axes": tensor.FromInt64([]int64{-1}, 1)})[0]
	assertClose(t, "Pad-18 reflect", y, []float32{2, 1, 2, 3, 2, 1, 5, 4, 5, 6, 5, 4}, []int{2, 6}, 0)
	// Softmax-11 flattens at axis 1; Softmax-13 works along axis -1 only.
	x3 := tensor.FromFloat32([]float32{0, 1, 2, 3, 4, 5, 6, 7}, 1, 2, 4)
	n = &graph.Node{OpType: "Softmax", Inputs: []string{"x"}, Outputs: []string{"y"}}
	y11 := runNode(t, 11, n, map[string]*tensor.Tensor{"x": x3}, nil)[0]
	y13 := runNode(t, 13, n, map[string]*tensor.Tensor{"x": x3}, nil)[0]
	var s11, s13 float32
	for i := 0; i < 4; i++ {
		s11 += y11.F32[i]
		s13 += y13.F32[i]
	}
	if math.Abs(float64(s13-1)) > 1e-6 || s11 > 0.1 {
		t.Errorf("Softmax axis semantics: first-row sums %g (opset 11, want ≪1) and %g (opset 13, want 1)", s11, s13)
	}
}

// naiveConv is the textbook convolution for any spatial rank.
func naiveConv(x, w, b *tensor.Tensor, group int, strides, pads, dils []int) *tensor.Tensor {
	r := len(x.Shape) - 2
	N, C, M := x.Shape[0], x.Shape[1], w.Shape[0]
	Cg, Mg := C/group, M/group
	out := []int{N, M}
	for d := 0; d < r; d++ {
		span := dils[d]*(w.Shape[2+d]-1) + 1
		out = append(out, (x.Shape[2+d]+pads[d]+pads[d+r]-span)/strides[d]+1)
	}
	y := tensor.New(out...)
	xs, ws, ys := tensor.Strides(x.Shape), tensor.Strides(w.Shape), tensor.Strides(out)
	kshape := w.Shape[2:]
	for i := range y.F32 {
		rem := i
		idx := make([]int, len(out))
		for d := range out {
			idx[d] = rem / ys[d]
			rem %= ys[d]
		}
		n, m := idx[0], idx[1]
		g := m / Mg
		var sum float64
		if b != nil {
			sum = float64(b.F32[m])
		}
		for c := 0; c < Cg; c++ {
			for kp := 0; kp < tensor.Prod(kshape); kp++ {
				krem := kp
				xoff := n*xs[0] + (g*Cg+c)*xs[1]
				woff := m*ws[0] + c*ws[1]
				ok := true
				for d := r - 1; d >= 0; d-- {
					k := krem % kshape[d]
					krem /= kshape[d]
					pos := idx[2+d]*strides[d] - pads[d] + k*dils[d]
					if pos < 0 || pos >= x.Shape[2+d] {
						ok = false
					}
					xoff += pos * xs[2+d]
					woff += k * ws[2+d]
				}
				if ok {
					sum += float64(x.F32[xoff]) * float64(w.F32[woff])
				}
			}
		}
		y.F32[i] = float32(sum)
	}
	return y
}

func TestConvAgainstNaive(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	cases := []struct {
		x, w                []int
		group               int
		strides, pads, dils []int
	}{
		{[]int{2, 4, 9, 8}, []int{6, 4, 3, 3}, 1, []int{1, 1}, []int{1, 1, 1, 1}, []int{1, 1}},
		{[]int{1, 4, 9, 8}, []int{6, 2, 3, 2}, 2, []int{2, 1}, []int{0, 1, 2, 0}, []int{1, 2}},
		{[]int{2, 8, 10, 10}, []int{8, 1, 3, 3}, 8, []int{1, 1}, []int{1, 1, 1, 1}, []int{1, 1}},                 // depthwise
		{[]int{1, 8, 11, 9}, []int{8, 1, 5, 3}, 8, []int{2, 2}, []int{2, 0, 1, 1}, []int{1, 2}},                  // depthwise, strided
		{[]int{1, 4, 7, 7}, []int{8, 1, 3, 3}, 4, []int{1, 1}, []int{1, 1, 1, 1}, []int{1, 1}},                   // channel multiplier 2
		{[]int{3, 5, 6, 6}, []int{7, 5, 1, 1}, 1, []int{1, 1}, []int{0, 0, 0, 0}, []int{1, 1}},                   // pointwise
		{[]int{2, 3, 12}, []int{4, 3, 3}, 1, []int{2}, []int{1, 2}, []int{2}},                                    // 1-D
		{[]int{1, 2, 5, 6, 4}, []int{3, 2, 3, 3, 2}, 1, []int{1, 2, 1}, []int{1, 0, 1, 1, 0, 0}, []int{1, 1, 1}}, // 3-D
		{[]int{1, 6, 3, 3}, []int{5, 6, 3, 3}, 1, []int{1, 1}, []int{0, 0, 0, 0}, []int{1, 1}},                   // one output pixel
		{[]int{2, 4, 2, 2}, []int{4, 2, 3, 3}, 2, []int{1, 1}, []int{1, 1, 1, 1}, []int{1, 1}},                   // 2×2 output, groups
		{[]int{3, 4, 5, 5}, []int{6, 4, 3, 3}, 1, []int{2, 2}, []int{0, 0, 0, 0}, []int{1, 1}},                   // batched small images
		{[]int{1, 0, 5, 5}, []int{3, 0, 3, 3}, 1, []int{1, 1}, []int{1, 1, 1, 1}, []int{1, 1}},                   // no input channels: the bias
		{[]int{2, 0, 5, 5}, []int{3, 0, 3, 3}, 1, []int{1, 1}, []int{0, 0, 0, 0}, []int{1, 1}},                   // no input channels, batch
		{[]int{1, 2, 5, 5}, []int{0, 2, 3, 3}, 1, []int{1, 1}, []int{1, 1, 1, 1}, []int{1, 1}},                   // no output channels
		{[]int{0, 2, 5, 5}, []int{4, 2, 3, 3}, 1, []int{1, 1}, []int{1, 1, 1, 1}, []int{1, 1}},                   // empty batch
		{[]int{1, 2, 1, 6}, []int{4, 2, 1, 1}, 1, []int{1, 1}, []int{0, 0, 0, 0}, []int{1, 1}},                   // one row
		{[]int{1, 3, 5}, []int{4, 3, 3}, 1, []int{2}, []int{1, 1}, []int{1}},                                     // 1-D, 3 pixels
		{[]int{2, 2, 3, 3, 3}, []int{3, 2, 2, 2, 2}, 1, []int{2, 2, 3}, []int{1, 1, 0, 0, 1, 0}, []int{1, 1, 1}}, // 3-D, 4 pixels
		{[]int{1, 5, 4, 4}, []int{7, 5, 3, 3}, 1, []int{2, 2}, []int{2, 2, 2, 2}, []int{2, 2}},                   // dilated, 2×2 output
	}
	for i, tc := range cases {
		x, w, b := randTensor(r, tc.x...), randTensor(r, tc.w...), randTensor(r, tc.w[0])
		toI64 := func(v []int) []int64 {
			out := make([]int64, len(v))
			for i, x := range v {
				out[i] = int64(x)
			}
			return out
		}
		n := &graph.Node{OpType: "Conv", Inputs: []string{"x", "w", "b"}, Outputs: []string{"y"}, Attrs: []*pb.AttributeProto{
			intAttr("group", int64(tc.group)), intsAttr("strides", toI64(tc.strides)...),
			intsAttr("pads", toI64(tc.pads)...), intsAttr("dilations", toI64(tc.dils)...)}}
		y := runNode(t, 13, n, map[string]*tensor.Tensor{"x": x}, map[string]*tensor.Tensor{"w": w, "b": b})[0]
		want := naiveConv(x, w, b, tc.group, tc.strides, tc.pads, tc.dils)
		if err := compareTensors(y, want, 1e-4, 1e-5); err != nil {
			t.Errorf("case %d (%v * %v, group %d): %v", i, tc.x, tc.w, tc.group, err)
		}
	}
}

func TestMatMulBroadcast(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	for _, tc := range []struct{ a, b, out []int }{
		{[]int{2, 3, 4}, []int{4, 5}, []int{2, 3, 5}},
		{[]int{4}, []int{2, 4, 5}, []int{2, 5}},
		{[]int{2, 1, 3, 4}, []int{3, 4, 2}, []int{2, 3, 3, 2}},
		{[]int{3, 4}, []int{4}, []int{3}},
		{[]int{4}, []int{4}, []int{}},
	} {
		a, b := randTensor(r, tc.a...), randTensor(r, tc.b...)
		n := &graph.Node{OpType: "MatMul", Inputs: []string{"a", "b"}, Outputs: []string{"y"}}
		y := runNode(t, 13, n, map[string]*tensor.Tensor{"a": a, "b": b}, nil)[0]
		if !sameInts(y.Shape, tc.out) {
			t.Errorf("%v × %v: shape %v, want %v", tc.a, tc.b, y.Shape, tc.out)
			continue
		}
		// Reference: numpy semantics via explicit promotion.
		as, bs := tc.a, tc.b
		if len(as) == 1 {
			as = []int{1, as[0]}
		}
		if len(bs) == 1 {
			bs = []int{bs[0], 1}
		}
		batch, _ := broadcastShape(as[:len(as)-2], bs[:len(bs)-2])
		m, k, nn := as[len(as)-2], as[len(as)-1], bs[len(bs)-1]
		ast, bst := bcastStrides(as[:len(as)-2], batch), bcastStrides(bs[:len(bs)-2], batch)
		bstr := tensor.Strides(batch)
		i := 0
		for bi := 0; bi < tensor.Prod(batch); bi++ {
			ao, bo, rem := 0, 0, bi
			for d := range batch {
				j := rem / bstr[d]
				rem %= bstr[d]
				ao += j * ast[d] * m * k
				bo += j * bst[d] * k * nn
			}
			for p := 0; p < m; p++ {
				for q := 0; q < nn; q++ {
					var s float64
					for l := 0; l < k; l++ {
						s += float64(a.F32[ao+p*k+l]) * float64(b.F32[bo+l*nn+q])
					}
					if d := math.Abs(float64(y.F32[i]) - s); d > 1e-4 {
						t.Fatalf("%v × %v: element %d = %g, want %g", tc.a, tc.b, i, y.F32[i], s)
					}
					i++
				}
			}
		}
	}
}

// TestShapeFromInput checks plans keyed on the contents of an input that
// a Reshape target depends on.
func TestShapeFromInput(t *testing.T) {
	g := &graph.Graph{
		Inputs: []*graph.Value{{Name: "x", DType: tensor.Float}, {Name: "s", DType: tensor.Int64}},
		Nodes: []*graph.Node{
			{OpType: "Reshape", Inputs: []string{"x", "s"}, Outputs: []string{"r"}},
			{OpType: "Relu", Inputs: []string{"r"}, Outputs: []string{"y"}},
		},
		Outputs: []*graph.Value{{Name: "y"}},
	}
	s, err := New(&graph.Model{Graph: g, Opsets: []graph.Opset{{Version: 13}}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.FromFloat32([]float32{1, -2, 3, -4, 5, -6}, 6)
	for _, shape := range [][]int64{{2, 3}, {3, -1}, {2, 3}} {
		out, err := s.Run(context.Background(), map[string]*tensor.Tensor{"x": x, "s": tensor.FromInt64(shape, 2)})
		if err != nil {
			t.Fatal(err)
		}
		want := []int{int(shape[0]), 6 / int(shape[0])}
		if !sameInts(out["y"].Shape, want) {
			t.Errorf("shape %v for target %v", out["y"].Shape, shape)
		}
	}
	if len(s.plans) != 2 {
		t.Errorf("%d plans, want 2", len(s.plans))
	}
}

// TestPoolPaths compares the 2-D pooling fast paths with the generic one
// (taken when MaxPool's Indices output is used) on awkward geometries.
func TestPoolPaths(t *testing.T) {
	r := rand.New(rand.NewSource(9))
	for _, tc := range []struct {
		k, s, pads []int64
		ceil       int64
		h, w       int
	}{
		{[]int64{2, 2}, []int64{2, 2}, []int64{0, 0, 0, 0}, 0, 6, 8},
		{[]int64{2, 2}, []int64{2, 2}, []int64{0, 0, 0, 0}, 1, 5, 7},
		{[]int64{3, 3}, []int64{2, 2}, []int64{1, 1, 1, 1}, 0, 9, 9},
		{[]int64{3, 2}, []int64{1, 2}, []int64{0, 1, 2, 0}, 1, 6, 5},
	} {
		x := randTensor(r, 2, 3, tc.h, tc.w)
		attrs := []*pb.AttributeProto{intsAttr("kernel_shape", tc.k...), intsAttr("strides", tc.s...),
			intsAttr("pads", tc.pads...), intAttr("ceil_mode", tc.ceil)}
		fast := runNode(t, 12, &graph.Node{OpType: "MaxPool", Inputs: []string{"x"}, Outputs: []string{"y"}, Attrs: attrs},
			map[string]*tensor.Tensor{"x": x}, nil)[0]
		generic := runNode(t, 12, &graph.Node{OpType: "MaxPool", Inputs: []string{"x"}, Outputs: []string{"y", "i"}, Attrs: attrs},
			map[string]*tensor.Tensor{"x": x}, nil)[0]
		if err := compareTensors(fast, generic, 0, 0); err != nil {
			t.Errorf("MaxPool %+v: fast path differs: %v", tc, err)
		}
	}
}

// TestPoolRandom checks 2-D MaxPool and AveragePool (both
// count_include_pad settings) of random sizes, strides, padding,
// dilation and ceil_mode against naivePool.
func TestPoolRandom(t *testing.T) {
	r := rand.New(rand.NewSource(11))
	for it := 0; it < 300; it++ {
		H, W := 1+r.Intn(9), 1+r.Intn(40)
		k := []int{1 + r.Intn(4), 1 + r.Intn(4)}
		s := []int{1 + r.Intn(3), 1 + r.Intn(3)}
		d := []int{1 + r.Intn(2), 1 + r.Intn(2)}
		pads := []int{r.Intn(k[0]), r.Intn(k[1]), r.Intn(k[0]), r.Intn(k[1])}
		ceil := r.Intn(2)
		if H+pads[0]+pads[2] < d[0]*(k[0]-1)+1 || W+pads[1]+pads[3] < d[1]*(k[1]-1)+1 {
			continue
		}
		x := randTensor(r, 1+r.Intn(2), 1+r.Intn(3), H, W)
		toI64 := func(v []int) []int64 {
			out := make([]int64, len(v))
			for i, x := range v {
				out[i] = int64(x)
			}
			return out
		}
		for _, mode := range []string{"max", "avg", "avgpad"} {
			op, attrs := "MaxPool", []*pb.AttributeProto{intsAttr("kernel_shape", toI64(k)...), intsAttr("strides", toI64(s)...),
				intsAttr("pads", toI64(pads)...), intAttr("ceil_mode", int64(ceil)), intsAttr("dilations", toI64(d)...)}
			if mode != "max" {
				op = "AveragePool" // with dilations from opset 19
				if mode == "avgpad" {
					attrs = append(attrs, intAttr("count_include_pad", 1))
				}
			}
			y := runNode(t, 19, &graph.Node{OpType: op, Inputs: []string{"x"}, Outputs: []string{"y"}, Attrs: attrs},
				map[string]*tensor.Tensor{"x": x}, nil)[0]
			want := naivePool(x, mode, k, s, d, pads, ceil == 1)
			if err := compareTensors(y, want, 1e-5, 1e-6); err != nil {
				t.Fatalf("%s %v k %v s %v d %v pads %v ceil %d: %v", mode, x.Shape, k, s, d, pads, ceil, err)
			}
		}
	}
}

// naivePool is 2-D max or average pooling, window by window: mode "max",
// "avg" (dividing by the values inside the input) or "avgpad" (by those
// inside the padded input).
func naivePool(x *tensor.Tensor, mode string, k, s, d, pads []int, ceil bool) *tensor.Tensor {
	N, C, H, W := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	in := []int{H, W}
	out := make([]int, 2)
	for i := range out {
		num := in[i] + pads[i] + pads[i+2] - (d[i]*(k[i]-1) + 1)
		out[i] = num/s[i] + 1
		if ceil && num%s[i] != 0 {
			out[i]++
			if (out[i]-1)*s[i] >= in[i]+pads[i] {
				out[i]--
			}
		}
	}
	y := tensor.New(N, C, out[0], out[1])
	for p := 0; p < N*C; p++ {
		img := x.F32[p*H*W : (p+1)*H*W]
		for oy := 0; oy < out[0]; oy++ {
			for ox := 0; ox < out[1]; ox++ {
				m, sum, n, npad := float32(math.Inf(-1)), 0.0, 0, 0
				for ki := 0; ki < k[0]; ki++ {
					for kj := 0; kj < k[1]; kj++ {
						iy, ix := oy*s[0]-pads[0]+ki*d[0], ox*s[1]-pads[1]+kj*d[1]
						if iy < H+pads[2] && ix < W+pads[3] {
							npad++
						}
						if iy < 0 || iy >= H || ix < 0 || ix >= W {
							continue
						}
						v := img[iy*W+ix]
						m = max(m, v)
						sum += float64(v)
						n++
					}
				}
				var v float32
				switch mode {
				case "max":
					v = m
				case "avg":
					v = float32(sum / float64(n))
				default:
					v = float32(sum / float64(npad))
				}
				y.F32[(p*out[0]+oy)*out[1]+ox] = v
			}
		}
	}
	return y
}
