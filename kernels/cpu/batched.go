package cpu

import (
	"fmt"
	"sync/atomic"
)

// SgemmBatched runs batch independent Sgemm calls with the same shapes and
// scalars: call i uses a[i·strideA:], b[i·strideB:] and c[i·strideC:], as in
// attention, where every head multiplies its own small matrices. The calls
// are shared out whole among Threads() goroutines, which suits many small
// products better than splitting each one.
//
// strideA or strideB may be 0 to reuse one operand for every call; the C
// matrices must not overlap. SgemmBatched panics on the same programming
// errors as Sgemm, and on a negative batch or stride.
func SgemmBatched(transA, transB bool, m, n, k int, alpha float32, a []float32, lda, strideA int, b []float32, ldb, strideB int, beta float32, c []float32, ldc, strideC int, batch int) {
	if batch < 0 || strideA < 0 || strideB < 0 || strideC < 0 {
		panic(fmt.Sprintf("cpu: SgemmBatched: negative batch %d or stride (%d, %d, %d)", batch, strideA, strideB, strideC))
	}
	if batch == 0 || m == 0 || n == 0 {
		return
	}
	if batch > 1 && m > 0 && n > 0 && strideC < (m-1)*ldc+n {
		panic(fmt.Sprintf("cpu: SgemmBatched: strideC=%d makes %d×%d C matrices with stride %d overlap", strideC, m, n, ldc))
	}
	last := batch - 1
	checkSgemm(transA, transB, m, n, k, a[min(last*strideA, len(a)):], lda, b[min(last*strideB, len(b)):], ldb, c[min(last*strideC, len(c)):], ldc)
	if k == 0 || alpha == 0 {
		for i := 0; i < batch; i++ {
			scaleMatrix(m, n, beta, c[i*strideC:], ldc)
		}
		return
	}
	t := min(Threads(), batch)
	if t == 1 || 2*m*n*k*batch < minParallelFlops {
		for i := 0; i < batch; i++ {
			sgemm(kernel, transA, transB, m, n, k, alpha, a[i*strideA:], lda, b[i*strideB:], ldb, beta, c[i*strideC:], ldc)
		}
		return
	}
	var next atomic.Int64
	parallel(t, func(int) {
		for {
			i := int(next.Add(1)) - 1
			if i >= batch {
				return
			}
			gemm(kernel, 1, transA, transB, m, n, k, alpha, a[i*strideA:], lda, b[i*strideB:], ldb, beta, c[i*strideC:], ldc)
		}
	})
}
