package weights

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unsafe"
)

// stBytes assembles a safetensors file from a header and a data buffer, without padding.
func stBytes(header string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	return append(append(b, header...), data...)
}

func TestParseSafetensorsMalformed(t *testing.T) {
	const i32x4 = `{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}`
	zeros := func(n int) []byte { return make([]byte, n) }
	tests := []struct {
		name   string
		file   []byte
		tensor string // tensor the message must name, if any
		want   string // substring of the message
	}{
		{"empty file", nil, "", "shorter than the 8-byte"},
		{"7 bytes", []byte{1, 0, 0, 0, 0, 0, 0}, "", "shorter than the 8-byte"},
		{"header length past end", append(binary.LittleEndian.AppendUint64(nil, 100), "{}"...), "", "runs past the end"},
		{"header length huge", binary.LittleEndian.AppendUint64(nil, 1<<40), "", "exceeds the limit"},
		{"header length max uint64", binary.LittleEndian.AppendUint64(nil, math.MaxUint64), "", "exceeds the limit"},
		{"header not JSON", stBytes("{", nil), "", "not valid JSON"},
		{"header empty", stBytes("", nil), "", "not valid JSON"},
		{"header array", stBytes("[]", nil), "", "not a JSON object"},
		{"header string", stBytes(`"x"`, nil), "", "not a JSON object"},
		{"header null", stBytes("null", nil), "", "not a JSON object"},
		{"header invalid UTF-8", stBytes("{\"a\xff\":1}", nil), "", "UTF-8"},
		{"data after object", stBytes("{} {}", nil), "", "after the JSON object"},
		{"NUL padding", stBytes("{}\x00\x00", nil), "", "after the JSON object"},
		{"entry not object", stBytes(`{"a":[1]}`, nil), "a", "not a JSON object"},
		{"entry null", stBytes(`{"a":null}`, nil), "a", "not a JSON object"},
		{"missing dtype", stBytes(`{"a":{"shape":[],"data_offsets":[0,0]}}`, nil), "a", "lacks dtype"},
		{"missing shape", stBytes(`{"a":{"dtype":"U8","data_offsets":[0,0]}}`, nil), "a", "lacks shape"},
		{"missing offsets", stBytes(`{"a":{"dtype":"U8","shape":[0]}}`, nil), "a", "lacks data_offsets"},
		{"field name case", stBytes(`{"a":{"DType":"U8","shape":[0],"data_offsets":[0,0]}}`, nil), "a", "lacks dtype"},
		{"duplicate field", stBytes(`{"a":{"dtype":"U8","dtype":"U8","shape":[0],"data_offsets":[0,0]}}`, nil), "", `duplicate key "dtype"`},
		{"unknown dtype", stBytes(`{"a":{"dtype":"F7","shape":[1],"data_offsets":[0,1]}}`, zeros(1)), "a", `unsupported dtype "F7"`},
		{"fp8 dtype", stBytes(`{"a":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}}`, zeros(1)), "a", `unsupported dtype "F8_E4M3"`},
		{"dtype not string", stBytes(`{"a":{"dtype":4,"shape":[1],"data_offsets":[0,4]}}`, zeros(4)), "a", "dtype is not a string"},
		{"shape not array", stBytes(`{"a":{"dtype":"U8","shape":3,"data_offsets":[0,3]}}`, zeros(3)), "a", "shape is not an array"},
		{"shape negative", stBytes(`{"a":{"dtype":"U8","shape":[-1],"data_offsets":[0,0]}}`, nil), "a", "shape value -1 is negative"},
		{"shape fraction", stBytes(`{"a":{"dtype":"U8","shape":[1.5],"data_offsets":[0,1]}}`, zeros(1)), "a", "not a non-negative integer"},
		{"shape exponent", stBytes(`{"a":{"dtype":"U8","shape":[1e0],"data_offsets":[0,1]}}`, zeros(1)), "a", "not a non-negative integer"},
		{"shape quoted number", stBytes(`{"a":{"dtype":"U8","shape":["1"],"data_offsets":[0,1]}}`, zeros(1)), "a", "not a non-negative integer"},
		{"shape null element", stBytes(`{"a":{"dtype":"U8","shape":[null],"data_offsets":[0,1]}}`, zeros(1)), "a", "not a non-negative integer"},
		{"shape dim too large", stBytes(`{"a":{"dtype":"U8","shape":[9223372036854775808,0],"data_offsets":[0,0]}}`, nil), "a", "too large"},
		{"shape product overflow", stBytes(`{"a":{"dtype":"I32","shape":[2,9223372036854775807],"data_offsets":[0,16]}}`, zeros(16)), "a", "overflows the element count"},
		{"shape overflow before zero", stBytes(`{"a":{"dtype":"U8","shape":[4294967296,4294967296,0],"data_offsets":[0,0]}}`, nil), "a", "overflows the element count"},
		{"byte size overflow", stBytes(`{"a":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,8]}}`, zeros(8)), "a", "overflows the byte size"},
		{"offsets one number", stBytes(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[1]}}`, zeros(1)), "a", "has 1 numbers, want 2"},
		{"offsets three numbers", stBytes(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1,1]}}`, zeros(1)), "a", "has 3 numbers, want 2"},
		{"offsets negative", stBytes(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[-1,0]}}`, zeros(1)), "a", "negative"},
		{"begin after end", stBytes(`{"a":{"dtype":"U8","shape":[0],"data_offsets":[4,2]}}`, zeros(4)), "a", "begin after end"},
		{"offsets past data", stBytes(`{"a":`+i32x4+`}`, zeros(8)), "a", "run past the 8-byte data buffer"},
		{"offsets huge", stBytes(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[9223372036854775806,9223372036854775807]}}`, zeros(1)), "a", "run past"},
		{"size mismatch", stBytes(`{"a":{"dtype":"I32","shape":[2,2],"data_offsets":[0,4]}}`, zeros(4)), "a", "needs 16 bytes but data_offsets [0, 4] span 4"},
		{"scalar size mismatch", stBytes(`{"a":{"dtype":"F32","shape":[],"data_offsets":[0,0]}}`, nil), "a", "needs 4 bytes"},
		{"overlap", stBytes(`{"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[8],"data_offsets":[4,12]}}`, zeros(12)), "b", `overlap tensor "a"`},
		{"same offsets", stBytes(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}`, zeros(4)), "", "overlap"},
		{"empty tensor inside another", stBytes(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[0],"data_offsets":[2,2]}}`, zeros(4)), "b", "overlap"},
		{"gap", stBytes(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[8,12]}}`, zeros(12)), "b", "bytes [4, 8) of the data buffer unused"},
		{"first not at zero", stBytes(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[4,8]}}`, zeros(8)), "a", "bytes [0, 4) of the data buffer unused"},
		{"trailing bytes", stBytes(`{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}`, zeros(8)), "", "cover 4 bytes but the data buffer has 8"},
		{"data without tensors", stBytes(`{}`, zeros(1)), "", "trailing"},
		{"duplicate tensor", stBytes(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}}`, zeros(2)), "", `duplicate key "a"`},
		{"metadata number", stBytes(`{"__metadata__":3}`, nil), "", "__metadata__ is not a JSON object"},
		{"metadata array", stBytes(`{"__metadata__":["a"]}`, nil), "", "__metadata__ is not a JSON object"},
		{"metadata value number", stBytes(`{"__metadata__":{"k":1}}`, nil), "", `value of key "k" is not a string`},
		{"metadata value object", stBytes(`{"__metadata__":{"k":{}}}`, nil), "", `value of key "k" is not a string`},
		{"metadata value null", stBytes(`{"__metadata__":{"k":null}}`, nil), "", `value of key "k" is not a string`},
		{"metadata duplicate key", stBytes(`{"__metadata__":{"k":"1","k":"2"}}`, nil), "", `duplicate key "k"`},
		{"deep nesting", stBytes(`{"a":{"x":`+strings.Repeat("[", 20000)+strings.Repeat("]", 20000)+`}}`, nil), "", "not valid JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseSafetensors("bad.safetensors", tc.file)
			if err == nil {
				t.Fatalf("parsed %d tensors, want an error", len(s.Names()))
			}
			msg := err.Error()
			if !strings.Contains(msg, "bad.safetensors") {
				t.Errorf("error %q does not name the file", msg)
			}
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not contain %q", msg, tc.want)
			}
			if tc.tensor != "" && !strings.Contains(msg, `tensor "`+tc.tensor+`"`) {
				t.Errorf("error %q does not name tensor %q", msg, tc.tensor)
			}
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Errorf("error %T is not a *FormatError", err)
			}
		})
	}
}

func TestParseSafetensorsValid(t *testing.T) {
	one := []byte{1, 0, 0, 0}
	tests := []struct {
		name  string
		file  []byte
		names []string // in offset order
		meta  map[string]string
	}{
		{"empty", stBytes("{}", nil), nil, map[string]string{}},
		{"whitespace around header", stBytes("\t\n {} \r\n\t", nil), nil, map[string]string{}},
		{"null metadata", stBytes(`{"__metadata__":null}`, nil), nil, map[string]string{}},
		{"metadata", stBytes(`{"__metadata__":{"format":"pt","é":"\u00e9\n"}}`, nil), nil, map[string]string{"format": "pt", "é": "é\n"}},
		{"scalar", stBytes(`{"s":{"dtype":"I32","shape":[],"data_offsets":[0,4]}}`, one), []string{"s"}, map[string]string{}},
		{"zero-sized", stBytes(`{"z":{"dtype":"F32","shape":[3,0],"data_offsets":[0,0]}}`, nil), []string{"z"}, map[string]string{}},
		{"zero-sized with huge dim", stBytes(`{"z":{"dtype":"F32","shape":[0,9223372036854775807],"data_offsets":[0,0]}}`, nil), []string{"z"}, map[string]string{}},
		{"unknown entry field ignored", stBytes(`{"s":{"dtype":"I32","shape":[],"data_offsets":[0,4],"extra":[1]}}`, one), []string{"s"}, map[string]string{}},
		{"header order differs from data order", stBytes(`{"b":{"dtype":"U8","shape":[1],"data_offsets":[1,2]},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"c":{"dtype":"U8","shape":[0],"data_offsets":[2,2]}}`, []byte{7, 9}), []string{"a", "b", "c"}, map[string]string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseSafetensors("ok.safetensors", tc.file)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, e := range s.Entries() {
				got = append(got, e.Name)
			}
			if !slices.Equal(got, tc.names) {
				t.Errorf("entries %q, want %q", got, tc.names)
			}
			sorted := slices.Sorted(slices.Values(tc.names))
			if names := s.Names(); !slices.Equal(names, sorted) && len(names)+len(sorted) > 0 {
				t.Errorf("Names() = %q, want %q", names, sorted)
			}
			if m := s.Metadata(); m == nil || !equalMaps(m, tc.meta) {
				t.Errorf("Metadata() = %v, want %v", m, tc.meta)
			}
			for _, name := range s.Names() {
				tt, err := s.Tensor(name)
				if err != nil {
					t.Fatal(err)
				}
				if len(tt.Data) != tt.NumElements()*tt.DType.Size() {
					t.Errorf("%s: %d bytes for shape %v", name, len(tt.Data), tt.Shape)
				}
			}
		})
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestSafetensorsTensorValues(t *testing.T) {
	// Offsets deliberately out of header order; values little-endian.
	data := binary.LittleEndian.AppendUint32(nil, math.Float32bits(1.5))
	data = binary.LittleEndian.AppendUint32(data, math.Float32bits(-2))
	data = binary.LittleEndian.AppendUint16(data, 0x3c00) // F16 1.0
	data = binary.LittleEndian.AppendUint16(data, 0x0001) // smallest F16 subnormal
	data = binary.LittleEndian.AppendUint64(data, uint64(math.MaxInt64))
	data = binary.LittleEndian.AppendUint16(data, 0xbf80) // BF16 -1
	hdr := `{"i":{"dtype":"I64","shape":[1],"data_offsets":[12,20]},"h":{"dtype":"F16","shape":[2],"data_offsets":[8,12]},` +
		`"f":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"BF16","shape":[],"data_offsets":[20,22]}}`
	s, err := ParseSafetensors("v.safetensors", stBytes(hdr, data))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		dtype DType
		shape []int
		f32   []float32
		i64   []int64 // nil: Int64 must fail
	}{
		{"f", F32, []int{2}, []float32{1.5, -2}, nil},
		{"h", F16, []int{2}, []float32{1, 0x1p-24}, nil},
		{"i", I64, []int{1}, []float32{math.MaxInt64}, []int64{math.MaxInt64}},
		{"b", BF16, []int{}, []float32{-1}, nil},
	}
	for _, tc := range tests {
		tt, err := s.Tensor(tc.name)
		if err != nil {
			t.Fatal(err)
		}
		if tt.DType != tc.dtype || !slices.Equal(tt.Shape, tc.shape) {
			t.Errorf("%s: %s %v, want %s %v", tc.name, tt.DType, tt.Shape, tc.dtype, tc.shape)
		}
		f, err := tt.Float32()
		if err != nil || !slices.Equal(f, tc.f32) {
			t.Errorf("%s: Float32() = %v, %v; want %v", tc.name, f, err, tc.f32)
		}
		i, err := tt.Int64()
		if tc.i64 == nil && err == nil {
			t.Errorf("%s: Int64() of %s succeeded", tc.name, tt.DType)
		} else if tc.i64 != nil && (err != nil || !slices.Equal(i, tc.i64)) {
			t.Errorf("%s: Int64() = %v, %v; want %v", tc.name, i, err, tc.i64)
		}
		// Shapes handed out are copies: changing one must not change the store.
		tt.Shape = append(tt.Shape, 99)
		if again, _ := s.Tensor(tc.name); !slices.Equal(again.Shape, tc.shape) {
			t.Errorf("%s: shape changed to %v through a returned tensor", tc.name, again.Shape)
		}
	}
	if _, err := s.Tensor("missing"); err == nil || !strings.Contains(err.Error(), `"missing"`) {
		t.Errorf("Tensor(missing) error = %v", err)
	}
}

// TestHalfToFloat32Exhaustive checks every binary16 bit pattern against the IEEE 754 definition
// evaluated in float64.
func TestHalfToFloat32Exhaustive(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		sign := 1.0
		if h&0x8000 != 0 {
			sign = -1
		}
		exp, man := (h>>10)&0x1f, float64(h&0x3ff)
		var want float64
		switch {
		case exp == 0x1f && man == 0:
			want = math.Inf(int(sign))
		case exp == 0x1f:
			want = math.NaN()
		case exp == 0: // zero and subnormals: man × 2^-24
			want = sign * man * math.Pow(2, -24)
		default:
			want = sign * (1 + man/1024) * math.Pow(2, float64(exp-15))
		}
		got := HalfToFloat32(uint16(h))
		if math.IsNaN(want) {
			if !math.IsNaN(float64(got)) || math.Signbit(float64(got)) != (sign < 0) {
				t.Fatalf("HalfToFloat32(%#04x) = %v, want NaN with sign %v", h, got, sign)
			}
			continue
		}
		// Every binary16 value is exactly representable in binary32, so equality is exact; the sign
		// bit comparison also distinguishes -0 from +0.
		if float64(got) != want || math.Signbit(float64(got)) != (sign < 0) {
			t.Fatalf("HalfToFloat32(%#04x) = %g, want %g", h, got, want)
		}
	}
}

// manifest is the part of a model fixture's NAME.json this package checks.
type manifest struct {
	Name    string `json:"name"`
	Weights struct {
		DType      DType            `json:"dtype"`
		NumTensors int              `json:"num_tensors"`
		NumValues  int              `json:"num_values"`
		Tensors    map[string][]int `json:"tensors"`
	} `json:"weights"`
}

func readManifest(t *testing.T, path string) manifest {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestModelFixtures opens reference checkpoints written by the safetensors library from PyTorch
// state dicts and checks every tensor against the fixture manifest.
func TestModelFixtures(t *testing.T) {
	for _, name := range []string{"timm_vit_token", "openclip_vit_f16"} {
		t.Run(name, func(t *testing.T) {
			m := readManifest(t, filepath.Join("testdata", "models", name+".json"))
			s, err := OpenSafetensors(filepath.Join("testdata", "models", name+".safetensors"))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if got := s.Metadata()["fixture"]; got != m.Name {
				t.Errorf("metadata fixture = %q, want %q", got, m.Name)
			}
			names := s.Names()
			if len(names) != m.Weights.NumTensors || len(m.Weights.Tensors) != m.Weights.NumTensors {
				t.Fatalf("%d tensors, manifest lists %d (num_tensors %d)", len(names), len(m.Weights.Tensors), m.Weights.NumTensors)
			}
			values := 0
			for _, n := range names {
				tt, err := s.Tensor(n)
				if err != nil {
					t.Fatal(err)
				}
				want, ok := m.Weights.Tensors[n]
				if !ok {
					t.Errorf("tensor %q is not in the manifest", n)
					continue
				}
				if tt.DType != m.Weights.DType || !slices.Equal(tt.Shape, want) {
					t.Errorf("%s: %s %v, want %s %v", n, tt.DType, tt.Shape, m.Weights.DType, want)
				}
				f, err := tt.Float32()
				if err != nil {
					t.Fatalf("%s: %v", n, err)
				}
				for i, v := range f {
					if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
						t.Fatalf("%s[%d] = %v", n, i, v)
					}
				}
				values += len(f)
			}
			if values != m.Weights.NumValues {
				t.Errorf("%d values, manifest says %d", values, m.Weights.NumValues)
			}
			// The data buffer is exactly the tensors, back to back.
			var end int64
			for _, e := range s.Entries() {
				if e.Begin != end {
					t.Fatalf("%s starts at %d, previous ended at %d", e.Name, e.Begin, end)
				}
				end = e.End
			}
			fi, _ := os.Stat(filepath.Join("testdata", "models", name+".safetensors"))
			if 8+int64(s.HeaderLen())+end != fi.Size() {
				t.Errorf("8 + header %d + data %d != file size %d", s.HeaderLen(), end, fi.Size())
			}
		})
	}
}

// TestTimmWeightStatistics checks decoded F32 values against how the fixture's weights were drawn
// (README: Linear weights ~ N(0, 1/fan_in), biases ~ 0.1·N(0, 1), LayerNorm weights 1 + 0.1·N(0, 1)).
// Misread bytes (offset, byte order, dtype) give values nowhere near these.
func TestTimmWeightStatistics(t *testing.T) {
	s, err := OpenSafetensors(filepath.Join("testdata", "models", "timm_vit_token.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tests := []struct {
		name            string
		mean, std, atol float64 // expected mean and standard deviation, tolerance on each
	}{
		{"blocks.0.attn.qkv.weight", 0, 1 / math.Sqrt(64), 0.02},
		{"blocks.1.mlp.fc2.weight", 0, 1 / math.Sqrt(256), 0.01},
		{"blocks.0.attn.qkv.bias", 0, 0.1, 0.03},
		{"blocks.1.mlp.fc1.bias", 0, 0.1, 0.03},
		{"blocks.0.norm1.weight", 1, 0.1, 0.04},
		{"norm.weight", 1, 0.1, 0.04},
	}
	for _, tc := range tests {
		tt, err := s.Tensor(tc.name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := tt.Float32()
		if err != nil {
			t.Fatal(err)
		}
		var sum, sq float64
		for _, v := range f {
			sum += float64(v)
		}
		mean := sum / float64(len(f))
		for _, v := range f {
			sq += (float64(v) - mean) * (float64(v) - mean)
		}
		std := math.Sqrt(sq / float64(len(f)))
		if math.Abs(mean-tc.mean) > tc.atol || math.Abs(std-tc.std) > tc.atol {
			t.Errorf("%s: mean %.4f std %.4f, want %.4f ± %g and %.4f ± %g", tc.name, mean, std, tc.mean, tc.atol, tc.std, tc.atol)
		}
	}
}

// TestF16Fixture checks the F16 checkpoint against the float32 outputs PyTorch computed from it:
// the model's logit_scale output is the stored F16 parameter widened to float32.
func TestF16Fixture(t *testing.T) {
	w, err := OpenSafetensors(filepath.Join("testdata", "models", "openclip_vit_f16.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	outs, err := OpenSafetensors(filepath.Join("testdata", "models", "openclip_vit_f16_io.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer outs.Close()
	param, err := w.Tensor("logit_scale")
	if err != nil {
		t.Fatal(err)
	}
	got, err := param.Float32()
	if err != nil {
		t.Fatal(err)
	}
	out, err := outs.Tensor("logit_scale")
	if err != nil {
		t.Fatal(err)
	}
	want, err := out.Float32()
	if err != nil {
		t.Fatal(err)
	}
	if len(param.Shape) != 0 || len(got) != 1 || len(want) != 1 || got[0] != want[0] {
		t.Errorf("logit_scale %v %v, want the float32 output %v exactly", param.Shape, got, want)
	}

	// The patch embedding holds many F16 subnormals; each must decode to mantissa × 2^-24.
	conv, err := w.Tensor("visual.conv1.weight")
	if err != nil {
		t.Fatal(err)
	}
	vals, err := conv.Float32()
	if err != nil {
		t.Fatal(err)
	}
	subnormals := 0
	for i, v := range vals {
		h := binary.LittleEndian.Uint16(conv.Data[2*i:])
		if h&0x7c00 == 0 && h&0x3ff != 0 {
			subnormals++
			want := float32(h&0x3ff) * 0x1p-24
			if h&0x8000 != 0 {
				want = -want
			}
			if v != want {
				t.Fatalf("visual.conv1.weight[%d] = %g from subnormal %#04x, want %g", i, v, h, want)
			}
		}
	}
	if subnormals == 0 {
		t.Error("visual.conv1.weight has no F16 subnormals; the fixture no longer tests them")
	}
}

func TestOpenSafetensorsErrors(t *testing.T) {
	dir := t.TempDir()
	short := filepath.Join(dir, "short.safetensors")
	if err := os.WriteFile(short, []byte{1, 2, 3}, 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.safetensors")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.safetensors")
	if err := os.WriteFile(bad, stBytes(`{"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]}}`, []byte{1}), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path, want string
	}{
		{filepath.Join(dir, "absent.safetensors"), "no such file"},
		{dir, "not a regular file"},
		{short, "shorter than"},
		{empty, "shorter than"},
		{bad, "run past"},
	}
	for _, tc := range tests {
		s, err := OpenSafetensors(tc.path)
		if err == nil {
			s.Close()
			t.Errorf("%s: opened, want an error", tc.path)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.path) {
			t.Errorf("%s: error %q, want it to name the file and contain %q", tc.path, err, tc.want)
		}
	}
}

func TestSafetensorsClose(t *testing.T) {
	s, err := OpenSafetensors(filepath.Join("testdata", "models", "timm_vit_token.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Tensor("cls_token"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Tensor("cls_token"); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("Tensor after Close: error %v, want one saying the file is closed", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// TestOpenSafetensorsAliases checks that F32 tensors are returned without copying: the Float32
// slice points into the opened file's bytes.
func TestOpenSafetensorsAliases(t *testing.T) {
	s, err := OpenSafetensors(filepath.Join("testdata", "models", "timm_vit_token.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tt, err := s.Tensor("pos_embed")
	if err != nil {
		t.Fatal(err)
	}
	f, err := tt.Float32()
	if err != nil {
		t.Fatal(err)
	}
	if len(f) == 0 || !bytes.Equal(tt.Data[:4], binary.LittleEndian.AppendUint32(nil, math.Float32bits(f[0]))) {
		t.Fatal("Float32 does not match Data")
	}
	lo := uintptr(unsafePointer(s.buf))
	if p := uintptr(unsafePointer(tt.Data)); p < lo || p >= lo+uintptr(len(s.buf)) {
		t.Error("tensor Data does not alias the file")
	}
	if unsafe.Pointer(unsafe.SliceData(f)) != unsafePointer(tt.Data) {
		t.Error("Float32 of aligned F32 data copied instead of aliasing")
	}
	if cap(tt.Data) != len(tt.Data) {
		t.Errorf("Data has capacity %d beyond its %d bytes; appending would overwrite the next tensor", cap(tt.Data), len(tt.Data))
	}
}

func unsafePointer(b []byte) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(b)) }

// TestOpenSafetensorsWithoutMmap checks the fallback for platforms or file systems without mmap.
func TestOpenSafetensorsWithoutMmap(t *testing.T) {
	defer func(f func(*os.File, int) ([]byte, func() error, error)) { mapFileFunc = f }(mapFileFunc)
	mapFileFunc = func(*os.File, int) ([]byte, func() error, error) { return nil, nil, errors.ErrUnsupported }
	path := filepath.Join("testdata", "models", "timm_vit_token.safetensors")
	s, err := OpenSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s.buf, raw) || s.unmap != nil {
		t.Fatal("fallback did not read the whole file into memory")
	}
	tt, err := s.Tensor("norm.bias")
	if err != nil {
		t.Fatal(err)
	}
	if v, err := tt.Float32(); err != nil || len(v) != 64 {
		t.Errorf("norm.bias: %d values, %v", len(v), err)
	}
}
