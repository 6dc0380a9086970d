//go:build !purego

#include "textflag.h"

// LNMASK sets K1 to the low CX lanes, 0 < CX < 16.
#define LNMASK \
	MOVL  $1, AX   \
	SHLL  CX, AX   \
	DECL  AX       \
	KMOVW AX, K1

// LNHSUM folds the 16 lanes of Z0 into the low lane of X0.
#define LNHSUM \
	VEXTRACTF64X4 $1, Z0, Y1    \
	VADDPS        Y1, Y0, Y0    \
	VEXTRACTF128  $1, Y0, X1    \
	VADDPS        X1, X0, X0    \
	VPERMILPS     $0x4e, X0, X1 \
	VADDPS        X1, X0, X0    \
	VPERMILPS     $0xb1, X0, X1 \
	VADDPS        X1, X0, X0

// func layerNormAVX512(dst, x, w, b []float32, eps float32)
//
// Three passes over a row that sits in L1: the sum, the squared deviations from the mean (four
// accumulators each, as layerNormGo keeps), then (x-mean)·inv·w + b.
TEXT ·layerNormAVX512(SB), NOSPLIT, $0-100
	MOVQ dst_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ x_len+32(FP), R10
	MOVQ w_base+48(FP), R8
	MOVQ b_base+72(FP), R9

	// Pass 1: Σ(x-x[0]); the shift keeps a large common offset out of the sum.
	VMOVSS       (SI), X7
	VBROADCASTSS X7, Z29
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	MOVQ   SI, DX
	MOVQ   R10, CX

sum64:
	CMPQ   CX, $64
	JB     sum16
	VSUBPS (DX), Z29, Z4
	VSUBPS 64(DX), Z29, Z5
	VSUBPS 128(DX), Z29, Z6
	VSUBPS 192(DX), Z29, Z7
	VSUBPS Z4, Z0, Z0
	VSUBPS Z5, Z1, Z1
	VSUBPS Z6, Z2, Z2
	VSUBPS Z7, Z3, Z3
	ADDQ   $256, DX
	SUBQ   $64, CX
	JMP    sum64

sum16:
	CMPQ   CX, $16
	JB     sumtail
	VSUBPS (DX), Z29, Z4
	VSUBPS Z4, Z0, Z0
	ADDQ   $64, DX
	SUBQ   $16, CX
	JMP    sum16

sumtail:
	TESTQ     CX, CX
	JEQ       sumdone
	LNMASK
	VMOVUPS.Z (DX), K1, Z4
	VSUBPS.Z  Z29, Z4, K1, Z4
	VADDPS    Z4, Z1, Z1

sumdone:
	VADDPS     Z1, Z0, Z0
	VADDPS     Z3, Z2, Z2
	VADDPS     Z2, Z0, Z0
	LNHSUM
	VCVTSI2SSQ R10, X8, X8          // X8 = n (Z8 stays free below)
	VDIVSS     X8, X0, X6
	VADDSS     X29, X6, X6           // X6 = mean (Z29 holds x[0] in every lane)
	VBROADCASTSS X6, Z30             // Z30 = mean in every lane

	// Pass 2: Σ(x-mean)².
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
	MOVQ   SI, DX
	MOVQ   R10, CX

dev64:
	CMPQ        CX, $64
	JB          dev16
	VSUBPS      (DX), Z30, Z4
	VSUBPS      64(DX), Z30, Z5
	VSUBPS      128(DX), Z30, Z6
	VSUBPS      192(DX), Z30, Z7
	VFMADD231PS Z4, Z4, Z0
	VFMADD231PS Z5, Z5, Z1
	VFMADD231PS Z6, Z6, Z2
	VFMADD231PS Z7, Z7, Z3
	ADDQ        $256, DX
	SUBQ        $64, CX
	JMP         dev64

dev16:
	CMPQ        CX, $16
	JB          devtail
	VSUBPS      (DX), Z30, Z4
	VFMADD231PS Z4, Z4, Z0
	ADDQ        $64, DX
	SUBQ        $16, CX
	JMP         dev16

devtail:
	TESTQ       CX, CX
	JEQ         devdone
	LNMASK
	VMOVUPS.Z   (DX), K1, Z4
	VSUBPS.Z    Z30, Z4, K1, Z4
	VFMADD231PS Z4, Z4, Z1

devdone:
	VADDPS       Z1, Z0, Z0
	VADDPS       Z3, Z2, Z2
	VADDPS       Z2, Z0, Z0
	LNHSUM
	VDIVSS       X8, X0, X0          // variance
	VADDSS       eps+96(FP), X0, X0
	VSQRTSS      X0, X0, X0
	MOVL         $0x3f800000, AX     // 1.0
	VMOVD        AX, X1
	VDIVSS       X0, X1, X1          // inv = 1/sqrt(var+eps)
	VBROADCASTSS X1, Z31

	// Pass 3: dst = (x-mean)·inv·w + b.
	MOVQ R10, CX

norm16:
	CMPQ         CX, $16
	JB           normtail
	VMOVUPS      (SI), Z4
	VSUBPS       Z30, Z4, Z4
	VMULPS       Z31, Z4, Z4
	VMOVUPS      (R9), Z5
	VFMADD132PS  (R8), Z5, Z4        // Z4 = Z4·w + b
	VMOVUPS      Z4, (DI)
	ADDQ         $64, SI
	ADDQ         $64, DI
	ADDQ         $64, R8
	ADDQ         $64, R9
	SUBQ         $16, CX
	JMP          norm16

normtail:
	TESTQ       CX, CX
	JEQ         normdone
	LNMASK
	VMOVUPS.Z   (SI), K1, Z4
	VMOVUPS.Z   (R8), K1, Z6
	VMOVUPS.Z   (R9), K1, Z5
	VSUBPS      Z30, Z4, Z4
	VMULPS      Z31, Z4, Z4
	VFMADD132PS Z6, Z5, Z4
	VMOVUPS     Z4, K1, (DI)

normdone:
	VZEROUPPER
	RET
