package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestPacking checks packA and packB, whose assembly paths write whole
// vectors, against their definitions, with guards around the packed
// buffer.
func TestPacking(t *testing.T) {
	impls(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		for it := 0; it < 500; it++ {
			kc := 1 + r.IntN(40)
			trans := it&1 != 0
			// packA: a rows×kc block of op(A) inside a larger matrix.
			rows := 1 + r.IntN(mr)
			i0, p0 := r.IntN(3), r.IntN(3)
			ar, ac := i0+rows+r.IntN(2), p0+kc+r.IntN(2)
			if trans {
				ar, ac = ac, ar
			}
			lda := ac + r.IntN(3)
			a := randSlice(r, ar*lda)
			alpha := float32(r.NormFloat64())
			buf, dst := guarded(kc*mr, func(int) float32 { return float32(math.NaN()) })
			packA(dst, a, lda, trans, alpha, i0, rows, p0, kc)
			checkGuards(t, "packA", buf, kc*mr)
			for p := 0; p < kc; p++ {
				for i := 0; i < mr; i++ {
					var want float32
					if i < rows {
						if trans {
							want = alpha * a[(p0+p)*lda+i0+i]
						} else {
							want = alpha * a[(i0+i)*lda+p0+p]
						}
					}
					if got := dst[p*mr+i]; got != want {
						t.Fatalf("packA trans=%v rows=%d kc=%d: [p=%d,i=%d] = %v, want %v", trans, rows, kc, p, i, got, want)
					}
				}
			}
			// packB: a kc×cols block of op(B).
			cols := 1 + r.IntN(nr)
			if it%3 == 0 {
				cols = nr
			}
			j0 := r.IntN(3)
			br, bc := p0+kc+r.IntN(2), j0+cols+r.IntN(2)
			if trans {
				br, bc = bc, br
			}
			ldb := bc + r.IntN(3)
			b := randSlice(r, br*ldb)
			buf, dst = guarded(kc*nr, func(int) float32 { return float32(math.NaN()) })
			packB(dst, b, ldb, trans, p0, kc, j0, cols)
			checkGuards(t, "packB", buf, kc*nr)
			for p := 0; p < kc; p++ {
				for j := 0; j < nr; j++ {
					var want float32
					if j < cols {
						if trans {
							want = b[(j0+j)*ldb+p0+p]
						} else {
							want = b[(p0+p)*ldb+j0+j]
						}
					}
					if got := dst[p*nr+j]; got != want {
						t.Fatalf("packB trans=%v cols=%d kc=%d: [p=%d,j=%d] = %v, want %v", trans, cols, kc, p, j, got, want)
					}
				}
			}
		}
	})
}
