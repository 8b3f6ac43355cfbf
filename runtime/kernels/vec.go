package kernels

import "fmt"

// Vector kernels. Each one is vectorised with AVX2 (vec_amd64.s) where the
// CPU has it and falls back to the loops in vec_generic.go. Two-slice
// kernels require equal lengths and panic otherwise; dst may be the same
// slice as src (but must not partially overlap it).

func checkLen(op string, a, b int) {
	if a != b {
		panic(fmt.Sprintf("kernels: %s: length mismatch %d != %d", op, a, b))
	}
}

// Axpy computes y[i] += alpha*x[i].
func Axpy(alpha float32, x, y []float32) {
	checkLen("Axpy", len(x), len(y))
	axpy(alpha, x, y)
}

// Dot returns the sum of x[i]*y[i].
func Dot(x, y []float32) float32 {
	checkLen("Dot", len(x), len(y))
	return dot(x, y)
}

// Sum returns the sum of the elements of x.
func Sum(x []float32) float32 { return sum(x) }

// Scale computes x[i] *= alpha.
func Scale(alpha float32, x []float32) { scale(alpha, x) }

// AddConst computes x[i] += c.
func AddConst(c float32, x []float32) { addConst(c, x) }

// AddTo computes dst[i] += src[i].
func AddTo(dst, src []float32) {
	checkLen("AddTo", len(dst), len(src))
	addTo(dst, src)
}

// MulTo computes dst[i] *= src[i].
func MulTo(dst, src []float32) {
	checkLen("MulTo", len(dst), len(src))
	mulTo(dst, src)
}

// MaxTo computes dst[i] = max(dst[i], src[i]), NaN if either is NaN; of
// two equal values (+0 and -0) it keeps dst[i] (the loop is "if v > d ||
// v != v { d = v }").
func MaxTo(dst, src []float32) {
	checkLen("MaxTo", len(dst), len(src))
	maxTo(dst, src)
}

// Relu computes dst[i] = max(src[i], 0). NaN and -0 pass through unchanged
// (the loop is "if v < 0 { v = 0 }").
func Relu(dst, src []float32) {
	checkLen("Relu", len(dst), len(src))
	relu(dst, src)
}

// Clip computes dst[i] = min(max(src[i], lo), hi), passing NaN through;
// Clip(dst, src, 0, 6) is Relu6.
func Clip(dst, src []float32, lo, hi float32) {
	checkLen("Clip", len(dst), len(src))
	clip(dst, src, lo, hi)
}

// LeakyRelu computes dst[i] = src[i] if src[i] >= 0, else alpha*src[i].
// It is plain Go on every architecture.
func LeakyRelu(dst, src []float32, alpha float32) {
	checkLen("LeakyRelu", len(dst), len(src))
	dst = dst[:len(src)]
	for i, v := range src {
		if v < 0 {
			v *= alpha
		}
		dst[i] = v
	}
}

// AddBias adds a bias to the rows×cols row-major matrix c with row stride
// ldc. With perRow, bias has one value per row (Conv's per-output-channel
// bias on a [Cout, H·W] matrix); otherwise one value per column (Gemm's bias
// on a [batch, N] matrix).
func AddBias(c []float32, rows, cols, ldc int, bias []float32, perRow bool) {
	if rows == 0 || cols == 0 {
		return
	}
	checkMatrix("AddBias", "c", rows, cols, c, ldc)
	if perRow {
		checkLen("AddBias", len(bias), rows)
	} else {
		checkLen("AddBias", len(bias), cols)
	}
	for i := 0; i < rows; i++ {
		row := c[i*ldc : i*ldc+cols]
		if perRow {
			addConst(bias[i], row)
		} else {
			addTo(row, bias)
		}
	}
}
