package train

import (
	"context"
	"math"
	"testing"

	"plp/tensor"
)

// TestAdversarialEndToEnd attacks the fixture ViT on CIFAR images: the perturbed images must stay valid
// pixels, move their embeddings towards the targets', and, with the targets in the kNN bank, lower the
// AUROC of the OOD set (without the smoothness penalty).
func TestAdversarialEndToEnd(t *testing.T) {
	be := tensor.CPU{}
	ds := readCIFARBin(t)
	enc := fixtureViT(t)
	cfg := DefaultAdvConfig()
	cfg.Steps, cfg.LR = 40, 2e-2
	src, tgt := []int{16, 17, 18, 19}, []int{4, 5, 6, 7}
	for _, lambda := range []float64{0, 5e3} {
		cfg.SmoothLambda = lambda
		out, err := RunAdversarial(context.Background(), be, enc, ds, ds, src, tgt, testTransform(), cfg, 3, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i, v := range out.Perturbed {
			if !(v >= 0 && v <= 1) {
				t.Fatalf("λ=%g: pixel %d is %v", lambda, i, v)
			}
		}
		cos := func(a, b []float32) float64 {
			var ab, aa, bb float64
			for i := range a {
				ab += float64(a[i]) * float64(b[i])
				aa += float64(a[i]) * float64(a[i])
				bb += float64(b[i]) * float64(b[i])
			}
			return ab / math.Sqrt(aa*bb)
		}
		d := out.Dim
		var clean, adv float64
		for i := range src {
			clean += cos(out.Clean[i*d:(i+1)*d], out.Target[i*d:(i+1)*d]) / float64(len(src))
			adv += cos(out.Adversarial[i*d:(i+1)*d], out.Target[i*d:(i+1)*d]) / float64(len(src))
			if math.Abs(out.Similarity[i]-cos(out.Adversarial[i*d:(i+1)*d], out.Target[i*d:(i+1)*d])) > 1e-4 {
				t.Fatalf("reported similarity %v differs from the embeddings'", out.Similarity[i])
			}
		}
		if !(adv > clean+0.1) {
			t.Fatalf("λ=%g: mean similarity to the targets %.3f after the attack, %.3f before", lambda, adv, clean)
		}
		bankIdx := []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}
		bank, err := EmbedImages(context.Background(), be, enc, ds, bankIdx, testTransform(), 5)
		if err != nil {
			t.Fatal(err)
		}
		id, err := EmbedImages(context.Background(), be, enc, ds, []int{12, 13, 14, 15}, testTransform(), 5)
		if err != nil {
			t.Fatal(err)
		}
		aClean, err := KNNAUROC(bank, id, out.Clean, d)
		if err != nil {
			t.Fatal(err)
		}
		aAdv, err := KNNAUROC(bank, id, out.Adversarial, d)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("λ=%g: similarity %.3f -> %.3f, AUROC clean %.1f adversarial %.1f", lambda, clean, adv, aClean, aAdv)
		// The smooth attack is too weak for the AUROC in 40 steps on this tiny model; the patchy one must win.
		if lambda == 0 && !(aAdv < aClean) {
			t.Fatalf("λ=%g: AUROC %.1f with adversarial OOD images, %.1f with clean ones", lambda, aAdv, aClean)
		}
	}
}
