package runtime

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/npy"
	"github.com/podaml/poda/onnx"
	"github.com/podaml/poda/onnx/pb"
	"github.com/podaml/poda/tensor"
	"google.golang.org/protobuf/proto"
)

// prune zeroes all but about keep of w's elements.
func prune(r *rand.Rand, w *tensor.Tensor, keep float64) *tensor.Tensor {
	for i := range w.F32 {
		if r.Float64() > keep {
			w.F32[i] = 0
		}
	}
	return w
}

func floatAttr(name string, v float32) *pb.AttributeProto {
	return &pb.AttributeProto{Name: proto.String(name), Type: pb.AttributeProto_FLOAT.Enum(), F: proto.Float32(v)}
}

// TestSparseMatchesDense runs pruned Gemm, MatMul and Conv nodes on the
// sparse kernels and on dense GEMM (Options.Dense) and compares.
func TestSparseMatchesDense(t *testing.T) {
	r := rand.New(rand.NewSource(11))
	type tc struct {
		name   string
		node   *graph.Node
		inputs map[string]*tensor.Tensor
		consts map[string]*tensor.Tensor
	}
	cases := []tc{
		{"gemm transB batch 1", &graph.Node{OpType: "Gemm", Inputs: []string{"x", "w", "b"}, Outputs: []string{"y"},
			Attrs: []*pb.AttributeProto{intAttr("transB", 1)}},
			map[string]*tensor.Tensor{"x": randTensor(r, 1, 40)},
			map[string]*tensor.Tensor{"w": prune(r, randTensor(r, 30, 40), 0.1), "b": randTensor(r, 30)}},
		{"gemm alpha batch 9", &graph.Node{OpType: "Gemm", Inputs: []string{"x", "w"}, Outputs: []string{"y"},
			Attrs: []*pb.AttributeProto{floatAttr("alpha", 0.5)}},
			map[string]*tensor.Tensor{"x": randTensor(r, 9, 40)},
			map[string]*tensor.Tensor{"w": prune(r, randTensor(r, 40, 30), 0.15)}},
		{"matmul 3-D", &graph.Node{OpType: "MatMul", Inputs: []string{"x", "w"}, Outputs: []string{"y"}},
			map[string]*tensor.Tensor{"x": randTensor(r, 2, 5, 40)},
			map[string]*tensor.Tensor{"w": prune(r, randTensor(r, 40, 24), 0.1)}},
		{"conv 3x3 groups 2", &graph.Node{OpType: "Conv", Inputs: []string{"x", "w", "b"}, Outputs: []string{"y"},
			Attrs: []*pb.AttributeProto{intAttr("group", 2), intsAttr("pads", 1, 1, 1, 1)}},
			map[string]*tensor.Tensor{"x": randTensor(r, 2, 8, 10, 10)},
			map[string]*tensor.Tensor{"w": prune(r, randTensor(r, 12, 4, 3, 3), 0.1), "b": randTensor(r, 12)}},
		{"conv 1x1", &graph.Node{OpType: "Conv", Inputs: []string{"x", "w"}, Outputs: []string{"y"}},
			map[string]*tensor.Tensor{"x": randTensor(r, 1, 16, 7, 7)},
			map[string]*tensor.Tensor{"w": prune(r, randTensor(r, 32, 16, 1, 1), 0.05)}},
	}
	for _, c := range cases {
		var outs [2]*tensor.Tensor
		for i, dense := range []bool{false, true} {
			g := &graph.Graph{Nodes: []*graph.Node{c.node}, Outputs: []*graph.Value{{Name: "y"}}}
			for name, x := range c.inputs {
				g.Inputs = append(g.Inputs, &graph.Value{Name: name, DType: x.DType})
			}
			for name, w := range c.consts {
				g.AddInitializer(name, w)
			}
			s, err := New(&graph.Model{Graph: g, Opsets: []graph.Opset{{Version: 13}}}, Options{Dense: dense})
			if err != nil {
				t.Fatal(err)
			}
			out, err := s.Run(context.Background(), c.inputs)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			outs[i] = out["y"]
			if used := usesSparse(s); used == dense {
				t.Errorf("%s (Dense %v): sparse kernels used = %v", c.name, dense, used)
			}
		}
		if err := compareTensors(outs[0], outs[1], 1e-4, 1e-5); err != nil {
			t.Errorf("%s: sparse differs from dense: %v", c.name, err)
		}
	}
}

func usesSparse(s *Session) bool { return sparseFormat(s) != "" }

// sparseFormat returns the format of the first sparse weight in use, or "".
func sparseFormat(s *Session) string {
	for _, en := range s.nodes {
		var sc *sparseCache
		switch o := en.op.(type) {
		case *gemmOp:
			sc = &o.sparse
		case *matmulOp:
			sc = &o.sparse
		case *convOp:
			sc = &o.sparse
		}
		if sc == nil {
			continue
		}
		for _, m := range sc.m {
			if m != nil {
				return m.Format()
			}
		}
	}
	return ""
}

// nmPrune keeps the n largest |w| of every m consecutive elements along
// the last axis.
func nmPrune(w *tensor.Tensor, n, m int) *tensor.Tensor {
	cols := w.Shape[len(w.Shape)-1]
	for r := 0; r < len(w.F32)/cols; r++ {
		row := w.F32[r*cols : (r+1)*cols]
		for g := 0; g < cols; g += m {
			grp := row[g:min(g+m, cols)]
			for len(nonzeros(grp)) > n {
				small := -1
				for i, v := range grp {
					if v != 0 && (small < 0 || math.Abs(float64(v)) < math.Abs(float64(grp[small]))) {
						small = i
					}
				}
				grp[small] = 0
			}
		}
	}
	return w
}

func nonzeros(v []float32) []float32 {
	var out []float32
	for _, x := range v {
		if x != 0 {
			out = append(out, x)
		}
	}
	return out
}

// TestSparseFormatChoice checks which format each kind of pruned weight
// gets, and that the result matches dense GEMM.
func TestSparseFormatChoice(t *testing.T) {
	r := rand.New(rand.NewSource(12))
	for _, tc := range []struct {
		name  string
		w     *tensor.Tensor
		batch int
		want  string
	}{
		{"random 90% batch 1", prune(r, randTensor(r, 40, 64), 0.1), 1, "bsr1x8"},
		{"random 90% batch 8", prune(r, randTensor(r, 40, 64), 0.1), 8, "csr"},
		{"2:4 batch 1", nmPrune(randTensor(r, 40, 64), 2, 4), 1, "nm2:4"},
		{"2:4 batch 8", nmPrune(randTensor(r, 40, 64), 2, 4), 8, "nm2:4"},
		{"1:4 batch 8", nmPrune(randTensor(r, 40, 64), 1, 4), 8, "nm1:4"},
		{"random 50% batch 8", prune(r, randTensor(r, 40, 64), 0.5), 8, ""},
	} {
		var outs [2]*tensor.Tensor
		for i, dense := range []bool{false, true} {
			// Gemm with transB: W is [40, 64] as stored.
			g := &graph.Graph{
				Inputs:  []*graph.Value{{Name: "x", DType: tensor.Float}},
				Nodes:   []*graph.Node{{OpType: "Gemm", Inputs: []string{"x", "w"}, Outputs: []string{"y"}, Attrs: []*pb.AttributeProto{intAttr("transB", 1)}}},
				Outputs: []*graph.Value{{Name: "y"}},
			}
			g.AddInitializer("w", tc.w)
			s, err := New(&graph.Model{Graph: g, Opsets: []graph.Opset{{Version: 13}}}, Options{Dense: dense})
			if err != nil {
				t.Fatal(err)
			}
			out, err := s.Run(context.Background(), map[string]*tensor.Tensor{"x": randTensor(rand.New(rand.NewSource(1)), tc.batch, 64)})
			if err != nil {
				t.Fatal(err)
			}
			outs[i] = out["y"]
			if !dense {
				if got := sparseFormat(s); !strings.HasPrefix(got, tc.want) || (tc.want == "" && got != "") {
					t.Errorf("%s: format %q, want %q", tc.name, got, tc.want)
				}
			}
		}
		if err := compareTensors(outs[0], outs[1], 1e-4, 1e-5); err != nil {
			t.Errorf("%s: sparse differs from dense: %v", tc.name, err)
		}
	}
}

// TestPrunedLeNet300 applies the fixture's 90% global magnitude mask to
// LeNet-300 and checks that the sparse run matches the dense one.
func TestPrunedLeNet300(t *testing.T) {
	path := filepath.Join(modelsDir, "lenet300.onnx")
	masks, _, err := npy.ReadNPZ(filepath.Join(modelsDir, "lenet300.globalmask90.npz"))
	if err != nil {
		t.Skip("no mask:", err)
	}
	var outs [2]*tensor.Tensor
	for i, dense := range []bool{false, true} {
		m, err := graph.Load(path, onnx.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		for name, mask := range masks {
			w := m.Graph.Initializer(name[:len(name)-len(".npy")])
			if w == nil {
				w = m.Graph.Initializer(name)
			}
			if w == nil {
				t.Fatalf("no initializer for mask %q", name)
			}
			mf, err := floats32(mask)
			if err != nil {
				mf = make([]float32, len(mask.Raw))
				for j, b := range mask.Raw {
					mf[j] = float32(b)
				}
			}
			for j := range w.F32 {
				w.F32[j] *= mf[j]
			}
		}
		s, err := New(m, Options{Dense: dense})
		if err != nil {
			t.Fatal(err)
		}
		x := randomInput(t, m, s.InputNames()[0], 4)
		out, err := s.Run(context.Background(), map[string]*tensor.Tensor{s.InputNames()[0]: x})
		if err != nil {
			t.Fatal(err)
		}
		outs[i] = out[s.OutputNames()[0]]
		if usesSparse(s) == dense {
			t.Errorf("Dense %v: sparse kernels used = %v", dense, !dense)
		}
	}
	if err := compareTensors(outs[0], outs[1], 1e-4, 1e-5); err != nil {
		t.Errorf("sparse differs from dense: %v", err)
	}
}

// TestSparseDirectConv runs pruned stride-1 convolutions (padding,
// dilation, 1-D, a batch, a fused Relu, a bias fed as an input) on the
// direct sparse path, asked for and by the heuristic, and compares them
// with dense GEMM.
func TestSparseDirectConv(t *testing.T) {
	r := rand.New(rand.NewSource(13))
	for _, tc := range []struct {
		name   string
		x, w   []int
		attrs  []*pb.AttributeProto
		relu   bool
		biasIn bool
	}{
		{"5x5 valid", []int{1, 3, 12, 12}, []int{8, 3, 5, 5}, nil, false, false},
		{"3x3 pad 1 relu batch 3", []int{3, 4, 9, 11}, []int{6, 4, 3, 3}, []*pb.AttributeProto{intsAttr("pads", 1, 1, 1, 1)}, true, false},
		{"3x3 pads 2 0 1 3 dilation 2", []int{2, 2, 10, 7}, []int{5, 2, 3, 3},
			[]*pb.AttributeProto{intsAttr("pads", 2, 0, 1, 3), intsAttr("dilations", 2, 2)}, false, true},
		{"1x1", []int{1, 16, 5, 5}, []int{12, 16, 1, 1}, nil, true, false},
		{"1-D k3 pad 1", []int{2, 5, 30}, []int{7, 5, 3}, []*pb.AttributeProto{intsAttr("pads", 1, 1)}, false, false},
		{"wide 100 columns", []int{1, 2, 20, 100}, []int{4, 2, 3, 3}, []*pb.AttributeProto{intsAttr("pads", 1, 1, 1, 1)}, false, false},
	} {
		x := randTensor(r, tc.x...)
		w := prune(r, randTensor(r, tc.w...), 0.2)
		b := randTensor(r, tc.w[0])
		for _, format := range []string{"direct", ""} {
			var outs [2]*tensor.Tensor
			for i, dense := range []bool{false, true} {
				nodes := []*graph.Node{{Name: "conv", OpType: "Conv", Inputs: []string{"x", "w", "b"}, Outputs: []string{"c"}, Attrs: tc.attrs}}
				if tc.relu {
					nodes = append(nodes, &graph.Node{OpType: "Relu", Inputs: []string{"c"}, Outputs: []string{"y"}})
				} else {
					nodes[0].Outputs = []string{"y"}
				}
				g := &graph.Graph{Nodes: nodes, Inputs: []*graph.Value{{Name: "x", DType: tensor.Float}}, Outputs: []*graph.Value{{Name: "y"}}}
				g.AddInitializer("w", w)
				in := map[string]*tensor.Tensor{"x": x}
				if tc.biasIn {
					g.Inputs = append(g.Inputs, &graph.Value{Name: "b", DType: tensor.Float})
					in["b"] = b
				} else {
					g.AddInitializer("b", b)
				}
				opt := Options{Dense: dense}
				if format != "" {
					opt.Formats = map[string]string{"conv": format}
				}
				s, err := New(&graph.Model{Graph: g, Opsets: []graph.Opset{{Version: 13}}}, opt)
				if err != nil {
					t.Fatal(err)
				}
				out, err := s.Run(context.Background(), in)
				if err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				outs[i] = out["y"]
				if f := s.LayerFormats()[0].Format; !dense && f != "direct" {
					t.Errorf("%s (format %q): runs %s", tc.name, format, f)
				}
			}
			if err := compareTensors(outs[0], outs[1], 1e-4, 1e-5); err != nil {
				t.Errorf("%s (format %q): direct differs from dense: %v", tc.name, format, err)
			}
		}
	}
}

// magnitudePruned returns a copy of w with the fraction s of its smallest
// |w| set to zero.
func magnitudePruned(w *tensor.Tensor, s float64) *tensor.Tensor {
	mags := make([]float64, len(w.F32))
	for i, v := range w.F32 {
		mags[i] = math.Abs(float64(v))
	}
	sort.Float64s(mags)
	cut := mags[min(len(mags)-1, int(s*float64(len(mags))))]
	out := w.Clone()
	for i, v := range out.F32 {
		if math.Abs(float64(v)) < cut {
			out.F32[i] = 0
		}
	}
	return out
}

// TestDirectConvBreakEven prints, for LeNet-5's conv1 and conv2 (trained
// weights, magnitude-pruned to each sparsity, batch 1), the speed-up of
// the direct sparse convolution and of im2col + CSR over dense
// (im2col + GEMM), and the lowest sparsity at which each wins. It runs
// only when PODA_SPARSE_SWEEP is set:
//
//	PODA_SPARSE_SWEEP=1 go test -run TestDirectConvBreakEven -v -cpu 1 ./runtime/
func TestDirectConvBreakEven(t *testing.T) {
	if os.Getenv("PODA_SPARSE_SWEEP") == "" {
		t.Skip("set PODA_SPARSE_SWEEP=1 to run the sweep")
	}
	m, err := graph.Load(filepath.Join(modelsDir, "lenet5.onnx"), onnx.Limits{})
	if err != nil {
		t.Skip("fixture:", err)
	}
	sparsities := []float64{0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95}
	r := rand.New(rand.NewSource(14))
	for _, c := range []struct {
		name string
		x    []int
	}{{"conv1", []int{1, 1, 28, 28}}, {"conv2", []int{1, 20, 12, 12}}} {
		var out strings.Builder
		fmt.Fprintf(&out, "%s, input %v: speed-up over dense\n%-8s", c.name, c.x, "sparsity")
		for _, sp := range sparsities {
			fmt.Fprintf(&out, " %6.0f%%", 100*sp)
		}
		out.WriteString("  break-even\n")
		in := map[string]*tensor.Tensor{"x": randTensor(r, c.x...)}
		ratios := map[string][]float64{}
		for _, sp := range sparsities {
			g := &graph.Graph{Inputs: []*graph.Value{{Name: "x", DType: tensor.Float}}, Outputs: []*graph.Value{{Name: "y"}},
				Nodes: []*graph.Node{{Name: "conv", OpType: "Conv", Inputs: []string{"x", "w", "b"}, Outputs: []string{"y"}}}}
			g.AddInitializer("w", magnitudePruned(&m.Graph.Initializer(c.name+".weight").Tensor, sp))
			g.AddInitializer("b", &m.Graph.Initializer(c.name+".bias").Tensor)
			model := &graph.Model{Graph: g, Opsets: []graph.Opset{{Version: 13}}}
			var runs []func()
			for _, f := range []string{"dense", "direct", "csr"} {
				s, err := New(model, Options{Formats: map[string]string{"conv": f}})
				if err != nil {
					t.Fatal(err)
				}
				runs = append(runs, func() {
					if _, err := s.Run(context.Background(), in); err != nil {
						t.Fatal(err)
					}
				})
			}
			ns := timeRuns(runs)
			ratios["direct"] = append(ratios["direct"], ns[0]/ns[1])
			ratios["csr"] = append(ratios["csr"], ns[0]/ns[2])
		}
		for _, f := range []string{"direct", "csr"} {
			fmt.Fprintf(&out, "%-8s", f)
			be := "none"
			for i, x := range ratios[f] {
				fmt.Fprintf(&out, " %6.2fx", x)
				if x > 1 && be == "none" {
					be = fmt.Sprintf("%.0f%%", 100*sparsities[i])
				}
			}
			fmt.Fprintf(&out, "  %s\n", be)
		}
		t.Log("\n" + out.String())
	}
}
