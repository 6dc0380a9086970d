//go:build (amd64 || arm64) && !purego

package cpu

// An epilogueAsm kernel applies an Epilogue to the m×n block at c, each term's pointer at the block's
// first element or nil; see epilogueAsm.
type epilogueAsmFn func(c *float32, ldc, m, n int, rowBias, colBias, add *float32, ldAdd int)

// epilogueAsm applies ep to the block with the kernel for its activation, fns indexed by Act.
func epilogueAsm(ep *Epilogue, i0, m, j0, n int, c []float32, ldc int, fns *[4]epilogueAsmFn) {
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
	fns[ep.Act](cp, ldc, m, n, rb, cb, ad, ep.LdAdd)
}
