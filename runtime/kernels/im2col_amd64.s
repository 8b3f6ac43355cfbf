//go:build !purego && !noasm

#include "textflag.h"

// func copyStride2AVX2(dst, src *float32, n int)
//
// Eight outputs per step: the even elements of two vectors of eight,
// VSHUFPS picking elements 0 and 2 of each 128-bit half of both
// (a0 a2 a8 a10 | a4 a6 a12 a14) and VPERMPD putting the 64-bit pairs in
// order.
TEXT ·copyStride2AVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	JZ   done

loop:
	VMOVUPS (SI), Y0
	VMOVUPS 32(SI), Y1
	VSHUFPS $0x88, Y1, Y0, Y2
	VPERMPD $0xD8, Y2, Y2
	VMOVUPS Y2, (DI)
	ADDQ    $64, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     loop

done:
	VZEROUPPER
	RET
