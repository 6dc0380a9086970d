package data

import (
	"fmt"
	"slices"
	"strings"

	"plp/tensor"
	"plp/weights"
	"plp/zoo"
)

// Patches are a split's patch features (GL-MCM's local features, plp embed --patch-features), stored
// next to the split as <split>.patches.safetensors with one tensor, `patches` [N, P, D] float32: for
// each image of the split, in the same order, its P patch tokens projected into the joint image-text
// space (zoo.Model.EncodePatches). The split's own file is unchanged by them.
type Patches struct {
	N, P, D int
	X       []float32 // [N, P, D]
	Meta    map[string]string
}

// PatchesPath is the patch-feature file of the split stored at storePath.
func PatchesPath(storePath string) string {
	return strings.TrimSuffix(storePath, ".safetensors") + ".patches.safetensors"
}

// WritePatches stores p at path atomically.
func WritePatches(path string, p *Patches) error {
	if p.N < 0 || p.P <= 0 || p.D <= 0 || len(p.X) != p.N*p.P*p.D {
		return fmt.Errorf("patches for %s: %d values do not match %d×%d×%d", path, len(p.X), p.N, p.P, p.D)
	}
	return weights.WriteSafetensors(path, []*weights.Tensor{weights.FromFloat32("patches", []int{p.N, p.P, p.D}, p.X)}, p.Meta)
}

// ReadPatches loads a file written by WritePatches. The returned slice is a copy.
func ReadPatches(path string) (*Patches, error) {
	st, err := weights.OpenSafetensors(path)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	t, err := st.Tensor("patches")
	if err != nil {
		return nil, fmt.Errorf("%s is not a patch-feature file: %w", path, err)
	}
	if t.DType != weights.F32 || len(t.Shape) != 3 || t.Shape[1] <= 0 || t.Shape[2] <= 0 {
		return nil, fmt.Errorf("%s: patches are %s %v, want float32 [N, P, D]", path, t.DType, t.Shape)
	}
	x, err := t.Float32()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &Patches{N: t.Shape[0], P: t.Shape[1], D: t.Shape[2], X: slices.Clone(x), Meta: st.Metadata()}, nil
}

// PatchEncoder is a ModelEncoder that also keeps each image's patch features. Its rows are the stored
// embedding followed by the image's P·D patch values, so that Embed's batches, checkpoints and resumed
// runs carry the patches unchanged; Split separates them once a run is done.
type PatchEncoder struct {
	*ModelEncoder
	p, d int
}

// NewPatchEncoder wraps e, whose model must have patch features (zoo.Model.HasPatches). It runs one zero
// image to learn the patch count and width.
func NewPatchEncoder(e *ModelEncoder) (*PatchEncoder, error) {
	m := e.m
	if !m.HasPatches() {
		return nil, fmt.Errorf("data: %s has no patch features: they need a CLIP ViT image tower with a projection", m.Name())
	}
	s, be := m.ImageSize(), m.Backend()
	x := be.Zeros(1, 3, s, s)
	embed, preproj, patches, err := m.EncodePatches(x)
	be.Free(x)
	if err != nil {
		return nil, fmt.Errorf("data: model %s: %w", m.Name(), err)
	}
	defer freeAll(m, embed, preproj, patches)
	if patches == nil || patches.Rank() != 3 || patches.Dim(0) != 1 {
		return nil, fmt.Errorf("data: model %s returned patch features of shape %v for one image", m.Name(), shapeOf(patches))
	}
	return &PatchEncoder{ModelEncoder: e, p: patches.Dim(1), d: patches.Dim(2)}, nil
}

// freeAll frees the tensors a forward pass returned, each once (some families return one tensor twice).
func freeAll(m *zoo.Model, ts ...*tensor.Tensor) {
	be := m.Backend()
	seen := map[*tensor.Tensor]bool{}
	for _, t := range ts {
		if t != nil && !seen[t] {
			seen[t] = true
			be.Free(t)
		}
	}
}

// Dim is the width of a row: the stored embedding's, then P·D patch values.
func (e *PatchEncoder) Dim() int { return e.ModelEncoder.Dim() + e.p*e.d }

// Encode implements Encoder.
func (e *PatchEncoder) Encode(x []float32, n int) ([]float32, error) {
	m := e.m
	s := m.ImageSize()
	if len(x) != n*3*s*s {
		return nil, fmt.Errorf("data: encode: %d values for %d images of %dx%d", len(x), n, s, s)
	}
	be := m.Backend()
	xt := be.FromHost(x, n, 3, s, s)
	defer be.Free(xt)
	embed, preproj, patches, err := m.EncodePatches(xt)
	if err != nil {
		return nil, err
	}
	defer freeAll(m, embed, preproj, patches)
	out := embed
	if e.kind == KindPreproj {
		out = preproj
	}
	dim := e.ModelEncoder.Dim()
	if out == nil || out.Rank() != 2 || out.Dim(0) != n || out.Dim(1) != dim {
		return nil, fmt.Errorf("data: encode: model %s returned shape %v, want [%d %d]", m.Name(), shapeOf(out), n, dim)
	}
	if patches == nil || patches.Rank() != 3 || patches.Dim(0) != n || patches.Dim(1) != e.p || patches.Dim(2) != e.d {
		return nil, fmt.Errorf("data: encode: model %s returned patch features %v, want [%d %d %d]", m.Name(), shapeOf(patches), n, e.p, e.d)
	}
	v, pv := be.ToHost(out), be.ToHost(patches)
	w, pw := dim, e.p*e.d
	rows := make([]float32, 0, n*(w+pw))
	for i := range n {
		rows = append(rows, v[i*w:(i+1)*w]...)
		rows = append(rows, pv[i*pw:(i+1)*pw]...)
	}
	return rows, nil
}

// Split turns the embeddings of a run with this encoder back into the stored embeddings (emb is narrowed
// in place to the ModelEncoder's width) and returns the patch features, with meta.
func (e *PatchEncoder) Split(emb *Embeddings, meta map[string]string) (*Patches, error) {
	w, pw := e.ModelEncoder.Dim(), e.p*e.d
	if emb.D != w+pw || len(emb.X) != emb.N*emb.D {
		return nil, fmt.Errorf("data: %d×%d embeddings are not rows of %d + %d patch values", emb.N, emb.D, w, pw)
	}
	x := make([]float32, 0, emb.N*w)
	p := &Patches{N: emb.N, P: e.p, D: e.d, X: make([]float32, 0, emb.N*pw), Meta: meta}
	for i := range emb.N {
		row := emb.X[i*emb.D : (i+1)*emb.D]
		x = append(x, row[:w]...)
		p.X = append(p.X, row[w:]...)
	}
	emb.X, emb.D, emb.Mean, emb.Std = x, w, nil, nil
	return p, nil
}
