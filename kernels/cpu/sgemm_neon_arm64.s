//go:build !purego

#include "textflag.h"
#include "neon_arm64.h"

// The 12×8 tile of C lives in V0-V23: row i in V(2i) (columns 0-3) and V(2i+1) (columns 4-7). Each
// step over p loads twelve values of A into V24-V26 and eight of B into V28-V29, and multiplies each
// B vector by each A value in place (FMLA by element): 24 independent chains of fused multiply-adds,
// enough to fill two or four FMA pipes of four-cycle latency, fed by five loads per 24 FMAs.

// ROW4 adds row i = 4q+l of A times the B row to the two accumulators of row i.
#define ROW(c, a, l) \
	FMLA_E(c, 28, a, l); \
	FMLA_E(c+1, 29, a, l)

#define STEP \
	VLD1.P 48(R1), [V24.S4, V25.S4, V26.S4]; \
	VLD1.P 32(R2), [V28.S4, V29.S4];         \
	ROW(0, 24, 0);                           \
	ROW(2, 24, 1);                           \
	ROW(4, 24, 2);                           \
	ROW(6, 24, 3);                           \
	ROW(8, 25, 0);                           \
	ROW(10, 25, 1);                          \
	ROW(12, 25, 2);                          \
	ROW(14, 25, 3);                          \
	ROW(16, 26, 0);                          \
	ROW(18, 26, 1);                          \
	ROW(20, 26, 2);                          \
	ROW(22, 26, 3)

// SCALE multiplies row i's accumulators by alpha (V30 lane 0).
#define SCALE(c) \
	FMUL_E(c, c, 30, 0); \
	FMUL_E(c+1, c+1, 30, 0)

// STORE writes row i to C and steps R3 to the next row.
#define STORE(c0, c1) \
	VST1 [c0.S4, c1.S4], (R3); \
	ADD  R4, R3

// MERGE adds beta (V31 lane 0) times row i of C, fused, then stores it.
#define MERGE(c, c0, c1) \
	VLD1 (R3), [V24.S4, V25.S4]; \
	FMLA_E(c, 24, 31, 0);        \
	FMLA_E(c+1, 25, 31, 0);      \
	STORE(c0, c1)

// func sgemmKernel12x8NEON(k int, a, b, c *float32, ldc int, alpha, beta float32)
TEXT ·sgemmKernel12x8NEON(SB), NOSPLIT, $0-48
	MOVD k+0(FP), R0
	MOVD a+8(FP), R1
	MOVD b+16(FP), R2
	MOVD c+24(FP), R3
	MOVD ldc+32(FP), R4
	LSL  $2, R4

	VEOR V0.B16, V0.B16, V0.B16
	VEOR V1.B16, V1.B16, V1.B16
	VEOR V2.B16, V2.B16, V2.B16
	VEOR V3.B16, V3.B16, V3.B16
	VEOR V4.B16, V4.B16, V4.B16
	VEOR V5.B16, V5.B16, V5.B16
	VEOR V6.B16, V6.B16, V6.B16
	VEOR V7.B16, V7.B16, V7.B16
	VEOR V8.B16, V8.B16, V8.B16
	VEOR V9.B16, V9.B16, V9.B16
	VEOR V10.B16, V10.B16, V10.B16
	VEOR V11.B16, V11.B16, V11.B16
	VEOR V12.B16, V12.B16, V12.B16
	VEOR V13.B16, V13.B16, V13.B16
	VEOR V14.B16, V14.B16, V14.B16
	VEOR V15.B16, V15.B16, V15.B16
	VEOR V16.B16, V16.B16, V16.B16
	VEOR V17.B16, V17.B16, V17.B16
	VEOR V18.B16, V18.B16, V18.B16
	VEOR V19.B16, V19.B16, V19.B16
	VEOR V20.B16, V20.B16, V20.B16
	VEOR V21.B16, V21.B16, V21.B16
	VEOR V22.B16, V22.B16, V22.B16
	VEOR V23.B16, V23.B16, V23.B16

	LSR $2, R0, R5 // steps of four
	AND $3, R0, R6 // then single steps
	CBZ R5, tail

loop4:
	STEP
	STEP
	STEP
	STEP
	SUBS $1, R5, R5
	BNE  loop4

tail:
	CBZ R6, done

loop1:
	STEP
	SUBS $1, R6, R6
	BNE  loop1

done:
	FMOVS alpha+40(FP), F30
	FMOVS beta+44(FP), F31
	SCALE(0)
	SCALE(2)
	SCALE(4)
	SCALE(6)
	SCALE(8)
	SCALE(10)
	SCALE(12)
	SCALE(14)
	SCALE(16)
	SCALE(18)
	SCALE(20)
	SCALE(22)
	FCMPS $(0.0), F31
	BEQ   overwrite

	MERGE(0, V0, V1)
	MERGE(2, V2, V3)
	MERGE(4, V4, V5)
	MERGE(6, V6, V7)
	MERGE(8, V8, V9)
	MERGE(10, V10, V11)
	MERGE(12, V12, V13)
	MERGE(14, V14, V15)
	MERGE(16, V16, V17)
	MERGE(18, V18, V19)
	MERGE(20, V20, V21)
	MERGE(22, V22, V23)
	RET

overwrite:
	// beta = 0: the old C is not read, so NaNs in it do not matter.
	STORE(V0, V1)
	STORE(V2, V3)
	STORE(V4, V5)
	STORE(V6, V7)
	STORE(V8, V9)
	STORE(V10, V11)
	STORE(V12, V13)
	STORE(V14, V15)
	STORE(V16, V17)
	STORE(V18, V19)
	STORE(V20, V21)
	STORE(V22, V23)
	RET
