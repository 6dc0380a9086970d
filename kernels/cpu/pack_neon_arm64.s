//go:build !purego

#include "textflag.h"

// TRANS4 transposes the 4×4 block in rows a-d into columns o0-o3, using V28-V31.
#define TRANS4(a, b, c, d, o0, o1, o2, o3) \
	VTRN1 b.S4, a.S4, V28.S4;    \
	VTRN2 b.S4, a.S4, V29.S4;    \
	VTRN1 d.S4, c.S4, V30.S4;    \
	VTRN2 d.S4, c.S4, V31.S4;    \
	VTRN1 V30.D2, V28.D2, o0.D2; \
	VTRN1 V31.D2, V29.D2, o1.D2; \
	VTRN2 V30.D2, V28.D2, o2.D2; \
	VTRN2 V31.D2, V29.D2, o3.D2

// ROWPTRS8 sets R4-R11 to the first eight rows of src, ld bytes (R3) apart.
#define ROWPTRS8 \
	MOVD R2, R4;      \
	ADD  R3, R4, R5;  \
	ADD  R3, R5, R6;  \
	ADD  R3, R6, R7;  \
	ADD  R3, R7, R8;  \
	ADD  R3, R8, R9;  \
	ADD  R3, R9, R10; \
	ADD  R3, R10, R11

// LOAD8 loads the next four values of rows 0-7 into V0-V7.
#define LOAD8 \
	VLD1.P 16(R4), [V0.S4];  \
	VLD1.P 16(R5), [V1.S4];  \
	VLD1.P 16(R6), [V2.S4];  \
	VLD1.P 16(R7), [V3.S4];  \
	VLD1.P 16(R8), [V4.S4];  \
	VLD1.P 16(R9), [V5.S4];  \
	VLD1.P 16(R10), [V6.S4]; \
	VLD1.P 16(R11), [V7.S4]

// func packRows8NEON(dst, src *float32, ld, blocks int)
//
// packRowsGo for 8 full rows and kc = 4·blocks: each block of four columns is transposed in registers,
// so that value p of row r lands at dst[8p+r], column p of rows 0-3 in V16+2p and of rows 4-7 in
// V17+2p, which are then stored in order.
TEXT ·packRows8NEON(SB), NOSPLIT, $0-32
	MOVD dst+0(FP), R0
	MOVD src+8(FP), R2
	MOVD ld+16(FP), R3
	MOVD blocks+24(FP), R1
	LSL  $2, R3
	ROWPTRS8
	CBZ  R1, done8

loop8:
	LOAD8
	TRANS4(V0, V1, V2, V3, V16, V18, V20, V22)
	TRANS4(V4, V5, V6, V7, V17, V19, V21, V23)
	VST1.P [V16.S4, V17.S4, V18.S4, V19.S4], 64(R0)
	VST1.P [V20.S4, V21.S4, V22.S4, V23.S4], 64(R0)
	SUBS   $1, R1
	BNE    loop8

done8:
	RET

// func packRows12NEON(dst, src *float32, ld, blocks int)
//
// packRows8NEON for 12 rows: column p of rows 4g-4g+3 goes to V16+3p+g.
TEXT ·packRows12NEON(SB), NOSPLIT, $0-32
	MOVD dst+0(FP), R0
	MOVD src+8(FP), R2
	MOVD ld+16(FP), R3
	MOVD blocks+24(FP), R1
	LSL  $2, R3
	ROWPTRS8
	ADD  R3, R11, R12
	ADD  R3, R12, R13
	ADD  R3, R13, R14
	ADD  R3, R14, R15
	CBZ  R1, done12

loop12:
	LOAD8
	VLD1.P 16(R12), [V8.S4]
	VLD1.P 16(R13), [V9.S4]
	VLD1.P 16(R14), [V10.S4]
	VLD1.P 16(R15), [V11.S4]
	TRANS4(V0, V1, V2, V3, V16, V19, V22, V25)
	TRANS4(V4, V5, V6, V7, V17, V20, V23, V26)
	TRANS4(V8, V9, V10, V11, V18, V21, V24, V27)
	VST1.P [V16.S4, V17.S4, V18.S4, V19.S4], 64(R0)
	VST1.P [V20.S4, V21.S4, V22.S4, V23.S4], 64(R0)
	VST1.P [V24.S4, V25.S4, V26.S4, V27.S4], 64(R0)
	SUBS   $1, R1
	BNE    loop12

done12:
	RET

// func packCols8NEON(dst, src *float32, ld, kc int)
//
// packColsGo for 8 full columns: kc rows of eight values, ld apart, copied one after another.
TEXT ·packCols8NEON(SB), NOSPLIT, $0-32
	MOVD dst+0(FP), R0
	MOVD src+8(FP), R2
	MOVD ld+16(FP), R3
	MOVD kc+24(FP), R1
	LSL  $2, R3
	CBZ  R1, cdone8

cloop8:
	VLD1   (R2), [V0.S4, V1.S4]
	ADD    R3, R2
	VST1.P [V0.S4, V1.S4], 32(R0)
	SUBS   $1, R1
	BNE    cloop8

cdone8:
	RET

// func packCols12NEON(dst, src *float32, ld, kc int)
//
// packCols8NEON for 12 columns.
TEXT ·packCols12NEON(SB), NOSPLIT, $0-32
	MOVD dst+0(FP), R0
	MOVD src+8(FP), R2
	MOVD ld+16(FP), R3
	MOVD kc+24(FP), R1
	LSL  $2, R3
	CBZ  R1, cdone12

cloop12:
	VLD1   (R2), [V0.S4, V1.S4, V2.S4]
	ADD    R3, R2
	VST1.P [V0.S4, V1.S4, V2.S4], 48(R0)
	SUBS   $1, R1
	BNE    cloop12

cdone12:
	RET
