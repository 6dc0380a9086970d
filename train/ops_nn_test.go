package train

import (
	"math"
	"math/rand/v2"
	"testing"

	"plp/tensor"
)

// TestOpGradients checks the tape ops the fixtures do not cover by central differences of
// L = Σ gy·op(inputs), evaluated with the float32 backend in float64 sums. Linear ops are exact up to
// rounding at any step; the others use a small step and a looser tolerance.
func TestOpGradients(t *testing.T) {
	be := tensor.CPU{}
	type op struct {
		name   string
		shapes [][]int
		linear bool
		f      func(tp *Tape, in []*Var) *Var
	}
	ops := []op{
		{"Add/broadcast", [][]int{{2, 3, 4}, {3, 1}}, true, func(tp *Tape, in []*Var) *Var { return tp.Add(in[0], in[1]) }},
		{"Sub/broadcast", [][]int{{2, 3, 4}, {4}}, true, func(tp *Tape, in []*Var) *Var { return tp.Sub(in[0], in[1]) }},
		{"Mul/broadcast", [][]int{{2, 3, 4}, {1, 3, 4}}, false, func(tp *Tape, in []*Var) *Var { return tp.Mul(in[0], in[1]) }},
		{"Scale", [][]int{{5, 3}}, true, func(tp *Tape, in []*Var) *Var { return tp.Scale(in[0], -2.5, 1) }},
		{"Permute", [][]int{{2, 3, 4, 5}}, true, func(tp *Tape, in []*Var) *Var { return tp.Permute(in[0], 0, 2, 3, 1) }},
		{"Concat", [][]int{{2, 1, 3}, {2, 4, 3}}, true, func(tp *Tape, in []*Var) *Var { return tp.Concat(1, in[0], in[1]) }},
		{"Slice/middle", [][]int{{3, 7, 2}}, true, func(tp *Tape, in []*Var) *Var { return tp.Slice(in[0], 1, 2, 5) }},
		{"Slice/last_axis", [][]int{{3, 6}}, true, func(tp *Tape, in []*Var) *Var { return tp.Slice(in[0], -1, 0, 2) }},
		{"Gather", [][]int{{5, 3}}, true, func(tp *Tape, in []*Var) *Var { return tp.Gather(in[0], []int{4, 0, 4, 2}) }},
		{"TakeRows", [][]int{{3, 4, 2}}, true, func(tp *Tape, in []*Var) *Var { return tp.TakeRows(in[0], []int{0, 3, 1}) }},
		{"Reduce/mean", [][]int{{3, 4, 5}}, true, func(tp *Tape, in []*Var) *Var { return tp.Reduce(in[0], 1, tensor.Mean) }},
		{"Reduce/sum", [][]int{{3, 4, 5}}, true, func(tp *Tape, in []*Var) *Var { return tp.Reduce(in[0], -1, tensor.Sum) }},
		{"MatMul/batched", [][]int{{2, 3, 4}, {2, 4, 5}}, false, func(tp *Tape, in []*Var) *Var { return tp.MatMul(in[0], in[1], false, false) }},
		{"MatMul/transposed", [][]int{{2, 4, 3}, {2, 5, 4}}, false, func(tp *Tape, in []*Var) *Var { return tp.MatMul(in[0], in[1], true, true) }},
		{"MatMul/shared", [][]int{{2, 3, 4}, {4, 5}}, false, func(tp *Tape, in []*Var) *Var { return tp.MatMul(in[0], in[1], false, false) }},
		{"MatMul/shared_transA", [][]int{{2, 4, 3}, {5, 4}}, false, func(tp *Tape, in []*Var) *Var { return tp.MatMul(in[0], in[1], true, true) }},
		{"Softmax", [][]int{{3, 6}}, false, func(tp *Tape, in []*Var) *Var { return tp.Softmax(in[0]) }},
		{"L2Normalize", [][]int{{3, 6}}, false, func(tp *Tape, in []*Var) *Var { return tp.L2Normalize(in[0], 1e-12) }},
		{"CosineSimilarity", [][]int{{3, 6}, {3, 6}}, false, func(tp *Tape, in []*Var) *Var { return tp.CosineSimilarity(in[0], in[1]) }},
		{"Pool2D/max", [][]int{{1, 2, 5, 5}}, false, func(tp *Tape, in []*Var) *Var {
			return tp.Pool2D(in[0], tensor.Pool{Kind: tensor.MaxPool, KH: 2, KW: 2, StrideH: 2, StrideW: 2})
		}},
		{"LayerNorm/no_affine", [][]int{{4, 8}}, false, func(tp *Tape, in []*Var) *Var { return tp.LayerNorm(in[0], nil, nil, 1e-5) }},
		{"LinearResidual", [][]int{{2, 3, 4}, {5, 4}, {5}, {2, 3, 5}}, false, func(tp *Tape, in []*Var) *Var {
			return tp.LinearResidual(in[0], in[1], in[2], in[3])
		}},
		{"LinearAct/gelu", [][]int{{2, 3, 4}, {5, 4}, {5}}, false, func(tp *Tape, in []*Var) *Var {
			return tp.LinearAct(in[0], in[1], in[2], tensor.GELU)
		}},
		{"LinearAct/quickgelu", [][]int{{3, 4}, {5, 4}, {5}}, false, func(tp *Tape, in []*Var) *Var {
			return tp.LinearAct(in[0], in[1], in[2], tensor.QuickGELU)
		}},
		{"AttentionQKV", [][]int{{2, 5, 12}}, false, func(tp *Tape, in []*Var) *Var {
			return tp.AttentionQKV(in[0], 2, 0, tensor.AttnOpts{})
		}},
		{"AttentionQKV/first_queries", [][]int{{2, 5, 12}}, false, func(tp *Tape, in []*Var) *Var {
			return tp.AttentionQKV(in[0], 2, 2, tensor.AttnOpts{})
		}},
		{"Smoothness", [][]int{{2, 3, 4, 5}}, false, func(tp *Tape, in []*Var) *Var { return tp.Smoothness(in[0]) }},
	}
	for _, o := range ops {
		t.Run(o.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(9, uint64(len(o.name))))
			vals := make([][]float32, len(o.shapes))
			for i, s := range o.shapes {
				vals[i] = make([]float32, tensor.Numel(s))
				for j := range vals[i] {
					vals[i][j] = float32(r.NormFloat64())
				}
			}
			build := func() (*Tape, []*Var, *Var) {
				tp := NewTape(be)
				in := make([]*Var, len(vals))
				for i, v := range vals {
					in[i] = Input(be.FromHost(v, o.shapes[i]...))
				}
				return tp, in, o.f(tp, in)
			}
			_, _, y0 := build()
			gy := make([]float32, y0.Value.Numel())
			for j := range gy {
				gy[j] = float32(r.NormFloat64())
			}
			lossAt := func() float64 {
				_, _, y := build()
				var s float64
				for j, v := range be.ToHost(y.Value) {
					s += float64(gy[j]) * float64(v)
				}
				return s
			}
			tp, in, y := build()
			tp.Backward(tp.Sum(tp.Mul(y, Const(be.FromHost(gy, y.Value.Shape()...)))))
			h, tol := 1e-2, 1e-4
			if !o.linear {
				h, tol = 1e-2, 3e-3
			}
			for i := range vals {
				if in[i].Grad == nil {
					t.Fatalf("input %d: no gradient", i)
				}
				got := be.ToHost(in[i].Grad)
				var maxErr, maxRef float64
				for j := range vals[i] {
					v := vals[i][j]
					vals[i][j] = v + float32(h)
					lp := lossAt()
					vals[i][j] = v - float32(h)
					lm := lossAt()
					vals[i][j] = v
					want := (lp - lm) / (2 * h)
					maxErr = math.Max(maxErr, math.Abs(float64(got[j])-want))
					maxRef = math.Max(maxRef, math.Abs(want))
				}
				if e := maxErr / math.Max(maxRef, 1e-12); !(e <= tol) {
					t.Errorf("input %d: error %.3g > %g", i, e, tol)
				}
			}
		})
	}
}
