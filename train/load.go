package train

import (
	"fmt"

	"plp/tensor"
	"plp/weights"
	"plp/zoo"
)

// LoadEncoder builds the trainable image encoder of a registry model from its checkpoint: timm ViTs and
// ConvNeXts (after the registry's key mapping) and open_clip ViT image towers ("visual." keys). Parameter
// names are the checkpoint's, so a tuned model exports with the names the inference loaders expect.
func LoadEncoder(spec *zoo.Spec, st weights.Store, be tensor.Backend) (Encoder, error) {
	ws := map[string]*weights.Tensor{}
	read := func(model, key string) error {
		w, err := st.Tensor(key)
		if err != nil {
			return err
		}
		ws[model] = w
		return nil
	}
	switch c := spec.Config.(type) {
	case *zoo.TimmConfig:
		names, err := c.Keys.Map(st.Names())
		if err != nil {
			return nil, err
		}
		for m, k := range names {
			if err := read(m, k); err != nil {
				return nil, err
			}
		}
		switch {
		case c.ViT != nil:
			return NewTimmViT(*c.ViT, be, ws)
		case c.ConvNeXt != nil && c.ConvNeXt.NoHeadNorm:
			return nil, fmt.Errorf("train: %s: a ConvNeXt without its head norm (torchvision's, as the paper embeds it) cannot be fine-tuned", spec.Name)
		case c.ConvNeXt != nil:
			return NewConvNeXt(*c.ConvNeXt, be, ws, "")
		}
		return nil, fmt.Errorf("train: %s: only ViT and ConvNeXt models can be trained", spec.Name)
	case *zoo.OpenCLIPConfig:
		if c.ImageTower() != "vit" {
			return nil, fmt.Errorf("train: %s: only ViT image towers of CLIP models can be trained (this one is a %s)", spec.Name, c.ImageTower())
		}
		for _, k := range st.Names() {
			if len(k) > 7 && k[:7] == "visual." {
				if err := read(k, k); err != nil {
					return nil, err
				}
			}
		}
		return NewCLIPViT(c.VisionConfig(), be, ws, "visual.")
	}
	return nil, fmt.Errorf("train: %s: family %s cannot be trained", spec.Name, spec.Family())
}
