package eval

import (
	"fmt"
	"math"

	"plp/kernels/cpu"
)

// ZeroShotLogits returns the zero-shot logits of the paper's logit_evaluation.py: the image embeddings
// x ([n, dim]) are projected with proj ([dim, embedDim]; nil means no projection and embedDim == dim),
// L2-normalised, and multiplied with the label embeddings ([classes, embedDim], one unit-norm text
// embedding per class) and by scale. The paper uses scale 1 (logit_scale=False), so the pseudo-MSP
// baseline is MSP(ZeroShotLogits(...), classes, 1) on raw cosine similarities.
func ZeroShotLogits(x []float32, dim int, proj []float32, embedDim int, labelEmbeds []float32, scale float32) ([]float32, error) {
	y, n, err := project(x, dim, proj, embedDim, false)
	if err != nil {
		return nil, err
	}
	normalizeRows(y, embedDim)
	return labelProducts(y, n, embedDim, labelEmbeds, scale)
}

// PseudoLabelProbs returns the class probabilities and arg-max labels of linear_probing.py's
// clip_pseudo_probs: softmax((normalize(x)·proj)·labelEmbedsᵀ). Unlike ZeroShotLogits the embeddings are
// normalised before the projection, and labelEmbeds are expected to carry the logit scale already.
func PseudoLabelProbs(x []float32, dim int, proj []float32, embedDim int, labelEmbeds []float32) (probs []float32, labels []int64, err error) {
	y, n, err := project(x, dim, proj, embedDim, true)
	if err != nil {
		return nil, nil, err
	}
	logits, err := labelProducts(y, n, embedDim, labelEmbeds, 1)
	if err != nil {
		return nil, nil, err
	}
	classes := len(labelEmbeds) / embedDim
	probs, err = Softmax(logits, classes)
	if err != nil {
		return nil, nil, err
	}
	labels = make([]int64, n)
	for i := range labels {
		labels[i] = int64(argmax(probs[i*classes : (i+1)*classes]))
	}
	return probs, labels, nil
}

// project returns x·proj (a copy of x when proj is nil), normalising x first if normFirst.
func project(x []float32, dim int, proj []float32, embedDim int, normFirst bool) ([]float32, int, error) {
	n, err := rows(len(x), dim, "embeddings")
	if err != nil {
		return nil, 0, err
	}
	src := x
	if normFirst {
		src = append([]float32(nil), x...)
		normalizeRows(src, dim)
	}
	if proj == nil {
		if embedDim != dim {
			return nil, 0, fmt.Errorf("eval: no projection but embedding dim %d != %d", embedDim, dim)
		}
		return append([]float32(nil), src...), n, nil
	}
	if embedDim <= 0 || len(proj) != dim*embedDim {
		return nil, 0, fmt.Errorf("eval: projection has %d values, want %d×%d", len(proj), dim, embedDim)
	}
	y := make([]float32, n*embedDim)
	if n > 0 {
		cpu.Sgemm(false, false, n, embedDim, dim, 1, src, dim, proj, embedDim, 0, y, embedDim)
	}
	return y, n, nil
}

// labelProducts returns scale·y·labelEmbedsᵀ ([n, classes]).
func labelProducts(y []float32, n, embedDim int, labelEmbeds []float32, scale float32) ([]float32, error) {
	classes, err := rows(len(labelEmbeds), embedDim, "label embeddings")
	if err != nil {
		return nil, err
	}
	if classes == 0 {
		return nil, fmt.Errorf("eval: no label embeddings")
	}
	out := make([]float32, n*classes)
	if n > 0 {
		cpu.Sgemm(false, true, n, classes, embedDim, scale, y, embedDim, labelEmbeds, embedDim, 0, out, classes)
	}
	return out, nil
}

// normalizeRows divides each row by max(‖row‖₂, 1e-12), like torch.nn.functional.normalize.
func normalizeRows(x []float32, dim int) {
	for i := 0; i+dim <= len(x); i += dim {
		row := x[i : i+dim]
		s := 0.0
		for _, v := range row {
			s += float64(v) * float64(v)
		}
		norm := max(float32(math.Sqrt(s)), 1e-12)
		for j := range row {
			row[j] /= norm
		}
	}
}
