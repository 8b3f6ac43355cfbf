package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

type convCase struct {
	c, h, w, kh, kw          int
	padT, padL, padB, padR   int
	strideH, strideW, dH, dW int
}

func (cc convCase) out() (int, int) {
	return ConvOutSize(cc.h, cc.kh, cc.padT, cc.padB, cc.strideH, cc.dH),
		ConvOutSize(cc.w, cc.kw, cc.padL, cc.padR, cc.strideW, cc.dW)
}

func randConvCase(r *rand.Rand) convCase {
	cc := convCase{
		c: 1 + r.IntN(4), h: 1 + r.IntN(12), w: 1 + r.IntN(12),
		kh: 1 + r.IntN(4), kw: 1 + r.IntN(4),
		padT: r.IntN(3), padL: r.IntN(3), padB: r.IntN(3), padR: r.IntN(3),
		strideH: 1 + r.IntN(3), strideW: 1 + r.IntN(3), dH: 1 + r.IntN(2), dW: 1 + r.IntN(2),
	}
	return cc
}

// naiveConv is the direct convolution y[co][oy][ox] of the c×h×w image x
// with weights wt[co][ci][ki][kj].
func naiveConv(cc convCase, cout int, x, wt []float32) []float64 {
	outH, outW := cc.out()
	y := make([]float64, cout*outH*outW)
	for co := 0; co < cout; co++ {
		for oy := 0; oy < outH; oy++ {
			for ox := 0; ox < outW; ox++ {
				var s float64
				for ci := 0; ci < cc.c; ci++ {
					for ki := 0; ki < cc.kh; ki++ {
						for kj := 0; kj < cc.kw; kj++ {
							iy := oy*cc.strideH - cc.padT + ki*cc.dH
							ix := ox*cc.strideW - cc.padL + kj*cc.dW
							if iy < 0 || iy >= cc.h || ix < 0 || ix >= cc.w {
								continue
							}
							s += float64(x[(ci*cc.h+iy)*cc.w+ix]) * float64(wt[((co*cc.c+ci)*cc.kh+ki)*cc.kw+kj])
						}
					}
				}
				y[(co*outH+oy)*outW+ox] = s
			}
		}
	}
	return y
}

// TestIm2colConv checks Conv = W × Im2col(x) against the direct loop.
func TestIm2colConv(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for it := 0; it < 300; it++ {
		cc := randConvCase(r)
		outH, outW := cc.out()
		cout := 1 + r.IntN(5)
		x := randSlice(r, cc.c*cc.h*cc.w)
		wt := randSlice(r, cout*cc.c*cc.kh*cc.kw)
		kdim, n := cc.c*cc.kh*cc.kw, outH*outW
		colLen := kdim * n
		buf, col := guarded(colLen, func(int) float32 { return float32(math.NaN()) })
		Im2col(col, x, cc.c, cc.h, cc.w, cc.kh, cc.kw, cc.padT, cc.padL, cc.padB, cc.padR, cc.strideH, cc.strideW, cc.dH, cc.dW)
		checkGuards(t, "col", buf, colLen)
		want := naiveConv(cc, cout, x, wt)
		if n == 0 {
			continue
		}
		y := make([]float32, cout*n)
		Sgemm(false, false, cout, n, kdim, 1, wt, kdim, col, n, 0, y, n)
		for i := range y {
			if d := math.Abs(float64(y[i]) - want[i]); !(d <= 1e-5*float64(kdim)) {
				t.Fatalf("%+v cout=%d: y[%d] = %v, want %v", cc, cout, i, y[i], want[i])
			}
		}
	}
}

// TestCol2imAdjoint checks <Im2col(x), y> == <x, Col2im(y)>, which pins
// Col2im down as Im2col's transpose, and that Col2im accumulates.
func TestCol2imAdjoint(t *testing.T) {
	impls(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(3, 4))
		for it := 0; it < 300; it++ {
			cc := randConvCase(r)
			outH, outW := cc.out()
			colLen := cc.c * cc.kh * cc.kw * outH * outW
			imgLen := cc.c * cc.h * cc.w
			x := randSlice(r, imgLen)
			y := randSlice(r, colLen)
			col := make([]float32, colLen)
			Im2col(col, x, cc.c, cc.h, cc.w, cc.kh, cc.kw, cc.padT, cc.padL, cc.padB, cc.padR, cc.strideH, cc.strideW, cc.dH, cc.dW)
			base := randSlice(r, imgLen)
			buf, img := guarded(imgLen, func(i int) float32 { return base[i] })
			Col2im(img, y, cc.c, cc.h, cc.w, cc.kh, cc.kw, cc.padT, cc.padL, cc.padB, cc.padR, cc.strideH, cc.strideW, cc.dH, cc.dW)
			checkGuards(t, "img", buf, imgLen)
			var lhs, rhs, mag float64
			for i := range col {
				lhs += float64(col[i]) * float64(y[i])
				mag += math.Abs(float64(col[i]) * float64(y[i]))
			}
			for i := range x {
				rhs += float64(x[i]) * float64(img[i]-base[i])
			}
			if d := math.Abs(lhs - rhs); d > 1e-5*(mag+1) {
				t.Fatalf("%+v: <Im2col x, y> = %v, <x, Col2im y> = %v", cc, lhs, rhs)
			}
		}
	})
}

func TestIm2colPanics(t *testing.T) {
	img := make([]float32, 16)
	col := make([]float32, 9*4)
	for name, f := range map[string]func(){
		"short col":   func() { Im2col(col[:35], img, 1, 4, 4, 3, 3, 0, 0, 0, 0, 1, 1, 1, 1) },
		"short image": func() { Im2col(col, img[:15], 1, 4, 4, 3, 3, 0, 0, 0, 0, 1, 1, 1, 1) },
		"zero stride": func() { Im2col(col, img, 1, 4, 4, 3, 3, 0, 0, 0, 0, 0, 1, 1, 1) },
		"col2im":      func() { Col2im(img[:15], col, 1, 4, 4, 3, 3, 0, 0, 0, 0, 1, 1, 1, 1) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}

// FuzzIm2col compares Im2col with its definition element by element and
// checks the Col2im adjoint identity on arbitrary small geometries.
func FuzzIm2col(f *testing.F) {
	f.Add(uint8(2), uint8(5), uint8(7), uint8(3), uint8(2), uint8(0x12), uint8(0x21), uint8(0x11))
	f.Add(uint8(1), uint8(1), uint8(9), uint8(1), uint8(4), uint8(0x30), uint8(0x03), uint8(0x23))
	f.Fuzz(func(t *testing.T, c, h, w, kh, kw, padTB, padLR, strideDil uint8) {
		cc := convCase{
			c: 1 + int(c)%3, h: 1 + int(h)%10, w: 1 + int(w)%10, kh: 1 + int(kh)%5, kw: 1 + int(kw)%5,
			padT: int(padTB) & 7, padB: int(padTB) >> 4 & 7, padL: int(padLR) & 7, padR: int(padLR) >> 4 & 7,
			strideH: 1 + int(strideDil)&3, strideW: 1 + int(strideDil)>>2&3, dH: 1 + int(strideDil)>>4&3, dW: 1 + int(strideDil)>>6&3,
		}
		outH, outW := cc.out()
		r := rand.New(rand.NewPCG(uint64(c), uint64(w)))
		x := randSlice(r, cc.c*cc.h*cc.w)
		colLen := cc.c * cc.kh * cc.kw * outH * outW
		buf, col := guarded(colLen, func(int) float32 { return float32(math.NaN()) })
		Im2col(col, x, cc.c, cc.h, cc.w, cc.kh, cc.kw, cc.padT, cc.padL, cc.padB, cc.padR, cc.strideH, cc.strideW, cc.dH, cc.dW)
		checkGuards(t, "col", buf, colLen)
		row := 0
		for ci := 0; ci < cc.c; ci++ {
			for ki := 0; ki < cc.kh; ki++ {
				for kj := 0; kj < cc.kw; kj++ {
					for oy := 0; oy < outH; oy++ {
						for ox := 0; ox < outW; ox++ {
							iy := oy*cc.strideH - cc.padT + ki*cc.dH
							ix := ox*cc.strideW - cc.padL + kj*cc.dW
							var want float32
							if iy >= 0 && iy < cc.h && ix >= 0 && ix < cc.w {
								want = x[(ci*cc.h+iy)*cc.w+ix]
							}
							if got := col[(row*outH+oy)*outW+ox]; got != want {
								t.Fatalf("%+v: col[%d][%d,%d] = %v, want %v", cc, row, oy, ox, got, want)
							}
						}
					}
					row++
				}
			}
		}
		y := randSlice(r, colLen)
		img := make([]float32, len(x))
		Col2im(img, y, cc.c, cc.h, cc.w, cc.kh, cc.kw, cc.padT, cc.padL, cc.padB, cc.padR, cc.strideH, cc.strideW, cc.dH, cc.dW)
		var lhs, rhs, mag float64
		for i := range col {
			lhs += float64(col[i]) * float64(y[i])
			mag += math.Abs(float64(col[i]) * float64(y[i]))
		}
		for i := range x {
			rhs += float64(x[i]) * float64(img[i])
		}
		if math.Abs(lhs-rhs) > 1e-5*(mag+1) {
			t.Fatalf("%+v: <Im2col x, y> = %v, <x, Col2im y> = %v", cc, lhs, rhs)
		}
	})
}
