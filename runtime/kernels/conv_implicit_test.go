package kernels

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestConvShifted checks ConvShifted, with the assembly and the generic
// micro-kernel, against a direct convolution over the padded plane, on
// random geometries: edge tiles in both directions (m not a multiple of
// 6, padded widths not a multiple of 16), several k blocks, dilations,
// a bias with each activation, and y with a row stride and guards.
func TestConvShifted(t *testing.T) {
	impls(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(7, 11))
		for it := 0; it < 60; it++ {
			m := 5 + r.IntN(30)
			c := 1 + r.IntN(40)
			kh, kw := 1+r.IntN(5), 1+r.IntN(5)
			dh, dw := 1+r.IntN(2), 1+r.IntN(2)
			ow := 1 + r.IntN(20)
			wp := ow + (kw-1)*dw
			rows := 1 + r.IntN(9)
			hp := rows + (kh-1)*dh + r.IntN(2)
			k := c * kh * kw
			off := make([]int32, 0, k)
			for ci := 0; ci < c; ci++ {
				for ky := 0; ky < kh; ky++ {
					for kx := 0; kx < kw; kx++ {
						off = append(off, int32(ci*hp*wp+ky*dh*wp+kx*dw))
					}
				}
			}
			x := randSlice(r, c*hp*wp+ConvShiftedSpan(rows, wp, ow))
			a := randSlice(r, m*k)
			ep := &Epilogue{Bias: randSlice(r, m), BiasPerRow: true, Act: Activation(r.IntN(4)), Min: -0.5, Max: 0.5, Alpha: 0.1}
			ldy := rows*ow + r.IntN(3)
			buf, y := guarded((m-1)*ldy+rows*ow, func(int) float32 { return guardVal })
			// All rows, or the rows in two parts as goroutines share them.
			pa := PackA(false, m, k, 1, a, k)
			parts := []int{0, m}
			if it%2 == 1 && m > mr {
				parts = []int{0, max(mr, m/2/mr*mr), m}
			}
			for q := 1; q < len(parts); q++ {
				i0, i1 := parts[q-1], parts[q]
				ConvShifted(pa, i0, i1, off, x, rows, wp, ow, y, ldy, ep, randSlice(r, ConvShiftedTmp(i1-i0, rows, wp, ow)))
			}
			checkGuards(t, "y", buf, len(y))
			name := fmt.Sprintf("m=%d c=%d k=%dx%d dil=%dx%d ow=%d rows=%d", m, c, kh, kw, dh, dw, ow, rows)
			for i := 0; i < m; i++ {
				for q := 0; q < rows*ow; q++ {
					s := float64(ep.Bias[i])
					for p, o := range off {
						s += float64(a[i*k+p]) * float64(x[int(o)+q/ow*wp+q%ow])
					}
					want := []float32{float32(s)}
					ep2 := Epilogue{Act: ep.Act, Min: ep.Min, Max: ep.Max, Alpha: ep.Alpha}
					ep2.applyRow(want, 0, 0)
					if got := y[i*ldy+q]; !closeEnough(got, want[0], 1e-4*float64(k)) {
						t.Fatalf("%s: y[%d][%d] = %v, want %v", name, i, q, got, want[0])
					}
				}
			}
		}
	})
}

// BenchmarkConvShifted is one image of resnet_bnfold's 3×3 stride-1
// convolutions (pad 1) through ConvShifted, in GFLOP of the convolution
// proper (the padded-width garbage columns and the rounding of the
// output channels to 6-row tiles not counted), against SgemmPacked on
// the same convolution's im2col matrix (the im2col itself not counted).
func BenchmarkConvShifted(b *testing.B) {
	for _, s := range []struct{ c, m, hw int }{{16, 16, 28}, {32, 32, 14}, {64, 64, 7}, {64, 64, 16}, {128, 128, 8}} {
		r := rand.New(rand.NewPCG(1, 1))
		wp := s.hw + 2
		k, n := s.c*9, s.hw*s.hw
		off := make([]int32, 0, k)
		for ci := 0; ci < s.c; ci++ {
			for ky := 0; ky < 3; ky++ {
				for kx := 0; kx < 3; kx++ {
					off = append(off, int32(ci*wp*wp+ky*wp+kx))
				}
			}
		}
		pa := PackA(false, s.m, k, 1, randSlice(r, s.m*k), k)
		x := randSlice(r, s.c*wp*wp+ConvShiftedSpan(s.hw, wp, s.hw))
		y := make([]float32, s.m*n)
		tmp := make([]float32, ConvShiftedTmp(s.m, s.hw, wp, s.hw))
		flops := 2 * float64(s.m*k*n)
		b.Run(fmt.Sprintf("c%d_m%d_%dx%d", s.c, s.m, s.hw, s.hw), func(b *testing.B) {
			cpu0 := cpuTime()
			for b.Loop() {
				ConvShifted(pa, 0, s.m, off, x, s.hw, wp, s.hw, y, n, nil, tmp)
			}
			reportFlops(b, flops, cpuTime()-cpu0)
		})
		col := randSlice(r, k*n)
		b.Run(fmt.Sprintf("c%d_m%d_%dx%d/gemm", s.c, s.m, s.hw, s.hw), func(b *testing.B) {
			cpu0 := cpuTime()
			for b.Loop() {
				SgemmPacked(pa, false, n, col, n, 0, y, n, nil)
			}
			reportFlops(b, flops, cpuTime()-cpu0)
		})
	}
}
