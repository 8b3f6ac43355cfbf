//go:build !purego && !noasm

package kernels

// stencilAVX2 is stencilGeneric with fused multiply-adds, for len(offs) >
// 0: 32 outputs at a time (four YMM accumulators over all taps), then 8,
// then one.
//
//go:noescape
func stencilAVX2(dst, src, w []float32, offs []int, b float32)

// dot4AVX2 sets out[j] to the dot product of a and the len(a) values at
// bj (b0 … b3), for len(a) a positive multiple of 8, with two YMM
// accumulators per column.
//
//go:noescape
func dot4AVX2(a []float32, b0, b1, b2, b3 *float32, out *[4]float32)

func stencil(dst, src, w []float32, offs []int, b float32) {
	if useAVX2FMA {
		stencilAVX2(dst, src, w, offs, b)
		return
	}
	stencilGeneric(dst, src, w, offs, b)
}

func dot4(a, b []float32, offs *[4]int, out *[4]float32) {
	if !useAVX2FMA {
		dot4Generic(a, b, offs, out)
		return
	}
	k := len(a)
	k8 := k &^ 7
	*out = [4]float32{}
	if k8 > 0 {
		dot4AVX2(a[:k8], &b[offs[0]], &b[offs[1]], &b[offs[2]], &b[offs[3]], out)
	}
	for j, o := range offs {
		s := out[j]
		for p := k8; p < k; p++ {
			s += a[p] * b[o+p]
		}
		out[j] = s
	}
}
