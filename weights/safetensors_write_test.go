package weights

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestEncodeSafetensorsReferenceBytes compares the encoding byte for byte with what the reference
// safetensors serializer produces for the same input.
func TestEncodeSafetensorsReferenceBytes(t *testing.T) {
	f32 := []float32{0, 1, 2, 3, 4, 5}
	tests := []struct {
		name    string
		tensors []*Tensor
		meta    map[string]string
		want    []byte
	}{
		{"empty", nil, nil, []byte{8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32}},
		{"metadata only", nil, map[string]string{"framework": "pt"}, []byte{
			40, 0, 0, 0, 0, 0, 0, 0, 123, 34, 95, 95, 109, 101, 116, 97, 100, 97, 116, 97, 95,
			95, 34, 58, 123, 34, 102, 114, 97, 109, 101, 119, 111, 114, 107, 34, 58, 34, 112,
			116, 34, 125, 125, 32, 32, 32, 32, 32}},
		{"aligned header", []*Tensor{FromFloat32("attn.0", []int{1, 2, 3}, f32)}, nil, []byte{
			64, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 46, 48, 34, 58, 123, 34, 100,
			116, 121, 112, 101, 34, 58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34,
			58, 91, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102, 115,
			101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 0, 0, 0, 0, 0, 0, 128, 63,
			0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64}},
		{"padded header", []*Tensor{FromFloat32("attn0", []int{1, 1, 2, 3}, f32)}, nil, []byte{
			72, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 48, 34, 58, 123, 34, 100, 116,
			121, 112, 101, 34, 58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34, 58,
			91, 49, 44, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102,
			115, 101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 32, 32, 32, 32, 32,
			32, 32, 0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0,
			160, 64}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := EncodeSafetensors(&buf, tc.tensors, tc.meta); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf.Bytes(), tc.want) {
				t.Errorf("got\n%q\nwant\n%q", buf.Bytes(), tc.want)
			}
		})
	}
}

func TestWriteSafetensorsRoundTrip(t *testing.T) {
	f64 := []float64{math.Pi, -0.0, math.Inf(-1), math.SmallestNonzeroFloat64, math.MaxFloat64, 1e-300}
	i64 := []int64{math.MinInt64, -1, 0, 1, math.MaxInt64, 42}
	f32 := make([]float32, 3*5)
	for i := range f32 {
		f32[i] = float32(i)*0.25 - 1
	}
	f16 := &Tensor{Name: "half", DType: F16, Shape: []int{3}, Data: []byte{0x00, 0x3c, 0x01, 0x00, 0x00, 0xfc}}
	tensors := []*Tensor{
		FromFloat32("model.w", []int{3, 5}, f32),
		f16, // 6 bytes: the following tensors are no longer 8-byte aligned, which the format allows
		FromFloat64("f64", []int{2, 3}, f64),
		FromInt64("ids", []int{6}, i64),
		FromFloat32("scalar", []int{}, []float32{2.5}),
		FromFloat32("empty", []int{0, 4}, nil),
		FromInt64("<weird> & \"name\" é", []int{1, 1}, []int64{7}),
	}
	meta := map[string]string{"format": "pt", "note": "a \"quoted\" <value> é\n", "": ""}
	path := filepath.Join(t.TempDir(), "out.safetensors")
	if err := WriteSafetensors(path, tensors, meta); err != nil {
		t.Fatal(err)
	}
	s, err := OpenSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.HeaderLen()%8 != 0 {
		t.Errorf("header length %d is not a multiple of 8", s.HeaderLen())
	}
	if !equalMaps(s.Metadata(), meta) {
		t.Errorf("metadata %v, want %v", s.Metadata(), meta)
	}
	entries := s.Entries()
	if len(entries) != len(tensors) {
		t.Fatalf("%d tensors, want %d", len(entries), len(tensors))
	}
	for i, want := range tensors {
		if entries[i].Name != want.Name { // written back to back in the given order
			t.Errorf("tensor %d is %q, want %q", i, entries[i].Name, want.Name)
		}
		got, err := s.Tensor(want.Name)
		if err != nil {
			t.Fatal(err)
		}
		if got.DType != want.DType || !slices.Equal(got.Shape, want.Shape) || !bytes.Equal(got.Data, want.Data) {
			t.Errorf("%q: got %s %v %x, want %s %v %x", want.Name, got.DType, got.Shape, got.Data, want.DType, want.Shape, want.Data)
		}
	}
	// Values decode back to what went in, bit for bit.
	checks := []struct {
		name string
		f32  []float32
		i64  []int64
	}{
		{"model.w", f32, nil},
		{"ids", nil, i64},
		{"scalar", []float32{2.5}, nil},
		{"empty", []float32{}, nil},
		{"half", []float32{1, 0x1p-24, float32(math.Inf(-1))}, nil},
	}
	for _, c := range checks {
		tt, _ := s.Tensor(c.name)
		if c.f32 != nil {
			if v, err := tt.Float32(); err != nil || !slices.Equal(v, c.f32) {
				t.Errorf("%s: Float32() = %v, %v; want %v", c.name, v, err, c.f32)
			}
		}
		if c.i64 != nil {
			if v, err := tt.Int64(); err != nil || !slices.Equal(v, c.i64) {
				t.Errorf("%s: Int64() = %v, %v; want %v", c.name, v, err, c.i64)
			}
		}
	}
	tt, _ := s.Tensor("f64")
	for i, want := range f64 {
		got := math.Float64frombits(uint64(tt.Data[8*i]) | uint64(tt.Data[8*i+1])<<8 | uint64(tt.Data[8*i+2])<<16 |
			uint64(tt.Data[8*i+3])<<24 | uint64(tt.Data[8*i+4])<<32 | uint64(tt.Data[8*i+5])<<40 |
			uint64(tt.Data[8*i+6])<<48 | uint64(tt.Data[8*i+7])<<56)
		if math.Float64bits(got) != math.Float64bits(want) {
			t.Errorf("f64[%d] = %v, want %v", i, got, want)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("file mode %v, want 0644", fi.Mode().Perm())
	}
}

func TestWriteSafetensorsErrors(t *testing.T) {
	ok := FromFloat32("ok", []int{2}, []float32{1, 2})
	tests := []struct {
		name    string
		tensors []*Tensor
		meta    map[string]string
		want    string
	}{
		{"nil tensor", []*Tensor{ok, nil}, nil, "tensor 1 is nil"},
		{"duplicate name", []*Tensor{ok, FromInt64("ok", []int{1}, []int64{1})}, nil, `"ok": duplicate name`},
		{"reserved name", []*Tensor{FromInt64(metadataKey, []int{1}, []int64{1})}, nil, "invalid name"},
		{"invalid UTF-8 name", []*Tensor{FromInt64("a\xff", []int{1}, []int64{1})}, nil, "invalid name"},
		{"unknown dtype", []*Tensor{{Name: "x", DType: "F8", Shape: []int{1}, Data: []byte{0}}}, nil, `unsupported dtype "F8"`},
		{"too few values", []*Tensor{FromFloat32("x", []int{2, 2}, []float32{1, 2, 3})}, nil, `"x": 12 bytes do not hold shape [2 2] of F32`},
		{"too many values", []*Tensor{FromInt64("x", []int{}, []int64{1, 2})}, nil, "16 bytes do not hold shape [] of I64"},
		{"negative dim", []*Tensor{FromFloat32("x", []int{-1}, nil)}, nil, "invalid shape [-1]"},
		{"overflowing shape", []*Tensor{FromFloat32("x", []int{1 << 62, 1 << 62}, nil)}, nil, "invalid shape"},
		{"overflowing bytes", []*Tensor{FromFloat64("x", []int{1 << 61}, nil)}, nil, "do not hold"},
		{"invalid UTF-8 metadata", []*Tensor{ok}, map[string]string{"k": "\xff"}, "not valid UTF-8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "w.safetensors")
			err := WriteSafetensors(path, tc.tensors, tc.meta)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) {
				t.Fatalf("error %v, want one naming %s and containing %q", err, path, tc.want)
			}
			if left, _ := os.ReadDir(dir); len(left) != 0 {
				t.Errorf("failed write left %d files behind", len(left))
			}
		})
	}
}

// TestWriteSafetensorsReplaces checks the atomic replacement: an existing file is replaced whole,
// a failed write leaves it untouched, and no temporary files remain.
func TestWriteSafetensorsReplaces(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "w.safetensors")
	if err := WriteSafetensors(path, []*Tensor{FromFloat32("a", []int{1000}, make([]float32, 1000))}, nil); err != nil {
		t.Fatal(err)
	}
	if err := WriteSafetensors(path, []*Tensor{FromInt64("b", []int{1}, []int64{5})}, nil); err != nil {
		t.Fatal(err)
	}
	if err := WriteSafetensors(path, []*Tensor{FromInt64("c", []int{2}, []int64{5})}, nil); err == nil {
		t.Fatal("writing a malformed tensor succeeded")
	}
	s, err := OpenSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if names := s.Names(); !slices.Equal(names, []string{"b"}) {
		t.Errorf("file holds %q, want the second write's [b]", names)
	}
	if left, _ := os.ReadDir(dir); len(left) != 1 {
		t.Errorf("directory holds %d entries, want only the output", len(left))
	}
	if err := WriteSafetensors(filepath.Join(dir, "missing", "x.safetensors"), nil, nil); err == nil {
		t.Error("writing into a missing directory succeeded")
	}
}

func BenchmarkOpenSafetensors(b *testing.B) {
	path := filepath.Join("testdata", "models", "openclip_vit_f16.safetensors")
	for b.Loop() {
		s, err := OpenSafetensors(path)
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}

func BenchmarkF16ToFloat32(b *testing.B) {
	s, err := OpenSafetensors(filepath.Join("testdata", "models", "openclip_vit_f16.safetensors"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	tt, err := s.Tensor("visual.conv1.weight")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(tt.Data)))
	for b.Loop() {
		if _, err := tt.Float32(); err != nil {
			b.Fatal(err)
		}
	}
}
