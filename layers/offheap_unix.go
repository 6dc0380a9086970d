//go:build unix

package layers

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// offHeap returns n zeroed float32s outside the Go heap (an anonymous private mapping) that are never
// released. Long-lived weights placed there do not count towards the garbage collector's heap target,
// which would otherwise let the heap grow to twice the model's size between collections.
func offHeap(n int) []float32 {
	if n == 0 {
		return nil
	}
	b, err := unix.Mmap(-1, 0, 4*n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE)
	if err != nil {
		return make([]float32, n)
	}
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(b))), n)
}
