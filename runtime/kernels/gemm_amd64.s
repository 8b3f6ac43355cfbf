//go:build !purego && !noasm

#include "textflag.h"

// KSTEP performs one rank-1 update of the 6×16 accumulator tile held in
// Y0..Y11 (two YMM registers per row) from the packed A sliver at SI+ao
// (6 values) and the packed B sliver at DI+bo (16 values).
#define KSTEP(ao, bo) \
	VMOVUPS      bo(DI), Y12;      \
	VMOVUPS      bo+32(DI), Y13;   \
	VBROADCASTSS ao(SI), Y14;      \
	VFMADD231PS  Y12, Y14, Y0;     \
	VFMADD231PS  Y13, Y14, Y1;     \
	VBROADCASTSS ao+4(SI), Y15;    \
	VFMADD231PS  Y12, Y15, Y2;     \
	VFMADD231PS  Y13, Y15, Y3;     \
	VBROADCASTSS ao+8(SI), Y14;    \
	VFMADD231PS  Y12, Y14, Y4;     \
	VFMADD231PS  Y13, Y14, Y5;     \
	VBROADCASTSS ao+12(SI), Y15;   \
	VFMADD231PS  Y12, Y15, Y6;     \
	VFMADD231PS  Y13, Y15, Y7;     \
	VBROADCASTSS ao+16(SI), Y14;   \
	VFMADD231PS  Y12, Y14, Y8;     \
	VFMADD231PS  Y13, Y14, Y9;     \
	VBROADCASTSS ao+20(SI), Y15;   \
	VFMADD231PS  Y12, Y15, Y10;    \
	VFMADD231PS  Y13, Y15, Y11

// STOREROW writes accumulator row (lo, hi) to DX, optionally adding
// beta (Y15) times the old value, then advances DX by one row (R8 bytes).
#define STOREROW(lo, hi) \
	VMOVUPS lo, (DX);   \
	VMOVUPS hi, 32(DX); \
	ADDQ    R8, DX

#define ACCROW(lo, hi) \
	VFMADD231PS (DX), Y15, lo;   \
	VFMADD231PS 32(DX), Y15, hi; \
	VMOVUPS     lo, (DX);        \
	VMOVUPS     hi, 32(DX);      \
	ADDQ        R8, DX

// EPROW finishes accumulator row (lo, hi) with the fused epilogue: adds
// the row's bias (off(R10)), clamps to [Y13, Y14] (VMAXPS/VMINPS return
// the accumulator, their second source, for NaN as the Go code keeps
// it), writes it to DX and advances DX by one row (R8 bytes).
#define EPROW(lo, hi, off) \
	VBROADCASTSS off(R10), Y12; \
	VADDPS       Y12, lo, lo;   \
	VADDPS       Y12, hi, hi;   \
	VMAXPS       lo, Y13, lo;   \
	VMAXPS       hi, Y13, hi;   \
	VMINPS       lo, Y14, lo;   \
	VMINPS       hi, Y14, hi;   \
	VMOVUPS      lo, (DX);      \
	VMOVUPS      hi, 32(DX);    \
	ADDQ         R8, DX

// BETAROW adds beta (Y15) times C's row at DX to accumulator row (lo, hi)
// and advances DX by one row.
#define BETAROW(lo, hi) \
	VFMADD231PS (DX), Y15, lo;   \
	VFMADD231PS 32(DX), Y15, hi; \
	ADDQ        R8, DX

// func kernel6x16AVX2(k int, a, b, c *float32, ldc int, beta float32, bias *float32, lo, hi float32)
TEXT ·kernel6x16AVX2(SB), NOSPLIT, $0-64
	MOVQ k+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), R8
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

	// Touch the six C rows early so the store epilogue does not stall.
	MOVQ       DX, R9
	PREFETCHT0 (R9)
	PREFETCHT0 60(R9)
	ADDQ       R8, R9
	PREFETCHT0 (R9)
	PREFETCHT0 60(R9)
	ADDQ       R8, R9
	PREFETCHT0 (R9)
	PREFETCHT0 60(R9)
	ADDQ       R8, R9
	PREFETCHT0 (R9)
	PREFETCHT0 60(R9)
	ADDQ       R8, R9
	PREFETCHT0 (R9)
	PREFETCHT0 60(R9)
	ADDQ       R8, R9
	PREFETCHT0 (R9)
	PREFETCHT0 60(R9)

	MOVQ CX, BX
	SHRQ $2, BX
	JZ   tail

loop4:
	PREFETCHT0 384(DI)
	KSTEP(0, 0)
	KSTEP(24, 64)
	PREFETCHT0 448(DI)
	KSTEP(48, 128)
	KSTEP(72, 192)
	ADDQ $96, SI
	ADDQ $256, DI
	DECQ BX
	JNZ  loop4

tail:
	ANDQ $3, CX
	JZ   store

loop1:
	KSTEP(0, 0)
	ADDQ $24, SI
	ADDQ $64, DI
	DECQ CX
	JNZ  loop1

store:
	MOVL beta+40(FP), AX
	ANDL $0x7fffffff, AX
	MOVQ bias+48(FP), R10
	TESTQ R10, R10
	JNZ  fused
	TESTL AX, AX
	JZ   overwrite

	VBROADCASTSS beta+40(FP), Y15
	ACCROW(Y0, Y1)
	ACCROW(Y2, Y3)
	ACCROW(Y4, Y5)
	ACCROW(Y6, Y7)
	ACCROW(Y8, Y9)
	ACCROW(Y10, Y11)
	VZEROUPPER
	RET

overwrite:
	STOREROW(Y0, Y1)
	STOREROW(Y2, Y3)
	STOREROW(Y4, Y5)
	STOREROW(Y6, Y7)
	STOREROW(Y8, Y9)
	STOREROW(Y10, Y11)
	VZEROUPPER
	RET

fused:
	TESTL AX, AX
	JZ    epilogue
	VBROADCASTSS beta+40(FP), Y15
	MOVQ  DX, R9
	BETAROW(Y0, Y1)
	BETAROW(Y2, Y3)
	BETAROW(Y4, Y5)
	BETAROW(Y6, Y7)
	BETAROW(Y8, Y9)
	BETAROW(Y10, Y11)
	MOVQ  R9, DX

epilogue:
	VBROADCASTSS lo+56(FP), Y13
	VBROADCASTSS hi+60(FP), Y14
	EPROW(Y0, Y1, 0)
	EPROW(Y2, Y3, 4)
	EPROW(Y4, Y5, 8)
	EPROW(Y6, Y7, 12)
	EPROW(Y8, Y9, 16)
	EPROW(Y10, Y11, 20)
	VZEROUPPER
	RET

// TRANSPOSE8 transposes the 8×8 block whose rows start at lo, lo+R8,
// lo+2·R8, lo+R9 (= 3·R8), hi, … and stores row q of the result at
// off + 64·q (DI): the rows of 16-float packed B.
#define TRANSPOSE8(lo, hi, off) \
	VMOVUPS    (lo), Y0;              \
	VMOVUPS    (lo)(R8*1), Y1;        \
	VMOVUPS    (lo)(R8*2), Y2;        \
	VMOVUPS    (lo)(R9*1), Y3;        \
	VMOVUPS    (hi), Y4;              \
	VMOVUPS    (hi)(R8*1), Y5;        \
	VMOVUPS    (hi)(R8*2), Y6;        \
	VMOVUPS    (hi)(R9*1), Y7;        \
	VUNPCKLPS  Y1, Y0, Y8;            \
	VUNPCKHPS  Y1, Y0, Y9;            \
	VUNPCKLPS  Y3, Y2, Y10;           \
	VUNPCKHPS  Y3, Y2, Y11;           \
	VUNPCKLPS  Y5, Y4, Y12;           \
	VUNPCKHPS  Y5, Y4, Y13;           \
	VUNPCKLPS  Y7, Y6, Y14;           \
	VUNPCKHPS  Y7, Y6, Y15;           \
	VSHUFPS    $0x44, Y10, Y8, Y0;    \
	VSHUFPS    $0xEE, Y10, Y8, Y1;    \
	VSHUFPS    $0x44, Y11, Y9, Y2;    \
	VSHUFPS    $0xEE, Y11, Y9, Y3;    \
	VSHUFPS    $0x44, Y14, Y12, Y4;   \
	VSHUFPS    $0xEE, Y14, Y12, Y5;   \
	VSHUFPS    $0x44, Y15, Y13, Y6;   \
	VSHUFPS    $0xEE, Y15, Y13, Y7;   \
	VPERM2F128 $0x20, Y4, Y0, Y8;     \
	VPERM2F128 $0x20, Y5, Y1, Y9;     \
	VPERM2F128 $0x20, Y6, Y2, Y10;    \
	VPERM2F128 $0x20, Y7, Y3, Y11;    \
	VPERM2F128 $0x31, Y4, Y0, Y12;    \
	VPERM2F128 $0x31, Y5, Y1, Y13;    \
	VPERM2F128 $0x31, Y6, Y2, Y14;    \
	VPERM2F128 $0x31, Y7, Y3, Y15;    \
	VMOVUPS    Y8, off(DI);           \
	VMOVUPS    Y9, off+64(DI);        \
	VMOVUPS    Y10, off+128(DI);      \
	VMOVUPS    Y11, off+192(DI);      \
	VMOVUPS    Y12, off+256(DI);      \
	VMOVUPS    Y13, off+320(DI);      \
	VMOVUPS    Y14, off+384(DI);      \
	VMOVUPS    Y15, off+448(DI)

// func packBTransAVX2(dst, b *float32, ldb, kc8 int)
TEXT ·packBTransAVX2(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ b+8(FP), SI
	MOVQ ldb+16(FP), R8
	MOVQ kc8+24(FP), CX
	SHLQ $2, R8
	LEAQ (R8)(R8*2), R9
	LEAQ (SI)(R8*4), R10
	LEAQ (R10)(R8*4), R11
	LEAQ (R11)(R8*4), R12
	SHRQ $3, CX
	JZ   packBTDone

packBTLoop:
	TRANSPOSE8(SI, R10, 0)
	TRANSPOSE8(R11, R12, 32)
	ADDQ $32, SI
	ADDQ $32, R10
	ADDQ $32, R11
	ADDQ $32, R12
	ADDQ $512, DI
	DECQ CX
	JNZ  packBTLoop

packBTDone:
	VZEROUPPER
	RET

// func packBCopyAVX2(dst, b *float32, ldb, kc int)
TEXT ·packBCopyAVX2(SB), NOSPLIT, $0-32
	MOVQ  dst+0(FP), DI
	MOVQ  b+8(FP), SI
	MOVQ  ldb+16(FP), R8
	MOVQ  kc+24(FP), CX
	SHLQ  $2, R8
	TESTQ CX, CX
	JZ    packBCDone

packBCLoop:
	// Rows are typically far apart (a page or more), where the hardware
	// prefetchers do not follow; fetch the next sliver's line of this row.
	PREFETCHT0 64(SI)
	VMOVUPS    (SI), Y0
	VMOVUPS 32(SI), Y1
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	ADDQ    R8, SI
	ADDQ    $64, DI
	DECQ    CX
	JNZ     packBCLoop

packBCDone:
	VZEROUPPER
	RET

// func packA6AVX2(dst, a *float32, lda, kc8 int, alpha float32)
TEXT ·packA6AVX2(SB), NOSPLIT, $0-36
	MOVQ         dst+0(FP), DI
	MOVQ         a+8(FP), SI
	MOVQ         lda+16(FP), R8
	MOVQ         kc8+24(FP), CX
	VBROADCASTSS alpha+32(FP), Y6
	SHLQ         $2, R8
	LEAQ         (R8)(R8*2), R9
	LEAQ         (SI)(R8*4), R10
	SHRQ         $3, CX
	JZ           packA6Done

packA6Loop:
	// Rows 0..5, eight depths each, scaled by alpha.
	VMULPS     (SI), Y6, Y0
	VMULPS     (SI)(R8*1), Y6, Y1
	VMULPS     (SI)(R8*2), Y6, Y2
	VMULPS     (SI)(R9*1), Y6, Y3
	VMULPS     (R10), Y6, Y4
	VMULPS     (R10)(R8*1), Y6, Y5
	// The 8×8 transpose of TRANSPOSE8 with rows 6 and 7 zero (Y7).
	VUNPCKLPS  Y1, Y0, Y8
	VUNPCKHPS  Y1, Y0, Y9
	VUNPCKLPS  Y3, Y2, Y10
	VUNPCKHPS  Y3, Y2, Y11
	VUNPCKLPS  Y5, Y4, Y12
	VUNPCKHPS  Y5, Y4, Y13
	VXORPS     Y7, Y7, Y7
	VSHUFPS    $0x44, Y10, Y8, Y0
	VSHUFPS    $0xEE, Y10, Y8, Y1
	VSHUFPS    $0x44, Y11, Y9, Y2
	VSHUFPS    $0xEE, Y11, Y9, Y3
	VSHUFPS    $0x44, Y7, Y12, Y4
	VSHUFPS    $0xEE, Y7, Y12, Y5
	VSHUFPS    $0x44, Y7, Y13, Y14
	VSHUFPS    $0xEE, Y7, Y13, Y15
	VPERM2F128 $0x20, Y4, Y0, Y8
	VPERM2F128 $0x20, Y5, Y1, Y9
	VPERM2F128 $0x20, Y14, Y2, Y10
	VPERM2F128 $0x20, Y15, Y3, Y11
	VPERM2F128 $0x31, Y4, Y0, Y12
	VPERM2F128 $0x31, Y5, Y1, Y13
	VPERM2F128 $0x31, Y14, Y2, Y4
	VPERM2F128 $0x31, Y15, Y3, Y5

	// Depth q's six values go to 24·q(DI); each 32-byte store spills two
	// zeros into depth q+1, which the next store overwrites.
	VMOVUPS Y8, (DI)
	VMOVUPS Y9, 24(DI)
	VMOVUPS Y10, 48(DI)
	VMOVUPS Y11, 72(DI)
	VMOVUPS Y12, 96(DI)
	VMOVUPS Y13, 120(DI)
	VMOVUPS Y4, 144(DI)
	VMOVUPS Y5, 168(DI)
	ADDQ    $32, SI
	ADDQ    $32, R10
	ADDQ    $192, DI
	DECQ    CX
	JNZ     packA6Loop

packA6Done:
	VZEROUPPER
	RET
