package eval

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"testing"
)

// tensorFile is a minimal safetensors reader for the reference files in testdata.
type tensorFile struct {
	t       *testing.T
	name    string
	header  map[string]json.RawMessage
	payload []byte
}

type tensorEntry struct {
	DType   string   `json:"dtype"`
	Shape   []int    `json:"shape"`
	Offsets [2]int64 `json:"data_offsets"`
}

func openTensors(t *testing.T, name string) *tensorFile {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 8 {
		t.Fatalf("%s: too short", name)
	}
	n := binary.LittleEndian.Uint64(b)
	if n > uint64(len(b)-8) {
		t.Fatalf("%s: header length %d", name, n)
	}
	f := &tensorFile{t: t, name: name, payload: b[8+n:]}
	if err := json.Unmarshal(b[8:8+n], &f.header); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return f
}

func (f *tensorFile) entry(name, dtype string) (tensorEntry, []byte) {
	f.t.Helper()
	raw, ok := f.header[name]
	if !ok {
		f.t.Fatalf("%s: no tensor %q", f.name, name)
	}
	var e tensorEntry
	if err := json.Unmarshal(raw, &e); err != nil {
		f.t.Fatalf("%s: %q: %v", f.name, name, err)
	}
	if e.DType != dtype {
		f.t.Fatalf("%s: %q is %s, want %s", f.name, name, e.DType, dtype)
	}
	return e, f.payload[e.Offsets[0]:e.Offsets[1]]
}

// shape returns the shape of a tensor.
func (f *tensorFile) shape(name string) []int {
	f.t.Helper()
	var e tensorEntry
	if err := json.Unmarshal(f.header[name], &e); err != nil {
		f.t.Fatalf("%s: %q: %v", f.name, name, err)
	}
	return e.Shape
}

func (f *tensorFile) f32(name string) []float32 {
	_, b := f.entry(name, "F32")
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

func (f *tensorFile) f64(name string) []float64 {
	_, b := f.entry(name, "F64")
	out := make([]float64, len(b)/8)
	for i := range out {
		out[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
	}
	return out
}

func (f *tensorFile) i64(name string) []int64 {
	_, b := f.entry(name, "I64")
	out := make([]int64, len(b)/8)
	for i := range out {
		out[i] = int64(binary.LittleEndian.Uint64(b[8*i:]))
	}
	return out
}

// referenceMetrics is metrics.json: metrics[path/method][ood set] = {auroc, fpr95} in percent.
type referenceMetrics struct {
	Metrics map[string]json.RawMessage `json:"metrics"`
}

type referenceMetric struct {
	AUROC float64 `json:"auroc"`
	FPR95 float64 `json:"fpr95"`
}

func loadMetrics(t *testing.T) map[string]map[string]referenceMetric {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "metrics.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r referenceMetrics
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]referenceMetric{}
	for k, raw := range r.Metrics {
		var m map[string]referenceMetric
		if json.Unmarshal(raw, &m) == nil && len(m) > 0 && m["near"] != (referenceMetric{}) {
			out[k] = m
		}
	}
	return out
}

// oodSets are the reference's OOD sets and the tensor names of their inputs.
var oodSets = []struct{ name, x, logits, zs string }{
	{"near", "near_x", "near_logits", "zs_logits/test_features_ood_near"},
	{"far", "far_x", "far_logits", "zs_logits/test_features_ood_far"},
}

// closeRel reports whether got is within rel·|want| + abs of want.
func closeRel(got, want, rel, abs float64) bool {
	return math.Abs(got-want) <= rel*math.Abs(want)+abs
}
