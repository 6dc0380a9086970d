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
// Vd = |Vn|.
#define FABS_V(d, n) WORD $(0x4EA0F800 | (n)<<5 | (d))
// Vd = Vn > Vm ? all ones : 0, false for NaN.
#define FCMGT_V(d, n, m) WORD $(0x6EA0E400 | (m)<<16 | (n)<<5 | (d))
// Vd = Vn < 0 ? all ones : 0, false for NaN.
#define FCMLT0_V(d, n) WORD $(0x4EA0E800 | (n)<<5 | (d))
// Vd -= Vn·Vm[i], fused.
#define FMLS_E(d, n, m, i) WORD $(0x4F805000 | ((i)&1)<<21 | ((i)>>1)<<11 | (m)<<16 | (n)<<5 | (d))
// Vd = Vn >> 1, arithmetic, on int32 lanes.
#define SSHR1_V(d, n) WORD $(0x4F3F0400 | (n)<<5 | (d))

// Vd = Vn[i] in every lane.
#define DUP_E(d, n, i) WORD $(0x4E000400 | ((i)<<3|4)<<16 | (n)<<5 | (d))
// Vd = Vn, all 128 bits.
#define MOV_V(d, n) WORD $(0x4EA01C00 | (n)<<16 | (n)<<5 | (d))
// Vd += Vn·Vm, fused.
#define FMLA_V(d, n, m) WORD $(0x4E20CC00 | (m)<<16 | (n)<<5 | (d))
// Vd -= Vn·Vm, fused.
#define FMLS_V(d, n, m) WORD $(0x4EA0CC00 | (m)<<16 | (n)<<5 | (d))
// Vd = Vn + Vm on int32 lanes.
#define IADD_V(d, n, m) WORD $(0x4EA08400 | (m)<<16 | (n)<<5 | (d))
// Vd = Vn - Vm on int32 lanes.
#define ISUB_V(d, n, m) WORD $(0x6EA08400 | (m)<<16 | (n)<<5 | (d))
// Vd = Vn << 23 on int32 lanes.
#define SHL23_V(d, n) WORD $(0x4F375400 | (n)<<5 | (d))
// Vd = Vn where Vm is set, bit by bit (BIT).
#define BIT_V(d, n, m) WORD $(0x6EA01C00 | (m)<<16 | (n)<<5 | (d))

// The vector maths below round exactly as the Go twins (expf, geluGo, quickGeluGo), so that the NEON
// set gives the same bits as the others. They read their constants from V24-V30, which LOAD_CONSTS
// fills from neonMathConsts (vector_arm64.go):
//
//	V24: expLo, expHi, log2e, roundShift     V25: ln2Hi, ln2Lo, 1/7!, 1/6!
//	V26: 1/5!, 1/4!, 1/3!, 0.5                V27: 1, -1.702, -1/√2, 2
//	V28-V30: erfcCoeffs[0..9]
//
// Each is a chain of dependent steps, long enough that one vector at a time leaves the FP pipes idle
// while each step waits for the last; the …2 forms interleave two vectors step by step (registers
// numbered A then B), which out-of-order cores with small issue queues need to overlap them.
#define LOAD_CONSTS(r) \
	MOVD $·neonMathConsts(SB), r;                     \
	VLD1.P 64(r), [V24.S4, V25.S4, V26.S4, V27.S4]; \
	VLD1 (r), [V28.S4, V29.S4, V30.S4]

// EXP sets Vx = expf(Vx), using the temporaries c, z, n, r and p. Steps:
// t = min(max(t, expLo), expHi), NaN staying NaN;
#define EXP_CLAMP(x, c) \
	DUP_E(c, 24, 0); FMAX_V(x, x, c); \
	DUP_E(c, 24, 1); FMIN_V(x, x, c)

// z = float32(t·log2e) + roundShift, rounded to an integer, and n = z - roundShift (c keeps roundShift);
#define EXP_ROUND(x, c, z, n) \
	FMUL_E(z, x, 24, 2); DUP_E(c, 24, 3); \
	FADD_V(z, z, c); FSUB_V(n, z, c)

// r = t - n·ln2Hi (exact), then r -= n·ln2Lo, fused;
#define EXP_REDUCE(x, n, r) \
	MOV_V(r, x); FMLS_E(r, n, 25, 0); FMLS_E(r, n, 25, 1)

// p = 1/6! + r·1/7!, then p = c + p·r for c = 1/5!, …, 1, 1, fused, alternating between p and n;
#define EXP_POLY1(n, r, p) \
	DUP_E(p, 25, 3); FMLA_E(p, r, 25, 2); \
	DUP_E(n, 26, 0); FMLA_V(n, p, r)

#define EXP_POLY2(n, r, p) \
	DUP_E(p, 26, 1); FMLA_V(p, n, r); \
	DUP_E(n, 26, 2); FMLA_V(n, p, r)

#define EXP_POLY3(n, r, p) \
	DUP_E(p, 26, 3); FMLA_V(p, n, r); \
	DUP_E(n, 27, 0); FMLA_V(n, p, r)

#define EXP_POLY4(n, r, p) \
	DUP_E(p, 27, 0); FMLA_V(p, n, r)

// the integer n = bits(z) - bits(roundShift) split as n1 + n2, n2 = n>>1, both in [-75, 64], turned
// into the float32 bits of 2^n1 (z) and 2^n2 (n);
#define EXP_SPLIT(c, z, n) \
	ISUB_V(z, z, c); SSHR1_V(n, z); ISUB_V(z, z, n); \
	SHL23_V(z, z); SHL23_V(n, n); \
	DUP_E(c, 27, 0); IADD_V(z, z, c); IADD_V(n, n, c)

// result = p·2^n1·2^n2: the first product is exact, the second rounds once, as scalef.
#define EXP_SCALE(x, z, n, p) \
	FMUL_V(x, p, z); FMUL_V(x, x, n)

#define EXP(x, c, z, n, r, p) \
	EXP_CLAMP(x, c);       \
	EXP_ROUND(x, c, z, n); \
	EXP_REDUCE(x, n, r);   \
	EXP_POLY1(n, r, p);    \
	EXP_POLY2(n, r, p);    \
	EXP_POLY3(n, r, p);    \
	EXP_POLY4(n, r, p);    \
	EXP_SPLIT(c, z, n);    \
	EXP_SCALE(x, z, n, p)

#define EXP2(x, c, z, n, r, p, xb, cb, zb, nb, rb, pb) \
	EXP_CLAMP(x, c);          EXP_CLAMP(xb, cb);             \
	EXP_ROUND(x, c, z, n);    EXP_ROUND(xb, cb, zb, nb);     \
	EXP_REDUCE(x, n, r);      EXP_REDUCE(xb, nb, rb);        \
	EXP_POLY1(n, r, p);       EXP_POLY1(nb, rb, pb);         \
	EXP_POLY2(n, r, p);       EXP_POLY2(nb, rb, pb);         \
	EXP_POLY3(n, r, p);       EXP_POLY3(nb, rb, pb);         \
	EXP_POLY4(n, r, p);       EXP_POLY4(nb, rb, pb);         \
	EXP_SPLIT(c, z, n);       EXP_SPLIT(cb, zb, nb);         \
	EXP_SCALE(x, z, n, p);    EXP_SCALE(xb, zb, nb, pb)

// The two chains' registers: chain A maps V1 to V0 (EXP_AB: V0 in place) using V2-V6, V16 and V17;
// chain B maps V9 to V8 using V10-V14, V18 and V19.
#define EXP_AB EXP2(0, 4, 5, 6, 16, 17, 8, 12, 13, 14, 18, 19)

// QGELU sets Vo = Vx / (1 + expf(-1.702·Vx)), using c, z, n, r and p.
#define QGELU_IN(x, o) FMUL_E(o, x, 27, 1)

#define QGELU_OUT(x, o, c) \
	DUP_E(c, 27, 0); FADD_V(o, o, c); FDIV_V(o, x, o)

#define QGELU(x, o, c, z, n, r, p) \
	QGELU_IN(x, o);           \
	EXP(o, c, z, n, r, p);    \
	QGELU_OUT(x, o, c)

#define QGELU2(x, o, c, z, n, r, p, xb, ob, cb, zb, nb, rb, pb) \
	QGELU_IN(x, o); QGELU_IN(xb, ob);                   \
	EXP2(o, c, z, n, r, p, ob, cb, zb, nb, rb, pb);     \
	QGELU_OUT(x, o, c); QGELU_OUT(xb, ob, cb)

#define QGELU_A QGELU(1, 0, 4, 5, 6, 16, 17)
#define QGELU_AB QGELU2(1, 0, 4, 5, 6, 16, 17, 9, 8, 12, 13, 14, 18, 19)

// GELU sets Vo = geluGo(Vx), using u, t, zz, pa, pb, e1 and e2. Steps:
// u = x·(-1/√2), zz = |u|, t = 1 / (1 + 0.5·zz);
#define GELU_T(x, u, t, zz, pa) \
	FMUL_E(u, x, 27, 2); FABS_V(zz, u); FMUL_E(t, zz, 26, 3); \
	DUP_E(pa, 27, 0); FADD_V(t, t, pa); FDIV_V(t, pa, t)

// the erfc polynomial p = erfc[9], then p = erfc[j] + p·t for j = 8, …, 0, fused, alternating
// between pa and pb;
#define GELU_P1(t, pa, pb) \
	DUP_E(pa, 30, 0); FMLA_E(pa, t, 30, 1); \
	DUP_E(pb, 29, 3); FMLA_V(pb, pa, t)

#define GELU_P2(t, pa, pb) \
	DUP_E(pa, 29, 2); FMLA_V(pa, pb, t); \
	DUP_E(pb, 29, 1); FMLA_V(pb, pa, t)

#define GELU_P3(t, pa, pb) \
	DUP_E(pa, 29, 0); FMLA_V(pa, pb, t); \
	DUP_E(pb, 28, 3); FMLA_V(pb, pa, t)

#define GELU_P4(t, pa, pb) \
	DUP_E(pa, 28, 2); FMLA_V(pa, pb, t); \
	DUP_E(pb, 28, 1); FMLA_V(pb, pa, t)

// o = p - zz·zz, fused, the argument of exp;
#define GELU_P5(o, t, zz, pa, pb) \
	DUP_E(pa, 28, 0); FMLA_V(pa, pb, t); \
	FMLS_V(pa, zz, zz); MOV_V(o, pa)

// r = t·exp(…), rounded; r = 2 - r where u < 0; o = 0.5·x·r.
#define GELU_OUT(x, o, u, t, zz) \
	FMUL_V(o, t, o); FCMLT0_V(u, u); \
	DUP_E(zz, 27, 3); FSUB_V(zz, zz, o); BIT_V(o, zz, u); \
	FMUL_E(x, x, 26, 3); FMUL_V(o, x, o)

#define GELU(x, o, u, t, zz, pa, pb, e1, e2) \
	GELU_T(x, u, t, zz, pa);         \
	GELU_P1(t, pa, pb);              \
	GELU_P2(t, pa, pb);              \
	GELU_P3(t, pa, pb);              \
	GELU_P4(t, pa, pb);              \
	GELU_P5(o, t, zz, pa, pb);       \
	EXP(o, zz, pa, pb, e1, e2);      \
	GELU_OUT(x, o, u, t, zz)

#define GELU2(x, o, u, t, zz, pa, pb, e1, e2, xb, ob, ub, tb, zzb, pab, pbb, e1b, e2b) \
	GELU_T(x, u, t, zz, pa);         GELU_T(xb, ub, tb, zzb, pab);         \
	GELU_P1(t, pa, pb);              GELU_P1(tb, pab, pbb);                \
	GELU_P2(t, pa, pb);              GELU_P2(tb, pab, pbb);                \
	GELU_P3(t, pa, pb);              GELU_P3(tb, pab, pbb);                \
	GELU_P4(t, pa, pb);              GELU_P4(tb, pab, pbb);                \
	GELU_P5(o, t, zz, pa, pb);       GELU_P5(ob, tb, zzb, pab, pbb);       \
	EXP2(o, zz, pa, pb, e1, e2, ob, zzb, pab, pbb, e1b, e2b);              \
	GELU_OUT(x, o, u, t, zz);        GELU_OUT(xb, ob, ub, tb, zzb)

#define GELU_A GELU(1, 0, 2, 3, 4, 5, 6, 16, 17)
#define GELU_AB GELU2(1, 0, 2, 3, 4, 5, 6, 16, 17, 9, 8, 10, 11, 12, 13, 14, 18, 19)
