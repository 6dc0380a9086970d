package layers

import (
	"fmt"
	"slices"
	"strings"

	"plp/tensor"
	"plp/weights"
)

// LoadError lists every way a checkpoint disagrees with a model's key table.
type LoadError struct {
	Model      string   // the family, e.g. "vit"; it prefixes the message
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

// Check compares ws, keyed prefix + table key, with table. Every tensor of table must be present with
// exactly its shape and a float dtype, and ws may hold nothing else except keys (relative to prefix) for
// which tolerate returns true; tolerate may be nil. Any disagreement is returned as a *LoadError listing
// every offending key, sorted.
func Check(model string, table map[string][]int, ws map[string]*weights.Tensor, prefix string, tolerate func(key string) bool) error {
	e := &LoadError{Model: model}
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
		if _, known := table[rel]; !ok || !known && (tolerate == nil || !tolerate(rel)) {
			e.Unexpected = append(e.Unexpected, k)
		}
	}
	if len(e.Missing)+len(e.Unexpected)+len(e.Mismatched) == 0 {
		return nil
	}
	slices.Sort(e.Missing)
	slices.Sort(e.Unexpected)
	slices.Sort(e.Mismatched)
	return e
}

func isFloat(d weights.DType) bool {
	return d == weights.F32 || d == weights.F16 || d == weights.BF16 || d == weights.F64
}

// Host checks ws against table like Check and returns the float32 data of every table tensor, keyed by
// table key. Float32 tensors come back as their stored data (no copy); other dtypes are converted.
func Host(model string, table map[string][]int, ws map[string]*weights.Tensor, prefix string, tolerate func(key string) bool) (map[string][]float32, error) {
	if err := Check(model, table, ws, prefix, tolerate); err != nil {
		return nil, err
	}
	out := make(map[string][]float32, len(table))
	for k := range table {
		v, err := ws[prefix+k].Float32()
		if err != nil {
			return nil, fmt.Errorf("%s: %s%s: %w", model, prefix, k, err)
		}
		out[k] = v
	}
	return out, nil
}

// Tensors checks ws against table like Check (tolerating nothing else) and places every table tensor on
// be with Upload, keyed by table key. Shapes and dtypes are checked before any data reaches the backend.
//
// On a backend that can alias host memory the tensors alias the float32 data of ws: the store they came
// from must stay open while the tensors are in use.
func Tensors(model string, table map[string][]int, be tensor.Backend, ws map[string]*weights.Tensor, prefix string) (map[string]*tensor.Tensor, error) {
	h, err := Host(model, table, ws, prefix, nil)
	if err != nil {
		return nil, err
	}
	out := make(map[string]*tensor.Tensor, len(h))
	for k, v := range h {
		out[k] = Upload(be, v, table[k]...)
	}
	return out, nil
}

// Upload places v on be as a tensor of the given shape. A backend that can alias host memory
// (tensor.CPU) wraps v without copying, so v must stay valid and unchanged while the tensor is in use;
// any other backend copies it.
func Upload(be tensor.Backend, v []float32, shape ...int) *tensor.Tensor {
	if hw, ok := be.(hostWrapper); ok {
		return hw.Wrap(v, shape...)
	}
	return be.FromHost(v, shape...)
}

// hostWrapper is implemented by backends whose tensors can alias host memory (tensor.CPU). Loading through
// it keeps float32 checkpoint data where it is (typically a memory-mapped file) instead of copying every
// weight onto the heap, which would also double the garbage collector's heap target.
type hostWrapper interface {
	Wrap(data []float32, shape ...int) *tensor.Tensor
}

// Select reads every tensor of st whose key starts with prefix but with none of exclude, keyed as in st.
func Select(st weights.Store, prefix string, exclude ...string) (map[string]*weights.Tensor, error) {
	ws := map[string]*weights.Tensor{}
next:
	for _, k := range st.Names() {
		if !strings.HasPrefix(k, prefix) {
			continue
		}
		for _, x := range exclude {
			if strings.HasPrefix(k, x) {
				continue next
			}
		}
		w, err := st.Tensor(k)
		if err != nil {
			return nil, err
		}
		ws[k] = w
	}
	return ws, nil
}

// loadError is the type set of a family's own error type, declared as `type LoadError layers.LoadError`.
type loadError interface {
	~struct {
		Model      string
		Missing    []string
		Unexpected []string
		Mismatched []string
	}
}

// As returns err with a *LoadError given the family's own type *E (which must implement error), and any
// other error unchanged. Families keep distinct error types so that errors.As tells the towers of a
// joint checkpoint apart.
func As[E loadError, P interface {
	*E
	error
}](err error) error {
	if le, ok := err.(*LoadError); ok {
		e := E(*le)
		return P(&e)
	}
	return err
}
