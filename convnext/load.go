package convnext

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
	return "convnext: checkpoint does not match the model: " + strings.Join(parts, "; ")
}

// New builds a model from checkpoint tensors whose keys are prefix + the keys of c.Shapes(). ws must hold
// exactly the trunk's tensors: a missing, unexpected, wrongly shaped or non-float tensor is reported in a
// *LoadError listing every offending key.
func New(c Config, be tensor.Backend, ws map[string]*weights.Tensor, prefix string) (*Model, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	table := c.Shapes()
	e := &LoadError{}
	for k, shape := range table {
		w, ok := ws[prefix+k]
		switch {
		case !ok:
			e.Missing = append(e.Missing, prefix+k)
		case !slices.Equal(w.Shape, shape):
			e.Mismatched = append(e.Mismatched, fmt.Sprintf("%s%s: shape %v, want %v", prefix, k, w.Shape, shape))
		case w.DType != weights.F32 && w.DType != weights.F16 && w.DType != weights.BF16 && w.DType != weights.F64:
			e.Mismatched = append(e.Mismatched, fmt.Sprintf("%s%s: dtype %s is not a float type", prefix, k, w.DType))
		}
	}
	for k := range ws {
		if _, ok := table[strings.TrimPrefix(k, prefix)]; !ok || !strings.HasPrefix(k, prefix) {
			e.Unexpected = append(e.Unexpected, k)
		}
	}
	if len(e.Missing)+len(e.Unexpected)+len(e.Mismatched) > 0 {
		slices.Sort(e.Missing)
		slices.Sort(e.Unexpected)
		slices.Sort(e.Mismatched)
		return nil, e
	}
	p := make(map[string]*tensor.Tensor, len(table))
	for k, shape := range table {
		v, err := ws[prefix+k].Float32()
		if err != nil {
			return nil, fmt.Errorf("convnext: %s%s: %w", prefix, k, err)
		}
		p[k] = be.FromHost(v, shape...)
	}
	return build(c, be, p), nil
}

// Load reads every tensor of st whose key starts with prefix and builds the model with New.
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

// NewRandom builds a model with seeded random weights of realistic scale (conv and Linear weights
// ~ N(0, 1/fan_in), LayerNorm weights 1, layer scale 0.1, small biases), for benchmarks.
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
	p := make(map[string]*tensor.Tensor, len(table))
	for _, k := range keys {
		shape := table[k]
		v := make([]float32, tensor.Numel(shape))
		std, mean := 0.02, 0.0
		switch {
		case strings.HasSuffix(k, "weight") && len(shape) >= 2:
			std = 1 / math.Sqrt(float64(tensor.Numel(shape[1:])))
		case strings.HasSuffix(k, "weight"):
			std, mean = 0, 1
		case strings.HasSuffix(k, "gamma"):
			std, mean = 0, 0.1
		}
		for i := range v {
			v[i] = float32(mean + std*r.NormFloat64())
		}
		p[k] = be.FromHost(v, shape...)
	}
	return build(c, be, p), nil
}
