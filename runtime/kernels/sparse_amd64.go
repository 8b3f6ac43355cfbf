//go:build !purego && !noasm

package kernels

import "unsafe"

//go:generate go run sparse_gen.go

// spmmArgs passes a sparse kernel its operands; the assembly reads the
// fields at fixed offsets (checked at init in sparse_stubs_amd64.go).
// Strides are in bytes.
type spmmArgs struct {
	rows   int      // rows of W (and of C) to compute
	rowptr *int32   // CSR, BSR8: rows+1 offsets into idx (values or blocks)
	idx    *int32   // CSR: column of each value; BSR8: first column of each block
	off    *uint8   // NM: offset of each value within its group
	val    *float32 // values (NM: the first row's)
	b      *float32 // MulDense: B at the first column; dot: x
	ldb    int      // bytes between rows of B
	c      *float32 // MulDense: C at (first row, first column); dot: y
	ldc    int      // bytes between rows of C
	mask   *int32   // MulDense: 8 lanes, -1 for the columns of the last vector
	groups int      // NM: groups per row
	gstep  int      // NM: bytes from one group's rows of B to the next (M·ldb)
	beta   float32  // C = beta·C + W·B; beta == ±0 does not read C
	_      uint32
	chunks int      // NM dot: 8-value chunks per row
	tail   int      // NM dot: values per row after the chunks (left to Go)
	base   [8]int32 // NM dot: column of each lane in the first chunk
	inc    [8]int32 // NM dot: added to base after each chunk
	vskip  int      // NM MulDense: values to skip from the end of one row's groups to the next row's
	stride int      // NM dot: values per row
	quadO  int      // NM dot: bytes of offsets in 4 rows
	quadV  int      // NM dot: bytes from the end of a quad's first row chunks to the next quad's first row
	xtail  *float32 // 2:4 dot: x from column 16·chunks on, zero-padded to 16
	tmask  *int32   // 2:4 dot: lane mask of the partial chunk
	ptail  int      // 2:4 dot: values in the partial chunk after the full ones (0…8)
}

// spMaskTable[8-w:16-w] is the mask of the first w lanes.
var spMaskTable = [16]int32{-1, -1, -1, -1, -1, -1, -1, -1}

// spmmColumns runs a MulDense kernel over the n columns of C, 64 at a time
// (the last block with ceil(w/8) accumulators and a lane mask); the
// column blocks are the outer loop so that a 64-column panel of B stays in
// cache across all rows.
func spmmColumns(a *spmmArgs, b, c []float32, n int, kind spmmKind) {
	for j0 := 0; j0 < n; j0 += 64 {
		w := min(64, n-j0)
		nv := (w + 7) / 8
		a.b, a.c = &b[j0], &c[j0]
		a.mask = &spMaskTable[8-(w-8*(nv-1))]
		switch kind {
		case spmmCSR:
			spmmCSRAVX2(nv, a)
		case spmmBSR:
			spmmBSRAVX2(nv, a)
		case spmmNM1:
			spmmNM1AVX2(nv, a)
		case spmmNM2:
			spmmNM2AVX2(nv, a)
		case spmmNM4:
			spmmNM4AVX2(nv, a)
		case spmmNM8:
			spmmNM8AVX2(nv, a)
		}
	}
}

// spmmKind selects a MulDense kernel family.
type spmmKind uint8

const (
	spmmNone spmmKind = iota
	spmmCSR
	spmmBSR
	spmmNM1
	spmmNM2
	spmmNM4
	spmmNM8
)

func csrMulDense(rowptr, idx []int32, val, b []float32, ldb int, c []float32, ldc, n int, beta float32) {
	rows := len(rowptr) - 1
	if !useAVX2FMA || rows <= 0 || n == 0 || len(b) == 0 {
		csrMulDenseGeneric(rowptr, idx, val, b, ldb, c, ldc, n, beta)
		return
	}
	_ = c[(rows-1)*ldc+n-1]
	_ = idx[:rowptr[rows]]
	_ = val[:rowptr[rows]]
	a := spmmArgs{
		rows: rows, rowptr: &rowptr[0], idx: unsafe.SliceData(idx), val: unsafe.SliceData(val),
		ldb: 4 * ldb, ldc: 4 * ldc, beta: beta,
	}
	spmmColumns(&a, b, c, n, spmmCSR)
}

func bsrMulDense(rowptr, idx []int32, val []float32, cols int, b []float32, ldb int, c []float32, ldc, n int, beta float32) {
	rows := len(rowptr) - 1
	if !useAVX2FMA || rows <= 0 || n == 0 || cols < 8 || len(b) == 0 {
		bsrMulDenseGeneric(rowptr, idx, val, cols, b, ldb, c, ldc, n, beta)
		return
	}
	_ = c[(rows-1)*ldc+n-1]
	_ = idx[:rowptr[rows]]
	_ = val[:8*rowptr[rows]]
	a := spmmArgs{
		rows: rows, rowptr: &rowptr[0], idx: unsafe.SliceData(idx), val: unsafe.SliceData(val),
		ldb: 4 * ldb, ldc: 4 * ldc, beta: beta,
	}
	spmmColumns(&a, b, c, n, spmmBSR)
}

func nmMulDense(rows, groups, nn, mm int, off []uint8, val, b []float32, ldb int, c []float32, ldc, n int, beta float32) {
	kind := spmmNone
	switch nn {
	case 1:
		kind = spmmNM1
	case 2:
		kind = spmmNM2
	case 4:
		kind = spmmNM4
	case 8:
		kind = spmmNM8
	}
	if !useAVX2FMA || kind == spmmNone || rows <= 0 || n == 0 || groups == 0 || len(b) == 0 {
		nmMulDenseGeneric(rows, groups, nn, mm, off, val, b, ldb, c, ldc, n, beta)
		return
	}
	stride := groups * nn
	_ = c[(rows-1)*ldc+n-1]
	_ = off[rows*stride-1]
	_ = val[rows*stride-1]
	a := spmmArgs{rows: rows, ldb: 4 * ldb, ldc: 4 * ldc, gstep: 4 * mm * ldb}
	// Blocks of about 96 rows of B (24 KiB for a 64-column panel) stay in
	// L1 while every row of W uses them; C is reloaded once per block
	// (96 rows ran 3–4% faster than 64 on LeNet's fc1 at batch 64, 128
	// about as fast as 96, 192 a third slower).
	kg := max(1, 96/mm)
	for j0 := 0; j0 < n; j0 += 64 {
		w := min(64, n-j0)
		nv := (w + 7) / 8
		a.mask = &spMaskTable[8-(w-8*(nv-1))]
		for g0 := 0; g0 < groups; g0 += kg {
			gb := min(kg, groups-g0)
			a.groups, a.vskip = gb, stride-gb*nn
			a.off, a.val = &off[g0*nn], &val[g0*nn]
			a.b, a.c = &b[g0*mm*ldb+j0], &c[j0]
			a.beta = beta
			if g0 > 0 {
				a.beta = 1
			}
			switch {
			case w < 64:
			case kind == spmmNM2:
				spmmNM2FullAVX2(&a)
				continue
			case kind == spmmNM4:
				spmmNM4FullAVX2(&a)
				continue
			case kind == spmmNM8:
				spmmNM8FullAVX2(&a)
				continue
			}
			switch kind {
			case spmmNM1:
				spmmNM1AVX2(nv, &a)
			case spmmNM2:
				spmmNM2AVX2(nv, &a)
			case spmmNM4:
				spmmNM4AVX2(nv, &a)
			case spmmNM8:
				spmmNM8AVX2(nv, &a)
			}
		}
	}
}

// csrDotAVX2 is csrDotGeneric: for each row r,
//
//	var s float32
//	for q := rowptr[r]; q < rowptr[r+1]; q++ {
//		s += val[q] * x[idx[q]]
//	}
//	y[r] = s + beta*y[r] // y[r] = s if beta == 0
//
// with x in a.b and y in a.c, four values at a time in four scalar
// chains (on Zen 3 this beats VGATHERDPS by 2×).
//
//go:noescape
func csrDotAVX2(a *spmmArgs)

// bsrDotAVX2 is bsrDotGeneric for blocks that lie inside x: for each row r,
//
//	var s float32
//	for q := rowptr[r]; q < rowptr[r+1]; q++ {
//		for t := 0; t < 8; t++ {
//			s += val[8*q+t] * x[idx[q]+t]
//		}
//	}
//	y[r] = s + beta*y[r] // y[r] = s if beta == 0
//
//go:noescape
func bsrDotAVX2(a *spmmArgs)

// nmDotAVX2 is nmDotGeneric over the first 8·chunks values of each row
// (rows advance by 8·chunks + tail values), for N dividing 8, gathering
// x[base+off] 8 lanes at a time and skipping lanes whose value is zero:
//
//	for r := 0; r < rows; r++ {
//		var s float32
//		for q := 0; q < 8*chunks; q++ {
//			v := val[r*(8*chunks+tail)+q]
//			s += v * x[base[q%8] + q/8*inc[0] + off[r*(8*chunks+tail)+q]]
//		}
//		y[r] = s + beta*y[r] // y[r] = s if beta == 0
//	}
//
//go:noescape
func nmDotAVX2(a *spmmArgs)

func csrDot(rowptr, idx []int32, val, x, y []float32, beta float32) {
	rows := len(rowptr) - 1
	if !useAVX2FMA || rows <= 0 {
		csrDotGeneric(rowptr, idx, val, x, y, beta)
		return
	}
	_ = y[rows-1]
	_ = idx[:rowptr[rows]]
	_ = val[:rowptr[rows]]
	a := spmmArgs{
		rows: rows, rowptr: &rowptr[0], idx: unsafe.SliceData(idx), val: unsafe.SliceData(val),
		b: unsafe.SliceData(x), c: &y[0], beta: beta,
	}
	csrDotAVX2(&a)
}

func bsrDot(rowptr, idx []int32, val, x, y []float32, beta float32) {
	rows := len(rowptr) - 1
	if !useAVX2FMA || rows <= 0 || len(x) < 8 {
		bsrDotGeneric(rowptr, idx, val, x, y, beta)
		return
	}
	_ = y[rows-1]
	_ = idx[:rowptr[rows]]
	_ = val[:8*rowptr[rows]]
	a := spmmArgs{
		rows: rows, rowptr: &rowptr[0], idx: unsafe.SliceData(idx), val: unsafe.SliceData(val),
		b: &x[0], c: &y[0], beta: beta,
	}
	bsrDotAVX2(&a)
}

// nmDotPermAVX2 is nmDotGeneric over the first 8·chunks values of each
// row for M = 2N (1:2, 2:4, 4:8), where 8 values cover 16 columns: their
// x values are picked from two 8-lane loads with VPERMPS (no gather). Rows
// advance by 8·chunks + vskip values; it is
//
//	for r := 0; r < rows; r++ {
//		var s float32
//		for q := 0; q < 8*chunks; q++ {
//			i := r*(8*chunks+vskip) + q
//			s += val[i] * x[q/8*16 + (base[q%8]+off[i])%8 + q%8/4*8]
//		}
//		y[r] = s + beta*y[r] // y[r] = s if beta == 0
//	}
//
//go:noescape
func nmDotPermAVX2(a *spmmArgs)

// nmDot24AVX2 is nmDotPermAVX2 for 2:4 (base = [0 0 4 4 8 8 12 12]),
// with in-lane permutes: x[0:4]|x[8:12] and x[4:8]|x[12:16] are each
// permuted by the offsets (VPERMILPS) and blended, so the loop has no
// cross-lane shuffle.
//
//go:noescape
func nmDot24AVX2(a *spmmArgs)

// nmDot24x4AVX2 is nmDot24AVX2 on 4·rows rows (a.rows counts quads),
// loading and splitting each x chunk once for four rows of W.
//
//go:noescape
func nmDot24x4AVX2(a *spmmArgs)

func nmDot(rows, groups, nn, mm int, off []uint8, val, x, y []float32, beta float32) {
	stride := groups * nn
	if !useAVX2FMA || rows <= 0 || 8%nn != 0 || stride < 8 {
		nmDotGeneric(rows, groups, nn, mm, off, val, x, y, beta)
		return
	}
	_ = y[rows-1]
	_ = off[rows*stride-1]
	_ = val[rows*stride-1]
	a := spmmArgs{rows: rows, off: &off[0], val: &val[0], b: &x[0], c: &y[0], beta: beta}
	for l := range 8 {
		a.base[l] = int32(l / nn * mm)
		a.inc[l] = int32(8 / nn * mm)
	}
	if mm == 2*nn {
		// 8 values span 16 columns; stop before a chunk would read past x.
		a.chunks = min(stride/8, len(x)/16)
		a.vskip = stride - 8*a.chunks
		var xt [16]float32
		if nn == 2 {
			// The values after the full chunks (at most 8) form one
			// partial chunk, read under a lane mask against a zero-padded
			// copy of the end of x; its offsets are read as a full 8 bytes,
			// which needs the slack NewNM leaves after Off.
			if rest := stride - 8*a.chunks; rest > 0 && rest <= 8 && cap(off)-len(off) >= 8 {
				copy(xt[:], x[16*a.chunks:])
				a.xtail, a.tmask, a.ptail = &xt[0], &spMaskTable[8-rest], rest
			}
			if q := rows / 4; q > 0 {
				a.rows, a.stride = q, stride
				a.quadO, a.quadV = 4*stride, 16*stride-32*a.chunks
				nmDot24x4AVX2(&a)
			}
			if r := rows % 4; r > 0 {
				r0 := rows - r
				a.rows = r
				a.off, a.val, a.c = &off[r0*stride], &val[r0*stride], &y[r0]
				nmDot24AVX2(&a)
			}
			if a.ptail > 0 {
				return
			}
		} else {
			nmDotPermAVX2(&a)
		}
	} else {
		a.chunks = stride / 8
		a.tail = stride % 8
		nmDotAVX2(&a)
	}
	if q0 := 8 * a.chunks; q0 < stride {
		for r := 0; r < rows; r++ {
			vs, os := val[r*stride:(r+1)*stride], off[r*stride:(r+1)*stride]
			var s float32
			for q := q0; q < stride; q++ {
				s += vs[q] * x[q/nn*mm+int(os[q])]
			}
			y[r] += s
		}
	}
}
