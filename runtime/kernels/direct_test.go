package kernels

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestStencil checks Stencil against the sum in float64 for tap counts
// from none to a 5×5 kernel and every output length up to 70 (each tail
// of the 32- and 8-wide loops), on guarded outputs.
func TestStencil(t *testing.T) {
	impls(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(7, 8))
		for _, taps := range []int{0, 1, 2, 9, 25} {
			for _, n := range append(vecLens[:71:71], 300, 1031) {
				w := randSlice(r, taps)
				offs := make([]int, taps)
				for i := range offs {
					offs[i] = r.IntN(40)
				}
				src := randSlice(r, n+40)
				b := float32(r.NormFloat64())
				buf, dst := guarded(n, func(int) float32 { return guardVal })
				Stencil(dst, src, w, offs, b)
				checkGuards(t, "Stencil", buf, n)
				eps := 1.0 / (1 << 23)
				for i := range dst {
					want, bound := float64(b), math.Abs(float64(b))
					for k, o := range offs {
						want += float64(w[k]) * float64(src[i+o])
						bound += math.Abs(float64(w[k]) * float64(src[i+o]))
					}
					if math.Abs(float64(dst[i])-want) > 2*float64(taps+1)*eps*bound {
						t.Fatalf("taps=%d n=%d: dst[%d] = %v, want %v", taps, n, i, dst[i], want)
					}
				}
			}
		}
	})
}

func TestStencilOffsetsChecked(t *testing.T) {
	for _, offs := range [][]int{{-1}, {5}, {0, 1}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("offsets %v: no panic", offs)
				}
			}()
			Stencil(make([]float32, 4), make([]float32, 8), make([]float32, 1), offs, 0)
		}()
	}
}

// TestMultiDot checks MultiDot against the float64 product, for column
// counts around the groups of four, depths around the 8- and 16-wide
// loops, padded strides and with and without an epilogue.
func TestMultiDot(t *testing.T) {
	impls(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(9, 10))
		for _, n := range []int{0, 1, 2, 3, 4, 5, 8, 9} {
			for _, k := range []int{0, 1, 7, 8, 15, 16, 17, 24, 33, 1000} {
				for _, withEp := range []bool{false, true} {
					m := 1 + r.IntN(7)
					lda, ldb, ldc := k+r.IntN(3), k+r.IntN(3), n+r.IntN(3)
					a := randSlice(r, max(0, (m-1)*lda+k))
					b := randSlice(r, max(0, (n-1)*ldb+k))
					var ep *Epilogue
					if withEp {
						ep = &Epilogue{Bias: randSlice(r, m), BiasPerRow: true, Act: ActRelu}
					}
					buf, c := guarded(max(0, (m-1)*ldc+n), func(int) float32 { return guardVal })
					MultiDot(m, n, k, a, lda, b, ldb, c, ldc, ep)
					checkGuards(t, "MultiDot", buf, len(c))
					want, bound := naiveGemm(false, true, m, n, k, 1, a, lda, b, ldb, 0, nil, 0)
					eps := 1.0 / (1 << 23)
					for i := 0; i < m; i++ {
						for j := 0; j < n; j++ {
							w, bd := want[i*n+j], bound[i*n+j]
							if ep != nil {
								w += float64(ep.Bias[i])
								bd += math.Abs(float64(ep.Bias[i]))
								w = max(w, 0)
							}
							if got := c[i*ldc+j]; math.Abs(float64(got)-w) > 2*float64(k+2)*eps*bd {
								t.Fatalf("m=%d n=%d k=%d ep=%v: c[%d,%d] = %v, want %v", m, n, k, withEp, i, j, got, w)
							}
						}
					}
				}
			}
		}
	})
}

// TestMultiDotRowsIndependent checks that each row of C is the same bit
// for bit whether MultiDot computes it alone or paired with another, so
// that results do not depend on how callers split the rows.
func TestMultiDotRowsIndependent(t *testing.T) {
	impls(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(11, 12))
		const m, n, k = 5, 6, 203
		a, b := randSlice(r, m*k), randSlice(r, n*k)
		all := make([]float32, m*n)
		MultiDot(m, n, k, a, k, b, k, all, n, nil)
		for i := 0; i < m; i++ {
			one := make([]float32, n)
			MultiDot(1, n, k, a[i*k:], k, b, k, one, n, nil)
			for j := range one {
				if !sameBits(one[j], all[i*n+j]) {
					t.Fatalf("row %d column %d: %v alone, %v in the batch", i, j, one[j], all[i*n+j])
				}
			}
		}
	})
}

// BenchmarkMultiDot multiplies ResNet-18's last 3×3 weights (512×4608)
// by the 4 pixels of a 2×2 output, and a block of them small enough for
// L2, reporting the rate at which A is read.
func BenchmarkMultiDot(b *testing.B) {
	for _, m := range []int{512, 16} {
		b.Run(fmt.Sprintf("m%d", m), func(b *testing.B) {
			const n, k = 4, 4608
			r := rand.New(rand.NewPCG(1, 1))
			a, bt, c := randSlice(r, m*k), randSlice(r, n*k), make([]float32, m*n)
			cpu0 := cpuTime()
			for b.Loop() {
				MultiDot(m, n, k, a, k, bt, k, c, n, nil)
			}
			b.ReportMetric(float64(m*k*4)*float64(b.N)/(cpuTime()-cpu0).Seconds()/1e9, "GB/cpu-s")
		})
	}
}
