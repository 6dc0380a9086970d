package zoo

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"plp/tensor"
	"plp/textenc"
	"plp/vit"
	"plp/weights"
)

// TestRegistry checks the paper's CLIP names against open_clip's model configs and pretrained tags.
func TestRegistry(t *testing.T) {
	tests := []struct {
		name, arch, tag, hub        string
		quick                       bool
		embed, width, layers, heads int
		mlp, patch                  int
		tWidth, tHeads, tLayers     int
	}{
		{"openclip_ViT-B-16/openai", "ViT-B-16", "openai", "timm/vit_base_patch16_clip_224.openai", true, 512, 768, 12, 12, 3072, 16, 512, 8, 12},
		{"openclip_ViT-B-16/laion2b", "ViT-B-16", "laion2b_s34b_b88k", "laion/CLIP-ViT-B-16-laion2B-s34B-b88K", false, 512, 768, 12, 12, 3072, 16, 512, 8, 12},
		{"openclip_ViT-L-14/openai", "ViT-L-14", "openai", "timm/vit_large_patch14_clip_224.openai", true, 768, 1024, 24, 16, 4096, 14, 768, 12, 12},
		{"openclip_ViT-L-14/laion2b", "ViT-L-14", "laion2b_s32b_b82k", "laion/CLIP-ViT-L-14-laion2B-s32B-b82K", false, 768, 1024, 24, 16, 4096, 14, 768, 12, 12},
		{"openclip_ViT-H-14/laion2b", "ViT-H-14", "laion2b_s32b_b79k", "laion/CLIP-ViT-H-14-laion2B-s32B-b79K", false, 1024, 1280, 32, 16, 5120, 14, 1024, 16, 24},
		{"openclip_ViT-bigG-14/laion2b", "ViT-bigG-14", "laion2b_s39b_b160k", "laion/CLIP-ViT-bigG-14-laion2B-39B-b160k", false, 1280, 1664, 48, 16, 8192, 14, 1280, 20, 32},
	}
	if got := len(Names()); got < len(tests) {
		t.Fatalf("%d registered names, want at least %d", got, len(tests))
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, ok := Lookup(tc.name)
			if !ok {
				t.Fatal("not registered")
			}
			c := s.Config.(*OpenCLIPConfig)
			v, x := c.VisionConfig(), c.TextConfig()
			wantAct := tensor.GELU
			if tc.quick {
				wantAct = tensor.QuickGELU
			}
			if s.Arch != tc.arch || s.Pretrained != tc.tag || s.Checkpoint.HFHub != tc.hub || s.Family() != "openclip" ||
				v.Act != wantAct || x.Act != wantAct || s.Config.EmbedDim() != tc.embed ||
				v.Width != tc.width || v.Layers != tc.layers || v.Heads() != tc.heads || v.MLPWidth() != tc.mlp ||
				v.PatchSize != tc.patch || v.ImageSize != 224 || v.OutputDim != tc.embed ||
				x.Width != tc.tWidth || x.Heads != tc.tHeads || x.Layers != tc.tLayers || x.MLPWidth() != 4*tc.tWidth ||
				x.ContextLength != 77 || x.VocabSize != 49408 || x.OutputDim != tc.embed {
				t.Fatalf("spec %+v\nvision %+v\ntext %+v", s, v, x)
			}
			p := s.Preprocess
			if p.Size != 224 || p.Interpolation != "bicubic" || p.ResizeMode != "shortest" || p.Transform != "clip224" ||
				p.Mean != [3]float32{0.48145466, 0.4578275, 0.40821073} || p.Std != [3]float32{0.26862954, 0.26130258, 0.27577711} {
				t.Fatalf("preprocess %+v", p)
			}
			if !slices.Contains(s.Checkpoint.Files, "open_clip_model.safetensors") || !slices.Contains(s.Checkpoint.Files, "open_clip_pytorch_model.bin") {
				t.Fatalf("checkpoint files %v", s.Checkpoint.Files)
			}
		})
	}
}

// A real open_clip_config.json (laion/CLIP-ViT-H-14-laion2B-s32B-b79K's layout).
const hubConfig = `{
  "model_cfg": {
    "embed_dim": 1024,
    "vision_cfg": {"image_size": 224, "layers": 32, "width": 1280, "head_width": 80, "patch_size": 14},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 1024, "heads": 16, "layers": 24}
  },
  "preprocess_cfg": {
    "mean": [0.48145466, 0.4578275, 0.40821073],
    "std": [0.26862954, 0.26130258, 0.27577711]
  }
}`

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestResolveConfigFiles(t *testing.T) {
	h, _ := Lookup("openclip_ViT-H-14/laion2b")
	s, err := Resolve(writeFile(t, "open_clip_config.json", hubConfig))
	if err != nil {
		t.Fatal(err)
	}
	got, want := s.Config.(*OpenCLIPConfig), h.Config.(*OpenCLIPConfig)
	if got.VisionConfig() != want.VisionConfig() || got.TextConfig() != want.TextConfig() || s.Preprocess != h.Preprocess {
		t.Fatalf("open_clip_config.json gave %+v %+v %+v", got.VisionConfig(), got.TextConfig(), s.Preprocess)
	}

	// An open_clip model config with quick_gelu and defaults for absent fields; custom normalisation.
	s, err = Resolve(writeFile(t, "ViT-B-16-quickgelu.json", `{"embed_dim": 512, "quick_gelu": true,
		"vision_cfg": {"image_size": 224, "layers": 12, "width": 768, "patch_size": 16},
		"text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 512, "heads": 8, "layers": 12}}`))
	if err != nil {
		t.Fatal(err)
	}
	b16, _ := Lookup("openclip_ViT-B-16/openai")
	if s.Config.(*OpenCLIPConfig).VisionConfig() != b16.Config.(*OpenCLIPConfig).VisionConfig() {
		t.Fatalf("model config gave %+v", s.Config.(*OpenCLIPConfig).VisionConfig())
	}
	s, err = Resolve(writeFile(t, "c.json", `{"model_cfg": {"embed_dim": 32}, "preprocess_cfg": {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5], "interpolation": "bilinear"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if p := s.Preprocess; p.Mean != [3]float32{0.5, 0.5, 0.5} || p.Interpolation != "bilinear" || p.Transform != "custom" {
		t.Fatalf("preprocess %+v", p)
	}

	// A fixture manifest.
	s, err = Resolve("testdata/openclip_vit_quickgelu.json")
	if err != nil {
		t.Fatal(err)
	}
	if v := s.Config.(*OpenCLIPConfig).VisionConfig(); v.Heads() != 4 || v.Act != tensor.QuickGELU || v.MLPWidth() != 256 || v.OutputDim != 32 {
		t.Fatalf("manifest gave %+v", v)
	}
}

func TestResolveErrors(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"not json", `{"model_cfg": `, "config"},
		{"unknown layout", `{"foo": 1}`, "not an open_clip_config.json"},
		{"resnet stages", `{"model_cfg": {"embed_dim": 1024, "vision_cfg": {"layers": [3, 4, 6], "width": 64}}}`, "ModifiedResNet"},
		{"timm tower", `{"model_cfg": {"embed_dim": 640, "vision_cfg": {"timm_model_name": "vit_base_patch16_224", "timm_proj": "linear"}}}`, "timm image tower"},
		{"timm pool", `{"model_cfg": {"embed_dim": 640, "vision_cfg": {"timm_model_name": "convnext_base", "timm_pool": "avg", "timm_proj": "linear"}}}`, "timm_pool"},
		{"hf text", `{"model_cfg": {"embed_dim": 512, "text_cfg": {"hf_model_name": "xlm-roberta-base"}}}`, "Hugging Face"},
		{"bad heads", `{"model_cfg": {"embed_dim": 512, "vision_cfg": {"width": 100, "head_width": 64}}}`, "head width"},
		{"bad std", `{"model_cfg": {"embed_dim": 512}, "preprocess_cfg": {"std": [0, 1, 1]}}`, "std"},
		{"unknown family", `{"name": "x", "family": "nope", "constructor": {}}`, `family "nope"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Resolve(writeFile(t, "c.json", tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Resolve: %v, want an error mentioning %q", err, tc.want)
			}
		})
	}
	for _, tc := range []struct{ name, want string }{
		// A misspelt name gets the closest registered names, not the whole list.
		{"openclip_ViT-B16/openai", `unknown model "openclip_ViT-B16/openai"; did you mean openclip_ViT-B-16/openai?`},
		{"ViT-B16/openai", "did you mean openclip_ViT-B-16/openai?"},
		{"timm_vit_small_patch16", "did you mean timm_vit_small_patch16_224?"},
		{"timm_vit_base_patch16", "did you mean one of timm_vit_base_patch16_224, timm_vit_base_patch16_384?"},
		{"openclip_ViT-X-99/openai", "did you mean one of"},
		{"something_else_entirely", `unknown model "something_else_entirely": not a registered name (plp models lists them) nor a config file`},
		// A path to a file that is not there is a missing file.
		{"configs/open_clip_config.json", "config file configs/open_clip_config.json: no such file"},
		{"model.json", "config file model.json: no such file"},
		{"./ViT-B-16", "config file ./ViT-B-16: no such file"},
		// A spelling of two registered models is refused with both.
		{"vit_large_patch16_224", `"vit_large_patch16_224" is ambiguous: it may mean timm_vit_large_patch16_224 or timm_vit_large_patch16_224_in21k`},
	} {
		_, err := Resolve(tc.name)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Resolve(%q): %v, want an error containing %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Count(err.Error(), "openclip_") > 3 {
			t.Errorf("Resolve(%q) lists too many names: %v", tc.name, err)
		}
	}
}

// TestAliases resolves every registered model's open_clip or timm spelling back to it.
func TestAliases(t *testing.T) {
	for _, tc := range []struct{ alias, name string }{
		{"ViT-B-16/openai", "openclip_ViT-B-16/openai"},
		{"ViT-B-16/laion2b", "openclip_ViT-B-16/laion2b"},
		{"ViT-B-16/laion2b_s34b_b88k", "openclip_ViT-B-16/laion2b"},
		{"RN50/openai", "openclip_RN50/openai"},
		{"convnext_base_w/laion2b_s13b_b82k", "openclip_convnext_base_w/laion2b"},
		{"vit_base_patch16_224", "timm_vit_base_patch16_224"},
		{"vit_base_patch16_224.augreg2_in21k_ft_in1k", "timm_vit_base_patch16_224"},
		{"timm/vit_large_patch16_224.augreg_in21k", "timm_vit_large_patch16_224_in21k"},
		{"convnext_base_in22k", "timm_convnext_base_in22k"},
		{"resnet50", "timm_resnet50"},
	} {
		s, err := Resolve(tc.alias)
		if err != nil || s.Name != tc.name {
			t.Errorf("Resolve(%q) = %v, %v; want %s", tc.alias, s, err, tc.name)
		}
	}
	seen := map[string]string{}
	for _, name := range Names() {
		as := Aliases(name)
		s := registry[name]
		if _, clip := s.Config.(*OpenCLIPConfig); clip && len(as) < 1 || s.Family() == "timm" && len(as) < 2 {
			t.Errorf("%s: aliases %v, want open_clip's or timm's spellings", name, as)
		}
		for _, a := range as {
			if other, dup := seen[a]; dup {
				t.Errorf("alias %q of both %s and %s", a, other, name)
			}
			seen[a] = name
			got, err := Resolve(a)
			if err != nil || got.Name != name || got.Arch != s.Arch || got.Config.EmbedDim() != s.Config.EmbedDim() {
				t.Errorf("Resolve(%q) = %v, %v; want %s", a, got, err, name)
			}
			if _, registered := Lookup(a); registered {
				t.Errorf("alias %q is itself a registered name", a)
			}
		}
	}
	// The self-supervised releases keep their own names only.
	if as := Aliases("mae_vit_base"); len(as) != 0 {
		t.Errorf("mae_vit_base aliases %v", as)
	}
	// A file of an alias's name is a file, not the alias.
	dir := t.TempDir()
	t.Chdir(dir)
	if err := os.WriteFile("resnet50", []byte(`{"foo": 1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Resolve("resnet50"); err == nil || !strings.Contains(err.Error(), "not an open_clip_config.json") {
		t.Errorf("Resolve(resnet50) with such a file: %v", err)
	}
}

func TestLoad(t *testing.T) {
	be := tensor.CPU{}
	m, err := Load("testdata/openclip_vit_gelu.json", "testdata/openclip_vit_gelu.safetensors", be)
	if err != nil {
		t.Fatal(err)
	}
	if m.ImageSize() != 64 || m.EmbedDim() != 32 || !m.HasText() || m.Name() != "openclip_vit_gelu" {
		t.Fatalf("model %s: size %d embed %d", m.Name(), m.ImageSize(), m.EmbedDim())
	}
	embed, pre, err := m.EncodeImage(be.Zeros(2, 3, 64, 64))
	if err != nil || !slices.Equal(embed.Shape(), []int{2, 32}) || !slices.Equal(pre.Shape(), []int{2, 64}) {
		t.Fatalf("EncodeImage: %v %v %v", embed, pre, err)
	}
	if _, _, err := m.EncodeImage(be.Zeros(2, 3, 224, 224)); err == nil {
		t.Fatal("EncodeImage accepted 224×224 input for a 64×64 model")
	}
	e, err := m.EncodeText([][]int32{{49406, 320, 49407}}, true)
	if err != nil || !slices.Equal(e.Shape(), []int{1, 32}) {
		t.Fatalf("EncodeText: %v %v", e, err)
	}
	if _, err := Load("testdata/openclip_vit_gelu.json", "testdata/missing.safetensors", be); err == nil {
		t.Fatal("Load of a missing file succeeded")
	}
	// The fixture's F32 weights do not fit the F16 fixture's narrower text tower.
	_, err = Load("testdata/openclip_vit_f16.json", "testdata/openclip_vit_gelu.safetensors", be)
	var le *textenc.LoadError
	if !errors.As(err, &le) || len(le.Mismatched) == 0 || !strings.Contains(err.Error(), "token_embedding.weight: shape [49408 32], want [49408 16]") {
		t.Fatalf("mismatched checkpoint: %v", err)
	}
}

// memStore is an in-memory weights.Store for editing a checkpoint in tests.
type memStore map[string]*weights.Tensor

func (m memStore) Names() []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
func (m memStore) Tensor(name string) (*weights.Tensor, error) {
	if t, ok := m[name]; ok {
		return t, nil
	}
	return nil, errors.New("no tensor " + name)
}
func (m memStore) Metadata() map[string]string { return map[string]string{} }
func (m memStore) Close() error                { return nil }

// TestStrictLoad checks that one error lists every missing and unexpected key of both towers, and that
// OpenAI's legacy scalars are tolerated.
func TestStrictLoad(t *testing.T) {
	st, err := weights.OpenSafetensors("testdata/openclip_vit_f16.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ms := memStore{}
	for _, k := range st.Names() {
		ms[k], _ = st.Tensor(k)
	}
	spec, err := Resolve("testdata/openclip_vit_f16.json")
	if err != nil {
		t.Fatal(err)
	}
	be := tensor.CPU{}
	ms["context_length"] = weights.FromInt64("context_length", nil, []int64{77})
	if _, err := spec.Config.load(be, ms); err != nil {
		t.Fatalf("legacy OpenAI scalar rejected: %v", err)
	}
	delete(ms, "visual.ln_post.bias")
	delete(ms, "ln_final.weight")
	ms["visual.attnpool.c_proj.weight"] = ms["visual.proj"]
	ms["logit_bias"] = ms["logit_scale"]
	_, err = spec.Config.load(be, ms)
	var ve *vit.LoadError
	var te *textenc.LoadError
	if !errors.As(err, &ve) || !errors.As(err, &te) {
		t.Fatalf("load: %v, want both towers' LoadErrors", err)
	}
	if !slices.Equal(ve.Missing, []string{"visual.ln_post.bias"}) || !slices.Equal(ve.Unexpected, []string{"visual.attnpool.c_proj.weight"}) ||
		!slices.Equal(te.Missing, []string{"ln_final.weight"}) || !slices.Equal(te.Unexpected, []string{"logit_bias"}) {
		t.Fatalf("vision %+v text %+v", ve, te)
	}
}

func TestNewRandom(t *testing.T) {
	spec, err := Resolve("testdata/openclip_vit_quickgelu.json")
	if err != nil {
		t.Fatal(err)
	}
	m, err := NewRandom(spec, tensor.CPU{}, 7)
	if err != nil {
		t.Fatal(err)
	}
	e, pre, err := m.EncodeImage(tensor.CPU{}.Zeros(1, 3, 64, 64))
	if err != nil || e.Dim(1) != 32 || pre.Dim(1) != 64 {
		t.Fatalf("EncodeImage: %v %v %v", e, pre, err)
	}
	if s := m.Text().LogitScale(); s < 2.6 || s > 2.7 {
		t.Fatalf("random logit scale %v, want log(1/0.07)", s)
	}
}

func TestUnknownFamily(t *testing.T) {
	m := &Manifest{Name: "x", Family: "nope"}
	if _, err := RunManifest(m, tensor.CPU{}); err == nil || !strings.Contains(err.Error(), `family "nope"`) {
		t.Fatalf("RunManifest: %v", err)
	}
}

func TestCanonical(t *testing.T) {
	for in, want := range map[string]string{
		"openclip_ViT-B-16/openai": "openclip_ViT-B-16/openai",
		"ViT-B-16/openai":          "openclip_ViT-B-16/openai",
		"zoo/testdata/x.json":      "zoo/testdata/x.json",
		"no-such-model":            "no-such-model",
	} {
		if got := Canonical(in); got != want {
			t.Errorf("Canonical(%q) = %q, want %q", in, got, want)
		}
	}
}
