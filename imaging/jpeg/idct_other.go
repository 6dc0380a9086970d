//go:build !amd64

package jpeg

// idctZero runs the inverse DCT and leaves in zeroed.
func idctZero(in *[64]int32, dst []uint8, stride int) {
	idct(in, dst, stride)
	*in = [64]int32{}
}
