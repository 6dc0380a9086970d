package tensor

import (
	"fmt"
)

// CPU is the host backend: storage is a Go slice, and every operation completes before it returns.
type CPU struct{}

// hostStorage is CPU memory.
type hostStorage []float32

func (h hostStorage) Len() int { return len(h) }

var _ Backend = CPU{}

// Name implements Backend.
func (CPU) Name() string { return "cpu" }

func (c CPU) wrap(data []float32, shape ...int) *Tensor {
	return NewTensor(c, hostStorage(data), 0, shape)
}

// Zeros implements Backend.
func (c CPU) Zeros(shape ...int) *Tensor { return c.wrap(make([]float32, Numel(shape)), shape...) }

// FromHost implements Backend.
func (c CPU) FromHost(data []float32, shape ...int) *Tensor {
	if len(data) != Numel(shape) {
		panic(fmt.Sprintf("tensor: FromHost with %d values for shape %v", len(data), shape))
	}
	return c.wrap(append([]float32(nil), data...), shape...)
}

// Wrap makes a CPU tensor that aliases data without copying; the caller must not modify data afterwards.
func (c CPU) Wrap(data []float32, shape ...int) *Tensor {
	if len(data) != Numel(shape) {
		panic(fmt.Sprintf("tensor: Wrap with %d values for shape %v", len(data), shape))
	}
	return c.wrap(data, shape...)
}

// ToHost implements Backend.
func (c CPU) ToHost(t *Tensor) []float32 { return append([]float32(nil), host(t)...) }

// Sync implements Backend; CPU work is always complete.
func (CPU) Sync() error { return nil }

// Free implements Backend: results of operations that recycle memory go back to the pool (see
// cpu_pool.go); other memory is the garbage collector's.
func (CPU) Free(t *Tensor) {
	if p, ok := t.st.(*pooledStorage); ok {
		p.release()
	}
}

// host returns the elements of a CPU tensor without copying.
func host(t *Tensor) []float32 {
	switch h := t.st.(type) {
	case hostStorage:
		return h[t.off : t.off+t.Numel()]
	case *pooledStorage:
		return h.pooledData(t)[t.off : t.off+t.Numel()]
	}
	panic(fmt.Sprintf("tensor: %v is not a CPU tensor", t))
}

// Host returns the elements of a CPU tensor without copying, for code that runs on the CPU only
// (losses, metrics). It panics for tensors of other backends.
func Host(t *Tensor) []float32 { return host(t) }
