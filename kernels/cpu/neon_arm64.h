// Advanced SIMD instructions the Go arm64 assembler lacks, encoded by hand for four float32 lanes
// (the .4S arrangement). Arguments are register numbers: d the destination, n and m the sources, i a
// lane of m. The encodings follow the Arm ARM; the tests compare every kernel using them with its Go
// twin.

// Vd += Vn·Vm[i], fused.
#define FMLA_E(d, n, m, i) WORD $(0x4F801000 | ((i)&1)<<21 | ((i)>>1)<<11 | (m)<<16 | (n)<<5 | (d))
// Vd = Vn·Vm[i].
#define FMUL_E(d, n, m, i) WORD $(0x4F809000 | ((i)&1)<<21 | ((i)>>1)<<11 | (m)<<16 | (n)<<5 | (d))
// Vd = Vn + Vm.
#define FADD_V(d, n, m) WORD $(0x4E20D400 | (m)<<16 | (n)<<5 | (d))
// Vd = Vn - Vm.
#define FSUB_V(d, n, m) WORD $(0x4EA0D400 | (m)<<16 | (n)<<5 | (d))
// Vd = Vn·Vm.
#define FMUL_V(d, n, m) WORD $(0x6E20DC00 | (m)<<16 | (n)<<5 | (d))
// Vd = Vn / Vm.
#define FDIV_V(d, n, m) WORD $(0x6E20FC00 | (m)<<16 | (n)<<5 | (d))
// Vd = max(Vn, Vm), NaN if either is.
#define FMAX_V(d, n, m) WORD $(0x4E20F400 | (m)<<16 | (n)<<5 | (d))
// Vd = min(Vn, Vm), NaN if either is.
#define FMIN_V(d, n, m) WORD $(0x4EA0F400 | (m)<<16 | (n)<<5 | (d))
// Vd = Vn rounded to an integral value, ties to even.
#define FRINTN_V(d, n) WORD $(0x4E218800 | (n)<<5 | (d))
// Vd = |Vn|.
#define FABS_V(d, n) WORD $(0x4EA0F800 | (n)<<5 | (d))
// Vd = -Vn.
#define FNEG_V(d, n) WORD $(0x6EA0F800 | (n)<<5 | (d))
// Vd = Vn > Vm ? all ones : 0, false for NaN.
#define FCMGT_V(d, n, m) WORD $(0x6EA0E400 | (m)<<16 | (n)<<5 | (d))
// Vd = Vn < 0 ? all ones : 0, false for NaN.
#define FCMLT0_V(d, n) WORD $(0x4EA0E800 | (n)<<5 | (d))
// Vd = Vn rounded toward zero to int32.
#define FCVTZS_V(d, n) WORD $(0x4EA1B800 | (n)<<5 | (d))
// Vd -= Vn·Vm[i], fused.
#define FMLS_E(d, n, m, i) WORD $(0x4F805000 | ((i)&1)<<21 | ((i)>>1)<<11 | (m)<<16 | (n)<<5 | (d))
// Vd = Vn >> 1, arithmetic, on int32 lanes.
#define SSHR1_V(d, n) WORD $(0x4F3F0400 | (n)<<5 | (d))

// The vector maths below round exactly as the Go twins (expf, geluGo, quickGeluGo), so that the NEON
// set gives the same bits as the others. They read their constants from V24-V30, which LOAD_CONSTS
// fills from neonMathConsts (kernel_arm64.go has the lane of each):
//
//	V24: expLo, expHi, log2e, roundShift     V25: ln2Hi, ln2Lo, 1/7!, 1/6!
//	V26: 1/5!, 1/4!, 1/3!, 0.5                V27: 1, -1.702, -1/√2, 2
//	V28-V30: erfcCoeffs[0..9]
#define LOAD_CONSTS(r) \
	MOVD $·neonMathConsts(SB), r;                     \
	VLD1.P 64(r), [V24.S4, V25.S4, V26.S4, V27.S4]; \
	VLD1 (r), [V28.S4, V29.S4, V30.S4]

// EXP sets V0 = expf(V0), using V16-V21.
#define EXP \
	VDUP V24.S[0], V16.S4; /* t = min(max(t, expLo), expHi); NaN stays NaN */ \
	FMAX_V(0, 0, 16);           \
	VDUP V24.S[1], V16.S4;      \
	FMIN_V(0, 0, 16);           \
	FMUL_E(17, 0, 24, 2); /* z = float32(t·log2e) + roundShift rounds to an integer */ \
	VDUP V24.S[3], V16.S4;      \
	FADD_V(17, 17, 16);         \
	FSUB_V(18, 17, 16); /* n = z - roundShift */ \
	VMOV V0.B16, V19.B16;       \
	FMLS_E(19, 18, 25, 0); /* r = t - n·ln2Hi, exact */ \
	FMLS_E(19, 18, 25, 1); /* r -= n·ln2Lo, fused */ \
	VDUP V25.S[3], V20.S4; /* p = 1/6! + r·1/7!, then p = c + p·r, fused */ \
	FMLA_E(20, 19, 25, 2);      \
	VDUP V26.S[0], V21.S4;      \
	VFMLA V19.S4, V20.S4, V21.S4; \
	VDUP V26.S[1], V20.S4;      \
	VFMLA V19.S4, V21.S4, V20.S4; \
	VDUP V26.S[2], V21.S4;      \
	VFMLA V19.S4, V20.S4, V21.S4; \
	VDUP V26.S[3], V20.S4;      \
	VFMLA V19.S4, V21.S4, V20.S4; \
	VDUP V27.S[0], V21.S4;      \
	VFMLA V19.S4, V20.S4, V21.S4; \
	VDUP V27.S[0], V20.S4;      \
	VFMLA V19.S4, V21.S4, V20.S4; \
	VSUB V16.S4, V17.S4, V17.S4; /* the integer n = bits(z) - bits(roundShift), split n = n1 + n2 */ \
	SSHR1_V(18, 17); /* n2 = n>>1 and n1 = n - n2 lie in [-75, 64], so p·2^n1 is exact */ \
	VSUB V18.S4, V17.S4, V17.S4; /* and p·2^n1·2^n2 rounds once, as scalef */ \
	VSHL $23, V17.S4, V17.S4;   \
	VSHL $23, V18.S4, V18.S4;   \
	VDUP V27.S[0], V16.S4;      \
	VADD V16.S4, V17.S4, V17.S4; \
	VADD V16.S4, V18.S4, V18.S4; \
	FMUL_V(0, 20, 17);          \
	FMUL_V(0, 0, 18)

// QGELU sets V0 = V1 / (1 + expf(-1.702·V1)), using V16-V21.
#define QGELU \
	FMUL_E(0, 1, 27, 1);  \
	EXP;                  \
	VDUP V27.S[0], V16.S4; \
	FADD_V(0, 0, 16);     \
	FDIV_V(0, 1, 0)

// ERFC_STEP sets vd = m[i] + vp·t (t in V4), fused: one step of the erfc polynomial.
#define ERFC_STEP(m, i, vd, vp) \
	VDUP m.S[i], vd.S4; \
	VFMLA V4.S4, vp.S4, vd.S4

// GELU sets V0 = geluGo(V1), using V2-V6 and V16-V21.
#define GELU \
	FMUL_E(2, 1, 27, 2); /* u = v·(-1/√2) */ \
	FABS_V(3, 2); /* z = |u| */ \
	FMUL_E(4, 3, 26, 3); /* t = 1 / (1 + 0.5·z) */ \
	VDUP V27.S[0], V5.S4;          \
	FADD_V(4, 4, 5);               \
	FDIV_V(4, 5, 4);               \
	VDUP V30.S[0], V5.S4; /* p = erfc[8] + erfc[9]·t, then p = erfc[j] + p·t */ \
	FMLA_E(5, 4, 30, 1);           \
	ERFC_STEP(V29, 3, V6, V5); \
	ERFC_STEP(V29, 2, V5, V6); \
	ERFC_STEP(V29, 1, V6, V5); \
	ERFC_STEP(V29, 0, V5, V6); \
	ERFC_STEP(V28, 3, V6, V5); \
	ERFC_STEP(V28, 2, V5, V6); \
	ERFC_STEP(V28, 1, V6, V5); \
	ERFC_STEP(V28, 0, V5, V6); \
	VFMLS V3.S4, V3.S4, V5.S4; /* expf(p - z·z), fused */ \
	VMOV V5.B16, V0.B16;           \
	EXP;                           \
	FMUL_V(0, 4, 0); /* r = t·e, rounded */ \
	FCMLT0_V(2, 2); /* r = 2 - r where u < 0 */ \
	VDUP V27.S[3], V3.S4;          \
	FSUB_V(3, 3, 0);               \
	VBIT V2.B16, V3.B16, V0.B16;   \
	FMUL_E(1, 1, 26, 3); /* 0.5·v·r */ \
	FMUL_V(0, 1, 0)
