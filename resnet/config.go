package resnet

import (
	"fmt"
	"strconv"
)

// Style selects the ResNet variant.
type Style int

const (
	// OpenCLIP is open_clip's ModifiedResNet with attention pooling.
	OpenCLIP Style = iota
	// Timm is the standard ResNet of timm and torchvision.
	Timm
)

// Config is a ResNet architecture.
type Config struct {
	Style     Style
	Layers    []int // bottleneck blocks per stage (4 stages)
	Width     int   // stem output channels = planes of the first stage (64 for RN50 and resnet50)
	ImageSize int   // square input side; OpenCLIP's attention pool is sized for it
	// Heads and OutputDim are the attention pool's heads and output width (OpenCLIP only).
	Heads, OutputDim int
	// NumClasses is the width of the classifier fc (Timm only); 0 means none.
	NumClasses int
}

// BatchNormEps is the eps of every BatchNorm (PyTorch's default).
const BatchNormEps = 1e-5

// RN50 is open_clip's RN50 image tower (OpenAI CLIP): embed dim 1024, 32 heads.
var RN50 = Config{Style: OpenCLIP, Layers: []int{3, 4, 6, 3}, Width: 64, ImageSize: 224, Heads: 32, OutputDim: 1024}

// ResNet50 is timm's resnet50 with its 1000-class classifier.
var ResNet50 = Config{Style: Timm, Layers: []int{3, 4, 6, 3}, Width: 64, ImageSize: 224, NumClasses: 1000}

// Features is the width of the last stage's output: 32·Width (bottleneck expansion 4 × 8·Width).
func (c Config) Features() int { return 32 * c.Width }

// EmbedDim is the width of Forward's embedding: OutputDim for OpenCLIP, Features for Timm.
func (c Config) EmbedDim() int {
	if c.Style == OpenCLIP {
		return c.OutputDim
	}
	return c.Features()
}

// Validate reports a configuration that cannot describe a model.
func (c Config) Validate() error {
	if c.Style != OpenCLIP && c.Style != Timm {
		return fmt.Errorf("resnet: unknown style %d", c.Style)
	}
	if len(c.Layers) != 4 {
		return fmt.Errorf("resnet: %d stages, want 4", len(c.Layers))
	}
	for i, n := range c.Layers {
		if n <= 0 {
			return fmt.Errorf("resnet: stage %d has %d blocks", i+1, n)
		}
	}
	if c.Width <= 0 || c.Width%2 != 0 {
		return fmt.Errorf("resnet: width %d must be positive and even", c.Width)
	}
	if c.ImageSize < 32 || c.Style == OpenCLIP && c.ImageSize%32 != 0 {
		return fmt.Errorf("resnet: image size %d must be a multiple of 32", c.ImageSize)
	}
	if c.Style == OpenCLIP && (c.Heads <= 0 || c.Features()%c.Heads != 0 || c.OutputDim <= 0) {
		return fmt.Errorf("resnet: attention pool of width %d with %d heads and output %d", c.Features(), c.Heads, c.OutputDim)
	}
	if c.NumClasses < 0 || c.Style == OpenCLIP && c.NumClasses != 0 {
		return fmt.Errorf("resnet: %d classes for style %d", c.NumClasses, c.Style)
	}
	return nil
}

// convBN is a bias-free convolution followed by a BatchNorm, by key prefix.
type convBN struct {
	conv, bn string // "layer1.0.conv1", "layer1.0.bn1"
	shape    []int  // conv weight [out, in, k, k]
}

// stride is the stride of stage i's first block.
func stride(i int) int {
	if i == 0 {
		return 1
	}
	return 2
}

// convs lists every conv+BN pair of the network in execution order.
func (c Config) convs() []convBN {
	var out []convBN
	w := c.Width
	if c.Style == OpenCLIP {
		out = append(out,
			convBN{"conv1", "bn1", []int{w / 2, 3, 3, 3}},
			convBN{"conv2", "bn2", []int{w / 2, w / 2, 3, 3}},
			convBN{"conv3", "bn3", []int{w, w / 2, 3, 3}})
	} else {
		out = append(out, convBN{"conv1", "bn1", []int{w, 3, 7, 7}})
	}
	in := w
	for i, n := range c.Layers {
		p := w << i
		for j := 0; j < n; j++ {
			pre := "layer" + strconv.Itoa(i+1) + "." + strconv.Itoa(j) + "."
			out = append(out,
				convBN{pre + "conv1", pre + "bn1", []int{p, in, 1, 1}},
				convBN{pre + "conv2", pre + "bn2", []int{p, p, 3, 3}},
				convBN{pre + "conv3", pre + "bn3", []int{4 * p, p, 1, 1}})
			if j == 0 && (stride(i) > 1 || in != 4*p) {
				out = append(out, convBN{pre + "downsample.0", pre + "downsample.1", []int{4 * p, in, 1, 1}})
			}
			in = 4 * p
		}
	}
	return out
}

// Shapes is the checkpoint key table: every tensor the model reads, by key, with its shape. BatchNorm's
// num_batches_tracked counters are not listed: they are accepted, not required (see New).
func (c Config) Shapes() map[string][]int {
	t := map[string][]int{}
	for _, cb := range c.convs() {
		t[cb.conv+".weight"] = cb.shape
		for _, s := range []string{".weight", ".bias", ".running_mean", ".running_var"} {
			t[cb.bn+s] = []int{cb.shape[0]}
		}
	}
	f := c.Features()
	switch {
	case c.Style == OpenCLIP:
		g := c.ImageSize / 32
		t["attnpool.positional_embedding"] = []int{g*g + 1, f}
		for _, p := range []string{"q_proj", "k_proj", "v_proj"} {
			t["attnpool."+p+".weight"] = []int{f, f}
			t["attnpool."+p+".bias"] = []int{f}
		}
		t["attnpool.c_proj.weight"] = []int{c.OutputDim, f}
		t["attnpool.c_proj.bias"] = []int{c.OutputDim}
	case c.NumClasses > 0:
		t["fc.weight"] = []int{c.NumClasses, f}
		t["fc.bias"] = []int{c.NumClasses}
	}
	return t
}
