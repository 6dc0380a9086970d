package train

import (
	"math/rand/v2"
	"os"
	"runtime/debug"
	"testing"

	"plp/tensor"
	"plp/vit"
)

// BenchmarkViTB16TrainStep times one full training step of timm's ViT-B/16 (224 px, 1000-class head) at
// batch 8 on the CPU: forward, label-smoothed cross-entropy, backward and an AdamW update, with random
// weights. scripts/torch_vit_train_step.py times the same step in PyTorch.
func BenchmarkViTB16TrainStep(b *testing.B) {
	// The step runs as `plp finetune` runs it: the plp binary collects garbage at GOGC=50 unless GOGC
	// is set (cmd/plp's gcPercent), which here also halves the page faults of fresh activation buffers.
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(50))
	}
	be := tensor.CPU{}
	c := vit.TimmConfig{ImageSize: 224, PatchSize: 16, Width: 768, Layers: 12, Heads: 12, MLPRatio: 4, Pool: "token", NumClasses: 1000, Eps: 1e-6}
	m, err := NewTimmViT(c, be, randomWeights(c.Shapes(), "", 1))
	if err != nil {
		b.Fatal(err)
	}
	const B = 8
	r := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, B*3*224*224)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	labels := []int{1, 5, 9, 200, 999, 0, 3, 77}
	params := m.Params().Trainable()
	opt := NewAdam(params, AdamConfig{WeightDecay: 0.05, Decoupled: true})
	xt := be.FromHost(x, B, 3, 224, 224)
	step := func() {
		tp := NewTape(be)
		_, logits, err := m.Forward(tp, Const(xt))
		if err != nil {
			b.Fatal(err)
		}
		tp.Backward(tp.CrossEntropy(logits, labels, 0.1))
		opt.Step(1e-4)
		ZeroGrad(params)
	}
	step()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		step()
	}
	b.ReportMetric(float64(B*b.N)/b.Elapsed().Seconds(), "images/s")
}
