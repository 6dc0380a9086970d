package main

import (
	"bytes"
	"compress/gzip"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"plp/weights"
)

// testdata/preprocess holds two PNGs and the reference clip224 outputs of
// open_clip/torchvision for them (u8 for both, the float tensor for the
// first).
func TestPreprocessMatchesReference(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.safetensors")
	imgs := []string{"testdata/preprocess/cifar_32x32.png", "testdata/preprocess/tall_7x300.png"}
	if _, err := runApp(t, append([]string{"preprocess", "--transform", "clip224", "--out", out}, imgs...)...); err != nil {
		t.Fatal(err)
	}
	got, err := weights.OpenSafetensors(out)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	ref := openGzipSafetensors(t, "testdata/preprocess/expected_clip224.safetensors.gz", dir)
	defer ref.Close()

	u8, err := got.Tensor("uint8")
	if err != nil {
		t.Fatal(err)
	}
	if u8.DType != weights.U8 || !slices.Equal(u8.Shape, []int{2, 224, 224, 3}) {
		t.Fatalf("uint8: %s %v", u8.DType, u8.Shape)
	}
	pv, err := got.Tensor("pixel_values")
	if err != nil {
		t.Fatal(err)
	}
	if pv.DType != weights.F32 || !slices.Equal(pv.Shape, []int{2, 3, 224, 224}) {
		t.Fatalf("pixel_values: %s %v", pv.DType, pv.Shape)
	}
	const img = 224 * 224 * 3
	for i, name := range []string{"cifar_32x32.png", "tall_7x300.png"} {
		want, err := ref.Tensor("clip224/u8/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(u8.Data[i*img:(i+1)*img], want.Data) {
			t.Errorf("%s: uint8 image differs from the reference", name)
		}
	}
	wantF, err := ref.Tensor("clip224/float/cifar_32x32.png")
	if err != nil {
		t.Fatal(err)
	}
	wf, _ := wantF.Float32()
	gf, _ := pv.Float32()
	for i := range wf {
		if d := math.Abs(float64(gf[i] - wf[i])); d > 1e-6 {
			t.Fatalf("pixel_values[0] flat %d: %v, want %v", i, gf[i], wf[i])
		}
	}
	if m := got.Metadata(); m["transform"] != "clip224" || !strings.Contains(m["images"], "tall_7x300.png") {
		t.Errorf("metadata %v", m)
	}
}

func TestPreprocessErrors(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out.safetensors")
	bad := filepath.Join(dir, "bad.png")
	if err := os.WriteFile(bad, []byte("\x89PNG\r\n\x1a\nnope"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"preprocess", "--out", out}, "missing arguments: want IMAGE..."},
		{[]string{"preprocess", "--transform", "nope", "--out", out, "testdata/preprocess/cifar_32x32.png"}, "unknown transform"},
		{[]string{"preprocess", "--out", out, bad}, "bad.png"},
		{[]string{"preprocess", "--out", out, filepath.Join(dir, "missing.png")}, "missing.png"},
	}
	for _, c := range cases {
		_, err := runApp(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want one mentioning %q", c.args, err, c.want)
		}
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a failed run left an output file")
	}
}

func openGzipSafetensors(t *testing.T, path, dir string) *weights.Safetensors {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(dir, "ref.safetensors")
	if err := os.WriteFile(plain, b, 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := weights.OpenSafetensors(plain)
	if err != nil {
		t.Fatal(err)
	}
	return st
}
