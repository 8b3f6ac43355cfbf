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

// runConv runs the model on x with implicitWaste set to waste while
// planning (at the first Run).
func runConv(t testing.TB, m *graph.Model, x *tensor.Tensor, threads int, waste float64) *tensor.Tensor {
	t.Helper()
	var out map[string]*tensor.Tensor
	withImplicitWaste(waste, func() {
		s, err := New(m, Options{Threads: threads})
		if err != nil {
			t.Fatal(err)
		}
		if out, err = s.Run(context.Background(), map[string]*tensor.Tensor{"x": x}); err != nil {
			t.Fatal(err)
		}
	})
	return out["y"]
}

// TestConvImplicit checks the implicit-GEMM convolution against im2col +
// GEMM on random geometries: 1-D and 2-D, kernels 1…7 (1×1 with
// padding), asymmetric pads, strides 1…3, dilations, odd widths, output channels
// around the 6-row tile, batches split by image and single images split
// into bands, with and without a fused Relu.
func TestConvImplicit(t *testing.T) {
	r := rand.New(rand.NewSource(9))
	shared, banded, strided := 0, 0, 0 // plans that split output channels, or image rows; strided ones
	for it := 0; it < 150; it++ {
		oned := it%5 == 4
		n, c, m := 1+r.Intn(4), 1+r.Intn(12), 5+r.Intn(20)
		h, w := 1+r.Intn(20), 1+r.Intn(20)
		kh, kw := 1+r.Intn(7), 1+r.Intn(7)
		dh, dw := 1+r.Intn(2), 1+r.Intn(2)
		pads := []int{r.Intn(4), r.Intn(4), r.Intn(4), r.Intn(4)}
		sh, sw := 1, 1
		if it%3 == 2 {
			sh, sw = 1+r.Intn(3), 1+r.Intn(3)
		}
		if oned {
			h, kh, dh, sh = 1, 1, 1, 1
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
			model = convModel([]int{sw}, []int{pads[1], pads[3]}, []int{dw}, relu, wt, randTensor(r, m))
		} else {
			model = convModel([]int{sh, sw}, pads, []int{dh, dw}, relu, wt, randTensor(r, m))
		}
		name := fmt.Sprintf("x%v w%v pads %v strides %d,%d dil %d,%d", x.Shape, wt.Shape, pads, sh, sw, dh, dw)
		want := runConv(t, model, x, 2, 0)
		for _, threads := range []int{1, 2, 3} {
			a := convAttrs{pads: []int64{int64(pads[0]), int64(pads[1]), int64(pads[2]), int64(pads[3])},
				strides: []int64{int64(sh), int64(sw)}, dilations: []int64{int64(dh), int64(dw)}}
			if oned {
				a = convAttrs{pads: []int64{int64(pads[1]), int64(pads[3])}, strides: []int64{int64(sw)}, dilations: []int64{int64(dw)}}
			}
			g, err := a.geometry(x.Shape[2:], wt.Shape[2:], false)
			if err != nil {
				t.Fatal(err)
			}
			withImplicitWaste(math.Inf(1), func() {
				p := planImplicit(g, n, c, m, threads)
				if p != nil && p.sh*p.sw > 1 {
					strided++
				}
				switch {
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
	if shared == 0 || banded == 0 || strided == 0 {
		t.Errorf("%d plans shared out the output channels, %d the rows, %d were strided; want some of each", shared, banded, strided)
	}
}

// TestConvImplicitEmpty runs a convolution of an empty batch with the
// implicit GEMM allowed everywhere.
func TestConvImplicitEmpty(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	x, w, b := randTensor(r, 0, 3, 5, 5), randTensor(r, 8, 3, 3, 3), randTensor(r, 8)
	model := convModel([]int{1, 1}, []int{1, 1, 1, 1}, []int{1, 1}, false, w, b)
	want := naiveConv(x, w, b, 1, []int{1, 1}, []int{1, 1, 1, 1}, []int{1, 1})
	if err := compareTensors(runConv(t, model, x, 2, math.Inf(1)), want, 1e-5, 1e-5); err != nil {
		t.Error(err)
	}
}

// withImplicitWaste runs f with implicitWaste set to waste: 0 for im2col
// + GEMM, +Inf for the implicit GEMM wherever it applies.
func withImplicitWaste(waste float64, f func()) {
	saved := implicitWaste
	defer func() { implicitWaste = saved }()
	implicitWaste = [2]float64{waste, waste}
	f()
}

// BenchmarkConvLayers times the convolutions of the resnet_bnfold and
// resnet18 fixtures alone (3×3 with pad 1 unless k, s say otherwise),
// and a few smaller images, through the implicit GEMM and through im2col
// + GEMM.
func BenchmarkConvLayers(b *testing.B) {
	layers := []struct{ n, c, m, hw, k, s int }{
		{64, 16, 16, 28, 3, 1}, {64, 32, 32, 14, 3, 1}, {64, 64, 64, 7, 3, 1},
		{64, 16, 32, 28, 3, 2}, {64, 32, 64, 14, 3, 2},
		{1, 16, 16, 28, 3, 1}, {1, 32, 32, 14, 3, 1}, {1, 64, 64, 7, 3, 1},
		{1, 64, 64, 16, 3, 1}, {1, 128, 128, 8, 3, 1}, {1, 256, 256, 4, 3, 1},
		{1, 3, 64, 64, 7, 2}, {1, 64, 128, 16, 3, 2}, {1, 128, 256, 8, 3, 2},
		{64, 32, 32, 5, 3, 1}, {64, 32, 32, 6, 3, 1}, {1, 64, 64, 5, 3, 1}, {1, 64, 64, 6, 3, 1},
		{64, 128, 128, 4, 3, 1}, {64, 64, 64, 3, 3, 1}, {64, 128, 256, 8, 3, 2},
	}
	r := rand.New(rand.NewSource(1))
	for _, l := range layers {
		x := randTensor(r, l.n, l.c, l.hw, l.hw)
		pad := l.k / 2
		out := (l.hw+2*pad-l.k)/l.s + 1
		m := convModel([]int{l.s, l.s}, []int{pad, pad, pad, pad}, []int{1, 1}, true, randTensor(r, l.m, l.c, l.k, l.k), randTensor(r, l.m))
		flops := float64(2 * l.n * l.m * l.c * l.k * l.k * out * out)
		for _, implicit := range []bool{true, false} {
			b.Run(fmt.Sprintf("n%d_c%d_m%d_%dx%d_k%d_s%d/implicit=%v", l.n, l.c, l.m, l.hw, l.hw, l.k, l.s, implicit), func(b *testing.B) {
				waste := 0.0
				if implicit {
					waste = math.Inf(1)
				}
				var s *Session
				in := map[string]*tensor.Tensor{"x": x}
				ctx := context.Background()
				withImplicitWaste(waste, func() { // planned at the first Run
					var err error
					if s, err = New(m, Options{}); err != nil {
						b.Fatal(err)
					}
					if _, err := s.Run(ctx, in); err != nil {
						b.Fatal(err)
					}
				})
				b.ResetTimer()
				c0 := cpuTime()
				for i := 0; i < b.N; i++ {
					if _, err := s.Run(ctx, in); err != nil {
						b.Fatal(err)
					}
				}
				cpu := float64(cpuTime()-c0) / float64(b.N)
				b.ReportMetric(cpu, "cpu-ns/op")
				b.ReportMetric(flops/cpu, "GFLOP/cpu-s")
			})
		}
	}
}
