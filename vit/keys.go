package vit

import (
	"fmt"

	"plp/layers"
)

// Shapes is the checkpoint key table: every tensor the model reads, by key relative to the tower's prefix,
// with the shape the configuration implies.
func (c Config) Shapes() map[string][]int {
	w, m := c.Width, c.MLPWidth()
	t := map[string][]int{
		"conv1.weight":         {w, 3, c.PatchSize, c.PatchSize},
		"class_embedding":      {w},
		"positional_embedding": {c.Tokens(), w},
		"ln_pre.weight":        {w},
		"ln_pre.bias":          {w},
		"ln_post.weight":       {w},
		"ln_post.bias":         {w},
	}
	if c.OutputDim > 0 {
		t["proj"] = []int{w, c.OutputDim}
	}
	for i := 0; i < c.Layers; i++ {
		for k, s := range layers.BlockShapes(w, m) {
			t[fmt.Sprintf("transformer.resblocks.%d.%s", i, k)] = s
		}
	}
	return t
}
