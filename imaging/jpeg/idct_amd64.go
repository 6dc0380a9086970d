//go:build amd64

package jpeg

import "golang.org/x/sys/cpu"

// useAVX2 selects the vector IDCT, which computes the same integer
// arithmetic as idct for eight columns (then rows) at once. It matches
// idct whenever the intermediates fit in 32 bits, which libjpeg's design
// guarantees for 8-bit data (only corrupt coefficients can exceed it).
var useAVX2 = cpu.X86.HasAVX2

// idctAVX2 is idct in AVX2; it also zeroes *in. dst must address 8 rows
// of 8 bytes, stride apart.
//
//go:noescape
func idctAVX2(in *[64]int32, dst *uint8, stride int)

// idctZero runs the inverse DCT and leaves in zeroed.
func idctZero(in *[64]int32, dst []uint8, stride int) {
	if useAVX2 {
		_ = dst[7*stride+7]
		idctAVX2(in, &dst[0], stride)
		return
	}
	idct(in, dst, stride)
	*in = [64]int32{}
}
