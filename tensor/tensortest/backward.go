package tensortest

import (
	"fmt"
	"math"
	"math/rand/v2"

	"plp/tensor"
)

// gradTol is the tolerance of the backward cases: their references are central finite differences of the
// float64 forward references, accurate to ~1e-9, so the float32 rounding of the backend dominates.
const gradTol = 1e-4

// fdGrad returns d(Σ gy·fwd(in))/d in[which] by central differences in float64.
func fdGrad(fwd func(in [][]float64) []float64, in [][]float64, gy []float64, which int) []float64 {
	loss := func() float64 {
		var s float64
		for i, v := range fwd(in) {
			s += gy[i] * v
		}
		return s
	}
	x := in[which]
	out := make([]float64, len(x))
	for i, v := range x {
		h := 1e-6 * math.Max(1, math.Abs(v))
		x[i] = v + h
		lp := loss()
		x[i] = v - h
		lm := loss()
		x[i] = v
		out[i] = (lp - lm) / (2 * h)
	}
	return out
}

func concat64(parts ...[]float64) []float64 {
	var out []float64
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func concat32(parts ...[]float32) []float32 {
	var out []float32
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// backwardCases checks every backward operation against finite differences of its forward reference.
func backwardCases() []Case {
	var cs []Case
	for _, s := range []struct {
		rows, n int
		eps     float64
		affine  bool
	}{{6, 16, 1e-5, true}, {4, 7, 1e-6, true}, {3, 9, 1e-6, false}} {
		s := s
		cs = append(cs, Case{Name: fmt.Sprintf("LayerNormBackward/%dx%d_eps%g_affine%v", s.rows, s.n, s.eps, s.affine), Tol: gradTol,
			Run: func(be tensor.Backend, r *rand.Rand) ([]float32, []float64) {
				x, w, b, gy := randn(r, s.rows*s.n), randn(r, s.n), randn(r, s.n), randn(r, s.rows*s.n)
				for i := range x {
					x[i] = x[i]*0.5 + float32(i/s.n) // rows with different means
				}
				ones := make([]float64, s.n)
				zeros := make([]float64, s.n)
				for i := range ones {
					ones[i] = 1
				}
				fwd := func(in [][]float64) []float64 {
					if !s.affine {
						return refLayerNorm(in[0], s.n, ones, zeros, s.eps)
					}
					return refLayerNorm(in[0], s.n, in[1], in[2], s.eps)
				}
				in := [][]float64{f64(x), f64(w), f64(b)}
				var wt *tensor.Tensor
				if s.affine {
					wt = be.FromHost(w, s.n)
				}
				dx, dw, db := be.LayerNormBackward(be.FromHost(x, s.rows, s.n), wt, be.FromHost(gy, s.rows, s.n), float32(s.eps))
				want := fdGrad(fwd, in, f64(gy), 0)
				got := be.ToHost(dx)
				if s.affine {
					want = concat64(want, fdGrad(fwd, in, f64(gy), 1), fdGrad(fwd, in, f64(gy), 2))
					got = concat32(got, be.ToHost(dw), be.ToHost(db))
				} else if dw != nil || db != nil {
					return nil, want // a length mismatch fails the case
				}
				return got, want
			}})
	}
	for _, f := range []struct {
		name string
		act  tensor.Act
	}{{"GELU", tensor.GELU}, {"QuickGELU", tensor.QuickGELU}, {"ReLU", tensor.ReLU}, {"Sigmoid", tensor.Sigmoid}, {"Tanh", tensor.Tanh}, {"Exp", tensor.Exp}} {
		f := f
		cs = append(cs, Case{Name: "ActivationBackward/" + f.name, Tol: gradTol, Run: func(be tensor.Backend, r *rand.Rand) ([]float32, []float64) {
			x, gy := randn(r, 257), randn(r, 257)
			for i := range x {
				x[i] *= 3
				if f.act == tensor.ReLU && math.Abs(float64(x[i])) < 1e-3 {
					x[i] = 0.5 // keep away from the kink
				}
			}
			fwd := func(in [][]float64) []float64 {
				out := make([]float64, len(in[0]))
				for i, v := range in[0] {
					out[i] = refAct(f.act, v)
				}
				return out
			}
			want := fdGrad(fwd, [][]float64{f64(x)}, f64(gy), 0)
			return be.ToHost(be.ActivationBackward(be.FromHost(x, 257), be.FromHost(gy, 257), f.act)), want
		}})
	}
	cs = append(cs, Case{Name: "SoftmaxBackward", Tol: gradTol, Run: func(be tensor.Backend, r *rand.Rand) ([]float32, []float64) {
		rows, n := 5, 13
		x, gy := randn(r, rows*n), randn(r, rows*n)
		fwd := func(in [][]float64) []float64 {
			out := append([]float64(nil), in[0]...)
			for i := 0; i < rows; i++ {
				refSoftmax(out[i*n : (i+1)*n])
			}
			return out
		}
		want := fdGrad(fwd, [][]float64{f64(x)}, f64(gy), 0)
		y := be.Softmax(be.FromHost(x, rows, n))
		return be.ToHost(be.SoftmaxBackward(y, be.FromHost(gy, rows, n))), want
	}})
	cs = append(cs, Case{Name: "L2NormalizeBackward", Tol: gradTol, Run: func(be tensor.Backend, r *rand.Rand) ([]float32, []float64) {
		rows, n := 4, 10
		x, gy := randn(r, rows*n), randn(r, rows*n)
		fwd := func(in [][]float64) []float64 {
			out := make([]float64, len(in[0]))
			for i := 0; i < rows; i++ {
				var ss float64
				for _, v := range in[0][i*n : (i+1)*n] {
					ss += v * v
				}
				for j := 0; j < n; j++ {
					out[i*n+j] = in[0][i*n+j] / math.Sqrt(ss)
				}
			}
			return out
		}
		want := fdGrad(fwd, [][]float64{f64(x)}, f64(gy), 0)
		return be.ToHost(be.L2NormalizeBackward(be.FromHost(x, rows, n), be.FromHost(gy, rows, n), 1e-12)), want
	}})
	for _, s := range []struct {
		B, nq, nk, H, hd int
		causal, bias     bool
	}{{2, 5, 5, 2, 4, false, false}, {1, 6, 6, 2, 3, true, false}, {1, 4, 7, 1, 5, false, true}, {1, 70, 70, 1, 3, true, false}} {
		s := s
		cs = append(cs, Case{Name: fmt.Sprintf("AttentionBackward/B%d_q%d_k%d_H%d_hd%d_causal%v_bias%v", s.B, s.nq, s.nk, s.H, s.hd, s.causal, s.bias), Tol: gradTol,
			Run: func(be tensor.Backend, r *rand.Rand) ([]float32, []float64) {
				D := s.H * s.hd
				q, k, v := randn(r, s.B*s.nq*D), randn(r, s.B*s.nk*D), randn(r, s.B*s.nk*D)
				gy := randn(r, s.B*s.nq*D)
				opt := tensor.AttnOpts{Causal: s.causal}
				var bref []float64
				if s.bias {
					bias := randn(r, s.H*s.nq*s.nk)
					opt.Bias, bref = be.FromHost(bias, s.H, s.nq, s.nk), f64(bias)
				}
				fwd := func(in [][]float64) []float64 {
					return refAttention(in[0], in[1], in[2], s.B, s.nq, s.nk, s.H, s.hd, s.causal, bref)
				}
				in := [][]float64{f64(q), f64(k), f64(v)}
				want := concat64(fdGrad(fwd, in, f64(gy), 0), fdGrad(fwd, in, f64(gy), 1), fdGrad(fwd, in, f64(gy), 2))
				dq, dk, dv := be.AttentionBackward(be.FromHost(q, s.B, s.nq, D), be.FromHost(k, s.B, s.nk, D), be.FromHost(v, s.B, s.nk, D),
					be.FromHost(gy, s.B, s.nq, D), s.H, opt)
				return concat32(be.ToHost(dq), be.ToHost(dk), be.ToHost(dv)), want
			}})
	}
	for _, s := range []struct {
		B, cin, H, W, cout, kh, kw int
		p                          tensor.Conv
	}{
		{2, 3, 9, 9, 4, 3, 3, tensor.Conv{StrideH: 2, StrideW: 2, PadH: 1, PadW: 1, Groups: 1}},
		{2, 3, 8, 8, 5, 4, 4, tensor.Conv{StrideH: 4, StrideW: 4, Groups: 1}},
		{1, 6, 5, 4, 4, 1, 1, tensor.Conv{StrideH: 1, StrideW: 1, Groups: 1}},
		{2, 4, 6, 5, 4, 7, 7, tensor.Conv{StrideH: 1, StrideW: 1, PadH: 3, PadW: 3, Groups: 4}},
		{1, 4, 7, 6, 4, 3, 3, tensor.Conv{StrideH: 2, StrideW: 1, PadH: 1, PadW: 1, Groups: 4}},
		{1, 6, 6, 7, 4, 3, 2, tensor.Conv{StrideH: 1, StrideW: 2, PadH: 1, PadW: 0, Groups: 2}},
	} {
		s := s
		cs = append(cs, Case{Name: fmt.Sprintf("Conv2DBackward/%dx%dx%dx%d_w%dx%dx%dx%d_s%dx%d_p%d_g%d", s.B, s.cin, s.H, s.W, s.cout, s.cin/s.p.Groups, s.kh, s.kw, s.p.StrideH, s.p.StrideW, s.p.PadH, s.p.Groups), Tol: gradTol,
			Run: func(be tensor.Backend, r *rand.Rand) ([]float32, []float64) {
				x, w, b := randn(r, s.B*s.cin*s.H*s.W), randn(r, s.cout*(s.cin/s.p.Groups)*s.kh*s.kw), randn(r, s.cout)
				fwd := func(in [][]float64) []float64 {
					out, _, _ := refConv(in[0], in[1], in[2], s.B, s.cin, s.H, s.W, s.cout, s.kh, s.kw, s.p)
					return out
				}
				in := [][]float64{f64(x), f64(w), f64(b)}
				y := be.Conv2D(be.FromHost(x, s.B, s.cin, s.H, s.W), be.FromHost(w, s.cout, s.cin/s.p.Groups, s.kh, s.kw), nil, s.p)
				gy := randn(r, y.Numel())
				want := concat64(fdGrad(fwd, in, f64(gy), 0), fdGrad(fwd, in, f64(gy), 1), fdGrad(fwd, in, f64(gy), 2))
				dx, dw, db := be.Conv2DBackward(be.FromHost(x, s.B, s.cin, s.H, s.W), be.FromHost(w, s.cout, s.cin/s.p.Groups, s.kh, s.kw),
					be.FromHost(gy, y.Shape()...), s.p)
				return concat32(be.ToHost(dx), be.ToHost(dw), be.ToHost(db)), want
			}})
	}
	for _, p := range []tensor.Pool{{Kind: tensor.AvgPool, KH: 2, KW: 2, StrideH: 2, StrideW: 2}, {Kind: tensor.MaxPool, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}, {Kind: tensor.AvgPool, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}} {
		p := p
		cs = append(cs, Case{Name: fmt.Sprintf("Pool2DBackward/kind%d_k%d_s%d_p%d", p.Kind, p.KH, p.StrideH, p.PadH), Tol: gradTol, Run: func(be tensor.Backend, r *rand.Rand) ([]float32, []float64) {
			B, C, H, W := 2, 2, 7, 6
			x := randn(r, B*C*H*W)
			fwd := func(in [][]float64) []float64 {
				return refPool(in[0], B, C, H, W, p)
			}
			y := be.Pool2D(be.FromHost(x, B, C, H, W), p)
			gy := randn(r, y.Numel())
			want := fdGrad(fwd, [][]float64{f64(x)}, f64(gy), 0)
			return be.ToHost(be.Pool2DBackward(be.FromHost(x, B, C, H, W), be.FromHost(gy, y.Shape()...), p)), want
		}})
	}
	cs = append(cs, Case{Name: "ScatterAddRows", Tol: 1e-6, Run: func(be tensor.Backend, r *rand.Rand) ([]float32, []float64) {
		idx := []int{3, 0, 3, 5, 1, 3}
		src := randn(r, len(idx)*4)
		want := make([]float64, 7*4)
		for i, row := range idx {
			for j := 0; j < 4; j++ {
				want[row*4+j] += float64(src[i*4+j])
			}
		}
		return be.ToHost(be.ScatterAddRows(be.FromHost(src, len(idx), 2, 2), idx, 7)), want
	}})
	for _, s := range []struct{ x, to []int }{{[]int{3, 4, 5}, []int{5}}, {[]int{3, 4, 5}, []int{4, 1}}, {[]int{2, 3, 4}, []int{1, 3, 4}}, {[]int{2, 3, 4}, []int{2, 1, 4}}, {[]int{6, 2}, []int{1}}, {[]int{2, 3}, []int{2, 3}}} {
		s := s
		cs = append(cs, Case{Name: fmt.Sprintf("SumTo/%v->%v", s.x, s.to), Tol: 1e-6, Run: func(be tensor.Backend, r *rand.Rand) ([]float32, []float64) {
			x := randn(r, tensor.Numel(s.x))
			// The reference is the adjoint of broadcasting: sum over every x element that reads a given b element.
			want := make([]float64, tensor.Numel(s.to))
			idx := make([]int, len(s.x))
			for i, v := range x {
				rem := i
				for d := len(s.x) - 1; d >= 0; d-- {
					idx[d] = rem % s.x[d]
					rem /= s.x[d]
				}
				off := 0
				for j := range s.to {
					d := j + len(s.x) - len(s.to)
					off *= s.to[j]
					if s.to[j] != 1 {
						off += idx[d]
					}
				}
				want[off] += float64(v)
			}
			return be.ToHost(be.SumTo(be.FromHost(x, s.x...), s.to...)), want
		}})
	}
	return cs
}

// refPool is Pool2D in float64.
func refPool(x []float64, B, C, H, W int, p tensor.Pool) []float64 {
	ho, wo := (H+2*p.PadH-p.KH)/p.StrideH+1, (W+2*p.PadW-p.KW)/p.StrideW+1
	out := make([]float64, B*C*ho*wo)
	for bc := 0; bc < B*C; bc++ {
		for oy := 0; oy < ho; oy++ {
			for ox := 0; ox < wo; ox++ {
				acc := 0.0
				if p.Kind == tensor.MaxPool {
					acc = math.Inf(-1)
				}
				for ky := 0; ky < p.KH; ky++ {
					for kx := 0; kx < p.KW; kx++ {
						iy, ix := oy*p.StrideH-p.PadH+ky, ox*p.StrideW-p.PadW+kx
						if iy < 0 || iy >= H || ix < 0 || ix >= W {
							continue
						}
						if p.Kind == tensor.MaxPool {
							acc = math.Max(acc, x[(bc*H+iy)*W+ix])
						} else {
							acc += x[(bc*H+iy)*W+ix]
						}
					}
				}
				if p.Kind == tensor.AvgPool {
					acc /= float64(p.KH * p.KW)
				}
				out[(bc*ho+oy)*wo+ox] = acc
			}
		}
	}
	return out
}
