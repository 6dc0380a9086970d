package train

import (
	"context"
	"fmt"

	"plp/eval"
	"plp/imaging"
	"plp/tensor"
)

// AdvOutcome holds the attack's results for N source/target pairs.
type AdvOutcome struct {
	Dim         int
	Size        int       // image side S
	Clean       []float32 // embeddings of the clean source images [N, Dim]
	Adversarial []float32 // embeddings of the perturbed source images [N, Dim]
	Target      []float32 // embeddings of the target images [N, Dim]
	Perturbed   []float32 // perturbed images x+p in [0, 1], [N, 3, S, S]
	Similarity  []float64 // final cosine similarity to the target, per pair
}

// pixels returns images idx preprocessed by t's resize and crop, as [0, 1] CHW values (ToTensor without
// Normalize: the attack clamps in pixel space and normalises inside the graph).
func pixels(images Images, idx []int, t imaging.Transform) ([]float32, int, error) {
	var out []float32
	size := 0
	for _, i := range idx {
		img, err := images.Load(i)
		if err != nil {
			return nil, 0, err
		}
		u8, _, err := t.Apply(img)
		if err != nil {
			return nil, 0, err
		}
		if u8.W != u8.H || (size != 0 && u8.W != size) {
			return nil, 0, fmt.Errorf("train: transform %q gives a %dx%d image", t.Name, u8.W, u8.H)
		}
		size = u8.W
		plane := size * size
		chw := make([]float32, 3*plane)
		for p := 0; p < plane; p++ {
			for c := 0; c < 3; c++ {
				chw[c*plane+p] = float32(u8.Pix[p*3+c]) / 255
			}
		}
		out = append(out, chw...)
	}
	return out, size, nil
}

// embedPixels embeds [B, 3, S, S] images in [0, 1] without recording gradients.
func embedPixels(be tensor.Backend, embed EmbedFunc, x []float32, B, S int, mean, std [3]float32) ([]float32, error) {
	tp := NewTape(be)
	f, err := embed(tp, tp.Normalize(Const(be.FromHost(x, B, 3, S, S)), mean, std))
	if err != nil {
		return nil, err
	}
	return be.ToHost(f.Value), nil
}

// EmbedImages embeds images idx (t's resize, crop and normalisation) in batches, with the same encoder
// the attack uses.
func EmbedImages(ctx context.Context, be tensor.Backend, enc Encoder, images Images, idx []int, t imaging.Transform, batch int) ([]float32, error) {
	embed := EncoderEmbed(enc)
	var out []float32
	for lo := 0; lo < len(idx); lo += batch {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hi := min(lo+batch, len(idx))
		x, size, err := pixels(images, idx[lo:hi], t)
		if err != nil {
			return nil, err
		}
		f, err := embedPixels(be, embed, x, hi-lo, size, t.Mean, t.Std)
		if err != nil {
			return nil, err
		}
		out = append(out, f...)
	}
	return out, nil
}

// RunAdversarial perturbs source image srcIdx[i] towards the embedding of target image tgtIdx[i], in
// batches of batch pairs (the notebook uses 16). The encoder is frozen. progress, if not nil, gets the
// batch and step after each step with the batch's mean similarity.
func RunAdversarial(ctx context.Context, be tensor.Backend, enc Encoder, src, tgt Images, srcIdx, tgtIdx []int, t imaging.Transform, cfg AdvConfig, batch int, progress func(done, total, step int, sim float64)) (*AdvOutcome, error) {
	if len(srcIdx) != len(tgtIdx) || len(srcIdx) == 0 {
		return nil, fmt.Errorf("train: %d source and %d target images", len(srcIdx), len(tgtIdx))
	}
	if batch <= 0 {
		return nil, fmt.Errorf("train: batch %d", batch)
	}
	enc.Params().Freeze(func(string) bool { return true })
	embed := EncoderEmbed(enc)
	out := &AdvOutcome{}
	for lo := 0; lo < len(srcIdx); lo += batch {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hi := min(lo+batch, len(srcIdx))
		B := hi - lo
		x, size, err := pixels(src, srcIdx[lo:hi], t)
		if err != nil {
			return nil, err
		}
		y, tsize, err := pixels(tgt, tgtIdx[lo:hi], t)
		if err != nil {
			return nil, err
		}
		if tsize != size {
			return nil, fmt.Errorf("train: source images are %d pixels, targets %d", size, tsize)
		}
		out.Size = size
		tf, err := embedPixels(be, embed, y, B, size, t.Mean, t.Std)
		if err != nil {
			return nil, err
		}
		cf, err := embedPixels(be, embed, x, B, size, t.Mean, t.Std)
		if err != nil {
			return nil, err
		}
		dim := len(tf) / B
		out.Dim = dim
		var stepFn func(int, float64)
		if progress != nil {
			stepFn = func(s int, sim float64) { progress(lo, len(srcIdx), s, sim) }
		}
		res, err := Perturb(be, embed, x, []int{B, 3, size, size}, be.FromHost(tf, B, dim), t.Mean, t.Std, cfg, uint64(lo), stepFn)
		if err != nil {
			return nil, err
		}
		adv := make([]float32, len(x))
		for i := range adv {
			adv[i] = x[i] + res.Perturbation[i]
		}
		af, err := embedPixels(be, embed, adv, B, size, t.Mean, t.Std)
		if err != nil {
			return nil, err
		}
		out.Clean = append(out.Clean, cf...)
		out.Adversarial = append(out.Adversarial, af...)
		out.Target = append(out.Target, tf...)
		out.Perturbed = append(out.Perturbed, adv...)
		out.Similarity = append(out.Similarity, res.Similarity...)
	}
	return out, nil
}

// KNNAUROC is the notebook's evaluation: the k=1 cosine kNN score against bank [n, dim] of ID test
// embeddings (positives) versus OOD embeddings, as scikit-learn's roc_auc_score in percent.
func KNNAUROC(bank, id, ood []float32, dim int) (float64, error) {
	knn, err := eval.NewKNN(bank, dim)
	if err != nil {
		return 0, err
	}
	si, err := knn.Scores(id, []int{1})
	if err != nil {
		return 0, err
	}
	so, err := knn.Scores(ood, []int{1})
	if err != nil {
		return 0, err
	}
	a, err := eval.AUROC(si[0], so[0])
	return 100 * a, err
}
