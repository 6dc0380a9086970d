package zoo

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"

	"plp/convnext"
	"plp/layers"
	"plp/resnet"
	"plp/tensor"
	"plp/vit"
	"plp/weights"
)

// open_clip image towers other than the VisionTransformer: ModifiedResNet (vision_cfg.layers is a list of
// four stage depths) and TimmModel around a timm ConvNeXt trunk (vision_cfg.timm_model_name).

// timmTrunks are the timm ConvNeXt trunks open_clip's model configs name.
var timmTrunks = map[string]func(imageSize int) convnext.Config{
	"convnext_tiny": func(s int) convnext.Config {
		return convnext.Config{Depths: []int{3, 3, 9, 3}, Dims: []int{96, 192, 384, 768}, ImageSize: s, Eps: timmEps}
	},
	"convnext_small": func(s int) convnext.Config {
		return convnext.Config{Depths: []int{3, 3, 27, 3}, Dims: []int{96, 192, 384, 768}, ImageSize: s, Eps: timmEps}
	},
	"convnext_base":  func(s int) convnext.Config { return convnext.Base(s, 0) },
	"convnext_large": func(s int) convnext.Config { return convnext.Large(s, 0) },
	// timm's convnext_xxlarge: its norms use eps 1e-5, not the 1e-6 of the smaller ConvNeXts.
	"convnext_xxlarge": func(s int) convnext.Config {
		return convnext.Config{Depths: []int{3, 4, 30, 3}, Dims: []int{384, 768, 1536, 3072}, ImageSize: s, Eps: 1e-5}
	},
}

// ImageTower names the configured image tower: "vit", "resnet" or "convnext".
func (c *OpenCLIPConfig) ImageTower() string {
	switch {
	case c.Vision.TimmModelName != "":
		return "convnext"
	case len(c.Vision.Layers) == 4:
		return "resnet"
	}
	return "vit"
}

// ResNetConfig is the ModifiedResNet image tower's configuration (open_clip: heads = width·32/head_width).
func (c *OpenCLIPConfig) ResNetConfig() resnet.Config {
	v := c.Vision
	heads := 0
	if v.HeadWidth > 0 {
		heads = v.Width * 32 / v.HeadWidth
	}
	return resnet.Config{Style: resnet.OpenCLIP, Layers: []int(v.Layers), Width: v.Width, ImageSize: c.ImageSize(),
		Heads: heads, OutputDim: c.Embed}
}

// TrunkConfig is the timm ConvNeXt trunk of a TimmModel tower; ok is false for an unknown trunk name.
func (c *OpenCLIPConfig) TrunkConfig() (cfg convnext.Config, ok bool) {
	if c.Vision.Trunk != nil {
		t := *c.Vision.Trunk
		t.ImageSize = c.ImageSize()
		return t, true
	}
	f, ok := timmTrunks[c.Vision.TimmModelName]
	if !ok {
		return convnext.Config{}, false
	}
	return f(c.ImageSize()), true
}

// validateImage checks the image tower's own configuration.
func (c *OpenCLIPConfig) validateImage() error {
	switch c.ImageTower() {
	case "resnet":
		if c.Vision.HeadWidth <= 0 || c.Vision.Width*32%c.Vision.HeadWidth != 0 {
			return fmt.Errorf("ModifiedResNet width %d with head width %d", c.Vision.Width, c.Vision.HeadWidth)
		}
		return c.ResNetConfig().Validate()
	case "convnext":
		v := c.Vision
		t, ok := c.TrunkConfig()
		if !ok {
			return fmt.Errorf("timm image tower %q is not supported (supported: ConvNeXt trunks %v)", v.TimmModelName, keys(timmTrunks))
		}
		if v.TimmPool != "" {
			return fmt.Errorf("timm_pool %q is not supported (only \"\": the trunk's own pool and norm)", v.TimmPool)
		}
		if v.TimmProj != "linear" && v.TimmProj != "mlp" {
			return fmt.Errorf("timm_proj %q is not supported (linear or mlp)", v.TimmProj)
		}
		return t.Validate()
	}
	return c.VisionConfig().Validate()
}

// imageShapes is the key table of TimmModel's projection head (keys relative to "visual.").
func (c *OpenCLIPConfig) headShapes(width int) map[string][]int {
	e, v := c.Embed, c.Vision
	t := map[string][]int{}
	if v.TimmProj == "linear" {
		t["head.proj.weight"] = []int{e, width}
		if v.TimmProjBias {
			t["head.proj.bias"] = []int{e}
		}
	} else {
		t["head.mlp.fc1.weight"] = []int{2 * e, width}
		t["head.mlp.fc1.bias"] = []int{2 * e}
		t["head.mlp.fc2.weight"] = []int{e, 2 * e}
		if v.TimmProjBias {
			t["head.mlp.fc2.bias"] = []int{e}
		}
	}
	return t
}

// loadImage builds the image tower from the checkpoint's "visual." tensors.
func (c *OpenCLIPConfig) loadImage(be tensor.Backend, vis map[string]*weights.Tensor) (ImageEncoder, error) {
	switch c.ImageTower() {
	case "resnet":
		m, err := resnet.New(c.ResNetConfig(), be, vis, "visual.")
		if err != nil {
			return nil, err
		}
		return clipResNet{m}, nil
	case "convnext":
		trunk, head := map[string]*weights.Tensor{}, map[string]*weights.Tensor{}
		for k, w := range vis {
			if strings.HasPrefix(k, "visual.trunk.") {
				trunk[k] = w
			} else {
				head[k] = w
			}
		}
		cfg, _ := c.TrunkConfig()
		m, err := convnext.New(cfg, be, trunk, "visual.trunk.")
		h, herr := layers.Tensors("open_clip TimmModel head", c.headShapes(cfg.Width()), be, head, "visual.")
		if err != nil || herr != nil {
			return nil, errors.Join(err, herr)
		}
		return clipConvNeXt{m: m, head: h, mlp: c.Vision.TimmProj == "mlp"}, nil
	}
	m, err := vit.New(c.VisionConfig(), be, vis, "visual.")
	if err != nil {
		return nil, err
	}
	return clipViT{m}, nil
}

// randomImage builds the image tower with seeded random weights.
func (c *OpenCLIPConfig) randomImage(be tensor.Backend, seed uint64) (ImageEncoder, error) {
	switch c.ImageTower() {
	case "resnet":
		m, err := resnet.NewRandom(c.ResNetConfig(), be, seed)
		if err != nil {
			return nil, err
		}
		return clipResNet{m}, nil
	case "convnext":
		cfg, _ := c.TrunkConfig()
		m, err := convnext.NewRandom(cfg, be, seed)
		if err != nil {
			return nil, err
		}
		return clipConvNeXt{m: m, head: layers.RandomTensors(c.headShapes(cfg.Width()), be, seed+7, headDist), mlp: c.Vision.TimmProj == "mlp"}, nil
	}
	m, err := vit.NewRandom(c.VisionConfig(), be, seed)
	if err != nil {
		return nil, err
	}
	return clipViT{m}, nil
}

// clipResNet adapts the ModifiedResNet: its attention pool's output is the embedding; there is no
// separate projection to strip.
type clipResNet struct{ m *resnet.Model }

func (r clipResNet) Forward(x *tensor.Tensor, trace Trace) (embed, preproj *tensor.Tensor, err error) {
	var t resnet.Trace
	if trace != nil {
		t = func(name string, x *tensor.Tensor) { trace("vis_"+name, x) }
	}
	e, _, err := r.m.Forward(x, t)
	return e, e, err
}

// clipConvNeXt is open_clip's TimmModel: the trunk's pooled, normalized features ("vis_trunk_out"), then
// a linear projection or a GELU MLP. The trunk output is the pre-projection feature.
type clipConvNeXt struct {
	m    *convnext.Model
	head map[string]*tensor.Tensor
	mlp  bool
}

func (c clipConvNeXt) Forward(x *tensor.Tensor, trace Trace) (embed, preproj *tensor.Tensor, err error) {
	f, _, err := c.m.Forward(x, nil)
	if err != nil {
		return nil, nil, err
	}
	if trace != nil {
		trace("vis_trunk_out", f)
	}
	be := c.m.Backend()
	if !c.mlp {
		return be.Linear(f, c.head["head.proj.weight"], c.head["head.proj.bias"]), f, nil
	}
	h := be.Linear(f, c.head["head.mlp.fc1.weight"], c.head["head.mlp.fc1.bias"])
	g := be.Activation(h, tensor.GELU)
	be.Free(h)
	embed = be.Linear(g, c.head["head.mlp.fc2.weight"], c.head["head.mlp.fc2.bias"])
	be.Free(g)
	return embed, f, nil
}

// parseOpenCLIPManifestConfig parses a fixture manifest's open_clip model_config. A fixture's timm trunk
// may be registered in timm for the fixture only; its depths and dims are in architecture.vision.
func parseOpenCLIPManifestConfig(m *Manifest) (*OpenCLIPConfig, error) {
	var a struct {
		Vision struct {
			Trunk  string `json:"trunk"`
			Depths []int  `json:"depths"`
			Dims   []int  `json:"dims"`
		} `json:"vision"`
	}
	var trunk *convnext.Config
	if len(m.Architecture) > 0 {
		if err := json.Unmarshal(m.Architecture, &a); err != nil {
			return nil, fmt.Errorf("architecture: %w", err)
		}
		if a.Vision.Depths != nil && a.Vision.Dims != nil {
			trunk = &convnext.Config{Depths: a.Vision.Depths, Dims: a.Vision.Dims, Eps: timmEps}
		}
	}
	return parseOpenCLIPConfig(m.Constructor.ModelConfig, trunk)
}

func init() {
	text := func(w, h, l int) OpenCLIPText {
		return OpenCLIPText{ContextLength: 77, VocabSize: 49408, Width: w, Heads: h, Layers: l, MLPRatio: 4}
	}
	convNeXt := func(embed int, trunk, proj string, size int, t OpenCLIPText) *OpenCLIPConfig {
		return &OpenCLIPConfig{Embed: embed, Text: t, Vision: OpenCLIPVision{TimmModelName: trunk, TimmProj: proj,
			ImageSize: intOrList{size}, Layers: intOrList{12}, Width: 768, HeadWidth: 64, MLPRatio: 4, PatchSize: 16}}
	}
	// Configs from open_clip's model_configs (RN50, convnext_base, convnext_base_w, convnext_large_d,
	// convnext_xxlarge).
	register(
		openCLIPSpec("openclip_RN50/openai", "RN50", "openai", "timm/resnet50_clip.openai", hubFiles,
			"https://openaipublic.azureedge.net/clip/models/afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762/RN50.pt",
			&OpenCLIPConfig{Embed: 1024, QuickGELU: true, Text: text(512, 8, 12),
				Vision: OpenCLIPVision{Layers: intOrList{3, 4, 6, 3}, Width: 64, HeadWidth: 64, MLPRatio: 4, ImageSize: intOrList{224}}}),
		openCLIPSpec("openclip_convnext_base/laion400m_s13b_b51k", "convnext_base", "laion400m_s13b_b51k",
			"laion/CLIP-convnext_base-laion400M-s13B-b51K", hubFiles, "", convNeXt(512, "convnext_base", "linear", 224, text(512, 8, 12))),
		openCLIPSpec("openclip_convnext_base_w/laion2b", "convnext_base_w", "laion2b_s13b_b82k",
			"laion/CLIP-convnext_base_w-laion2B-s13B-b82K", hubFiles, "", convNeXt(640, "convnext_base", "linear", 256, text(640, 10, 12))),
		openCLIPSpec("openclip_convnext_large_d/laion2b", "convnext_large_d", "laion2b_s26b_b102k_augreg",
			"laion/CLIP-convnext_large_d-laion2B-s26B-b102K-augreg", hubFiles, "", convNeXt(768, "convnext_large", "mlp", 256, text(768, 12, 16))),
		// The tag the paper's openclip.py maps openclip_convnext_xxlarge/laion2b to.
		openCLIPSpec("openclip_convnext_xxlarge/laion2b", "convnext_xxlarge", "laion2b_s34b_b82k_augreg",
			"laion/CLIP-convnext_xxlarge-laion2B-s34B-b82K-augreg", hubFiles, "", convNeXt(1024, "convnext_xxlarge", "linear", 256, text(1024, 16, 24))),
	)
}

// headDist draws linear weights with std 1/√fan_in and biases with std 0.02, for random-weight benchmarks.
func headDist(_ string, shape []int) (mean, std float64) {
	if len(shape) == 2 {
		return 0, 1 / math.Sqrt(float64(shape[1]))
	}
	return 0, 0.02
}
