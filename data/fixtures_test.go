package data

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"testing"
)

// Reference outputs of torchvision 0.14 on the small CIFAR and ImageFolder
// trees in testdata.

type fixTensor struct {
	dtype string
	shape []int
	data  []byte
}

// readSafetensors is a minimal test-only reader (no dependency on the
// weights package's reader).
func readSafetensors(t *testing.T, path string) map[string]fixTensor {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(b)
	var hdr map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &hdr); err != nil {
		t.Fatal(err)
	}
	out := map[string]fixTensor{}
	for k, raw := range hdr {
		if k == "__metadata__" {
			continue
		}
		var e struct {
			Dtype   string `json:"dtype"`
			Shape   []int  `json:"shape"`
			Offsets [2]int `json:"data_offsets"`
		}
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatal(err)
		}
		out[k] = fixTensor{e.Dtype, e.Shape, b[8+n:][e.Offsets[0]:e.Offsets[1]]}
	}
	return out
}

func (f fixTensor) int64s(t *testing.T) []int {
	t.Helper()
	if f.dtype != "I64" {
		t.Fatalf("dtype %s, want I64", f.dtype)
	}
	out := make([]int, len(f.data)/8)
	for i := range out {
		out[i] = int(int64(binary.LittleEndian.Uint64(f.data[8*i:])))
	}
	return out
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}
