//go:build !purego

package cpu

//go:noescape
func packRows8NEON(dst, src *float32, ld, blocks int)

//go:noescape
func packRows12NEON(dst, src *float32, ld, blocks int)

//go:noescape
func packCols8NEON(dst, src *float32, ld, kc int)

//go:noescape
func packCols12NEON(dst, src *float32, ld, kc int)

// packRowsNEON is packRowsGo with full 8- and 12-row panels transposed in registers four columns at a
// time; edge panels and the last kc mod 4 columns run in Go.
func packRowsNEON(dst, src []float32, ld, rows, kc, w int) {
	if blocks := kc / 4; blocks > 0 && rows == w && (w == 8 || w == 12) {
		if w == 8 {
			packRows8NEON(&dst[0], &src[0], ld, blocks)
		} else {
			packRows12NEON(&dst[0], &src[0], ld, blocks)
		}
		done := 4 * blocks
		if done == kc {
			return
		}
		dst, src, kc = dst[done*w:], src[done:], kc-done
	}
	packRowsGo(dst, src, ld, rows, kc, w)
}

// packColsNEON is packColsGo with full 8- and 12-column panels copied in vector code.
func packColsNEON(dst, src []float32, ld, cols, kc, w int) {
	switch {
	case cols == 8 && w == 8:
		packCols8NEON(&dst[0], &src[0], ld, kc)
	case cols == 12 && w == 12:
		packCols12NEON(&dst[0], &src[0], ld, kc)
	default:
		packColsGo(dst, src, ld, cols, kc, w)
	}
}
