package tensor

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"plp/kernels/cuda"
)

// CUDA is the NVIDIA GPU backend: storage is device memory from a caching allocator, and operations are
// queued on one stream (GEMMs through cuBLAS, everything else through plp's PTX kernels), so results are
// ready only after ToHost or Sync. Backward operations and ArgMax run on the host (download, CPU, upload).
//
// Driver failures inside an operation (out of memory, a faulting kernel) panic with a *DeviceError; the
// CLI recovers it with RecoverDeviceError. Methods are safe for concurrent use; they serialise on the stream.
type CUDA struct {
	mu   sync.Mutex
	ctx  *cuda.Context
	blas *cuda.BLAS
	k    *cuda.Kernels
	mem  *cuda.Allocator
	name string
	gcAt uint64 // live bytes at which alloc next forces a collection

	gemmAttention bool // attention through tensor-core GEMMs (TF32/bf16) instead of the fused kernel

	// Uploads of up to stageBytes go through two page-locked buffers in turn: the copy into one runs
	// asynchronously while the caller goes on, and its event says when the buffer may be refilled.
	stage [2]staging
	next  int
}

type staging struct {
	buf  []byte
	done cuda.Event
	used bool
}

const stageBytes = 64 << 20

// DeviceError is a device failure raised inside a Backend operation.
type DeviceError struct {
	Op  string
	Err error
}

func (e *DeviceError) Error() string {
	s := fmt.Sprintf("tensor: %s on GPU: %v", e.Op, e.Err)
	if errors.Is(e.Err, cuda.ErrOutOfMemory) {
		s += " (try a smaller --batch)"
	}
	return s
}

func (e *DeviceError) Unwrap() error { return e.Err }

// RecoverDeviceError turns a *DeviceError panic into *err; use it as `defer tensor.RecoverDeviceError(&err)`.
// Other panics propagate.
func RecoverDeviceError(err *error) {
	if r := recover(); r != nil {
		if de, ok := r.(*DeviceError); ok {
			*err = de
			return
		}
		panic(r)
	}
}

// minComputeCapability is the oldest GPU the PTX targets (sm_70, Volta).
const minComputeCapability = 70

// OpenCUDA opens device ordinal: it loads the driver, checks the GPU, JIT-compiles the kernels and creates
// a cuBLAS handle.
func OpenCUDA(ordinal int) (*CUDA, error) {
	n, err := cuda.DeviceCount()
	if err != nil {
		return nil, err
	}
	if ordinal < 0 || ordinal >= n {
		return nil, fmt.Errorf("tensor: no CUDA device %d (%d found)", ordinal, n)
	}
	info, err := cuda.Describe(ordinal)
	if err != nil {
		return nil, err
	}
	if info.Major*10+info.Minor < minComputeCapability {
		return nil, fmt.Errorf("tensor: unsupported GPU %s: compute capability %d.%d, plp needs 7.0 or newer", info.Name, info.Major, info.Minor)
	}
	ctx, err := cuda.Open(ordinal)
	if err != nil {
		return nil, err
	}
	return NewCUDAOn(ctx, fmt.Sprintf("cuda:%d", ordinal))
}

// NewCUDAOn builds the backend on an open context (a device's, or cuda.NewEmulator's in tests), named name.
func NewCUDAOn(ctx *cuda.Context, name string) (*CUDA, error) {
	unbind, err := ctx.Bind()
	if err != nil {
		return nil, err
	}
	defer unbind()
	k, err := ctx.LoadKernels()
	if err != nil {
		return nil, err
	}
	blas, err := ctx.NewBLAS()
	if err != nil {
		return nil, err
	}
	var stage [2]staging
	for i := range stage {
		if stage[i].buf, err = ctx.HostAlloc(stageBytes); err != nil {
			return nil, err
		}
		if stage[i].done, err = ctx.NewEvent(); err != nil {
			return nil, err
		}
	}
	return &CUDA{ctx: ctx, blas: blas, k: k, mem: ctx.NewAllocator(), name: name, gcAt: gcStep, stage: stage}, nil
}

// Info describes the device.
func (c *CUDA) Info() cuda.DeviceInfo { return c.ctx.Info }

// SetPrecision selects the arithmetic of GEMMs (MatMul, Linear, convolutions): cuda.FP32, or cuda.TF32 /
// cuda.BF16, which round the inputs to TF32 or bfloat16 on tensor cores and accumulate in fp32. Tensors
// stay fp32 in memory either way. With TF32 or bf16, Attention runs on GEMMs too (see attentionGEMM).
func (c *CUDA) SetPrecision(p cuda.Precision) error {
	defer c.enter()()
	if err := c.blas.SetPrecision(p); err != nil {
		return err
	}
	c.gemmAttention = p != cuda.FP32
	return nil
}

// MemStats reports device bytes held by live tensors, cached for reuse, and the peak held.
func (c *CUDA) MemStats() (inUse, cached, peak uint64) { return c.mem.Stats() }

// Timer records an event now; calling the result waits for the work queued in between and returns its
// duration in milliseconds, measured on the device.
func (c *CUDA) Timer() (stop func() (float32, error), err error) {
	defer c.enter()()
	start, err := c.ctx.NewEvent()
	if err != nil {
		return nil, err
	}
	if err := c.ctx.Record(start); err != nil {
		return nil, err
	}
	return func() (float32, error) {
		defer c.enter()()
		end, err := c.ctx.NewEvent()
		if err != nil {
			return 0, err
		}
		if err := c.ctx.Record(end); err != nil {
			return 0, err
		}
		ms, err := c.ctx.Elapsed(start, end)
		c.ctx.DestroyEvent(start)
		c.ctx.DestroyEvent(end)
		return ms, err
	}, nil
}

// enter serialises on the stream and binds the context to this thread; call the result to leave.
func (c *CUDA) enter() func() {
	c.mu.Lock()
	unbind, err := c.ctx.Bind()
	if err != nil {
		c.mu.Unlock()
		panic(&DeviceError{Op: "bind context", Err: err})
	}
	return func() { unbind(); c.mu.Unlock() }
}

// must panics with a *DeviceError for a failed driver call.
func must(op string, err error) {
	if err != nil {
		panic(&DeviceError{Op: op, Err: err})
	}
}

// deviceBlock is one allocation; freed guards against returning it twice (Free, then the GC cleanup).
type deviceBlock struct {
	ptr   cuda.DevicePtr
	size  uint64
	mem   *cuda.Allocator
	freed atomic.Bool
}

func (b *deviceBlock) release() {
	if b.freed.CompareAndSwap(false, true) {
		b.mem.Free(b.ptr, b.size)
	}
}

// deviceStorage is GPU memory holding n float32 values.
type deviceStorage struct {
	blk *deviceBlock
	n   int
}

func (s *deviceStorage) Len() int { return s.n }

var _ Backend = (*CUDA)(nil)

// Name implements Backend.
func (c *CUDA) Name() string { return c.name }

// alloc returns an uninitialised tensor; the caller holds the stream (enter).
func (c *CUDA) alloc(shape ...int) *Tensor {
	n := Numel(shape)
	c.collectIfDue()
	p, size, err := c.mem.Alloc(uint64(4 * max(n, 1)))
	for retry := 0; retry < 2 && errors.Is(err, cuda.ErrOutOfMemory); retry++ {
		// Unreachable tensors return their blocks through GC cleanups, and the Go heap is too small to
		// trigger collections on its own: collect, let the cleanups run, and try again.
		runtime.GC()
		time.Sleep(time.Duration(retry+1) * 10 * time.Millisecond)
		p, size, err = c.mem.Alloc(uint64(4 * max(n, 1)))
	}
	must(fmt.Sprintf("allocate %v", shape), err)
	blk := &deviceBlock{ptr: p, size: size, mem: c.mem}
	st := &deviceStorage{blk: blk, n: n}
	// Blocks return to the cache when their storage is unreachable; all work is on one stream, so a later
	// user of the block is ordered after every kernel that still reads it.
	runtime.AddCleanup(st, func(b *deviceBlock) { b.release() }, blk)
	return NewTensor(c, st, 0, shape)
}

// collectIfDue runs the garbage collector once live device memory has grown by gcStep since the last
// collection: device blocks of unreachable tensors are only returned by GC cleanups, and the small Go
// heap of a GPU run would otherwise rarely trigger a collection. The caller holds the stream.
func (c *CUDA) collectIfDue() {
	in, _, _ := c.mem.Stats()
	if in < c.gcAt {
		return
	}
	runtime.GC()
	runtime.Gosched()
	in, _, _ = c.mem.Stats()
	c.gcAt = in + gcStep
}

// gcStep is how much live device memory may grow between forced collections.
const gcStep = 2 << 30

// ptr is the device address of t's first element.
func (c *CUDA) ptr(t *Tensor) cuda.DevicePtr {
	s, ok := t.st.(*deviceStorage)
	if !ok || t.be != Backend(c) {
		panic(fmt.Sprintf("tensor: %v is not a tensor of %s", t, c.name))
	}
	if s.blk.freed.Load() {
		panic(fmt.Sprintf("tensor: %v used after Free", t))
	}
	return s.blk.ptr + cuda.DevicePtr(4*t.off)
}

// Zeros implements Backend.
func (c *CUDA) Zeros(shape ...int) *Tensor {
	defer c.enter()()
	t := c.alloc(shape...)
	must("Zeros", c.ctx.Fill(c.ptr(t), 0, t.Numel()))
	return t
}

// FromHost implements Backend.
func (c *CUDA) FromHost(data []float32, shape ...int) *Tensor {
	if len(data) != Numel(shape) {
		panic(fmt.Sprintf("tensor: FromHost with %d values for shape %v", len(data), shape))
	}
	defer c.enter()()
	t := c.alloc(shape...)
	n := 4 * len(data)
	if n == 0 || n > stageBytes {
		must("FromHost", c.ctx.Upload(c.ptr(t), data))
		return t
	}
	s := &c.stage[c.next]
	c.next ^= 1
	if s.used {
		must("FromHost", c.ctx.Wait(s.done))
	}
	copy(s.buf, unsafe.Slice((*byte)(unsafe.Pointer(&data[0])), n))
	must("FromHost", c.ctx.UploadBytes(c.ptr(t), s.buf[:n]))
	must("FromHost", c.ctx.Record(s.done))
	s.used = true
	return t
}

// ToHost implements Backend.
func (c *CUDA) ToHost(t *Tensor) []float32 {
	defer c.enter()()
	out := make([]float32, t.Numel())
	must("ToHost", c.ctx.Download(out, c.ptr(t)))
	return out
}

// Sync implements Backend.
func (c *CUDA) Sync() error {
	defer c.enter()()
	return c.ctx.Sync()
}

// Free implements Backend: t's block (shared with its views) returns to the allocator's cache.
func (c *CUDA) Free(t *Tensor) {
	if s, ok := t.st.(*deviceStorage); ok {
		s.blk.release()
	}
}

// ReleaseCache returns cached device blocks to the driver (after waiting for queued work).
func (c *CUDA) ReleaseCache() error {
	defer c.enter()()
	return c.mem.Release()
}

// toCPU copies device tensors to CPU tensors; nil stays nil. The caller holds the stream.
func (c *CUDA) toCPU(ts ...*Tensor) []*Tensor {
	out := make([]*Tensor, len(ts))
	for i, t := range ts {
		if t == nil {
			continue
		}
		h := make([]float32, t.Numel())
		must("download", c.ctx.Download(h, c.ptr(t)))
		out[i] = CPU{}.wrap(h, t.shape...)
	}
	return out
}

// fromCPU uploads a CPU result; nil stays nil. The caller holds the stream.
func (c *CUDA) fromCPU(t *Tensor) *Tensor {
	if t == nil {
		return nil
	}
	d := c.alloc(t.shape...)
	must("upload", c.ctx.Upload(c.ptr(d), host(t)))
	return d
}

// launch1D runs kernel over n threads in blocks of 256. The caller holds the stream.
func (c *CUDA) launch1D(kernel string, n int, args ...any) {
	if n == 0 {
		return
	}
	if n >= 1<<31 {
		panic(fmt.Sprintf("tensor: %s over %d elements exceeds the kernels' 32-bit indexing", kernel, n))
	}
	must(kernel, c.k.Get(kernel).Launch(cuda.Dim3{X: (n + 255) / 256, Y: 1, Z: 1}, cuda.Dim3{X: 256, Y: 1, Z: 1}, 0, args...))
}

// launchRows runs a row kernel (one 256-thread block per row). The caller holds the stream.
func (c *CUDA) launchRows(kernel string, rows int, args ...any) {
	if rows == 0 {
		return
	}
	must(kernel, c.k.Get(kernel).Launch(cuda.Dim3{X: rows, Y: 1, Z: 1}, cuda.Dim3{X: 256, Y: 1, Z: 1}, 0, args...))
}
