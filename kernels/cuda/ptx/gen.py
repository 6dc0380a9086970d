import struct
# gen.py writes plp's PTX kernels: `cd kernels/cuda/ptx && python3 gen.py`. The PTX is written by hand in
# the templates below; Python only unrolls repeated blocks (index arithmetic, warp reductions, lanes).
def fx(v): return "0f%08X" % struct.unpack('<I', struct.pack('<f', v))[0]
LOG2E=fx(1.4426950408889634)
HDR = """//
// plp PTX kernels: {what}
// Hand-written PTX (emitted by gen.py, which only unrolls repeated blocks), JIT-compiled by the driver. Element indices are 32-bit (tensors
// hold < 2^31 elements); addresses are 64-bit. exp(x) is ex2.approx(x*log2(e)), max relative error ~4e-7.
//
.version 7.0
.target sm_70
.address_size 64
"""
def tid(r_out, lbl):
    return f"""	mov.u32 %r1, %ctaid.x;
	mov.u32 %r2, %ntid.x;
	mov.u32 %r3, %tid.x;
	mad.lo.u32 {r_out}, %r1, %r2, %r3;
"""
def exp(dst, src, tmp):
    return f"	mul.f32 {tmp}, {src}, {LOG2E};\n	ex2.approx.f32 {dst}, {tmp};\n"

# ---------------- elementwise.ptx
e = HDR.format(what="elementwise (unary maps, broadcasting binary ops)")
A=[0.254829592,-0.284496736,1.421413741,-1.453152027,1.061405429]
e += f"""
// plp_unary: y[i] = f(x[i]) for i < n. op 0: s*x+c; 1: GELU (erf form, erfc by Abramowitz-Stegun 7.1.26,
// |error| < 1.5e-7); 2: QuickGELU x*sigmoid(1.702x); 3: ReLU; 4: sigmoid; 5: tanh; 6: exp.
.visible .entry plp_unary(
	.param .u64 p_y,
	.param .u64 p_x,
	.param .u32 p_n,
	.param .u32 p_op,
	.param .f32 p_s,
	.param .f32 p_c
)
{{
	.reg .pred %p<10>;
	.reg .b32 %r<10>;
	.reg .f32 %f<32>;
	.reg .b64 %rd<10>;
{tid("%r4","U")}	ld.param.u32 %r5, [p_n];
	setp.ge.u32 %p1, %r4, %r5;
	@%p1 bra U_DONE;
	ld.param.u64 %rd1, [p_x];
	ld.param.u64 %rd2, [p_y];
	cvta.to.global.u64 %rd1, %rd1;
	cvta.to.global.u64 %rd2, %rd2;
	mul.wide.u32 %rd3, %r4, 4;
	add.s64 %rd4, %rd1, %rd3;
	add.s64 %rd5, %rd2, %rd3;
	ld.global.f32 %f1, [%rd4];
	ld.param.u32 %r6, [p_op];
	setp.eq.u32 %p2, %r6, 0;
	@%p2 bra U_AFFINE;
	setp.eq.u32 %p2, %r6, 1;
	@%p2 bra U_GELU;
	setp.eq.u32 %p2, %r6, 2;
	@%p2 bra U_QGELU;
	setp.eq.u32 %p2, %r6, 3;
	@%p2 bra U_RELU;
	setp.eq.u32 %p2, %r6, 4;
	@%p2 bra U_SIGMOID;
	setp.eq.u32 %p2, %r6, 5;
	@%p2 bra U_TANH;
	// exp
{exp("%f2","%f1","%f3")}	bra U_STORE;
U_AFFINE:
	ld.param.f32 %f3, [p_s];
	ld.param.f32 %f4, [p_c];
	fma.rn.f32 %f2, %f3, %f1, %f4;
	bra U_STORE;
U_RELU:
	max.f32 %f2, %f1, 0f00000000;
	bra U_STORE;
U_QGELU:
	mul.f32 %f5, %f1, {fx(-1.702)};
{exp("%f6","%f5","%f7")}	add.f32 %f6, %f6, 0f3F800000;
	div.rn.f32 %f2, %f1, %f6;
	bra U_STORE;
U_SIGMOID:
	neg.f32 %f5, %f1;
{exp("%f6","%f5","%f7")}	add.f32 %f6, %f6, 0f3F800000;
	rcp.rn.f32 %f2, %f6;
	bra U_STORE;
U_TANH:
	// tanh|x| = (1-t)/(1+t), t = exp(-2|x|); the sign is restored after.
	abs.f32 %f5, %f1;
	mul.f32 %f5, %f5, 0fC0000000;
{exp("%f6","%f5","%f7")}	mov.f32 %f8, 0f3F800000;
	sub.f32 %f9, %f8, %f6;
	add.f32 %f10, %f8, %f6;
	div.rn.f32 %f2, %f9, %f10;
	setp.lt.f32 %p3, %f1, 0f00000000;
	@%p3 neg.f32 %f2, %f2;
	bra U_STORE;
U_GELU:
	// z = |x|/sqrt(2); q = erfc(z) = poly(t)*exp(-z^2), t = 1/(1+p z).
	// GELU = 0.5*x*(2-q) for x >= 0 and 0.5*x*q for x < 0.
	abs.f32 %f5, %f1;
	mul.f32 %f5, %f5, {fx(0.7071067811865476)};
	fma.rn.f32 %f6, %f5, {fx(0.3275911)}, 0f3F800000;
	rcp.rn.f32 %f7, %f6;
	mov.f32 %f8, {fx(A[4])};
	fma.rn.f32 %f8, %f8, %f7, {fx(A[3])};
	fma.rn.f32 %f8, %f8, %f7, {fx(A[2])};
	fma.rn.f32 %f8, %f8, %f7, {fx(A[1])};
	fma.rn.f32 %f8, %f8, %f7, {fx(A[0])};
	mul.f32 %f8, %f8, %f7;
	mul.f32 %f9, %f5, %f5;
	neg.f32 %f9, %f9;
{exp("%f10","%f9","%f11")}	mul.f32 %f12, %f8, %f10;
	mov.f32 %f13, 0f40000000;
	sub.f32 %f14, %f13, %f12;
	setp.lt.f32 %p3, %f1, 0f00000000;
	selp.f32 %f15, %f12, %f14, %p3;
	mul.f32 %f16, %f1, 0f3F000000;
	mul.f32 %f2, %f16, %f15;
U_STORE:
	st.global.f32 [%rd5], %f2;
U_DONE:
	ret;
}}
"""
# binary broadcast: meta words: [0..5] dims innermost first, [6..11] b strides (elements). Unused dims 1/0.
def unroll_index(src_rem, off, meta, nd, dims_at, strides_at, tmp_dim, tmp_str, tmp_c, end):
    # Dims are packed from the innermost and padded with 1s, so the first 1 ends the index arithmetic
    # (integer division is the expensive part of these kernels).
    s=""
    for d in range(nd):
        s += f"""	ld.param.u32 {tmp_dim}, [{meta}+{4*(dims_at+d)}];
	setp.eq.u32 %p4, {tmp_dim}, 1;
	@%p4 bra {end};
	ld.param.u32 {tmp_str}, [{meta}+{4*(strides_at+d)}];
	rem.u32 {tmp_c}, {src_rem}, {tmp_dim};
	div.u32 {src_rem}, {src_rem}, {tmp_dim};
	mad.lo.u32 {off}, {tmp_c}, {tmp_str}, {off};
"""
    return s + f"{end}:\n"
e += f"""
// plp_binary: y[i] = a[i] op b[j(i)], i < n, op 0 add, 1 sub, 2 mul. j(i) comes from i's multi-index over
// y's dims: meta[0:6] are the dims innermost first (1 when unused), meta[6:12] b's element strides (0 where
// b broadcasts).
.visible .entry plp_binary(
	.param .u64 p_y,
	.param .u64 p_a,
	.param .u64 p_b,
	.param .u32 p_n,
	.param .u32 p_op,
	.param .align 4 .b8 p_meta[48]
)
{{
	.reg .pred %p<6>;
	.reg .b32 %r<16>;
	.reg .f32 %f<6>;
	.reg .b64 %rd<12>;
{tid("%r4","B")}	ld.param.u32 %r5, [p_n];
	setp.ge.u32 %p1, %r4, %r5;
	@%p1 bra B_DONE;
	mov.u32 %r6, %r4;
	mov.u32 %r7, 0;
{unroll_index("%r6","%r7","p_meta",6,0,6,"%r8","%r9","%r10","B_IDX")}	ld.param.u64 %rd1, [p_a];
	ld.param.u64 %rd2, [p_b];
	ld.param.u64 %rd3, [p_y];
	cvta.to.global.u64 %rd1, %rd1;
	cvta.to.global.u64 %rd2, %rd2;
	cvta.to.global.u64 %rd3, %rd3;
	mul.wide.u32 %rd4, %r4, 4;
	add.s64 %rd5, %rd1, %rd4;
	add.s64 %rd6, %rd3, %rd4;
	mul.wide.u32 %rd7, %r7, 4;
	add.s64 %rd8, %rd2, %rd7;
	ld.global.f32 %f1, [%rd5];
	ld.global.f32 %f2, [%rd8];
	ld.param.u32 %r11, [p_op];
	setp.eq.u32 %p2, %r11, 1;
	setp.eq.u32 %p3, %r11, 2;
	add.f32 %f3, %f1, %f2;
	@%p2 sub.f32 %f3, %f1, %f2;
	@%p3 mul.f32 %f3, %f1, %f2;
	st.global.f32 [%rd6], %f3;
B_DONE:
	ret;
}}
"""
open('elementwise.ptx','w').write(e)

# ---------------- shape.ptx
s = HDR.format(what="data movement (strided copies, row gathers)")
s += f"""
// plp_copy: for i < n, y[dst(i)] = x[src(i)], where i's multi-index runs over meta[0:6] (dims innermost
// first, 1 when unused) and meta[6:12] / meta[12:18] are x's / y's element strides. One kernel serves
// Permute, Slice and Concat.
.visible .entry plp_copy(
	.param .u64 p_y,
	.param .u64 p_x,
	.param .u32 p_n,
	.param .align 4 .b8 p_meta[72]
)
{{
	.reg .pred %p<6>;
	.reg .b32 %r<20>;
	.reg .f32 %f<4>;
	.reg .b64 %rd<10>;
{tid("%r4","C")}	ld.param.u32 %r5, [p_n];
	setp.ge.u32 %p1, %r4, %r5;
	@%p1 bra C_DONE;
	mov.u32 %r6, %r4;
	mov.u32 %r7, 0;
	mov.u32 %r12, %r4;
	mov.u32 %r13, 0;
{unroll_index("%r6","%r7","p_meta",6,0,6,"%r8","%r9","%r10","C_SRC")}{unroll_index("%r12","%r13","p_meta",6,0,12,"%r8","%r9","%r10","C_DST")}	ld.param.u64 %rd1, [p_x];
	ld.param.u64 %rd2, [p_y];
	cvta.to.global.u64 %rd1, %rd1;
	cvta.to.global.u64 %rd2, %rd2;
	mul.wide.u32 %rd3, %r7, 4;
	add.s64 %rd4, %rd1, %rd3;
	mul.wide.u32 %rd5, %r13, 4;
	add.s64 %rd6, %rd2, %rd5;
	ld.global.f32 %f1, [%rd4];
	st.global.f32 [%rd6], %f1;
C_DONE:
	ret;
}}

// plp_gather_rows: y[r*inner + c] = x[idx[r]*inner + c] for r < rows, c < inner; idx holds u32 row numbers.
.visible .entry plp_gather_rows(
	.param .u64 p_y,
	.param .u64 p_x,
	.param .u64 p_idx,
	.param .u32 p_n,
	.param .u32 p_inner
)
{{
	.reg .pred %p<4>;
	.reg .b32 %r<16>;
	.reg .f32 %f<4>;
	.reg .b64 %rd<12>;
{tid("%r4","G")}	ld.param.u32 %r5, [p_n];
	setp.ge.u32 %p1, %r4, %r5;
	@%p1 bra G_DONE;
	ld.param.u32 %r6, [p_inner];
	div.u32 %r7, %r4, %r6;
	rem.u32 %r8, %r4, %r6;
	ld.param.u64 %rd1, [p_idx];
	cvta.to.global.u64 %rd1, %rd1;
	mul.wide.u32 %rd2, %r7, 4;
	add.s64 %rd3, %rd1, %rd2;
	ld.global.u32 %r9, [%rd3];
	mad.lo.u32 %r10, %r9, %r6, %r8;
	ld.param.u64 %rd4, [p_x];
	cvta.to.global.u64 %rd4, %rd4;
	mul.wide.u32 %rd5, %r10, 4;
	add.s64 %rd6, %rd4, %rd5;
	ld.global.f32 %f1, [%rd6];
	ld.param.u64 %rd7, [p_y];
	cvta.to.global.u64 %rd7, %rd7;
	mul.wide.u32 %rd8, %r4, 4;
	add.s64 %rd9, %rd7, %rd8;
	st.global.f32 [%rd9], %f1;
G_DONE:
	ret;
}}

// plp_reduce: y[o*inner + c] = op over j < n of x[(o*n + j)*inner + c], one thread per output (count =
// outer*inner). op 0 sum, 1 mean, 2 max, 3 biased variance; sums accumulate in float64.
.visible .entry plp_reduce(
	.param .u64 p_y,
	.param .u64 p_x,
	.param .u32 p_count,
	.param .u32 p_n,
	.param .u32 p_inner,
	.param .u32 p_op
)
{{
	.reg .pred %p<6>;
	.reg .b32 %r<20>;
	.reg .f32 %f<6>;
	.reg .f64 %fd<10>;
	.reg .b64 %rd<12>;
{tid("%r4","R")}	ld.param.u32 %r5, [p_count];
	setp.ge.u32 %p1, %r4, %r5;
	@%p1 bra R_DONE;
	ld.param.u32 %r6, [p_n];
	ld.param.u32 %r7, [p_inner];
	ld.param.u32 %r8, [p_op];
	div.u32 %r9, %r4, %r7;
	rem.u32 %r10, %r4, %r7;
	// base = o*n*inner + c; step = inner
	mul.lo.u32 %r11, %r9, %r6;
	mad.lo.u32 %r11, %r11, %r7, %r10;
	ld.param.u64 %rd1, [p_x];
	cvta.to.global.u64 %rd1, %rd1;
	mul.wide.u32 %rd2, %r11, 4;
	add.s64 %rd3, %rd1, %rd2;
	mul.wide.u32 %rd4, %r7, 4;
	// pass 1: sum or max
	mov.f64 %fd1, 0d0000000000000000;
	ld.global.f32 %f1, [%rd3];
	cvt.f64.f32 %fd2, %f1;
	setp.eq.u32 %p2, %r8, 2;
	@%p2 mov.f64 %fd1, %fd2;
	mov.u32 %r12, 0;
	mov.u64 %rd5, %rd3;
R_LOOP1:
	setp.ge.u32 %p3, %r12, %r6;
	@%p3 bra R_END1;
	ld.global.f32 %f1, [%rd5];
	cvt.f64.f32 %fd2, %f1;
	@%p2 max.f64 %fd1, %fd1, %fd2;
	@!%p2 add.f64 %fd1, %fd1, %fd2;
	add.s64 %rd5, %rd5, %rd4;
	add.u32 %r12, %r12, 1;
	bra R_LOOP1;
R_END1:
	cvt.rn.f64.u32 %fd3, %r6;
	setp.eq.u32 %p4, %r8, 3;
	@%p4 bra R_VAR;
	setp.eq.u32 %p5, %r8, 1;
	@%p5 div.rn.f64 %fd1, %fd1, %fd3;
	bra R_STORE;
R_VAR:
	div.rn.f64 %fd4, %fd1, %fd3;
	mov.f64 %fd1, 0d0000000000000000;
	mov.u32 %r12, 0;
	mov.u64 %rd5, %rd3;
R_LOOP2:
	setp.ge.u32 %p3, %r12, %r6;
	@%p3 bra R_END2;
	ld.global.f32 %f1, [%rd5];
	cvt.f64.f32 %fd2, %f1;
	sub.f64 %fd5, %fd2, %fd4;
	fma.rn.f64 %fd1, %fd5, %fd5, %fd1;
	add.s64 %rd5, %rd5, %rd4;
	add.u32 %r12, %r12, 1;
	bra R_LOOP2;
R_END2:
	div.rn.f64 %fd1, %fd1, %fd3;
R_STORE:
	cvt.rn.f32.f64 %f2, %fd1;
	ld.param.u64 %rd6, [p_y];
	cvta.to.global.u64 %rd6, %rd6;
	mul.wide.u32 %rd7, %r4, 4;
	add.s64 %rd8, %rd6, %rd7;
	st.global.f32 [%rd8], %f2;
R_DONE:
	ret;
}}
"""
open('shape.ptx','w').write(s)

# ---------------- norm.ptx: one 256-thread block per row
def block_sum(v, tmp, op, sm, tag):
    # Reduces v over the block (256 threads, 8 warps); every thread ends with the total in v.
    s = ""
    for o in (16, 8, 4, 2, 1):
        s += f"	shfl.sync.bfly.b32 {tmp}, {v}, {o}, 31, -1;\n	{op}.f32 {v}, {v}, {tmp};\n"
    s += f"""	setp.ne.u32 %p9, %r30, 0;
	@%p9 bra {tag}_SKIP;
	st.shared.f32 [%rd30], {v};
{tag}_SKIP:
	bar.sync 0;
	ld.shared.f32 {v}, [{sm}];
"""
    for w in range(1, 8):
        s += f"	ld.shared.f32 {tmp}, [{sm}+{4*w}];\n	{op}.f32 {v}, {v}, {tmp};\n"
    s += "	bar.sync 0;\n"
    return s
ROWSETUP = """	mov.u32 %r3, %tid.x;
	mov.u32 %r4, %ctaid.x;
	and.b32 %r30, %r3, 31;
	shr.u32 %r31, %r3, 5;
	mov.u64 %rd29, {sm};
	mul.wide.u32 %rd28, %r31, 4;
	add.s64 %rd30, %rd29, %rd28;
	ld.param.u32 %r5, [p_n];
	// row base addresses
	mul.wide.u32 %rd1, %r4, %r5;
	shl.b64 %rd1, %rd1, 2;
	ld.param.u64 %rd2, [p_x];
	cvta.to.global.u64 %rd2, %rd2;
	add.s64 %rd2, %rd2, %rd1;
	ld.param.u64 %rd3, [p_y];
	cvta.to.global.u64 %rd3, %rd3;
	add.s64 %rd3, %rd3, %rd1;
"""
def rowloop(tag, body):
    # for j = tid; j < n; j += 256: %rd10 = &x[j], %rd11 = &y[j], %rd12 = j*4
    return f"""	mov.u32 %r6, %r3;
{tag}_LOOP:
	setp.ge.u32 %p1, %r6, %r5;
	@%p1 bra {tag}_END;
	mul.wide.u32 %rd12, %r6, 4;
	add.s64 %rd10, %rd2, %rd12;
	add.s64 %rd11, %rd3, %rd12;
{body}	add.u32 %r6, %r6, 256;
	bra {tag}_LOOP;
{tag}_END:
"""
REGS = """	.reg .pred %p<12>;
	.reg .b32 %r<40>;
	.reg .f32 %f<32>;
	.reg .b64 %rd<32>;
"""

LN1B="	ld.global.f32 %f2, [%rd10];\n	sub.f32 %f2, %f2, %f20;\n	add.f32 %f1, %f1, %f2;\n"
LN2B="	ld.global.f32 %f2, [%rd10];\n	sub.f32 %f2, %f2, %f5;\n	fma.rn.f32 %f6, %f2, %f2, %f6;\n"
SM1B="	ld.global.f32 %f2, [%rd10];\n	max.f32 %f1, %f1, %f2;\n"
SM2B="	ld.global.f32 %f2, [%rd10];\n	sub.f32 %f2, %f2, %f1;\n"+exp("%f2","%f2","%f4")+"	add.f32 %f6, %f6, %f2;\n"
SM3B="	ld.global.f32 %f2, [%rd10];\n	sub.f32 %f2, %f2, %f1;\n"+exp("%f2","%f2","%f4")+"	div.rn.f32 %f2, %f2, %f6;\n	st.global.f32 [%rd11], %f2;\n"
L21B="	ld.global.f32 %f2, [%rd10];\n	fma.rn.f32 %f1, %f2, %f2, %f1;\n"
L22B="	ld.global.f32 %f2, [%rd10];\n	div.rn.f32 %f2, %f2, %f5;\n	st.global.f32 [%rd11], %f2;\n"
n = HDR.format(what="row normalisations (LayerNorm, softmax, L2 normalisation); launch one 256-thread block per row")
n += f"""
// plp_layernorm: y = (x-mean)/sqrt(var+eps)*w + b over rows of n; w and b may be 0 (absent).
.visible .entry plp_layernorm(
	.param .u64 p_y,
	.param .u64 p_x,
	.param .u64 p_w,
	.param .u64 p_b,
	.param .u32 p_n,
	.param .f32 p_eps
)
{{
{REGS}	.shared .align 4 .f32 ln_sm[8];
{ROWSETUP.format(sm="ln_sm")}	// The mean is taken of x - x[0]: rows with a large offset and a small spread keep their precision.
	ld.global.f32 %f20, [%rd2];
	mov.f32 %f1, 0f00000000;
{rowloop("LN1", LN1B)}{block_sum("%f1","%f3","add","ln_sm","LNS1")}	cvt.rn.f32.u32 %f4, %r5;
	div.rn.f32 %f5, %f1, %f4;
	add.f32 %f5, %f5, %f20;
	mov.f32 %f6, 0f00000000;
{rowloop("LN2", LN2B)}{block_sum("%f6","%f3","add","ln_sm","LNS2")}	div.rn.f32 %f7, %f6, %f4;
	ld.param.f32 %f8, [p_eps];
	add.f32 %f7, %f7, %f8;
	sqrt.rn.f32 %f7, %f7;
	rcp.rn.f32 %f9, %f7;
	ld.param.u64 %rd20, [p_w];
	ld.param.u64 %rd21, [p_b];
	setp.ne.u64 %p2, %rd20, 0;
	setp.ne.u64 %p3, %rd21, 0;
	cvta.to.global.u64 %rd20, %rd20;
	cvta.to.global.u64 %rd21, %rd21;
{rowloop("LN3", '''	ld.global.f32 %f2, [%rd10];
	sub.f32 %f2, %f2, %f5;
	mul.f32 %f2, %f2, %f9;
	add.s64 %rd22, %rd20, %rd12;
	add.s64 %rd23, %rd21, %rd12;
	@%p2 ld.global.f32 %f10, [%rd22];
	@%p2 mul.f32 %f2, %f2, %f10;
	@%p3 ld.global.f32 %f11, [%rd23];
	@%p3 add.f32 %f2, %f2, %f11;
	st.global.f32 [%rd11], %f2;
''')}	ret;
}}

// plp_softmax: y = exp(x-max)/sum(exp(x-max)) over rows of n.
.visible .entry plp_softmax(
	.param .u64 p_y,
	.param .u64 p_x,
	.param .u32 p_n
)
{{
{REGS}	.shared .align 4 .f32 sm_sm[8];
{ROWSETUP.format(sm="sm_sm")}	mov.f32 %f1, 0fFF800000;
{rowloop("SM1", SM1B)}{block_sum("%f1","%f3","max","sm_sm","SMS1")}	mov.f32 %f6, 0f00000000;
{rowloop("SM2", SM2B)}{block_sum("%f6","%f3","add","sm_sm","SMS2")}	rcp.rn.f32 %f7, %f6;
{rowloop("SM3", SM3B)}	ret;
}}

// plp_l2norm: y = x / max(sqrt(sum x^2), eps) over rows of n.
.visible .entry plp_l2norm(
	.param .u64 p_y,
	.param .u64 p_x,
	.param .u32 p_n,
	.param .f32 p_eps
)
{{
{REGS}	.shared .align 4 .f32 l2_sm[8];
{ROWSETUP.format(sm="l2_sm")}	mov.f32 %f1, 0f00000000;
{rowloop("L21", L21B)}{block_sum("%f1","%f3","add","l2_sm","L2S1")}	sqrt.rn.f32 %f5, %f1;
	ld.param.f32 %f8, [p_eps];
	max.f32 %f5, %f5, %f8;
{rowloop("L22", L22B)}	ret;
}}
"""
open('norm.ptx','w').write(n)

# ---------------- conv.ptx
c = HDR.format(what="convolution and pooling (im2col, direct grouped convolution, pooling), NCHW")
def mw(reg, i, meta="p_meta"): return f"	ld.param.u32 {reg}, [{meta}+{4*i}];\n"
c += f"""
// plp_im2col: cols[b][k][l] for k = (c*KH+ky)*KW+kx, l = oy*OW+ox: the input pixel under kernel tap k of
// output position l, or 0 in the padding. n = B*C*KH*KW*OH*OW. meta: C,H,W,KH,KW,SH,SW,PH,PW,OH,OW.
.visible .entry plp_im2col(
	.param .u64 p_cols,
	.param .u64 p_x,
	.param .u32 p_n,
	.param .align 4 .b8 p_meta[44]
)
{{
	.reg .pred %p<6>;
	.reg .b32 %r<40>;
	.reg .f32 %f<4>;
	.reg .b64 %rd<10>;
{tid("%r4","I")}	ld.param.u32 %r5, [p_n];
	setp.ge.u32 %p1, %r4, %r5;
	@%p1 bra I_DONE;
{mw("%r10",0)}{mw("%r11",1)}{mw("%r12",2)}{mw("%r13",3)}{mw("%r14",4)}{mw("%r15",5)}{mw("%r16",6)}{mw("%r17",7)}{mw("%r18",8)}{mw("%r19",9)}{mw("%r20",10)}	// l = i % L, t = i / L (L = OH*OW)
	mul.lo.u32 %r21, %r19, %r20;
	rem.u32 %r22, %r4, %r21;
	div.u32 %r23, %r4, %r21;
	// K = C*KH*KW; k = t % K; b = t / K
	mul.lo.u32 %r24, %r10, %r13;
	mul.lo.u32 %r24, %r24, %r14;
	rem.u32 %r25, %r23, %r24;
	div.u32 %r26, %r23, %r24;
	// kx, ky, c from k
	rem.u32 %r27, %r25, %r14;
	div.u32 %r28, %r25, %r14;
	rem.u32 %r29, %r28, %r13;
	div.u32 %r30, %r28, %r13;
	// ox, oy from l
	rem.u32 %r31, %r22, %r20;
	div.u32 %r32, %r22, %r20;
	// iy = oy*SH - PH + ky, ix = ox*SW - PW + kx (may be negative: unsigned compares reject it)
	mad.lo.u32 %r33, %r32, %r15, %r29;
	sub.u32 %r33, %r33, %r17;
	mad.lo.u32 %r34, %r31, %r16, %r27;
	sub.u32 %r34, %r34, %r18;
	mov.f32 %f1, 0f00000000;
	setp.ge.u32 %p2, %r33, %r11;
	setp.ge.u32 %p3, %r34, %r12;
	or.pred %p4, %p2, %p3;
	@%p4 bra I_STORE;
	// x index ((b*C + c)*H + iy)*W + ix
	mad.lo.u32 %r35, %r26, %r10, %r30;
	mad.lo.u32 %r35, %r35, %r11, %r33;
	mad.lo.u32 %r35, %r35, %r12, %r34;
	ld.param.u64 %rd1, [p_x];
	cvta.to.global.u64 %rd1, %rd1;
	mul.wide.u32 %rd2, %r35, 4;
	add.s64 %rd3, %rd1, %rd2;
	ld.global.f32 %f1, [%rd3];
I_STORE:
	ld.param.u64 %rd4, [p_cols];
	cvta.to.global.u64 %rd4, %rd4;
	mul.wide.u32 %rd5, %r4, 4;
	add.s64 %rd6, %rd4, %rd5;
	st.global.f32 [%rd6], %f1;
I_DONE:
	ret;
}}

// plp_conv_direct: grouped cross-correlation, one thread per output y[b][co][oy][ox] (n = B*Cout*OH*OW).
// meta: Cin,H,W,KH,KW,SH,SW,PH,PW,OH,OW,Cout,groups. bias may be 0 (absent).
.visible .entry plp_conv_direct(
	.param .u64 p_y,
	.param .u64 p_x,
	.param .u64 p_w,
	.param .u64 p_bias,
	.param .u32 p_n,
	.param .align 4 .b8 p_meta[52]
)
{{
	.reg .pred %p<8>;
	.reg .b32 %r<60>;
	.reg .f32 %f<8>;
	.reg .b64 %rd<16>;
{tid("%r4","D")}	ld.param.u32 %r5, [p_n];
	setp.ge.u32 %p1, %r4, %r5;
	@%p1 bra D_DONE;
{mw("%r10",0)}{mw("%r11",1)}{mw("%r12",2)}{mw("%r13",3)}{mw("%r14",4)}{mw("%r15",5)}{mw("%r16",6)}{mw("%r17",7)}{mw("%r18",8)}{mw("%r19",9)}{mw("%r20",10)}{mw("%r21",11)}{mw("%r22",12)}	// ox, oy, co, b
	rem.u32 %r23, %r4, %r20;
	div.u32 %r24, %r4, %r20;
	rem.u32 %r25, %r24, %r19;
	div.u32 %r24, %r24, %r19;
	rem.u32 %r26, %r24, %r21;
	div.u32 %r27, %r24, %r21;
	// cpg = Cin/groups, opg = Cout/groups, first input channel g*cpg
	div.u32 %r28, %r10, %r22;
	div.u32 %r29, %r21, %r22;
	div.u32 %r30, %r26, %r29;
	mul.lo.u32 %r31, %r30, %r28;
	// iy0 = oy*SH - PH, ix0 = ox*SW - PW
	mul.lo.u32 %r32, %r25, %r15;
	sub.u32 %r32, %r32, %r17;
	mul.lo.u32 %r33, %r23, %r16;
	sub.u32 %r33, %r33, %r18;
	ld.param.u64 %rd1, [p_x];
	cvta.to.global.u64 %rd1, %rd1;
	ld.param.u64 %rd2, [p_w];
	cvta.to.global.u64 %rd2, %rd2;
	mov.f32 %f1, 0f00000000;
	mov.u32 %r34, 0;
D_CI:
	setp.ge.u32 %p2, %r34, %r28;
	@%p2 bra D_CI_END;
	// x plane base (b*Cin + g*cpg + ci)*H ; w base ((co*cpg + ci)*KH)
	add.u32 %r35, %r31, %r34;
	mad.lo.u32 %r35, %r27, %r10, %r35;
	mul.lo.u32 %r35, %r35, %r11;
	mad.lo.u32 %r36, %r26, %r28, %r34;
	mul.lo.u32 %r36, %r36, %r13;
	mov.u32 %r37, 0;
D_KY:
	setp.ge.u32 %p3, %r37, %r13;
	@%p3 bra D_KY_END;
	add.u32 %r38, %r32, %r37;
	setp.ge.u32 %p4, %r38, %r11;
	@%p4 bra D_KY_NEXT;
	mov.u32 %r39, 0;
D_KX:
	setp.ge.u32 %p5, %r39, %r14;
	@%p5 bra D_KY_NEXT;
	add.u32 %r40, %r33, %r39;
	setp.ge.u32 %p6, %r40, %r12;
	@%p6 bra D_KX_NEXT;
	add.u32 %r41, %r35, %r38;
	mad.lo.u32 %r41, %r41, %r12, %r40;
	mul.wide.u32 %rd3, %r41, 4;
	add.s64 %rd4, %rd1, %rd3;
	ld.global.f32 %f2, [%rd4];
	add.u32 %r42, %r36, %r37;
	mad.lo.u32 %r42, %r42, %r14, %r39;
	mul.wide.u32 %rd5, %r42, 4;
	add.s64 %rd6, %rd2, %rd5;
	ld.global.f32 %f3, [%rd6];
	fma.rn.f32 %f1, %f2, %f3, %f1;
D_KX_NEXT:
	add.u32 %r39, %r39, 1;
	bra D_KX;
D_KY_NEXT:
	add.u32 %r37, %r37, 1;
	bra D_KY;
D_KY_END:
	add.u32 %r34, %r34, 1;
	bra D_CI;
D_CI_END:
	ld.param.u64 %rd7, [p_bias];
	setp.eq.u64 %p7, %rd7, 0;
	@%p7 bra D_STORE;
	cvta.to.global.u64 %rd7, %rd7;
	mul.wide.u32 %rd8, %r26, 4;
	add.s64 %rd9, %rd7, %rd8;
	ld.global.f32 %f4, [%rd9];
	add.f32 %f1, %f1, %f4;
D_STORE:
	ld.param.u64 %rd10, [p_y];
	cvta.to.global.u64 %rd10, %rd10;
	mul.wide.u32 %rd11, %r4, 4;
	add.s64 %rd12, %rd10, %rd11;
	st.global.f32 [%rd12], %f1;
D_DONE:
	ret;
}}

// plp_pool: average (padding counts as zeros, divisor KH*KW) or max (padding ignored) pooling, one thread
// per output of planes [B*C][OH][OW] (n outputs). meta: H,W,KH,KW,SH,SW,PH,PW,OH,OW,kind (0 avg, 1 max).
.visible .entry plp_pool(
	.param .u64 p_y,
	.param .u64 p_x,
	.param .u32 p_n,
	.param .align 4 .b8 p_meta[44]
)
{{
	.reg .pred %p<8>;
	.reg .b32 %r<50>;
	.reg .f32 %f<8>;
	.reg .b64 %rd<12>;
{tid("%r4","P")}	ld.param.u32 %r5, [p_n];
	setp.ge.u32 %p1, %r4, %r5;
	@%p1 bra P_DONE;
{mw("%r10",0)}{mw("%r11",1)}{mw("%r12",2)}{mw("%r13",3)}{mw("%r14",4)}{mw("%r15",5)}{mw("%r16",6)}{mw("%r17",7)}{mw("%r18",8)}{mw("%r19",9)}{mw("%r20",10)}	rem.u32 %r21, %r4, %r19;
	div.u32 %r22, %r4, %r19;
	rem.u32 %r23, %r22, %r18;
	div.u32 %r24, %r22, %r18;
	// plane base = plane*H*W
	mul.lo.u32 %r25, %r24, %r10;
	mul.lo.u32 %r25, %r25, %r11;
	mul.lo.u32 %r26, %r23, %r14;
	sub.u32 %r26, %r26, %r16;
	mul.lo.u32 %r27, %r21, %r15;
	sub.u32 %r27, %r27, %r17;
	setp.eq.u32 %p2, %r20, 1;
	mov.f32 %f1, 0f00000000;
	@%p2 mov.f32 %f1, 0fFF800000;
	ld.param.u64 %rd1, [p_x];
	cvta.to.global.u64 %rd1, %rd1;
	mov.u32 %r28, 0;
P_KY:
	setp.ge.u32 %p3, %r28, %r12;
	@%p3 bra P_END;
	add.u32 %r29, %r26, %r28;
	setp.ge.u32 %p4, %r29, %r10;
	@%p4 bra P_KY_NEXT;
	mov.u32 %r30, 0;
P_KX:
	setp.ge.u32 %p5, %r30, %r13;
	@%p5 bra P_KY_NEXT;
	add.u32 %r31, %r27, %r30;
	setp.ge.u32 %p6, %r31, %r11;
	@%p6 bra P_KX_NEXT;
	mad.lo.u32 %r32, %r29, %r11, %r31;
	add.u32 %r32, %r32, %r25;
	mul.wide.u32 %rd2, %r32, 4;
	add.s64 %rd3, %rd1, %rd2;
	ld.global.f32 %f2, [%rd3];
	@%p2 max.f32 %f1, %f1, %f2;
	@!%p2 add.f32 %f1, %f1, %f2;
P_KX_NEXT:
	add.u32 %r30, %r30, 1;
	bra P_KX;
P_KY_NEXT:
	add.u32 %r28, %r28, 1;
	bra P_KY;
P_END:
	@%p2 bra P_STORE;
	mul.lo.u32 %r33, %r12, %r13;
	cvt.rn.f32.u32 %f3, %r33;
	div.rn.f32 %f1, %f1, %f3;
P_STORE:
	ld.param.u64 %rd4, [p_y];
	cvta.to.global.u64 %rd4, %rd4;
	mul.wide.u32 %rd5, %r4, 4;
	add.s64 %rd6, %rd4, %rd5;
	st.global.f32 [%rd6], %f1;
P_DONE:
	ret;
}}
"""
open('conv.ptx','w').write(c)

# ---------------- attention.ptx
T = 4
def per_t(fmt):
    return "".join(fmt.format(oe=32*t, t=t, q=20+t, k=24+t, v=28+t, a=32+t, d=40+t, p=10+t, off=4*32*t) for t in range(T))
at = HDR.format(what="fused multi-head attention with online softmax")
at += f"""
// plp_attention: o[b,i,h*hd:(h+1)*hd] = softmax_j(q_i.k_j*scale + bias[h,i,j]) v_j for q [B,Nq,H*hd],
// k and v [B,Nk,H*hd]. One warp per (b, h, query i); lane l holds features l, l+32, l+64, l+96 (hd <= 128).
// Keys stream through once with an online (running max) softmax, so no Nq x Nk matrix is ever stored.
// Causal: key j is visible to query i iff j <= i. bias may be 0 (absent). Grid (ceil(Nq/4), H, B), block 128.
// meta: Nq, Nk, H, hd, causal.
.visible .entry plp_attention(
	.param .u64 p_o,
	.param .u64 p_q,
	.param .u64 p_k,
	.param .u64 p_v,
	.param .u64 p_bias,
	.param .f32 p_scale,
	.param .align 4 .b8 p_meta[20]
)
{{
	.reg .pred %p<20>;
	.reg .b32 %r<50>;
	.reg .f32 %f<50>;
	.reg .b64 %rd<50>;
	mov.u32 %r1, %tid.x;
	and.b32 %r2, %r1, 31;
	shr.u32 %r3, %r1, 5;
	mov.u32 %r4, %ctaid.x;
	mad.lo.u32 %r5, %r4, 4, %r3;
	mov.u32 %r6, %ctaid.y;
	mov.u32 %r7, %ctaid.z;
{mw("%r10",0)}{mw("%r11",1)}{mw("%r12",2)}{mw("%r13",3)}{mw("%r14",4)}	setp.ge.u32 %p1, %r5, %r10;
	@%p1 bra A_DONE;
	// D = H*hd; qbase = (b*Nq + i)*D + h*hd; kbase = b*Nk*D + h*hd
	mul.lo.u32 %r15, %r12, %r13;
	mad.lo.u32 %r16, %r7, %r10, %r5;
	mul.lo.u32 %r17, %r6, %r13;
	mad.lo.u32 %r16, %r16, %r15, %r17;
	mul.lo.u32 %r18, %r7, %r11;
	mad.lo.u32 %r18, %r18, %r15, %r17;
	ld.param.u64 %rd1, [p_q];
	cvta.to.global.u64 %rd1, %rd1;
	ld.param.u64 %rd2, [p_k];
	cvta.to.global.u64 %rd2, %rd2;
	ld.param.u64 %rd3, [p_v];
	cvta.to.global.u64 %rd3, %rd3;
	ld.param.f32 %f1, [p_scale];
	// lane feature offsets and validity
	mul.wide.u32 %rd4, %r16, 4;
	add.s64 %rd4, %rd1, %rd4;
	mul.wide.u32 %rd5, %r2, 4;
	add.s64 %rd4, %rd4, %rd5;
{per_t('''	add.u32 %r{d}, %r2, {oe};
	setp.lt.u32 %p{p}, %r{d}, %r13;
	mov.f32 %f{q}, 0f00000000;
	@%p{p} ld.global.f32 %f{q}, [%rd4+{off}];
	mul.f32 %f{q}, %f{q}, %f1;
	mov.f32 %f{a}, 0f00000000;
''')}	// key range: [0, Nk), or [0, min(Nk, i+1)) when causal
	mov.u32 %r19, %r11;
	setp.ne.u32 %p2, %r14, 0;
	add.u32 %r20, %r5, 1;
	min.u32 %r21, %r19, %r20;
	@%p2 mov.u32 %r19, %r21;
	// bias row (h*Nq + i)*Nk
	ld.param.u64 %rd6, [p_bias];
	setp.ne.u64 %p3, %rd6, 0;
	cvta.to.global.u64 %rd6, %rd6;
	mad.lo.u32 %r22, %r6, %r10, %r5;
	mul.lo.u32 %r22, %r22, %r11;
	mul.wide.u32 %rd7, %r22, 4;
	add.s64 %rd6, %rd6, %rd7;
	// k/v pointers of key 0 for this lane; step D floats per key
	mul.wide.u32 %rd8, %r18, 4;
	add.s64 %rd9, %rd2, %rd8;
	add.s64 %rd9, %rd9, %rd5;
	add.s64 %rd10, %rd3, %rd8;
	add.s64 %rd10, %rd10, %rd5;
	mul.wide.u32 %rd11, %r15, 4;
	mov.f32 %f2, 0fFF800000;
	mov.f32 %f3, 0f00000000;
	mov.u32 %r23, 0;
A_LOOP:
	setp.ge.u32 %p4, %r23, %r19;
	@%p4 bra A_END;
{per_t('''	mov.f32 %f{k}, 0f00000000;
	@%p{p} ld.global.f32 %f{k}, [%rd9+{off}];
''')}	mul.f32 %f5, %f20, %f24;
	fma.rn.f32 %f5, %f21, %f25, %f5;
	fma.rn.f32 %f5, %f22, %f26, %f5;
	fma.rn.f32 %f5, %f23, %f27, %f5;
""" + "".join(f"	shfl.sync.bfly.b32 %f6, %f5, {o}, 31, -1;\n	add.f32 %f5, %f5, %f6;\n" for o in (16,8,4,2,1)) + f"""	@%p3 ld.global.f32 %f7, [%rd6];
	@%p3 add.f32 %f5, %f5, %f7;
	setp.eq.f32 %p5, %f5, 0fFF800000;
	@%p5 bra A_NEXT;
	// online softmax: m' = max(m, s); c = exp(m-m'); p = exp(s-m'); l = l*c + p; acc = acc*c + p*v
	max.f32 %f8, %f2, %f5;
	sub.f32 %f9, %f2, %f8;
{exp("%f10","%f9","%f11")}	sub.f32 %f12, %f5, %f8;
{exp("%f13","%f12","%f11")}	fma.rn.f32 %f3, %f3, %f10, %f13;
	mov.f32 %f2, %f8;
{per_t('''	mov.f32 %f{v}, 0f00000000;
	@%p{p} ld.global.f32 %f{v}, [%rd10+{off}];
	mul.f32 %f{a}, %f{a}, %f10;
	fma.rn.f32 %f{a}, %f13, %f{v}, %f{a};
''')}A_NEXT:
	add.s64 %rd9, %rd9, %rd11;
	add.s64 %rd10, %rd10, %rd11;
	add.s64 %rd6, %rd6, 4;
	add.u32 %r23, %r23, 1;
	bra A_LOOP;
A_END:
	ld.param.u64 %rd12, [p_o];
	cvta.to.global.u64 %rd12, %rd12;
	mul.wide.u32 %rd13, %r16, 4;
	add.s64 %rd12, %rd12, %rd13;
	add.s64 %rd12, %rd12, %rd5;
{per_t('''	div.rn.f32 %f{a}, %f{a}, %f3;
	@%p{p} st.global.f32 [%rd12+{off}], %f{a};
''')}A_DONE:
	ret;
}}
"""
open('attention.ptx','w').write(at)

# ---------------- attention, key-parallel variant
def per_t2(fmt):
    return "".join(fmt.format(t=t, a=32+t, v=28+t, p=10+t, off=4*32*t, oe=32*t) for t in range(T))
kp = f"""
// plp_attention_kp: the same contract as plp_attention, with the keys spread over the lanes: a warp takes
// 32 keys at a time, each lane scoring one key against the query (held in shared memory), then the tile's
// probabilities are broadcast lane to lane for the P·V update of the lane's output features. Per key this
// issues a few warp instructions instead of a full warp reduction. Grid (ceil(Nq/4), H, B), block 128.
.visible .entry plp_attention_kp(
	.param .u64 p_o,
	.param .u64 p_q,
	.param .u64 p_k,
	.param .u64 p_v,
	.param .u64 p_bias,
	.param .f32 p_scale,
	.param .align 4 .b8 p_meta[20]
)
{{
	.reg .pred %p<20>;
	.reg .b32 %r<50>;
	.reg .f32 %f<50>;
	.reg .b64 %rd<50>;
	.shared .align 16 .f32 kp_q[512];
	mov.u32 %r1, %tid.x;
	and.b32 %r2, %r1, 31;
	shr.u32 %r3, %r1, 5;
	mov.u32 %r4, %ctaid.x;
	mad.lo.u32 %r5, %r4, 4, %r3;
	mov.u32 %r6, %ctaid.y;
	mov.u32 %r7, %ctaid.z;
{mw("%r10",0)}{mw("%r11",1)}{mw("%r12",2)}{mw("%r13",3)}{mw("%r14",4)}	setp.ge.u32 %p1, %r5, %r10;
	@%p1 bra K_DONE;
	// D = H*hd; qbase = (b*Nq + i)*D + h*hd; kbase = b*Nk*D + h*hd
	mul.lo.u32 %r15, %r12, %r13;
	mad.lo.u32 %r16, %r7, %r10, %r5;
	mul.lo.u32 %r17, %r6, %r13;
	mad.lo.u32 %r16, %r16, %r15, %r17;
	mul.lo.u32 %r18, %r7, %r11;
	mad.lo.u32 %r18, %r18, %r15, %r17;
	ld.param.u64 %rd1, [p_q];
	cvta.to.global.u64 %rd1, %rd1;
	ld.param.u64 %rd2, [p_k];
	cvta.to.global.u64 %rd2, %rd2;
	ld.param.u64 %rd3, [p_v];
	cvta.to.global.u64 %rd3, %rd3;
	ld.param.f32 %f1, [p_scale];
	// this warp's query slot in shared memory: kp_q + warp*512 bytes
	mov.u64 %rd20, kp_q;
	mul.wide.u32 %rd24, %r3, 512;
	add.s64 %rd20, %rd20, %rd24;
	mul.wide.u32 %rd4, %r16, 4;
	add.s64 %rd4, %rd1, %rd4;
	mul.wide.u32 %rd5, %r2, 4;
	add.s64 %rd4, %rd4, %rd5;
	add.s64 %rd25, %rd20, %rd5;
{per_t2('''	add.u32 %r{oe_r}, %r2, {oe};
	setp.lt.u32 %p{p}, %r{oe_r}, %r13;
	mov.f32 %f{v}, 0f00000000;
	@%p{p} ld.global.f32 %f{v}, [%rd4+{off}];
	mul.f32 %f{v}, %f{v}, %f1;
	@%p{p} st.shared.f32 [%rd25+{off}], %f{v};
	mov.f32 %f{a}, 0f00000000;
'''.replace("{oe_r}", "4{t}"))}	bar.warp.sync -1;
	// key range end: Nk, or min(Nk, i+1) when causal
	mov.u32 %r19, %r11;
	setp.ne.u32 %p2, %r14, 0;
	add.u32 %r20, %r5, 1;
	min.u32 %r21, %r19, %r20;
	@%p2 mov.u32 %r19, %r21;
	// bias row (h*Nq + i)*Nk
	ld.param.u64 %rd6, [p_bias];
	setp.ne.u64 %p3, %rd6, 0;
	cvta.to.global.u64 %rd6, %rd6;
	mad.lo.u32 %r22, %r6, %r10, %r5;
	mul.lo.u32 %r22, %r22, %r11;
	mul.wide.u32 %rd7, %r22, 4;
	add.s64 %rd6, %rd6, %rd7;
	mul.wide.u32 %rd11, %r15, 4;
	mov.f32 %f2, 0fFF800000;
	mov.f32 %f3, 0f00000000;
	mov.u32 %r23, 0;
K_TILE:
	setp.ge.u32 %p4, %r23, %r19;
	@%p4 bra K_END;
	// lane's key j = j0 + lane
	add.u32 %r24, %r23, %r2;
	setp.lt.u32 %p5, %r24, %r19;
	mov.f32 %f5, 0fFF800000;
	@!%p5 bra K_QK_END;
	mad.lo.u32 %r28, %r24, %r15, %r18;
	mul.wide.u32 %rd21, %r28, 4;
	add.s64 %rd21, %rd2, %rd21;
	mov.u64 %rd23, %rd20;
	mov.f32 %f5, 0f00000000;
	// four features a step while they last, then one
	and.b32 %r29, %r13, -4;
	mov.u32 %r25, 0;
K_QK4:
	setp.ge.u32 %p6, %r25, %r29;
	@%p6 bra K_QK1;
	ld.shared.f32 %f15, [%rd23];
	ld.global.f32 %f16, [%rd21];
	fma.rn.f32 %f5, %f15, %f16, %f5;
	ld.shared.f32 %f15, [%rd23+4];
	ld.global.f32 %f16, [%rd21+4];
	fma.rn.f32 %f5, %f15, %f16, %f5;
	ld.shared.f32 %f15, [%rd23+8];
	ld.global.f32 %f16, [%rd21+8];
	fma.rn.f32 %f5, %f15, %f16, %f5;
	ld.shared.f32 %f15, [%rd23+12];
	ld.global.f32 %f16, [%rd21+12];
	fma.rn.f32 %f5, %f15, %f16, %f5;
	add.s64 %rd23, %rd23, 16;
	add.s64 %rd21, %rd21, 16;
	add.u32 %r25, %r25, 4;
	bra K_QK4;
K_QK1:
	setp.ge.u32 %p6, %r25, %r13;
	@%p6 bra K_QK_BIAS;
	ld.shared.f32 %f15, [%rd23];
	ld.global.f32 %f16, [%rd21];
	fma.rn.f32 %f5, %f15, %f16, %f5;
	add.s64 %rd23, %rd23, 4;
	add.s64 %rd21, %rd21, 4;
	add.u32 %r25, %r25, 1;
	bra K_QK1;
K_QK_BIAS:
	@!%p3 bra K_QK_END;
	mul.wide.u32 %rd26, %r24, 4;
	add.s64 %rd26, %rd6, %rd26;
	ld.global.f32 %f7, [%rd26];
	add.f32 %f5, %f5, %f7;
K_QK_END:
	// tile maximum over the lanes
	mov.f32 %f6, %f5;
""" + "".join(f"	shfl.sync.bfly.b32 %f17, %f6, {o}, 31, -1;\n	max.f32 %f6, %f6, %f17;\n" for o in (16,8,4,2,1)) + f"""	max.f32 %f8, %f2, %f6;
	setp.eq.f32 %p7, %f8, 0fFF800000;
	@%p7 bra K_NEXT;
	// online softmax: c = exp(m-m'), p = exp(s-m'); the lanes keep partial sums of p, added up at the end
	sub.f32 %f9, %f2, %f8;
{exp("%f10","%f9","%f11")}	sub.f32 %f12, %f5, %f8;
{exp("%f13","%f12","%f11")}	fma.rn.f32 %f3, %f3, %f10, %f13;
	mov.f32 %f2, %f8;
{per_t2('''	mul.f32 %f{a}, %f{a}, %f10;
''')}	// P·V over the tile's keys: lane l's features, p of key jj broadcast from lane jj
	sub.u32 %r26, %r19, %r23;
	min.u32 %r26, %r26, 32;
	mad.lo.u32 %r30, %r23, %r15, %r18;
	mul.wide.u32 %rd22, %r30, 4;
	add.s64 %rd22, %rd3, %rd22;
	add.s64 %rd22, %rd22, %rd5;
	mov.u32 %r27, 0;
K_PV:
	setp.ge.u32 %p8, %r27, %r26;
	@%p8 bra K_NEXT;
	shfl.sync.idx.b32 %f14, %f13, %r27, 31, -1;
{per_t2('''	@%p{p} ld.global.f32 %f{v}, [%rd22+{off}];
	@%p{p} fma.rn.f32 %f{a}, %f14, %f{v}, %f{a};
''')}	add.s64 %rd22, %rd22, %rd11;
	add.u32 %r27, %r27, 1;
	bra K_PV;
K_NEXT:
	add.u32 %r23, %r23, 32;
	bra K_TILE;
K_END:
""" + "".join(f"	shfl.sync.bfly.b32 %f17, %f3, {o}, 31, -1;\n	add.f32 %f3, %f3, %f17;\n" for o in (16,8,4,2,1)) + f"""	ld.param.u64 %rd12, [p_o];
	cvta.to.global.u64 %rd12, %rd12;
	mul.wide.u32 %rd13, %r16, 4;
	add.s64 %rd12, %rd12, %rd13;
	add.s64 %rd12, %rd12, %rd5;
{per_t2('''	div.rn.f32 %f{a}, %f{a}, %f3;
	@%p{p} st.global.f32 [%rd12+{off}], %f{a};
''')}K_DONE:
	ret;
}}
"""
at2 = open('attention.ptx').read() + kp
open('attention.ptx','w').write(at2)
