package main

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// TestStaticBuild builds plp as `make build-static` does and checks that the ELF file has no interpreter
// and no dynamic section, so it runs FROM scratch; and that the default build needs nothing but the C
// library. deploy/Dockerfile.static must build the same way.
func TestStaticBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds plp twice")
	}
	if runtime.GOOS != "linux" {
		t.Skip("ELF check on linux only")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	dir := t.TempDir()
	build := func(out string, tags ...string) *elf.File {
		args := []string{"build", "-o", out}
		if len(tags) > 0 {
			args = append(args, "-tags", strings.Join(tags, ","))
		}
		cmd := exec.Command(gobin, append(args, ".")...)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %v: %v\n%s", args, err, b)
		}
		f, err := elf.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	static := build(filepath.Join(dir, "plp-static"), "nocuda")
	for _, p := range static.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("the nocuda build has a %v program header: it is not static", p.Type)
		}
	}
	if s := static.Section(".dynamic"); s != nil {
		t.Error("the nocuda build has a .dynamic section")
	}
	if s := static.Section(".interp"); s != nil {
		t.Error("the nocuda build has an .interp section")
	}

	dyn := build(filepath.Join(dir, "plp"))
	libs, err := dyn.ImportedLibraries()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range libs {
		if !slices.Contains([]string{"libc.so.6", "libdl.so.2", "libpthread.so.0"}, l) {
			t.Errorf("the default build needs %s; it should need only the C library", l)
		}
	}

	b, err := os.ReadFile("../../deploy/Dockerfile.static")
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	for _, want := range []string{"CGO_ENABLED=0", "-tags nocuda", "FROM scratch"} {
		if !strings.Contains(df, want) {
			t.Errorf("deploy/Dockerfile.static lacks %q", want)
		}
	}
	if i := strings.LastIndex(df, "\nFROM "); i < 0 || !strings.HasPrefix(df[i+1:], "FROM scratch") {
		t.Error("deploy/Dockerfile.static's final stage is not FROM scratch")
	}
}
