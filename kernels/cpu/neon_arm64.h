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
