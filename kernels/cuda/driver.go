package cuda

import (
	"bytes"
	"fmt"
	"math"
	"runtime"
	"sync"
	"unsafe"
)

// driver holds libcuda's entry points. Prototypes follow cuda.h; CUresult is a C enum (int32), handles
// are pointers (uintptr), CUdeviceptr is 64-bit, size_t is uintptr.
type driver struct {
	cuInit                    func(flags uint32) int32
	cuDriverGetVersion        func(v *int32) int32
	cuDeviceGetCount          func(n *int32) int32
	cuDeviceGet               func(dev *int32, ordinal int32) int32
	cuDeviceGetName           func(name *byte, n int32, dev int32) int32
	cuDeviceGetAttribute      func(v *int32, attr int32, dev int32) int32
	cuDeviceTotalMem_v2       func(bytes *uintptr, dev int32) int32
	cuDevicePrimaryCtxRetain  func(ctx *uintptr, dev int32) int32
	cuDevicePrimaryCtxRelease func(dev int32) int32
	cuCtxSetCurrent           func(ctx uintptr) int32
	cuCtxSynchronize          func() int32
	cuMemGetInfo_v2           func(free, total *uintptr) int32
	cuStreamCreate            func(s *uintptr, flags uint32) int32
	cuStreamDestroy_v2        func(s uintptr) int32
	cuStreamSynchronize       func(s uintptr) int32
	cuEventCreate             func(e *uintptr, flags uint32) int32
	cuEventDestroy_v2         func(e uintptr) int32
	cuEventRecord             func(e, s uintptr) int32
	cuEventSynchronize        func(e uintptr) int32
	cuEventElapsedTime        func(ms *float32, start, end uintptr) int32
	cuMemAlloc_v2             func(p *uint64, size uintptr) int32
	cuMemFree_v2              func(p uint64) int32
	cuMemHostAlloc            func(p *unsafe.Pointer, size uintptr, flags uint32) int32
	cuMemFreeHost             func(p unsafe.Pointer) int32
	cuMemcpyHtoDAsync_v2      func(dst uint64, src unsafe.Pointer, n uintptr, s uintptr) int32
	cuMemcpyDtoHAsync_v2      func(dst unsafe.Pointer, src uint64, n uintptr, s uintptr) int32
	cuMemcpyDtoDAsync_v2      func(dst, src uint64, n uintptr, s uintptr) int32
	cuMemsetD32Async          func(dst uint64, v uint32, n uintptr, s uintptr) int32
	cuModuleLoadDataEx        func(m *uintptr, image *byte, nopt uint32, opts *int32, vals *uintptr) int32
	cuModuleUnload            func(m uintptr) int32
	cuModuleGetFunction       func(f *uintptr, m uintptr, name *byte) int32
	cuLaunchKernel            func(f uintptr, gx, gy, gz, bx, by, bz uint32, shared uint32, s uintptr, params *unsafe.Pointer, extra *unsafe.Pointer) int32
}

var (
	loadOnce sync.Once
	drv      *driver
	loadErr  error
)

// libcudaNames is the dlopen search order; libcuda.so is the unversioned development link.
var libcudaNames = []string{"libcuda.so.1", "libcuda.so"}

// load opens libcuda once and calls cuInit(0).
func load() (*driver, error) {
	loadOnce.Do(func() { drv, loadErr = loadDriver(libcudaNames) })
	return drv, loadErr
}

func loadDriver(names []string) (*driver, error) {
	lib, _, err := dlopenFirst(names)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoDriver, err)
	}
	d := &driver{}
	for _, s := range []struct {
		f    any
		name string
	}{
		{&d.cuInit, "cuInit"},
		{&d.cuDriverGetVersion, "cuDriverGetVersion"},
		{&d.cuDeviceGetCount, "cuDeviceGetCount"},
		{&d.cuDeviceGet, "cuDeviceGet"},
		{&d.cuDeviceGetName, "cuDeviceGetName"},
		{&d.cuDeviceGetAttribute, "cuDeviceGetAttribute"},
		{&d.cuDeviceTotalMem_v2, "cuDeviceTotalMem_v2"},
		{&d.cuDevicePrimaryCtxRetain, "cuDevicePrimaryCtxRetain"},
		{&d.cuDevicePrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2"},
		{&d.cuCtxSetCurrent, "cuCtxSetCurrent"},
		{&d.cuCtxSynchronize, "cuCtxSynchronize"},
		{&d.cuMemGetInfo_v2, "cuMemGetInfo_v2"},
		{&d.cuStreamCreate, "cuStreamCreate"},
		{&d.cuStreamDestroy_v2, "cuStreamDestroy_v2"},
		{&d.cuStreamSynchronize, "cuStreamSynchronize"},
		{&d.cuEventCreate, "cuEventCreate"},
		{&d.cuEventDestroy_v2, "cuEventDestroy_v2"},
		{&d.cuEventRecord, "cuEventRecord"},
		{&d.cuEventSynchronize, "cuEventSynchronize"},
		{&d.cuEventElapsedTime, "cuEventElapsedTime_v2|cuEventElapsedTime"}, // _v2 since CUDA 12.8
		{&d.cuMemAlloc_v2, "cuMemAlloc_v2"},
		{&d.cuMemFree_v2, "cuMemFree_v2"},
		{&d.cuMemHostAlloc, "cuMemHostAlloc"},
		{&d.cuMemFreeHost, "cuMemFreeHost"},
		{&d.cuMemcpyHtoDAsync_v2, "cuMemcpyHtoDAsync_v2"},
		{&d.cuMemcpyDtoHAsync_v2, "cuMemcpyDtoHAsync_v2"},
		{&d.cuMemcpyDtoDAsync_v2, "cuMemcpyDtoDAsync_v2"},
		{&d.cuMemsetD32Async, "cuMemsetD32Async"},
		{&d.cuModuleLoadDataEx, "cuModuleLoadDataEx"},
		{&d.cuModuleUnload, "cuModuleUnload"},
		{&d.cuModuleGetFunction, "cuModuleGetFunction"},
		{&d.cuLaunchKernel, "cuLaunchKernel"},
	} {
		if err := sym(lib, s.f, s.name); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNoDriver, err)
		}
	}
	if err := check("cuInit", d.cuInit(0)); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoDriver, err)
	}
	return d, nil
}

// DriverVersion returns the driver's CUDA version as major*1000+minor*10 (e.g. 12040).
func DriverVersion() (int, error) {
	d, err := load()
	if err != nil {
		return 0, err
	}
	var v int32
	if err := check("cuDriverGetVersion", d.cuDriverGetVersion(&v)); err != nil {
		return 0, err
	}
	return int(v), nil
}

// DeviceCount returns the number of CUDA devices; it fails with ErrNoDriver when libcuda is absent.
func DeviceCount() (int, error) {
	d, err := load()
	if err != nil {
		return 0, err
	}
	var n int32
	if err := check("cuDeviceGetCount", d.cuDeviceGetCount(&n)); err != nil {
		return 0, err
	}
	return int(n), nil
}

// DeviceInfo describes one device.
type DeviceInfo struct {
	Ordinal      int
	Name         string
	Major, Minor int    // compute capability
	TotalMem     uint64 // bytes
	SMs          int
}

// Device attribute numbers (CUdevice_attribute).
const (
	attrMultiprocessorCount   = 16
	attrComputeCapabilityMajr = 75
	attrComputeCapabilityMinr = 76
)

// Describe returns the name, compute capability and memory of device ordinal.
func Describe(ordinal int) (DeviceInfo, error) {
	d, err := load()
	if err != nil {
		return DeviceInfo{}, err
	}
	var dev int32
	if err := check("cuDeviceGet", d.cuDeviceGet(&dev, int32(ordinal))); err != nil {
		return DeviceInfo{}, err
	}
	name := make([]byte, 256)
	if err := check("cuDeviceGetName", d.cuDeviceGetName(&name[0], int32(len(name)), dev)); err != nil {
		return DeviceInfo{}, err
	}
	if i := bytes.IndexByte(name, 0); i >= 0 {
		name = name[:i]
	}
	info := DeviceInfo{Ordinal: ordinal, Name: string(name)}
	var v int32
	for _, a := range []struct {
		attr int32
		dst  *int
	}{{attrComputeCapabilityMajr, &info.Major}, {attrComputeCapabilityMinr, &info.Minor}, {attrMultiprocessorCount, &info.SMs}} {
		if err := check("cuDeviceGetAttribute", d.cuDeviceGetAttribute(&v, a.attr, dev)); err != nil {
			return DeviceInfo{}, err
		}
		*a.dst = int(v)
	}
	var mem uintptr
	if err := check("cuDeviceTotalMem_v2", d.cuDeviceTotalMem_v2(&mem, dev)); err != nil {
		return DeviceInfo{}, err
	}
	info.TotalMem = uint64(mem)
	return info, nil
}

// Context is a device's primary context with one stream on which all of plp's work is queued.
type Context struct {
	d      *driver
	dev    int32
	ctx    uintptr
	Stream Stream
	Info   DeviceInfo

	emuBLAS *blasLib // cuBLAS of an emulated context
}

// Stream is a CUDA stream handle.
type Stream uintptr

// Open retains device ordinal's primary context and creates a stream on it.
func Open(ordinal int) (*Context, error) {
	d, err := load()
	if err != nil {
		return nil, err
	}
	info, err := Describe(ordinal)
	if err != nil {
		return nil, err
	}
	c := &Context{d: d, Info: info}
	if err := check("cuDeviceGet", d.cuDeviceGet(&c.dev, int32(ordinal))); err != nil {
		return nil, err
	}
	if err := check("cuDevicePrimaryCtxRetain", d.cuDevicePrimaryCtxRetain(&c.ctx, c.dev)); err != nil {
		return nil, err
	}
	unbind, err := c.Bind()
	if err != nil {
		return nil, err
	}
	defer unbind()
	var s uintptr
	const streamNonBlocking = 1
	if err := check("cuStreamCreate", d.cuStreamCreate(&s, streamNonBlocking)); err != nil {
		return nil, err
	}
	c.Stream = Stream(s)
	return c, nil
}

// Bind locks the calling goroutine to its OS thread and makes c current there; call the returned
// function when done with this batch of driver calls.
func (c *Context) Bind() (unbind func(), err error) {
	runtime.LockOSThread()
	if err := check("cuCtxSetCurrent", c.d.cuCtxSetCurrent(c.ctx)); err != nil {
		runtime.UnlockOSThread()
		return nil, err
	}
	return runtime.UnlockOSThread, nil
}

// Close destroys the stream and releases the primary context. The caller must have bound c.
func (c *Context) Close() error {
	err := check("cuStreamDestroy_v2", c.d.cuStreamDestroy_v2(uintptr(c.Stream)))
	if e := check("cuDevicePrimaryCtxRelease_v2", c.d.cuDevicePrimaryCtxRelease(c.dev)); err == nil {
		err = e
	}
	return err
}

// Sync waits for all work queued on c's stream and reports asynchronous errors (e.g. a faulting kernel).
func (c *Context) Sync() error {
	return check("cuStreamSynchronize", c.d.cuStreamSynchronize(uintptr(c.Stream)))
}

// MemInfo returns free and total device memory in bytes.
func (c *Context) MemInfo() (free, total uint64, err error) {
	var f, t uintptr
	err = check("cuMemGetInfo_v2", c.d.cuMemGetInfo_v2(&f, &t))
	return uint64(f), uint64(t), err
}

// DevicePtr is a device address (CUdeviceptr).
type DevicePtr uint64

// MemAlloc allocates n bytes of device memory (uncached; see Allocator).
func (c *Context) MemAlloc(n uint64) (DevicePtr, error) {
	var p uint64
	if err := check("cuMemAlloc_v2", c.d.cuMemAlloc_v2(&p, uintptr(n))); err != nil {
		return 0, fmt.Errorf("%w (requested %d MiB)", err, n>>20)
	}
	return DevicePtr(p), nil
}

// MemFree releases memory from MemAlloc.
func (c *Context) MemFree(p DevicePtr) error {
	return check("cuMemFree_v2", c.d.cuMemFree_v2(uint64(p)))
}

// HostAlloc allocates n bytes of page-locked host memory, which uploads and downloads can use
// asynchronously at full bandwidth. Release it with HostFree.
func (c *Context) HostAlloc(n int) ([]byte, error) {
	var p unsafe.Pointer
	const hostAllocPortable = 1
	if err := check("cuMemHostAlloc", c.d.cuMemHostAlloc(&p, uintptr(n), hostAllocPortable)); err != nil {
		return nil, err
	}
	return unsafe.Slice((*byte)(p), n), nil
}

// HostFree releases memory from HostAlloc.
func (c *Context) HostFree(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	return check("cuMemFreeHost", c.d.cuMemFreeHost(unsafe.Pointer(&b[0])))
}

// Upload queues a copy of src to dst on the stream. For pageable src the driver stages the data before
// returning, so src may be reused at once.
func (c *Context) Upload(dst DevicePtr, src []float32) error {
	if len(src) == 0 {
		return nil
	}
	var pin runtime.Pinner
	pin.Pin(&src[0])
	defer pin.Unpin()
	return check("cuMemcpyHtoDAsync_v2", c.d.cuMemcpyHtoDAsync_v2(uint64(dst), unsafe.Pointer(&src[0]), uintptr(4*len(src)), uintptr(c.Stream)))
}

// UploadBytes is Upload for raw bytes (index tables, kernel metadata).
func (c *Context) UploadBytes(dst DevicePtr, src []byte) error {
	if len(src) == 0 {
		return nil
	}
	var pin runtime.Pinner
	pin.Pin(&src[0])
	defer pin.Unpin()
	return check("cuMemcpyHtoDAsync_v2", c.d.cuMemcpyHtoDAsync_v2(uint64(dst), unsafe.Pointer(&src[0]), uintptr(len(src)), uintptr(c.Stream)))
}

// Download copies src into dst after all queued work, and waits for it.
func (c *Context) Download(dst []float32, src DevicePtr) error {
	if len(dst) == 0 {
		return c.Sync()
	}
	var pin runtime.Pinner
	pin.Pin(&dst[0])
	defer pin.Unpin()
	if err := check("cuMemcpyDtoHAsync_v2", c.d.cuMemcpyDtoHAsync_v2(unsafe.Pointer(&dst[0]), uint64(src), uintptr(4*len(dst)), uintptr(c.Stream))); err != nil {
		return err
	}
	return c.Sync()
}

// Copy queues a device-to-device copy of n float32 values.
func (c *Context) Copy(dst, src DevicePtr, n int) error {
	if n == 0 {
		return nil
	}
	return check("cuMemcpyDtoDAsync_v2", c.d.cuMemcpyDtoDAsync_v2(uint64(dst), uint64(src), uintptr(4*n), uintptr(c.Stream)))
}

// Fill queues setting n float32 values at dst to v.
func (c *Context) Fill(dst DevicePtr, v float32, n int) error {
	if n == 0 {
		return nil
	}
	return check("cuMemsetD32Async", c.d.cuMemsetD32Async(uint64(dst), math.Float32bits(v), uintptr(n), uintptr(c.Stream)))
}

// Event is a CUDA event, for timing work on the stream.
type Event uintptr

// NewEvent creates an event with timing enabled.
func (c *Context) NewEvent() (Event, error) {
	var e uintptr
	err := check("cuEventCreate", c.d.cuEventCreate(&e, 0))
	return Event(e), err
}

// Record queues e on the stream.
func (c *Context) Record(e Event) error {
	return check("cuEventRecord", c.d.cuEventRecord(uintptr(e), uintptr(c.Stream)))
}

// Elapsed waits for end and returns the milliseconds between two recorded events.
func (c *Context) Elapsed(start, end Event) (float32, error) {
	if err := check("cuEventSynchronize", c.d.cuEventSynchronize(uintptr(end))); err != nil {
		return 0, err
	}
	var ms float32
	err := check("cuEventElapsedTime", c.d.cuEventElapsedTime(&ms, uintptr(start), uintptr(end)))
	return ms, err
}

// Wait blocks until the work queued before e's last Record is done.
func (c *Context) Wait(e Event) error {
	return check("cuEventSynchronize", c.d.cuEventSynchronize(uintptr(e)))
}

// DestroyEvent releases e.
func (c *Context) DestroyEvent(e Event) error {
	return check("cuEventDestroy_v2", c.d.cuEventDestroy_v2(uintptr(e)))
}
