//go:build !purego

#include "textflag.h"

// The epilogue kernels apply a SgemmEpilogue to an m×n block of C:
//
//	C[i][j] = act(C[i][j] + rowBias[i] + colBias[j] + add[i·ldAdd+j])
//
// skipping the terms whose pointer is nil, one 16-lane vector at a time,
// the last of each row masked. The additions run in the order of the Go
// twin, and the activations are those of geluAVX512 and quickGeluAVX512,
// so the results match Gelu and QuickGelu bit for bit.

// EXPCONSTS loads the constants of EXP into Z19..Z30; it clobbers AX.
#define EXPCONSTS \
	MOVL         $0xc2d00000, AX \
	VPBROADCASTD AX, Z20 \
	MOVL         $0x42b20000, AX \
	VPBROADCASTD AX, Z21 \
	MOVL         $0x3fb8aa3b, AX \
	VPBROADCASTD AX, Z22 \
	MOVL         $0x3f318000, AX \
	VPBROADCASTD AX, Z23 \
	MOVL         $0xb95e8083, AX \
	VPBROADCASTD AX, Z24 \
	MOVL         $0x39500d01, AX \
	VPBROADCASTD AX, Z25 \
	MOVL         $0x3ab60b61, AX \
	VPBROADCASTD AX, Z26 \
	MOVL         $0x3c088889, AX \
	VPBROADCASTD AX, Z27 \
	MOVL         $0x3d2aaaab, AX \
	VPBROADCASTD AX, Z28 \
	MOVL         $0x3e2aaaab, AX \
	VPBROADCASTD AX, Z29 \
	MOVL         $0x3f000000, AX \
	VPBROADCASTD AX, Z30 \
	MOVL         $0x3f800000, AX \
	VPBROADCASTD AX, Z19

// EXP sets Z in place to exp(Z) for Z clamped to [-104, 89], NaN passing
// through; it clobbers Z1 and Z2 and needs EXPCONSTS.
#define EXP(Z) \
	VMULPS       Z22, Z, Z1 \
	VRNDSCALEPS  $0, Z1, Z1 \
	VFNMADD231PS Z23, Z1, Z \
	VFNMADD231PS Z24, Z1, Z \
	VMOVAPS      Z25, Z2 \
	VFMADD213PS  Z26, Z, Z2 \
	VFMADD213PS  Z27, Z, Z2 \
	VFMADD213PS  Z28, Z, Z2 \
	VFMADD213PS  Z29, Z, Z2 \
	VFMADD213PS  Z30, Z, Z2 \
	VFMADD213PS  Z19, Z, Z2 \
	VFMADD213PS  Z19, Z, Z2 \
	VSCALEFPS    Z1, Z2, Z

// CLAMPONLY clamps Z to [-104, 89] in place, keeping NaN.
#define CLAMPONLY(Z) \
	VMAXPS Z, Z20, Z \
	VMINPS Z, Z21, Z

// QGELU sets Z to Z / (1 + exp(-1.702·Z)); it clobbers Z1, Z2, Z5 and
// needs -1.702 in Z18.
#define QGELU(Z) \
	VMULPS Z18, Z, Z5 \
	CLAMPONLY(Z5) \
	EXP(Z5) \
	VADDPS Z19, Z5, Z5 \
	VDIVPS Z5, Z, Z

// GELUCONSTS loads the erfc coefficients into Z6..Z15 and -1/√2, 0.5, 2
// and the |·| mask into Z16, Z17, Z18 and Z31.
#define GELUCONSTS \
	MOVL         $0xbfa1fc4e, AX \
	VPBROADCASTD AX, Z6 \
	MOVL         $0x3f8000c7, AX \
	VPBROADCASTD AX, Z7 \
	MOVL         $0x3ebf88fb, AX \
	VPBROADCASTD AX, Z8 \
	MOVL         $0x3dc636c9, AX \
	VPBROADCASTD AX, Z9 \
	MOVL         $0xbe3ec24c, AX \
	VPBROADCASTD AX, Z10 \
	MOVL         $0x3e8ec7cc, AX \
	VPBROADCASTD AX, Z11 \
	MOVL         $0xbf914e5d, AX \
	VPBROADCASTD AX, Z12 \
	MOVL         $0x3fbe87b0, AX \
	VPBROADCASTD AX, Z13 \
	MOVL         $0xbf527892, AX \
	VPBROADCASTD AX, Z14 \
	MOVL         $0x3e2ef945, AX \
	VPBROADCASTD AX, Z15 \
	MOVL         $0xbf3504f3, AX \
	VPBROADCASTD AX, Z16 \
	MOVL         $0x3f000000, AX \
	VPBROADCASTD AX, Z17 \
	MOVL         $0x40000000, AX \
	VPBROADCASTD AX, Z18 \
	MOVL         $0x7fffffff, AX \
	VPBROADCASTD AX, Z31

// GELU sets Z to Z·Φ(Z) = Z/2·erfc(-Z/√2), as geluAVX512; it clobbers
// Z0..Z3, Z5 and K2 and needs EXPCONSTS and GELUCONSTS.
#define GELU(Z) \
	VMULPS       Z16, Z, Z3 \
	VPANDD       Z31, Z3, Z5 \
	VCMPPS       $4, Z5, Z3, K2 \
	VMOVAPS      Z5, Z0 \
	VFMADD213PS  Z19, Z17, Z0 \
	VDIVPS       Z0, Z19, Z0 \
	VMOVAPS      Z15, Z1 \
	VFMADD213PS  Z14, Z0, Z1 \
	VFMADD213PS  Z13, Z0, Z1 \
	VFMADD213PS  Z12, Z0, Z1 \
	VFMADD213PS  Z11, Z0, Z1 \
	VFMADD213PS  Z10, Z0, Z1 \
	VFMADD213PS  Z9, Z0, Z1 \
	VFMADD213PS  Z8, Z0, Z1 \
	VFMADD213PS  Z7, Z0, Z1 \
	VFMADD213PS  Z6, Z0, Z1 \
	VFNMADD213PS Z1, Z5, Z5 \
	CLAMPONLY(Z5) \
	EXP(Z5) \
	VMULPS       Z0, Z5, Z5 \
	VSUBPS       Z5, Z18, Z0 \
	VMOVAPS      Z0, K2, Z5 \
	VMULPS       Z17, Z, Z \
	VMULPS       Z5, Z, Z

// RELU sets the negative lanes of Z to 0: the zero in Z7 is the first
// source, so NaN and -0 pass through.
#define RELU(Z) \
	VMAXPS Z, Z7, Z

#define NOACT(Z)

// EPILOOP runs the loop over the block with ACT as the activation. DI
// walks the rows of C, R9 rowBias, R11 the rows of add; in a row R13
// walks C, R14 colBias and BX add, CX counting the columns left.
#define EPILOOP(ACT) \
	MOVQ  c+0(FP), DI \
	MOVQ  ldc+8(FP), SI \
	SHLQ  $2, SI \
	MOVQ  m+16(FP), DX \
	MOVQ  rowBias+32(FP), R9 \
	MOVQ  add+48(FP), R11 \
	MOVQ  ldAdd+56(FP), R12 \
	SHLQ  $2, R12 \
	MOVQ  n+24(FP), R10 \
	TESTQ R10, R10 \
	JLE   done \
	TESTQ DX, DX \
	JLE   done \
row: \
	MOVQ  R10, CX \
	MOVQ  DI, R13 \
	MOVQ  colBias+40(FP), R14 \
	MOVQ  R11, BX \
col: \
	MOVL  $0xffff, AX \
	CMPQ  CX, $16 \
	JAE   full \
	MOVL  $1, AX \
	SHLL  CX, AX \
	DECL  AX \
full: \
	KMOVW AX, K1 \
	VMOVUPS.Z (R13), K1, Z4 \
	TESTQ R9, R9 \
	JEQ   norow \
	VADDPS.BCST (R9), Z4, Z4 \
norow: \
	TESTQ R14, R14 \
	JEQ   nocol \
	VMOVUPS.Z (R14), K1, Z0 \
	VADDPS Z0, Z4, Z4 \
	ADDQ  $64, R14 \
nocol: \
	TESTQ BX, BX \
	JEQ   noadd \
	VMOVUPS.Z (BX), K1, Z0 \
	VADDPS Z0, Z4, Z4 \
	ADDQ  $64, BX \
noadd: \
	ACT(Z4) \
	VMOVUPS Z4, K1, (R13) \
	ADDQ  $64, R13 \
	SUBQ  $16, CX \
	JG    col \
	ADDQ  SI, DI \
	TESTQ R9, R9 \
	JEQ   nextadd \
	ADDQ  $4, R9 \
nextadd: \
	TESTQ R11, R11 \
	JEQ   nextrow \
	ADDQ  R12, R11 \
nextrow: \
	DECQ  DX \
	JNE   row \
done: \
	VZEROUPPER \
	RET

// func epilogueNoneAVX512(c *float32, ldc, m, n int, rowBias, colBias, add *float32, ldAdd int)
TEXT ·epilogueNoneAVX512(SB), NOSPLIT, $0-64
	EPILOOP(NOACT)

// func epilogueReLUAVX512(c *float32, ldc, m, n int, rowBias, colBias, add *float32, ldAdd int)
TEXT ·epilogueReLUAVX512(SB), NOSPLIT, $0-64
	VPXORD Z7, Z7, Z7
	EPILOOP(RELU)

// func epilogueGeluAVX512(c *float32, ldc, m, n int, rowBias, colBias, add *float32, ldAdd int)
TEXT ·epilogueGeluAVX512(SB), NOSPLIT, $0-64
	EXPCONSTS
	GELUCONSTS
	EPILOOP(GELU)

// func epilogueQuickGeluAVX512(c *float32, ldc, m, n int, rowBias, colBias, add *float32, ldAdd int)
TEXT ·epilogueQuickGeluAVX512(SB), NOSPLIT, $0-64
	EXPCONSTS
	MOVL         $0xbfd9db23, AX // -1.702
	VPBROADCASTD AX, Z18
	EPILOOP(QGELU)
