package textenc

import (
	"fmt"

	"plp/layers"
	"plp/tensor"
)

// Config is a text transformer's architecture. Field names follow open_clip's text_cfg.
type Config struct {
	ContextLength int     // context_length: positions in the positional embedding (77)
	VocabSize     int     // vocab_size: rows of the token embedding (49408)
	Width         int     // width
	Heads         int     // heads
	Layers        int     // layers
	MLPRatio      float64 // mlp_ratio: MLP hidden width = int(Width*MLPRatio)
	// OutputDim is the width of text_projection (open_clip's embed_dim).
	OutputDim int
	// Act is the MLP activation: tensor.GELU, or tensor.QuickGELU for OpenAI-trained weights.
	Act tensor.Act
	// LayerNormEps is the eps of every LayerNorm (1e-5 in open_clip).
	LayerNormEps float32
}

// MLPWidth is the hidden width of each block's MLP.
func (c Config) MLPWidth() int { return int(float64(c.Width) * c.MLPRatio) }

// Validate reports a configuration that cannot describe a model.
func (c Config) Validate() error {
	switch {
	case c.ContextLength <= 0 || c.VocabSize <= 0:
		return fmt.Errorf("textenc: context length %d and vocab size %d must be positive", c.ContextLength, c.VocabSize)
	case c.Width <= 0 || c.Layers <= 0 || c.OutputDim <= 0:
		return fmt.Errorf("textenc: width %d, layers %d and output dim %d must be positive", c.Width, c.Layers, c.OutputDim)
	case c.Heads <= 0 || c.Width%c.Heads != 0:
		return fmt.Errorf("textenc: width %d is not a multiple of %d heads", c.Width, c.Heads)
	case c.MLPWidth() <= 0:
		return fmt.Errorf("textenc: mlp ratio %g gives an empty MLP", c.MLPRatio)
	case c.Act != tensor.GELU && c.Act != tensor.QuickGELU:
		return fmt.Errorf("textenc: activation %d is neither GELU nor QuickGELU", c.Act)
	case !(c.LayerNormEps > 0):
		return fmt.Errorf("textenc: LayerNorm eps %g must be positive", c.LayerNormEps)
	}
	return nil
}

// Shapes is the checkpoint key table: every tensor the model reads, with the shape the configuration implies.
func (c Config) Shapes() map[string][]int {
	w, m := c.Width, c.MLPWidth()
	t := map[string][]int{
		"token_embedding.weight": {c.VocabSize, w},
		"positional_embedding":   {c.ContextLength, w},
		"ln_final.weight":        {w},
		"ln_final.bias":          {w},
		"text_projection":        {w, c.OutputDim},
		"logit_scale":            {},
	}
	for i := 0; i < c.Layers; i++ {
		pre := fmt.Sprintf("transformer.resblocks.%d.", i)
		for k, s := range layers.BlockShapes(w, m) {
			t[pre+k] = s
		}
	}
	return t
}
