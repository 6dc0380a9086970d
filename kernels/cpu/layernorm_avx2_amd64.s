//go:build !purego

#include "textflag.h"
#include "avx2_amd64.h"

// func layerNormAVX2(dst, x, w, b []float32, eps float32)
//
// layerNormAVX512 in eight-lane registers, bit for bit: its accumulators Z0..Z3 are the pairs Y0:Y1,
// Y2:Y3, Y4:Y5, Y6:Y7. Y15 holds x[0], then 1/sqrt(var+eps); Y14 the mean; X13 the length.
TEXT ·layerNormAVX2(SB), NOSPLIT, $0-100
	MOVQ dst_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ x_len+32(FP), R10
	MOVQ w_base+48(FP), R8
	MOVQ b_base+72(FP), R9

	// Pass 1: Σ(x-x[0]).
	VBROADCASTSS (SI), Y15
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	MOVQ   SI, DX
	MOVQ   R10, CX

sum64:
	CMPQ   CX, $64
	JB     sum16
	VSUBPS 0(DX), Y15, Y8
	VSUBPS Y8, Y0, Y0
	VSUBPS 32(DX), Y15, Y8
	VSUBPS Y8, Y1, Y1
	VSUBPS 64(DX), Y15, Y8
	VSUBPS Y8, Y2, Y2
	VSUBPS 96(DX), Y15, Y8
	VSUBPS Y8, Y3, Y3
	VSUBPS 128(DX), Y15, Y8
	VSUBPS Y8, Y4, Y4
	VSUBPS 160(DX), Y15, Y8
	VSUBPS Y8, Y5, Y5
	VSUBPS 192(DX), Y15, Y8
	VSUBPS Y8, Y6, Y6
	VSUBPS 224(DX), Y15, Y8
	VSUBPS Y8, Y7, Y7
	ADDQ   $256, DX
	SUBQ   $64, CX
	JMP    sum64

sum16:
	CMPQ   CX, $16
	JB     sumtail
	VSUBPS (DX), Y15, Y8
	VSUBPS Y8, Y0, Y0
	VSUBPS 32(DX), Y15, Y8
	VSUBPS Y8, Y1, Y1
	ADDQ   $64, DX
	SUBQ   $16, CX
	JMP    sum16

sumtail:
	TESTQ      CX, CX
	JEQ        sumdone
	TAILMASKS
	VMASKMOVPS (DX), Y12, Y8
	VSUBPS     Y15, Y8, Y8
	VANDPS     Y12, Y8, Y8
	VADDPS     Y8, Y2, Y2
	VMASKMOVPS 32(DX), Y11, Y8
	VSUBPS     Y15, Y8, Y8
	VANDPS     Y11, Y8, Y8
	VADDPS     Y8, Y3, Y3

sumdone:
	VADDPS       Y2, Y0, Y0
	VADDPS       Y3, Y1, Y1
	VADDPS       Y6, Y4, Y4
	VADDPS       Y7, Y5, Y5
	VADDPS       Y4, Y0, Y0
	VADDPS       Y5, Y1, Y1
	HSUM16
	VCVTSI2SSQ   R10, X13, X13 // n
	VDIVSS       X13, X0, X9
	VADDSS       X15, X9, X9   // mean
	VBROADCASTSS X9, Y14

	// Pass 2: Σ(x-mean)².
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	MOVQ   SI, DX
	MOVQ   R10, CX

dev64:
	CMPQ        CX, $64
	JB          dev16
	VSUBPS      0(DX), Y14, Y8
	VFMADD231PS Y8, Y8, Y0
	VSUBPS      32(DX), Y14, Y8
	VFMADD231PS Y8, Y8, Y1
	VSUBPS      64(DX), Y14, Y8
	VFMADD231PS Y8, Y8, Y2
	VSUBPS      96(DX), Y14, Y8
	VFMADD231PS Y8, Y8, Y3
	VSUBPS      128(DX), Y14, Y8
	VFMADD231PS Y8, Y8, Y4
	VSUBPS      160(DX), Y14, Y8
	VFMADD231PS Y8, Y8, Y5
	VSUBPS      192(DX), Y14, Y8
	VFMADD231PS Y8, Y8, Y6
	VSUBPS      224(DX), Y14, Y8
	VFMADD231PS Y8, Y8, Y7
	ADDQ        $256, DX
	SUBQ        $64, CX
	JMP         dev64

dev16:
	CMPQ        CX, $16
	JB          devtail
	VSUBPS      (DX), Y14, Y8
	VFMADD231PS Y8, Y8, Y0
	VSUBPS      32(DX), Y14, Y8
	VFMADD231PS Y8, Y8, Y1
	ADDQ        $64, DX
	SUBQ        $16, CX
	JMP         dev16

devtail:
	TESTQ       CX, CX
	JEQ         devdone
	TAILMASKS
	VMASKMOVPS  (DX), Y12, Y8
	VSUBPS      Y14, Y8, Y8
	VANDPS      Y12, Y8, Y8
	VFMADD231PS Y8, Y8, Y2
	VMASKMOVPS  32(DX), Y11, Y8
	VSUBPS      Y14, Y8, Y8
	VANDPS      Y11, Y8, Y8
	VFMADD231PS Y8, Y8, Y3

devdone:
	VADDPS       Y2, Y0, Y0
	VADDPS       Y3, Y1, Y1
	VADDPS       Y6, Y4, Y4
	VADDPS       Y7, Y5, Y5
	VADDPS       Y4, Y0, Y0
	VADDPS       Y5, Y1, Y1
	HSUM16
	VDIVSS       X13, X0, X0        // variance
	VADDSS       eps+96(FP), X0, X0
	VSQRTSS      X0, X0, X0
	VMOVUPS      K_one, Y1
	VDIVSS       X0, X1, X1         // inv = 1/sqrt(var+eps)
	VBROADCASTSS X1, Y15

	// Pass 3: dst = (x-mean)·inv·w + b.
	MOVQ R10, CX

norm8:
	CMPQ        CX, $8
	JB          normtail
	VMOVUPS     (SI), Y8
	VSUBPS      Y14, Y8, Y8
	VMULPS      Y15, Y8, Y8
	VMOVUPS     (R9), Y9
	VFMADD132PS (R8), Y9, Y8        // Y8 = Y8·w + b
	VMOVUPS     Y8, (DI)
	ADDQ        $32, SI
	ADDQ        $32, DI
	ADDQ        $32, R8
	ADDQ        $32, R9
	SUBQ        $8, CX
	JMP         norm8

normtail:
	TESTQ       CX, CX
	JEQ         normdone
	TAILMASKS
	VMASKMOVPS  (SI), Y12, Y8
	VMASKMOVPS  (R8), Y12, Y10
	VMASKMOVPS  (R9), Y12, Y9
	VSUBPS      Y14, Y8, Y8
	VMULPS      Y15, Y8, Y8
	VFMADD132PS Y10, Y9, Y8
	VMASKMOVPS  Y8, Y12, (DI)

normdone:
	VZEROUPPER
	RET
