package zoo

import (
	"fmt"
	"path/filepath"
	"strings"

	"plp/tensor"
	"plp/textenc"
	"plp/weights"
)

// Trace receives named intermediate activations, with the manifest names of the reference fixtures
// (e.g. "vis_after_ln_pre", "vis_block0_out", "txt_block0_out"). Tensors are valid only during the call.
type Trace func(name string, t *tensor.Tensor)

// ImageEncoder is a family's image tower.
type ImageEncoder interface {
	// Forward encodes normalized images x [B, 3, S, S] into the embedding [B, EmbedDim] and the feature
	// before the final projection [B, width] (the same tensor when the tower has no projection).
	Forward(x *tensor.Tensor, trace Trace) (embed, preproj *tensor.Tensor, err error)
}

// towers are the parts a family builds.
type towers struct {
	image ImageEncoder
	text  *textenc.Model // nil for image-only families
}

// Model is a built model: an image tower and, for CLIP-style families, a text tower.
type Model struct {
	spec  *Spec
	be    tensor.Backend
	store weights.Store // the checkpoint, kept open while weights alias it; nil for random weights
	towers
}

// Name is the registry name, or the config file's name for models built from a file.
func (m *Model) Name() string { return m.spec.Name }

// Spec returns the model's description.
func (m *Model) Spec() *Spec { return m.spec }

// Backend is where the weights live.
func (m *Model) Backend() tensor.Backend { return m.be }

// ImageSize is the square input side EncodeImage expects.
func (m *Model) ImageSize() int { return m.spec.Config.ImageSize() }

// EmbedDim is the width of EncodeImage's embedding.
func (m *Model) EmbedDim() int { return m.spec.Config.EmbedDim() }

// EncodeImage encodes normalized images x [B, 3, ImageSize, ImageSize]. It returns the embedding
// [B, EmbedDim] and the pre-projection feature (for CLIP ViTs: the class token after ln_post, which the
// paper stores as the image embedding; equal to embed for towers without a projection).
func (m *Model) EncodeImage(x *tensor.Tensor) (embed, preproj *tensor.Tensor, err error) {
	return m.EncodeImageTrace(x, nil)
}

// EncodeImageTrace is EncodeImage that also reports intermediates to trace.
func (m *Model) EncodeImageTrace(x *tensor.Tensor, trace Trace) (embed, preproj *tensor.Tensor, err error) {
	if m.image == nil {
		return nil, nil, fmt.Errorf("zoo: %s was built without its image tower", m.spec.Name)
	}
	return m.image.Forward(x, trace)
}

// HasText reports whether the model has a text tower.
func (m *Model) HasText() bool { return m.text != nil }

// Text returns the text tower, or nil for image-only models.
func (m *Model) Text() *textenc.Model { return m.text }

// EncodeText embeds token-id rows with the text tower (see textenc.Model.EncodeText).
func (m *Model) EncodeText(ids [][]int32, normalize bool) (*tensor.Tensor, error) {
	if m.text == nil {
		return nil, fmt.Errorf("zoo: %s has no text tower", m.spec.Name)
	}
	return m.text.EncodeText(ids, normalize)
}

// Load builds the model named by nameOrPath (a registry name, or the path of an open_clip_config.json, an
// open_clip model config or a fixture manifest) with the weights in weightsPath.
func Load(nameOrPath, weightsPath string, be tensor.Backend) (*Model, error) {
	spec, err := Resolve(nameOrPath)
	if err != nil {
		return nil, err
	}
	return LoadSpec(spec, weightsPath, be)
}

// LoadSpec builds spec's model with the weights in weightsPath. The checkpoint must match the model
// exactly: missing, unexpected and wrongly shaped tensors are reported together, by key. When the keys
// would match but for a name prefix ("module." of a DDP checkpoint), the error names the prefix and how
// to strip it instead of listing every key.
func LoadSpec(spec *Spec, weightsPath string, be tensor.Backend) (*Model, error) {
	st, err := openSpecWeights(spec, weightsPath)
	if err != nil {
		return nil, err
	}
	t, err := spec.Config.load(be, st)
	if err != nil {
		err = explainPrefix(err, st.Names(), weightsPath)
		st.Close()
		return nil, fmt.Errorf("zoo: %s from %s: %w", spec.Name, weightsPath, err)
	}
	// On the CPU the weights alias the (memory-mapped) checkpoint, so the file stays open with the model.
	return &Model{spec: spec, be: be, towers: t, store: st}, nil
}

// Close releases the checkpoint file the model's weights may alias; the model must not be used
// afterwards. Models that are never closed keep the file mapped until the process exits.
func (m *Model) Close() error {
	if m.store == nil {
		return nil
	}
	err := m.store.Close()
	m.store = nil
	return err
}

// Parts selects the towers NewRandomParts builds.
type Parts int

const (
	ImageTower Parts = 1 << iota
	TextTower
	AllTowers = ImageTower | TextTower
)

// NewRandom builds spec's model with seeded random weights, for benchmarks.
func NewRandom(spec *Spec, be tensor.Backend, seed uint64) (*Model, error) {
	return NewRandomParts(spec, be, seed, AllTowers)
}

// NewRandomParts is NewRandom restricted to some towers (a benchmark of one tower need not hold the
// other's weights). Encoding with a tower that was not built is an error.
func NewRandomParts(spec *Spec, be tensor.Backend, seed uint64, parts Parts) (*Model, error) {
	if err := spec.Config.Validate(); err != nil {
		return nil, err
	}
	t, err := spec.Config.random(be, seed, parts)
	if err != nil {
		return nil, err
	}
	return &Model{spec: spec, be: be, towers: t}, nil
}

// OpenWeights opens a checkpoint: safetensors (.safetensors) or a PyTorch file (.bin, .pt, .pth).
func OpenWeights(path string) (weights.Store, error) {
	if strings.EqualFold(filepath.Ext(path), ".safetensors") {
		return weights.OpenSafetensors(path)
	}
	// open_clip training checkpoints wrap the state dict ("state_dict") and may carry DDP "module." prefixes.
	return weights.OpenTorch(path, weights.TorchOptions{StripPrefix: []string{"module."}})
}
