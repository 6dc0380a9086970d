package train

import (
	"fmt"
	"strings"

	"plp/eval"
	"plp/tensor"
	"plp/tokenizer"
	"plp/zoo"
)

// PaperPrompts is the prompt ensemble of the paper's clip_label_embeddings.
var PaperPrompts = []string{
	"a photo of a {c}.",
	"a blurry photo of a {c}.",
	"a photo of many {c}.",
	"a photo of the large {c}.",
	"a photo of the small {c}.",
}

// LabelEmbeddings is the paper's clip_label_embeddings: every class name under every prompt is encoded by
// the text tower and L2-normalised; the prompts are averaged and the mean re-normalised. With scaled the
// result is multiplied by exp(logit_scale) (for pseudo-labels); unscaled it gives cosine zero-shot logits.
// It returns the [classes, embed] matrix and the embedding width.
func LabelEmbeddings(m *zoo.Model, classes, prompts []string, scaled bool) ([]float32, int, error) {
	if !m.HasText() {
		return nil, 0, fmt.Errorf("%s has no text tower: pseudo-labels and zero-shot scores need a CLIP model", m.Name())
	}
	if len(classes) == 0 {
		return nil, 0, fmt.Errorf("no class names")
	}
	if len(prompts) == 0 {
		prompts = PaperPrompts
	}
	texts := make([]string, 0, len(prompts)*len(classes))
	for _, p := range prompts {
		if !strings.Contains(p, "{c}") {
			return nil, 0, fmt.Errorf("prompt %q has no {c} placeholder for the class name", p)
		}
		for _, c := range classes {
			texts = append(texts, strings.ReplaceAll(p, "{c}", c))
		}
	}
	tok, err := tokenizer.New()
	if err != nil {
		return nil, 0, err
	}
	ids := tok.Tokenize(texts, 0)
	text := m.Text()
	// Encode in chunks so ImageNet's 5000 prompts do not hold every activation at once.
	const chunk = 256
	be := m.Backend()
	var rows []float32
	for i := 0; i < len(ids); i += chunk {
		e, err := text.EncodeText(ids[i:min(i+chunk, len(ids))], true)
		if err != nil {
			return nil, 0, err
		}
		rows = append(rows, be.ToHost(e)...)
		be.Free(e)
	}
	E := len(rows) / len(ids)
	C := len(classes)
	per := be.FromHost(rows, len(prompts), C, E)
	labels := be.L2Normalize(be.Reduce(per, 0, tensor.Mean), 1e-12)
	if scaled {
		labels = text.ScaleLogits(labels)
	}
	return be.ToHost(labels), E, nil
}

// PseudoLabels is the paper's clip_pseudo_probs followed by argmax: stored image features x [n, d] are
// L2-normalised, projected into the joint space and matched with the scaled label embeddings.
func PseudoLabels(m *zoo.Model, x []float32, n, d int, labelEmbeds []float32, embed int) ([]int64, error) {
	proj, w, e := m.VisualProjection()
	if proj == nil {
		w, e = d, d
	}
	if w != d || e != embed {
		return nil, fmt.Errorf("stored embeddings have width %d, but %s projects %d → %d and its text tower gives %d: were they made with this model?", d, m.Name(), w, e, embed)
	}
	_, labels, err := eval.PseudoLabelProbs(x, d, proj, embed, labelEmbeds)
	return labels, err
}

// ZeroShotLogits are the paper's zero-shot logits of stored features: cosine similarities of the normalised
// projected features with the unscaled label embeddings.
func ZeroShotLogits(m *zoo.Model, x []float32, d int, labelEmbeds []float32, embed int) ([]float32, error) {
	proj, w, e := m.VisualProjection()
	if proj == nil {
		w, e = d, d
	}
	if w != d || e != embed {
		return nil, fmt.Errorf("stored embeddings have width %d, but %s projects %d → %d and its text tower gives %d", d, m.Name(), w, e, embed)
	}
	return eval.ZeroShotLogits(x, d, proj, embed, labelEmbeds, 1)
}
