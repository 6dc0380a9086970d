//go:build !unix

package layers

// offHeap returns n zeroed float32s; without mmap they live on the Go heap.
func offHeap(n int) []float32 { return make([]float32, n) }
