//go:build amd64

package cpu

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestGeneratedAssembly runs the generator in _asm into a temporary folder
// and checks that the committed .s files are what it writes, so that an edit
// of either the description or a generated file alone fails. The first run
// downloads the generator's modules; later runs take them from the cache.
func TestGeneratedAssembly(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the assembly generator (go run, module download)")
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to run the generator: %v", err)
	}
	out := t.TempDir()
	cmd := exec.Command(goCmd, "run", ".", "-out", out)
	cmd.Dir = "_asm"
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go run in _asm: %v\n%s", err, msg)
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 {
		t.Fatal("the generator wrote no files")
	}
	for _, e := range entries {
		want, err := os.ReadFile(filepath.Join(out, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(e.Name())
		if err != nil {
			t.Errorf("%s: generated but not committed: %v", e.Name(), err)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from what _asm generates; run go generate ./kernels/cpu", e.Name())
		}
	}
}
