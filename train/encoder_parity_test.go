package train

import (
	"math/rand/v2"
	"sort"
	"strings"
	"testing"

	"plp/convnext"
	"plp/tensor"
	"plp/vit"
	"plp/weights"
)

// randomWeights fills a key table with seeded values of roughly unit scale per fan-in.
func randomWeights(table map[string][]int, prefix string, seed uint64) map[string]*weights.Tensor {
	r := rand.New(rand.NewPCG(seed, 7))
	out := map[string]*weights.Tensor{}
	keys := make([]string, 0, len(table))
	for k := range table {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		shape := table[k]
		n := tensor.Numel(shape)
		scale := 0.1
		if len(shape) >= 2 {
			scale = 1 / float64(tensor.Numel(shape[1:]))
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64() * scale)
			if len(shape) == 1 && strings.HasSuffix(k, "weight") {
				v[i] += 1 // norm weights near 1
			}
		}
		out[prefix+k] = weights.FromFloat32(prefix+k, shape, v)
	}
	return out
}

// TestEncoderForwardParity checks that the trainable forwards equal the inference families' forwards on
// the same weights.
func TestEncoderForwardParity(t *testing.T) {
	be := tensor.CPU{}
	r := rand.New(rand.NewPCG(3, 4))
	img := func(b, s int) *tensor.Tensor {
		v := make([]float32, b*3*s*s)
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
		return be.FromHost(v, b, 3, s, s)
	}
	type fwd func(x *tensor.Tensor) (*tensor.Tensor, error)
	for _, c := range []struct {
		name      string
		size      int
		train     func() (Encoder, error)
		inference func() (fwd, error)
	}{
		{"timm_vit_avg", 32, func() (Encoder, error) {
			c := vit.TimmConfig{ImageSize: 32, PatchSize: 8, Width: 32, Layers: 2, Heads: 4, MLPRatio: 2, Pool: "avg", NumClasses: 3, Eps: 1e-6}
			return NewTimmViT(c, be, randomWeights(c.Shapes(), "", 1))
		}, func() (fwd, error) {
			c := vit.TimmConfig{ImageSize: 32, PatchSize: 8, Width: 32, Layers: 2, Heads: 4, MLPRatio: 2, Pool: "avg", NumClasses: 3, Eps: 1e-6}
			m, err := vit.NewTimm(c, be, randomWeights(c.Shapes(), "", 1), "")
			return func(x *tensor.Tensor) (*tensor.Tensor, error) { _, l, err := m.Forward(x, nil); return l, err }, err
		}},
		{"openclip_vit_quickgelu", 32, func() (Encoder, error) {
			c := vit.Config{ImageSize: 32, PatchSize: 8, Width: 32, Layers: 2, HeadWidth: 16, MLPRatio: 4, OutputDim: 24, Act: tensor.QuickGELU, LayerNormEps: 1e-5}
			return NewCLIPViT(c, be, randomWeights(c.Shapes(), "visual.", 2), "visual.")
		}, func() (fwd, error) {
			c := vit.Config{ImageSize: 32, PatchSize: 8, Width: 32, Layers: 2, HeadWidth: 16, MLPRatio: 4, OutputDim: 24, Act: tensor.QuickGELU, LayerNormEps: 1e-5}
			m, err := vit.New(c, be, randomWeights(c.Shapes(), "visual.", 2), "visual.")
			return func(x *tensor.Tensor) (*tensor.Tensor, error) { e, _, err := m.Forward(x, nil); return e, err }, err
		}},
		{"timm_convnext", 64, func() (Encoder, error) {
			c := convnext.Config{Depths: []int{1, 2, 1, 1}, Dims: []int{8, 16, 24, 32}, ImageSize: 64, NumClasses: 4, Eps: 1e-6}
			return NewConvNeXt(c, be, randomWeights(c.Shapes(), "", 3), "")
		}, func() (fwd, error) {
			c := convnext.Config{Depths: []int{1, 2, 1, 1}, Dims: []int{8, 16, 24, 32}, ImageSize: 64, NumClasses: 4, Eps: 1e-6}
			m, err := convnext.New(c, be, randomWeights(c.Shapes(), "", 3), "")
			return func(x *tensor.Tensor) (*tensor.Tensor, error) { _, l, err := m.Forward(x, nil); return l, err }, err
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := c.train()
			if err != nil {
				t.Fatal(err)
			}
			ref, err := c.inference()
			if err != nil {
				t.Fatal(err)
			}
			x := img(3, c.size)
			want, err := ref(x)
			if err != nil {
				t.Fatal(err)
			}
			feat, logits, err := m.Forward(NewTape(be), Const(x))
			if err != nil {
				t.Fatal(err)
			}
			got := logits
			if got == nil {
				got = feat
			}
			if e := relErr(be.ToHost(got.Value), be.ToHost(want)); !(e <= 1e-5) {
				t.Fatalf("trainable forward differs from inference: error %.3g", e)
			}
		})
	}
}
