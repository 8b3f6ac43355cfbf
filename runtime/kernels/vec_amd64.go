//go:build !purego && !noasm

package kernels

// Each stub's comment is its reference loop; vec_generic.go holds the same
// loops under the *Generic names. The exported wrappers in vec.go check
// lengths, so the stubs see len(src) == len(dst).

// axpyAVX2 is
//
//	for i, v := range x {
//		y[i] += alpha * v
//	}
//
//go:noescape
func axpyAVX2(alpha float32, x, y []float32)

// dotAVX2 is
//
//	var s float32
//	for i, v := range x {
//		s += v * y[i]
//	}
//	return s
//
//go:noescape
func dotAVX2(x, y []float32) float32

// sumAVX2 is
//
//	var s float32
//	for _, v := range x {
//		s += v
//	}
//	return s
//
//go:noescape
func sumAVX2(x []float32) float32

// scaleAVX2 is
//
//	for i := range x {
//		x[i] *= alpha
//	}
//
//go:noescape
func scaleAVX2(alpha float32, x []float32)

// addConstAVX2 is
//
//	for i := range x {
//		x[i] += c
//	}
//
//go:noescape
func addConstAVX2(c float32, x []float32)

// addToAVX2 is
//
//	for i, v := range src {
//		dst[i] += v
//	}
//
//go:noescape
func addToAVX2(dst, src []float32)

// mulToAVX2 is
//
//	for i, v := range src {
//		dst[i] *= v
//	}
//
//go:noescape
func mulToAVX2(dst, src []float32)

// maxToAVX2 is
//
//	for i, v := range src {
//		if v > dst[i] || v != v {
//			dst[i] = v
//		}
//	}
//
//go:noescape
func maxToAVX2(dst, src []float32)

// reluAVX2 is
//
//	for i, v := range src {
//		if v < 0 {
//			v = 0
//		}
//		dst[i] = v
//	}
//
//go:noescape
func reluAVX2(dst, src []float32)

// clipAVX2 is
//
//	for i, v := range src {
//		if v < lo {
//			v = lo
//		}
//		if v > hi {
//			v = hi
//		}
//		dst[i] = v
//	}
//
//go:noescape
func clipAVX2(dst, src []float32, lo, hi float32)

func axpy(alpha float32, x, y []float32) {
	if useAVX2FMA {
		axpyAVX2(alpha, x, y)
		return
	}
	axpyGeneric(alpha, x, y)
}

func dot(x, y []float32) float32 {
	if useAVX2FMA {
		return dotAVX2(x, y)
	}
	return dotGeneric(x, y)
}

func sum(x []float32) float32 {
	if useAVX2FMA {
		return sumAVX2(x)
	}
	return sumGeneric(x)
}

func scale(alpha float32, x []float32) {
	if useAVX2FMA {
		scaleAVX2(alpha, x)
		return
	}
	scaleGeneric(alpha, x)
}

func addConst(c float32, x []float32) {
	if useAVX2FMA {
		addConstAVX2(c, x)
		return
	}
	addConstGeneric(c, x)
}

func addTo(dst, src []float32) {
	if useAVX2FMA {
		addToAVX2(dst, src)
		return
	}
	addToGeneric(dst, src)
}

func mulTo(dst, src []float32) {
	if useAVX2FMA {
		mulToAVX2(dst, src)
		return
	}
	mulToGeneric(dst, src)
}

func maxTo(dst, src []float32) {
	if useAVX2FMA {
		maxToAVX2(dst, src)
		return
	}
	maxToGeneric(dst, src)
}

func relu(dst, src []float32) {
	if useAVX2FMA {
		reluAVX2(dst, src)
		return
	}
	reluGeneric(dst, src)
}

func clip(dst, src []float32, lo, hi float32) {
	if useAVX2FMA {
		clipAVX2(dst, src, lo, hi)
		return
	}
	clipGeneric(dst, src, lo, hi)
}
