//go:build !amd64

package jpeg

// yccPairsVec has no vector version here: the scalar loop does all pairs.
func yccPairsVec(yr []uint8, cbs, crs []int32, out []uint8, be, bo int32) int {
	return 1
}
