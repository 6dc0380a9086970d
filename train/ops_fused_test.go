package train

import (
	"math"
	"math/rand/v2"
	"testing"

	"plp/tensor"
)

// plainBackend hides the CPU's fused backward passes, so that the fused tape ops take the path every
// backend has.
type plainBackend struct{ tensor.Backend }

// TestFusedOpsGenericPath checks that the fused ops give the same values and gradients through the
// backend's generic operations as through the CPU's fused backward passes.
func TestFusedOpsGenericPath(t *testing.T) {
	for _, c := range []struct {
		name   string
		shapes [][]int
		f      func(tp *Tape, in []*Var) *Var
	}{
		{"LinearAct/gelu", [][]int{{2, 7, 6}, {5, 6}, {5}}, func(tp *Tape, in []*Var) *Var { return tp.LinearAct(in[0], in[1], in[2], tensor.GELU) }},
		{"Linear", [][]int{{9, 6}, {4, 6}, {4}}, func(tp *Tape, in []*Var) *Var { return tp.Linear(in[0], in[1], in[2]) }},
		{"AttentionQKV", [][]int{{2, 6, 12}}, func(tp *Tape, in []*Var) *Var { return tp.AttentionQKV(in[0], 2, 0, tensor.AttnOpts{}) }},
		{"AttentionQKV/first_query", [][]int{{3, 5, 18}}, func(tp *Tape, in []*Var) *Var { return tp.AttentionQKV(in[0], 3, 1, tensor.AttnOpts{}) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(4, uint64(len(c.name))))
			vals := make([][]float32, len(c.shapes))
			for i, s := range c.shapes {
				vals[i] = make([]float32, tensor.Numel(s))
				for j := range vals[i] {
					vals[i][j] = float32(r.NormFloat64())
				}
			}
			run := func(be tensor.Backend) (y []float32, grads [][]float32) {
				tp := NewTape(be)
				in := make([]*Var, len(vals))
				for i, v := range vals {
					in[i] = Input(be.FromHost(v, c.shapes[i]...))
				}
				out := c.f(tp, in)
				y = be.ToHost(out.Value)
				gy := make([]float32, len(y))
				for j := range gy {
					gy[j] = float32(math.Sin(float64(j)))
				}
				tp.Backward(tp.Sum(tp.Mul(out, Const(be.FromHost(gy, out.Value.Shape()...)))))
				for _, v := range in {
					grads = append(grads, be.ToHost(v.Grad))
				}
				return y, grads
			}
			y1, g1 := run(tensor.CPU{})
			y2, g2 := run(plainBackend{tensor.CPU{}})
			within(t, "value", y1, y2, 1e-6, 1e-5)
			for i := range g1 {
				within(t, "gradient", g1[i], g2[i], 1e-6, 1e-5)
			}
		})
	}
}
