package cuda

import (
	"bytes"
	"fmt"
	"math"
	"runtime"
	"unsafe"
)

// Module is loaded PTX: the driver JIT-compiles it for the current device.
type Module struct {
	c   *Context
	mod uintptr
}

// Function is a kernel entry of a Module.
type Function struct {
	c    *Context
	f    uintptr
	Name string
}

// JIT option numbers (CUjit_option).
const (
	jitErrorLogBuffer          = 5
	jitErrorLogBufferSizeBytes = 6
	jitLogBufferSize           = 16 << 10
)

// LoadPTX JIT-compiles PTX text; on failure the error carries the JIT's error log (line numbers included).
func (c *Context) LoadPTX(name, ptx string) (*Module, error) {
	img := append([]byte(ptx), 0)
	errLog := make([]byte, jitLogBufferSize)
	opts := []int32{jitErrorLogBuffer, jitErrorLogBufferSizeBytes}
	// Option values are void*; a size is passed by value in the pointer slot.
	vals := []uintptr{uintptr(unsafe.Pointer(&errLog[0])), uintptr(len(errLog))}
	var pin runtime.Pinner
	pin.Pin(&img[0])
	pin.Pin(&errLog[0])
	pin.Pin(&opts[0])
	pin.Pin(&vals[0])
	defer pin.Unpin()
	var m uintptr
	if err := check("cuModuleLoadDataEx", c.d.cuModuleLoadDataEx(&m, &img[0], uint32(len(opts)), &opts[0], &vals[0])); err != nil {
		if i := bytes.IndexByte(errLog, 0); i >= 0 {
			errLog = errLog[:i]
		}
		if e, ok := err.(*Error); ok {
			e.Detail = fmt.Sprintf("module %s: %s", name, bytes.TrimSpace(errLog))
		}
		return nil, err
	}
	return &Module{c: c, mod: m}, nil
}

// Function looks up a kernel by its .entry name.
func (m *Module) Function(name string) (*Function, error) {
	cname := append([]byte(name), 0)
	var f uintptr
	if err := check("cuModuleGetFunction", m.c.d.cuModuleGetFunction(&f, m.mod, &cname[0])); err != nil {
		if e, ok := err.(*Error); ok {
			e.Detail = name
		}
		return nil, err
	}
	return &Function{c: m.c, f: f, Name: name}, nil
}

// Unload releases the module.
func (m *Module) Unload() error { return check("cuModuleUnload", m.c.d.cuModuleUnload(m.mod)) }

// Dim3 is a grid or block size.
type Dim3 struct{ X, Y, Z int }

// Launch queues f on the stream. Each arg is a kernel parameter in declaration order: DevicePtr (.u64),
// int32/uint32 (.u32/.s32), float32 (.f32), or []uint32 (a .b8 array of 4-byte words, e.g. shapes and
// strides). Launch checks the grid against the device limits the driver enforces.
func (f *Function) Launch(grid, block Dim3, sharedBytes int, args ...any) error {
	for _, d := range []int{grid.X, grid.Y, grid.Z, block.X, block.Y, block.Z} {
		if d <= 0 || d > math.MaxInt32 {
			return fmt.Errorf("cuda: launch %s with grid %v block %v", f.Name, grid, block)
		}
	}
	// Values live in one pinned slab; params[i] points at arg i, as cuLaunchKernel expects.
	slab := make([]uint64, 0, len(args))
	words := make([][]uint32, 0)
	for _, a := range args {
		switch v := a.(type) {
		case DevicePtr:
			slab = append(slab, uint64(v))
		case int32:
			slab = append(slab, uint64(uint32(v)))
		case uint32:
			slab = append(slab, uint64(v))
		case int:
			if v < math.MinInt32 || v > math.MaxInt32 {
				return fmt.Errorf("cuda: launch %s: int argument %d overflows 32 bits", f.Name, v)
			}
			slab = append(slab, uint64(uint32(int32(v))))
		case float32:
			slab = append(slab, uint64(math.Float32bits(v)))
		case []uint32:
			slab = append(slab, 0)
			words = append(words, v)
		default:
			return fmt.Errorf("cuda: launch %s: unsupported argument type %T", f.Name, a)
		}
	}
	params := make([]unsafe.Pointer, len(args))
	var pin runtime.Pinner
	defer pin.Unpin()
	w := 0
	for i, a := range args {
		if _, ok := a.([]uint32); ok {
			ws := words[w]
			w++
			if len(ws) == 0 {
				return fmt.Errorf("cuda: launch %s: empty word array", f.Name)
			}
			pin.Pin(&ws[0])
			params[i] = unsafe.Pointer(&ws[0])
			continue
		}
		pin.Pin(&slab[i])
		params[i] = unsafe.Pointer(&slab[i])
	}
	var pp *unsafe.Pointer
	if len(params) > 0 {
		pin.Pin(&params[0])
		pp = &params[0]
	}
	r := f.c.d.cuLaunchKernel(f.f, uint32(grid.X), uint32(grid.Y), uint32(grid.Z), uint32(block.X), uint32(block.Y), uint32(block.Z),
		uint32(sharedBytes), uintptr(f.c.Stream), pp, nil)
	if err := check("cuLaunchKernel", r); err != nil {
		if e, ok := err.(*Error); ok {
			e.Detail = fmt.Sprintf("%s grid %v block %v", f.Name, grid, block)
		}
		return err
	}
	return nil
}
