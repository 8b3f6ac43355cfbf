package runtime

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/onnx/pb"
	"github.com/podaml/poda/tensor"
)

// convModel is a model y = Conv(x, w, b) with the given attributes,
// followed by a Relu when relu is set (fused into the epilogue).
func convModel(strides, pads, dils []int, relu bool, w, b *tensor.Tensor) *graph.Model {
	i64 := func(v []int) []int64 {
		out := make([]int64, len(v))
		for i, x := range v {
			out[i] = int64(x)
		}
		return out
	}
	out := "y"
	if relu {
		out = "c"
	}
	g := &graph.Graph{Nodes: []*graph.Node{{OpType: "Conv", Inputs: []string{"x", "w", "b"}, Outputs: []string{out},
		Attrs: []*pb.AttributeProto{intsAttr("strides", i64(strides)...), intsAttr("pads", i64(pads)...), intsAttr("dilations", i64(dils)...)}}}}
	if relu {
		g.Nodes = append(g.Nodes, &graph.Node{OpType: "Relu", Inputs: []string{"c"}, Outputs: []string{"y"}})
	}
	g.Inputs = []*graph.Value{{Name: "x", DType: tensor.Float}}
	g.Outputs = []*graph.Value{{Name: "y"}}
	g.AddInitializer("w", w)
	g.AddInitializer("b", b)
	return &graph.Model{Graph: g, Opsets: []graph.Opset{{Version: 13}}}
}

// runConv runs the model on x with implicitWaste set to waste.
func runConv(t testing.TB, m *graph.Model, x *tensor.Tensor, threads int, waste float64) *tensor.Tensor {
	t.Helper()
	var s *Session
	var err error
	withImplicitWaste(waste, func() { s, err = New(m, Options{Threads: threads}) })
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Run(context.Background(), map[string]*tensor.Tensor{"x": x})
	if err != nil {
		t.Fatal(err)
	}
	return out["y"]
}

// TestConvImplicit checks the implicit-GEMM convolution against im2col +
// GEMM on random stride-1 geometries: 1-D and 2-D, kernels 1…7 (1×1 with
// padding), asymmetric pads, dilations, odd widths, output channels
// around the 6-row tile, batches split by image and single images split
// into bands, with and without a fused Relu.
func TestConvImplicit(t *testing.T) {
	r := rand.New(rand.NewSource(9))
	shared, banded := 0, 0 // plans that split output channels, or image rows
	for it := 0; it < 80; it++ {
		oned := it%5 == 4
		n, c, m := 1+r.Intn(4), 1+r.Intn(12), 5+r.Intn(20)
		h, w := 1+r.Intn(20), 1+r.Intn(20)
		kh, kw := 1+r.Intn(7), 1+r.Intn(7)
		dh, dw := 1+r.Intn(2), 1+r.Intn(2)
		pads := []int{r.Intn(4), r.Intn(4), r.Intn(4), r.Intn(4)}
		if oned {
			h, kh, dh = 1, 1, 1
		}
		if h+pads[0]+pads[2] < dh*(kh-1)+1 || w+pads[1]+pads[3] < dw*(kw-1)+1 {
			continue
		}
		x := randTensor(r, n, c, h, w)
		wt := randTensor(r, m, c, kh, kw)
		var model *graph.Model
		relu := r.Intn(2) == 0
		if oned {
			x.Shape = []int{n, c, w}
			wt.Shape = []int{m, c, kw}
			model = convModel([]int{1}, []int{pads[1], pads[3]}, []int{dw}, relu, wt, randTensor(r, m))
		} else {
			model = convModel([]int{1, 1}, pads, []int{dh, dw}, relu, wt, randTensor(r, m))
		}
		name := fmt.Sprintf("x%v w%v pads %v dil %d,%d", x.Shape, wt.Shape, pads, dh, dw)
		want := runConv(t, model, x, 2, 0)
		for _, threads := range []int{1, 2, 3} {
			a := convAttrs{pads: []int64{int64(pads[0]), int64(pads[1]), int64(pads[2]), int64(pads[3])}, dilations: []int64{int64(dh), int64(dw)}}
			g, err := a.geometry(x.Shape[2:], wt.Shape[2:], false)
			if oned {
				a = convAttrs{pads: []int64{int64(pads[1]), int64(pads[3])}, dilations: []int64{int64(dw)}}
				g, err = a.geometry(x.Shape[2:], wt.Shape[2:], false)
			}
			if err != nil {
				t.Fatal(err)
			}
			withImplicitWaste(math.Inf(1), func() {
				switch p := planImplicit(g, n, c, m, threads); {
				case p == nil: // 1×1 without padding
				case p.parts > 1:
					shared++
				case p.bands > 1:
					banded++
				}
			})
			got := runConv(t, model, x, threads, math.Inf(1))
			if err := compareTensors(got, want, 1e-4, 1e-4); err != nil {
				t.Fatalf("%s, %d threads: %v", name, threads, err)
			}
		}
	}
	if shared == 0 || banded == 0 {
		t.Errorf("%d plans shared out the output channels and %d the rows, want some of each", shared, banded)
	}
}

// withImplicitWaste runs f with implicitWaste set to waste: 0 for im2col
// + GEMM, +Inf for the implicit GEMM wherever it applies.
func withImplicitWaste(waste float64, f func()) {
	saved := implicitWaste
	defer func() { implicitWaste = saved }()
	implicitWaste = waste
	f()
}

// BenchmarkConvLayers times the 3×3 stride-1 convolutions of the
// resnet_bnfold and resnet18 fixtures alone, through the implicit GEMM
// and through im2col + GEMM.
func BenchmarkConvLayers(b *testing.B) {
	layers := []struct{ n, c, m, hw int }{
		{64, 16, 16, 28}, {64, 32, 32, 14}, {64, 64, 64, 7},
		{1, 16, 16, 28}, {1, 32, 32, 14}, {1, 64, 64, 7},
		{1, 64, 64, 16}, {1, 128, 128, 8}, {1, 256, 256, 4},
		{64, 32, 32, 5}, {64, 32, 32, 6}, {1, 64, 64, 5}, {1, 64, 64, 6},
	}
	r := rand.New(rand.NewSource(1))
	for _, l := range layers {
		x := randTensor(r, l.n, l.c, l.hw, l.hw)
		m := convModel([]int{1, 1}, []int{1, 1, 1, 1}, []int{1, 1}, true, randTensor(r, l.m, l.c, 3, 3), randTensor(r, l.m))
		for _, implicit := range []bool{true, false} {
			b.Run(fmt.Sprintf("n%d_c%d_m%d_%dx%d/implicit=%v", l.n, l.c, l.m, l.hw, l.hw, implicit), func(b *testing.B) {
				waste := 0.0
				if implicit {
					waste = math.Inf(1)
				}
				var s *Session
				var err error
				withImplicitWaste(waste, func() { s, err = New(m, Options{}) })
				if err != nil {
					b.Fatal(err)
				}
				in := map[string]*tensor.Tensor{"x": x}
				ctx := context.Background()
				if _, err := s.Run(ctx, in); err != nil {
					b.Fatal(err)
				}
				b.ResetTimer()
				c0 := cpuTime()
				for i := 0; i < b.N; i++ {
					if _, err := s.Run(ctx, in); err != nil {
						b.Fatal(err)
					}
				}
				cpu := float64(cpuTime()-c0) / float64(b.N)
				b.ReportMetric(cpu, "cpu-ns/op")
				b.ReportMetric(float64(2*l.n*l.m*l.c*9*l.hw*l.hw)/cpu, "GFLOP/cpu-s")
			})
		}
	}
}
