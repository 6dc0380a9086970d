package resnet

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"plp/tensor"
	"plp/tensor/tensortest"
	"plp/weights"
)

// The fixtures are shared with the zoo package's tests (one copy in the repository).
const fixtureDir = "../zoo/testdata/"

// fixtureConfig is the openclip_rn fixture's tower (manifest "architecture.vision").
var fixtureConfig = Config{Style: OpenCLIP, Layers: []int{1, 1, 1, 1}, Width: 16, ImageSize: 64, Heads: 8, OutputDim: 32}

func TestOpenCLIPFixture(t *testing.T) {
	m, err := Load(fixtureConfig, tensor.CPU{}, open(t, fixtureDir+"openclip_rn.safetensors"), "visual.")
	if err != nil {
		t.Fatal(err)
	}
	io := open(t, fixtureDir+"openclip_rn_io.safetensors")
	w, _ := io.Tensor("image")
	v, _ := w.Float32()
	traced := map[string]*tensor.Tensor{}
	embed, logits, err := m.Forward(tensor.CPU{}.FromHost(v, w.Shape...), tensortest.Keep(traced))
	if err != nil || logits != nil {
		t.Fatalf("Forward: logits %v, err %v", logits, err)
	}
	allclose(t, "vis_stem_out", traced["stem_out"], io)
	allclose(t, "vis_layer4_out", traced["layer4_out"], io)
	allclose(t, "image_embed", embed, io)
}

func fixtureTensors(t *testing.T) map[string]*weights.Tensor {
	st := open(t, fixtureDir+"openclip_rn.safetensors")
	ws := map[string]*weights.Tensor{}
	for _, k := range st.Names() {
		if strings.HasPrefix(k, "visual.") {
			ws[k], _ = st.Tensor(k)
		}
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
			delete(ws, "visual.layer3.0.downsample.1.running_var")
			delete(ws, "visual.attnpool.k_proj.bias")
		}, func(e *LoadError) []string { return e.Missing }, []string{"visual.attnpool.k_proj.bias", "visual.layer3.0.downsample.1.running_var"}},
		{"unexpected", func(ws map[string]*weights.Tensor) {
			ws["visual.layer1.1.conv1.weight"] = ws["visual.layer1.0.conv1.weight"]
			ws["visual.layer1.1.bn1.num_batches_tracked"] = ws["visual.bn1.num_batches_tracked"]
		}, func(e *LoadError) []string { return e.Unexpected }, []string{"visual.layer1.1.bn1.num_batches_tracked", "visual.layer1.1.conv1.weight"}},
		{"shape", func(ws map[string]*weights.Tensor) {
			w := *ws["visual.conv2.weight"]
			w.Shape = []int{8, 8, 1, 9}
			ws["visual.conv2.weight"] = &w
		}, func(e *LoadError) []string { return e.Mismatched }, []string{"visual.conv2.weight: shape [8 8 1 9], want [8 8 3 3]"}},
		{"dtype", func(ws map[string]*weights.Tensor) {
			ws["visual.bn3.running_mean"] = ws["visual.bn3.num_batches_tracked"]
		}, func(e *LoadError) []string { return e.Mismatched }, []string{"visual.bn3.running_mean: shape [], want [16]"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ws := fixtureTensors(t)
			tc.edit(ws)
			m, err := New(fixtureConfig, tensor.CPU{}, ws, "visual.")
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
	// num_batches_tracked counters are optional.
	ws := fixtureTensors(t)
	for k := range ws {
		if strings.HasSuffix(k, "num_batches_tracked") {
			delete(ws, k)
		}
	}
	if _, err := New(fixtureConfig, tensor.CPU{}, ws, "visual."); err != nil {
		t.Errorf("without num_batches_tracked: %v", err)
	}
}

// TestFoldBatchNorm compares the folded convolution with a float64 convolution followed by an explicit
// inference-mode BatchNorm, for a strided 3×3 convolution with padding.
func TestFoldBatchNorm(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	const B, cin, cout, H, k = 2, 3, 5, 7, 3
	rnd := func(n int, mean, std float64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(mean + std*r.NormFloat64())
		}
		return v
	}
	x, w := rnd(B*cin*H*H, 0, 1), rnd(cout*cin*k*k, 0, 0.3)
	gamma, beta, mean := rnd(cout, 1, 0.3), rnd(cout, 0, 0.5), rnd(cout, 0, 0.5)
	variance := rnd(cout, 0, 1)
	for i := range variance {
		variance[i] = variance[i]*variance[i] + 0.01
	}
	wf, bf := FoldBatchNorm(w, gamma, beta, mean, variance, BatchNormEps)
	be := tensor.CPU{}
	p := tensor.Conv{StrideH: 2, StrideW: 2, PadH: 1, PadW: 1, Groups: 1}
	got := be.ToHost(be.Conv2D(be.FromHost(x, B, cin, H, H), be.FromHost(wf, cout, cin, k, k), be.FromHost(bf, cout), p))
	const ho = (H+2-k)/2 + 1
	if len(got) != B*cout*ho*ho {
		t.Fatalf("%d outputs, want %d", len(got), B*cout*ho*ho)
	}
	for b := 0; b < B; b++ {
		for o := 0; o < cout; o++ {
			for oy := 0; oy < ho; oy++ {
				for ox := 0; ox < ho; ox++ {
					s := 0.0
					for c := 0; c < cin; c++ {
						for ky := 0; ky < k; ky++ {
							for kx := 0; kx < k; kx++ {
								iy, ix := oy*2-1+ky, ox*2-1+kx
								if iy < 0 || ix < 0 || iy >= H || ix >= H {
									continue
								}
								s += float64(x[((b*cin+c)*H+iy)*H+ix]) * float64(w[((o*cin+c)*k+ky)*k+kx])
							}
						}
					}
					want := (s-float64(mean[o]))/math.Sqrt(float64(variance[o])+BatchNormEps)*float64(gamma[o]) + float64(beta[o])
					g := got[((b*cout+o)*ho+oy)*ho+ox]
					if d := math.Abs(float64(g) - want); d > 1e-5+1e-5*math.Abs(want) {
						t.Fatalf("out[%d,%d,%d,%d] = %v, want %v", b, o, oy, ox, g, want)
					}
				}
			}
		}
	}
}

func TestBadInput(t *testing.T) {
	m, err := New(fixtureConfig, tensor.CPU{}, fixtureTensors(t), "visual.")
	if err != nil {
		t.Fatal(err)
	}
	for _, shape := range [][]int{{1, 3, 32, 32}, {1, 1, 64, 64}, {3, 64, 64}, {0, 3, 64, 64}} {
		if _, _, err := m.Forward(tensor.CPU{}.Zeros(shape...), nil); err == nil {
			t.Errorf("Forward accepted input %v", shape)
		}
	}
	for _, bad := range []Config{
		{Style: OpenCLIP, Layers: []int{1, 1, 1}, Width: 16, ImageSize: 64, Heads: 8, OutputDim: 32},
		{Style: OpenCLIP, Layers: []int{1, 1, 1, 1}, Width: 16, ImageSize: 64, Heads: 7, OutputDim: 32},
		{Style: OpenCLIP, Layers: []int{1, 1, 1, 1}, Width: 16, ImageSize: 48, Heads: 8, OutputDim: 32},
	} {
		if _, err := New(bad, tensor.CPU{}, fixtureTensors(t), "visual."); err == nil {
			t.Errorf("New accepted %+v", bad)
		}
	}
}

// TestTimmReference compares the standard ResNet with PyTorch reference outputs of torchvision's
// Bottleneck network (timm's resnet layout) at stage widths 8–64, blocks (1, 2, 1, 1), 5 classes
// (testdata/gen_timm_resnet.py).
func TestTimmReference(t *testing.T) {
	c := Config{Style: Timm, Layers: []int{1, 2, 1, 1}, Width: 8, ImageSize: 64, NumClasses: 5}
	m, err := Load(c, tensor.CPU{}, open(t, "testdata/timm_resnet.safetensors"), "")
	if err != nil {
		t.Fatal(err)
	}
	io := open(t, "testdata/timm_resnet_io.safetensors")
	w, _ := io.Tensor("image")
	v, _ := w.Float32()
	traced := map[string]*tensor.Tensor{}
	f, l, err := m.Forward(tensor.CPU{}.FromHost(v, w.Shape...), tensortest.Keep(traced))
	if err != nil {
		t.Fatal(err)
	}
	allclose(t, "stem_out", traced["stem_out"], io)
	allclose(t, "layer4_out", traced["layer4_out"], io)
	allclose(t, "features", f, io)
	allclose(t, "logits", l, io)
}

// TestTimmRandom runs the standard ResNet on random weights: shapes of the features and logits, and the
// logits equal the classifier applied to the features.
func TestTimmRandom(t *testing.T) {
	c := Config{Style: Timm, Layers: []int{1, 2, 1, 1}, Width: 8, ImageSize: 64, NumClasses: 3}
	m, err := NewRandom(c, tensor.CPU{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	be := tensor.CPU{}
	x := make([]float32, 2*3*64*64)
	for i := range x {
		x[i] = float32(math.Sin(float64(i)))
	}
	traced := map[string][]int{}
	f, l, err := m.Forward(be.FromHost(x, 2, 3, 64, 64), func(n string, t *tensor.Tensor) { traced[n] = slices.Clone(t.Shape()) })
	if err != nil || !slices.Equal(f.Shape(), []int{2, 256}) || !slices.Equal(l.Shape(), []int{2, 3}) {
		t.Fatalf("Forward = %v, %v, %v", f, l, err)
	}
	if !slices.Equal(traced["stem_out"], []int{2, 8, 16, 16}) || !slices.Equal(traced["layer4_out"], []int{2, 256, 2, 2}) {
		t.Errorf("intermediate shapes %v", traced)
	}
}

// BenchmarkRN50 encodes a batch of 16 224×224 images with open_clip's RN50 image tower (random weights).
func BenchmarkRN50(b *testing.B) {
	be := tensor.CPU{}
	m, err := NewRandom(RN50, be, 1)
	if err != nil {
		b.Fatal(err)
	}
	const batch = 16
	x := be.Zeros(batch, 3, 224, 224)
	b.ResetTimer()
	t0 := processCPUTime()
	for i := 0; i < b.N; i++ {
		if _, _, err := m.Forward(x, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "images/s")
	// CPU seconds per image: the work, apart from what other jobs on a shared machine take.
	b.ReportMetric((processCPUTime()-t0).Seconds()/float64(batch*b.N), "cpu-s/image")
}

// BenchmarkResNet50 encodes a batch of 16 224×224 images with timm's resnet50 (torchvision's
// architecture; random weights), including its 1000-class classifier.
func BenchmarkResNet50(b *testing.B) {
	be := tensor.CPU{}
	m, err := NewRandom(ResNet50, be, 1)
	if err != nil {
		b.Fatal(err)
	}
	const batch = 16
	x := be.Zeros(batch, 3, 224, 224)
	b.ResetTimer()
	t0 := processCPUTime()
	for i := 0; i < b.N; i++ {
		if _, _, err := m.Forward(x, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "images/s")
	// CPU seconds per image: the work, apart from what other jobs on a shared machine take.
	b.ReportMetric((processCPUTime()-t0).Seconds()/float64(batch*b.N), "cpu-s/image")
}

// The fixture helpers shared by every family's tests.
var (
	open     = tensortest.OpenSafetensors
	allclose = tensortest.AllClose
)
