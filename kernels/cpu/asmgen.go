//go:build amd64

package cpu

// The amd64 SGEMM micro-kernels (sgemm_avx2_amd64.s, sgemm_rows_avx2_amd64.s,
// sgemm_avx512_amd64.s, sgemm_rows_avx512_amd64.s) and epilogues (epilogue_avx2_amd64.s,
// epilogue_avx512_amd64.s) are generated from one description each in _asm,
// a module of its own so that plp does not depend on the generator.
//go:generate go -C _asm run . -out ..
