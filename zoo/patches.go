package zoo

import (
	"fmt"

	"plp/tensor"
)

// patchTower is an image tower that also gives per-patch features in the joint image-text space.
type patchTower interface {
	ForwardPatches(x *tensor.Tensor) (embed, preproj, patches *tensor.Tensor, err error)
}

// ForwardPatches implements patchTower.
func (v clipViT) ForwardPatches(x *tensor.Tensor) (embed, preproj, patches *tensor.Tensor, err error) {
	return v.m.ForwardPatches(x)
}

// HasPatches reports whether EncodePatches works for the model: CLIP ViT image towers with a visual
// projection.
func (m *Model) HasPatches() bool {
	if _, ok := m.image.(patchTower); !ok {
		return false
	}
	v, ok := m.image.(clipViT)
	return ok && v.m.Config().OutputDim > 0
}

// EncodePatches is EncodeImage that also returns GL-MCM's local features [B, patches, EmbedDim]: every
// patch token through the last block's value path, ln_post and the visual projection (vit.Model's
// ForwardPatches).
func (m *Model) EncodePatches(x *tensor.Tensor) (embed, preproj, patches *tensor.Tensor, err error) {
	p, ok := m.image.(patchTower)
	if !ok || !m.HasPatches() {
		return nil, nil, nil, fmt.Errorf("zoo: %s has no patch features: they need a CLIP ViT image tower with a projection", m.spec.Name)
	}
	return p.ForwardPatches(x)
}
