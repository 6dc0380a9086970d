package weights

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// FuzzSafetensors feeds arbitrary bytes to the parser. It must either reject them with an error
// naming the file, or return tensors whose data matches their shape and dtype, that decode without
// panicking, and that survive an encode/parse round trip unchanged. Seeds live in
// testdata/fuzz/FuzzSafetensors.
func FuzzSafetensors(f *testing.F) {
	f.Add(stBytes(`{"__metadata__":{"a":"b"},"x":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}`, []byte{0, 0x3c, 1, 0}))
	f.Add(stBytes(`{"x":{"dtype":"I64","shape":[],"data_offsets":[0,8]},"y":{"dtype":"BOOL","shape":[0,3],"data_offsets":[8,8]}}`, make([]byte, 8)))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseSafetensors("fuzz.safetensors", b)
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.safetensors") {
				t.Fatalf("error %q does not name the file", err)
			}
			return
		}
		var tensors []*Tensor
		for _, e := range s.Entries() {
			tt, err := s.Tensor(e.Name)
			if err != nil {
				t.Fatalf("listed tensor %q: %v", e.Name, err)
			}
			if len(tt.Data) != tt.NumElements()*tt.DType.Size() || int64(len(tt.Data)) != e.Size() {
				t.Fatalf("%q: %d bytes for %s %v", e.Name, len(tt.Data), tt.DType, tt.Shape)
			}
			if v, err := tt.Float32(); err != nil || len(v) != tt.NumElements() {
				t.Fatalf("%q: Float32: %d values, %v", e.Name, len(v), err)
			}
			if v, err := tt.Int64(); err == nil && len(v) != tt.NumElements() {
				t.Fatalf("%q: Int64: %d values for %d elements", e.Name, len(v), tt.NumElements())
			}
			tensors = append(tensors, tt)
		}
		var buf bytes.Buffer
		if err := EncodeSafetensors(&buf, tensors, s.Metadata()); err != nil {
			t.Fatalf("re-encoding a parsed file: %v", err)
		}
		again, err := ParseSafetensors("again", buf.Bytes())
		if err != nil {
			t.Fatalf("parsing the re-encoded file: %v", err)
		}
		if !equalMaps(again.Metadata(), s.Metadata()) {
			t.Fatalf("metadata %v became %v", s.Metadata(), again.Metadata())
		}
		if got := again.Entries(); len(got) != len(tensors) {
			t.Fatalf("%d tensors became %d", len(tensors), len(got))
		}
		for i, e := range again.Entries() {
			want := tensors[i]
			tt, _ := again.Tensor(e.Name)
			if tt.Name != want.Name || tt.DType != want.DType || !slices.Equal(tt.Shape, want.Shape) || !bytes.Equal(tt.Data, want.Data) {
				t.Fatalf("tensor %q changed in a round trip", want.Name)
			}
		}
	})
}

// TestFuzzSeeds keeps the seed corpus honest: files named valid_* parse, bad_* are rejected.
func TestFuzzSeeds(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzSafetensors", "*"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no seeds: %v", err)
	}
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		lit, ok := strings.CutPrefix(strings.TrimSpace(string(raw)), "go test fuzz v1\n[]byte(")
		lit, ok2 := strings.CutSuffix(lit, ")")
		b, err := strconv.Unquote(lit)
		if !ok || !ok2 || err != nil {
			t.Fatalf("%s: not a []byte seed: %v", p, err)
		}
		_, err = ParseSafetensors(p, []byte(b))
		switch base := filepath.Base(p); {
		case strings.HasPrefix(base, "valid_") && err != nil:
			t.Errorf("%s: %v", base, err)
		case strings.HasPrefix(base, "bad_") && err == nil:
			t.Errorf("%s: parsed, want an error", base)
		}
	}
}
