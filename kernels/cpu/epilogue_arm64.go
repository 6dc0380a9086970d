//go:build !purego

package cpu

//go:noescape
func epilogueNoneNEON(c *float32, ldc, m, n int, rowBias, colBias, add *float32, ldAdd int)

//go:noescape
func epilogueReLUNEON(c *float32, ldc, m, n int, rowBias, colBias, add *float32, ldAdd int)

//go:noescape
func epilogueGeluNEON(c *float32, ldc, m, n int, rowBias, colBias, add *float32, ldAdd int)

//go:noescape
func epilogueQuickGeluNEON(c *float32, ldc, m, n int, rowBias, colBias, add *float32, ldAdd int)

// epilogueNEON is epilogueGo in one NEON pass over the block, the bias, add and activation applied
// while each vector is in a register.
func epilogueNEON(ep *Epilogue, i0, m, j0, n int, c []float32, ldc int) {
	epilogueAsm(ep, i0, m, j0, n, c, ldc, &[4]epilogueAsmFn{
		epilogueNoneNEON, epilogueReLUNEON, epilogueGeluNEON, epilogueQuickGeluNEON})
}
