package zoo

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"plp/convnext"
	"plp/tensor"
	"plp/textenc"
	"plp/vit"
	"plp/weights"
)

// OpenCLIPConfig is open_clip's model config (model_configs/*.json, or model_cfg in open_clip_config.json).
// Fields that are absent take open_clip's defaults (CLIPVisionCfg, CLIPTextCfg).
type OpenCLIPConfig struct {
	Embed     int            `json:"embed_dim"`
	QuickGELU bool           `json:"quick_gelu"`
	Vision    OpenCLIPVision `json:"vision_cfg"`
	Text      OpenCLIPText   `json:"text_cfg"`
}

// OpenCLIPVision is open_clip's vision_cfg. Options that change the architecture beyond the standard
// VisionTransformer are kept so that Validate can refuse them instead of silently building another model.
type OpenCLIPVision struct {
	Layers    intOrList `json:"layers"` // a list selects ModifiedResNet
	Width     int       `json:"width"`
	HeadWidth int       `json:"head_width"`
	MLPRatio  float64   `json:"mlp_ratio"`
	PatchSize int       `json:"patch_size"`
	ImageSize intOrList `json:"image_size"`

	LSInitValue      *float64 `json:"ls_init_value"`
	AttentionalPool  bool     `json:"attentional_pool"`
	NoLNPre          bool     `json:"no_ln_pre"`
	PosEmbedType     string   `json:"pos_embed_type"`
	PoolType         string   `json:"pool_type"`
	GlobalAvgPool    bool     `json:"global_average_pool"`
	InputPatchnorm   bool     `json:"input_patchnorm"`
	FinalLNAfterPool bool     `json:"final_ln_after_pool"`
	TimmModelName    string   `json:"timm_model_name"`
	TimmPool         string   `json:"timm_pool"`
	TimmProj         string   `json:"timm_proj"`
	TimmProjBias     bool     `json:"timm_proj_bias"`

	// Trunk is the ConvNeXt trunk of a timm_model_name that is not one of timm's own (fixture manifests
	// describe theirs); nil means the name's standard architecture.
	Trunk *convnext.Config `json:"-"`
}

// OpenCLIPText is open_clip's text_cfg.
type OpenCLIPText struct {
	ContextLength int      `json:"context_length"`
	VocabSize     int      `json:"vocab_size"`
	Width         int      `json:"width"`
	Heads         int      `json:"heads"`
	Layers        int      `json:"layers"`
	MLPRatio      float64  `json:"mlp_ratio"`
	LSInitValue   *float64 `json:"ls_init_value"`
	HFModelName   string   `json:"hf_model_name"`
	PoolType      string   `json:"pool_type"`
	ProjBias      bool     `json:"proj_bias"`
	EmbedCLS      bool     `json:"embed_cls"`
	NoCausalMask  bool     `json:"no_causal_mask"`
	PadID         int      `json:"pad_id"`
}

// intOrList decodes a JSON number or list of numbers (open_clip allows both for layers and image_size).
type intOrList []int

func (v *intOrList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '[' {
		var l []int
		if err := json.Unmarshal(b, &l); err != nil {
			return err
		}
		*v = l
		return nil
	}
	var n int
	if err := json.Unmarshal(b, &n); err != nil {
		return err
	}
	*v = intOrList{n}
	return nil
}

// ParseOpenCLIPConfig decodes an open_clip model config, filling absent fields with open_clip's defaults.
func ParseOpenCLIPConfig(b []byte) (*OpenCLIPConfig, error) { return parseOpenCLIPConfig(b, nil) }

// parseOpenCLIPConfig is ParseOpenCLIPConfig with the architecture of a timm trunk plp does not know by name.
func parseOpenCLIPConfig(b []byte, trunk *convnext.Config) (*OpenCLIPConfig, error) {
	c := &OpenCLIPConfig{
		Vision: OpenCLIPVision{Layers: intOrList{12}, Width: 768, HeadWidth: 64, MLPRatio: 4, PatchSize: 16, ImageSize: intOrList{224}},
		Text:   OpenCLIPText{ContextLength: 77, VocabSize: 49408, Width: 512, Heads: 8, Layers: 12, MLPRatio: 4},
	}
	if err := json.Unmarshal(b, c); err != nil {
		return nil, fmt.Errorf("open_clip model config: %w", err)
	}
	c.Vision.Trunk = trunk
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Family implements Config.
func (c *OpenCLIPConfig) Family() string { return "openclip" }

// ImageSize implements Config.
func (c *OpenCLIPConfig) ImageSize() int {
	if len(c.Vision.ImageSize) == 0 {
		return 0
	}
	return c.Vision.ImageSize[0]
}

// EmbedDim implements Config.
func (c *OpenCLIPConfig) EmbedDim() int { return c.Embed }

// act is the transformer MLP activation: QuickGELU for OpenAI-trained weights.
func (c *OpenCLIPConfig) act() tensor.Act {
	if c.QuickGELU {
		return tensor.QuickGELU
	}
	return tensor.GELU
}

// openCLIPEps is the eps of open_clip's LayerNorm (torch's default).
const openCLIPEps = 1e-5

// VisionConfig is the ViT image tower's configuration.
func (c *OpenCLIPConfig) VisionConfig() vit.Config {
	v := c.Vision
	layers := 0
	if len(v.Layers) == 1 {
		layers = v.Layers[0]
	}
	return vit.Config{
		Style: vit.OpenCLIP, ImageSize: c.ImageSize(), PatchSize: v.PatchSize, Width: v.Width, Layers: layers,
		HeadWidth: v.HeadWidth, MLPRatio: v.MLPRatio, OutputDim: c.Embed, Act: c.act(), LayerNormEps: openCLIPEps,
	}
}

// TextConfig is the text tower's configuration.
func (c *OpenCLIPConfig) TextConfig() textenc.Config {
	t := c.Text
	return textenc.Config{
		ContextLength: t.ContextLength, VocabSize: t.VocabSize, Width: t.Width, Heads: t.Heads, Layers: t.Layers,
		MLPRatio: t.MLPRatio, OutputDim: c.Embed, Act: c.act(), LayerNormEps: openCLIPEps,
	}
}

// Validate implements Config. It refuses open_clip options plp does not implement rather than building a
// different network.
func (c *OpenCLIPConfig) Validate() error {
	v, t := c.Vision, c.Text
	var unsupported []string
	if v.TimmModelName == "" && len(v.Layers) != 1 && len(v.Layers) != 4 {
		unsupported = append(unsupported, fmt.Sprintf("vision_cfg.layers %v (want one depth, or four ModifiedResNet stages)", []int(v.Layers)))
	}
	if len(v.ImageSize) == 2 && v.ImageSize[0] != v.ImageSize[1] || len(v.ImageSize) == 0 || len(v.ImageSize) > 2 {
		unsupported = append(unsupported, fmt.Sprintf("non-square image_size %v", []int(v.ImageSize)))
	}
	if v.LSInitValue != nil || t.LSInitValue != nil {
		unsupported = append(unsupported, "layer scale (ls_init_value)")
	}
	if v.AttentionalPool {
		unsupported = append(unsupported, "attentional_pool")
	}
	if v.NoLNPre {
		unsupported = append(unsupported, "no_ln_pre")
	}
	if v.PosEmbedType != "" && v.PosEmbedType != "learnable" {
		unsupported = append(unsupported, "pos_embed_type "+v.PosEmbedType)
	}
	if v.PoolType != "" && v.PoolType != "tok" || v.GlobalAvgPool {
		unsupported = append(unsupported, "vision pool_type other than tok")
	}
	if v.InputPatchnorm {
		unsupported = append(unsupported, "input_patchnorm")
	}
	if t.HFModelName != "" {
		unsupported = append(unsupported, "Hugging Face text tower "+t.HFModelName)
	}
	if t.PoolType != "" && t.PoolType != "argmax" {
		unsupported = append(unsupported, "text pool_type "+t.PoolType)
	}
	if t.ProjBias || t.EmbedCLS || t.NoCausalMask {
		unsupported = append(unsupported, "text proj_bias/embed_cls/no_causal_mask")
	}
	if len(unsupported) > 0 {
		return fmt.Errorf("open_clip config: not supported: %s", strings.Join(unsupported, ", "))
	}
	if c.Embed <= 0 {
		return fmt.Errorf("open_clip config: embed_dim %d must be positive", c.Embed)
	}
	if err := c.validateImage(); err != nil {
		return fmt.Errorf("open_clip config: %w", err)
	}
	if err := c.TextConfig().Validate(); err != nil {
		return fmt.Errorf("open_clip config: %w", err)
	}
	return nil
}

// openaiLegacyKeys are scalars of OpenAI's original checkpoints that open_clip drops on load.
var openaiLegacyKeys = map[string]bool{"input_resolution": true, "context_length": true, "vocab_size": true}

func (c *OpenCLIPConfig) load(be tensor.Backend, st weights.Store) (towers, error) {
	vis, txt := map[string]*weights.Tensor{}, map[string]*weights.Tensor{}
	for _, k := range st.Names() {
		if openaiLegacyKeys[k] {
			continue
		}
		w, err := st.Tensor(k)
		if err != nil {
			return towers{}, err
		}
		if strings.HasPrefix(k, "visual.") {
			vis[k] = w
		} else {
			txt[k] = w
		}
	}
	// Both towers are checked before either error is returned, so one message lists every bad key.
	im, verr := c.loadImage(be, vis)
	tx, terr := textenc.New(c.TextConfig(), be, txt, "")
	if err := errors.Join(verr, terr); err != nil {
		return towers{}, err
	}
	return towers{image: im, text: tx}, nil
}

func (c *OpenCLIPConfig) random(be tensor.Backend, seed uint64, parts Parts) (towers, error) {
	var t towers
	if parts&ImageTower != 0 {
		im, err := c.randomImage(be, seed)
		if err != nil {
			return towers{}, err
		}
		t.image = im
	}
	if parts&TextTower != 0 {
		tx, err := textenc.NewRandom(c.TextConfig(), be, seed+1)
		if err != nil {
			return towers{}, err
		}
		t.text = tx
	}
	return t, nil
}

// clipViT adapts vit.Model to ImageEncoder, naming intermediates as the fixtures do.
type clipViT struct{ m *vit.Model }

func (v clipViT) Forward(x *tensor.Tensor, trace Trace) (embed, preproj *tensor.Tensor, err error) {
	var t vit.Trace
	if trace != nil {
		t = func(name string, x *tensor.Tensor) { trace("vis_"+name, x) }
	}
	embed, preproj, err = v.m.Forward(x, t)
	if embed == nil {
		embed = preproj
	}
	return embed, preproj, err
}

// openCLIPPreprocess is open_clip's eval transform for size s with its default OpenAI normalisation.
func openCLIPPreprocess(s int) Preprocess {
	return Preprocess{
		Transform: fmt.Sprintf("clip%d", s), Size: s, ResizeMode: "shortest", Interpolation: "bicubic",
		Mean: [3]float32{0.48145466, 0.4578275, 0.40821073},
		Std:  [3]float32{0.26862954, 0.26130258, 0.27577711},
	}
}

// openCLIPPreprocessCfg is open_clip_config.json's preprocess_cfg.
type openCLIPPreprocessCfg struct {
	Mean          []float32 `json:"mean"`
	Std           []float32 `json:"std"`
	Interpolation string    `json:"interpolation"`
	ResizeMode    string    `json:"resize_mode"`
}

func (p openCLIPPreprocessCfg) apply(pp *Preprocess) error {
	if p.Mean != nil {
		if len(p.Mean) != 3 {
			return fmt.Errorf("preprocess_cfg.mean has %d values, want 3", len(p.Mean))
		}
		copy(pp.Mean[:], p.Mean)
	}
	if p.Std != nil {
		if len(p.Std) != 3 {
			return fmt.Errorf("preprocess_cfg.std has %d values, want 3", len(p.Std))
		}
		for _, s := range p.Std {
			if !(s > 0) || math.IsInf(float64(s), 0) {
				return fmt.Errorf("preprocess_cfg.std %v must be positive", p.Std)
			}
		}
		copy(pp.Std[:], p.Std)
	}
	if p.Interpolation != "" {
		pp.Interpolation = p.Interpolation
	}
	if p.ResizeMode != "" {
		pp.ResizeMode = p.ResizeMode
	}
	if pp.Interpolation != "bicubic" || pp.ResizeMode != "shortest" || pp.Mean != openCLIPPreprocess(pp.Size).Mean || pp.Std != openCLIPPreprocess(pp.Size).Std {
		pp.Transform = "custom"
	}
	return nil
}

// openCLIPSpec is a registry row for open_clip's model configs.
func openCLIPSpec(name, arch, tag, hub string, files []string, url string, cfg *OpenCLIPConfig) *Spec {
	return &Spec{
		Name: name, Arch: arch, Pretrained: tag, Config: cfg,
		Preprocess: openCLIPPreprocess(cfg.ImageSize()),
		Checkpoint: Checkpoint{HFHub: hub, Files: files, URL: url},
	}
}

// openCLIPViT builds the config of open_clip's ViT model_configs.
func openCLIPViT(embed, width, layers, headWidth, patch int, mlpRatio float64, tw, th, tl int, quick bool) *OpenCLIPConfig {
	return &OpenCLIPConfig{
		Embed: embed, QuickGELU: quick,
		Vision: OpenCLIPVision{Layers: intOrList{layers}, Width: width, HeadWidth: headWidth, MLPRatio: mlpRatio, PatchSize: patch, ImageSize: intOrList{224}},
		Text:   OpenCLIPText{ContextLength: 77, VocabSize: 49408, Width: tw, Heads: th, Layers: tl, MLPRatio: 4},
	}
}

var hubFiles = []string{"open_clip_model.safetensors", "open_clip_pytorch_model.bin"}

func init() {
	// Configs from open_clip's model_configs (ViT-B-16, ViT-L-14, ViT-H-14, ViT-bigG-14). OpenAI weights use
	// QuickGELU (open_clip's "-quickgelu" configs); LAION weights exact GELU. The LAION tags are the ones
	// the paper's code selects for "laion2b".
	b16 := func(q bool) *OpenCLIPConfig { return openCLIPViT(512, 768, 12, 64, 16, 4, 512, 8, 12, q) }
	l14 := func(q bool) *OpenCLIPConfig { return openCLIPViT(768, 1024, 24, 64, 14, 4, 768, 12, 12, q) }
	register(
		openCLIPSpec("openclip_ViT-B-16/openai", "ViT-B-16", "openai", "timm/vit_base_patch16_clip_224.openai", hubFiles,
			"https://openaipublic.azureedge.net/clip/models/5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f/ViT-B-16.pt", b16(true)),
		openCLIPSpec("openclip_ViT-B-16/laion2b", "ViT-B-16", "laion2b_s34b_b88k", "laion/CLIP-ViT-B-16-laion2B-s34B-b88K", hubFiles, "", b16(false)),
		openCLIPSpec("openclip_ViT-L-14/openai", "ViT-L-14", "openai", "timm/vit_large_patch14_clip_224.openai", hubFiles,
			"https://openaipublic.azureedge.net/clip/models/b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836/ViT-L-14.pt", l14(true)),
		openCLIPSpec("openclip_ViT-L-14/laion2b", "ViT-L-14", "laion2b_s32b_b82k", "laion/CLIP-ViT-L-14-laion2B-s32B-b82K", hubFiles, "", l14(false)),
		openCLIPSpec("openclip_ViT-H-14/laion2b", "ViT-H-14", "laion2b_s32b_b79k", "laion/CLIP-ViT-H-14-laion2B-s32B-b79K", hubFiles, "",
			openCLIPViT(1024, 1280, 32, 80, 14, 4, 1024, 16, 24, false)),
		openCLIPSpec("openclip_ViT-bigG-14/laion2b", "ViT-bigG-14", "laion2b_s39b_b160k", "laion/CLIP-ViT-bigG-14-laion2B-39B-b160k", hubFiles, "",
			openCLIPViT(1280, 1664, 48, 104, 14, 4.9231, 1280, 20, 32, false)),
	)
}
