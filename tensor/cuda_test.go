package tensor_test

import (
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"plp/kernels/cuda"
	"plp/tensor"
	"plp/tensor/tensortest"
)

// openCUDAOrSkip returns device 0, or skips with the reason when this machine has no usable GPU.
func openCUDAOrSkip(t testing.TB) *tensor.CUDA {
	be, err := tensor.OpenCUDA(0)
	if err != nil {
		t.Skipf("no CUDA device, skipping GPU test: %v", err)
	}
	return be
}

func TestCUDAConformance(t *testing.T) {
	be := openCUDAOrSkip(t)
	t.Logf("device %s %+v", be.Name(), be.Info())
	tensortest.Run(t, be)
	if err := be.Sync(); err != nil {
		t.Fatal(err)
	}
}

// TestCUDAViewsAndFree checks views into device storage and that freed blocks are reused safely.
func TestCUDAViewsAndFree(t *testing.T) {
	be := openCUDAOrSkip(t)
	x := be.FromHost([]float32{0, 1, 2, 3, 4, 5}, 3, 2)
	v := x.Narrow0(1, 3).Reshape(-1)
	if got := be.ToHost(be.Scale(v, 2, 1)); len(got) != 4 || got[0] != 5 || got[3] != 11 {
		t.Fatalf("Scale of Narrow0 view = %v, want [5 7 9 11]", got)
	}
	for i := 0; i < 100; i++ {
		y := be.Add(x, x)
		be.Free(y)
	}
	if in, _, _ := be.MemStats(); in == 0 {
		t.Fatal("live tensor x holds no device memory")
	}
	if err := be.Sync(); err != nil {
		t.Fatal(err)
	}
}

func TestParseDevice(t *testing.T) {
	_, driverErr := cuda.DeviceCount()
	haveGPU := driverErr == nil
	for _, c := range []struct {
		spec     string
		wantName string // "" when an error is expected
		errHas   string
	}{
		{"cpu", "cpu", ""},
		{" CPU ", "cpu", ""},
		{"tpu", "", "unknown device"},
		{"cuda:x", "", "cuda:N"},
		{"cuda:-1", "", "cuda:N"},
		{"cuda:99", "", ""},
	} {
		be, desc, err := tensor.ParseDevice(c.spec)
		if c.wantName == "" {
			if err == nil {
				t.Errorf("ParseDevice(%q) = %v, want an error", c.spec, desc)
			} else if !strings.Contains(err.Error(), c.errHas) {
				t.Errorf("ParseDevice(%q) error %q lacks %q", c.spec, err, c.errHas)
			}
			continue
		}
		if err != nil || be.Name() != c.wantName || desc != c.wantName {
			t.Errorf("ParseDevice(%q) = %v, %q, %v", c.spec, be, desc, err)
		}
	}
	be, desc, err := tensor.ParseDevice("auto")
	if err != nil {
		t.Fatalf("auto: %v", err)
	}
	if !haveGPU {
		if be.Name() != "cpu" || !strings.HasPrefix(desc, "cpu (auto: ") || !strings.Contains(desc, "driver") {
			t.Errorf("auto without a driver = %s, %q; want cpu with the reason", be.Name(), desc)
		}
		_, _, err := tensor.ParseDevice("cuda")
		if err == nil || !errors.Is(err, cuda.ErrNoDriver) || !strings.Contains(err.Error(), "--device cpu") {
			t.Errorf("cuda without a driver: err = %v, want ErrNoDriver suggesting --device cpu", err)
		}
	} else if !strings.HasSuffix(desc, "(auto)") {
		t.Errorf("auto with a driver = %q", desc)
	}
}

// BenchmarkCUDAAttention reports attention TFLOP/s at ViT sizes (N=257, hd=64), counting 4·N²·hd flops per
// head (QKᵀ and PV): the fused fp32 kernel, and the bf16 path (tensor-core GEMMs around the softmax kernel).
func BenchmarkCUDAAttention(b *testing.B) {
	for _, v := range []struct {
		name string
		prec cuda.Precision
	}{{"fused_fp32", cuda.FP32}, {"gemm_bf16", cuda.BF16}} {
		b.Run(v.name, func(b *testing.B) {
			be := openCUDAOrSkip(b)
			if err := be.SetPrecision(v.prec); err != nil {
				b.Fatal(err)
			}
			const B, N, H, hd = 64, 257, 16, 64
			x := make([]float32, B*N*H*hd)
			for i := range x {
				x[i] = float32(i%17)/17 - 0.5
			}
			q := be.FromHost(x, B, N, H*hd)
			be.Free(be.Attention(q, q, q, H, tensor.AttnOpts{}))
			if err := be.Sync(); err != nil {
				b.Fatal(err)
			}
			stop, err := be.Timer()
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				be.Free(be.Attention(q, q, q, H, tensor.AttnOpts{}))
			}
			ms, err := stop()
			if err != nil {
				b.Fatal(err)
			}
			flops := 4.0 * N * N * hd * H * B * float64(b.N)
			b.ReportMetric(flops/(float64(ms)/1e3)/1e12, "TFLOP/s")
		})
	}
}

// TestCUDAEmulatedConformance runs the conformance table through the CUDA backend on cuda.NewEmulator:
// the real PTX kernels in an interpreter and SGEMM in Go. It checks the kernels' arithmetic and the
// backend's launches (pointers, strides, grid sizes, GEMM operand order) without a GPU.
func TestCUDAEmulatedConformance(t *testing.T) {
	be, err := tensor.NewCUDAOn(cuda.NewEmulator(), "cuda:emulated")
	if err != nil {
		t.Fatal(err)
	}
	// The interpreter runs about 10^7 thread-instructions a second; the ViT-sized attention case alone takes
	// as long as the rest of the table, and the smaller attention cases cover the same kernel paths (bias,
	// causal, odd head widths, partial key tiles).
	skip := map[string]bool{"Attention/B1_q197_k197_H3_hd64_causalfalse_biastrue": true}
	for _, c := range tensortest.Cases() {
		if skip[c.Name] {
			continue
		}
		t.Run(c.Name, func(t *testing.T) { checkCase(t, be, c) })
	}
	if err := be.Sync(); err != nil {
		t.Fatal(err)
	}
}

// checkCase is tensortest.Run's check of one case (same seed, same error measure).
func checkCase(t *testing.T, be tensor.Backend, c tensortest.Case) {
	r := rand.New(rand.NewPCG(1, uint64(len(c.Name))))
	got, want := c.Run(be, r)
	if len(got) != len(want) {
		t.Fatalf("got %d values, want %d", len(got), len(want))
	}
	worst, at := 0.0, -1
	for i := range got {
		d := math.Abs(float64(got[i])-want[i]) / (1 + math.Abs(want[i]))
		if d > worst || math.IsNaN(d) {
			worst, at = d, i
		}
	}
	if worst > c.Tol || math.IsNaN(worst) {
		t.Fatalf("max error %.3g at %d (got %v want %v), tolerance %.3g", worst, at, got[at], want[at], c.Tol)
	}
}

// TestRecoverDeviceError checks that a device failure raised inside an operation becomes an error, with the
// batch-size hint for out-of-memory, and that other panics pass through.
func TestRecoverDeviceError(t *testing.T) {
	run := func(v any) (err error) {
		defer tensor.RecoverDeviceError(&err)
		panic(v)
	}
	oom := &cuda.Error{Call: "cuMemAlloc_v2", Code: 2, Name: "CUDA_ERROR_OUT_OF_MEMORY"}
	err := run(&tensor.DeviceError{Op: "allocate [256 257 4096]", Err: oom})
	if err == nil || !errors.Is(err, cuda.ErrOutOfMemory) || !strings.Contains(err.Error(), "try a smaller --batch") ||
		!strings.Contains(err.Error(), "cuMemAlloc_v2") {
		t.Fatalf("recovered %v", err)
	}
	err = run(&tensor.DeviceError{Op: "Softmax", Err: &cuda.Error{Call: "cuLaunchKernel", Code: 719, Name: "CUDA_ERROR_LAUNCH_FAILED"}})
	if err == nil || strings.Contains(err.Error(), "--batch") {
		t.Fatalf("recovered %v", err)
	}
	defer func() {
		if r := recover(); r != "shape" {
			t.Fatalf("other panic became %v", r)
		}
	}()
	run("shape")
}

// TestCUDAEmulatedGEMMAttention runs the attention cases through the GEMM path that TF32/bf16 precision
// selects. The emulator's GEMMs are fp32, so the conformance tolerances hold and the test checks the
// operand layout, strides, bias, causal mask and chunking of attentionGEMM.
func TestCUDAEmulatedGEMMAttention(t *testing.T) {
	be, err := tensor.NewCUDAOn(cuda.NewEmulator(), "cuda:emulated")
	if err != nil {
		t.Fatal(err)
	}
	if err := be.SetPrecision(cuda.BF16); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range tensortest.Cases() {
		// The ViT-sized case only costs time here: the others cover bias, causal masks and odd widths.
		if strings.HasPrefix(c.Name, "Attention/") && !strings.Contains(c.Name, "q197") {
			n++
			t.Run(c.Name, func(t *testing.T) { checkCase(t, be, c) })
		}
	}
	if n == 0 {
		t.Fatal("no attention cases")
	}
}
