//go:build !purego

package imaging

import "golang.org/x/sys/cpu"

// The AVX-512 kernels compute the same integer sums as the Go loops; only
// the order of the (associative) int32 additions differs.
var hasResizeAVX512 = cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512VL

//go:noescape
func vertRowAVX512(dst, src *uint8, stride int, k *int32, n, width int)

//go:noescape
func horizRowAVX512(out, src *uint8, starts, nch *int32, kx *int32, kstride, count int)
