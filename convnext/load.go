package convnext

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

// New builds a model from checkpoint tensors whose keys are prefix + the keys of c.Shapes(). ws must hold
// exactly the trunk's tensors: a missing, unexpected, wrongly shaped or non-float tensor is reported in a
// *LoadError listing every offending key.
func New(c Config, be tensor.Backend, ws map[string]*weights.Tensor, prefix string) (*Model, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	table := c.Shapes()
	h, err := layers.Host("convnext", table, ws, prefix, nil)
	if err != nil {
		return nil, layers.As[LoadError](err)
	}
	return build(c, be, upload(be, table, h)), nil
}

// upload copies every tensor of h onto be. The copy keeps the model independent of the checkpoint store.
func upload(be tensor.Backend, table map[string][]int, h map[string][]float32) map[string]*tensor.Tensor {
	p := make(map[string]*tensor.Tensor, len(h))
	for k, v := range h {
		p[k] = be.FromHost(v, table[k]...)
	}
	return p
}

// Load reads every tensor of st whose key starts with prefix and builds the model with New.
func Load(c Config, be tensor.Backend, st weights.Store, prefix string) (*Model, error) {
	ws, err := layers.Select(st, prefix)
	if err != nil {
		return nil, err
	}
	return New(c, be, ws, prefix)
}

// NewRandom builds a model with seeded random weights of realistic scale (conv and Linear weights
// ~ N(0, 1/fan_in), LayerNorm weights 1, layer scale 0.1, small biases), for benchmarks.
func NewRandom(c Config, be tensor.Backend, seed uint64) (*Model, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	table := c.Shapes()
	return build(c, be, upload(be, table, layers.RandomHost(table, seed, randomDist))), nil
}

// randomDist draws conv and Linear weights ~ N(0, 1/fan_in), LayerNorm weights 1, layer scale 0.1 and
// everything else ~ N(0, 0.02).
func randomDist(k string, shape []int) (mean, std float64) {
	switch {
	case strings.HasSuffix(k, "weight") && len(shape) >= 2:
		return 0, 1 / math.Sqrt(float64(tensor.Numel(shape[1:])))
	case strings.HasSuffix(k, "weight"):
		return 1, 0
	case strings.HasSuffix(k, "gamma"):
		return 0.1, 0
	}
	return 0, 0.02
}
