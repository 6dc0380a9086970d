package zoo

import "plp/tensor"

// projector is an image tower whose stored feature precedes a linear output projection.
type projector interface {
	// Project maps pre-projection features [B, width] to embeddings; nil when there is no projection.
	Project(preproj *tensor.Tensor) *tensor.Tensor
}

// Project implements projector.
func (v clipViT) Project(preproj *tensor.Tensor) *tensor.Tensor { return v.m.Project(preproj) }

// VisualProjection returns the image tower's output projection as a host matrix [width, embed] (x·P maps a
// stored pre-projection feature to the joint image-text space), or nil when the stored feature already is
// the embedding. The paper's pseudo-labels and zero-shot logits apply it to stored embeddings.
func (m *Model) VisualProjection() (proj []float32, width, embed int) {
	p, ok := m.image.(projector)
	if !ok {
		return nil, 0, 0
	}
	w := m.preprojWidth()
	if w == 0 {
		return nil, 0, 0
	}
	eye := make([]float32, w*w)
	for i := 0; i < w; i++ {
		eye[i*w+i] = 1
	}
	out := p.Project(m.be.FromHost(eye, w, w))
	if out == nil {
		return nil, 0, 0
	}
	return m.be.ToHost(out), w, out.Dim(1)
}

// preprojWidth is the width of the stored pre-projection feature.
func (m *Model) preprojWidth() int {
	if v, ok := m.image.(clipViT); ok {
		return v.m.Config().Width
	}
	return 0
}
