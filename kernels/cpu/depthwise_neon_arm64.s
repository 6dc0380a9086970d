//go:build !purego

#include "textflag.h"

// The depthwise kernels compute one output row for a block of 16 or 4 channels: dst, src, w and bias
// point at the block's first channel; c is dst's pixel stride and ps src's and w's. For each output
// pixel the accumulators start at the bias (or zero) and take one fused multiply-add per tap, ky then
// kx, the order of depthwiseRowGo.
//
// Registers: R0 dst, R1 src at the output pixel, R2 w, R3 bias, R4 c in bytes, R5 ps in bytes, R6 ld
// in bytes, R7 kh, R8 kw, R9 pixels left, R10 the src step of one output pixel (stride·ps) in bytes;
// R11 the input row, R12 the tap's weights, R13 rows left, R14 the tap's pixel, R15 taps left.

#define DW_ARGS \
	MOVD dst+0(FP), R0;     \
	MOVD src+8(FP), R1;     \
	MOVD w+16(FP), R2;      \
	MOVD bias+24(FP), R3;   \
	MOVD c+32(FP), R4;      \
	MOVD ps+40(FP), R5;     \
	MOVD ld+48(FP), R6;     \
	MOVD kh+56(FP), R7;     \
	MOVD kw+64(FP), R8;     \
	MOVD wo+72(FP), R9;     \
	MOVD stride+80(FP), R10; \
	LSL  $2, R4;            \
	LSL  $2, R5;            \
	LSL  $2, R6;            \
	MUL  R5, R10

// DW_SWEEP runs R9 pixels of the output row one at a time: init sets the accumulators, tap adds one
// tap, store writes them.
#define DW_SWEEP(init, tap, store) \
	CBZ  R9, done;       \
pixel:                   \
	init;                \
	MOVD R1, R11;        \
	MOVD R2, R12;        \
	MOVD R7, R13;        \
kyloop:                  \
	MOVD R11, R14;       \
	MOVD R8, R15;        \
kxloop:                  \
	tap;                 \
	ADD  R5, R14;        \
	ADD  R5, R12;        \
	SUBS $1, R15;        \
	BNE  kxloop;         \
	ADD  R6, R11;        \
	SUBS $1, R13;        \
	BNE  kyloop;         \
	store;               \
	ADD  R4, R0;         \
	ADD  R10, R1;        \
	SUBS $1, R9;         \
	BNE  pixel;          \
done:                    \
	RET

#define INIT16 \
	VEOR V0.B16, V0.B16, V0.B16;                   \
	VEOR V1.B16, V1.B16, V1.B16;                   \
	VEOR V2.B16, V2.B16, V2.B16;                   \
	VEOR V3.B16, V3.B16, V3.B16;                   \
	CBZ  R3, 2(PC);                                \
	VLD1 (R3), [V0.S4, V1.S4, V2.S4, V3.S4]

#define TAP16 \
	VLD1  (R14), [V4.S4, V5.S4, V6.S4, V7.S4];     \
	VLD1  (R12), [V8.S4, V9.S4, V10.S4, V11.S4];   \
	VFMLA V4.S4, V8.S4, V0.S4;                     \
	VFMLA V5.S4, V9.S4, V1.S4;                     \
	VFMLA V6.S4, V10.S4, V2.S4;                    \
	VFMLA V7.S4, V11.S4, V3.S4

#define STORE16 VST1 [V0.S4, V1.S4, V2.S4, V3.S4], (R0)

#define INIT4 \
	VEOR V0.B16, V0.B16, V0.B16; \
	CBZ  R3, 2(PC);              \
	VLD1 (R3), [V0.S4]

#define TAP4 \
	VLD1  (R14), [V4.S4];        \
	VLD1  (R12), [V8.S4];        \
	VFMLA V4.S4, V8.S4, V0.S4

#define STORE4 VST1 [V0.S4], (R0)

// ACC4(a0, a1, a2, a3, p) adds the tap at pixel pointer p, stepped to the next tap, times the weights
// in V16-V19 to the accumulators a0-a3.
#define ACC4(a0, a1, a2, a3, p) \
	VLD1.P (p)(R5), [V20.S4, V21.S4, V22.S4, V23.S4]; \
	VFMLA  V20.S4, V16.S4, a0.S4;                     \
	VFMLA  V21.S4, V17.S4, a1.S4;                     \
	VFMLA  V22.S4, V18.S4, a2.S4;                     \
	VFMLA  V23.S4, V19.S4, a3.S4

// STORE4PX writes the accumulators a0-a3 to dst's pixel at R0 and steps R0 to the next.
#define STORE4PX(a0, a1, a2, a3) \
	VST1 [a0.S4, a1.S4, a2.S4, a3.S4], (R0); \
	ADD  R4, R0

// func depthwise16NEON(dst, src, w, bias *float32, c, ps, ld, kh, kw, wo, stride int)
//
// Four output pixels at a time share each tap's weights (V16-V19): 20 loads for 16 fused multiply-adds,
// against 32 for one pixel at a time. Their accumulators are V0-V3, V4-V7, V8-V11 and V12-V15, their
// input pointers R19-R22; the last wo mod 4 pixels go one at a time.
TEXT ·depthwise16NEON(SB), NOSPLIT, $0-88
	DW_ARGS
	LSR  $2, R9, R23
	AND  $3, R9
	CBZ  R23, rest

quad:
	INIT16
	VMOV V0.B16, V4.B16
	VMOV V1.B16, V5.B16
	VMOV V2.B16, V6.B16
	VMOV V3.B16, V7.B16
	VMOV V0.B16, V8.B16
	VMOV V1.B16, V9.B16
	VMOV V2.B16, V10.B16
	VMOV V3.B16, V11.B16
	VMOV V0.B16, V12.B16
	VMOV V1.B16, V13.B16
	VMOV V2.B16, V14.B16
	VMOV V3.B16, V15.B16
	MOVD R1, R11
	MOVD R2, R12
	MOVD R7, R13

qky:
	MOVD R11, R19
	ADD  R10, R19, R20
	ADD  R10, R20, R21
	ADD  R10, R21, R22
	MOVD R8, R15

qkx:
	VLD1.P (R12)(R5), [V16.S4, V17.S4, V18.S4, V19.S4]
	ACC4(V0, V1, V2, V3, R19)
	ACC4(V4, V5, V6, V7, R20)
	ACC4(V8, V9, V10, V11, R21)
	ACC4(V12, V13, V14, V15, R22)
	SUBS $1, R15
	BNE  qkx
	ADD  R6, R11
	SUBS $1, R13
	BNE  qky
	STORE4PX(V0, V1, V2, V3)
	STORE4PX(V4, V5, V6, V7)
	STORE4PX(V8, V9, V10, V11)
	STORE4PX(V12, V13, V14, V15)
	ADD  R10<<2, R1
	SUBS $1, R23
	BNE  quad

rest:
	DW_SWEEP(INIT16, TAP16, STORE16)

// func depthwise4NEON(dst, src, w, bias *float32, c, ps, ld, kh, kw, wo, stride int)
TEXT ·depthwise4NEON(SB), NOSPLIT, $0-88
	DW_ARGS
	DW_SWEEP(INIT4, TAP4, STORE4)
