package eval

import "testing"

// benchFitData is benchData with a linear head and its logits: the inputs of every post-hoc method at
// the benchmark size. The head is the nearest-class-mean classifier, w_c = s·μ_c, b_c = −s‖μ_c‖²/2,
// so that it predicts like a trained probe.
func benchFitData(b *testing.B) (*FitData, Batch) {
	b.Helper()
	train, labels, test := benchData(b)
	d, c := *benchDim, *benchClasses
	mean, count := make([]float64, c*d), make([]int, c)
	for i, l := range labels {
		count[l]++
		for j, v := range train[i*d : (i+1)*d] {
			mean[int(l)*d+j] += float64(v)
		}
	}
	const s = 0.01
	w, bias := make([]float32, c*d), make([]float32, c)
	for k := 0; k < c; k++ {
		sq := 0.0
		for j := 0; j < d; j++ {
			m := mean[k*d+j] / float64(max(count[k], 1))
			w[k*d+j] = float32(s * m)
			sq += m * m
		}
		bias[k] = float32(-s * sq / 2)
	}
	fit := &FitData{Dim: d, Classes: c, Features: train, Labels: labels, Weight: w, Bias: bias,
		Logits: headLogits(train, len(train)/d, d, w, bias, c)}
	return fit, Batch{Features: test, Logits: headLogits(test, len(test)/d, d, w, bias, c)}
}

// BenchmarkMethods fits every post-hoc method that applies to a classifier head (all but the zero-shot
// mcm) with its default parameters on the training set and scores the test set: what `plp eval
// --methods all` computes for one ID test set. Sub-benchmarks time each method alone.
func BenchmarkMethods(b *testing.B) {
	fit, test := benchFitData(b)
	have := NeedFeatures | NeedLogits | NeedHead | NeedLabels
	all, err := ParseMethods([]string{"all"}, nil, have)
	if err != nil {
		b.Fatal(err)
	}
	run := func(b *testing.B, settings []Setting) {
		b.ResetTimer()
		defer reportCPU(b, cpuTime())
		for i := 0; i < b.N; i++ {
			// A fresh fit data per run, as one eval run has: methods share statistics within it only.
			d := *fit
			d.memo = nil
			for _, s := range settings {
				det, err := s.Fit(&d)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := det.Score(test); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.Run("all", func(b *testing.B) { run(b, all) })
	for _, s := range all {
		b.Run(s.Method.Name, func(b *testing.B) { run(b, []Setting{s}) })
	}
}
