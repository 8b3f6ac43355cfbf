package runtime

import (
	"math/rand"
	"testing"

	"github.com/podaml/poda/graph"
	"github.com/podaml/poda/onnx/pb"
	"github.com/podaml/poda/runtime/kernels"
	"github.com/podaml/poda/tensor"
)

// TestIm2colStrided checks im2colStrided (and its im2colShift fast path)
// against kernels.Im2col over random geometries, written with a row
// stride wider than a row, the padding between rows left untouched.
func TestIm2colStrided(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for it := 0; it < 3000; it++ {
		c, h, w := 1+r.Intn(3), 1+r.Intn(9), 1+r.Intn(9)
		kh, kw := 1+r.Intn(4), 1+r.Intn(4)
		pt, pl, pb, pr := r.Intn(4), r.Intn(4), r.Intn(4), r.Intn(4)
		sh, sw, dh, dw := 1+r.Intn(3), 1+r.Intn(3), 1+r.Intn(2), 1+r.Intn(2)
		if r.Intn(2) == 0 { // favour the stride-1 same-width path
			sh, sw = 1, 1
			pr = dw*(kw-1) - pl
			if pr < 0 {
				pl, pr = 0, dw*(kw-1)
			}
		}
		oh := kernels.ConvOutSize(h, kh, pt, pb, sh, dh)
		ow := kernels.ConvOutSize(w, kw, pl, pr, sw, dw)
		if oh == 0 || ow == 0 {
			continue
		}
		src := make([]float32, c*h*w)
		for i := range src {
			src[i] = float32(i + 1)
		}
		K, P := c*kh*kw, oh*ow
		want := make([]float32, K*P)
		kernels.Im2col(want, src, c, h, w, kh, kw, pt, pl, pb, pr, sh, sw, dh, dw)
		ld := P + r.Intn(5)
		got := make([]float32, (K-1)*ld+P)
		for i := range got {
			got[i] = -1
		}
		im2colStrided(got, ld, src, c, h, w, kh, kw, pt, pl, sh, sw, dh, dw, oh, ow)
		for k := 0; k < K; k++ {
			for q := 0; q < P; q++ {
				if got[k*ld+q] != want[k*P+q] {
					t.Fatalf("c%d %d×%d k%d×%d pad %d,%d,%d,%d s%d,%d d%d,%d: [%d,%d] = %v, want %v",
						c, h, w, kh, kw, pt, pl, pb, pr, sh, sw, dh, dw, k, q, got[k*ld+q], want[k*P+q])
				}
			}
			for q := P; q < ld && k < K-1; q++ {
				if got[k*ld+q] != -1 {
					t.Fatalf("wrote padding at row %d column %d", k, q)
				}
			}
		}
	}
}

// TestConvBatchedParallel runs convolutions that take the batched path
// with images unrolled on several goroutines and more than one block of
// images, in 2-D (strided im2col), pointwise and 3-D (im2col then
// spread), with constant (pre-packed) weights, against naiveConv.
func TestConvBatchedParallel(t *testing.T) {
	r := rand.New(rand.NewSource(4))
	cases := []struct {
		x, w                []int
		strides, pads, dils []int
	}{
		{[]int{30, 16, 14, 14}, []int{64, 16, 3, 3}, []int{1, 1}, []int{1, 1, 1, 1}, []int{1, 1}},
		{[]int{9, 16, 15, 13}, []int{20, 16, 3, 2}, []int{2, 1}, []int{1, 0, 2, 1}, []int{1, 2}},
		{[]int{40, 64, 7, 7}, []int{32, 64, 1, 1}, []int{1, 1}, []int{0, 0, 0, 0}, []int{1, 1}},
		{[]int{8, 4, 6, 6, 6}, []int{5, 4, 3, 3, 3}, []int{1, 1, 1}, []int{1, 1, 1, 1, 1, 1}, []int{1, 1, 1}},
	}
	for i, tc := range cases {
		x, w, b := randTensor(r, tc.x...), randTensor(r, tc.w...), randTensor(r, tc.w[0])
		var s, p, d []int64
		for _, v := range tc.strides {
			s = append(s, int64(v))
		}
		for _, v := range tc.pads {
			p = append(p, int64(v))
		}
		for _, v := range tc.dils {
			d = append(d, int64(v))
		}
		n := &graph.Node{OpType: "Conv", Inputs: []string{"x", "w", "b"}, Outputs: []string{"y"}, Attrs: []*pb.AttributeProto{
			intsAttr("strides", s...), intsAttr("pads", p...), intsAttr("dilations", d...)}}
		y := runNode(t, 13, n, map[string]*tensor.Tensor{"x": x}, map[string]*tensor.Tensor{"w": w, "b": b})[0]
		want := naiveConv(x, w, b, 1, tc.strides, tc.pads, tc.dils)
		if err := compareTensors(y, want, 1e-4, 1e-4); err != nil {
			t.Errorf("case %d (%v * %v): %v", i, tc.x, tc.w, err)
		}
	}
}

// TestDepthwiseRandom checks depthwise convolutions of random sizes,
// strides, padding and dilation against naiveConv.
func TestDepthwiseRandom(t *testing.T) {
	r := rand.New(rand.NewSource(5))
	for it := 0; it < 300; it++ {
		C, H, W := 1+r.Intn(4), 1+r.Intn(9), 1+r.Intn(40)
		kh, kw := 1+r.Intn(4), 1+r.Intn(4)
		pads := []int{r.Intn(3), r.Intn(3), r.Intn(3), r.Intn(3)}
		strides := []int{1 + r.Intn(3), 1 + r.Intn(3)}
		dils := []int{1 + r.Intn(2), 1 + r.Intn(2)}
		if H+pads[0]+pads[2] < dils[0]*(kh-1)+1 || W+pads[1]+pads[3] < dils[1]*(kw-1)+1 {
			continue
		}
		x, w, b := randTensor(r, 1+r.Intn(2), C, H, W), randTensor(r, C, 1, kh, kw), randTensor(r, C)
		toI64 := func(v []int) []int64 {
			out := make([]int64, len(v))
			for i, x := range v {
				out[i] = int64(x)
			}
			return out
		}
		n := &graph.Node{OpType: "Conv", Inputs: []string{"x", "w", "b"}, Outputs: []string{"y"}, Attrs: []*pb.AttributeProto{
			intAttr("group", int64(C)), intsAttr("pads", toI64(pads)...), intsAttr("strides", toI64(strides)...),
			intsAttr("dilations", toI64(dils)...)}}
		y := runNode(t, 13, n, map[string]*tensor.Tensor{"x": x}, map[string]*tensor.Tensor{"w": w, "b": b})[0]
		want := naiveConv(x, w, b, C, strides, pads, dils)
		if err := compareTensors(y, want, 1e-4, 1e-5); err != nil {
			t.Fatalf("%v * %v pads %v strides %v dils %v: %v", x.Shape, w.Shape, pads, strides, dils, err)
		}
	}
}
