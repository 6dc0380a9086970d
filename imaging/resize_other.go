//go:build purego || !amd64

package imaging

var hasResizeAVX512 = false

func vertRowAVX512(dst, src *uint8, stride int, k *int32, n, width int) {
	panic("unreachable")
}

func horizRowAVX512(out, src *uint8, starts, nch *int32, kx *int32, kstride, count int) {
	panic("unreachable")
}
