package eval

import (
	"fmt"
	"math"

	"plp/kernels/cpu"
)

var glmcmMethod = &Method{
	Name:  "glmcm",
	Paper: "Miyai et al., Zero-Shot In-Distribution Detection in Multi-Object Settings Using Vision-Language Foundation Models (GL-MCM), 2023",
	Needs: NeedZeroShot | NeedPatches,
	Params: []ParamSpec{
		{Name: "tau", Kind: FloatParam, Default: "1", Min: 1e-6, Max: 1e6, Doc: "softmax temperature applied to the cosine similarities"},
		{Name: "lambda", Kind: FloatParam, Default: "1", Min: 0, Max: 1e6, Doc: "weight of the local (patch) MCM score"},
	},
	fit: func(s Setting, d *FitData) (Detector, error) {
		return &GLMCM{Tau: s.Float("tau"), Lambda: s.Float("lambda"), labels: d.LabelEmbeds, e: d.EmbedDim, classes: d.Classes}, nil
	},
}

// GLMCM is global-local maximum concept matching: the MCM score of the image embedding plus Lambda times
// the local MCM score, the largest softmax probability over the classes of any one patch's cosine
// similarities to the class text embeddings divided by Tau. The patch features are those the GL-MCM
// authors take: the last block's value path for each patch token (attention replaced by the value
// projection), after ln_post and the visual projection (plp embed --patch-features). It needs no fitting.
type GLMCM struct {
	Tau, Lambda float64
	labels      []float32 // [classes, e] unit rows
	e, classes  int
}

// Score implements Detector on b.Logits (the zero-shot cosine logits) and b.Patches.
func (m *GLMCM) Score(b Batch) ([]float64, error) {
	n, err := batchRows(b, NeedZeroShot, 0, m.classes)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, nil
	}
	if len(b.Patches) == 0 || len(b.Patches)%(n*m.e) != 0 {
		return nil, fmt.Errorf("eval: %d patch feature values for %d images of width %d", len(b.Patches), n, m.e)
	}
	p := len(b.Patches) / (n * m.e)
	if err := finite(b.Patches, m.e, "patch features"); err != nil {
		return nil, err
	}
	c := m.classes
	out := make([]float64, n)
	// Images in chunks: one product of all their patches with the labels, then the maxima per image.
	const chunk = 256
	x := make([]float32, min(n, chunk)*p*m.e)
	sim := make([]float32, min(n, chunk)*p*c)
	for lo := 0; lo < n; lo += chunk {
		k := min(chunk, n-lo)
		x := x[:k*p*m.e]
		copy(x, b.Patches[lo*p*m.e:(lo+k)*p*m.e])
		normalizeRows(x, m.e)
		sim := sim[:k*p*c]
		cpu.Sgemm(false, true, k*p, c, m.e, 1, x, m.e, m.labels, m.e, 0, sim, c)
		parallelRows(k, func(i int) {
			local := 0.0
			for j := range p {
				local = max(local, maxSoftmax(sim[(i*p+j)*c:(i*p+j+1)*c], m.Tau))
			}
			out[lo+i] = maxSoftmax(b.Logits[(lo+i)*c:(lo+i+1)*c], m.Tau) + m.Lambda*local
		})
	}
	return out, nil
}

// maxSoftmax is the largest entry of softmax(row/tau): 1 / sum exp((v - max)/tau).
func maxSoftmax(row []float32, tau float64) float64 {
	top := float64(maxOf(row))
	s := 0.0
	for _, v := range row {
		s += math.Exp((float64(v) - top) / tau)
	}
	return 1 / s
}
