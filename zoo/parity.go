package zoo

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"plp/tensor"
	"plp/weights"
)

// Output is one tensor computed for a fixture manifest, under the manifest's tensor name.
type Output struct {
	Name  string
	Shape []int
	Data  []float32
}

// parityRunners compute a fixture's outputs, by manifest family. Family files add theirs in init.
var parityRunners = map[string]func(m *Manifest, be tensor.Backend) ([]Output, error){}

// RunManifest loads the manifest's weights and inputs and computes every output it lists that plp
// implements for the family, sorted by name. Families without a runner are an error.
func RunManifest(m *Manifest, be tensor.Backend) ([]Output, error) {
	run, ok := parityRunners[m.Family]
	if !ok {
		return nil, fmt.Errorf("zoo: manifest %s: family %q has no parity runner (supported: %v)", m.Name, m.Family, keys(parityRunners))
	}
	outs, err := run(m, be)
	if err != nil {
		return nil, fmt.Errorf("zoo: manifest %s: %w", m.Name, err)
	}
	sort.Slice(outs, func(i, j int) bool { return outs[i].Name < outs[j].Name })
	return outs, nil
}

// Outputs lists the manifest's io tensors that are expected outputs (not inputs), sorted.
func (m *Manifest) Outputs() []string {
	var out []string
	for name, t := range m.IO.Tensors {
		if !strings.HasPrefix(t.Meaning, "INPUT") {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// ParityResult is the comparison of one computed output with the reference.
type ParityResult struct {
	Tensor string  `json:"tensor"`
	MaxAbs float64 `json:"max_abs"`
	// MaxRel is the largest |got-want| / (atol + rtol·|want|): the error in units of the tolerance.
	MaxRel float64 `json:"max_rel"`
	Tol    float64 `json:"tol"` // atol = rtol
	OK     bool    `json:"ok"`
	Error  string  `json:"error,omitempty"`
}

// Check compares outputs with the expected tensors of the manifest's io file elementwise:
// |got - want| <= atol + rtol·|want|. A shape mismatch or a NaN fails.
func Check(m *Manifest, outs []Output) ([]ParityResult, error) {
	io, err := weights.OpenSafetensors(m.Path(m.IO.File))
	if err != nil {
		return nil, err
	}
	defer io.Close()
	atol, rtol := m.Tolerance.Atol, m.Tolerance.Rtol
	if atol == 0 && rtol == 0 {
		atol, rtol = 1e-4, 1e-4
	}
	var res []ParityResult
	for _, o := range outs {
		r := ParityResult{Tensor: o.Name, Tol: atol}
		w, err := io.Tensor(o.Name)
		if err != nil {
			r.Error = err.Error()
			res = append(res, r)
			continue
		}
		want, err := w.Float32()
		switch {
		case err != nil:
			r.Error = err.Error()
		case !slices.Equal(w.Shape, o.Shape):
			r.Error = fmt.Sprintf("shape %v, want %v", o.Shape, w.Shape)
		default:
			r.OK = true
			for i, g := range o.Data {
				d := math.Abs(float64(g) - float64(want[i]))
				lim := atol + rtol*math.Abs(float64(want[i]))
				if math.IsNaN(d) {
					r.OK, r.MaxAbs, r.MaxRel = false, math.Inf(1), math.Inf(1)
					break
				}
				r.MaxAbs = max(r.MaxAbs, d)
				r.MaxRel = max(r.MaxRel, d/lim)
				if d > lim {
					r.OK = false
				}
			}
		}
		res = append(res, r)
	}
	return res, nil
}

// readInput copies a float input of the io file to the backend.
func readInput(st weights.Store, name string, be tensor.Backend) (*tensor.Tensor, error) {
	w, err := st.Tensor(name)
	if err != nil {
		return nil, err
	}
	v, err := w.Float32()
	if err != nil {
		return nil, err
	}
	return be.FromHost(v, w.Shape...), nil
}

// readIDs reads an integer [T, L] token-id input.
func readIDs(st weights.Store, name string) ([][]int32, error) {
	w, err := st.Tensor(name)
	if err != nil {
		return nil, err
	}
	if len(w.Shape) != 2 {
		return nil, fmt.Errorf("token ids %q have shape %v, want [T, L]", name, w.Shape)
	}
	v, err := w.Int64()
	if err != nil {
		return nil, err
	}
	rows := make([][]int32, w.Shape[0])
	for i := range rows {
		rows[i] = make([]int32, w.Shape[1])
		for j := range rows[i] {
			x := v[i*w.Shape[1]+j]
			if x < math.MinInt32 || x > math.MaxInt32 {
				return nil, fmt.Errorf("token ids %q: %d out of range", name, x)
			}
			rows[i][j] = int32(x)
		}
	}
	return rows, nil
}

// outputSet collects the tensors a runner computes, keeping only those the manifest lists.
type outputSet struct {
	want map[string]IOTensor
	be   tensor.Backend
	outs []Output
}

func (s *outputSet) wants(name string) bool { _, ok := s.want[name]; return ok }

func (s *outputSet) add(name string, t *tensor.Tensor) {
	if t == nil || !s.wants(name) {
		return
	}
	s.outs = append(s.outs, Output{Name: name, Shape: slices.Clone(t.Shape()), Data: s.be.ToHost(t)})
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
