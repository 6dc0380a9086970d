package imaging

import (
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"io"
	"math"
	"os"
	"sync"
	"testing"
)

// The reference set: a subset of the Pillow 9.4 / torchvision 0.14 reference
// outputs (decoded inputs, after-crop uint8 images, normalised tensors).
const preprocessFixture = "testdata/preprocess_subset.safetensors.gz"

type fixTensor struct {
	dtype string
	shape []int
	data  []byte
}

var (
	fixOnce sync.Once
	fixMap  map[string]fixTensor
	fixErr  error
)

// loadFixtures parses the gzip-compressed safetensors file with a minimal
// reader (the tests must not depend on other packages' readers).
func loadFixtures(t testing.TB) map[string]fixTensor {
	t.Helper()
	fixOnce.Do(func() {
		f, err := os.Open(preprocessFixture)
		if err != nil {
			fixErr = err
			return
		}
		defer f.Close()
		zr, err := gzip.NewReader(f)
		if err != nil {
			fixErr = err
			return
		}
		b, err := io.ReadAll(zr)
		if err != nil {
			fixErr = err
			return
		}
		n := binary.LittleEndian.Uint64(b)
		var hdr map[string]json.RawMessage
		if err := json.Unmarshal(b[8:8+n], &hdr); err != nil {
			fixErr = err
			return
		}
		body := b[8+n:]
		fixMap = map[string]fixTensor{}
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
				fixErr = err
				return
			}
			fixMap[k] = fixTensor{e.Dtype, e.Shape, body[e.Offsets[0]:e.Offsets[1]]}
		}
	})
	if fixErr != nil {
		t.Fatalf("reading %s: %v", preprocessFixture, fixErr)
	}
	return fixMap
}

func fixRGB(t testing.TB, name string) *RGB {
	t.Helper()
	ft, ok := loadFixtures(t)[name]
	if !ok {
		t.Fatalf("fixture tensor %q missing", name)
	}
	if ft.dtype != "U8" || len(ft.shape) != 3 || ft.shape[2] != 3 {
		t.Fatalf("fixture %q: %s %v, want U8 [H,W,3]", name, ft.dtype, ft.shape)
	}
	return &RGB{W: ft.shape[1], H: ft.shape[0], Pix: ft.data}
}

func fixF32(t testing.TB, name string) ([]float32, []int) {
	t.Helper()
	ft, ok := loadFixtures(t)[name]
	if !ok {
		t.Fatalf("fixture tensor %q missing", name)
	}
	if ft.dtype != "F32" {
		t.Fatalf("fixture %q: dtype %s, want F32", name, ft.dtype)
	}
	v := make([]float32, len(ft.data)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(ft.data[4*i:]))
	}
	return v, ft.shape
}
