package resnet

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"plp/tensor"
	"plp/weights"
)

// LoadError lists every way a checkpoint disagrees with a model's key table.
type LoadError struct {
	Missing    []string // keys the model needs that the checkpoint lacks
	Unexpected []string // checkpoint keys the model does not read
	Mismatched []string // "key: why", for wrong shapes or non-float dtypes
}

func (e *LoadError) Error() string {
	var parts []string
	for _, l := range []struct {
		what string
		keys []string
	}{{"missing keys", e.Missing}, {"unexpected keys", e.Unexpected}, {"mismatched tensors", e.Mismatched}} {
		if len(l.keys) == 0 {
			continue
		}
		const show = 20
		list := strings.Join(l.keys[:min(len(l.keys), show)], ", ")
		if len(l.keys) > show {
			list += fmt.Sprintf(", … (%d more)", len(l.keys)-show)
		}
		parts = append(parts, fmt.Sprintf("%d %s: %s", len(l.keys), l.what, list))
	}
	return "resnet: checkpoint does not match the model: " + strings.Join(parts, "; ")
}

func isFloat(d weights.DType) bool {
	return d == weights.F32 || d == weights.F16 || d == weights.BF16 || d == weights.F64
}

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
	e := &LoadError{}
	for k, shape := range table {
		w, ok := ws[prefix+k]
		switch {
		case !ok:
			e.Missing = append(e.Missing, prefix+k)
		case !slices.Equal(w.Shape, shape):
			e.Mismatched = append(e.Mismatched, fmt.Sprintf("%s%s: shape %v, want %v", prefix, k, w.Shape, shape))
		case !isFloat(w.DType):
			e.Mismatched = append(e.Mismatched, fmt.Sprintf("%s%s: dtype %s is not a float type", prefix, k, w.DType))
		}
	}
	for k := range ws {
		rel, ok := strings.CutPrefix(k, prefix)
		if _, known := table[rel]; !ok || !known && !counters[rel] {
			e.Unexpected = append(e.Unexpected, k)
		}
	}
	if len(e.Missing)+len(e.Unexpected)+len(e.Mismatched) > 0 {
		slices.Sort(e.Missing)
		slices.Sort(e.Unexpected)
		slices.Sort(e.Mismatched)
		return nil, e
	}
	h := make(map[string][]float32, len(table))
	for k := range table {
		v, err := ws[prefix+k].Float32()
		if err != nil {
			return nil, fmt.Errorf("resnet: %s%s: %w", prefix, k, err)
		}
		h[k] = v
	}
	return build(c, be, h), nil
}

// Load reads every tensor of st whose key starts with prefix (e.g. "visual.") and builds the model with New.
func Load(c Config, be tensor.Backend, st weights.Store, prefix string) (*Model, error) {
	ws := map[string]*weights.Tensor{}
	for _, k := range st.Names() {
		if strings.HasPrefix(k, prefix) {
			w, err := st.Tensor(k)
			if err != nil {
				return nil, err
			}
			ws[k] = w
		}
	}
	return New(c, be, ws, prefix)
}

// NewRandom builds a model with seeded random weights (He-scaled convolutions, unit BatchNorm statistics,
// a damped last BatchNorm in each block so activations stay bounded), for benchmarks.
func NewRandom(c Config, be tensor.Backend, seed uint64) (*Model, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	table := c.Shapes()
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	keys := make([]string, 0, len(table))
	for k := range table {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	h := make(map[string][]float32, len(table))
	for _, k := range keys {
		shape := table[k]
		v := make([]float32, tensor.Numel(shape))
		std, mean := 0.02, 0.0
		switch {
		case len(shape) == 4:
			std = math.Sqrt(2 / float64(tensor.Numel(shape[1:])))
		case len(shape) == 2:
			std = 1 / math.Sqrt(float64(shape[1]))
		case strings.HasSuffix(k, "running_mean"):
			std = 0
		case strings.HasSuffix(k, "running_var"):
			std, mean = 0, 1
		case strings.HasSuffix(k, "bn3.weight"):
			std, mean = 0, 0.2
		case strings.HasSuffix(k, ".weight"):
			std, mean = 0, 1
		}
		for i := range v {
			v[i] = float32(mean + std*r.NormFloat64())
		}
		h[k] = v
	}
	return build(c, be, h), nil
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
