package eval

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"plp/weights"
)

// tensorFile reads reference tensors from a safetensors file in testdata.
type tensorFile struct {
	t  *testing.T
	st *weights.Safetensors
}

func openTensors(t *testing.T, name string) *tensorFile {
	t.Helper()
	st, err := weights.OpenSafetensors(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &tensorFile{t: t, st: st}
}

// has reports whether the file holds a tensor of that name.
func (f *tensorFile) has(name string) bool {
	return slices.Contains(f.st.Names(), name)
}

func (f *tensorFile) tensor(name string, dtype weights.DType) *weights.Tensor {
	f.t.Helper()
	x, err := f.st.Tensor(name)
	if err != nil {
		f.t.Fatal(err)
	}
	if x.DType != dtype {
		f.t.Fatalf("%q is %s, want %s", name, x.DType, dtype)
	}
	return x
}

func (f *tensorFile) f32(name string) []float32 {
	f.t.Helper()
	v, err := f.tensor(name, weights.F32).Float32()
	if err != nil {
		f.t.Fatal(err)
	}
	return slices.Clone(v) // the reader may alias the mapped file
}

func (f *tensorFile) f64(name string) []float64 {
	f.t.Helper()
	b := f.tensor(name, weights.F64).Data
	out := make([]float64, len(b)/8)
	for i := range out {
		out[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
	}
	return out
}

func (f *tensorFile) i64(name string) []int64 {
	f.t.Helper()
	v, err := f.tensor(name, weights.I64).Int64()
	if err != nil {
		f.t.Fatal(err)
	}
	return v
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
