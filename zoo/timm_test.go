package zoo

import (
	"errors"
	"slices"
	"sort"
	"strings"
	"testing"

	"plp/tensor"
	"plp/vit"
	"plp/weights"
)

// modelFixtures are the fixtures of the image families other than the open_clip ViT.
var modelFixtures = []string{
	"openclip_rn", "openclip_convnext_linear", "openclip_convnext_mlp",
	"timm_vit_token", "timm_vit_avg", "timm_vit_head", "timm_beit", "timm_convnext",
}

// readFixture reads a manifest from testdata; timm_vit_token's weights are the copy the weights package
// keeps.
func readFixture(t *testing.T, name string) *Manifest {
	t.Helper()
	m, err := ReadManifest("testdata/" + name + ".json")
	if err != nil {
		t.Fatal(err)
	}
	if name == "timm_vit_token" {
		m.Weights.File = "../../weights/testdata/models/timm_vit_token.safetensors"
	}
	return m
}

// TestModelFixtureParity runs every fixture and compares every output the manifest lists with the
// reference at the manifest's tolerance (1e-4).
func TestModelFixtureParity(t *testing.T) {
	for _, name := range modelFixtures {
		t.Run(name, func(t *testing.T) {
			m := readFixture(t, name)
			if m.Tolerance.Atol != 1e-4 || m.Tolerance.Rtol != 1e-4 {
				t.Fatalf("manifest tolerance %+v, want 1e-4", m.Tolerance)
			}
			outs, err := RunManifest(m, tensor.CPU{})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]bool{}
			for _, o := range outs {
				got[o.Name] = true
			}
			for _, name := range m.Outputs() {
				if !got[name] {
					t.Errorf("output %s not computed", name)
				}
			}
			res, err := Check(m, outs)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res {
				if !r.OK {
					t.Errorf("%s: max_abs %.3g, %.3g× tolerance %s", r.Tensor, r.MaxAbs, r.MaxRel, r.Error)
				} else {
					t.Logf("%s: max_abs %.3g (%.3f× tolerance)", r.Tensor, r.MaxAbs, r.MaxRel)
				}
			}
		})
	}
}

// mapStore is an in-memory weights.Store.
type mapStore map[string]*weights.Tensor

func (s mapStore) Names() []string {
	n := make([]string, 0, len(s))
	for k := range s {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

func (s mapStore) Tensor(name string) (*weights.Tensor, error) {
	if t, ok := s[name]; ok {
		return t, nil
	}
	return nil, errors.New("no tensor " + name)
}
func (mapStore) Metadata() map[string]string { return map[string]string{} }
func (mapStore) Close() error                { return nil }

// TestKeyMaps loads the timm_vit_token weights dressed up as each self-supervised family's checkpoint:
// the mapping must recover the model exactly (same features), and a key it does not account for must
// fail the load, named in the error.
func TestKeyMaps(t *testing.T) {
	m := readFixture(t, "timm_vit_token")
	spec, err := m.Spec()
	if err != nil {
		t.Fatal(err)
	}
	st, err := weights.OpenSafetensors(m.Path(m.Weights.File))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	plain := mapStore{}
	for _, k := range st.Names() {
		plain[k], _ = st.Tensor(k)
	}
	extra := plain["cls_token"]
	tests := []struct {
		keys    KeyMap
		rename  func(string) string
		added   []string // training-only keys the table drops
		missing string   // a model key deleted from the checkpoint
	}{
		{maeKeys, func(k string) string { return k }, []string{"decoder_embed.weight", "decoder_blocks.0.norm1.weight", "mask_token"}, "norm.bias"},
		{msnKeys, func(k string) string { return "module." + k }, []string{"module.fc.fc1.weight", "module.fc.bn1.running_mean"}, "module.blocks.1.mlp.fc2.bias"},
		{ibotKeys, func(k string) string { return "backbone." + k }, []string{"head.mlp.0.weight", "backbone.masked_embed"}, "backbone.pos_embed"},
		{ibotKeys, func(k string) string { return k }, nil, "cls_token"},
	}
	io, err := weights.OpenSafetensors(m.Path(m.IO.File))
	if err != nil {
		t.Fatal(err)
	}
	defer io.Close()
	x, err := readInput(io, "image", tensor.CPU{})
	if err != nil {
		t.Fatal(err)
	}
	want, _ := io.Tensor("features")
	wantF, _ := want.Float32()
	for _, tc := range tests {
		t.Run(tc.keys.Family, func(t *testing.T) {
			ck := mapStore{}
			for k, w := range plain {
				ck[tc.rename(k)] = w
			}
			for _, k := range tc.added {
				ck[k] = extra
			}
			cfg := *spec.Config.(*TimmConfig)
			cfg.Keys = tc.keys
			tw, err := cfg.load(tensor.CPU{}, ck)
			if err != nil {
				t.Fatal(err)
			}
			f, _, err := tw.image.Forward(x, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := tensor.CPU{}.ToHost(f)
			for i := range got {
				if d := got[i] - wantF[i]; d > 1e-4 || d < -1e-4 {
					t.Fatalf("features[%d] = %v, want %v", i, got[i], wantF[i])
				}
			}
			// A key the table does not drop is unexpected; a deleted model key is missing.
			ck["blocks.7.attn.qkv.weight"] = extra
			delete(ck, tc.missing)
			_, err = cfg.load(tensor.CPU{}, ck)
			var le *vit.LoadError
			if !errors.As(err, &le) || !slices.Contains(le.Unexpected, "blocks.7.attn.qkv.weight") || len(le.Missing) != 1 {
				t.Fatalf("load with a stray and a missing key: %v", err)
			}
			if !strings.Contains(err.Error(), "blocks.7.attn.qkv.weight") {
				t.Errorf("error %q does not name the stray key", err)
			}
		})
	}
}

// TestBeitKeys drops the relative_position_index buffers that unilm's BEiT checkpoints store.
func TestBeitKeys(t *testing.T) {
	m := readFixture(t, "timm_beit")
	spec, err := m.Spec()
	if err != nil {
		t.Fatal(err)
	}
	st, err := weights.OpenSafetensors(m.Path(m.Weights.File))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ck := mapStore{}
	for _, k := range st.Names() {
		ck[k], _ = st.Tensor(k)
	}
	ck["blocks.0.attn.relative_position_index"] = ck["cls_token"]
	ck["blocks.1.attn.relative_position_index"] = ck["cls_token"]
	cfg := *spec.Config.(*TimmConfig)
	if _, err := cfg.load(tensor.CPU{}, ck); err == nil {
		t.Error("timm key table accepted relative_position_index")
	}
	cfg.Keys = beitKeys
	if _, err := cfg.load(tensor.CPU{}, ck); err != nil {
		t.Errorf("beit key table: %v", err)
	}
}

// TestKeyMapCollision: two checkpoint keys that map to one model key are an error naming both.
func TestKeyMapCollision(t *testing.T) {
	_, err := msnKeys.Map([]string{"module.norm.weight", "norm.weight", "pos_embed"})
	if err == nil || !strings.Contains(err.Error(), "module.norm.weight") || !strings.Contains(err.Error(), "norm.weight") {
		t.Fatalf("Map = %v, want a collision error", err)
	}
}

// TestTimmRegistry builds every registered name with random weights at the config level (no forward pass:
// the large models would be slow) and checks the listing fields.
func TestTimmRegistry(t *testing.T) {
	want := []string{"timm_vit_base_patch16_224", "timm_vit_large_patch16_224", "timm_vit_large_patch16_224_in21k",
		"timm_vit_huge_patch14_224_in21k", "timm_vit_small_patch16_224", "timm_resnet50", "timm_convnext_base_in22k",
		"mae_vit_base", "mae_vit_large", "mae_vit_huge", "msn_vit_base", "ibot_vit_large", "ibot_vit_large_in21k",
		"beit_vit_large_in21k"}
	for _, n := range want {
		s, ok := Lookup(n)
		if !ok {
			t.Errorf("%s is not registered", n)
			continue
		}
		if s.Config.ImageSize() != 224 || s.Config.EmbedDim() <= 0 || len(s.Checkpoint.Files) == 0 || s.Preprocess.Size != 224 {
			t.Errorf("%s: image %d embed %d files %v preprocess %+v", n, s.Config.ImageSize(), s.Config.EmbedDim(), s.Checkpoint.Files, s.Preprocess)
		}
	}
	if s, _ := Lookup("beit_vit_large_in21k"); s.Config.(*TimmConfig).Arch() != "beit" || s.Family() != "beit" {
		t.Errorf("beit_vit_large_in21k: arch %s family %s", s.Config.(*TimmConfig).Arch(), s.Family())
	}
}

// TestOpenCLIPTowers resolves the registered ModifiedResNet and ConvNeXt CLIP models and an open_clip
// model config of each kind, and builds a small ModifiedResNet and ConvNeXt CLIP with random weights.
func TestOpenCLIPTowers(t *testing.T) {
	for name, want := range map[string]string{
		"openclip_RN50/openai": "resnet", "openclip_convnext_base/laion400m_s13b_b51k": "convnext",
		"openclip_convnext_base_w/laion2b": "convnext", "openclip_convnext_large_d/laion2b": "convnext",
	} {
		s, ok := Lookup(name)
		if !ok {
			t.Fatalf("%s is not registered", name)
		}
		if got := s.Config.(*OpenCLIPConfig).ImageTower(); got != want {
			t.Errorf("%s: image tower %s, want %s", name, got, want)
		}
	}
	rn, _ := Lookup("openclip_RN50/openai")
	if c := rn.Config.(*OpenCLIPConfig).ResNetConfig(); c.Heads != 32 || c.OutputDim != 1024 || c.Features() != 2048 {
		t.Errorf("RN50 tower %+v", c)
	}
	cl, _ := Lookup("openclip_convnext_large_d/laion2b")
	if c, _ := cl.Config.(*OpenCLIPConfig).TrunkConfig(); c.Width() != 1536 || c.ImageSize != 256 {
		t.Errorf("convnext_large_d trunk %+v", c)
	}
	for _, body := range []string{
		`{"embed_dim": 32, "vision_cfg": {"image_size": 64, "layers": [1, 1, 1, 1], "width": 16}, "text_cfg": {"width": 16, "heads": 2, "layers": 1}}`,
		`{"embed_dim": 32, "vision_cfg": {"image_size": 64, "timm_model_name": "convnext_tiny", "timm_proj": "mlp"}, "text_cfg": {"width": 16, "heads": 2, "layers": 1}}`,
	} {
		cfg, err := ParseOpenCLIPConfig([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		m, err := NewRandomParts(&Spec{Name: "x", Config: cfg}, tensor.CPU{}, 1, ImageTower)
		if err != nil {
			t.Fatal(err)
		}
		e, _, err := m.EncodeImage(tensor.CPU{}.Zeros(2, 3, 64, 64))
		if err != nil || !slices.Equal(e.Shape(), []int{2, 32}) {
			t.Fatalf("%s: EncodeImage = %v, %v", cfg.ImageTower(), e, err)
		}
	}
}

// TestSelfSupervisedCheckpoints loads PyTorch checkpoints in the MAE and MSN layouts: the state dict is
// read from the family's entry ("model", "target_encoder", not MSN's online "encoder"), and the features
// equal those of the same encoder saved as a bare timm state dict.
func TestSelfSupervisedCheckpoints(t *testing.T) {
	tiny := &vit.TimmConfig{ImageSize: 32, PatchSize: 16, Width: 16, Layers: 1, Heads: 2, MLPRatio: 4, Pool: "token", Eps: 1e-6}
	spec := func(km KeyMap) *Spec { return &Spec{Name: km.Family, Config: &TimmConfig{ViT: tiny, Keys: km}} }
	be := tensor.CPU{}
	x := make([]float32, 2*3*32*32)
	for i := range x {
		x[i] = float32(i%17)/8 - 1
	}
	features := func(s *Spec, file string) ([]float32, error) {
		m, err := LoadSpec(s, "testdata/ssl/"+file, be)
		if err != nil {
			return nil, err
		}
		f, _, err := m.EncodeImage(be.FromHost(x, 2, 3, 32, 32))
		if err != nil {
			return nil, err
		}
		return be.ToHost(f), nil
	}
	want, err := features(spec(timmKeys), "plain_tiny.pth")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		keys KeyMap
		file string
	}{{maeKeys, "mae_tiny.pth"}, {msnKeys, "msn_tiny.pth.tar"}} {
		got, err := features(spec(tc.keys), tc.file)
		if err != nil {
			t.Fatalf("%s: %v", tc.keys.Family, err)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: features %v, want %v", tc.keys.Family, got[:4], want[:4])
		}
	}
	// The wrong family's table: no "model" entry in an MSN file; decoder keys are unexpected for timm.
	if _, err := features(spec(maeKeys), "msn_tiny.pth.tar"); err == nil {
		t.Error("MAE table loaded an MSN checkpoint")
	}
	if _, err := features(spec(timmKeys), "mae_tiny.pth"); err == nil || !strings.Contains(err.Error(), "decoder_embed.weight") {
		t.Errorf("timm table on an MAE checkpoint: %v", err)
	}
}
