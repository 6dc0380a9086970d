//go:build amd64

package cuda

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ebitengine/purego"
)

// fakeGemmEx has cublasGemmEx's prototype (cuBLAS 11+) and records what it was called with.
const fakeGemmEx = `
#include <stdint.h>
static int64_t rec[19];
static float ab[2];
static int64_t srec[23];
int fakeGemmEx(void *h, int ta, int tb, int m, int n, int k, const void *alpha, const void *A, int at, int lda,
	const void *B, int bt, int ldb, const void *beta, void *C, int ct, int ldc, int compute, int algo) {
	int64_t v[19] = {(int64_t)(intptr_t)h, ta, tb, m, n, k, 0, (int64_t)(intptr_t)A, at, lda,
		(int64_t)(intptr_t)B, bt, ldb, 0, (int64_t)(intptr_t)C, ct, ldc, compute, algo};
	for (int i = 0; i < 19; i++) rec[i] = v[i];
	ab[0] = *(const float *)alpha;
	ab[1] = *(const float *)beta;
	return 13; /* CUBLAS_STATUS_EXECUTION_FAILED, so the status path is checked too */
}
int fakeStrided(void *h, int ta, int tb, int m, int n, int k, const void *alpha, const void *A, int at, int lda,
	long long sa, const void *B, int bt, int ldb, long long sb, const void *beta, void *C, int ct, int ldc,
	long long sc, int count, int compute, int algo) {
	int64_t v[23] = {(int64_t)(intptr_t)h, ta, tb, m, n, k, 0, (int64_t)(intptr_t)A, at, lda, sa,
		(int64_t)(intptr_t)B, bt, ldb, sb, 0, (int64_t)(intptr_t)C, ct, ldc, sc, count, compute, algo};
	for (int i = 0; i < 23; i++) srec[i] = v[i];
	ab[0] = *(const float *)alpha;
	ab[1] = *(const float *)beta;
	return 0;
}
void fakeStridedRecord(int64_t *out) {
	for (int i = 0; i < 23; i++) out[i] = srec[i];
}
void fakeRecord(int64_t *out, float *scal) {
	for (int i = 0; i < 19; i++) out[i] = rec[i];
	scal[0] = ab[0];
	scal[1] = ab[1];
}
`

// TestGemmExArguments passes a reduced-precision Sgemm through the 19-argument call path into a C function
// with cublasGemmEx's prototype (built with the C compiler when one is installed) and checks every argument.
func TestGemmExArguments(t *testing.T) {
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Skip("no C compiler to build the fake cublasGemmEx")
	}
	dir := t.TempDir()
	src, lib := filepath.Join(dir, "fake.c"), filepath.Join(dir, "libfake.so")
	if err := os.WriteFile(src, []byte(fakeGemmEx), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(cc, "-shared", "-fPIC", "-O1", "-o", lib, src).CombinedOutput(); err != nil {
		t.Skipf("cc failed: %v\n%s", err, out)
	}
	h, err := purego.Dlopen(lib, purego.RTLD_NOW)
	if err != nil {
		t.Fatal(err)
	}
	fn, err := purego.Dlsym(h, "fakeGemmEx")
	if err != nil {
		t.Fatal(err)
	}
	var record func(out *int64, scal *float32)
	purego.RegisterLibFunc(&record, h, "fakeRecord")

	b := &BLAS{c: &Context{}, b: &blasLib{gemmEx: fn, name: "fake"}, h: 0xabc, Lib: "fake"}
	if err := b.SetPrecision(BF16); err != nil {
		t.Fatal(err)
	}
	err = b.Sgemm(Trans, NoTrans, 3, 5, 7, 1.5, 0x1000, 8, 0x2000, 9, -2, 0x3000, 10)
	if e, ok := err.(*Error); !ok || e.Call != "cublasGemmEx" || e.Name != "CUBLAS_STATUS_EXECUTION_FAILED" {
		t.Fatalf("err = %v, want cublasGemmEx failed with CUBLAS_STATUS_EXECUTION_FAILED", err)
	}
	var got [19]int64
	var scal [2]float32
	record(&got[0], &scal[0])
	want := [19]int64{0xabc, 1, 0, 3, 5, 7, 0, 0x1000, 0, 8, 0x2000, 0, 9, 0, 0x3000, 0, 10, computeFast16BF, -1}
	if got != want {
		t.Fatalf("arguments = %v\nwant        %v", got, want)
	}
	if scal != [2]float32{1.5, -2} {
		t.Fatalf("alpha, beta = %v, want [1.5 -2]", scal)
	}

	sfn, err := purego.Dlsym(h, "fakeStrided")
	if err != nil {
		t.Fatal(err)
	}
	var srecord func(out *int64)
	purego.RegisterLibFunc(&srecord, h, "fakeStridedRecord")
	b.b.gemmStridedEx = sfn
	if err := b.SetPrecision(FP32); err != nil {
		t.Fatal(err)
	}
	if err := b.SgemmStridedBatched(NoTrans, Trans, 4, 6, 8, 0.5, 0x1000, 4, 1<<33, 0x2000, 6, 0, 1, 0x3000, 4, 24, 300); err != nil {
		t.Fatal(err)
	}
	var sgot [23]int64
	srecord(&sgot[0])
	swant := [23]int64{0xabc, 0, 1, 4, 6, 8, 0, 0x1000, 0, 4, 1 << 33, 0x2000, 0, 6, 0, 0, 0x3000, 0, 4, 24, 300, compute32F, -1}
	if sgot != swant {
		t.Fatalf("strided arguments = %v\nwant                %v", sgot, swant)
	}
	record(&got[0], &scal[0])
	if scal != [2]float32{0.5, 1} {
		t.Fatalf("strided alpha, beta = %v, want [0.5 1]", scal)
	}
}
