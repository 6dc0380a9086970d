package resnet

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
// exactly the tower's tensors, except that each BatchNorm's integer num_batches_tracked counter may be
// present or not (it plays no part in inference). Anything else missing, unexpected, wrongly shaped or
// non-float is reported in a *LoadError listing every offending key.
func New(c Config, be tensor.Backend, ws map[string]*weights.Tensor, prefix string) (*Model, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	table := c.Shapes()
	counters := map[string]bool{}
	for _, cb := range c.convs() {
		counters[cb.bn+".num_batches_tracked"] = true
	}
	h, err := layers.Host("resnet", table, ws, prefix, func(k string) bool { return counters[k] })
	if err != nil {
		return nil, layers.As[LoadError](err)
	}
	return build(c, be, h), nil
}

// Load reads every tensor of st whose key starts with prefix (e.g. "visual.") and builds the model with New.
func Load(c Config, be tensor.Backend, st weights.Store, prefix string) (*Model, error) {
	ws, err := layers.Select(st, prefix)
	if err != nil {
		return nil, err
	}
	return New(c, be, ws, prefix)
}

// NewRandom builds a model with seeded random weights (He-scaled convolutions, unit BatchNorm statistics,
// a damped last BatchNorm in each block so activations stay bounded), for benchmarks.
func NewRandom(c Config, be tensor.Backend, seed uint64) (*Model, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return build(c, be, layers.RandomHost(c.Shapes(), seed, randomDist)), nil
}

// randomDist draws convolutions ~ N(0, 2/fan_in), Linear weights ~ N(0, 1/fan_in), BatchNorm running
// means 0 and variances 1, BatchNorm scales 1 except 0.2 for the last of each block, and everything else
// ~ N(0, 0.02).
func randomDist(k string, shape []int) (mean, std float64) {
	switch {
	case len(shape) == 4:
		return 0, math.Sqrt(2 / float64(tensor.Numel(shape[1:])))
	case len(shape) == 2:
		return 0, 1 / math.Sqrt(float64(shape[1]))
	case strings.HasSuffix(k, "running_mean"):
		return 0, 0
	case strings.HasSuffix(k, "running_var"):
		return 1, 0
	case strings.HasSuffix(k, "bn3.weight"):
		return 0.2, 0
	case strings.HasSuffix(k, ".weight"):
		return 1, 0
	}
	return 0, 0.02
}

// FoldBatchNorm returns the weight and bias of one convolution equivalent to conv w [cout, ...] (no bias)
// followed by inference-mode BatchNorm: s = gamma/sqrt(var+eps), w' = s·w per output channel,
// b' = beta - s·mean. The arithmetic is float64.
func FoldBatchNorm(w, gamma, beta, mean, variance []float32, eps float64) (wf, bias []float32) {
	cout := len(gamma)
	per := len(w) / cout
	wf, bias = make([]float32, len(w)), make([]float32, cout)
	for o := 0; o < cout; o++ {
		s := float64(gamma[o]) / math.Sqrt(float64(variance[o])+eps)
		for i := o * per; i < (o+1)*per; i++ {
			wf[i] = float32(float64(w[i]) * s)
		}
		bias[o] = float32(float64(beta[o]) - s*float64(mean[o]))
	}
	return wf, bias
}
