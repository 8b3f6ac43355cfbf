package kernels

import "fmt"

// ConvShifted computes rows output rows of a convolution as an implicit
// GEMM, without im2col and without packing B. The input is a zero-padded
// plane x and row p of the GEMM's B, the input value under tap p (a
// channel and a kernel offset) for each output pixel, is x shifted by
// off[p]: for stride 1 and a channels × height × wp plane (the padding
// included), off[p] = channel·height·wp + ky·dh·wp + kx·dw; for larger
// strides, one such plane per stride phase. With the output in
// padded-width coordinates q = oy·wp + ox, B[p][q] = x[off[p]+q]; the
// columns ox ≥ ow of each row are garbage and are dropped. So
//
//	y[i*ldy + r*ow + c] = ep(Σ_p A[i][p]·x[off[p] + r*wp + c])
//
// for i0 ≤ i < i1, r < rows and c < ow, where A (m×k, alpha folded in)
// is pa, which must be packed (m > 4, k > 0), and i0 is a multiple of 6
// (a micro-tile row), so that goroutines can share out the rows. ep's
// bias, if any, is per row (one per output channel). x must hold max(off)
// + ConvShiftedSpan(rows, wp, ow) floats (the last tile reads past the
// last output), and tmp ConvShiftedTmp(i1-i0, rows, wp, ow) floats.
//
// The micro-kernel is Sgemm's 6×16 one with B's rows read from x at
// off[p] instead of from a packed panel (and a 4×16 one for the last
// rows when there are at most 4 of them, as with 16 or 64 output
// channels); k is cut into the same blocks as in PackA's layout.
func ConvShifted(pa *PackedA, i0, i1 int, off []int32, x []float32, rows, wp, ow int, y []float32, ldy int, ep *Epilogue, tmp []float32) {
	m, k := pa.m, pa.k
	if pa.data == nil {
		panic(fmt.Sprintf("kernels: ConvShifted: %d×%d weights are not packed", m, k))
	}
	if i0 < 0 || i0%mr != 0 || i1 <= i0 || i1 > m {
		panic(fmt.Sprintf("kernels: ConvShifted: rows [%d, %d) of %d", i0, i1, m))
	}
	if len(off) != k || rows < 1 || ow < 1 || wp < ow || ldy < rows*ow {
		panic(fmt.Sprintf("kernels: ConvShifted: %d offsets for k=%d, rows=%d, wp=%d, ow=%d, ldy=%d", len(off), k, rows, wp, ow, ldy))
	}
	n := (rows-1)*wp + ow
	np := roundUp(n, nr)
	mp := roundUp(m, mr)
	if need := ConvShiftedTmp(i1-i0, rows, wp, ow); len(tmp) < need {
		panic(fmt.Sprintf("kernels: ConvShifted: tmp has %d floats, want %d", len(tmp), need))
	}
	checkMatrix("ConvShifted", "y", i1, rows*ow, y, ldy)
	span := ConvShiftedSpan(rows, wp, ow)
	for _, o := range off {
		if o < 0 || int(o)+span > len(x) {
			panic(fmt.Sprintf("kernels: ConvShifted: offset %d + %d past the %d floats of x", o, span, len(x)))
		}
	}
	if ep.noop() {
		ep = nil
	} else if ep.Bias != nil {
		checkLen("ConvShifted bias", len(ep.Bias), m)
	}
	kcStep := ceilDiv(k, ceilDiv(k, kcBlock))
	for j := 0; j < n; j += nr {
		for pc := 0; pc < k; pc += kcStep {
			kc := min(kcStep, k-pc)
			var beta float32
			if pc > 0 {
				beta = 1
			}
			o := off[pc : pc+kc]
			for r := i0; r < i1; r += mr {
				shiftedKernel(min(mr, i1-r), kc, pa.data[pc*mp+r*kc:pc*mp+(r+mr)*kc], x[j:], o, tmp[(r-i0)*np+j:], np, beta)
			}
		}
	}
	for i := i0; i < i1; i++ {
		dst := y[i*ldy : i*ldy+rows*ow]
		src := tmp[(i-i0)*np:]
		for r := 0; r < rows; r++ {
			copy(dst[r*ow:(r+1)*ow], src[r*wp:r*wp+ow])
		}
		if ep != nil {
			ep.applyRow(dst, i, 0)
		}
	}
}

// ConvShiftedSpan is how far past its largest offset ConvShifted reads x
// for rows output rows of width ow in a plane of width wp: the padded-
// width output rounded up to whole 16-column tiles.
func ConvShiftedSpan(rows, wp, ow int) int { return roundUp((rows-1)*wp+ow, nr) }

// ConvShiftedTmp is the scratch ConvShifted needs: the m×(padded-width)
// product, m rounded up to whole 6-row tiles.
func ConvShiftedTmp(m, rows, wp, ow int) int { return roundUp(m, mr) * ConvShiftedSpan(rows, wp, ow) }

// shiftedKernelGeneric is the reference for shiftedKernel: it gathers the
// 16-column B sliver from x into a packed one and runs kernelGeneric.
func shiftedKernelGeneric(k int, a, x []float32, off []int32, c []float32, ldc int, beta float32) {
	var b [kcBlock * nr]float32
	for p, o := range off[:k] {
		copy(b[p*nr:(p+1)*nr], x[o:int(o)+nr])
	}
	kernelGeneric(k, a, b[:k*nr], c, ldc, beta)
}
