//go:build !purego && !noasm

#include "textflag.h"

// The loops below share one shape: 32 elements (four YMM registers) per
// iteration, then 8 at a time, then a scalar tail. SI walks the source,
// DI the destination, CX counts the elements left.

// func axpyAVX2(alpha float32, x, y []float32)
TEXT ·axpyAVX2(SB), NOSPLIT, $0-56
	VBROADCASTSS alpha+0(FP), Y0
	MOVQ         x_base+8(FP), SI
	MOVQ         x_len+16(FP), CX
	MOVQ         y_base+32(FP), DI

axpy32:
	CMPQ        CX, $32
	JL          axpy8
	VMOVUPS     (SI), Y1
	VMOVUPS     32(SI), Y2
	VMOVUPS     64(SI), Y3
	VMOVUPS     96(SI), Y4
	VFMADD213PS (DI), Y0, Y1
	VFMADD213PS 32(DI), Y0, Y2
	VFMADD213PS 64(DI), Y0, Y3
	VFMADD213PS 96(DI), Y0, Y4
	VMOVUPS     Y1, (DI)
	VMOVUPS     Y2, 32(DI)
	VMOVUPS     Y3, 64(DI)
	VMOVUPS     Y4, 96(DI)
	ADDQ        $128, SI
	ADDQ        $128, DI
	SUBQ        $32, CX
	JMP         axpy32

axpy8:
	CMPQ        CX, $8
	JL          axpy1
	VMOVUPS     (SI), Y1
	VFMADD213PS (DI), Y0, Y1
	VMOVUPS     Y1, (DI)
	ADDQ        $32, SI
	ADDQ        $32, DI
	SUBQ        $8, CX
	JMP         axpy8

axpy1:
	TESTQ       CX, CX
	JZ          axpyDone
	VMOVSS      (SI), X1
	VFMADD213SS (DI), X0, X1
	VMOVSS      X1, (DI)
	ADDQ        $4, SI
	ADDQ        $4, DI
	DECQ        CX
	JMP         axpy1

axpyDone:
	VZEROUPPER
	RET

// HSUM folds Y0..Y3 into the low lane of X0.
#define HSUM \
	VADDPS       Y1, Y0, Y0; \
	VADDPS       Y3, Y2, Y2; \
	VADDPS       Y2, Y0, Y0; \
	VEXTRACTF128 $1, Y0, X1; \
	VADDPS       X1, X0, X0; \
	VMOVHLPS     X0, X0, X1; \
	VADDPS       X1, X0, X0; \
	VMOVSHDUP    X0, X1;     \
	VADDSS       X1, X0, X0

// func dotAVX2(x, y []float32) float32
TEXT ·dotAVX2(SB), NOSPLIT, $0-52
	MOVQ   x_base+0(FP), SI
	MOVQ   x_len+8(FP), CX
	MOVQ   y_base+24(FP), DI
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

dot32:
	CMPQ        CX, $32
	JL          dot8
	VMOVUPS     (SI), Y4
	VMOVUPS     32(SI), Y5
	VMOVUPS     64(SI), Y6
	VMOVUPS     96(SI), Y7
	VFMADD231PS (DI), Y4, Y0
	VFMADD231PS 32(DI), Y5, Y1
	VFMADD231PS 64(DI), Y6, Y2
	VFMADD231PS 96(DI), Y7, Y3
	ADDQ        $128, SI
	ADDQ        $128, DI
	SUBQ        $32, CX
	JMP         dot32

dot8:
	CMPQ        CX, $8
	JL          dotReduce
	VMOVUPS     (SI), Y4
	VFMADD231PS (DI), Y4, Y0
	ADDQ        $32, SI
	ADDQ        $32, DI
	SUBQ        $8, CX
	JMP         dot8

dotReduce:
	HSUM

dot1:
	TESTQ       CX, CX
	JZ          dotDone
	VMOVSS      (SI), X4
	VFMADD231SS (DI), X4, X0
	ADDQ        $4, SI
	ADDQ        $4, DI
	DECQ        CX
	JMP         dot1

dotDone:
	VMOVSS X0, ret+48(FP)
	VZEROUPPER
	RET

// func sumAVX2(x []float32) float32
TEXT ·sumAVX2(SB), NOSPLIT, $0-28
	MOVQ   x_base+0(FP), SI
	MOVQ   x_len+8(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3

sum32:
	CMPQ   CX, $32
	JL     sum8
	VADDPS (SI), Y0, Y0
	VADDPS 32(SI), Y1, Y1
	VADDPS 64(SI), Y2, Y2
	VADDPS 96(SI), Y3, Y3
	ADDQ   $128, SI
	SUBQ   $32, CX
	JMP    sum32

sum8:
	CMPQ   CX, $8
	JL     sumReduce
	VADDPS (SI), Y0, Y0
	ADDQ   $32, SI
	SUBQ   $8, CX
	JMP    sum8

sumReduce:
	HSUM

sum1:
	TESTQ  CX, CX
	JZ     sumDone
	VADDSS (SI), X0, X0
	ADDQ   $4, SI
	DECQ   CX
	JMP    sum1

sumDone:
	VMOVSS X0, ret+24(FP)
	VZEROUPPER
	RET

// func scaleAVX2(alpha float32, x []float32)
TEXT ·scaleAVX2(SB), NOSPLIT, $0-32
	VBROADCASTSS alpha+0(FP), Y0
	MOVQ         x_base+8(FP), DI
	MOVQ         x_len+16(FP), CX

scale32:
	CMPQ    CX, $32
	JL      scale8
	VMULPS  (DI), Y0, Y1
	VMULPS  32(DI), Y0, Y2
	VMULPS  64(DI), Y0, Y3
	VMULPS  96(DI), Y0, Y4
	VMOVUPS Y1, (DI)
	VMOVUPS Y2, 32(DI)
	VMOVUPS Y3, 64(DI)
	VMOVUPS Y4, 96(DI)
	ADDQ    $128, DI
	SUBQ    $32, CX
	JMP     scale32

scale8:
	CMPQ    CX, $8
	JL      scale1
	VMULPS  (DI), Y0, Y1
	VMOVUPS Y1, (DI)
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     scale8

scale1:
	TESTQ  CX, CX
	JZ     scaleDone
	VMOVSS (DI), X1
	VMULSS X0, X1, X1
	VMOVSS X1, (DI)
	ADDQ   $4, DI
	DECQ   CX
	JMP    scale1

scaleDone:
	VZEROUPPER
	RET

// func addConstAVX2(c float32, x []float32)
TEXT ·addConstAVX2(SB), NOSPLIT, $0-32
	VBROADCASTSS c+0(FP), Y0
	MOVQ         x_base+8(FP), DI
	MOVQ         x_len+16(FP), CX

addc32:
	CMPQ    CX, $32
	JL      addc8
	VADDPS  (DI), Y0, Y1
	VADDPS  32(DI), Y0, Y2
	VADDPS  64(DI), Y0, Y3
	VADDPS  96(DI), Y0, Y4
	VMOVUPS Y1, (DI)
	VMOVUPS Y2, 32(DI)
	VMOVUPS Y3, 64(DI)
	VMOVUPS Y4, 96(DI)
	ADDQ    $128, DI
	SUBQ    $32, CX
	JMP     addc32

addc8:
	CMPQ    CX, $8
	JL      addc1
	VADDPS  (DI), Y0, Y1
	VMOVUPS Y1, (DI)
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     addc8

addc1:
	TESTQ  CX, CX
	JZ     addcDone
	VMOVSS (DI), X1
	VADDSS X0, X1, X1
	VMOVSS X1, (DI)
	ADDQ   $4, DI
	DECQ   CX
	JMP    addc1

addcDone:
	VZEROUPPER
	RET

// func addToAVX2(dst, src []float32)
TEXT ·addToAVX2(SB), NOSPLIT, $0-48
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), CX
	MOVQ src_base+24(FP), SI

addto32:
	CMPQ    CX, $32
	JL      addto8
	VMOVUPS (DI), Y1
	VMOVUPS 32(DI), Y2
	VMOVUPS 64(DI), Y3
	VMOVUPS 96(DI), Y4
	VADDPS  (SI), Y1, Y1
	VADDPS  32(SI), Y2, Y2
	VADDPS  64(SI), Y3, Y3
	VADDPS  96(SI), Y4, Y4
	VMOVUPS Y1, (DI)
	VMOVUPS Y2, 32(DI)
	VMOVUPS Y3, 64(DI)
	VMOVUPS Y4, 96(DI)
	ADDQ    $128, SI
	ADDQ    $128, DI
	SUBQ    $32, CX
	JMP     addto32

addto8:
	CMPQ    CX, $8
	JL      addto1
	VMOVUPS (DI), Y1
	VADDPS  (SI), Y1, Y1
	VMOVUPS Y1, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     addto8

addto1:
	TESTQ  CX, CX
	JZ     addtoDone
	VMOVSS (DI), X1
	VADDSS (SI), X1, X1
	VMOVSS X1, (DI)
	ADDQ   $4, SI
	ADDQ   $4, DI
	DECQ   CX
	JMP    addto1

addtoDone:
	VZEROUPPER
	RET

// func mulToAVX2(dst, src []float32)
TEXT ·mulToAVX2(SB), NOSPLIT, $0-48
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), CX
	MOVQ src_base+24(FP), SI

multo32:
	CMPQ    CX, $32
	JL      multo8
	VMOVUPS (DI), Y1
	VMOVUPS 32(DI), Y2
	VMOVUPS 64(DI), Y3
	VMOVUPS 96(DI), Y4
	VMULPS  (SI), Y1, Y1
	VMULPS  32(SI), Y2, Y2
	VMULPS  64(SI), Y3, Y3
	VMULPS  96(SI), Y4, Y4
	VMOVUPS Y1, (DI)
	VMOVUPS Y2, 32(DI)
	VMOVUPS Y3, 64(DI)
	VMOVUPS Y4, 96(DI)
	ADDQ    $128, SI
	ADDQ    $128, DI
	SUBQ    $32, CX
	JMP     multo32

multo8:
	CMPQ    CX, $8
	JL      multo1
	VMOVUPS (DI), Y1
	VMULPS  (SI), Y1, Y1
	VMOVUPS Y1, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     multo8

multo1:
	TESTQ  CX, CX
	JZ     multoDone
	VMOVSS (DI), X1
	VMULSS (SI), X1, X1
	VMOVSS X1, (DI)
	ADDQ   $4, SI
	ADDQ   $4, DI
	DECQ   CX
	JMP    multo1

multoDone:
	VZEROUPPER
	RET

// MAX8 computes dst[i] = max(dst[i], src[i]) for 8 elements at off,
// through Y1..Y3: VMAXPS gives src where it is the larger, else dst
// (dst also when either is NaN); the blend then takes src where it is
// NaN.
#define MAX8(off) \
	VMOVUPS   off(SI), Y1;       \
	VMAXPS    off(DI), Y1, Y2;   \
	VCMPPS    $3, Y1, Y1, Y3;    \
	VBLENDVPS Y3, Y1, Y2, Y2;    \
	VMOVUPS   Y2, off(DI)

// func maxToAVX2(dst, src []float32)
TEXT ·maxToAVX2(SB), NOSPLIT, $0-48
	MOVQ dst_base+0(FP), DI
	MOVQ dst_len+8(FP), CX
	MOVQ src_base+24(FP), SI

maxto32:
	CMPQ CX, $32
	JL   maxto8
	MAX8(0)
	MAX8(32)
	MAX8(64)
	MAX8(96)
	ADDQ $128, SI
	ADDQ $128, DI
	SUBQ $32, CX
	JMP  maxto32

maxto8:
	CMPQ CX, $8
	JL   maxto1
	MAX8(0)
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP  maxto8

maxto1:
	TESTQ     CX, CX
	JZ        maxtoDone
	VMOVSS    (SI), X1
	VMAXSS    (DI), X1, X2
	VCMPSS    $3, X1, X1, X3
	VBLENDVPS X3, X1, X2, X2
	VMOVSS    X2, (DI)
	ADDQ      $4, SI
	ADDQ      $4, DI
	DECQ      CX
	JMP       maxto1

maxtoDone:
	VZEROUPPER
	RET

// CLAMP8 computes dst[i] = min(hi, max(lo, src[i])) for 8 elements at off,
// with lo in Y0 and hi in Y5. The source operand is the second
// one of VMAXPS/VMINPS, so NaN and -0 inputs pass through unchanged, as in
// the generic "if v < lo { v = lo }" form.
#define CLAMP8(off) \
	VMAXPS off(SI), Y0, Y1; \
	VMINPS Y1, Y5, Y1;      \
	VMOVUPS Y1, off(DI)

// func reluAVX2(dst, src []float32)
TEXT ·reluAVX2(SB), NOSPLIT, $0-48
	MOVQ   dst_base+0(FP), DI
	MOVQ   dst_len+8(FP), CX
	MOVQ   src_base+24(FP), SI
	VXORPS Y0, Y0, Y0

relu32:
	CMPQ    CX, $32
	JL      relu8
	VMAXPS  (SI), Y0, Y1
	VMAXPS  32(SI), Y0, Y2
	VMAXPS  64(SI), Y0, Y3
	VMAXPS  96(SI), Y0, Y4
	VMOVUPS Y1, (DI)
	VMOVUPS Y2, 32(DI)
	VMOVUPS Y3, 64(DI)
	VMOVUPS Y4, 96(DI)
	ADDQ    $128, SI
	ADDQ    $128, DI
	SUBQ    $32, CX
	JMP     relu32

relu8:
	CMPQ    CX, $8
	JL      relu1
	VMAXPS  (SI), Y0, Y1
	VMOVUPS Y1, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     relu8

relu1:
	TESTQ  CX, CX
	JZ     reluDone
	VMAXSS (SI), X0, X1
	VMOVSS X1, (DI)
	ADDQ   $4, SI
	ADDQ   $4, DI
	DECQ   CX
	JMP    relu1

reluDone:
	VZEROUPPER
	RET

// func clipAVX2(dst, src []float32, lo, hi float32)
TEXT ·clipAVX2(SB), NOSPLIT, $0-56
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	MOVQ         src_base+24(FP), SI
	VBROADCASTSS lo+48(FP), Y0
	VBROADCASTSS hi+52(FP), Y5

clip32:
	CMPQ CX, $32
	JL   clip8
	CLAMP8(0)
	CLAMP8(32)
	CLAMP8(64)
	CLAMP8(96)
	ADDQ $128, SI
	ADDQ $128, DI
	SUBQ $32, CX
	JMP  clip32

clip8:
	CMPQ CX, $8
	JL   clip1
	CLAMP8(0)
	ADDQ $32, SI
	ADDQ $32, DI
	SUBQ $8, CX
	JMP  clip8

clip1:
	TESTQ  CX, CX
	JZ     clipDone
	VMAXSS (SI), X0, X1
	VMINSS X1, X5, X1
	VMOVSS X1, (DI)
	ADDQ   $4, SI
	ADDQ   $4, DI
	DECQ   CX
	JMP    clip1

clipDone:
	VZEROUPPER
	RET
