//go:build !purego

package cpu

//go:noescape
func epilogueNoneAVX512(c *float32, ldc, m, n int, rowBias, colBias, add *float32, ldAdd int)

//go:noescape
func epilogueReLUAVX512(c *float32, ldc, m, n int, rowBias, colBias, add *float32, ldAdd int)

//go:noescape
func epilogueGeluAVX512(c *float32, ldc, m, n int, rowBias, colBias, add *float32, ldAdd int)

//go:noescape
func epilogueQuickGeluAVX512(c *float32, ldc, m, n int, rowBias, colBias, add *float32, ldAdd int)

//go:noescape
func epilogueNoneAVX2(c *float32, ldc, m, n int, rowBias, colBias, add *float32, ldAdd int)

//go:noescape
func epilogueReLUAVX2(c *float32, ldc, m, n int, rowBias, colBias, add *float32, ldAdd int)

//go:noescape
func epilogueGeluAVX2(c *float32, ldc, m, n int, rowBias, colBias, add *float32, ldAdd int)

//go:noescape
func epilogueQuickGeluAVX2(c *float32, ldc, m, n int, rowBias, colBias, add *float32, ldAdd int)

// epilogueAVX512 is epilogueGo in one AVX-512 pass over the block, the
// bias, add and activation applied while each vector is in a register.
func epilogueAVX512(ep *Epilogue, i0, m, j0, n int, c []float32, ldc int) {
	epilogueAsm(ep, i0, m, j0, n, c, ldc, &[4]epilogueAsmFn{
		epilogueNoneAVX512, epilogueReLUAVX512, epilogueGeluAVX512, epilogueQuickGeluAVX512})
}

// epilogueAVX2 is epilogueAVX512 in AVX2 code.
func epilogueAVX2(ep *Epilogue, i0, m, j0, n int, c []float32, ldc int) {
	epilogueAsm(ep, i0, m, j0, n, c, ldc, &[4]epilogueAsmFn{
		epilogueNoneAVX2, epilogueReLUAVX2, epilogueGeluAVX2, epilogueQuickGeluAVX2})
}
