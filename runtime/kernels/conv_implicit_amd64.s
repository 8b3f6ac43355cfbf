//go:build !purego && !noasm

#include "textflag.h"

// SSTEP is gemm_amd64.s's KSTEP with the 16 B values read at x + off[p]:
// the offset (int32) at R10+oo, x at DI, the A sliver at SI+ao; the 6×16
// accumulator tile is in Y0..Y11.
#define SSTEP(ao, oo) \
	MOVLQSX      oo(R10), AX;       \
	VMOVUPS      (DI)(AX*4), Y12;   \
	VMOVUPS      32(DI)(AX*4), Y13; \
	VBROADCASTSS ao(SI), Y14;       \
	VFMADD231PS  Y12, Y14, Y0;      \
	VFMADD231PS  Y13, Y14, Y1;      \
	VBROADCASTSS ao+4(SI), Y15;     \
	VFMADD231PS  Y12, Y15, Y2;      \
	VFMADD231PS  Y13, Y15, Y3;      \
	VBROADCASTSS ao+8(SI), Y14;     \
	VFMADD231PS  Y12, Y14, Y4;      \
	VFMADD231PS  Y13, Y14, Y5;      \
	VBROADCASTSS ao+12(SI), Y15;    \
	VFMADD231PS  Y12, Y15, Y6;      \
	VFMADD231PS  Y13, Y15, Y7;      \
	VBROADCASTSS ao+16(SI), Y14;    \
	VFMADD231PS  Y12, Y14, Y8;      \
	VFMADD231PS  Y13, Y14, Y9;      \
	VBROADCASTSS ao+20(SI), Y15;    \
	VFMADD231PS  Y12, Y15, Y10;     \
	VFMADD231PS  Y13, Y15, Y11

// SSTEP4 is SSTEP for the first 4 rows of the tile (Y0..Y7).
#define SSTEP4(ao, oo) \
	MOVLQSX      oo(R10), AX;       \
	VMOVUPS      (DI)(AX*4), Y12;   \
	VMOVUPS      32(DI)(AX*4), Y13; \
	VBROADCASTSS ao(SI), Y14;       \
	VFMADD231PS  Y12, Y14, Y0;      \
	VFMADD231PS  Y13, Y14, Y1;      \
	VBROADCASTSS ao+4(SI), Y15;     \
	VFMADD231PS  Y12, Y15, Y2;      \
	VFMADD231PS  Y13, Y15, Y3;      \
	VBROADCASTSS ao+8(SI), Y14;     \
	VFMADD231PS  Y12, Y14, Y4;      \
	VFMADD231PS  Y13, Y14, Y5;      \
	VBROADCASTSS ao+12(SI), Y15;    \
	VFMADD231PS  Y12, Y15, Y6;      \
	VFMADD231PS  Y13, Y15, Y7

// SSTORE writes accumulator row (lo, hi) to DX, then advances DX by one
// row (R8 bytes).
#define SSTORE(lo, hi) \
	VMOVUPS lo, (DX);   \
	VMOVUPS hi, 32(DX); \
	ADDQ    R8, DX

// SACC adds beta (Y15) times the old row at DX to (lo, hi), stores it
// and advances DX.
#define SACC(lo, hi) \
	VFMADD231PS (DX), Y15, lo;   \
	VFMADD231PS 32(DX), Y15, hi; \
	VMOVUPS     lo, (DX);        \
	VMOVUPS     hi, 32(DX);      \
	ADDQ        R8, DX

// func shiftedKernel6x16AVX2(k int, a, x *float32, off *int32, c *float32, ldc int, beta float32)
TEXT ·shiftedKernel6x16AVX2(SB), NOSPLIT, $0-52
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ x+16(FP), DI
	MOVQ off+24(FP), R10
	MOVQ c+32(FP), DX
	MOVQ ldc+40(FP), R8
	SHLQ $2, R8

	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11

	MOVQ CX, BX
	SHRQ $2, BX
	JZ   stail

sloop4:
	SSTEP(0, 0)
	SSTEP(24, 4)
	SSTEP(48, 8)
	SSTEP(72, 12)
	ADDQ $96, SI
	ADDQ $16, R10
	DECQ BX
	JNZ  sloop4

stail:
	ANDQ $3, CX
	JZ   sstore

sloop1:
	SSTEP(0, 0)
	ADDQ $24, SI
	ADDQ $4, R10
	DECQ CX
	JNZ  sloop1

sstore:
	MOVL beta+48(FP), AX
	ANDL $0x7fffffff, AX
	JZ   soverwrite

	VBROADCASTSS beta+48(FP), Y15
	SACC(Y0, Y1)
	SACC(Y2, Y3)
	SACC(Y4, Y5)
	SACC(Y6, Y7)
	SACC(Y8, Y9)
	SACC(Y10, Y11)
	VZEROUPPER
	RET

soverwrite:
	SSTORE(Y0, Y1)
	SSTORE(Y2, Y3)
	SSTORE(Y4, Y5)
	SSTORE(Y6, Y7)
	SSTORE(Y8, Y9)
	SSTORE(Y10, Y11)
	VZEROUPPER
	RET

// func shiftedKernel4x16AVX2(k int, a, x *float32, off *int32, c *float32, ldc int, beta float32)
TEXT ·shiftedKernel4x16AVX2(SB), NOSPLIT, $0-52
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ x+16(FP), DI
	MOVQ off+24(FP), R10
	MOVQ c+32(FP), DX
	MOVQ ldc+40(FP), R8
	SHLQ $2, R8

	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7

	MOVQ CX, BX
	SHRQ $2, BX
	JZ   s4tail

s4loop4:
	SSTEP4(0, 0)
	SSTEP4(24, 4)
	SSTEP4(48, 8)
	SSTEP4(72, 12)
	ADDQ $96, SI
	ADDQ $16, R10
	DECQ BX
	JNZ  s4loop4

s4tail:
	ANDQ $3, CX
	JZ   s4store

s4loop1:
	SSTEP4(0, 0)
	ADDQ $24, SI
	ADDQ $4, R10
	DECQ CX
	JNZ  s4loop1

s4store:
	MOVL beta+48(FP), AX
	ANDL $0x7fffffff, AX
	JZ   s4overwrite

	VBROADCASTSS beta+48(FP), Y15
	SACC(Y0, Y1)
	SACC(Y2, Y3)
	SACC(Y4, Y5)
	SACC(Y6, Y7)
	VZEROUPPER
	RET

s4overwrite:
	SSTORE(Y0, Y1)
	SSTORE(Y2, Y3)
	SSTORE(Y4, Y5)
	SSTORE(Y6, Y7)
	VZEROUPPER
	RET
