package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// vecLens covers the empty slice, each scalar tail length, the 8-wide loop
// and the 32-wide loop with every remainder.
var vecLens = func() []int {
	var l []int
	for n := 0; n <= 70; n++ {
		l = append(l, n)
	}
	return append(l, 127, 128, 129, 1000, 1031)
}()

// specials holds values whose handling must match the generic loops
// bit for bit: NaN, ±0, ±Inf.
var specials = []float32{float32(math.NaN()), float32(math.Copysign(0, -1)), 0, float32(math.Inf(1)), float32(math.Inf(-1))}

// vecInput returns n values: random normals, with specials sprinkled in.
func vecInput(r *rand.Rand, n int, withSpecials bool) []float32 {
	s := randSlice(r, n)
	if withSpecials {
		for i := 0; i < n; i += 7 {
			s[i] = specials[(i/7)%len(specials)]
		}
	}
	return s
}

func closeEnough(got, want float32, tol float64) bool {
	if math.IsNaN(float64(want)) {
		return math.IsNaN(float64(got))
	}
	if math.IsInf(float64(want), 0) {
		return got == want
	}
	return math.Abs(float64(got-want)) <= tol
}

func sameBits(a, b float32) bool {
	return math.Float32bits(a) == math.Float32bits(b) || (a != a && b != b)
}

// TestVectorKernels runs every vector kernel through the dispatcher, once
// with the assembly and once with the generic loop, on guarded slices at
// two alignments, and compares it with the generic loop on a copy.
func TestVectorKernels(t *testing.T) {
	type unary struct {
		name  string
		exact bool // elementwise without rounding choices: must match bit for bit
		fast  func(dst, src []float32)
		ref   func(dst, src []float32)
	}
	const alpha, cst, lo, hi = float32(-0.75), float32(0.3), float32(-0.5), float32(1.25)
	ops := []unary{
		{"Axpy", false, func(d, s []float32) { Axpy(alpha, s, d) }, func(d, s []float32) { axpyGeneric(alpha, s, d) }},
		{"AddTo", true, AddTo, addToGeneric},
		{"MulTo", true, MulTo, mulToGeneric},
		{"MaxTo", true, MaxTo, maxToGeneric},
		{"Relu", true, Relu, reluGeneric},
		{"Clip", true, func(d, s []float32) { Clip(d, s, lo, hi) }, func(d, s []float32) { clipGeneric(d, s, lo, hi) }},
		{"Scale", true, func(d, _ []float32) { Scale(alpha, d) }, func(d, _ []float32) { scaleGeneric(alpha, d) }},
		{"AddConst", true, func(d, _ []float32) { AddConst(cst, d) }, func(d, _ []float32) { addConstGeneric(cst, d) }},
		{"LeakyRelu", true, func(d, s []float32) { LeakyRelu(d, s, 0.1) }, func(d, s []float32) {
			for i, v := range s {
				if v < 0 {
					v *= 0.1
				}
				d[i] = v
			}
		}},
	}
	impls(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		for _, op := range ops {
			for _, n := range vecLens {
				for off := 0; off < 2; off++ { // aligned, then one element off
					src := vecInput(r, n, op.exact)
					d0 := vecInput(r, n, op.exact)
					want := append([]float32(nil), d0...)
					op.ref(want, src)
					buf, dst := guarded(n+off, func(i int) float32 {
						if i < off {
							return guardVal
						}
						return d0[i-off]
					})
					op.fast(dst[off:], src)
					checkGuards(t, op.name, buf, n+off)
					for i := range want {
						got := dst[off+i]
						if op.exact && !sameBits(got, want[i]) || !op.exact && !closeEnough(got, want[i], 1e-6) {
							t.Fatalf("%s n=%d off=%d: [%d] = %v, want %v (src %v)", op.name, n, off, i, got, want[i], src[i])
						}
					}
				}
			}
		}
		// In place: dst and src the same slice.
		x := vecInput(r, 100, true)
		want := append([]float32(nil), x...)
		reluGeneric(want, want)
		Relu(x, x)
		for i := range x {
			if !sameBits(x[i], want[i]) {
				t.Fatalf("in-place Relu [%d] = %v, want %v", i, x[i], want[i])
			}
		}
	})
}

func TestReductions(t *testing.T) {
	impls(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(3, 4))
		for _, n := range vecLens {
			x, y := randSlice(r, n), randSlice(r, n)
			var wd, ws, bd, bs float64
			for i := range x {
				wd += float64(x[i]) * float64(y[i])
				ws += float64(x[i])
				bd += math.Abs(float64(x[i] * y[i]))
				bs += math.Abs(float64(x[i]))
			}
			eps := 1.0 / (1 << 23)
			if got := Dot(x, y); math.Abs(float64(got)-wd) > 2*float64(n+1)*eps*bd {
				t.Errorf("Dot n=%d = %v, want %v", n, got, wd)
			}
			if got := Sum(x); math.Abs(float64(got)-ws) > 2*float64(n+1)*eps*bs {
				t.Errorf("Sum n=%d = %v, want %v", n, got, ws)
			}
		}
	})
}

func TestAddBias(t *testing.T) {
	impls(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(5, 6))
		rows, cols, ldc := 7, 19, 23
		for _, perRow := range []bool{false, true} {
			c := randSlice(r, (rows-1)*ldc+cols)
			want := append([]float32(nil), c...)
			bias := randSlice(r, map[bool]int{false: cols, true: rows}[perRow])
			for i := 0; i < rows; i++ {
				for j := 0; j < cols; j++ {
					if perRow {
						want[i*ldc+j] += bias[i]
					} else {
						want[i*ldc+j] += bias[j]
					}
				}
			}
			AddBias(c, rows, cols, ldc, bias, perRow)
			for i := range c {
				if c[i] != want[i] {
					t.Fatalf("perRow=%v: c[%d] = %v, want %v", perRow, i, c[i], want[i])
				}
			}
		}
	})
}

func TestVectorLengthMismatchPanics(t *testing.T) {
	a, b := make([]float32, 3), make([]float32, 4)
	for name, f := range map[string]func(){
		"Axpy":  func() { Axpy(1, a, b) },
		"Dot":   func() { Dot(a, b) },
		"AddTo": func() { AddTo(a, b) },
		"MulTo": func() { MulTo(a, b) },
		"MaxTo": func() { MaxTo(a, b) },
		"Relu":  func() { Relu(a, b) },
		"Clip":  func() { Clip(a, b, 0, 1) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic on length mismatch", name)
				}
			}()
			f()
		}()
	}
}

// TestMaxToSpecials pairs every special value and a few numbers with
// each other, in both operands, through each MaxTo loop (32-wide, 8-wide,
// scalar): NaN on either side wins, and of +0 and -0 dst is kept.
func TestMaxToSpecials(t *testing.T) {
	vals := append([]float32{-2, 1, 3.5}, specials...)
	var dst0, src []float32
	for _, d := range vals {
		for _, s := range vals {
			dst0 = append(dst0, d)
			src = append(src, s)
		}
	}
	impls(t, func(t *testing.T) {
		for _, n := range []int{len(src), 39, 9, 3} {
			got := append([]float32(nil), dst0[:n]...)
			MaxTo(got, src[:n])
			for i := range got {
				want := max(dst0[i], src[i])
				if dst0[i] == 0 && src[i] == 0 {
					want = dst0[i]
				}
				if !sameBits(got[i], want) {
					t.Fatalf("n=%d: max(%v, %v) = %v, want %v", n, dst0[i], src[i], got[i], want)
				}
			}
		}
	})
}
