//go:build !amd64 || purego || noasm

package kernels

func axpy(alpha float32, x, y []float32)      { axpyGeneric(alpha, x, y) }
func dot(x, y []float32) float32              { return dotGeneric(x, y) }
func sum(x []float32) float32                 { return sumGeneric(x) }
func scale(alpha float32, x []float32)        { scaleGeneric(alpha, x) }
func addConst(c float32, x []float32)         { addConstGeneric(c, x) }
func addTo(dst, src []float32)                { addToGeneric(dst, src) }
func mulTo(dst, src []float32)                { mulToGeneric(dst, src) }
func maxTo(dst, src []float32)                { maxToGeneric(dst, src) }
func relu(dst, src []float32)                 { reluGeneric(dst, src) }
func clip(dst, src []float32, lo, hi float32) { clipGeneric(dst, src, lo, hi) }
