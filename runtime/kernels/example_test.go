package kernels_test

import (
	"fmt"

	"github.com/podaml/poda/runtime/kernels"
)

// A Gemm node with transB (PyTorch's Linear: y = x·Wᵀ + b) and a fused
// Relu, on a batch of 2.
func ExampleSgemmEpilogue() {
	x := []float32{ // 2×3
		1, 2, 3,
		-1, 0, 1,
	}
	w := []float32{ // 2×3 (out × in)
		1, 0, 0,
		0, 1, -1,
	}
	y := make([]float32, 2*2)
	ep := &kernels.Epilogue{Bias: []float32{0.5, 0}, Act: kernels.ActRelu}
	kernels.SgemmEpilogue(false, true, 2, 2, 3, 1, x, 3, w, 3, 0, y, 2, ep)
	fmt.Println(y)
	// Output: [1.5 0 0 0]
}

// A 3×3 convolution with padding 1 on a 1×3×3 image, lowered with Im2col
// to a [1, 9] × [9, 9] product.
func ExampleIm2col() {
	img := []float32{
		1, 2, 3,
		4, 5, 6,
		7, 8, 9,
	}
	outH := kernels.ConvOutSize(3, 3, 1, 1, 1, 1)
	outW := kernels.ConvOutSize(3, 3, 1, 1, 1, 1)
	col := make([]float32, 9*outH*outW)
	kernels.Im2col(col, img, 1, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1)
	box := []float32{1, 1, 1, 1, 1, 1, 1, 1, 1} // sums each 3×3 window
	out := make([]float32, outH*outW)
	kernels.Sgemm(false, false, 1, outH*outW, 9, 1, box, 9, col, outH*outW, 0, out, outH*outW)
	fmt.Println(out)
	// Output: [12 21 16 27 45 33 24 39 28]
}
