//go:build !purego

#include "textflag.h"
#include "neon_arm64.h"

// The epilogue kernels apply an Epilogue to the m×n block at c (func(c *float32, ldc, m, n int,
// rowBias, colBias, add *float32, ldAdd int)), each term's pointer at the block's first element or nil:
// the row bias, the column bias and Add are added in that order, each sum rounded, then the activation
// takes the value from V1 to V0. Four columns go at a time; the last n mod 4 one at a time, through the
// same vector code with the value in lane 0.
//
// Registers: R0 row of C, R1 ldc in bytes, R2 rows left, R3 n, R4 row bias, R5 column bias, R6 row of
// Add, R7 ldAdd in bytes; V7 the row bias, V31 zero; the activations use V0-V6, V16-V21, V24-V30.

#define ACT_NONE VMOV V1.B16, V0.B16

#define ACT_RELU \
	FCMLT0_V(2, 1);            \
	VMOV V1.B16, V0.B16;       \
	VBIT V2.B16, V31.B16, V0.B16

#define ACT_GELU GELU

#define ACT_QGELU QGELU

#define EPILOGUE(act) \
	MOVD c+0(FP), R0;                 \
	MOVD ldc+8(FP), R1;               \
	MOVD m+16(FP), R2;                \
	MOVD n+24(FP), R3;                \
	MOVD rowBias+32(FP), R4;          \
	MOVD colBias+40(FP), R5;          \
	MOVD add+48(FP), R6;              \
	MOVD ldAdd+56(FP), R7;            \
	LSL  $2, R1;                      \
	LSL  $2, R7;                      \
	LOAD_CONSTS(R8);                  \
	VEOR V31.B16, V31.B16, V31.B16;   \
	CBZ  R2, done;                    \
row:                                  \
	MOVD R0, R9;                      \
	MOVD R5, R10;                     \
	MOVD R6, R11;                     \
	CBZ  R4, 3(PC);                   \
	FMOVS.P 4(R4), F7;                \
	VDUP V7.S[0], V7.S4;              \
	LSR  $2, R3, R12;                 \
	CBZ  R12, tail;                   \
vec:                                  \
	VLD1 (R9), [V1.S4];               \
	CBZ  R4, 2(PC);                   \
	FADD_V(1, 1, 7);                  \
	CBZ  R5, 3(PC);                   \
	VLD1.P 16(R10), [V2.S4];          \
	FADD_V(1, 1, 2);                  \
	CBZ  R6, 3(PC);                   \
	VLD1.P 16(R11), [V2.S4];          \
	FADD_V(1, 1, 2);                  \
	act;                              \
	VST1.P [V0.S4], 16(R9);           \
	SUBS $1, R12;                     \
	BNE  vec;                         \
tail:                                 \
	ANDS $3, R3, R12;                 \
	BEQ  next;                        \
one:                                  \
	FMOVS (R9), F1;                   \
	CBZ  R4, 2(PC);                   \
	FADD_V(1, 1, 7);                  \
	CBZ  R5, 3(PC);                   \
	FMOVS.P 4(R10), F2;               \
	FADD_V(1, 1, 2);                  \
	CBZ  R6, 3(PC);                   \
	FMOVS.P 4(R11), F2;               \
	FADD_V(1, 1, 2);                  \
	act;                              \
	FMOVS.P F0, 4(R9);                \
	SUBS $1, R12;                     \
	BNE  one;                         \
next:                                 \
	ADD  R1, R0;                      \
	CBZ  R6, 2(PC);                   \
	ADD  R7, R6;                      \
	SUBS $1, R2;                      \
	BNE  row;                         \
done:                                 \
	RET

// func epilogueNoneNEON(c *float32, ldc, m, n int, rowBias, colBias, add *float32, ldAdd int)
TEXT ·epilogueNoneNEON(SB), NOSPLIT, $0-64
	EPILOGUE(ACT_NONE)

// func epilogueReLUNEON(c *float32, ldc, m, n int, rowBias, colBias, add *float32, ldAdd int)
TEXT ·epilogueReLUNEON(SB), NOSPLIT, $0-64
	EPILOGUE(ACT_RELU)

// func epilogueGeluNEON(c *float32, ldc, m, n int, rowBias, colBias, add *float32, ldAdd int)
TEXT ·epilogueGeluNEON(SB), NOSPLIT, $0-64
	EPILOGUE(ACT_GELU)

// func epilogueQuickGeluNEON(c *float32, ldc, m, n int, rowBias, colBias, add *float32, ldAdd int)
TEXT ·epilogueQuickGeluNEON(SB), NOSPLIT, $0-64
	EPILOGUE(ACT_QGELU)
