package zoo

import (
	"encoding/json"
	"fmt"
	"strings"

	"plp/convnext"
	"plp/tensor"
	"plp/vit"
	"plp/weights"
)

func init() {
	manifestSpecs["timm"] = timmManifestSpec
	parityRunners["timm"] = runTimmManifest
}

// timmManifestSpec builds the spec of a timm fixture from its architecture section (the model name
// only tells a Beit from a VisionTransformer).
func timmManifestSpec(m *Manifest) (*Spec, error) {
	var a struct {
		ViT *struct {
			ImgSize    []int  `json:"img_size"`
			PatchSize  int    `json:"patch_size"`
			EmbedDim   int    `json:"embed_dim"`
			Depth      int    `json:"depth"`
			NumHeads   int    `json:"num_heads"`
			MLPHidden  int    `json:"mlp_hidden"`
			GlobalPool string `json:"global_pool"`
			NumClasses int    `json:"num_classes"`
		} `json:"vit"`
		ConvNeXt *struct {
			Depths     []int `json:"depths"`
			Dims       []int `json:"dims"`
			NumClasses int   `json:"num_classes"`
		} `json:"convnext"`
	}
	if len(m.Architecture) == 0 {
		return nil, fmt.Errorf("zoo: manifest %s: no architecture section", m.Name)
	}
	if err := json.Unmarshal(m.Architecture, &a); err != nil {
		return nil, fmt.Errorf("zoo: manifest %s: architecture: %w", m.Name, err)
	}
	name := m.Constructor.ModelName
	cfg := &TimmConfig{Keys: timmKeys}
	switch {
	case a.ViT != nil:
		v := a.ViT
		if len(v.ImgSize) == 0 || v.EmbedDim <= 0 {
			return nil, fmt.Errorf("zoo: manifest %s: architecture.vit lacks img_size or embed_dim", m.Name)
		}
		cfg.ViT = &vit.TimmConfig{
			ImageSize: v.ImgSize[0], PatchSize: v.PatchSize, Width: v.EmbedDim, Layers: v.Depth, Heads: v.NumHeads,
			MLPRatio: float64(v.MLPHidden) / float64(v.EmbedDim), Pool: v.GlobalPool, NumClasses: v.NumClasses,
			Beit: strings.HasPrefix(name, "beit"), Eps: timmEps,
		}
		if len(v.ImgSize) == 2 && v.ImgSize[0] != v.ImgSize[1] {
			return nil, fmt.Errorf("zoo: manifest %s: non-square img_size %v", m.Name, v.ImgSize)
		}
	case a.ConvNeXt != nil:
		size := 0
		if t, ok := m.IO.Tensors["image"]; ok && len(t.Shape) == 4 {
			size = t.Shape[2]
		}
		cfg.ConvNeXt = &convnext.Config{Depths: a.ConvNeXt.Depths, Dims: a.ConvNeXt.Dims, ImageSize: size, NumClasses: a.ConvNeXt.NumClasses, Eps: timmEps}
	default:
		return nil, fmt.Errorf("zoo: manifest %s: timm model %q is not supported (architecture has neither vit nor convnext)", m.Name, name)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("zoo: manifest %s: %w", m.Name, err)
	}
	return &Spec{Name: m.Name, Arch: name, Config: cfg, Preprocess: timmPreprocess(cfg.ImageSize(), false)}, nil
}

// runTimmManifest computes a timm fixture's outputs: the pre-logits features, the logits of models
// with a head, the traced intermediates (tokens; ConvNeXt's stem_out, stage{i}_out, feature_map) and,
// for Beit, the relative position index and block 0's attention bias.
func runTimmManifest(m *Manifest, be tensor.Backend) ([]Output, error) {
	spec, err := m.Spec()
	if err != nil {
		return nil, err
	}
	model, err := LoadSpec(spec, m.Path(m.Weights.File), be)
	if err != nil {
		return nil, err
	}
	io, err := weights.OpenSafetensors(m.Path(m.IO.File))
	if err != nil {
		return nil, err
	}
	defer io.Close()
	s := &outputSet{want: m.IO.Tensors, be: be}
	x, err := readInput(io, "image", be)
	if err != nil {
		return nil, err
	}
	feats, _, err := model.EncodeImageTrace(x, s.add)
	if err != nil {
		return nil, err
	}
	s.add("features", feats)
	if s.wants("logits") {
		l, err := model.Logits(x)
		if err != nil {
			return nil, err
		}
		s.add("logits", l)
	}
	if v, ok := model.image.(timmViT); ok && v.m.Config().Beit {
		idx := vit.RelativePositionIndex(v.m.Config().Grid())
		f := make([]float32, len(idx))
		for i, k := range idx {
			f[i] = float32(k)
		}
		n := v.m.Config().Tokens()
		s.add("rel_pos_index", be.FromHost(f, n, n))
		s.add("block0_rel_pos_bias", v.m.RelPosBias(0))
	}
	return s.outs, nil
}
