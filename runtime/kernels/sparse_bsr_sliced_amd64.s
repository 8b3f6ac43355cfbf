//go:build !purego && !noasm

#include "textflag.h"

// LANES(j, acca, accb) adds lanes 2j and 2j+1 of the current step to acca
// and accb: one 64-bit load holds their block columns (uint16: k0 and k1
// of lane 2j, then of lane 2j+1), split into BX, SI and DX, AX; a lane's
// x[k0:k0+4] and x[k1:k1+4] fill the halves of one vector, times the
// lane's eight values.
#define LANES(j, acca, accb) \
	MOVQ        (8*j)(R10), AX;            \
	MOVWLZX     AX, BX;                    \
	MOVL        AX, SI;                    \
	SHRL        $16, SI;                   \
	SHRQ        $32, AX;                   \
	MOVWLZX     AX, DX;                    \
	SHRL        $16, AX;                   \
	VMOVUPS     (R13)(BX*4), X8;           \
	VINSERTF128 $1, (R13)(SI*4), Y8, Y8;   \
	VFMADD231PS (64*j)(R11), Y8, acca;     \
	VMOVUPS     (R13)(DX*4), X9;           \
	VINSERTF128 $1, (R13)(AX*4), Y9, Y9;   \
	VFMADD231PS (64*j+32)(R11), Y9, accb

// STORE(i, xr, l) writes lane l of xr to y[perm[i]] unless perm[i] < 0.
#define STORE(i, xr, l, lbl) \
	MOVLQSX    (4*i)(R12), AX;   \
	TESTQ      AX, AX;           \
	JS         lbl;              \
	VEXTRACTPS $l, xr, (DI)(AX*4); \
lbl:

// func bsrSlicedDotAVX2(steps *int32, nslices int, idx *uint16, val *float32, perm *int32, x, y *float32)
TEXT ·bsrSlicedDotAVX2(SB), NOSPLIT, $0-56
	MOVQ  steps+0(FP), R8
	MOVQ  nslices+8(FP), R9
	MOVQ  idx+16(FP), R10
	MOVQ  val+24(FP), R11
	MOVQ  perm+32(FP), R12
	MOVQ  x+40(FP), R13
	MOVQ  y+48(FP), DI
	TESTQ R9, R9
	JZ    done

slice:
	VXORPS  Y0, Y0, Y0
	VXORPS  Y1, Y1, Y1
	VXORPS  Y2, Y2, Y2
	VXORPS  Y3, Y3, Y3
	VXORPS  Y4, Y4, Y4
	VXORPS  Y5, Y5, Y5
	VXORPS  Y6, Y6, Y6
	VXORPS  Y7, Y7, Y7
	MOVLQSX (R8), CX
	ADDQ    $4, R8
	TESTQ   CX, CX
	JZ      reduce

step:
	LANES(0, Y0, Y1)
	LANES(1, Y2, Y3)
	LANES(2, Y4, Y5)
	LANES(3, Y6, Y7)
	ADDQ $32, R10
	ADDQ $256, R11
	DECQ CX
	JNZ  step

reduce:
	// Y11 lane i = the sum of Yi's lanes.
	VHADDPS    Y1, Y0, Y8
	VHADDPS    Y3, Y2, Y9
	VHADDPS    Y9, Y8, Y8
	VHADDPS    Y5, Y4, Y10
	VHADDPS    Y7, Y6, Y11
	VHADDPS    Y11, Y10, Y10
	VPERM2F128 $0x20, Y10, Y8, Y11
	VPERM2F128 $0x31, Y10, Y8, Y12
	VADDPS     Y12, Y11, Y11
	VEXTRACTF128 $1, Y11, X12
	STORE(0, X11, 0, s0)
	STORE(1, X11, 1, s1)
	STORE(2, X11, 2, s2)
	STORE(3, X11, 3, s3)
	STORE(4, X12, 0, s4)
	STORE(5, X12, 1, s5)
	STORE(6, X12, 2, s6)
	STORE(7, X12, 3, s7)
	ADDQ $32, R12
	DECQ R9
	JNZ  slice

done:
	VZEROUPPER
	RET
