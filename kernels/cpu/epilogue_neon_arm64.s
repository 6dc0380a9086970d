//go:build !purego

#include "textflag.h"
#include "neon_arm64.h"

// The epilogue kernels apply an Epilogue to the m×n block at c (func(c *float32, ldc, m, n int,
// rowBias, colBias, add *float32, ldAdd int)), each term's pointer at the block's first element or nil:
// the row bias, the column bias and Add are added in that order, each sum rounded, then the activation
// maps the values to their outputs. Eight columns go at a time, in the two chains of neon_arm64.h (V1
// to V0 and V9 to V8), then four in chain A, then the last n mod 4 one at a time, in lane 0 of chain A.
//
// Registers: R0 row of C, R1 ldc in bytes, R2 rows left, R3 n, R4 row bias, R5 column bias, R6 row of
// Add, R7 ldAdd in bytes; R9 and R13 the store and load pointers in the row (one pointer for both
// would make each load's address wait for the last store); V7 the row bias, V20-V21 the terms loaded,
// V31 zero.

#define NONE_A MOV_V(0, 1)
#define NONE_AB MOV_V(0, 1); MOV_V(8, 9)

#define RELU_A FCMLT0_V(2, 1); MOV_V(0, 1); BIT_V(0, 31, 2)
#define RELU_AB RELU_A; FCMLT0_V(10, 9); MOV_V(8, 9); BIT_V(8, 31, 10)

#define EPILOGUE(actA, actAB) \
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
	MOVD R0, R13;                     \
	MOVD R5, R10;                     \
	MOVD R6, R11;                     \
	CBZ  R4, 3(PC);                   \
	FMOVS.P 4(R4), F7;                \
	VDUP V7.S[0], V7.S4;              \
	LSR  $3, R3, R12;                 \
	CBZ  R12, four;                   \
eight:                                \
	VLD1.P 32(R13), [V1.S4, V2.S4];   \
	MOV_V(9, 2);                      \
	CBZ  R4, 3(PC);                   \
	FADD_V(1, 1, 7);                  \
	FADD_V(9, 9, 7);                  \
	CBZ  R5, 4(PC);                   \
	VLD1.P 32(R10), [V20.S4, V21.S4]; \
	FADD_V(1, 1, 20);                 \
	FADD_V(9, 9, 21);                 \
	CBZ  R6, 4(PC);                   \
	VLD1.P 32(R11), [V20.S4, V21.S4]; \
	FADD_V(1, 1, 20);                 \
	FADD_V(9, 9, 21);                 \
	actAB;                            \
	VST1.P [V0.S4], 16(R9);           \
	VST1.P [V8.S4], 16(R9);           \
	SUBS $1, R12;                     \
	BNE  eight;                       \
four:                                 \
	TBZ  $2, R3, tail;                \
	VLD1.P 16(R13), [V1.S4];          \
	CBZ  R4, 2(PC);                   \
	FADD_V(1, 1, 7);                  \
	CBZ  R5, 3(PC);                   \
	VLD1.P 16(R10), [V20.S4];         \
	FADD_V(1, 1, 20);                 \
	CBZ  R6, 3(PC);                   \
	VLD1.P 16(R11), [V20.S4];         \
	FADD_V(1, 1, 20);                 \
	actA;                             \
	VST1.P [V0.S4], 16(R9);           \
tail:                                 \
	ANDS $3, R3, R12;                 \
	BEQ  next;                        \
one:                                  \
	FMOVS.P 4(R13), F1;               \
	CBZ  R4, 2(PC);                   \
	FADD_V(1, 1, 7);                  \
	CBZ  R5, 3(PC);                   \
	FMOVS.P 4(R10), F20;              \
	FADD_V(1, 1, 20);                 \
	CBZ  R6, 3(PC);                   \
	FMOVS.P 4(R11), F20;              \
	FADD_V(1, 1, 20);                 \
	actA;                             \
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
	EPILOGUE(NONE_A, NONE_AB)

// func epilogueReLUNEON(c *float32, ldc, m, n int, rowBias, colBias, add *float32, ldAdd int)
TEXT ·epilogueReLUNEON(SB), NOSPLIT, $0-64
	EPILOGUE(RELU_A, RELU_AB)

// func epilogueGeluNEON(c *float32, ldc, m, n int, rowBias, colBias, add *float32, ldAdd int)
TEXT ·epilogueGeluNEON(SB), NOSPLIT, $0-64
	EPILOGUE(GELU_A, GELU_AB)

// func epilogueQuickGeluNEON(c *float32, ldc, m, n int, rowBias, colBias, add *float32, ldAdd int)
TEXT ·epilogueQuickGeluNEON(SB), NOSPLIT, $0-64
	EPILOGUE(QGELU_A, QGELU_AB)
