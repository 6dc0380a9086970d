package eval

import (
	"math/rand/v2"
	"testing"
)

// clipBench makes n unit-free random image embeddings of width e (the joint space, no projection), the
// zero-shot logits against classes random unit text embeddings, and the FitData of a zero-shot run whose
// text tower maps every text to a random unit vector.
func clipBench(n, e, classes int) (*FitData, Batch) {
	r := rand.New(rand.NewPCG(1, 2))
	randn := func(k int) []float32 {
		x := make([]float32, k)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		return x
	}
	labels := randn(classes * e)
	normalizeRows(labels, e)
	x := randn(n * e)
	logits, _ := ZeroShotLogits(x, e, nil, e, labels, 1)
	encode := func(texts []string) ([]float32, error) {
		out := randn(len(texts) * e)
		normalizeRows(out, e)
		return out, nil
	}
	fit := &FitData{Dim: e, EmbedDim: e, Classes: classes, LabelEmbeds: labels, ZeroShot: true, EncodeText: encode,
		Features: x, Logits: logits}
	return fit, Batch{Features: x, Logits: logits}
}

// BenchmarkNegLabel fits neglabel with its defaults (NegMining over the 70 794 candidates, whose text
// embeddings are given: the text tower's time is not counted) and scores 10 000 images of width 512
// against 100 classes and the 10 619 negatives.
func BenchmarkNegLabel(b *testing.B) {
	fit, test := clipBench(10000, 512, *benchClasses)
	s, err := negLabelMethod.NewSetting(nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	defer reportCPU(b, cpuTime())
	for i := 0; i < b.N; i++ {
		det, err := s.Fit(fit)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := det.Score(test); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGLMCM scores 2 000 images with 196 patch features each (ViT-B/16 at 224 pixels) of width 512
// against 100 classes.
func BenchmarkGLMCM(b *testing.B) {
	const n, patches, e = 2000, 196, 512
	fit, test := clipBench(n, e, *benchClasses)
	r := rand.New(rand.NewPCG(3, 4))
	test.Patches = make([]float32, n*patches*e)
	for i := range test.Patches {
		test.Patches[i] = float32(r.NormFloat64())
	}
	s, err := glmcmMethod.NewSetting(nil)
	if err != nil {
		b.Fatal(err)
	}
	det, err := s.Fit(fit)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	defer reportCPU(b, cpuTime())
	for i := 0; i < b.N; i++ {
		if _, err := det.Score(test); err != nil {
			b.Fatal(err)
		}
	}
}
