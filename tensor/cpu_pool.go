package tensor

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// The CPU backend recycles the storage of results the caller frees. A large make() is zeroed on the
// calling goroutine, one serial pass over memory per result that the operation then overwrites anyway;
// on the models' activations that pass was 5–7% of the time, with the other cores idle. Operations that
// write every element of their result take it from newResult, which reuses a freed buffer of the same size
// when there is one. Free marks the storage freed, so a later use of any view of it panics instead of
// reading a recycled buffer.

// pooledStorage is CPU memory that returns to the pool when freed.
type pooledStorage struct {
	data  []float32
	freed atomic.Bool
}

func (p *pooledStorage) Len() int { return len(p.data) }

// Recycling pays off only for buffers whose zeroing costs more than the bookkeeping; smaller results are
// still marked when freed, so that tests on small models catch a use after Free. The pool holds at most
// poolLimit bytes, past which freed buffers are left to the garbage collector.
const (
	poolMinFloats = 1 << 16
	poolLimit     = 1 << 30
)

var resultPool struct {
	mu    sync.Mutex
	free  map[int][][]float32
	bytes int
}

// newResult returns a tensor of the given shape whose elements the caller must all write: its storage may
// be a recycled buffer holding old values.
func (c CPU) newResult(shape ...int) (*Tensor, []float32) {
	n := Numel(shape)
	var d []float32
	resultPool.mu.Lock()
	if l := resultPool.free[n]; n >= poolMinFloats && len(l) > 0 {
		d = l[len(l)-1]
		resultPool.free[n] = l[:len(l)-1]
		resultPool.bytes -= 4 * n
	}
	resultPool.mu.Unlock()
	if d == nil {
		d = make([]float32, n)
	}
	return NewTensor(c, &pooledStorage{data: d}, 0, shape), d
}

// release returns a freed buffer to the pool.
func (p *pooledStorage) release() {
	if !p.freed.CompareAndSwap(false, true) {
		return
	}
	n := len(p.data)
	if n < poolMinFloats {
		return
	}
	resultPool.mu.Lock()
	defer resultPool.mu.Unlock()
	if resultPool.bytes+4*n > poolLimit {
		return
	}
	if resultPool.free == nil {
		resultPool.free = map[int][][]float32{}
	}
	resultPool.free[n] = append(resultPool.free[n], p.data)
	resultPool.bytes += 4 * n
}

// pooledData returns the elements of pooled storage, refusing freed memory.
func (p *pooledStorage) pooledData(t *Tensor) []float32 {
	if p.freed.Load() {
		panic(fmt.Sprintf("tensor: %v used after Free", t))
	}
	return p.data
}

// getScratch returns a buffer of n values from pool, or a new one with room for at least minCap.
// Scratch buffers are written before they are read, so a recycled one needs no zeroing.
func getScratch(pool *sync.Pool, n, minCap int) *[]float32 {
	if b, ok := pool.Get().(*[]float32); ok && cap(*b) >= n {
		*b = (*b)[:n]
		return b
	}
	b := make([]float32, n, max(n, minCap))
	return &b
}
