package cuda

import (
	"errors"
	"fmt"
	"math/bits"
	"sync"
)

// SizeClass rounds a request up to the block size the allocator hands out: at least 512 bytes, and above
// that one of four steps per power of two (1, 1.25, 1.5, 1.75 × 2^k), so a reused block wastes at most 25%.
func SizeClass(n uint64) uint64 {
	const minBlock = 512
	if n <= minBlock {
		return minBlock
	}
	k := 63 - bits.LeadingZeros64(n-1) // 2^k < n <= 2^(k+1)
	step := uint64(1) << (k - 2)       // a quarter of 2^k
	return (n + step - 1) / step * step
}

// rawMemory is what the allocator caches: MemAlloc/MemFree on a device, or a fake in tests.
type rawMemory interface {
	alloc(n uint64) (DevicePtr, error)
	free(p DevicePtr) error
	sync() error // waits for queued work, so freed blocks are no longer in use
}

// Allocator is a caching device allocator: freed blocks go to a free list per size class and are reused
// by later requests of the same class. All work runs on one stream, so a block freed after queuing a kernel
// that reads it can be handed out again at once: the next user's work is ordered after that kernel.
// When the device runs out of memory the allocator waits for the stream, returns every cached block to the
// driver and tries once more.
type Allocator struct {
	mu     sync.Mutex
	raw    rawMemory
	free   map[uint64][]DevicePtr
	cached uint64 // bytes in free lists
	inUse  uint64 // bytes handed out
	peak   uint64
}

// NewAllocator returns a caching allocator for c's device memory.
func (c *Context) NewAllocator() *Allocator { return newAllocator(ctxMemory{c}) }

func newAllocator(raw rawMemory) *Allocator {
	return &Allocator{raw: raw, free: map[uint64][]DevicePtr{}}
}

type ctxMemory struct{ c *Context }

func (m ctxMemory) alloc(n uint64) (DevicePtr, error) { return m.c.MemAlloc(n) }
func (m ctxMemory) free(p DevicePtr) error            { return m.c.MemFree(p) }
func (m ctxMemory) sync() error                       { return m.c.Sync() }

// Alloc returns a block of at least n bytes and its size class, which Free needs back.
func (a *Allocator) Alloc(n uint64) (DevicePtr, uint64, error) {
	size := SizeClass(n)
	a.mu.Lock()
	defer a.mu.Unlock()
	if l := a.free[size]; len(l) > 0 {
		p := l[len(l)-1]
		a.free[size] = l[:len(l)-1]
		a.cached -= size
		a.use(size)
		return p, size, nil
	}
	p, err := a.raw.alloc(size)
	if err != nil && errors.Is(err, ErrOutOfMemory) && a.cached > 0 {
		if err := a.releaseLocked(); err != nil {
			return 0, 0, err
		}
		p, err = a.raw.alloc(size)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("%w (%d MiB in use by plp)", err, a.inUse>>20)
	}
	a.use(size)
	return p, size, nil
}

func (a *Allocator) use(size uint64) {
	a.inUse += size
	a.peak = max(a.peak, a.inUse)
}

// Free returns a block from Alloc to its free list.
func (a *Allocator) Free(p DevicePtr, size uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.free[size] = append(a.free[size], p)
	a.cached += size
	a.inUse -= size
}

// Release waits for queued work and returns every cached block to the driver.
func (a *Allocator) Release() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.releaseLocked()
}

func (a *Allocator) releaseLocked() error {
	if err := a.raw.sync(); err != nil {
		return err
	}
	var first error
	for size, l := range a.free {
		for _, p := range l {
			if err := a.raw.free(p); err != nil && first == nil {
				first = err
			}
		}
		delete(a.free, size)
	}
	a.cached = 0
	return first
}

// Stats reports bytes handed out, bytes cached in free lists, and the peak of bytes handed out.
func (a *Allocator) Stats() (inUse, cached, peak uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.inUse, a.cached, a.peak
}
