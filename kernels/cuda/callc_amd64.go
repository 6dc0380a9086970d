package cuda

import (
	"fmt"
	"unsafe"
)

// purego passes at most 15 arguments; cublasGemmEx takes 19. callC calls a C function with up to 24
// integer-class arguments (ints and pointers; no floats by value) through runtime.cgocall, as purego does.

//go:linkname runtimeCgocall runtime.cgocall
func runtimeCgocall(fn uintptr, arg unsafe.Pointer) int32

var callC24ABI0 uintptr

type callFrame struct {
	fn   uintptr
	args [24]uintptr
	ret  uintptr
}

// callC calls fn(args...) and returns its integer result. Pointers among args must reference memory that
// stays put (heap or pinned) and alive for the call.
func callC(fn uintptr, args ...uintptr) (uintptr, error) {
	if len(args) > 24 {
		return 0, fmt.Errorf("cuda: callC with %d arguments", len(args))
	}
	f := new(callFrame) // on the heap: the frame is read on the system stack
	f.fn = fn
	copy(f.args[:], args)
	runtimeCgocall(callC24ABI0, unsafe.Pointer(f))
	return f.ret, nil
}
