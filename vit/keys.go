package vit

import "fmt"

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
		for k, s := range blockShapes(w, m) {
			t[fmt.Sprintf("transformer.resblocks.%d.%s", i, k)] = s
		}
	}
	return t
}

// blockShapes is the key table of one open_clip ResidualAttentionBlock.
func blockShapes(w, m int) map[string][]int {
	return map[string][]int{
		"ln_1.weight":          {w},
		"ln_1.bias":            {w},
		"attn.in_proj_weight":  {3 * w, w},
		"attn.in_proj_bias":    {3 * w},
		"attn.out_proj.weight": {w, w},
		"attn.out_proj.bias":   {w},
		"ln_2.weight":          {w},
		"ln_2.bias":            {w},
		"mlp.c_fc.weight":      {m, w},
		"mlp.c_fc.bias":        {m},
		"mlp.c_proj.weight":    {w, m},
		"mlp.c_proj.bias":      {w},
	}
}
