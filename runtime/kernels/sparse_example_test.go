package kernels_test

import (
	"fmt"

	"github.com/podaml/poda/runtime/kernels"
)

// A pruned Linear layer (y = x·Wᵀ + b, then Relu) on a batch of 2, with W
// in CSR form; NewBSR8 or NewNM would be used the same way.
func ExampleCSR_MulVecBatch() {
	w := []float32{ // 3×4 (out × in), 75% zeros
		0, 2, 0, 0,
		0, 0, 0, -1,
		1, 0, 0, 0,
	}
	s := kernels.NewCSR(w, 3, 4)
	x := []float32{ // 2×4
		1, 1, 1, 1,
		1, 2, 3, 4,
	}
	y := make([]float32, 2*3)
	ep := &kernels.Epilogue{Bias: []float32{0, 0.5, 0}, Act: kernels.ActRelu}
	s.MulVecBatch(y, 3, x, 4, 2, 0, ep)
	fmt.Println(s.NNZ(), y)
	// Output: 3 [2 0 1 4 0 1]
}

// A 2:4-sparse convolution weight [Cout=2, C·kh·kw=4] times an Im2col
// matrix [4, P=3], with a per-channel bias.
func ExampleNM_MulDense() {
	w := []float32{
		1, 0, 0, 2, // at most 2 nonzeros in every 4 columns
		0, 3, 4, 0,
	}
	s, err := kernels.NewNM(w, 2, 4, 2, 4)
	if err != nil {
		panic(err)
	}
	col := []float32{
		1, 2, 3,
		1, 1, 1,
		0, 1, 0,
		1, 0, 1,
	}
	out := make([]float32, 2*3)
	s.MulDense(out, 3, col, 3, 3, 0, &kernels.Epilogue{Bias: []float32{0, 1}, BiasPerRow: true})
	fmt.Println(s.Format(), out)
	// Output: nm2:4 [3 2 5 4 8 4]
}
