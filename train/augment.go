package train

import (
	"math"
	"math/rand/v2"

	"plp/imaging"
)

// Images is an indexed image collection (data.Dataset satisfies it).
type Images interface {
	Len() int
	// Load returns image i; the caller owns the result.
	Load(i int) (*imaging.RGB, error)
}

// randomResizedCrop is torchvision's RandomResizedCrop(size, scale=(0.08, 1), ratio=(3/4, 4/3)) followed
// by a horizontal flip with probability 1/2: up to ten tries for a box of the sampled area and log-uniform
// aspect ratio that fits, else the largest central box within the ratio range.
func randomResizedCrop(img *imaging.RGB, size int, interp imaging.Interpolation, r *rand.Rand) (*imaging.RGB, error) {
	W, H := img.W, img.H
	area := float64(W * H)
	x0, y0, cw, ch := 0, 0, W, H
	found := false
	for try := 0; try < 10 && !found; try++ {
		target := area * (0.08 + r.Float64()*(1-0.08))
		logr := math.Log(3.0/4) + r.Float64()*(math.Log(4.0/3)-math.Log(3.0/4))
		ar := math.Exp(logr)
		w := int(math.Round(math.Sqrt(target * ar)))
		h := int(math.Round(math.Sqrt(target / ar)))
		if w > 0 && h > 0 && w <= W && h <= H {
			x0, y0, cw, ch = r.IntN(W-w+1), r.IntN(H-h+1), w, h
			found = true
		}
	}
	if !found {
		in := float64(W) / float64(H)
		switch {
		case in < 3.0/4:
			cw, ch = W, int(math.Round(float64(W)/(3.0/4)))
		case in > 4.0/3:
			ch, cw = H, int(math.Round(float64(H)*(4.0/3)))
		}
		cw, ch = min(cw, W), min(ch, H)
		x0, y0 = (W-cw)/2, (H-ch)/2
	}
	crop := imaging.NewRGB(cw, ch)
	for y := 0; y < ch; y++ {
		copy(crop.Pix[y*cw*3:(y+1)*cw*3], img.Pix[((y0+y)*W+x0)*3:((y0+y)*W+x0+cw)*3])
	}
	out, err := imaging.Resize(crop, size, size, interp)
	if err != nil {
		return nil, err
	}
	if r.IntN(2) == 1 {
		for y := 0; y < size; y++ {
			row := out.Pix[y*size*3 : (y+1)*size*3]
			for a, b := 0, size-1; a < b; a, b = a+1, b-1 {
				for c := 0; c < 3; c++ {
					row[a*3+c], row[b*3+c] = row[b*3+c], row[a*3+c]
				}
			}
		}
	}
	return out, nil
}

// gammaSample draws from Gamma(a, 1) (Marsaglia and Tsang; a < 1 by boosting).
func gammaSample(r *rand.Rand, a float64) float64 {
	if a < 1 {
		return gammaSample(r, a+1) * math.Pow(r.Float64(), 1/a)
	}
	d := a - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := r.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := r.Float64()
		if math.Log(u) < 0.5*x*x+d-d*v+d*math.Log(v) {
			return d * v
		}
	}
}

// betaSample draws from Beta(a, a).
func betaSample(r *rand.Rand, a float64) float64 {
	x, y := gammaSample(r, a), gammaSample(r, a)
	return x / (x + y)
}

// mixBatch applies timm's Mixup in batch mode to x [B, 3, H, W] (CHW images, flattened) and returns the
// soft targets [B·C]: each image is mixed with the image at the mirrored batch position, with one λ per
// batch (mixup: Beta(α, α) blend; cutmix: a box of area 1-λ pasted, λ corrected to the box's true area),
// and the targets are the same blend of label-smoothed one-hot vectors.
func mixBatch(x []float32, B, H, W int, labels []int, classes int, cfg FinetuneConfig, r *rand.Rand) []float64 {
	lam := 1.0
	useCutmix := false
	switch {
	case cfg.Mixup > 0 && cfg.Cutmix > 0:
		useCutmix = r.Float64() < cfg.MixupSwitchProb
	case cfg.Cutmix > 0:
		useCutmix = true
	}
	plane := H * W
	img := 3 * plane
	orig := append([]float32(nil), x...)
	if useCutmix {
		lam = betaSample(r, cfg.Cutmix)
		cut := math.Sqrt(1 - lam)
		ch, cw := int(float64(H)*cut), int(float64(W)*cut)
		cy, cx := r.IntN(H), r.IntN(W)
		y0, y1 := max(cy-ch/2, 0), min(cy+ch/2, H)
		x0, x1 := max(cx-cw/2, 0), min(cx+cw/2, W)
		for b := 0; b < B; b++ {
			src := orig[(B-1-b)*img:]
			dst := x[b*img:]
			for c := 0; c < 3; c++ {
				for y := y0; y < y1; y++ {
					copy(dst[c*plane+y*W+x0:c*plane+y*W+x1], src[c*plane+y*W+x0:c*plane+y*W+x1])
				}
			}
		}
		lam = 1 - float64((y1-y0)*(x1-x0))/float64(plane)
	} else if cfg.Mixup > 0 {
		lam = betaSample(r, cfg.Mixup)
		l := float32(lam)
		for b := 0; b < B; b++ {
			src := orig[(B-1-b)*img : (B-b)*img]
			dst := x[b*img : (b+1)*img]
			for i := range dst {
				dst[i] = dst[i]*l + src[i]*(1-l)
			}
		}
	}
	off := cfg.Smoothing / float64(classes)
	on := 1 - cfg.Smoothing + off
	q := make([]float64, B*classes)
	for b := 0; b < B; b++ {
		row := q[b*classes : (b+1)*classes]
		for c := range row {
			row[c] = off
		}
		row[labels[b]] += (on - off) * lam
		row[labels[B-1-b]] += (on - off) * (1 - lam)
	}
	return q
}
