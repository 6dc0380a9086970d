//go:build !purego

#include "textflag.h"

// The AVX2+FMA vector kernels: the AVX-512 kernels of vector_avx512_amd64.s in eight-lane registers,
// with the same operations in the same order, so that they return the same bits. A sixteen-lane
// accumulator of the AVX-512 code is a pair of registers here (low, high lanes), and the lane folds
// start by adding the pair. Constants live in memory, eight copies each; without VSCALEFPS, 2ⁿ·p is
// two exact power-of-two products, 2^(n>>1) and then 2^(n-(n>>1)), which round once like it.

DATA avx2Consts<>+0(SB)/4, $0xc2d00000
DATA avx2Consts<>+4(SB)/4, $0xc2d00000
DATA avx2Consts<>+8(SB)/4, $0xc2d00000
DATA avx2Consts<>+12(SB)/4, $0xc2d00000
DATA avx2Consts<>+16(SB)/4, $0xc2d00000
DATA avx2Consts<>+20(SB)/4, $0xc2d00000
DATA avx2Consts<>+24(SB)/4, $0xc2d00000
DATA avx2Consts<>+28(SB)/4, $0xc2d00000
DATA avx2Consts<>+32(SB)/4, $0x42b20000
DATA avx2Consts<>+36(SB)/4, $0x42b20000
DATA avx2Consts<>+40(SB)/4, $0x42b20000
DATA avx2Consts<>+44(SB)/4, $0x42b20000
DATA avx2Consts<>+48(SB)/4, $0x42b20000
DATA avx2Consts<>+52(SB)/4, $0x42b20000
DATA avx2Consts<>+56(SB)/4, $0x42b20000
DATA avx2Consts<>+60(SB)/4, $0x42b20000
DATA avx2Consts<>+64(SB)/4, $0x3fb8aa3b
DATA avx2Consts<>+68(SB)/4, $0x3fb8aa3b
DATA avx2Consts<>+72(SB)/4, $0x3fb8aa3b
DATA avx2Consts<>+76(SB)/4, $0x3fb8aa3b
DATA avx2Consts<>+80(SB)/4, $0x3fb8aa3b
DATA avx2Consts<>+84(SB)/4, $0x3fb8aa3b
DATA avx2Consts<>+88(SB)/4, $0x3fb8aa3b
DATA avx2Consts<>+92(SB)/4, $0x3fb8aa3b
DATA avx2Consts<>+96(SB)/4, $0x3f318000
DATA avx2Consts<>+100(SB)/4, $0x3f318000
DATA avx2Consts<>+104(SB)/4, $0x3f318000
DATA avx2Consts<>+108(SB)/4, $0x3f318000
DATA avx2Consts<>+112(SB)/4, $0x3f318000
DATA avx2Consts<>+116(SB)/4, $0x3f318000
DATA avx2Consts<>+120(SB)/4, $0x3f318000
DATA avx2Consts<>+124(SB)/4, $0x3f318000
DATA avx2Consts<>+128(SB)/4, $0xb95e8083
DATA avx2Consts<>+132(SB)/4, $0xb95e8083
DATA avx2Consts<>+136(SB)/4, $0xb95e8083
DATA avx2Consts<>+140(SB)/4, $0xb95e8083
DATA avx2Consts<>+144(SB)/4, $0xb95e8083
DATA avx2Consts<>+148(SB)/4, $0xb95e8083
DATA avx2Consts<>+152(SB)/4, $0xb95e8083
DATA avx2Consts<>+156(SB)/4, $0xb95e8083
DATA avx2Consts<>+160(SB)/4, $0x39500d01
DATA avx2Consts<>+164(SB)/4, $0x39500d01
DATA avx2Consts<>+168(SB)/4, $0x39500d01
DATA avx2Consts<>+172(SB)/4, $0x39500d01
DATA avx2Consts<>+176(SB)/4, $0x39500d01
DATA avx2Consts<>+180(SB)/4, $0x39500d01
DATA avx2Consts<>+184(SB)/4, $0x39500d01
DATA avx2Consts<>+188(SB)/4, $0x39500d01
DATA avx2Consts<>+192(SB)/4, $0x3ab60b61
DATA avx2Consts<>+196(SB)/4, $0x3ab60b61
DATA avx2Consts<>+200(SB)/4, $0x3ab60b61
DATA avx2Consts<>+204(SB)/4, $0x3ab60b61
DATA avx2Consts<>+208(SB)/4, $0x3ab60b61
DATA avx2Consts<>+212(SB)/4, $0x3ab60b61
DATA avx2Consts<>+216(SB)/4, $0x3ab60b61
DATA avx2Consts<>+220(SB)/4, $0x3ab60b61
DATA avx2Consts<>+224(SB)/4, $0x3c088889
DATA avx2Consts<>+228(SB)/4, $0x3c088889
DATA avx2Consts<>+232(SB)/4, $0x3c088889
DATA avx2Consts<>+236(SB)/4, $0x3c088889
DATA avx2Consts<>+240(SB)/4, $0x3c088889
DATA avx2Consts<>+244(SB)/4, $0x3c088889
DATA avx2Consts<>+248(SB)/4, $0x3c088889
DATA avx2Consts<>+252(SB)/4, $0x3c088889
DATA avx2Consts<>+256(SB)/4, $0x3d2aaaab
DATA avx2Consts<>+260(SB)/4, $0x3d2aaaab
DATA avx2Consts<>+264(SB)/4, $0x3d2aaaab
DATA avx2Consts<>+268(SB)/4, $0x3d2aaaab
DATA avx2Consts<>+272(SB)/4, $0x3d2aaaab
DATA avx2Consts<>+276(SB)/4, $0x3d2aaaab
DATA avx2Consts<>+280(SB)/4, $0x3d2aaaab
DATA avx2Consts<>+284(SB)/4, $0x3d2aaaab
DATA avx2Consts<>+288(SB)/4, $0x3e2aaaab
DATA avx2Consts<>+292(SB)/4, $0x3e2aaaab
DATA avx2Consts<>+296(SB)/4, $0x3e2aaaab
DATA avx2Consts<>+300(SB)/4, $0x3e2aaaab
DATA avx2Consts<>+304(SB)/4, $0x3e2aaaab
DATA avx2Consts<>+308(SB)/4, $0x3e2aaaab
DATA avx2Consts<>+312(SB)/4, $0x3e2aaaab
DATA avx2Consts<>+316(SB)/4, $0x3e2aaaab
DATA avx2Consts<>+320(SB)/4, $0x3f000000
DATA avx2Consts<>+324(SB)/4, $0x3f000000
DATA avx2Consts<>+328(SB)/4, $0x3f000000
DATA avx2Consts<>+332(SB)/4, $0x3f000000
DATA avx2Consts<>+336(SB)/4, $0x3f000000
DATA avx2Consts<>+340(SB)/4, $0x3f000000
DATA avx2Consts<>+344(SB)/4, $0x3f000000
DATA avx2Consts<>+348(SB)/4, $0x3f000000
DATA avx2Consts<>+352(SB)/4, $0x3f800000
DATA avx2Consts<>+356(SB)/4, $0x3f800000
DATA avx2Consts<>+360(SB)/4, $0x3f800000
DATA avx2Consts<>+364(SB)/4, $0x3f800000
DATA avx2Consts<>+368(SB)/4, $0x3f800000
DATA avx2Consts<>+372(SB)/4, $0x3f800000
DATA avx2Consts<>+376(SB)/4, $0x3f800000
DATA avx2Consts<>+380(SB)/4, $0x3f800000
DATA avx2Consts<>+384(SB)/4, $0x0000007f
DATA avx2Consts<>+388(SB)/4, $0x0000007f
DATA avx2Consts<>+392(SB)/4, $0x0000007f
DATA avx2Consts<>+396(SB)/4, $0x0000007f
DATA avx2Consts<>+400(SB)/4, $0x0000007f
DATA avx2Consts<>+404(SB)/4, $0x0000007f
DATA avx2Consts<>+408(SB)/4, $0x0000007f
DATA avx2Consts<>+412(SB)/4, $0x0000007f
DATA avx2Consts<>+416(SB)/4, $0xbfa1fc4e
DATA avx2Consts<>+420(SB)/4, $0xbfa1fc4e
DATA avx2Consts<>+424(SB)/4, $0xbfa1fc4e
DATA avx2Consts<>+428(SB)/4, $0xbfa1fc4e
DATA avx2Consts<>+432(SB)/4, $0xbfa1fc4e
DATA avx2Consts<>+436(SB)/4, $0xbfa1fc4e
DATA avx2Consts<>+440(SB)/4, $0xbfa1fc4e
DATA avx2Consts<>+444(SB)/4, $0xbfa1fc4e
DATA avx2Consts<>+448(SB)/4, $0x3f8000c7
DATA avx2Consts<>+452(SB)/4, $0x3f8000c7
DATA avx2Consts<>+456(SB)/4, $0x3f8000c7
DATA avx2Consts<>+460(SB)/4, $0x3f8000c7
DATA avx2Consts<>+464(SB)/4, $0x3f8000c7
DATA avx2Consts<>+468(SB)/4, $0x3f8000c7
DATA avx2Consts<>+472(SB)/4, $0x3f8000c7
DATA avx2Consts<>+476(SB)/4, $0x3f8000c7
DATA avx2Consts<>+480(SB)/4, $0x3ebf88fb
DATA avx2Consts<>+484(SB)/4, $0x3ebf88fb
DATA avx2Consts<>+488(SB)/4, $0x3ebf88fb
DATA avx2Consts<>+492(SB)/4, $0x3ebf88fb
DATA avx2Consts<>+496(SB)/4, $0x3ebf88fb
DATA avx2Consts<>+500(SB)/4, $0x3ebf88fb
DATA avx2Consts<>+504(SB)/4, $0x3ebf88fb
DATA avx2Consts<>+508(SB)/4, $0x3ebf88fb
DATA avx2Consts<>+512(SB)/4, $0x3dc636c9
DATA avx2Consts<>+516(SB)/4, $0x3dc636c9
DATA avx2Consts<>+520(SB)/4, $0x3dc636c9
DATA avx2Consts<>+524(SB)/4, $0x3dc636c9
DATA avx2Consts<>+528(SB)/4, $0x3dc636c9
DATA avx2Consts<>+532(SB)/4, $0x3dc636c9
DATA avx2Consts<>+536(SB)/4, $0x3dc636c9
DATA avx2Consts<>+540(SB)/4, $0x3dc636c9
DATA avx2Consts<>+544(SB)/4, $0xbe3ec24c
DATA avx2Consts<>+548(SB)/4, $0xbe3ec24c
DATA avx2Consts<>+552(SB)/4, $0xbe3ec24c
DATA avx2Consts<>+556(SB)/4, $0xbe3ec24c
DATA avx2Consts<>+560(SB)/4, $0xbe3ec24c
DATA avx2Consts<>+564(SB)/4, $0xbe3ec24c
DATA avx2Consts<>+568(SB)/4, $0xbe3ec24c
DATA avx2Consts<>+572(SB)/4, $0xbe3ec24c
DATA avx2Consts<>+576(SB)/4, $0x3e8ec7cc
DATA avx2Consts<>+580(SB)/4, $0x3e8ec7cc
DATA avx2Consts<>+584(SB)/4, $0x3e8ec7cc
DATA avx2Consts<>+588(SB)/4, $0x3e8ec7cc
DATA avx2Consts<>+592(SB)/4, $0x3e8ec7cc
DATA avx2Consts<>+596(SB)/4, $0x3e8ec7cc
DATA avx2Consts<>+600(SB)/4, $0x3e8ec7cc
DATA avx2Consts<>+604(SB)/4, $0x3e8ec7cc
DATA avx2Consts<>+608(SB)/4, $0xbf914e5d
DATA avx2Consts<>+612(SB)/4, $0xbf914e5d
DATA avx2Consts<>+616(SB)/4, $0xbf914e5d
DATA avx2Consts<>+620(SB)/4, $0xbf914e5d
DATA avx2Consts<>+624(SB)/4, $0xbf914e5d
DATA avx2Consts<>+628(SB)/4, $0xbf914e5d
DATA avx2Consts<>+632(SB)/4, $0xbf914e5d
DATA avx2Consts<>+636(SB)/4, $0xbf914e5d
DATA avx2Consts<>+640(SB)/4, $0x3fbe87b0
DATA avx2Consts<>+644(SB)/4, $0x3fbe87b0
DATA avx2Consts<>+648(SB)/4, $0x3fbe87b0
DATA avx2Consts<>+652(SB)/4, $0x3fbe87b0
DATA avx2Consts<>+656(SB)/4, $0x3fbe87b0
DATA avx2Consts<>+660(SB)/4, $0x3fbe87b0
DATA avx2Consts<>+664(SB)/4, $0x3fbe87b0
DATA avx2Consts<>+668(SB)/4, $0x3fbe87b0
DATA avx2Consts<>+672(SB)/4, $0xbf527892
DATA avx2Consts<>+676(SB)/4, $0xbf527892
DATA avx2Consts<>+680(SB)/4, $0xbf527892
DATA avx2Consts<>+684(SB)/4, $0xbf527892
DATA avx2Consts<>+688(SB)/4, $0xbf527892
DATA avx2Consts<>+692(SB)/4, $0xbf527892
DATA avx2Consts<>+696(SB)/4, $0xbf527892
DATA avx2Consts<>+700(SB)/4, $0xbf527892
DATA avx2Consts<>+704(SB)/4, $0x3e2ef945
DATA avx2Consts<>+708(SB)/4, $0x3e2ef945
DATA avx2Consts<>+712(SB)/4, $0x3e2ef945
DATA avx2Consts<>+716(SB)/4, $0x3e2ef945
DATA avx2Consts<>+720(SB)/4, $0x3e2ef945
DATA avx2Consts<>+724(SB)/4, $0x3e2ef945
DATA avx2Consts<>+728(SB)/4, $0x3e2ef945
DATA avx2Consts<>+732(SB)/4, $0x3e2ef945
DATA avx2Consts<>+736(SB)/4, $0xbf3504f3
DATA avx2Consts<>+740(SB)/4, $0xbf3504f3
DATA avx2Consts<>+744(SB)/4, $0xbf3504f3
DATA avx2Consts<>+748(SB)/4, $0xbf3504f3
DATA avx2Consts<>+752(SB)/4, $0xbf3504f3
DATA avx2Consts<>+756(SB)/4, $0xbf3504f3
DATA avx2Consts<>+760(SB)/4, $0xbf3504f3
DATA avx2Consts<>+764(SB)/4, $0xbf3504f3
DATA avx2Consts<>+768(SB)/4, $0x40000000
DATA avx2Consts<>+772(SB)/4, $0x40000000
DATA avx2Consts<>+776(SB)/4, $0x40000000
DATA avx2Consts<>+780(SB)/4, $0x40000000
DATA avx2Consts<>+784(SB)/4, $0x40000000
DATA avx2Consts<>+788(SB)/4, $0x40000000
DATA avx2Consts<>+792(SB)/4, $0x40000000
DATA avx2Consts<>+796(SB)/4, $0x40000000
DATA avx2Consts<>+800(SB)/4, $0x7fffffff
DATA avx2Consts<>+804(SB)/4, $0x7fffffff
DATA avx2Consts<>+808(SB)/4, $0x7fffffff
DATA avx2Consts<>+812(SB)/4, $0x7fffffff
DATA avx2Consts<>+816(SB)/4, $0x7fffffff
DATA avx2Consts<>+820(SB)/4, $0x7fffffff
DATA avx2Consts<>+824(SB)/4, $0x7fffffff
DATA avx2Consts<>+828(SB)/4, $0x7fffffff
DATA avx2Consts<>+832(SB)/4, $0xbfd9db23
DATA avx2Consts<>+836(SB)/4, $0xbfd9db23
DATA avx2Consts<>+840(SB)/4, $0xbfd9db23
DATA avx2Consts<>+844(SB)/4, $0xbfd9db23
DATA avx2Consts<>+848(SB)/4, $0xbfd9db23
DATA avx2Consts<>+852(SB)/4, $0xbfd9db23
DATA avx2Consts<>+856(SB)/4, $0xbfd9db23
DATA avx2Consts<>+860(SB)/4, $0xbfd9db23
GLOBL avx2Consts<>(SB), RODATA|NOPTR, $864

// avx2TailMask holds sixteen all-ones lanes then sixteen zero lanes: the 32 bytes at offset 64-4·c
// select the first c lanes of eight, at 96-4·c those of lanes 8..15 of a c-lane tail (c < 16).
DATA avx2TailMask<>+0(SB)/4, $0xffffffff
DATA avx2TailMask<>+4(SB)/4, $0xffffffff
DATA avx2TailMask<>+8(SB)/4, $0xffffffff
DATA avx2TailMask<>+12(SB)/4, $0xffffffff
DATA avx2TailMask<>+16(SB)/4, $0xffffffff
DATA avx2TailMask<>+20(SB)/4, $0xffffffff
DATA avx2TailMask<>+24(SB)/4, $0xffffffff
DATA avx2TailMask<>+28(SB)/4, $0xffffffff
DATA avx2TailMask<>+32(SB)/4, $0xffffffff
DATA avx2TailMask<>+36(SB)/4, $0xffffffff
DATA avx2TailMask<>+40(SB)/4, $0xffffffff
DATA avx2TailMask<>+44(SB)/4, $0xffffffff
DATA avx2TailMask<>+48(SB)/4, $0xffffffff
DATA avx2TailMask<>+52(SB)/4, $0xffffffff
DATA avx2TailMask<>+56(SB)/4, $0xffffffff
DATA avx2TailMask<>+60(SB)/4, $0xffffffff
DATA avx2TailMask<>+64(SB)/4, $0x00000000
DATA avx2TailMask<>+68(SB)/4, $0x00000000
DATA avx2TailMask<>+72(SB)/4, $0x00000000
DATA avx2TailMask<>+76(SB)/4, $0x00000000
DATA avx2TailMask<>+80(SB)/4, $0x00000000
DATA avx2TailMask<>+84(SB)/4, $0x00000000
DATA avx2TailMask<>+88(SB)/4, $0x00000000
DATA avx2TailMask<>+92(SB)/4, $0x00000000
DATA avx2TailMask<>+96(SB)/4, $0x00000000
DATA avx2TailMask<>+100(SB)/4, $0x00000000
DATA avx2TailMask<>+104(SB)/4, $0x00000000
DATA avx2TailMask<>+108(SB)/4, $0x00000000
DATA avx2TailMask<>+112(SB)/4, $0x00000000
DATA avx2TailMask<>+116(SB)/4, $0x00000000
DATA avx2TailMask<>+120(SB)/4, $0x00000000
DATA avx2TailMask<>+124(SB)/4, $0x00000000
GLOBL avx2TailMask<>(SB), RODATA|NOPTR, $128

// TAILMASKS sets Y12 and Y11 to the lane masks of the first CX (< 16) lanes: Y12 lanes 0-7, Y11
// lanes 8-15. It clobbers AX.
#define TAILMASKS \
	LEAQ    avx2TailMask<>+64(SB), AX \
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
	VMOVUPS avx2Consts<>+0(SB), Y13 \
	VMOVUPS avx2Consts<>+32(SB), Y14

// EXP sets Y in place to exp(Y) for Y clamped to [-104, 89], NaN passing through; it clobbers Y1..Y3.
#define EXP(Y) \
	VMULPS       avx2Consts<>+64(SB), Y, Y1 \
	VROUNDPS     $0, Y1, Y1 \
	VFNMADD231PS avx2Consts<>+96(SB), Y1, Y \
	VFNMADD231PS avx2Consts<>+128(SB), Y1, Y \
	VMOVUPS      avx2Consts<>+160(SB), Y2 \
	VFMADD213PS  avx2Consts<>+192(SB), Y, Y2 \
	VFMADD213PS  avx2Consts<>+224(SB), Y, Y2 \
	VFMADD213PS  avx2Consts<>+256(SB), Y, Y2 \
	VFMADD213PS  avx2Consts<>+288(SB), Y, Y2 \
	VFMADD213PS  avx2Consts<>+320(SB), Y, Y2 \
	VFMADD213PS  avx2Consts<>+352(SB), Y, Y2 \
	VFMADD213PS  avx2Consts<>+352(SB), Y, Y2 \
	VCVTPS2DQ    Y1, Y1 \
	VPSRAD       $1, Y1, Y3 \
	VPSUBD       Y3, Y1, Y1 \
	VPADDD       avx2Consts<>+384(SB), Y3, Y3 \
	VPSLLD       $23, Y3, Y3 \
	VPADDD       avx2Consts<>+384(SB), Y1, Y1 \
	VPSLLD       $23, Y1, Y1 \
	VMULPS       Y3, Y2, Y2 \
	VMULPS       Y1, Y2, Y

// QGELU sets Y to Y / (1 + exp(-1.702·Y)); it clobbers Y1..Y3, Y5.
#define QGELU(Y) \
	VMULPS avx2Consts<>+832(SB), Y, Y5 \
	CLAMP(Y5) \
	EXP(Y5) \
	VADDPS avx2Consts<>+352(SB), Y5, Y5 \
	VDIVPS Y5, Y, Y

// GELU sets Y to Y·Φ(Y) as geluAVX512; it clobbers Y0..Y3, Y5, Y6.
#define GELU(Y) \
	VMULPS       avx2Consts<>+736(SB), Y, Y3 \
	VANDPS       avx2Consts<>+800(SB), Y3, Y5 \
	VCMPPS       $4, Y5, Y3, Y6 \
	VMOVUPS      avx2Consts<>+320(SB), Y0 \
	VFMADD213PS  avx2Consts<>+352(SB), Y5, Y0 \
	VMOVUPS      avx2Consts<>+352(SB), Y1 \
	VDIVPS       Y0, Y1, Y0 \
	VMOVUPS      avx2Consts<>+704(SB), Y1 \
	VFMADD213PS  avx2Consts<>+672(SB), Y0, Y1 \
	VFMADD213PS  avx2Consts<>+640(SB), Y0, Y1 \
	VFMADD213PS  avx2Consts<>+608(SB), Y0, Y1 \
	VFMADD213PS  avx2Consts<>+576(SB), Y0, Y1 \
	VFMADD213PS  avx2Consts<>+544(SB), Y0, Y1 \
	VFMADD213PS  avx2Consts<>+512(SB), Y0, Y1 \
	VFMADD213PS  avx2Consts<>+480(SB), Y0, Y1 \
	VFMADD213PS  avx2Consts<>+448(SB), Y0, Y1 \
	VFMADD213PS  avx2Consts<>+416(SB), Y0, Y1 \
	VFNMADD213PS Y1, Y5, Y5 \
	CLAMP(Y5) \
	EXP(Y5) \
	VMULPS       Y0, Y5, Y5 \
	VMOVUPS      avx2Consts<>+768(SB), Y1 \
	VSUBPS       Y5, Y1, Y0 \
	VBLENDVPS    Y6, Y0, Y5, Y5 \
	VMULPS       avx2Consts<>+320(SB), Y, Y \
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

// func expSubAVX2(dst, x []float32, m float32) float32
//
// The sums of expSubAVX512: Y8, Y9 are its first accumulator, Y10, Y11 its second.
TEXT ·expSubAVX2(SB), NOSPLIT, $0-60
	MOVQ         dst_base+0(FP), DI
	MOVQ         x_base+24(FP), SI
	MOVQ         x_len+32(FP), CX
	VBROADCASTSS m+48(FP), Y15
	BOUNDS
	VXORPS       Y8, Y8, Y8
	VXORPS       Y9, Y9, Y9
	VXORPS       Y10, Y10, Y10
	VXORPS       Y11, Y11, Y11

exp32:
	CMPQ    CX, $32
	JB      exp16
	VMOVUPS (SI), Y4
	VSUBPS  Y15, Y4, Y4
	CLAMP(Y4)
	EXP(Y4)
	VMOVUPS Y4, (DI)
	VADDPS  Y4, Y8, Y8
	VMOVUPS 32(SI), Y4
	VSUBPS  Y15, Y4, Y4
	CLAMP(Y4)
	EXP(Y4)
	VMOVUPS Y4, 32(DI)
	VADDPS  Y4, Y9, Y9
	VMOVUPS 64(SI), Y4
	VSUBPS  Y15, Y4, Y4
	CLAMP(Y4)
	EXP(Y4)
	VMOVUPS Y4, 64(DI)
	VADDPS  Y4, Y10, Y10
	VMOVUPS 96(SI), Y4
	VSUBPS  Y15, Y4, Y4
	CLAMP(Y4)
	EXP(Y4)
	VMOVUPS Y4, 96(DI)
	VADDPS  Y4, Y11, Y11
	ADDQ    $128, SI
	ADDQ    $128, DI
	SUBQ    $32, CX
	JMP     exp32

exp16:
	CMPQ    CX, $16
	JB      exptail
	VMOVUPS (SI), Y4
	VSUBPS  Y15, Y4, Y4
	CLAMP(Y4)
	EXP(Y4)
	VMOVUPS Y4, (DI)
	VADDPS  Y4, Y8, Y8
	VMOVUPS 32(SI), Y4
	VSUBPS  Y15, Y4, Y4
	CLAMP(Y4)
	EXP(Y4)
	VMOVUPS Y4, 32(DI)
	VADDPS  Y4, Y9, Y9
	ADDQ    $64, SI
	ADDQ    $64, DI
	SUBQ    $16, CX

exptail:
	TESTQ      CX, CX
	JEQ        expdone
	VMOVUPS    Y11, Y7
	TAILMASKS
	VMASKMOVPS (SI), Y12, Y4
	VSUBPS     Y15, Y4, Y4
	CLAMP(Y4)
	EXP(Y4)
	VMASKMOVPS Y4, Y12, (DI)
	VANDPS     Y12, Y4, Y4
	VADDPS     Y4, Y10, Y10
	VMASKMOVPS 32(SI), Y11, Y4
	VSUBPS     Y15, Y4, Y4
	CLAMP(Y4)
	EXP(Y4)
	VMASKMOVPS Y4, Y11, 32(DI)
	VANDPS     Y11, Y4, Y4
	VADDPS     Y4, Y7, Y11

expdone:
	VADDPS Y10, Y8, Y0
	VADDPS Y11, Y9, Y1
	HSUM16
	VZEROUPPER
	MOVSS  X0, ret+56(FP)
	RET

// ACT8 runs an activation macro over x (SI) into dst (DI), CX values, eight at a time, the last
// lanes masked.
#define ACT8(ACT, L8, LTAIL, LDONE) \
L8: \
	CMPQ    CX, $8 \
	JB      LTAIL \
	VMOVUPS (SI), Y4 \
	ACT(Y4) \
	VMOVUPS Y4, (DI) \
	ADDQ    $32, SI \
	ADDQ    $32, DI \
	SUBQ    $8, CX \
	JMP     L8 \
LTAIL: \
	TESTQ      CX, CX \
	JEQ        LDONE \
	TAILMASKS \
	VMASKMOVPS (SI), Y12, Y4 \
	ACT(Y4) \
	VMASKMOVPS Y4, Y12, (DI) \
LDONE: \
	VZEROUPPER

// func quickGeluAVX2(dst, x []float32)
TEXT ·quickGeluAVX2(SB), NOSPLIT, $0-48
	MOVQ dst_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ x_len+32(FP), CX
	BOUNDS
	ACT8(QGELU, qg8, qgtail, qgdone)
	RET

// func geluAVX2(dst, x []float32)
TEXT ·geluAVX2(SB), NOSPLIT, $0-48
	MOVQ dst_base+0(FP), DI
	MOVQ x_base+24(FP), SI
	MOVQ x_len+32(FP), CX
	BOUNDS
	ACT8(GELU, g8, gtail, gdone)
	RET

// func dotAVX2(x, y []float32) float32
//
// The accumulators of dotAVX512, Z0..Z3, are Y0:Y1, Y2:Y3, Y4:Y5, Y6:Y7.
TEXT ·dotAVX2(SB), NOSPLIT, $0-52
	MOVQ   x_base+0(FP), SI
	MOVQ   x_len+8(FP), CX
	MOVQ   y_base+24(FP), DI
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7

dot64:
	CMPQ        CX, $64
	JB          dot16
	VMOVUPS     (SI), Y8
	VMOVUPS     32(SI), Y9
	VMOVUPS     64(SI), Y10
	VMOVUPS     96(SI), Y13
	VFMADD231PS (DI), Y8, Y0
	VFMADD231PS 32(DI), Y9, Y1
	VFMADD231PS 64(DI), Y10, Y2
	VFMADD231PS 96(DI), Y13, Y3
	VMOVUPS     128(SI), Y8
	VMOVUPS     160(SI), Y9
	VMOVUPS     192(SI), Y10
	VMOVUPS     224(SI), Y13
	VFMADD231PS 128(DI), Y8, Y4
	VFMADD231PS 160(DI), Y9, Y5
	VFMADD231PS 192(DI), Y10, Y6
	VFMADD231PS 224(DI), Y13, Y7
	ADDQ        $256, SI
	ADDQ        $256, DI
	SUBQ        $64, CX
	JMP         dot64

dot16:
	CMPQ        CX, $16
	JB          dottail
	VMOVUPS     (SI), Y8
	VMOVUPS     32(SI), Y9
	VFMADD231PS (DI), Y8, Y0
	VFMADD231PS 32(DI), Y9, Y1
	ADDQ        $64, SI
	ADDQ        $64, DI
	SUBQ        $16, CX
	JMP         dot16

dottail:
	TESTQ       CX, CX
	JEQ         dotsum
	TAILMASKS
	VMASKMOVPS  (SI), Y12, Y8
	VMASKMOVPS  (DI), Y12, Y9
	VFMADD231PS Y9, Y8, Y2
	VMASKMOVPS  32(SI), Y11, Y8
	VMASKMOVPS  32(DI), Y11, Y9
	VFMADD231PS Y9, Y8, Y3

dotsum:
	VADDPS Y2, Y0, Y0
	VADDPS Y3, Y1, Y1
	VADDPS Y6, Y4, Y4
	VADDPS Y7, Y5, Y5
	VADDPS Y4, Y0, Y0
	VADDPS Y5, Y1, Y1
	HSUM16
	VZEROUPPER
	MOVSS  X0, ret+48(FP)
	RET

// func sumAVX2(x []float32) float32
TEXT ·sumAVX2(SB), NOSPLIT, $0-28
	MOVQ   x_base+0(FP), SI
	MOVQ   x_len+8(FP), CX
	VXORPS Y0, Y0, Y0
	VXORPS Y1, Y1, Y1
	VXORPS Y2, Y2, Y2
	VXORPS Y3, Y3, Y3
	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7

sum64:
	CMPQ   CX, $64
	JB     sum16
	VADDPS (SI), Y0, Y0
	VADDPS 32(SI), Y1, Y1
	VADDPS 64(SI), Y2, Y2
	VADDPS 96(SI), Y3, Y3
	VADDPS 128(SI), Y4, Y4
	VADDPS 160(SI), Y5, Y5
	VADDPS 192(SI), Y6, Y6
	VADDPS 224(SI), Y7, Y7
	ADDQ   $256, SI
	SUBQ   $64, CX
	JMP    sum64

sum16:
	CMPQ   CX, $16
	JB     sumtail
	VADDPS (SI), Y0, Y0
	VADDPS 32(SI), Y1, Y1
	ADDQ   $64, SI
	SUBQ   $16, CX
	JMP    sum16

sumtail:
	TESTQ      CX, CX
	JEQ        sumdone
	TAILMASKS
	VMASKMOVPS (SI), Y12, Y8
	VADDPS     Y8, Y2, Y2
	VMASKMOVPS 32(SI), Y11, Y8
	VADDPS     Y8, Y3, Y3

sumdone:
	VADDPS Y2, Y0, Y0
	VADDPS Y3, Y1, Y1
	VADDPS Y6, Y4, Y4
	VADDPS Y7, Y5, Y5
	VADDPS Y4, Y0, Y0
	VADDPS Y5, Y1, Y1
	HSUM16
	VZEROUPPER
	MOVSS  X0, ret+24(FP)
	RET

// func axpyAVX2(alpha float32, x, y []float32)
TEXT ·axpyAVX2(SB), NOSPLIT, $0-56
	VBROADCASTSS alpha+0(FP), Y15
	MOVQ         x_base+8(FP), SI
	MOVQ         x_len+16(FP), CX
	MOVQ         y_base+32(FP), DI

axpy32:
	CMPQ        CX, $32
	JB          axpy8
	VMOVUPS     (DI), Y0
	VMOVUPS     32(DI), Y1
	VMOVUPS     64(DI), Y2
	VMOVUPS     96(DI), Y3
	VFMADD231PS (SI), Y15, Y0
	VFMADD231PS 32(SI), Y15, Y1
	VFMADD231PS 64(SI), Y15, Y2
	VFMADD231PS 96(SI), Y15, Y3
	VMOVUPS     Y0, (DI)
	VMOVUPS     Y1, 32(DI)
	VMOVUPS     Y2, 64(DI)
	VMOVUPS     Y3, 96(DI)
	ADDQ        $128, SI
	ADDQ        $128, DI
	SUBQ        $32, CX
	JMP         axpy32

axpy8:
	CMPQ        CX, $8
	JB          axpytail
	VMOVUPS     (DI), Y0
	VFMADD231PS (SI), Y15, Y0
	VMOVUPS     Y0, (DI)
	ADDQ        $32, SI
	ADDQ        $32, DI
	SUBQ        $8, CX
	JMP         axpy8

axpytail:
	TESTQ       CX, CX
	JEQ         axpydone
	TAILMASKS
	VMASKMOVPS  (DI), Y12, Y0
	VMASKMOVPS  (SI), Y12, Y1
	VFMADD231PS Y1, Y15, Y0
	VMASKMOVPS  Y0, Y12, (DI)

axpydone:
	VZEROUPPER
	RET

// func scaleAVX2(alpha float32, x []float32)
TEXT ·scaleAVX2(SB), NOSPLIT, $0-32
	VBROADCASTSS alpha+0(FP), Y15
	MOVQ         x_base+8(FP), DI
	MOVQ         x_len+16(FP), CX

scale32:
	CMPQ    CX, $32
	JB      scale8
	VMULPS  (DI), Y15, Y0
	VMULPS  32(DI), Y15, Y1
	VMULPS  64(DI), Y15, Y2
	VMULPS  96(DI), Y15, Y3
	VMOVUPS Y0, (DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	ADDQ    $128, DI
	SUBQ    $32, CX
	JMP     scale32

scale8:
	CMPQ    CX, $8
	JB      scaletail
	VMULPS  (DI), Y15, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, DI
	SUBQ    $8, CX
	JMP     scale8

scaletail:
	TESTQ      CX, CX
	JEQ        scaledone
	TAILMASKS
	VMASKMOVPS (DI), Y12, Y0
	VMULPS     Y0, Y15, Y0
	VMASKMOVPS Y0, Y12, (DI)

scaledone:
	VZEROUPPER
	RET
