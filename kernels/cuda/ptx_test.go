package cuda

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ebitengine/purego"
)

var (
	reEntry = regexp.MustCompile(`(?m)^\.visible \.entry (\w+)\(`)
	reReg   = regexp.MustCompile(`\.reg \.\w+ %(\w+?)<(\d+)>;`)
	reUse   = regexp.MustCompile(`%([a-z]+)(\d+)\b`)
	reLabel = regexp.MustCompile(`(?m)^(\w+):`)
	reBra   = regexp.MustCompile(`\bbra (\w+);`)
	reParam = regexp.MustCompile(`\.param \.[\w .]+? (p_\w+)`)
	reParUs = regexp.MustCompile(`\[(p_\w+)`)
)

// TestPTXStatic checks what the driver's JIT would reject without a GPU to run it: the header, every entry
// the Go side looks up, registers used within their declared ranges, branch targets and parameter names
// that exist in the same kernel.
func TestPTXStatic(t *testing.T) {
	for file, entries := range ptxEntries {
		b, err := ptxFS.ReadFile("ptx/" + file)
		if err != nil {
			t.Fatal(err)
		}
		src := string(b)
		for _, h := range []string{".version 7.0\n", ".target sm_70\n", ".address_size 64\n"} {
			if !strings.Contains(src, h) {
				t.Errorf("%s: missing %q", file, strings.TrimSpace(h))
			}
		}
		found := map[string]bool{}
		for _, m := range reEntry.FindAllStringSubmatch(src, -1) {
			found[m[1]] = true
		}
		for _, e := range entries {
			if !found[e] {
				t.Errorf("%s: no .entry %s", file, e)
			}
		}
		if len(found) != len(entries) {
			t.Errorf("%s: %d entries, ptxEntries lists %d", file, len(found), len(entries))
		}
		if strings.Count(src, "{") != strings.Count(src, "}") {
			t.Errorf("%s: unbalanced braces", file)
		}
		// Kernel by kernel: each starts at ".visible .entry".
		locs := reEntry.FindAllStringIndex(src, -1)
		for i, l := range locs {
			end := len(src)
			if i+1 < len(locs) {
				end = locs[i+1][0]
			}
			checkKernel(t, file, src[l[0]:end])
		}
	}
}

func checkKernel(t *testing.T, file, k string) {
	name := reEntry.FindStringSubmatch(k)[1]
	code := stripComments(k)
	limit := map[string]int{}
	for _, m := range reReg.FindAllStringSubmatch(code, -1) {
		n, _ := strconv.Atoi(m[2])
		limit[m[1]] = n
	}
	for _, m := range reUse.FindAllStringSubmatch(code, -1) {
		n, _ := strconv.Atoi(m[2])
		lim, ok := limit[m[1]]
		if !ok {
			t.Errorf("%s %s: register %%%s%s of undeclared class", file, name, m[1], m[2])
		} else if n >= lim {
			t.Errorf("%s %s: register %%%s%s beyond %%%s<%d>", file, name, m[1], m[2], m[1], lim)
		}
	}
	labels := map[string]bool{}
	for _, m := range reLabel.FindAllStringSubmatch(code, -1) {
		if labels[m[1]] {
			t.Errorf("%s %s: label %s defined twice", file, name, m[1])
		}
		labels[m[1]] = true
	}
	for _, m := range reBra.FindAllStringSubmatch(code, -1) {
		if !labels[m[1]] {
			t.Errorf("%s %s: branch to undefined label %s", file, name, m[1])
		}
	}
	params := map[string]bool{}
	for _, m := range reParam.FindAllStringSubmatch(code, -1) {
		params[m[1]] = true
	}
	for _, m := range reParUs.FindAllStringSubmatch(code, -1) {
		if !params[m[1]] {
			t.Errorf("%s %s: parameter %s not declared", file, name, m[1])
		}
	}
	for i, line := range strings.Split(code, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasSuffix(line, "{") || line == "}" || line == ")" || strings.HasSuffix(line, ":") ||
			strings.HasPrefix(line, ".param") || strings.HasPrefix(line, ".visible") {
			continue
		}
		if !strings.HasSuffix(line, ";") {
			t.Errorf("%s %s: line %d %q lacks a semicolon", file, name, i, line)
		}
	}
}

func stripComments(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if i := strings.Index(line, "//"); i >= 0 {
			line = line[:i]
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}

// TestNoDriver checks the error path on machines without libcuda: a clear ErrNoDriver, never a panic.
func TestNoDriver(t *testing.T) {
	if _, err := loadDriver([]string{"libcuda-does-not-exist.so.1"}); !errors.Is(err, ErrNoDriver) {
		t.Fatalf("loadDriver(missing) err = %v, want ErrNoDriver", err)
	} else if !strings.Contains(err.Error(), "libcuda") {
		t.Fatalf("error %q does not name the library", err)
	}
	if _, err := DeviceCount(); err != nil && !errors.Is(err, ErrNoDriver) {
		t.Fatalf("DeviceCount err = %v, want nil or ErrNoDriver", err)
	}
}

func TestErrorNames(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
		oom  bool
	}{
		{check("cuMemAlloc_v2", 2), "cuda: cuMemAlloc_v2 failed: CUDA_ERROR_OUT_OF_MEMORY (2)", true},
		{check("cuModuleLoadDataEx", 218), "cuda: cuModuleLoadDataEx failed: CUDA_ERROR_INVALID_PTX (218)", false},
		{check("cuLaunchKernel", 12345), "cuda: cuLaunchKernel failed: CUresult (12345)", false},
		{checkBLAS("cublasSgemm_v2", 3), "cuda: cublasSgemm_v2 failed: CUBLAS_STATUS_ALLOC_FAILED (3)", true},
		{checkBLAS("cublasCreate_v2", 1), "cuda: cublasCreate_v2 failed: CUBLAS_STATUS_NOT_INITIALIZED (1)", false},
	} {
		if c.err.Error() != c.want {
			t.Errorf("got %q, want %q", c.err, c.want)
		}
		if errors.Is(c.err, ErrOutOfMemory) != c.oom {
			t.Errorf("%q: errors.Is(ErrOutOfMemory) = %v", c.err, !c.oom)
		}
	}
	if check("cuInit", 0) != nil || checkBLAS("cublasCreate_v2", 0) != nil {
		t.Error("success codes became errors")
	}
}

// TestPTXAssembles runs NVIDIA's PTX assembler over every kernel file for the oldest and a current target
// when ptxas is installed (CUDA toolkits ship it); the JIT in the driver accepts what ptxas accepts.
func TestPTXAssembles(t *testing.T) {
	ptxas, err := exec.LookPath("ptxas")
	if err != nil {
		t.Skip("ptxas not installed")
	}
	dir := t.TempDir()
	for file := range ptxEntries {
		src, err := ptxFS.ReadFile("ptx/" + file)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, file)
		if err := os.WriteFile(p, src, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, arch := range []string{"sm_70", "sm_90"} {
			if out, err := exec.Command(ptxas, "-arch="+arch, p, "-o", filepath.Join(dir, file+"."+arch+".cubin")).CombinedOutput(); err != nil {
				t.Errorf("ptxas -arch=%s %s: %v\n%s", arch, file, err, out)
			}
		}
	}
}

// TestSymAlternatives checks that sym takes the first exported of several names and names them all when
// none is exported.
func TestSymAlternatives(t *testing.T) {
	if !Built {
		t.Skip("nocuda build: sym is a stub")
	}
	libc, err := purego.Dlopen("libc.so.6", purego.RTLD_NOW)
	if err != nil {
		t.Skipf("no libc.so.6: %v", err)
	}
	var strlen func(s *byte) uintptr
	if err := sym(libc, &strlen, "plp_no_such_symbol|strlen"); err != nil {
		t.Fatal(err)
	}
	if n := strlen(&[]byte("plp\x00")[0]); n != 3 {
		t.Fatalf("strlen = %d", n)
	}
	if err := sym(libc, &strlen, "plp_no_a|plp_no_b"); err == nil || !strings.Contains(err.Error(), "plp_no_a|plp_no_b") {
		t.Fatalf("err = %v", err)
	}
}
