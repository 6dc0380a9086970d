//go:build !purego

#include "textflag.h"

// func adamAVX(w, grad, m1, m2 *float32, n int, c *AdamConsts)
//
// adamGo eight elements at a time; n is a multiple of eight. Only AVX: multiplies and adds round on their
// own, as in the Go twin, and VSQRTPS and VDIVPS round correctly, so the bits are the twin's.
TEXT ·adamAVX(SB), NOSPLIT, $0-48
	MOVQ         w+0(FP), DI
	MOVQ         grad+8(FP), SI
	MOVQ         m1+16(FP), R8
	MOVQ         m2+24(FP), R9
	MOVQ         n+32(FP), CX
	MOVQ         c+40(FP), AX
	VBROADCASTSS 0(AX), Y8   // Decay
	VBROADCASTSS 4(AX), Y9   // L2
	VBROADCASTSS 8(AX), Y10  // Beta1
	VBROADCASTSS 12(AX), Y11 // OneMinB1
	VBROADCASTSS 16(AX), Y12 // Beta2
	VBROADCASTSS 20(AX), Y13 // OneMinB2
	VBROADCASTSS 24(AX), Y14 // BC2Sqrt
	VBROADCASTSS 28(AX), Y15 // Eps
	VBROADCASTSS 32(AX), Y7  // NegStep

loop:
	CMPQ    CX, $8
	JL      done
	VMOVUPS (DI), Y0
	VMULPS  Y8, Y0, Y0       // w' = w·Decay
	VMOVUPS (SI), Y1
	VMULPS  Y9, Y0, Y2
	VADDPS  Y2, Y1, Y1       // g' = g + L2·w'
	VMOVUPS (R8), Y2
	VMULPS  Y10, Y2, Y2
	VMULPS  Y11, Y1, Y3
	VADDPS  Y3, Y2, Y2       // m = β1·m + (1-β1)·g'
	VMOVUPS Y2, (R8)
	VMOVUPS (R9), Y3
	VMULPS  Y12, Y3, Y3
	VMULPS  Y1, Y1, Y4
	VMULPS  Y13, Y4, Y4
	VADDPS  Y4, Y3, Y3       // v = β2·v + (1-β2)·g'·g'
	VMOVUPS Y3, (R9)
	VSQRTPS Y3, Y4
	VDIVPS  Y14, Y4, Y4
	VADDPS  Y15, Y4, Y4      // denom = √v/BC2Sqrt + Eps
	VDIVPS  Y4, Y2, Y5
	VMULPS  Y7, Y5, Y5
	VADDPS  Y5, Y0, Y0       // w = w' + NegStep·(m/denom)
	VMOVUPS Y0, (DI)
	ADDQ    $32, DI
	ADDQ    $32, SI
	ADDQ    $32, R8
	ADDQ    $32, R9
	SUBQ    $8, CX
	JMP     loop

done:
	VZEROUPPER
	RET
