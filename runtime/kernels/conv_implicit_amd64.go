//go:build !purego && !noasm

package kernels

// shiftedKernel6x16AVX2 is kernel6x16AVX2 with row p of the B sliver
// read at x + off[p] (16 unaligned floats) instead of from a packed
// sliver; see shiftedKernelGeneric.
//
//go:noescape
func shiftedKernel6x16AVX2(k int, a, x *float32, off *int32, c *float32, ldc int, beta float32)

// shiftedKernel4x16AVX2 is shiftedKernel6x16AVX2 for the first 4 rows
// of the tile only (the packed sliver still has 6).
//
//go:noescape
func shiftedKernel4x16AVX2(k int, a, x *float32, off *int32, c *float32, ldc int, beta float32)

// shiftedKernel dispatches the shifted micro-kernel: at least the first
// rows rows of C's 6×16 tile (beta as in kernel6x16AVX2) from the packed
// A sliver a and the B rows x[off[p]:off[p]+16], p < k. C must have room
// for 6 rows; the caller guarantees that x holds the B rows.
func shiftedKernel(rows, k int, a, x []float32, off []int32, c []float32, ldc int, beta float32) {
	if useAVX2FMA {
		_ = a[k*mr-1]
		_ = off[k-1]
		_ = c[5*ldc+nr-1]
		if rows <= 4 {
			shiftedKernel4x16AVX2(k, &a[0], &x[0], &off[0], &c[0], ldc, beta)
			return
		}
		shiftedKernel6x16AVX2(k, &a[0], &x[0], &off[0], &c[0], ldc, beta)
		return
	}
	shiftedKernelGeneric(k, a, x, off, c, ldc, beta)
}
