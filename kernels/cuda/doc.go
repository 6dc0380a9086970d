// Package cuda binds the NVIDIA driver API (libcuda) and cuBLAS at run time, without cgo or CUDA headers,
// and carries plp's PTX kernels.
//
// The libraries are opened with dlopen when Open is first called, so a binary built with CGO_ENABLED=0 runs
// on machines without a GPU; there Open returns an error wrapping ErrNoDriver. Every driver and cuBLAS call
// is checked, and a failure becomes an *Error naming the call and the CUresult or cublasStatus_t.
//
// Driver calls act on the context current on the calling OS thread. Context.Bind locks the goroutine to its
// thread and makes the context current; callers bind around each batch of calls.
//
// cuBLAS entry points are reached through purego, which passes at most 15 arguments; cublasGemmEx (19) and
// cublasGemmStridedBatchedEx (23), which give TF32 and bf16 tensor-core GEMMs on fp32 data, go through a
// small amd64 trampoline that calls C the way purego does, on the system stack through runtime.cgocall.
//
// NewEmulator is a Context whose device is host memory and whose kernels run in a PTX interpreter, so the
// kernels and the backends built on them are tested on machines without a GPU.
package cuda
