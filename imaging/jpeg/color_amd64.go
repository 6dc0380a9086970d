//go:build amd64

package jpeg

// yccRowH2AVX2 converts blocks×16 pixels of a fusedH2 row: y points at the
// first luma sample (of an even column 2j), cbs and crs at the chroma sums
// of pair j; it reads sums j-1 .. j+8*blocks and writes 48 bytes a block.
//
//go:noescape
func yccRowH2AVX2(y *uint8, cbs, crs *int32, out *uint8, blocks int, be, bo int32)

// yccPairsVec converts the interior pixel pairs 1, 2, ... of a fusedH2 row
// as far as whole vector blocks go, and returns the first pair left for
// the scalar loop (1 when it did nothing).
func yccPairsVec(yr []uint8, cbs, crs []int32, out []uint8, be, bo int32) int {
	if !useAVX2 {
		return 1
	}
	n, w := len(cbs), len(yr)
	// A block from pair j needs sums up to j+8 <= n-1, luma up to
	// 2j+15 <= w-1 and output up to 6j+47 < len(out).
	last := min(n-9, (w-16)/2, (len(out)-48)/6)
	if last < 1 || len(crs) < n {
		return 1
	}
	blocks := (last-1)/8 + 1
	yccRowH2AVX2(&yr[2], &cbs[1], &crs[1], &out[6], blocks, be, bo)
	return 1 + 8*blocks
}
