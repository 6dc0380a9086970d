// Command _asm generates amd64 kernels of package kernels/cpu with avo, each
// kind from one description for both instruction sets:
//
//   - the SGEMM micro-kernels (sgemm.go): the AVX2 6×16 and the AVX-512
//     14×32 kernels (A packed, and A read in place by rows), the
//     tile shape, vector width and addressing of A being parameters;
//   - the SGEMM epilogues (epilogue.go): bias, residual and activation on a
//     block of C, AVX2 and AVX-512, with what differs (lane masks, where
//     constants live, rounding and scaling in exp) supplied per ISA.
//
// Regenerate from this folder with
//
//	go run . -out ..
//
// (package kernels/cpu has the same as a go:generate directive, and a test
// that fails when the committed files differ from what this prints).
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/pass"
	"github.com/mmcloughlin/avo/printer"
)

func main() {
	// avo's build package claims the default flag set's names, -out among them.
	fs := flag.NewFlagSet("_asm", flag.ExitOnError)
	out := fs.String("out", "..", "folder the .s files are written to")
	fs.Parse(os.Args[1:])
	for _, f := range files {
		if err := write(filepath.Join(*out, f.name), f.gen); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}

// files lists each generated file and what writes its functions.
var files = []struct {
	name string
	gen  func(ctx *build.Context)
}{
	{"sgemm_avx2_amd64.s", avx2Kernel6x16.write},
	{"sgemm_avx512_amd64.s", avx512Kernel14x32.write},
	{"sgemm_rows_avx512_amd64.s", avx512Kernel14x32Rows.write},
	{"sgemm_rows_avx2_amd64.s", avx2Kernel6x16Rows.write},
	{"epilogue_avx2_amd64.s", func(ctx *build.Context) { writeEpilogues(ctx, avx2Epilogue) }},
	{"epilogue_avx512_amd64.s", func(ctx *build.Context) { writeEpilogues(ctx, avx512Epilogue) }},
}

// write generates the functions of gen into the file path.
func write(path string, gen func(ctx *build.Context)) error {
	ctx := build.NewContext()
	ctx.ConstraintExpr("!purego")
	gen(ctx)

	f, err := os.Create(path)
	if err != nil {
		return err
	}
	// The header names the generator, not os.Args, so that the output does
	// not depend on where it is written.
	cfg := printer.Config{Name: "avo from kernels/cpu/_asm"}
	status := build.Main(&build.Config{
		ErrOut:    os.Stderr,
		MaxErrors: 10,
		Passes:    []pass.Interface{pass.Compile, &pass.Output{Writer: f, Printer: printer.NewGoAsm(cfg)}},
	}, ctx)
	if status != 0 {
		return fmt.Errorf("generating %s failed", path)
	}
	return nil
}
