package vit

import (
	"fmt"

	"plp/tensor"
)

// Style names a ViT checkpoint layout.
type Style int

const (
	// OpenCLIP is open_clip's VisionTransformer (CLIP image tower).
	OpenCLIP Style = iota
)

// Config is a ViT's architecture. Field names follow open_clip's vision_cfg.
type Config struct {
	Style     Style
	ImageSize int     // image_size: square input side in pixels
	PatchSize int     // patch_size: side of the square patches (conv kernel and stride)
	Width     int     // width: token dimension
	Layers    int     // layers: number of residual blocks
	HeadWidth int     // head_width: features per attention head; heads = Width/HeadWidth
	MLPRatio  float64 // mlp_ratio: MLP hidden width = int(Width*MLPRatio)
	// OutputDim is the width of the final projection (open_clip's embed_dim); 0 means no projection.
	OutputDim int
	// Act is the MLP activation: tensor.GELU, or tensor.QuickGELU for OpenAI-trained weights.
	Act tensor.Act
	// LayerNormEps is the eps of every LayerNorm (1e-5 in open_clip).
	LayerNormEps float32
}

// Heads is the number of attention heads.
func (c Config) Heads() int { return c.Width / c.HeadWidth }

// MLPWidth is the hidden width of each block's MLP, truncated like open_clip's int(width*mlp_ratio).
func (c Config) MLPWidth() int { return int(float64(c.Width) * c.MLPRatio) }

// Grid is the number of patches along each side.
func (c Config) Grid() int { return c.ImageSize / c.PatchSize }

// Tokens is the sequence length: one class token plus Grid² patches.
func (c Config) Tokens() int { return 1 + c.Grid()*c.Grid() }

// EmbedDim is the width of the model's final output: OutputDim, or Width without a projection.
func (c Config) EmbedDim() int {
	if c.OutputDim > 0 {
		return c.OutputDim
	}
	return c.Width
}

// Validate reports a configuration that cannot describe a model.
func (c Config) Validate() error {
	switch {
	case c.Style != OpenCLIP:
		return fmt.Errorf("vit: unknown style %d", c.Style)
	case c.ImageSize <= 0 || c.PatchSize <= 0 || c.ImageSize%c.PatchSize != 0:
		return fmt.Errorf("vit: image size %d is not a positive multiple of patch size %d", c.ImageSize, c.PatchSize)
	case c.Width <= 0 || c.Layers <= 0:
		return fmt.Errorf("vit: width %d and layers %d must be positive", c.Width, c.Layers)
	case c.HeadWidth <= 0 || c.Width%c.HeadWidth != 0:
		return fmt.Errorf("vit: width %d is not a multiple of head width %d", c.Width, c.HeadWidth)
	case c.MLPWidth() <= 0:
		return fmt.Errorf("vit: mlp ratio %g gives an empty MLP", c.MLPRatio)
	case c.OutputDim < 0:
		return fmt.Errorf("vit: negative output dim %d", c.OutputDim)
	case c.Act != tensor.GELU && c.Act != tensor.QuickGELU:
		return fmt.Errorf("vit: activation %d is neither GELU nor QuickGELU", c.Act)
	case !(c.LayerNormEps > 0):
		return fmt.Errorf("vit: LayerNorm eps %g must be positive", c.LayerNormEps)
	}
	return nil
}
