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

// epilogueAVX512 is epilogueGo in one AVX-512 pass over the block, the
// bias, add and activation applied while each vector is in a register.
func epilogueAVX512(ep *Epilogue, i0, m, j0, n int, c []float32, ldc int) {
	if m <= 0 || n <= 0 {
		return
	}
	// The assembly reads and writes unchecked: check the block's corners.
	_ = c[(i0+m-1)*ldc+j0+n-1]
	cp := &c[i0*ldc+j0]
	var rb, cb, ad *float32
	if ep.RowBias != nil {
		_ = ep.RowBias[i0+m-1]
		rb = &ep.RowBias[i0]
	}
	if ep.ColBias != nil {
		_ = ep.ColBias[j0+n-1]
		cb = &ep.ColBias[j0]
	}
	if ep.Add != nil {
		_ = ep.Add[(i0+m-1)*ep.LdAdd+j0+n-1]
		ad = &ep.Add[i0*ep.LdAdd+j0]
	}
	switch ep.Act {
	case ActReLU:
		epilogueReLUAVX512(cp, ldc, m, n, rb, cb, ad, ep.LdAdd)
	case ActGELU:
		epilogueGeluAVX512(cp, ldc, m, n, rb, cb, ad, ep.LdAdd)
	case ActQuickGELU:
		epilogueQuickGeluAVX512(cp, ldc, m, n, rb, cb, ad, ep.LdAdd)
	default:
		epilogueNoneAVX512(cp, ldc, m, n, rb, cb, ad, ep.LdAdd)
	}
}

// epilogueAVX2 applies ep row by row with the AVX2 activations.
func epilogueAVX2(ep *Epilogue, i0, m, j0, n int, c []float32, ldc int) {
	epilogueRows(ep, i0, m, j0, n, c, ldc, geluAVX2, quickGeluAVX2)
}
