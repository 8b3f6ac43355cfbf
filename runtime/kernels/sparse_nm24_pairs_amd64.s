//go:build !purego && !noasm

#include "textflag.h"

// PAIR(xr, i, acc) adds pair i of the current chunk (columns word at
// 4·i(R10), values at 32·i(R11)) times the x chunk in xr to acc.
#define PAIR(xr, i, acc) \
	VPBROADCASTD (4*i)(R10), Y12; \
	VPSRLVD      Y15, Y12, Y12;   \
	VPERMPS      xr, Y12, Y13;    \
	VFMADD231PS  (32*i)(R11), Y13, acc

// CHUNK(xr, a0, a1, a2, a3) adds the four pairs of one chunk and steps
// to the next.
#define CHUNK(xr, a0, a1, a2, a3) \
	PAIR(xr, 0, a0);  \
	PAIR(xr, 1, a1);  \
	PAIR(xr, 2, a2);  \
	PAIR(xr, 3, a3);  \
	ADDQ $16, R10;    \
	ADDQ $128, R11

// func nm24PairsDotAVX2(passes, full, tail int, idx *uint32, val *float32, x *float32, ldx, m int, y *float32, ldy int, shifts *uint32, mask *int32)
//
// Registers: R8 passes left, R9 full chunks, R10/R11 columns and values
// (BX/DX: at the start of the pass), R12 rows of x left, R13 the row of x,
// R14 the row of y at the pass, SI the chunk of x, CX chunks left, DI y
// at the pass in row 0, Y14 the tail's lane mask, Y15 the nibble shifts.
TEXT ·nm24PairsDotAVX2(SB), NOSPLIT, $0-96
	MOVQ    passes+0(FP), R8
	MOVQ    full+8(FP), R9
	MOVQ    idx+24(FP), R10
	MOVQ    val+32(FP), R11
	MOVQ    y+64(FP), DI
	MOVQ    shifts+80(FP), AX
	VMOVDQU (AX), Y15
	MOVQ    mask+88(FP), AX
	VMOVDQU (AX), Y14
	TESTQ   R8, R8
	JZ      done

pass:
	MOVQ R10, BX
	MOVQ R11, DX
	MOVQ x+40(FP), R13
	MOVQ DI, R14
	MOVQ m+56(FP), R12

row:
	MOVQ   BX, R10
	MOVQ   DX, R11
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	MOVQ   R13, SI
	MOVQ   R9, CX

two:
	CMPQ    CX, $2
	JL      one
	VMOVUPS (SI), Y8
	VMOVUPS 32(SI), Y9
	CHUNK(Y8, Y0, Y1, Y2, Y3)
	CHUNK(Y9, Y4, Y5, Y6, Y7)
	ADDQ    $64, SI
	SUBQ    $2, CX
	JMP     two

one:
	TESTQ   CX, CX
	JZ      partial
	VMOVUPS (SI), Y8
	CHUNK(Y8, Y0, Y1, Y2, Y3)
	ADDQ    $32, SI

partial:
	CMPQ       tail+16(FP), $0
	JE         reduce
	VMASKMOVPS (SI), Y14, Y8
	CHUNK(Y8, Y4, Y5, Y6, Y7)

reduce:
	VADDPS  Y4, Y0, Y0
	VADDPS  Y5, Y1, Y1
	VADDPS  Y6, Y2, Y2
	VADDPS  Y7, Y3, Y3
	VHADDPS Y1, Y0, Y8
	VHADDPS Y3, Y2, Y9
	VHADDPS Y9, Y8, Y8
	VMOVUPS Y8, (R14)
	ADDQ    ldx+48(FP), R13
	ADDQ    ldy+72(FP), R14
	DECQ    R12
	JNZ     row

	ADDQ $32, DI
	DECQ R8
	JNZ  pass

done:
	VZEROUPPER
	RET

// TPAIR(xr, o, acc) adds the tail pair's chunk at columns word o(R10) and
// values 8·o(R11) times the x chunk in xr to acc.
#define TPAIR(xr, o, acc) \
	VPBROADCASTD o(R10), Y12;  \
	VPSRLVD      Y15, Y12, Y12; \
	VPERMPS      xr, Y12, Y13;  \
	VFMADD231PS  (8*o)(R11), Y13, acc

// func nm24TailAVX2(pairs, full, tail int, idx *uint32, val *float32, x *float32, out *float32, shifts *uint32, mask *int32)
//
// For each of pairs row pairs, the dot products of its two rows (lanes
// 0–3 and 4–7) with x over full whole chunks and, with tail set, a last
// chunk read under the lane mask, stored as two floats. Registers: R8
// pairs left, R9 full chunks, R10/R11 columns and values, SI the chunk
// of x, CX chunks left, DI out, Y14 the lane mask, Y15 the nibble shifts.
TEXT ·nm24TailAVX2(SB), NOSPLIT, $0-72
	MOVQ    pairs+0(FP), R8
	MOVQ    full+8(FP), R9
	MOVQ    idx+24(FP), R10
	MOVQ    val+32(FP), R11
	MOVQ    out+48(FP), DI
	MOVQ    shifts+56(FP), AX
	VMOVDQU (AX), Y15
	MOVQ    mask+64(FP), AX
	VMOVDQU (AX), Y14
	TESTQ   R8, R8
	JZ      tdone

tpair:
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	MOVQ   x+40(FP), SI
	MOVQ   R9, CX

ttwo:
	CMPQ    CX, $2
	JL      tone
	VMOVUPS (SI), Y8
	VMOVUPS 32(SI), Y9
	TPAIR(Y8, 0, Y0)
	TPAIR(Y9, 4, Y1)
	ADDQ    $8, R10
	ADDQ    $64, R11
	ADDQ    $64, SI
	SUBQ    $2, CX
	JMP     ttwo

tone:
	TESTQ   CX, CX
	JZ      tpartial
	VMOVUPS (SI), Y8
	TPAIR(Y8, 0, Y0)
	ADDQ    $4, R10
	ADDQ    $32, R11
	ADDQ    $32, SI

tpartial:
	CMPQ       tail+16(FP), $0
	JE         treduce
	VMASKMOVPS (SI), Y14, Y8
	TPAIR(Y8, 0, Y1)
	ADDQ       $4, R10
	ADDQ       $32, R11

treduce:
	VADDPS       Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VHADDPS      X1, X0, X0
	VHADDPS      X0, X0, X0
	VMOVQ        X0, (DI)
	ADDQ         $8, DI
	DECQ         R8
	JNZ          tpair

tdone:
	VZEROUPPER
	RET
