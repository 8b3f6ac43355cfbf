//go:build !purego && !noasm

#include "textflag.h"

// func transpose8AVX2(dst *float32, ldd int, src *float32, lds int, r8, c8 int, beta float32)
//
// Transposes the (8·r8)×(8·c8) block of src into dst, one 8×8 tile at a
// time: eight row loads, unpack/shuffle within 128-bit lanes, then
// VPERM2F128 across them. Strides are in bytes.
TEXT ·transpose8AVX2(SB), NOSPLIT, $0-52
	MOVQ         dst+0(FP), DI
	MOVQ         ldd+8(FP), R8
	MOVQ         src+16(FP), SI
	MOVQ         lds+24(FP), R9
	MOVQ         r8+32(FP), R10
	MOVQ         c8+40(FP), R11
	VBROADCASTSS beta+48(FP), Y15
	MOVL         beta+48(FP), AX
	ANDL         $0x7fffffff, AX
	MOVQ         AX, R14
	TESTQ        R10, R10
	JZ           done
	TESTQ        R11, R11
	JZ           done

	// R12 = 8·lds, R13 = 8·ldd
	MOVQ R9, R12
	SHLQ $3, R12
	MOVQ R8, R13
	SHLQ $3, R13

rowblk:
	MOVQ SI, BX // src tile
	MOVQ DI, DX // dst tile
	MOVQ R11, CX

tile:
	MOVQ    BX, AX
	VMOVUPS (AX), Y0
	ADDQ    R9, AX
	VMOVUPS (AX), Y1
	ADDQ    R9, AX
	VMOVUPS (AX), Y2
	ADDQ    R9, AX
	VMOVUPS (AX), Y3
	ADDQ    R9, AX
	VMOVUPS (AX), Y4
	ADDQ    R9, AX
	VMOVUPS (AX), Y5
	ADDQ    R9, AX
	VMOVUPS (AX), Y6
	ADDQ    R9, AX
	VMOVUPS (AX), Y7

	VUNPCKLPS Y1, Y0, Y8
	VUNPCKHPS Y1, Y0, Y9
	VUNPCKLPS Y3, Y2, Y10
	VUNPCKHPS Y3, Y2, Y11
	VUNPCKLPS Y5, Y4, Y12
	VUNPCKHPS Y5, Y4, Y13
	VUNPCKLPS Y7, Y6, Y14
	VUNPCKHPS Y7, Y6, Y0

	VSHUFPS $0x44, Y10, Y8, Y1
	VSHUFPS $0xEE, Y10, Y8, Y2
	VSHUFPS $0x44, Y11, Y9, Y3
	VSHUFPS $0xEE, Y11, Y9, Y4
	VSHUFPS $0x44, Y14, Y12, Y5
	VSHUFPS $0xEE, Y14, Y12, Y6
	VSHUFPS $0x44, Y0, Y13, Y7
	VSHUFPS $0xEE, Y0, Y13, Y8

	VPERM2F128 $0x20, Y5, Y1, Y9
	VPERM2F128 $0x20, Y6, Y2, Y10
	VPERM2F128 $0x20, Y7, Y3, Y11
	VPERM2F128 $0x20, Y8, Y4, Y12
	VPERM2F128 $0x31, Y5, Y1, Y13
	VPERM2F128 $0x31, Y6, Y2, Y14
	VPERM2F128 $0x31, Y7, Y3, Y0
	VPERM2F128 $0x31, Y8, Y4, Y1

	MOVQ  DX, AX
	TESTQ R14, R14
	JZ    store

	VFMADD231PS (AX), Y15, Y9
	VMOVUPS     Y9, (AX)
	ADDQ        R8, AX
	VFMADD231PS (AX), Y15, Y10
	VMOVUPS     Y10, (AX)
	ADDQ        R8, AX
	VFMADD231PS (AX), Y15, Y11
	VMOVUPS     Y11, (AX)
	ADDQ        R8, AX
	VFMADD231PS (AX), Y15, Y12
	VMOVUPS     Y12, (AX)
	ADDQ        R8, AX
	VFMADD231PS (AX), Y15, Y13
	VMOVUPS     Y13, (AX)
	ADDQ        R8, AX
	VFMADD231PS (AX), Y15, Y14
	VMOVUPS     Y14, (AX)
	ADDQ        R8, AX
	VFMADD231PS (AX), Y15, Y0
	VMOVUPS     Y0, (AX)
	ADDQ        R8, AX
	VFMADD231PS (AX), Y15, Y1
	VMOVUPS     Y1, (AX)
	JMP         next

store:
	VMOVUPS Y9, (AX)
	ADDQ    R8, AX
	VMOVUPS Y10, (AX)
	ADDQ    R8, AX
	VMOVUPS Y11, (AX)
	ADDQ    R8, AX
	VMOVUPS Y12, (AX)
	ADDQ    R8, AX
	VMOVUPS Y13, (AX)
	ADDQ    R8, AX
	VMOVUPS Y14, (AX)
	ADDQ    R8, AX
	VMOVUPS Y0, (AX)
	ADDQ    R8, AX
	VMOVUPS Y1, (AX)

next:
	ADDQ $32, BX
	ADDQ R13, DX
	DECQ CX
	JNZ  tile

	ADDQ R12, SI
	ADDQ $32, DI
	DECQ R10
	JNZ  rowblk

done:
	VZEROUPPER
	RET
