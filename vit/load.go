package vit

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
	Model      string
	Missing    []string // keys the model needs that the checkpoint lacks
	Unexpected []string // checkpoint keys the model does not read
	Mismatched []string // "key: why", for wrong shapes or non-float dtypes
}

func (e *LoadError) Error() string {
	var parts []string
	add := func(what string, keys []string) {
		if len(keys) == 0 {
			return
		}
		const show = 20
		list := strings.Join(keys[:min(len(keys), show)], ", ")
		if len(keys) > show {
			list += fmt.Sprintf(", … (%d more)", len(keys)-show)
		}
		parts = append(parts, fmt.Sprintf("%d %s: %s", len(keys), what, list))
	}
	add("missing keys", e.Missing)
	add("unexpected keys", e.Unexpected)
	add("mismatched tensors", e.Mismatched)
	return fmt.Sprintf("%s: checkpoint does not match the model: %s", e.Model, strings.Join(parts, "; "))
}

// checkTensors validates ws (keys prefix+table key) against table and converts every tensor to a backend
// tensor. Shapes and dtypes are checked before any data reaches the backend.
func checkTensors(model string, table map[string][]int, be tensor.Backend, ws map[string]*weights.Tensor, prefix string) (map[string]*tensor.Tensor, error) {
	e := &LoadError{Model: model}
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
	out := make(map[string]*tensor.Tensor, len(table))
	for k, shape := range table {
		v, err := ws[prefix+k].Float32()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", model, err)
		}
		if hw, ok := be.(hostWrapper); ok {
			out[k] = hw.Wrap(v, shape...)
		} else {
			out[k] = be.FromHost(v, shape...)
		}
	}
	return out, nil
}

// hostWrapper is implemented by backends whose tensors can alias host memory (tensor.CPU). Loading through
// it keeps float32 checkpoint data where it is (typically a memory-mapped file) instead of copying every
// weight onto the heap, which would also double the garbage collector's heap target.
type hostWrapper interface {
	Wrap(data []float32, shape ...int) *tensor.Tensor
}

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
	p, err := checkTensors("vit", c.Shapes(), be, ws, prefix)
	if err != nil {
		return nil, err
	}
	return build(c, be, p), nil
}

// Load reads every tensor of st whose key starts with prefix (e.g. "visual.") and builds the model with New.
func Load(c Config, be tensor.Backend, st weights.Store, prefix string) (*Model, error) {
	ws := map[string]*weights.Tensor{}
	for _, k := range st.Names() {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		w, err := st.Tensor(k)
		if err != nil {
			return nil, err
		}
		ws[k] = w
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
	return build(c, be, randomTensors(c.Shapes(), be, seed)), nil
}

// randomTensors fills a key table deterministically: keys are visited in sorted order.
func randomTensors(table map[string][]int, be tensor.Backend, seed uint64) map[string]*tensor.Tensor {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	keys := make([]string, 0, len(table))
	for k := range table {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make(map[string]*tensor.Tensor, len(table))
	// A backend that aliases host memory gets the weights in one off-heap block, as a memory-mapped
	// checkpoint would be; others get them through one scratch buffer (FromHost copies), so building costs
	// no transient memory beyond the largest tensor.
	hw, alias := be.(hostWrapper)
	var block, scratch []float32
	if alias {
		total := 0
		for _, shape := range table {
			total += tensor.Numel(shape)
		}
		block = offHeap(total)
	}
	for _, k := range keys {
		shape := table[k]
		n := tensor.Numel(shape)
		var v []float32
		if alias {
			v, block = block[:n:n], block[n:]
		} else {
			if cap(scratch) < n {
				scratch = make([]float32, n)
			}
			v = scratch[:n]
		}
		std, mean := 0.02, 0.0
		switch {
		case strings.HasSuffix(k, "weight") && len(shape) >= 2:
			std = 1 / math.Sqrt(float64(tensor.Numel(shape[1:])))
		case strings.HasSuffix(k, "weight"): // LayerNorm scale
			std, mean = 0, 1
		case k == "proj":
			std = 1 / math.Sqrt(float64(shape[0]))
		}
		for i := range v {
			v[i] = float32(mean + std*r.NormFloat64())
		}
		if alias {
			out[k] = hw.Wrap(v, shape...)
		} else {
			out[k] = be.FromHost(v, shape...)
		}
	}
	return out
}
