package main

import (
	"encoding/json"
	"strings"
	"testing"

	"plp/kernels/cpu"
)

// TestKernelSetReported checks that `plp version` and `plp bench gemm` name the CPU kernel set in use,
// and that PLP_CPU caps it in a fresh process.
func TestKernelSetReported(t *testing.T) {
	out, err := runPLP(t, "version")
	if err != nil || !strings.Contains(out, "CPU kernels: "+cpu.KernelSet()+" ") {
		t.Errorf("plp version printed %q (%v), want the kernel set %s", out, err, cpu.KernelSet())
	}
	out, err = runPLP(t, "bench", "gemm", "--json", "--shapes", "16x16x16", "--iters", "1")
	var g map[string]any
	if err != nil || json.Unmarshal([]byte(strings.TrimSpace(out)), &g) != nil || g["kernel_set"] != cpu.KernelSet() {
		t.Errorf("bench gemm --json printed %q (%v), want kernel_set %q", out, err, cpu.KernelSet())
	}
	b, err := plpProcess([]string{"PLP_CPU=go"}, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(b), "CPU kernels: go ") {
		t.Errorf("PLP_CPU=go plp version printed %q (%v)", b, err)
	}
	b, err = plpProcess([]string{"PLP_CPU=sse9"}, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(b), `PLP_CPU="sse9" is not a kernel set`) {
		t.Errorf("PLP_CPU=sse9 plp version printed %q (%v)", b, err)
	}
}
