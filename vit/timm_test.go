package vit

import (
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"plp/tensor"
	"plp/weights"
)

// timmWeights is the weight file of a timm fixture; timm_vit_token's is the copy the weights package
// already keeps.
func timmWeights(name string) string {
	if name == "timm_vit_token" {
		return "../weights/testdata/models/timm_vit_token.safetensors"
	}
	return fixtureDir + name + ".safetensors"
}

// timmFixtureConfig derives the config from the manifest's architecture.vit section.
func timmFixtureConfig(t *testing.T, name string) TimmConfig {
	t.Helper()
	b, err := os.ReadFile(fixtureDir + name + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Constructor struct {
			ModelName string `json:"model_name"`
		}
		Architecture struct {
			ViT struct {
				ImgSize    []int `json:"img_size"`
				PatchSize  int   `json:"patch_size"`
				EmbedDim   int   `json:"embed_dim"`
				Depth      int
				NumHeads   int    `json:"num_heads"`
				MLPHidden  int    `json:"mlp_hidden"`
				GlobalPool string `json:"global_pool"`
				NumClasses int    `json:"num_classes"`
			} `json:"vit"`
		}
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	v := m.Architecture.ViT
	return TimmConfig{
		ImageSize: v.ImgSize[0], PatchSize: v.PatchSize, Width: v.EmbedDim, Layers: v.Depth, Heads: v.NumHeads,
		MLPRatio: float64(v.MLPHidden) / float64(v.EmbedDim), Pool: v.GlobalPool, NumClasses: v.NumClasses,
		Beit: strings.HasPrefix(m.Constructor.ModelName, "beit"), Eps: 1e-6,
	}
}

func TestTimmFixtures(t *testing.T) {
	be := tensor.CPU{}
	for _, name := range []string{"timm_vit_token", "timm_vit_avg", "timm_vit_head", "timm_beit"} {
		t.Run(name, func(t *testing.T) {
			cfg := timmFixtureConfig(t, name)
			m, err := LoadTimm(cfg, be, open(t, timmWeights(name)), "")
			if err != nil {
				t.Fatal(err)
			}
			io := open(t, fixtureDir+name+"_io.safetensors")
			w, _ := io.Tensor("image")
			v, _ := w.Float32()
			var tokens *tensor.Tensor
			feats, logits, err := m.Forward(be.FromHost(v, w.Shape...), func(n string, x *tensor.Tensor) {
				if n == "tokens" {
					tokens = be.FromHost(be.ToHost(x), x.Shape()...)
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			allclose(t, "tokens", tokens, io)
			allclose(t, "features", feats, io)
			if cfg.NumClasses > 0 {
				allclose(t, "logits", logits, io)
			} else if logits != nil {
				t.Errorf("logits %v without a head", logits)
			}
			if cfg.Beit {
				allclose(t, "block0_rel_pos_bias", m.RelPosBias(0), io)
				idx, _ := io.Tensor("rel_pos_index")
				want, _ := idx.Int64()
				got := RelativePositionIndex(cfg.Grid())
				for i := range want {
					if int64(got[i]) != want[i] {
						t.Fatalf("rel_pos_index[%d] = %d, want %d", i, got[i], want[i])
					}
				}
			}
		})
	}
}

func TestTimmLoadErrors(t *testing.T) {
	be := tensor.CPU{}
	tests := []struct {
		fixture string
		edit    func(ws map[string]*weights.Tensor)
		field   func(e *LoadError) []string
		listed  []string
	}{
		{"timm_beit", func(ws map[string]*weights.Tensor) {
			delete(ws, "blocks.1.attn.relative_position_bias_table")
			delete(ws, "blocks.0.gamma_2")
		}, func(e *LoadError) []string { return e.Missing }, []string{"blocks.0.gamma_2", "blocks.1.attn.relative_position_bias_table"}},
		{"timm_beit", func(ws map[string]*weights.Tensor) {
			ws["pos_embed"] = ws["cls_token"]
			ws["blocks.0.attn.k_bias"] = ws["blocks.0.attn.q_bias"]
		}, func(e *LoadError) []string { return e.Unexpected }, []string{"blocks.0.attn.k_bias", "pos_embed"}},
		{"timm_vit_avg", func(ws map[string]*weights.Tensor) {
			ws["norm.weight"] = ws["fc_norm.weight"]
		}, func(e *LoadError) []string { return e.Unexpected }, []string{"norm.weight"}},
		{"timm_vit_head", func(ws map[string]*weights.Tensor) {
			w := *ws["head.weight"]
			w.Shape = []int{64, 10}
			ws["head.weight"] = &w
		}, func(e *LoadError) []string { return e.Mismatched }, []string{"head.weight: shape [64 10], want [10 64]"}},
	}
	for _, tc := range tests {
		t.Run(tc.fixture, func(t *testing.T) {
			st := open(t, timmWeights(tc.fixture))
			ws := map[string]*weights.Tensor{}
			for _, k := range st.Names() {
				ws[k], _ = st.Tensor(k)
			}
			tc.edit(ws)
			m, err := NewTimm(timmFixtureConfig(t, tc.fixture), be, ws, "")
			var le *LoadError
			if m != nil || !errors.As(err, &le) {
				t.Fatalf("NewTimm = %v, %v; want a *LoadError", m, err)
			}
			if got := tc.field(le); !slices.Equal(got, tc.listed) {
				t.Fatalf("listed %q, want %q (error: %v)", got, tc.listed, err)
			}
		})
	}
}

func TestTimmBadInput(t *testing.T) {
	cfg := timmFixtureConfig(t, "timm_beit")
	m, err := LoadTimm(cfg, tensor.CPU{}, open(t, timmWeights("timm_beit")), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, shape := range [][]int{{1, 3, 32, 32}, {1, 1, 64, 64}, {3, 64, 64}, {0, 3, 64, 64}} {
		if _, _, err := m.Forward(tensor.CPU{}.Zeros(shape...), nil); err == nil {
			t.Errorf("Forward accepted input %v", shape)
		}
	}
	for _, bad := range []func(c *TimmConfig){
		func(c *TimmConfig) { c.Pool = "max" },
		func(c *TimmConfig) { c.Heads = 5 },
		func(c *TimmConfig) { c.Eps = 0 },
	} {
		c := cfg
		bad(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("Validate accepted %+v", c)
		}
	}
}
