package cuda

import (
	"fmt"
	"sync"
)

// libcublasNames is the dlopen search order: CUDA 13, 12, 11 runtimes.
var libcublasNames = []string{"libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "libcublas.so"}

type blasLib struct {
	cublasCreate_v2     func(h *uintptr) int32
	cublasDestroy_v2    func(h uintptr) int32
	cublasSetStream_v2  func(h uintptr, s uintptr) int32
	cublasSetMathMode   func(h uintptr, mode int32) int32
	cublasGetVersion_v2 func(h uintptr, v *int32) int32
	cublasSgemm_v2      func(h uintptr, ta, tb int32, m, n, k int32, alpha *float32, a uint64, lda int32, b uint64, ldb int32, beta *float32, c uint64, ldc int32) int32
	cublasSgemmBatched  func(h uintptr, ta, tb int32, m, n, k int32, alpha *float32, a uint64, lda int32, b uint64, ldb int32, beta *float32, c uint64, ldc int32, count int32) int32
	name                string
}

var (
	blasOnce sync.Once
	blas     *blasLib
	blasErr  error
)

func loadBLAS() (*blasLib, error) {
	blasOnce.Do(func() {
		lib, name, err := dlopenFirst(libcublasNames)
		if err != nil {
			blasErr = fmt.Errorf("cuda: cuBLAS not available: %v", err)
			return
		}
		b := &blasLib{name: name}
		for _, s := range []struct {
			f    any
			name string
		}{
			{&b.cublasCreate_v2, "cublasCreate_v2"},
			{&b.cublasDestroy_v2, "cublasDestroy_v2"},
			{&b.cublasSetStream_v2, "cublasSetStream_v2"},
			{&b.cublasSetMathMode, "cublasSetMathMode"},
			{&b.cublasGetVersion_v2, "cublasGetVersion_v2"},
			{&b.cublasSgemm_v2, "cublasSgemm_v2"},
			{&b.cublasSgemmBatched, "cublasSgemmBatched"},
		} {
			if err := sym(lib, s.f, s.name); err != nil {
				blasErr = err
				return
			}
		}
		blas = b
	})
	return blas, blasErr
}

// Op says whether a GEMM operand is read transposed (cublasOperation_t).
type Op int32

const (
	NoTrans Op = 0
	Trans   Op = 1
)

// MathMode is a cublasMath_t.
type MathMode int32

const (
	// DefaultMath is full fp32 arithmetic.
	DefaultMath MathMode = 0
	// TF32Math lets fp32 GEMMs use TF32 tensor cores (10-bit mantissa inputs, fp32 accumulation).
	TF32Math MathMode = 3
)

// BLAS is a cuBLAS handle bound to a context's stream.
type BLAS struct {
	c   *Context
	b   *blasLib
	h   uintptr
	Lib string // the library file that was loaded
}

// NewBLAS creates a cuBLAS handle that queues its work on c's stream. The caller must have bound c.
func (c *Context) NewBLAS() (*BLAS, error) {
	b, err := c.emuBLAS, error(nil)
	if b == nil {
		b, err = loadBLAS()
	}
	if err != nil {
		return nil, err
	}
	var h uintptr
	if err := checkBLAS("cublasCreate_v2", b.cublasCreate_v2(&h)); err != nil {
		return nil, err
	}
	if err := checkBLAS("cublasSetStream_v2", b.cublasSetStream_v2(h, uintptr(c.Stream))); err != nil {
		return nil, err
	}
	return &BLAS{c: c, b: b, h: h, Lib: b.name}, nil
}

// SetMathMode selects fp32 or TF32 tensor-op GEMMs.
func (b *BLAS) SetMathMode(m MathMode) error {
	return checkBLAS("cublasSetMathMode", b.b.cublasSetMathMode(b.h, int32(m)))
}

// Version returns cuBLAS's version number.
func (b *BLAS) Version() (int, error) {
	var v int32
	err := checkBLAS("cublasGetVersion_v2", b.b.cublasGetVersion_v2(b.h, &v))
	return int(v), err
}

// Destroy releases the handle.
func (b *BLAS) Destroy() error { return checkBLAS("cublasDestroy_v2", b.b.cublasDestroy_v2(b.h)) }

// Sgemm is column-major C = alpha·op(A)·op(B) + beta·C with C m×n, as cublasSgemm_v2.
func (b *BLAS) Sgemm(ta, tb Op, m, n, k int, alpha float32, a DevicePtr, lda int, bm DevicePtr, ldb int, beta float32, c DevicePtr, ldc int) error {
	if err := gemmDims(m, n, k, lda, ldb, ldc); err != nil {
		return err
	}
	return checkBLAS("cublasSgemm_v2", b.b.cublasSgemm_v2(b.h, int32(ta), int32(tb), int32(m), int32(n), int32(k),
		&alpha, uint64(a), int32(lda), uint64(bm), int32(ldb), &beta, uint64(c), int32(ldc)))
}

// SgemmBatched runs count Sgemms whose operand addresses are read from the device arrays aPtrs, bPtrs and
// cPtrs (count device pointers each), as cublasSgemmBatched.
func (b *BLAS) SgemmBatched(ta, tb Op, m, n, k int, alpha float32, aPtrs DevicePtr, lda int, bPtrs DevicePtr, ldb int, beta float32, cPtrs DevicePtr, ldc int, count int) error {
	if err := gemmDims(m, n, k, lda, ldb, ldc); err != nil {
		return err
	}
	return checkBLAS("cublasSgemmBatched", b.b.cublasSgemmBatched(b.h, int32(ta), int32(tb), int32(m), int32(n), int32(k),
		&alpha, uint64(aPtrs), int32(lda), uint64(bPtrs), int32(ldb), &beta, uint64(cPtrs), int32(ldc), int32(count)))
}

// gemmDims rejects sizes that do not fit cuBLAS's 32-bit int arguments.
func gemmDims(ds ...int) error {
	for _, d := range ds {
		if d < 0 || d > 1<<31-1 {
			return fmt.Errorf("cuda: GEMM dimension %d outside cuBLAS's int range", d)
		}
	}
	return nil
}
