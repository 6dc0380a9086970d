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

// DW_SWEEP runs the output row: init sets the accumulators, tap adds one tap, store writes them.
#define DW_SWEEP(init, tap, store) \
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

// func depthwise16NEON(dst, src, w, bias *float32, c, ps, ld, kh, kw, wo, stride int)
TEXT ·depthwise16NEON(SB), NOSPLIT, $0-88
	DW_ARGS
	DW_SWEEP(INIT16, TAP16, STORE16)

// func depthwise4NEON(dst, src, w, bias *float32, c, ps, ld, kh, kw, wo, stride int)
TEXT ·depthwise4NEON(SB), NOSPLIT, $0-88
	DW_ARGS
	DW_SWEEP(INIT4, TAP4, STORE4)
