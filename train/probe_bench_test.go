package train

import (
	"math/rand/v2"
	"testing"

	"plp/tensor"
)

// BenchmarkProbeEpoch is one epoch of the paper's PLP probe at ImageNet-scale width: 50 000 × 1024
// embeddings, 100 classes, batch 8192 (7 steps). 100 epochs take 100× this.
func BenchmarkProbeEpoch(b *testing.B) {
	const n, d, classes = 50000, 1024, 100
	r := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, n*d)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	y := make([]int, n)
	for i := range y {
		y[i] = r.IntN(classes)
	}
	cfg := ProbeConfig{Epochs: 1, Batch: 8192, LR: 1e-3, WD: 1e-3, Optimizer: "adam", Seed: 42}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := TrainProbe(tensor.CPU{}, x, n, d, y, classes, cfg, nil); err != nil {
			b.Fatal(err)
		}
	}
}
