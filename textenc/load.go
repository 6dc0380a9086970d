package textenc

import (
	"math"
	"strings"

	"plp/layers"
	"plp/tensor"
	"plp/weights"
)

// LoadError lists every way a checkpoint disagrees with the model's key table. It is a type of its own,
// not an alias, so that errors.As tells this tower's error from another tower's in a joint checkpoint.
type LoadError layers.LoadError

func (e *LoadError) Error() string { return (*layers.LoadError)(e).Error() }

// New builds a model from checkpoint tensors whose keys are prefix + the keys of c.Shapes(). The caller
// passes exactly the tensors of this tower: any other key, a missing key, a wrong shape or a non-float
// dtype is reported in a *LoadError listing every offending key.
//
// On a backend that can alias host memory (tensor.CPU) the model's weights alias the float32 data of ws
// without copying: the store the tensors came from must stay open while the model is in use.
func New(c Config, be tensor.Backend, ws map[string]*weights.Tensor, prefix string) (*Model, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	p, err := layers.Tensors("textenc", c.Shapes(), be, ws, prefix)
	if err != nil {
		return nil, layers.As[LoadError](err)
	}
	return build(c, be, p), nil
}

// Load reads every tensor of st whose key starts with prefix but with none of exclude, and builds the
// model with New. An open_clip checkpoint holds the text tower at its root next to the image tower:
// Load(c, be, st, "", "visual.").
func Load(c Config, be tensor.Backend, st weights.Store, prefix string, exclude ...string) (*Model, error) {
	ws, err := layers.Select(st, prefix, exclude...)
	if err != nil {
		return nil, err
	}
	return New(c, be, ws, prefix)
}

// NewRandom builds a model with seeded random weights of realistic scale (Linear weights ~ N(0, 1/fan_in),
// LayerNorm weights 1, small biases and embeddings), for benchmarks and tests that need no checkpoint. On
// the CPU the weights live outside the Go heap, like a memory-mapped checkpoint, and are never freed.
func NewRandom(c Config, be tensor.Backend, seed uint64) (*Model, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return build(c, be, layers.RandomTensors(c.Shapes(), be, seed, randomDist)), nil
}

// randomDist draws Linear weights ~ N(0, 1/fan_in), LayerNorm weights 1, the projection ~ N(0, 1/width),
// CLIP's initial logit scale log(1/0.07) and everything else ~ N(0, 0.02).
func randomDist(k string, shape []int) (mean, std float64) {
	switch {
	case strings.HasSuffix(k, "weight") && len(shape) >= 2:
		return 0, 1 / math.Sqrt(float64(tensor.Numel(shape[1:])))
	case strings.HasSuffix(k, "weight"): // LayerNorm scale
		return 1, 0
	case k == "text_projection":
		return 0, 1 / math.Sqrt(float64(shape[0]))
	case k == "logit_scale": // CLIP's initial temperature 1/0.07
		return math.Log(1 / 0.07), 0
	}
	return 0, 0.02
}
