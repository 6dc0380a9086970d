package tensortest

import (
	"math"
	"slices"
	"testing"

	"plp/tensor"
	"plp/weights"
)

// OpenSafetensors opens a reference file for the duration of the test.
func OpenSafetensors(t testing.TB, path string) *weights.Safetensors {
	t.Helper()
	st, err := weights.OpenSafetensors(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// AllClose fails t unless got equals ref's tensor name within |got-want| <= 1e-4 + 1e-4·|want| everywhere,
// the tolerance of the model fixtures (reference outputs of open_clip and timm). A scalar may be compared
// with a one-element reference of any rank.
func AllClose(t testing.TB, name string, got *tensor.Tensor, ref weights.Store) {
	t.Helper()
	w, err := ref.Tensor(name)
	if err != nil {
		t.Fatal(err)
	}
	want, err := w.Float32()
	if err != nil {
		t.Fatal(err)
	}
	if got == nil || tensor.Numel(w.Shape) != got.Numel() || (got.Rank() > 0 && !slices.Equal(got.Shape(), w.Shape)) {
		t.Fatalf("%s: got %v, want shape %v", name, got, w.Shape)
	}
	g := got.Backend().ToHost(got)
	worst := 0.0
	for i := range g {
		d := math.Abs(float64(g[i]) - float64(want[i]))
		lim := 1e-4 + 1e-4*math.Abs(float64(want[i]))
		if !(d <= lim) {
			t.Fatalf("%s[%d] = %v, want %v (|diff| %.3g > %.3g)", name, i, g[i], want[i], d, lim)
		}
		worst = max(worst, d/lim)
	}
	t.Logf("%s: %.3f× tolerance", name, worst)
}

// Keep returns a trace callback that stores a copy of each traced tensor in m under its name: a traced
// tensor is valid only during the callback, since the model frees it afterwards.
func Keep(m map[string]*tensor.Tensor) func(string, *tensor.Tensor) {
	return func(name string, t *tensor.Tensor) {
		be := t.Backend()
		m[name] = be.FromHost(be.ToHost(t), t.Shape()...)
	}
}
