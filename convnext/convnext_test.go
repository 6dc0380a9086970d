package convnext

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"plp/tensor"
	"plp/tensor/tensortest"
	"plp/weights"
)

// The fixtures are shared with the zoo package's tests (one copy in the repository).
const fixtureDir = "../zoo/testdata/"

// fixtureConfig is the architecture of the timm_convnext fixture (manifest "architecture.convnext").
var fixtureConfig = Config{Depths: []int{1, 1, 2, 1}, Dims: []int{16, 32, 64, 128}, ImageSize: 64, Eps: 1e-6}

func input(t *testing.T, io weights.Store) *tensor.Tensor {
	w, err := io.Tensor("image")
	if err != nil {
		t.Fatal(err)
	}
	v, err := w.Float32()
	if err != nil {
		t.Fatal(err)
	}
	return tensor.CPU{}.FromHost(v, w.Shape...)
}

func TestFixture(t *testing.T) {
	m, err := Load(fixtureConfig, tensor.CPU{}, open(t, fixtureDir+"timm_convnext.safetensors"), "")
	if err != nil {
		t.Fatal(err)
	}
	io := open(t, fixtureDir+"timm_convnext_io.safetensors")
	traced := map[string]*tensor.Tensor{}
	feats, logits, err := m.Forward(input(t, io), tensortest.Keep(traced))
	if err != nil || logits != nil {
		t.Fatalf("Forward: logits %v, err %v", logits, err)
	}
	allclose(t, "stem_out", traced["stem_out"], io)
	allclose(t, "stage0_out", traced["stage0_out"], io)
	allclose(t, "feature_map", traced["feature_map"], io)
	allclose(t, "features", feats, io)
}

// TestOpenCLIPTrunk loads the trunk of open_clip's TimmModel from the "visual.trunk." prefix.
func TestOpenCLIPTrunk(t *testing.T) {
	st := open(t, fixtureDir+"openclip_convnext_linear.safetensors")
	ws := map[string]*weights.Tensor{}
	for _, k := range st.Names() {
		if strings.HasPrefix(k, "visual.trunk.") {
			ws[k], _ = st.Tensor(k)
		}
	}
	m, err := New(fixtureConfig, tensor.CPU{}, ws, "visual.trunk.")
	if err != nil {
		t.Fatal(err)
	}
	io := open(t, fixtureDir+"openclip_convnext_linear_io.safetensors")
	feats, _, err := m.Forward(input(t, io), nil)
	if err != nil {
		t.Fatal(err)
	}
	allclose(t, "vis_trunk_out", feats, io)
}

func fixtureTensors(t *testing.T) map[string]*weights.Tensor {
	st := open(t, fixtureDir+"timm_convnext.safetensors")
	ws := map[string]*weights.Tensor{}
	for _, k := range st.Names() {
		ws[k], _ = st.Tensor(k)
	}
	return ws
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(ws map[string]*weights.Tensor)
		field  func(e *LoadError) []string
		listed []string
	}{
		{"missing", func(ws map[string]*weights.Tensor) {
			delete(ws, "stages.2.blocks.1.gamma")
			delete(ws, "head.norm.bias")
		}, func(e *LoadError) []string { return e.Missing }, []string{"head.norm.bias", "stages.2.blocks.1.gamma"}},
		{"unexpected", func(ws map[string]*weights.Tensor) {
			ws["head.fc.weight"] = ws["stem.0.weight"]
		}, func(e *LoadError) []string { return e.Unexpected }, []string{"head.fc.weight"}},
		{"shape", func(ws map[string]*weights.Tensor) {
			w := *ws["stages.1.downsample.1.weight"]
			w.Shape = []int{16, 32, 2, 2}
			ws["stages.1.downsample.1.weight"] = &w
		}, func(e *LoadError) []string { return e.Mismatched }, []string{"stages.1.downsample.1.weight: shape [16 32 2 2], want [32 16 2 2]"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ws := fixtureTensors(t)
			tc.edit(ws)
			m, err := New(fixtureConfig, tensor.CPU{}, ws, "")
			var le *LoadError
			if m != nil || !errors.As(err, &le) {
				t.Fatalf("New = %v, %v; want a *LoadError", m, err)
			}
			if got := tc.field(le); !slices.Equal(got, tc.listed) {
				t.Fatalf("listed %q, want %q (error: %v)", got, tc.listed, err)
			}
			for _, k := range tc.listed {
				if !strings.Contains(err.Error(), k) {
					t.Errorf("error %q does not name %q", err, k)
				}
			}
		})
	}
}

func TestBadInput(t *testing.T) {
	m, err := New(fixtureConfig, tensor.CPU{}, fixtureTensors(t), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, shape := range [][]int{{1, 3, 16, 16}, {1, 1, 64, 64}, {3, 64, 64}, {0, 3, 64, 64}} {
		if _, _, err := m.Forward(tensor.CPU{}.Zeros(shape...), nil); err == nil {
			t.Errorf("Forward accepted input %v", shape)
		}
	}
	bad := fixtureConfig
	bad.Dims = []int{16, 32, 64}
	if _, err := New(bad, tensor.CPU{}, fixtureTensors(t), ""); err == nil {
		t.Error("New accepted 4 depths with 3 dims")
	}
}

// TestClassifier checks the optional head.fc on random weights: logits = features @ fc^T + b.
func TestClassifier(t *testing.T) {
	c := fixtureConfig
	c.NumClasses = 5
	m, err := NewRandom(c, tensor.CPU{}, 3)
	if err != nil {
		t.Fatal(err)
	}
	be := tensor.CPU{}
	feats, logits, err := m.Forward(be.Zeros(2, 3, 64, 64), nil)
	if err != nil || !slices.Equal(logits.Shape(), []int{2, 5}) {
		t.Fatalf("Forward = %v, %v", logits, err)
	}
	f, l, w, b := be.ToHost(feats), be.ToHost(logits), be.ToHost(m.fc), be.ToHost(m.fcb)
	for i := 0; i < 2; i++ {
		for o := 0; o < 5; o++ {
			want := float64(b[o])
			for k := 0; k < 128; k++ {
				want += float64(f[i*128+k]) * float64(w[o*128+k])
			}
			if d := math.Abs(float64(l[i*5+o]) - want); d > 1e-4 {
				t.Errorf("logit[%d,%d] = %v, want %v", i, o, l[i*5+o], want)
			}
		}
	}
}

// BenchmarkConvNeXtBase encodes a batch of 16 224×224 images with convnext_base (random weights).
func BenchmarkConvNeXtBase(b *testing.B) {
	be := tensor.CPU{}
	m, err := NewRandom(Base(224, 0), be, 1)
	if err != nil {
		b.Fatal(err)
	}
	const batch = 16
	x := be.Zeros(batch, 3, 224, 224)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, err := m.Forward(x, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "images/s")
}

// The fixture helpers shared by every family's tests.
var (
	open     = tensortest.OpenSafetensors
	allclose = tensortest.AllClose
)
