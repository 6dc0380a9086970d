// Macros of the AVX2+FMA kernels. They are the AVX-512 kernels' operations in eight-lane registers,
// in the same order, so that they return the same bits. A sixteen-lane accumulator of the AVX-512 code
// is a pair of registers here (low, high lanes), and the lane folds start by adding the pair. Constants
// live in memory (avx2consts_amd64.s), eight copies each; without VSCALEFPS, 2ⁿ·p is two exact
// power-of-two products, 2^(n>>1) and then 2^(n-(n>>1)), which round once like it.

// K_name is the eight copies of a constant in ·avx2Consts.
#define K_expLo ·avx2Consts+0(SB)
#define K_expHi ·avx2Consts+32(SB)
#define K_log2e ·avx2Consts+64(SB)
#define K_ln2Hi ·avx2Consts+96(SB)
#define K_ln2Lo ·avx2Consts+128(SB)
#define K_c7 ·avx2Consts+160(SB)
#define K_c6 ·avx2Consts+192(SB)
#define K_c5 ·avx2Consts+224(SB)
#define K_c4 ·avx2Consts+256(SB)
#define K_c3 ·avx2Consts+288(SB)
#define K_half ·avx2Consts+320(SB)
#define K_one ·avx2Consts+352(SB)
#define K_bias127 ·avx2Consts+384(SB)
#define K_e0 ·avx2Consts+416(SB)
#define K_e1 ·avx2Consts+448(SB)
#define K_e2 ·avx2Consts+480(SB)
#define K_e3 ·avx2Consts+512(SB)
#define K_e4 ·avx2Consts+544(SB)
#define K_e5 ·avx2Consts+576(SB)
#define K_e6 ·avx2Consts+608(SB)
#define K_e7 ·avx2Consts+640(SB)
#define K_e8 ·avx2Consts+672(SB)
#define K_e9 ·avx2Consts+704(SB)
#define K_negInvSqrt2 ·avx2Consts+736(SB)
#define K_two ·avx2Consts+768(SB)
#define K_absMask ·avx2Consts+800(SB)
#define K_negQ ·avx2Consts+832(SB)

// TAILMASKS sets Y12 and Y11 to the lane masks of the first CX (< 16) lanes: Y12 lanes 0-7, Y11
// lanes 8-15. It clobbers AX.
#define TAILMASKS \
	LEAQ    ·avx2TailMask+64(SB), AX \
	SHLQ    $2, CX \
	SUBQ    CX, AX \
	SHRQ    $2, CX \
	VMOVUPS (AX), Y12 \
	VMOVUPS 32(AX), Y11

// CLAMP clamps Y to [-104, 89] in place, keeping NaN: the bound (Y13 low, Y14 high) is the first
// source, so a NaN second source is returned.
#define CLAMP(Y) \
	VMAXPS Y, Y13, Y \
	VMINPS Y, Y14, Y

#define BOUNDS \
	VMOVUPS K_expLo, Y13 \
	VMOVUPS K_expHi, Y14

// EXP sets Y in place to exp(Y) for Y clamped to [-104, 89], NaN passing through; it clobbers Y1..Y3.
#define EXP(Y) \
	VMULPS       K_log2e, Y, Y1 \
	VROUNDPS     $0, Y1, Y1 \
	VFNMADD231PS K_ln2Hi, Y1, Y \
	VFNMADD231PS K_ln2Lo, Y1, Y \
	VMOVUPS      K_c7, Y2 \
	VFMADD213PS  K_c6, Y, Y2 \
	VFMADD213PS  K_c5, Y, Y2 \
	VFMADD213PS  K_c4, Y, Y2 \
	VFMADD213PS  K_c3, Y, Y2 \
	VFMADD213PS  K_half, Y, Y2 \
	VFMADD213PS  K_one, Y, Y2 \
	VFMADD213PS  K_one, Y, Y2 \
	VCVTPS2DQ    Y1, Y1 \
	VPSRAD       $1, Y1, Y3 \
	VPSUBD       Y3, Y1, Y1 \
	VPADDD       K_bias127, Y3, Y3 \
	VPSLLD       $23, Y3, Y3 \
	VPADDD       K_bias127, Y1, Y1 \
	VPSLLD       $23, Y1, Y1 \
	VMULPS       Y3, Y2, Y2 \
	VMULPS       Y1, Y2, Y

// QGELU sets Y to Y / (1 + exp(-1.702·Y)); it clobbers Y1..Y3, Y5.
#define QGELU(Y) \
	VMULPS K_negQ, Y, Y5 \
	CLAMP(Y5) \
	EXP(Y5) \
	VADDPS K_one, Y5, Y5 \
	VDIVPS Y5, Y, Y

// GELU sets Y to Y·Φ(Y) as geluAVX512; it clobbers Y0..Y3, Y5, Y6.
#define GELU(Y) \
	VMULPS       K_negInvSqrt2, Y, Y3 \
	VANDPS       K_absMask, Y3, Y5 \
	VCMPPS       $4, Y5, Y3, Y6 \
	VMOVUPS      K_half, Y0 \
	VFMADD213PS  K_one, Y5, Y0 \
	VMOVUPS      K_one, Y1 \
	VDIVPS       Y0, Y1, Y0 \
	VMOVUPS      K_e9, Y1 \
	VFMADD213PS  K_e8, Y0, Y1 \
	VFMADD213PS  K_e7, Y0, Y1 \
	VFMADD213PS  K_e6, Y0, Y1 \
	VFMADD213PS  K_e5, Y0, Y1 \
	VFMADD213PS  K_e4, Y0, Y1 \
	VFMADD213PS  K_e3, Y0, Y1 \
	VFMADD213PS  K_e2, Y0, Y1 \
	VFMADD213PS  K_e1, Y0, Y1 \
	VFMADD213PS  K_e0, Y0, Y1 \
	VFNMADD213PS Y1, Y5, Y5 \
	CLAMP(Y5) \
	EXP(Y5) \
	VMULPS       Y0, Y5, Y5 \
	VMOVUPS      K_two, Y1 \
	VSUBPS       Y5, Y1, Y0 \
	VBLENDVPS    Y6, Y0, Y5, Y5 \
	VMULPS       K_half, Y, Y \
	VMULPS       Y5, Y, Y

// HSUM16 folds the sixteen lanes held in Y0 (lanes 0-7) and Y1 (8-15) into the low lane of X0.
#define HSUM16 \
	VADDPS       Y1, Y0, Y0 \
	VEXTRACTF128 $1, Y0, X1 \
	VADDPS       X1, X0, X0 \
	VPERMILPS    $0x4e, X0, X1 \
	VADDPS       X1, X0, X0 \
	VPERMILPS    $0xb1, X0, X1 \
	VADDPS       X1, X0, X0
