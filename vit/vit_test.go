package vit

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"slices"
	"strings"
	"testing"

	"plp/tensor"
	"plp/tensor/tensortest"
	"plp/weights"
)

// The fixtures are shared with the zoo package's tests (one copy in the repository).
const fixtureDir = "../zoo/testdata/"

var fixtures = []string{"openclip_vit_quickgelu", "openclip_vit_gelu", "openclip_vit_f16"}

// fixtureConfig derives the config from the manifest's architecture section (heads, activation and eps are
// not recoverable from the weights).
func fixtureConfig(t *testing.T, name string) Config {
	t.Helper()
	b, err := os.ReadFile(fixtureDir + name + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Architecture struct {
			Vision struct {
				ImageSize int `json:"image_size"`
				PatchSize int `json:"patch_size"`
				Width     int
				Layers    int
				Heads     int
				MLPHidden int `json:"mlp_hidden"`
				Act       string
			}
			EmbedDim int `json:"embed_dim"`
		}
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	v := m.Architecture.Vision
	c := Config{
		ImageSize: v.ImageSize, PatchSize: v.PatchSize, Width: v.Width, Layers: v.Layers,
		HeadWidth: v.Width / v.Heads, MLPRatio: float64(v.MLPHidden) / float64(v.Width),
		OutputDim: m.Architecture.EmbedDim, Act: tensor.GELU, LayerNormEps: 1e-5,
	}
	if strings.HasPrefix(v.Act, "QuickGELU") {
		c.Act = tensor.QuickGELU
	}
	return c
}

func TestFixtures(t *testing.T) {
	be := tensor.CPU{}
	for _, name := range fixtures {
		t.Run(name, func(t *testing.T) {
			cfg := fixtureConfig(t, name)
			m, err := Load(cfg, be, open(t, fixtureDir+name+".safetensors"), "visual.")
			if err != nil {
				t.Fatal(err)
			}
			io := open(t, fixtureDir+name+"_io.safetensors")
			w, _ := io.Tensor("image")
			v, _ := w.Float32()
			traced := map[string]*tensor.Tensor{}
			embed, pooled, err := m.Forward(be.FromHost(v, w.Shape...), tensortest.Keep(traced))
			if err != nil {
				t.Fatal(err)
			}
			allclose(t, "vis_after_ln_pre", traced["after_ln_pre"], io)
			allclose(t, "vis_block0_out", traced["block0_out"], io)
			allclose(t, "image_embed_preproj", pooled, io)
			allclose(t, "image_embed", embed, io)
			allclose(t, "image_embed", m.Project(pooled), io)
			// Without a trace the last block evaluates the class token alone; that must be exact.
			fast, fastPooled, err := m.Forward(be.FromHost(v, w.Shape...), nil)
			if err != nil {
				t.Fatal(err)
			}
			allclose(t, "image_embed_preproj", fastPooled, io)
			allclose(t, "image_embed", fast, io)
			a, b := be.ToHost(fastPooled), be.ToHost(pooled)
			for i := range a {
				if math.Abs(float64(a[i]-b[i])) > 1e-5*(1+math.Abs(float64(b[i]))) {
					t.Fatalf("pooled[%d]: %v on the class token alone, %v on every token", i, a[i], b[i])
				}
			}
		})
	}
}

// fixtureTensors returns the vision tensors of the quickgelu fixture by full key.
func fixtureTensors(t *testing.T) (Config, map[string]*weights.Tensor) {
	name := fixtures[0]
	st := open(t, fixtureDir+name+".safetensors")
	ws := map[string]*weights.Tensor{}
	for _, k := range st.Names() {
		if strings.HasPrefix(k, "visual.") {
			ws[k], _ = st.Tensor(k)
		}
	}
	return fixtureConfig(t, name), ws
}

func TestLoadErrors(t *testing.T) {
	be := tensor.CPU{}
	tests := []struct {
		name   string
		edit   func(ws map[string]*weights.Tensor)
		field  func(e *LoadError) []string
		listed []string
	}{
		{"missing", func(ws map[string]*weights.Tensor) {
			delete(ws, "visual.transformer.resblocks.1.mlp.c_fc.bias")
			delete(ws, "visual.proj")
		}, func(e *LoadError) []string { return e.Missing }, []string{"visual.proj", "visual.transformer.resblocks.1.mlp.c_fc.bias"}},
		{"unexpected", func(ws map[string]*weights.Tensor) {
			ws["visual.transformer.resblocks.2.ln_1.weight"] = ws["visual.ln_pre.weight"]
		}, func(e *LoadError) []string { return e.Unexpected }, []string{"visual.transformer.resblocks.2.ln_1.weight"}},
		{"shape", func(ws map[string]*weights.Tensor) {
			w := *ws["visual.positional_embedding"]
			w.Shape = []int{w.Shape[1], w.Shape[0]}
			ws["visual.positional_embedding"] = &w
		}, func(e *LoadError) []string { return e.Mismatched }, []string{"visual.positional_embedding: shape [64 17], want [17 64]"}},
		{"dtype", func(ws map[string]*weights.Tensor) {
			w := *ws["visual.ln_post.bias"]
			w.DType = weights.I32
			ws["visual.ln_post.bias"] = &w
		}, func(e *LoadError) []string { return e.Mismatched }, []string{"visual.ln_post.bias: dtype I32 is not a float type"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, ws := fixtureTensors(t)
			tc.edit(ws)
			m, err := New(cfg, be, ws, "visual.")
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
	cfg, ws := fixtureTensors(t)
	be := tensor.CPU{}
	m, err := New(cfg, be, ws, "visual.")
	if err != nil {
		t.Fatal(err)
	}
	for _, shape := range [][]int{{1, 3, 32, 32}, {1, 1, 64, 64}, {3, 64, 64}, {0, 3, 64, 64}} {
		if _, _, err := m.Forward(be.Zeros(shape...), nil); err == nil {
			t.Errorf("Forward accepted input %v", shape)
		}
	}
	bad := cfg
	bad.HeadWidth = 24
	if _, err := New(bad, be, ws, "visual."); err == nil {
		t.Error("New accepted width 64 with head width 24")
	}
}

// TestRandom checks that random construction follows the key table and runs.
func TestRandom(t *testing.T) {
	cfg, _ := fixtureTensors(t)
	m, err := NewRandom(cfg, tensor.CPU{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	embed, pooled, err := m.Forward(tensor.CPU{}.Zeros(2, 3, 64, 64), nil)
	if err != nil || !slices.Equal(embed.Shape(), []int{2, 32}) || !slices.Equal(pooled.Shape(), []int{2, 64}) {
		t.Fatalf("Forward = %v, %v, %v", embed, pooled, err)
	}
}

// ViTB16 is open_clip's ViT-B-16 image tower.
var ViTB16 = Config{ImageSize: 224, PatchSize: 16, Width: 768, Layers: 12, HeadWidth: 64, MLPRatio: 4,
	OutputDim: 512, Act: tensor.QuickGELU, LayerNormEps: 1e-5}

// BenchmarkViTB16 encodes a batch of 16 images with ViT-B/16 (random weights); images/s is reported.
func BenchmarkViTB16(b *testing.B) {
	be := tensor.CPU{}
	m, err := NewRandom(ViTB16, be, 1)
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
