package kernels

import (
	"math/rand/v2"
	"testing"
)

// TestSgemmPacked checks that SgemmPacked gives bitwise the results of
// SgemmEpilogue, over shapes that cover the unpacked small cases, edge
// slivers, several k and row blocks, and the parallel split.
func TestSgemmPacked(t *testing.T) {
	r := rand.New(rand.NewPCG(2, 3))
	shapes := [][3]int{{1, 5, 7}, {4, 33, 9}, {5, 17, 3}, {6, 16, 256}, {7, 1, 30}, {16, 784, 144},
		{13, 50, 600}, {150, 40, 300}, {300, 97, 513}, {64, 49, 576}, {0, 3, 4}, {8, 0, 4}, {9, 10, 0}}
	for _, sh := range shapes {
		m, n, k := sh[0], sh[1], sh[2]
		for _, transA := range []bool{false, true} {
			for _, transB := range []bool{false, true} {
				lda, ldb, ldc := k+1, n+2, n+3
				if transA {
					lda = m + 1
				}
				if transB {
					ldb = k + 2
				}
				a := randSlice(r, max(m, k)*lda)
				b := randSlice(r, max(n, k)*ldb)
				bias := randSlice(r, m)
				ep := &Epilogue{Bias: bias, BiasPerRow: true, Act: ActRelu}
				for _, beta := range []float32{0, 0.5} {
					c0 := randSlice(r, max(m, 1)*ldc)
					want := append([]float32(nil), c0...)
					got := append([]float32(nil), c0...)
					SgemmEpilogue(transA, transB, m, n, k, 1.5, a, lda, b, ldb, beta, want, ldc, ep)
					pa := PackA(transA, m, k, 1.5, a, lda)
					SgemmPacked(pa, transB, n, b, ldb, beta, got, ldc, ep)
					for i := range want {
						if got[i] != want[i] {
							t.Fatalf("%d×%d×%d transA=%v transB=%v beta=%v: c[%d] = %v, want %v", m, n, k, transA, transB, beta, i, got[i], want[i])
						}
					}
				}
			}
		}
	}
}
