package main

import (
	"bytes"
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"plp/weights"
)

// testdata/convert holds PyTorch checkpoints and, as <file>.safetensors, every tensor each must yield
// (reference outputs of PyTorch: full paths, e.g. model/module.blocks.0.norm1.weight).
const convertDir = "testdata/convert"

func TestConvertRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		args  []string
		ref   func(name string) string // reference key of an output name
		n     int
		dtype string
	}{
		{"flat state dict", "state_zip.pt", nil, func(n string) string { return n }, 24, ""},
		{"torchscript", "scripted.pt", nil, func(n string) string { return n }, 14, ""},
		{"nested auto", "nested_ckpt.pth", nil, func(n string) string { return "model/" + n }, 20, ""},
		{"nested key strip", "nested_ckpt.pth", []string{"--key", "model", "--strip-prefix", "module."}, func(n string) string { return "model/module." + n }, 20, ""},
		{"nested all", "nested_ckpt.pth", []string{"--all"}, func(n string) string { return n }, 80, ""},
		{"optimizer state", "nested_ckpt.pth", []string{"--key", "optimizer/state/0"}, func(n string) string { return "optimizer/state/0/" + n }, 3, ""},
		{"keep f16 as f16", "scripted.pt", []string{"--dtype", "f16"}, func(n string) string { return n }, 14, "f16"},
		{"to bf16", "state_zip.pt", []string{"--dtype", "bf16"}, func(n string) string { return n }, 24, "bf16"},
		{"to f32", "state_zip.pt", []string{"--dtype", "f32"}, func(n string) string { return n }, 24, "f32"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.safetensors")
			args := append([]string{"convert"}, tc.args...)
			msg, err := runApp(t, append(args, filepath.Join(convertDir, tc.in), out)...)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(msg, "wrote ") {
				t.Errorf("output %q", msg)
			}
			ref, err := weights.OpenSafetensors(filepath.Join(convertDir, tc.in+".safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			defer ref.Close()
			got, err := weights.OpenSafetensors(out)
			if err != nil {
				t.Fatal(err)
			}
			defer got.Close()
			if len(got.Names()) != tc.n {
				t.Fatalf("%d tensors, want %d: %v", len(got.Names()), tc.n, got.Names())
			}
			for _, name := range got.Names() {
				g, err := got.Tensor(name)
				if err != nil {
					t.Fatal(err)
				}
				w, err := ref.Tensor(tc.ref(name))
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if !slices.Equal(g.Shape, w.Shape) {
					t.Fatalf("%s: shape %v, want %v", name, g.Shape, w.Shape)
				}
				want := w
				if tc.dtype != "" {
					target := map[string]weights.DType{"f16": weights.F16, "bf16": weights.BF16, "f32": weights.F32}[tc.dtype]
					if want, err = convertFloat(w, target); err != nil {
						t.Fatal(err)
					}
				}
				if g.DType != want.DType || !bytes.Equal(g.Data, want.Data) {
					t.Errorf("%s: %s data differs from reference %s", name, g.DType, want.DType)
				}
			}
		})
	}
}

func TestConvertErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{filepath.Join(convertDir, "state_zip.pt")}, "missing arguments: want IN OUT.safetensors"},
		{[]string{"--dtype", "f8", filepath.Join(convertDir, "state_zip.pt"), filepath.Join(dir, "a")}, `--dtype "f8"`},
		{[]string{"--key", "nope", filepath.Join(convertDir, "nested_ckpt.pth"), filepath.Join(dir, "b")}, `key "nope" not found`},
		{[]string{filepath.Join(dir, "missing.pt"), filepath.Join(dir, "c")}, "missing.pt"},
		{[]string{"--key", "x", "testdata/tiny.safetensors", filepath.Join(dir, "d")}, "not a PyTorch checkpoint"},
		{[]string{"--strip-prefix", "b.", "--strip-prefix", "a.", "testdata/tiny.safetensors", filepath.Join(dir, "e")}, ""},
	}
	for _, tc := range tests {
		if tc.want == "" {
			continue
		}
		_, err := runApp(t, append([]string{"convert"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("convert %v: error %v, want %q", tc.args, err, tc.want)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("failed conversions left %d files", len(ents))
	}
}

// runSplit runs plp and returns its stdout and stderr apart.
func runSplit(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	app := newApp()
	var out, errOut bytes.Buffer
	app.Writer, app.ErrWriter = &out, &errOut
	err = app.Run(context.Background(), append([]string{"plp"}, args...))
	return out.String(), errOut.String(), err
}

// TestConvertIntoFolder writes OUT/<IN's stem>.safetensors when OUT is a folder, as cp does, and still
// refuses to replace an existing output without --overwrite.
func TestConvertIntoFolder(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(convertDir, "state_zip.pt")
	out, _, err := runSplit(t, "convert", in, dir)
	want := filepath.Join(dir, "state_zip.safetensors")
	if err != nil || !strings.Contains(out, "to "+want) {
		t.Fatalf("convert into a folder: %v\n%s", err, out)
	}
	st, err := weights.OpenSafetensors(want)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(st.Names()); n != 24 {
		t.Errorf("%d tensors, want 24", n)
	}
	st.Close()
	if _, _, err := runSplit(t, "convert", in, dir); err == nil || !strings.Contains(err.Error(), want+" already exists") {
		t.Errorf("second run: %v, want a refusal naming %s", err, want)
	}
	if _, _, err := runSplit(t, "convert", "--overwrite", in, dir); err != nil {
		t.Errorf("--overwrite: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("folder holds %d entries, want the one output", len(ents))
	}
}

// TestConvertStripSafetensors strips prefixes from a safetensors file's names, keeping the data.
func TestConvertStripSafetensors(t *testing.T) {
	out := filepath.Join(t.TempDir(), "stripped.safetensors")
	if _, _, err := runSplit(t, "convert", "--strip-prefix", "b.", inspectTiny, out); err != nil {
		t.Fatal(err)
	}
	got, err := weights.OpenSafetensors(out)
	if err != nil {
		t.Fatal(err)
	}
	defer got.Close()
	ref, err := weights.OpenSafetensors(inspectTiny)
	if err != nil {
		t.Fatal(err)
	}
	defer ref.Close()
	if names := got.Names(); !slices.Equal(names, []string{"a.ids", "scale", "weight"}) {
		t.Fatalf("names %v", names)
	}
	g, _ := got.Tensor("weight")
	w, _ := ref.Tensor("b.weight")
	if !bytes.Equal(g.Data, w.Data) || !slices.Equal(g.Shape, w.Shape) || g.DType != w.DType {
		t.Errorf("weight differs from b.weight")
	}
	// Two names that become one are refused.
	if _, _, err := runSplit(t, "convert", "--strip-prefix", "b.", "--strip-prefix", "weight", "--strip-prefix", "a.ids", inspectTiny,
		filepath.Join(t.TempDir(), "x.safetensors")); err == nil || !strings.Contains(err.Error(), "two tensors are named") {
		t.Errorf("colliding names: %v", err)
	}
}

// TestStateDictNote: convert and inspect of a nested checkpoint say on stderr which state dict they took
// and what else --key could pick; a bare state dict gets no note.
func TestStateDictNote(t *testing.T) {
	nested := filepath.Join(convertDir, "nested_ckpt.pth")
	want := nested + `: using the state dict "model"; the file also holds optimizer/state/{0…19}: --key picks one`
	for _, args := range [][]string{
		{"convert", nested, filepath.Join(t.TempDir(), "o.safetensors")},
		{"inspect", nested},
		{"inspect", "--json", nested},
	} {
		stdout, stderr, err := runSplit(t, args...)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(stderr, want) || strings.Contains(stdout, "using the state dict") {
			t.Errorf("plp %v: stderr %q, want %q (and stdout free of it)", args, stderr, want)
		}
	}
	for _, args := range [][]string{
		{"convert", "--key", "model", nested, filepath.Join(t.TempDir(), "o.safetensors")},
		{"inspect", filepath.Join(convertDir, "state_zip.pt")},
	} {
		if _, stderr, err := runSplit(t, args...); err != nil || stderr != "" {
			t.Errorf("plp %v: %v, stderr %q; want no note", args, err, stderr)
		}
	}
	if got := collapseIndexed([]string{"a", "s/0", "s/1", "b/0", "b/1", "b/2", "c"}); !slices.Equal(got, []string{"a", "s/0", "s/1", "b/{0…2}", "c"}) {
		t.Errorf("collapseIndexed: %q", got)
	}
}

// TestFloatRounding checks round-to-nearest-even at the edges of binary16 and bfloat16.
func TestFloatRounding(t *testing.T) {
	half := []struct {
		in   float32
		want uint16
	}{
		{1, 0x3c00}, {-2, 0xc000}, {float32(math.Copysign(0, -1)), 0x8000}, {65504, 0x7bff},
		{65519.99, 0x7bff}, {65520, 0x7c00}, {1e10, 0x7c00}, {float32(math.Inf(-1)), 0xfc00},
		{1 + 1.0/2048, 0x3c00}, {1 + 3.0/2048, 0x3c02}, {1 + 1.5/2048, 0x3c01},
		{0x1p-24, 0x0001}, {0x1p-25, 0x0000}, {0x3p-26, 0x0001}, {0x1p-14, 0x0400}, {0x1.ff8p-15, 0x03ff}, {0x1.ffcp-15, 0x0400}, {0x1.ff4p-15, 0x03fe},
		{0x1p-26, 0}, {float32(math.NaN()), 0x7e00},
	}
	for _, c := range half {
		if got := float32ToHalf(c.in); got != c.want {
			t.Errorf("half(%g) = %#04x, want %#04x", c.in, got, c.want)
		}
	}
	// Every finite half survives the round trip through float32.
	for h := uint16(0); h < 0x7c00; h++ {
		for _, s := range []uint16{0, 0x8000} {
			if got := float32ToHalf(weights.HalfToFloat32(h | s)); got != h|s {
				t.Fatalf("half %#04x round-trips to %#04x", h|s, got)
			}
		}
	}
	bf := []struct {
		in   uint32
		want uint16
	}{
		{0x3f800000, 0x3f80}, {0x3f808000, 0x3f80}, {0x3f818000, 0x3f82}, {0x3f808001, 0x3f81},
		{0x7f7fffff, 0x7f80}, {0x7fc00001, 0x7fc0}, {0x7f800001, 0x7fc0}, {0x80000000, 0x8000},
	}
	for _, c := range bf {
		if got := float32ToBFloat16(math.Float32frombits(c.in)); got != c.want {
			t.Errorf("bf16(%#08x) = %#04x, want %#04x", c.in, got, c.want)
		}
	}
}
