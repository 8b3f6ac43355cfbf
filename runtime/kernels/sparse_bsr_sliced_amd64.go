//go:build !purego && !noasm

package kernels

import "unsafe"

// bsrSlicedDotAVX2 is bsrSlicedDotGeneric over nslices slices: steps,
// idx, val and perm are the bsrSliced arrays, x the vector (every block
// inside it) and y the output.
//
//go:noescape
func bsrSlicedDotAVX2(steps *int32, nslices int, idx *uint16, val *float32, perm *int32, x, y *float32)

func bsrSlicedDot(d *bsrSliced, x, y []float32) {
	if !useAVX2FMA {
		bsrSlicedDotGeneric(d, x, y)
		return
	}
	// The layout keeps its blocks in [0, cols) and its rows in [0, rows).
	_ = x[d.cols-1]
	_ = y[d.rows-1]
	bsrSlicedDotAVX2(&d.steps[0], len(d.steps), unsafe.SliceData(d.idx), unsafe.SliceData(d.val), &d.perm[0], &x[0], &y[0])
}
