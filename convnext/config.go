package convnext

import (
	"fmt"
	"strconv"
)

// Config is a ConvNeXt architecture, with timm's argument names.
type Config struct {
	Depths     []int // blocks per stage
	Dims       []int // channels per stage
	ImageSize  int   // square input side (only for validation and random inputs; the trunk is size-agnostic)
	NumClasses int   // width of head.fc; 0 means no classifier (timm's num_classes=0)
	// Eps is the eps of every LayerNorm (1e-6 in timm).
	Eps float32
	// NoHeadNorm leaves out the head's LayerNorm: the features are the pooled last stage. That is
	// torchvision's ConvNeXt with its classifier (LayerNorm2d, Flatten, Linear) replaced by Flatten, as the
	// paper's load_backbone builds convnext_base.
	NoHeadNorm bool
}

// Base is timm's convnext_base trunk.
func Base(imageSize, classes int) Config {
	return Config{Depths: []int{3, 3, 27, 3}, Dims: []int{128, 256, 512, 1024}, ImageSize: imageSize, NumClasses: classes, Eps: 1e-6}
}

// Large is timm's convnext_large trunk.
func Large(imageSize, classes int) Config {
	return Config{Depths: []int{3, 3, 27, 3}, Dims: []int{192, 384, 768, 1536}, ImageSize: imageSize, NumClasses: classes, Eps: 1e-6}
}

// Width is the number of output features (the last stage's channels).
func (c Config) Width() int { return c.Dims[len(c.Dims)-1] }

// Validate reports a configuration that cannot describe a model.
func (c Config) Validate() error {
	if len(c.Depths) == 0 || len(c.Depths) != len(c.Dims) {
		return fmt.Errorf("convnext: %d depths for %d dims", len(c.Depths), len(c.Dims))
	}
	for i := range c.Depths {
		if c.Depths[i] < 0 || c.Dims[i] <= 0 {
			return fmt.Errorf("convnext: stage %d has depth %d and dim %d", i, c.Depths[i], c.Dims[i])
		}
	}
	// The stem divides by 4 and each later stage by 2; every stage must keep at least one pixel.
	if min := 4 << (len(c.Dims) - 1); c.ImageSize < min {
		return fmt.Errorf("convnext: image size %d is below the %d pixels %d stages need", c.ImageSize, min, len(c.Dims))
	}
	if c.NumClasses < 0 {
		return fmt.Errorf("convnext: negative class count %d", c.NumClasses)
	}
	if !(c.Eps > 0) {
		return fmt.Errorf("convnext: LayerNorm eps %g must be positive", c.Eps)
	}
	return nil
}

// Shapes is the checkpoint key table: every tensor the model reads, by timm key, with its shape.
func (c Config) Shapes() map[string][]int {
	t := map[string][]int{
		"stem.0.weight":    {c.Dims[0], 3, 4, 4},
		"stem.0.bias":      {c.Dims[0]},
		"stem.1.weight":    {c.Dims[0]},
		"stem.1.bias":      {c.Dims[0]},
		"head.norm.weight": {c.Width()},
		"head.norm.bias":   {c.Width()},
	}
	if c.NoHeadNorm {
		delete(t, "head.norm.weight")
		delete(t, "head.norm.bias")
	}
	if c.NumClasses > 0 {
		t["head.fc.weight"] = []int{c.NumClasses, c.Width()}
		t["head.fc.bias"] = []int{c.NumClasses}
	}
	for i, d := range c.Dims {
		s := "stages." + strconv.Itoa(i) + "."
		if i > 0 {
			t[s+"downsample.0.weight"] = []int{c.Dims[i-1]}
			t[s+"downsample.0.bias"] = []int{c.Dims[i-1]}
			t[s+"downsample.1.weight"] = []int{d, c.Dims[i-1], 2, 2}
			t[s+"downsample.1.bias"] = []int{d}
		}
		for j := 0; j < c.Depths[i]; j++ {
			b := s + "blocks." + strconv.Itoa(j) + "."
			t[b+"conv_dw.weight"] = []int{d, 1, 7, 7}
			t[b+"conv_dw.bias"] = []int{d}
			t[b+"norm.weight"] = []int{d}
			t[b+"norm.bias"] = []int{d}
			t[b+"mlp.fc1.weight"] = []int{4 * d, d}
			t[b+"mlp.fc1.bias"] = []int{4 * d}
			t[b+"mlp.fc2.weight"] = []int{d, 4 * d}
			t[b+"mlp.fc2.bias"] = []int{d}
			t[b+"gamma"] = []int{d}
		}
	}
	return t
}
