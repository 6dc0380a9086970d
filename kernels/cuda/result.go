package cuda

import (
	"errors"
	"fmt"
)

// ErrNoDriver is wrapped by Open's error when libcuda cannot be loaded or initialised.
var ErrNoDriver = errors.New("cuda: NVIDIA driver (libcuda.so.1) not available")

// ErrOutOfMemory is wrapped by allocation errors when the device is out of memory.
var ErrOutOfMemory = errors.New("cuda: out of device memory")

// Error is a failed driver or cuBLAS call.
type Error struct {
	Call   string // e.g. "cuMemAlloc_v2"
	Code   int    // CUresult or cublasStatus_t
	Name   string // e.g. "CUDA_ERROR_OUT_OF_MEMORY"
	Detail string // optional, e.g. the JIT error log
}

func (e *Error) Error() string {
	s := fmt.Sprintf("cuda: %s failed: %s (%d)", e.Call, e.Name, e.Code)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Is makes errors.Is(err, ErrOutOfMemory) true for allocation failures.
func (e *Error) Is(target error) bool {
	return target == ErrOutOfMemory && (e.Name == "CUDA_ERROR_OUT_OF_MEMORY" || e.Name == "CUBLAS_STATUS_ALLOC_FAILED")
}

// cuResultNames names the CUresult codes plp is likely to meet (cuda.h, enum cudaError_enum).
var cuResultNames = map[int]string{
	0:   "CUDA_SUCCESS",
	1:   "CUDA_ERROR_INVALID_VALUE",
	2:   "CUDA_ERROR_OUT_OF_MEMORY",
	3:   "CUDA_ERROR_NOT_INITIALIZED",
	4:   "CUDA_ERROR_DEINITIALIZED",
	34:  "CUDA_ERROR_STUB_LIBRARY",
	46:  "CUDA_ERROR_DEVICE_UNAVAILABLE",
	100: "CUDA_ERROR_NO_DEVICE",
	101: "CUDA_ERROR_INVALID_DEVICE",
	102: "CUDA_ERROR_DEVICE_NOT_LICENSED",
	200: "CUDA_ERROR_INVALID_IMAGE",
	201: "CUDA_ERROR_INVALID_CONTEXT",
	209: "CUDA_ERROR_NO_BINARY_FOR_GPU",
	218: "CUDA_ERROR_INVALID_PTX",
	221: "CUDA_ERROR_JIT_COMPILER_NOT_FOUND",
	222: "CUDA_ERROR_UNSUPPORTED_PTX_VERSION",
	300: "CUDA_ERROR_INVALID_SOURCE",
	400: "CUDA_ERROR_INVALID_HANDLE",
	500: "CUDA_ERROR_NOT_FOUND",
	600: "CUDA_ERROR_NOT_READY",
	700: "CUDA_ERROR_ILLEGAL_ADDRESS",
	701: "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES",
	702: "CUDA_ERROR_LAUNCH_TIMEOUT",
	716: "CUDA_ERROR_MISALIGNED_ADDRESS",
	719: "CUDA_ERROR_LAUNCH_FAILED",
	800: "CUDA_ERROR_NOT_PERMITTED",
	801: "CUDA_ERROR_NOT_SUPPORTED",
	803: "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH",
	804: "CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE",
	999: "CUDA_ERROR_UNKNOWN",
}

// cublasStatusNames names cublasStatus_t values (cublas_api.h).
var cublasStatusNames = map[int]string{
	0:  "CUBLAS_STATUS_SUCCESS",
	1:  "CUBLAS_STATUS_NOT_INITIALIZED",
	3:  "CUBLAS_STATUS_ALLOC_FAILED",
	7:  "CUBLAS_STATUS_INVALID_VALUE",
	8:  "CUBLAS_STATUS_ARCH_MISMATCH",
	11: "CUBLAS_STATUS_MAPPING_ERROR",
	13: "CUBLAS_STATUS_EXECUTION_FAILED",
	14: "CUBLAS_STATUS_INTERNAL_ERROR",
	15: "CUBLAS_STATUS_NOT_SUPPORTED",
	16: "CUBLAS_STATUS_LICENSE_ERROR",
}

// check turns a CUresult into nil or an *Error naming call.
func check(call string, r int32) error {
	if r == 0 {
		return nil
	}
	name, ok := cuResultNames[int(r)]
	if !ok {
		name = "CUresult"
	}
	return &Error{Call: call, Code: int(r), Name: name}
}

// checkBLAS turns a cublasStatus_t into nil or an *Error naming call.
func checkBLAS(call string, r int32) error {
	if r == 0 {
		return nil
	}
	name, ok := cublasStatusNames[int(r)]
	if !ok {
		name = "cublasStatus_t"
	}
	return &Error{Call: call, Code: int(r), Name: name}
}
