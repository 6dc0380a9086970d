package zoo

import (
	"fmt"

	"plp/tensor"
	"plp/weights"
)

func init() {
	manifestSpecs["openclip"] = openCLIPManifestSpec
	parityRunners["openclip"] = runOpenCLIPManifest
}

// openCLIPManifestSpec builds the spec of an open_clip fixture from constructor.model_config.
func openCLIPManifestSpec(m *Manifest) (*Spec, error) {
	if m.Constructor.ModelConfig == nil {
		return nil, fmt.Errorf("zoo: manifest %s: no constructor.model_config", m.Name)
	}
	cfg, err := parseOpenCLIPManifestConfig(m)
	if err != nil {
		return nil, fmt.Errorf("zoo: manifest %s: %w", m.Name, err)
	}
	return &Spec{Name: m.Name, Config: cfg, Preprocess: openCLIPPreprocess(cfg.ImageSize())}, nil
}

// runOpenCLIPManifest computes an open_clip fixture's outputs: both towers' embeddings and intermediates,
// the logit scale, and (when the io file has label_text) the prompt-ensemble label embeddings and the
// zero-shot logits.
func runOpenCLIPManifest(m *Manifest, be tensor.Backend) ([]Output, error) {
	spec, err := m.Spec()
	if err != nil {
		return nil, err
	}
	model, err := LoadSpec(spec, m.Path(m.Weights.File), be)
	if err != nil {
		return nil, err
	}
	defer model.Close() // every output is copied to the host before return
	io, err := weights.OpenSafetensors(m.Path(m.IO.File))
	if err != nil {
		return nil, err
	}
	defer io.Close()
	s := &outputSet{want: m.IO.Tensors, be: be}

	var imageNorm *tensor.Tensor
	if s.wants("image") {
		x, err := readInput(io, "image", be)
		if err != nil {
			return nil, err
		}
		if x.Rank() != 4 {
			return nil, fmt.Errorf("image has shape %v, want [B 3 H W]", x.Shape())
		}
		embed, pre, err := model.EncodeImageTrace(x, s.add)
		if err != nil {
			return nil, err
		}
		imageNorm = be.L2Normalize(embed, 1e-12)
		s.add("image_embed", embed)
		s.add("image_embed_preproj", pre)
		s.add("image_embed_normalized", imageNorm)
	}
	text := model.Text()
	if s.wants("text") {
		ids, err := readIDs(io, "text")
		if err != nil {
			return nil, err
		}
		te, err := text.Encode(ids, false, func(name string, t *tensor.Tensor) { s.add("txt_"+name, t) })
		if err != nil {
			return nil, err
		}
		s.add("text_embed", te)
		s.add("text_embed_normalized", be.L2Normalize(te, 1e-12))
	}
	ls := be.FromHost([]float32{text.LogitScale()}, 1)
	s.add("logit_scale", ls)
	s.add("logit_scale_exp", text.ScaleLogits(be.FromHost([]float32{1}, 1)))

	if s.wants("label_text") {
		if m.LabelCheck == nil || len(m.LabelCheck.Prompts) == 0 {
			return nil, fmt.Errorf("label_text without label_check.prompts")
		}
		ids, err := readIDs(io, "label_text")
		if err != nil {
			return nil, err
		}
		per, labels, err := text.LabelEmbeddings(ids, len(m.LabelCheck.Prompts))
		if err != nil {
			return nil, err
		}
		scaled := text.ScaleLogits(labels)
		s.add("label_text_embed_normalized", per)
		s.add("label_embed", labels)
		s.add("label_embed_scaled", scaled)
		if imageNorm != nil {
			s.add("image_label_cosine", be.MatMul(imageNorm, labels, false, true))
			s.add("image_label_logits_scaled", be.MatMul(imageNorm, scaled, false, true))
		}
	}
	return s.outs, nil
}
