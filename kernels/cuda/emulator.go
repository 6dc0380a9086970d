package cuda

import (
	"fmt"
	"math"
	"sync"
	"unsafe"
)

// NewEmulator returns a Context whose device is host memory: kernels run in a PTX interpreter and cuBLAS
// SGEMM in plain Go. It exists to test plp's kernels and the CUDA backend's use of them on machines without
// a GPU; it is thousands of times slower than a GPU and checks no driver ABI.
func NewEmulator() *Context {
	e := &emulator{mods: map[uintptr]map[string]*vmKernel{}, fns: map[uintptr]*vmKernel{}}
	d := &driver{
		cuCtxSetCurrent:     func(uintptr) int32 { return 0 },
		cuCtxSynchronize:    func() int32 { return 0 },
		cuStreamSynchronize: func(uintptr) int32 { return e.status() },
		cuStreamDestroy_v2:  func(uintptr) int32 { return 0 },
		cuDevicePrimaryCtxRelease: func(int32) int32 {
			return 0
		},
		cuMemGetInfo_v2: func(free, total *uintptr) int32 {
			*free, *total = 1<<30, 1<<30
			return 0
		},
		cuMemAlloc_v2: e.alloc,
		cuMemHostAlloc: func(p *unsafe.Pointer, n uintptr, _ uint32) int32 {
			b := make([]byte, n)
			e.mu.Lock()
			e.host = append(e.host, b) // kept reachable, as page-locked memory stays put
			e.mu.Unlock()
			*p = unsafe.Pointer(&b[0])
			return 0
		},
		cuMemFreeHost: func(unsafe.Pointer) int32 { return 0 },
		cuMemFree_v2:  func(uint64) int32 { return 0 },
		cuMemcpyHtoDAsync_v2: func(dst uint64, src unsafe.Pointer, n uintptr, _ uintptr) int32 {
			copy(e.mem.bytes(dst, int(n)), unsafe.Slice((*byte)(src), n))
			return 0
		},
		cuMemcpyDtoHAsync_v2: func(dst unsafe.Pointer, src uint64, n uintptr, _ uintptr) int32 {
			copy(unsafe.Slice((*byte)(dst), n), e.mem.bytes(src, int(n)))
			return 0
		},
		cuMemcpyDtoDAsync_v2: func(dst, src uint64, n uintptr, _ uintptr) int32 {
			copy(e.mem.bytes(dst, int(n)), e.mem.bytes(src, int(n)))
			return 0
		},
		cuMemsetD32Async: func(dst uint64, v uint32, n uintptr, _ uintptr) int32 {
			b := e.mem.bytes(dst, int(4*n))
			for i := 0; i < int(n); i++ {
				putLE(b[4*i:4*i+4], uint64(v))
			}
			return 0
		},
		cuModuleLoadDataEx:  e.loadModule,
		cuModuleUnload:      func(uintptr) int32 { return 0 },
		cuModuleGetFunction: e.getFunction,
		cuLaunchKernel:      e.launch,
		cuEventCreate:       func(ev *uintptr, _ uint32) int32 { *ev = 1; return 0 },
		cuEventDestroy_v2:   func(uintptr) int32 { return 0 },
		cuEventRecord:       func(_, _ uintptr) int32 { return 0 },
		cuEventSynchronize:  func(uintptr) int32 { return 0 },
		cuEventElapsedTime:  func(ms *float32, _, _ uintptr) int32 { *ms = 0; return 0 },
	}
	c := &Context{d: d, Stream: 1, Info: DeviceInfo{Name: "PTX emulator", Major: 7, Minor: 0, TotalMem: 1 << 30, SMs: 1}}
	c.emuBLAS = &blasLib{
		name:                "emulated cuBLAS",
		cublasCreate_v2:     func(h *uintptr) int32 { *h = 1; return 0 },
		cublasDestroy_v2:    func(uintptr) int32 { return 0 },
		cublasSetStream_v2:  func(_, _ uintptr) int32 { return 0 },
		cublasSetMathMode:   func(uintptr, int32) int32 { return 0 },
		cublasGetVersion_v2: func(_ uintptr, v *int32) int32 { *v = 0; return 0 },
		cublasSgemm_v2:      e.sgemm,
	}
	return c
}

type emulator struct {
	mu   sync.Mutex
	mem  vmMemory
	mods map[uintptr]map[string]*vmKernel
	fns  map[uintptr]*vmKernel
	next uintptr
	host [][]byte // "page-locked" host buffers
	err  error    // first kernel fault, reported by the next stream synchronisation
}

func (e *emulator) status() int32 {
	if e.err != nil {
		return 719 // CUDA_ERROR_LAUNCH_FAILED
	}
	return 0
}

func (e *emulator) alloc(p *uint64, n uintptr) int32 {
	e.mu.Lock()
	defer e.mu.Unlock()
	off := (len(e.mem.arena) + 255) / 256 * 256
	e.mem.arena = append(e.mem.arena, make([]byte, off-len(e.mem.arena)+int(n))...)
	*p = vmBase + uint64(off)
	return 0
}

func cString(p *byte) string {
	var b []byte
	for q := unsafe.Pointer(p); *(*byte)(q) != 0; q = unsafe.Add(q, 1) {
		b = append(b, *(*byte)(q))
	}
	return string(b)
}

func (e *emulator) loadModule(m *uintptr, image *byte, _ uint32, _ *int32, _ *uintptr) int32 {
	ks, err := parsePTX(cString(image))
	if err != nil {
		e.err = err
		return 218 // CUDA_ERROR_INVALID_PTX
	}
	e.next++
	e.mods[e.next] = ks
	*m = e.next
	return 0
}

func (e *emulator) getFunction(f *uintptr, m uintptr, name *byte) int32 {
	k, ok := e.mods[m][cString(name)]
	if !ok {
		return 500 // CUDA_ERROR_NOT_FOUND
	}
	e.next++
	e.fns[e.next] = k
	*f = e.next
	return 0
}

func (e *emulator) launch(f uintptr, gx, gy, gz, bx, by, bz uint32, _ uint32, _ uintptr, params *unsafe.Pointer, _ *unsafe.Pointer) int32 {
	k := e.fns[f]
	buf := make([]byte, k.paramSize)
	ps := unsafe.Slice(params, len(k.params))
	for i, p := range k.params {
		copy(buf[p.off:p.off+p.size], unsafe.Slice((*byte)(ps[i]), p.size))
	}
	if err := k.run(&e.mem, buf, [3]int{int(gx), int(gy), int(gz)}, [3]int{int(bx), int(by), int(bz)}); err != nil {
		// A GPU would report the fault at the next synchronisation, without saying where; tests want the
		// interpreter's message at once.
		panic(err)
	}
	return 0
}

// sgemm is column-major C = alpha·op(A)·op(B) + beta·C, accumulated in float64 and rounded once.
func (e *emulator) sgemm(_ uintptr, ta, tb int32, m, n, k int32, alpha *float32, a uint64, lda int32, b uint64, ldb int32, beta *float32, c uint64, ldc int32) int32 {
	ld := func(base uint64, i int) float64 {
		return float64(math.Float32frombits(uint32(le(e.mem.bytes(base+uint64(4*i), 4)))))
	}
	for j := 0; j < int(n); j++ {
		for i := 0; i < int(m); i++ {
			var s float64
			for p := 0; p < int(k); p++ {
				ai := i + p*int(lda) // A(i,p), column-major
				if ta == int32(Trans) {
					ai = p + i*int(lda)
				}
				bi := p + j*int(ldb)
				if tb == int32(Trans) {
					bi = j + p*int(ldb)
				}
				s += ld(a, ai) * ld(b, bi)
			}
			ci := c + uint64(4*(i+j*int(ldc)))
			v := float64(*alpha) * s
			if *beta != 0 {
				v += float64(*beta) * ld(c, i+j*int(ldc))
			}
			putLE(e.mem.bytes(ci, 4), uint64(math.Float32bits(float32(v))))
		}
	}
	return 0
}

// String describes an emulated context's error state, for test logs.
func (e *emulator) String() string {
	return fmt.Sprintf("emulator (%d bytes, err %v)", len(e.mem.arena), e.err)
}
