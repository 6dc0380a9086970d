package zoo

import (
	"math"
	"slices"
	"testing"

	"plp/convnext"
	"plp/tensor"
	"plp/weights"
)

// TestTorchvisionConvNeXt loads a tiny ConvNeXt saved with torchvision's key names (features.*,
// classifier.*, layer_scale [C,1,1]) and checks its feature against torch's output of the paper's
// recipe for "convnext_base": torchvision's model with the classifier replaced by Flatten, i.e. the
// pooled last stage without the head's LayerNorm.
func TestTorchvisionConvNeXt(t *testing.T) {
	st, err := weights.OpenSafetensors("testdata/torchvision_convnext.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	io, err := weights.OpenSafetensors("testdata/torchvision_convnext_io.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer io.Close()
	read := func(name string) ([]float32, []int) {
		x, err := io.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		v, err := x.Float32()
		if err != nil {
			t.Fatal(err)
		}
		return slices.Clone(v), x.Shape
	}
	cfg := &TimmConfig{ConvNeXt: &convnext.Config{Depths: []int{1, 2, 1, 1}, Dims: []int{8, 16, 24, 32}, ImageSize: 64, Eps: 1e-6,
		NoHeadNorm: true}, Keys: torchvisionKeys}
	be := tensor.CPU{}
	tw, err := cfg.load(be, st)
	if err != nil {
		t.Fatal(err)
	}
	x, shape := read("image")
	embed, _, err := tw.image.Forward(be.FromHost(x, shape...), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := be.ToHost(embed)
	want, _ := read("features")
	if len(got) != len(want) {
		t.Fatalf("%d values, want %d", len(got), len(want))
	}
	for i := range want {
		if d := math.Abs(float64(got[i] - want[i])); d > 1e-4*(1+math.Abs(float64(want[i]))) {
			t.Fatalf("feature %d = %v, torch gives %v", i, got[i], want[i])
		}
	}

	// The registry entry is ConvNeXt-B with those keys and no head norm.
	s, ok := Lookup("convnext_base")
	if !ok {
		t.Fatal("convnext_base is not registered")
	}
	c := s.Config.(*TimmConfig)
	if !c.ConvNeXt.NoHeadNorm || c.Family() != "torchvision" || c.EmbedDim() != 1024 || s.Preprocess.Transform != "plain224" {
		t.Errorf("convnext_base: %+v %+v", c.ConvNeXt, s.Preprocess)
	}
	for k, want := range map[string]string{
		"features.0.0.weight":          "stem.0.weight",
		"features.0.1.bias":            "stem.1.bias",
		"features.5.26.block.0.weight": "stages.2.blocks.26.conv_dw.weight",
		"features.7.2.block.2.bias":    "stages.3.blocks.2.norm.bias",
		"features.1.0.block.3.weight":  "stages.0.blocks.0.mlp.fc1.weight",
		"features.3.1.block.5.bias":    "stages.1.blocks.1.mlp.fc2.bias",
		"features.3.1.layer_scale":     "stages.1.blocks.1.gamma",
		"features.6.1.weight":          "stages.3.downsample.1.weight",
		"features.2.0.bias":            "stages.1.downsample.0.bias",
		"something.else":               "something.else",
	} {
		if got := torchvisionConvNeXtKey(k); got != want {
			t.Errorf("%s → %s, want %s", k, got, want)
		}
	}
}
