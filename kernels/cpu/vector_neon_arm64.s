//go:build !purego

#include "textflag.h"
#include "neon_arm64.h"

// The kernels here work on whole vectors only: n is a multiple of 4 (16 for the reductions, whose
// lanes are those of the Go twins). The Go wrappers (vector_arm64.go) run the rest through the twins.

// func geluBlocksNEON(dst, x *float32, n int)
TEXT ·geluBlocksNEON(SB), NOSPLIT, $0-24
	MOVD dst+0(FP), R0
	MOVD x+8(FP), R1
	MOVD n+16(FP), R2
	LOAD_CONSTS(R3)
	LSR  $3, R2, R4
	CBZ  R4, g4

g8:
	VLD1.P 32(R1), [V1.S4, V2.S4]
	VMOV   V2.B16, V9.B16
	GELU_AB
	VST1.P [V0.S4], 16(R0)
	VST1.P [V8.S4], 16(R0)
	SUBS   $1, R4
	BNE    g8

g4:
	TBZ    $2, R2, gdone
	VLD1   (R1), [V1.S4]
	GELU_A
	VST1   [V0.S4], (R0)

gdone:
	RET

// func quickGeluBlocksNEON(dst, x *float32, n int)
TEXT ·quickGeluBlocksNEON(SB), NOSPLIT, $0-24
	MOVD dst+0(FP), R0
	MOVD x+8(FP), R1
	MOVD n+16(FP), R2
	LOAD_CONSTS(R3)
	LSR  $3, R2, R4
	CBZ  R4, q4

q8:
	VLD1.P 32(R1), [V1.S4, V2.S4]
	VMOV   V2.B16, V9.B16
	QGELU_AB
	VST1.P [V0.S4], 16(R0)
	VST1.P [V8.S4], 16(R0)
	SUBS   $1, R4
	BNE    q8

q4:
	TBZ    $2, R2, qdone
	VLD1   (R1), [V1.S4]
	QGELU_A
	VST1   [V0.S4], (R0)

qdone:
	RET

// EXPSUB2 stores exp(x - m) (m in V31) for the next eight values and adds them to the accumulators
// acc and accb, one vector each.
#define EXPSUB2(acc, accb) \
	VLD1.P 32(R1), [V0.S4, V1.S4]; \
	VMOV   V1.B16, V8.B16;         \
	FSUB_V(0, 0, 31);              \
	FSUB_V(8, 8, 31);              \
	EXP_AB;                        \
	VST1.P [V0.S4], 16(R0);        \
	VST1.P [V8.S4], 16(R0);        \
	FADD_V(acc, acc, 0);           \
	FADD_V(accb, accb, 8)

// func expSubBlocksNEON(dst, x *float32, n int, m float32, acc *[32]float32)
//
// acc gets the two sixteen-lane accumulators of expSubGo, in V20-V23 and V2, V3, V7, V9: blocks of 32
// fill both, a last block of 16 the first.
TEXT ·expSubBlocksNEON(SB), NOSPLIT, $0-40
	MOVD  dst+0(FP), R0
	MOVD  x+8(FP), R1
	MOVD  n+16(FP), R2
	FMOVS m+24(FP), F31
	MOVD  acc+32(FP), R4
	LOAD_CONSTS(R3)
	VDUP  V31.S[0], V31.S4
	VEOR  V20.B16, V20.B16, V20.B16
	VEOR  V21.B16, V21.B16, V21.B16
	VEOR  V22.B16, V22.B16, V22.B16
	VEOR  V23.B16, V23.B16, V23.B16
	VEOR  V2.B16, V2.B16, V2.B16
	VEOR  V3.B16, V3.B16, V3.B16
	VEOR  V7.B16, V7.B16, V7.B16
	VEOR  V9.B16, V9.B16, V9.B16
	LSR   $5, R2, R5
	CBZ   R5, e16

e32:
	EXPSUB2(20, 21)
	EXPSUB2(22, 23)
	EXPSUB2(2, 3)
	EXPSUB2(7, 9)
	SUBS $1, R5
	BNE  e32

e16:
	TBZ $4, R2, estore
	EXPSUB2(20, 21)
	EXPSUB2(22, 23)

estore:
	VST1.P [V20.S4, V21.S4, V22.S4, V23.S4], 64(R4)
	VST1.P [V2.S4, V3.S4], 32(R4)
	VST1.P [V7.S4], 16(R4)
	VST1   [V9.S4], (R4)
	RET

// DOT16 adds x·y for the next sixteen values to the accumulator a0-a3, fused.
#define DOT16(a0, a1, a2, a3) \
	VLD1.P 64(R0), [V16.S4, V17.S4, V18.S4, V19.S4]; \
	VLD1.P 64(R1), [V20.S4, V21.S4, V22.S4, V23.S4]; \
	VFMLA  V16.S4, V20.S4, a0.S4;                    \
	VFMLA  V17.S4, V21.S4, a1.S4;                    \
	VFMLA  V18.S4, V22.S4, a2.S4;                    \
	VFMLA  V19.S4, V23.S4, a3.S4

// ZERO16 clears V0-V15, the four sixteen-lane accumulators of the reductions.
#define ZERO16 \
	VEOR V0.B16, V0.B16, V0.B16;    \
	VEOR V1.B16, V1.B16, V1.B16;    \
	VEOR V2.B16, V2.B16, V2.B16;    \
	VEOR V3.B16, V3.B16, V3.B16;    \
	VEOR V4.B16, V4.B16, V4.B16;    \
	VEOR V5.B16, V5.B16, V5.B16;    \
	VEOR V6.B16, V6.B16, V6.B16;    \
	VEOR V7.B16, V7.B16, V7.B16;    \
	VEOR V8.B16, V8.B16, V8.B16;    \
	VEOR V9.B16, V9.B16, V9.B16;    \
	VEOR V10.B16, V10.B16, V10.B16; \
	VEOR V11.B16, V11.B16, V11.B16; \
	VEOR V12.B16, V12.B16, V12.B16; \
	VEOR V13.B16, V13.B16, V13.B16; \
	VEOR V14.B16, V14.B16, V14.B16; \
	VEOR V15.B16, V15.B16, V15.B16

// STORE64 writes V0-V15 to the 64 accumulator lanes at R4.
#define STORE64 \
	VST1.P [V0.S4, V1.S4, V2.S4, V3.S4], 64(R4);     \
	VST1.P [V4.S4, V5.S4, V6.S4, V7.S4], 64(R4);     \
	VST1.P [V8.S4, V9.S4, V10.S4, V11.S4], 64(R4);   \
	VST1   [V12.S4, V13.S4, V14.S4, V15.S4], (R4)

// func dotBlocksNEON(x, y *float32, n int, acc *[64]float32)
//
// acc gets the four sixteen-lane accumulators of dotGo: blocks of 64 fill all four, the blocks of 16
// after them the first.
TEXT ·dotBlocksNEON(SB), NOSPLIT, $0-32
	MOVD x+0(FP), R0
	MOVD y+8(FP), R1
	MOVD n+16(FP), R2
	MOVD acc+24(FP), R4
	ZERO16
	LSR  $6, R2, R5
	CBZ  R5, d16

d64:
	DOT16(V0, V1, V2, V3)
	DOT16(V4, V5, V6, V7)
	DOT16(V8, V9, V10, V11)
	DOT16(V12, V13, V14, V15)
	SUBS $1, R5
	BNE  d64

d16:
	AND $63, R2, R5
	CBZ R5, dstore

d16loop:
	DOT16(V0, V1, V2, V3)
	SUBS $16, R5
	BNE  d16loop

dstore:
	STORE64
	RET

// SUM16 adds the next sixteen values to the accumulator a0-a3.
#define SUM16(a0, a1, a2, a3) \
	VLD1.P 64(R0), [V16.S4, V17.S4, V18.S4, V19.S4]; \
	FADD_V(a0, a0, 16);                              \
	FADD_V(a1, a1, 17);                              \
	FADD_V(a2, a2, 18);                              \
	FADD_V(a3, a3, 19)

// func sumBlocksNEON(x *float32, n int, acc *[64]float32)
//
// acc gets the accumulators of sumGo, filled as dotBlocksNEON fills those of dotGo.
TEXT ·sumBlocksNEON(SB), NOSPLIT, $0-24
	MOVD x+0(FP), R0
	MOVD n+8(FP), R2
	MOVD acc+16(FP), R4
	ZERO16
	LSR  $6, R2, R5
	CBZ  R5, s16

s64:
	SUM16(0, 1, 2, 3)
	SUM16(4, 5, 6, 7)
	SUM16(8, 9, 10, 11)
	SUM16(12, 13, 14, 15)
	SUBS $1, R5
	BNE  s64

s16:
	AND $63, R2, R5
	CBZ R5, sstore

s16loop:
	SUM16(0, 1, 2, 3)
	SUBS $16, R5
	BNE  s16loop

sstore:
	STORE64
	RET

// LANESUM16 adds x - m (V31) for the next sixteen values to the accumulator a0-a3.
#define LANESUM16(a0, a1, a2, a3) \
	VLD1.P 64(R0), [V16.S4, V17.S4, V18.S4, V19.S4]; \
	FSUB_V(16, 16, 31);                              \
	FSUB_V(17, 17, 31);                              \
	FSUB_V(18, 18, 31);                              \
	FSUB_V(19, 19, 31);                              \
	FADD_V(a0, a0, 16);                              \
	FADD_V(a1, a1, 17);                              \
	FADD_V(a2, a2, 18);                              \
	FADD_V(a3, a3, 19)

// LANESQ16 adds (m - x)² for the next sixteen values to the accumulator a0-a3, fused.
#define LANESQ16(a0, a1, a2, a3) \
	VLD1.P 64(R0), [V16.S4, V17.S4, V18.S4, V19.S4]; \
	FSUB_V(16, 31, 16);                              \
	FSUB_V(17, 31, 17);                              \
	FSUB_V(18, 31, 18);                              \
	FSUB_V(19, 31, 19);                              \
	VFMLA  V16.S4, V16.S4, a0.S4;                    \
	VFMLA  V17.S4, V17.S4, a1.S4;                    \
	VFMLA  V18.S4, V18.S4, a2.S4;                    \
	VFMLA  V19.S4, V19.S4, a3.S4

// func laneSumBlocksNEON(x *float32, n int, m float32, acc *[64]float32)
//
// acc gets the accumulators of laneSum(x, m, false), without its tail.
TEXT ·laneSumBlocksNEON(SB), NOSPLIT, $0-32
	MOVD  x+0(FP), R0
	MOVD  n+8(FP), R2
	FMOVS m+16(FP), F31
	MOVD  acc+24(FP), R4
	VDUP  V31.S[0], V31.S4
	ZERO16
	LSR   $6, R2, R5
	CBZ   R5, l16

l64:
	LANESUM16(0, 1, 2, 3)
	LANESUM16(4, 5, 6, 7)
	LANESUM16(8, 9, 10, 11)
	LANESUM16(12, 13, 14, 15)
	SUBS $1, R5
	BNE  l64

l16:
	AND $63, R2, R5
	CBZ R5, lstore

l16loop:
	LANESUM16(0, 1, 2, 3)
	SUBS $16, R5
	BNE  l16loop

lstore:
	STORE64
	RET

// func laneSqBlocksNEON(x *float32, n int, m float32, acc *[64]float32)
//
// acc gets the accumulators of laneSum(x, m, true), without its tail.
TEXT ·laneSqBlocksNEON(SB), NOSPLIT, $0-32
	MOVD  x+0(FP), R0
	MOVD  n+8(FP), R2
	FMOVS m+16(FP), F31
	MOVD  acc+24(FP), R4
	VDUP  V31.S[0], V31.S4
	ZERO16
	LSR   $6, R2, R5
	CBZ   R5, q16

q64:
	LANESQ16(V0, V1, V2, V3)
	LANESQ16(V4, V5, V6, V7)
	LANESQ16(V8, V9, V10, V11)
	LANESQ16(V12, V13, V14, V15)
	SUBS $1, R5
	BNE  q64

q16:
	AND $63, R2, R5
	CBZ R5, qstore

q16loop:
	LANESQ16(V0, V1, V2, V3)
	SUBS $16, R5
	BNE  q16loop

qstore:
	STORE64
	RET

// func layerNormApplyNEON(dst, x, w, b *float32, n int, mean, inv float32)
//
// dst = fma(float32((x-mean)·inv), w, b), as layerNormGo with both w and b.
TEXT ·layerNormApplyNEON(SB), NOSPLIT, $0-48
	MOVD  dst+0(FP), R0
	MOVD  x+8(FP), R1
	MOVD  w+16(FP), R2
	MOVD  b+24(FP), R3
	MOVD  n+32(FP), R4
	FMOVS mean+40(FP), F30
	FMOVS inv+44(FP), F31
	VDUP  V30.S[0], V30.S4
	CBZ   R4, ndone

nloop:
	VLD1.P 16(R1), [V0.S4]
	VLD1.P 16(R2), [V1.S4]
	VLD1.P 16(R3), [V2.S4]
	FSUB_V(0, 0, 30)
	FMUL_E(0, 0, 31, 0)
	VFMLA  V1.S4, V0.S4, V2.S4
	VST1.P [V2.S4], 16(R0)
	SUBS   $4, R4
	BNE    nloop

ndone:
	RET

// func axpyBlocksNEON(alpha float32, x, y *float32, n int)
TEXT ·axpyBlocksNEON(SB), NOSPLIT, $0-32
	FMOVS alpha+0(FP), F31
	MOVD  x+8(FP), R0
	MOVD  y+16(FP), R1
	MOVD  n+24(FP), R2
	MOVD  R1, R3 // y's store pointer, apart from its load pointer so that loads need not wait for stores
	CBZ   R2, adone

aloop:
	VLD1.P 16(R0), [V0.S4]
	VLD1.P 16(R1), [V1.S4]
	FMLA_E(1, 0, 31, 0)
	VST1.P [V1.S4], 16(R3)
	SUBS   $4, R2
	BNE    aloop

adone:
	RET

// func scaleBlocksNEON(alpha float32, x *float32, n int)
TEXT ·scaleBlocksNEON(SB), NOSPLIT, $0-24
	FMOVS alpha+0(FP), F31
	MOVD  x+8(FP), R0
	MOVD  n+16(FP), R2
	MOVD  R0, R3 // the store pointer
	CBZ   R2, cdone

cloop:
	VLD1.P 16(R0), [V0.S4]
	FMUL_E(0, 0, 31, 0)
	VST1.P [V0.S4], 16(R3)
	SUBS   $4, R2
	BNE    cloop

cdone:
	RET

// MAXV keeps in Vm, lane by lane, the larger of Vm and Vx, ignoring NaN in Vx; Vt is scratch.
#define MAXV(m, x, t) \
	FCMGT_V(t, x, m); \
	BIT_V(m, x, t)

// func maxBlocksNEON(x *float32, n int, lanes *[4]float32)
//
// lanes gets, lane by lane, the largest value of x that is not NaN, or -Inf. Four running maxima
// (V0-V3) over blocks of 16 keep four compare-and-select chains in flight.
TEXT ·maxBlocksNEON(SB), NOSPLIT, $0-24
	MOVD x+0(FP), R0
	MOVD n+8(FP), R2
	MOVD lanes+16(FP), R4
	MOVD $0xff800000, R5
	VDUP R5, V0.S4
	VMOV V0.B16, V1.B16
	VMOV V0.B16, V2.B16
	VMOV V0.B16, V3.B16
	LSR  $4, R2, R6
	CBZ  R6, m4

m16:
	VLD1.P 64(R0), [V4.S4, V5.S4, V6.S4, V7.S4]
	MAXV(0, 4, 8)
	MAXV(1, 5, 9)
	MAXV(2, 6, 10)
	MAXV(3, 7, 11)
	SUBS   $1, R6
	BNE    m16

m4:
	ANDS $15, R2, R6
	BEQ  mstore

m4loop:
	VLD1.P 16(R0), [V4.S4]
	MAXV(0, 4, 8)
	SUBS   $4, R6
	BNE    m4loop

mstore:
	// The running maxima hold no NaN, so FMAX merges them; the sign of a zero maximum is settled in Go.
	FMAX_V(0, 0, 1)
	FMAX_V(2, 2, 3)
	FMAX_V(0, 0, 2)
	VST1 [V0.S4], (R4)
	RET
