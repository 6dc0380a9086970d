package cuda

import (
	"fmt"
	"runtime"
	"sync"
	"unsafe"
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
	gemmEx              uintptr // cublasGemmEx, 19 arguments: called through callC
	gemmStridedEx       uintptr // cublasGemmStridedBatchedEx, 23 arguments: called through callC
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
		if p, err := dlsym(lib, "cublasGemmEx"); err == nil {
			b.gemmEx = p
		}
		if p, err := dlsym(lib, "cublasGemmStridedBatchedEx"); err == nil {
			b.gemmStridedEx = p
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

// Precision selects how fp32 GEMMs compute.
type Precision int

const (
	// FP32 is full single precision (cublasSgemm_v2).
	FP32 Precision = iota
	// TF32 rounds the inputs to TF32 on tensor cores, fp32 accumulation (CUBLAS_COMPUTE_32F_FAST_TF32).
	TF32
	// BF16 rounds the inputs to bfloat16 on tensor cores, fp32 accumulation and fp32 storage
	// (CUBLAS_COMPUTE_32F_FAST_16BF).
	BF16
)

// cublasComputeType_t and cudaDataType_t values (cublas_api.h, library_types.h).
const (
	compute32F      = 68
	computeFastTF32 = 77
	computeFast16BF = 75
	cudaR32F        = 0
	gemmDefault     = -1 // CUBLAS_GEMM_DEFAULT
)

// BLAS is a cuBLAS handle bound to a context's stream.
type BLAS struct {
	c    *Context
	b    *blasLib
	h    uintptr
	prec Precision
	Lib  string // the library file that was loaded
}

// SetPrecision selects the arithmetic of later Sgemm calls. TF32 and BF16 need cublasGemmEx.
func (b *BLAS) SetPrecision(p Precision) error {
	if p != FP32 && b.b.gemmEx == 0 && b.c.emuBLAS == nil {
		return fmt.Errorf("cuda: %s has no cublasGemmEx for reduced-precision GEMMs", b.Lib)
	}
	b.prec = p
	return nil
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
	if b.prec != FP32 && b.b.gemmEx != 0 {
		return b.gemmEx(ta, tb, m, n, k, alpha, a, lda, bm, ldb, beta, c, ldc)
	}
	return checkBLAS("cublasSgemm_v2", b.b.cublasSgemm_v2(b.h, int32(ta), int32(tb), int32(m), int32(n), int32(k),
		&alpha, uint64(a), int32(lda), uint64(bm), int32(ldb), &beta, uint64(c), int32(ldc)))
}

// SgemmStridedBatched runs count Sgemms on operands spaced strideA, strideB and strideC elements apart
// (a stride of 0 shares the operand), in one cublasGemmStridedBatchedEx call with the selected precision.
// Without that entry point (an emulated context) it loops over Sgemm.
func (b *BLAS) SgemmStridedBatched(ta, tb Op, m, n, k int, alpha float32, a DevicePtr, lda int, strideA int,
	bm DevicePtr, ldb int, strideB int, beta float32, c DevicePtr, ldc int, strideC int, count int) error {
	if err := gemmDims(m, n, k, lda, ldb, ldc, count); err != nil {
		return err
	}
	if b.b.gemmStridedEx == 0 {
		for i := 0; i < count; i++ {
			if err := b.Sgemm(ta, tb, m, n, k, alpha, a+DevicePtr(4*i*strideA), lda, bm+DevicePtr(4*i*strideB), ldb,
				beta, c+DevicePtr(4*i*strideC), ldc); err != nil {
				return err
			}
		}
		return nil
	}
	compute := map[Precision]int{FP32: compute32F, TF32: computeFastTF32, BF16: computeFast16BF}[b.prec]
	ab := &[2]float32{alpha, beta}
	i := func(v int) uintptr { return uintptr(uint32(int32(v))) }
	r, err := callC(b.b.gemmStridedEx, b.h, i(int(ta)), i(int(tb)), i(m), i(n), i(k), uintptr(unsafe.Pointer(&ab[0])),
		uintptr(a), cudaR32F, i(lda), uintptr(int64(strideA)), uintptr(bm), cudaR32F, i(ldb), uintptr(int64(strideB)),
		uintptr(unsafe.Pointer(&ab[1])), uintptr(c), cudaR32F, i(ldc), uintptr(int64(strideC)), i(count), i(compute), i(gemmDefault))
	runtime.KeepAlive(ab)
	if err != nil {
		return err
	}
	return checkBLAS("cublasGemmStridedBatchedEx", int32(r))
}

// gemmEx is Sgemm through cublasGemmEx with fp32 storage and a tensor-core compute type.
func (b *BLAS) gemmEx(ta, tb Op, m, n, k int, alpha float32, a DevicePtr, lda int, bm DevicePtr, ldb int, beta float32, c DevicePtr, ldc int) error {
	compute := computeFastTF32
	if b.prec == BF16 {
		compute = computeFast16BF
	}
	ab := &[2]float32{alpha, beta} // heap memory: it does not move during the call
	i := func(v int) uintptr { return uintptr(uint32(int32(v))) }
	r, err := callC(b.b.gemmEx, b.h, i(int(ta)), i(int(tb)), i(m), i(n), i(k), uintptr(unsafe.Pointer(&ab[0])),
		uintptr(a), cudaR32F, i(lda), uintptr(bm), cudaR32F, i(ldb), uintptr(unsafe.Pointer(&ab[1])),
		uintptr(c), cudaR32F, i(ldc), i(compute), i(gemmDefault))
	runtime.KeepAlive(ab)
	if err != nil {
		return err
	}
	return checkBLAS("cublasGemmEx", int32(r))
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
