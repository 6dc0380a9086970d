// Package tensortest is the backend conformance suite: one table of operation tests, with naive float64
// references written from the operations' definitions, that every tensor.Backend (CPU, CUDA) must pass.
package tensortest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"plp/tensor"
)

// Case is one conformance check: Run computes the op on be and returns got and the float64 reference.
type Case struct {
	Name string
	Tol  float64 // |got-want| <= Tol*(1+|want|)
	Run  func(be tensor.Backend, r *rand.Rand) (got []float32, want []float64)
}

// Run executes every case on be.
func Run(t *testing.T, be tensor.Backend) {
	for _, c := range Cases() {
		t.Run(c.Name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, uint64(len(c.Name))))
			got, want := c.Run(be, r)
			if len(got) != len(want) {
				t.Fatalf("got %d values, want %d", len(got), len(want))
			}
			worst, at := 0.0, -1
			for i := range got {
				d := math.Abs(float64(got[i])-want[i]) / (1 + math.Abs(want[i]))
				if d > worst || math.IsNaN(d) {
					worst, at = d, i
				}
			}
			if worst > c.Tol || math.IsNaN(worst) {
				t.Fatalf("max error %.3g at %d (got %v want %v), tolerance %.3g", worst, at, got[at], want[at], c.Tol)
			}
		})
	}
}

// sumTol bounds float32 rounding in a k-term dot product of unit-variance values: errors grow like √k.
func sumTol(k int) float64 { return 1e-6*math.Sqrt(float64(k)) + 5e-6 }

func randn(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

func f64(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// refMatMul computes a [m,k] (or [k,m] if ta) times b.
func refMatMul(a, b []float64, m, n, k int, ta, tb bool) []float64 {
	out := make([]float64, m*n)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				av, bv := a[i*k+p], b[p*n+j]
				if ta {
					av = a[p*m+i]
				}
				if tb {
					bv = b[j*k+p]
				}
				s += av * bv
			}
			out[i*n+j] = s
		}
	}
	return out
}

func refAct(f tensor.Act, x float64) float64 {
	switch f {
	case tensor.GELU:
		return 0.5 * x * (1 + math.Erf(x/math.Sqrt2))
	case tensor.QuickGELU:
		return x / (1 + math.Exp(-1.702*x))
	case tensor.ReLU:
		return math.Max(0, x)
	case tensor.Sigmoid:
		return 1 / (1 + math.Exp(-x))
	case tensor.Tanh:
		return math.Tanh(x)
	case tensor.Exp:
		return math.Exp(x)
	case tensor.Identity:
		return x
	}
	panic("unknown act")
}

func refSoftmax(row []float64) {
	m := math.Inf(-1)
	for _, v := range row {
		m = math.Max(m, v)
	}
	var s float64
	for i, v := range row {
		row[i] = math.Exp(v - m)
		s += row[i]
	}
	for i := range row {
		row[i] /= s
	}
}

func refLayerNorm(x []float64, n int, w, b []float64, eps float64) []float64 {
	out := make([]float64, len(x))
	for r := 0; r < len(x)/n; r++ {
		row := x[r*n : (r+1)*n]
		var m, v float64
		for _, e := range row {
			m += e
		}
		m /= float64(n)
		for _, e := range row {
			v += (e - m) * (e - m)
		}
		v /= float64(n)
		for i, e := range row {
			out[r*n+i] = (e-m)/math.Sqrt(v+eps)*w[i] + b[i]
		}
	}
	return out
}

// refAttention: q [B,nq,H*hd], k/v [B,nk,H*hd], bias [H,nq,nk] or nil.
func refAttention(q, k, v []float64, B, nq, nk, H, hd int, causal bool, bias []float64) []float64 {
	D := H * hd
	out := make([]float64, B*nq*D)
	for b := 0; b < B; b++ {
		for h := 0; h < H; h++ {
			for i := 0; i < nq; i++ {
				s := make([]float64, nk)
				for j := 0; j < nk; j++ {
					var d float64
					for e := 0; e < hd; e++ {
						d += q[(b*nq+i)*D+h*hd+e] * k[(b*nk+j)*D+h*hd+e]
					}
					s[j] = d / math.Sqrt(float64(hd))
					if bias != nil {
						s[j] += bias[(h*nq+i)*nk+j]
					}
					if causal && j > i {
						s[j] = math.Inf(-1)
					}
				}
				refSoftmax(s)
				for e := 0; e < hd; e++ {
					var acc float64
					for j := 0; j < nk; j++ {
						acc += s[j] * v[(b*nk+j)*D+h*hd+e]
					}
					out[(b*nq+i)*D+h*hd+e] = acc
				}
			}
		}
	}
	return out
}

func refConv(x, w, bias []float64, B, cin, H, W, cout, kh, kw int, p tensor.Conv) ([]float64, int, int) {
	ho := (H+2*p.PadH-kh)/p.StrideH + 1
	wo := (W+2*p.PadW-kw)/p.StrideW + 1
	g := p.Groups
	cpg, copg := cin/g, cout/g
	out := make([]float64, B*cout*ho*wo)
	for b := 0; b < B; b++ {
		for o := 0; o < cout; o++ {
			gi := o / copg
			for oy := 0; oy < ho; oy++ {
				for ox := 0; ox < wo; ox++ {
					s := 0.0
					if bias != nil {
						s = bias[o]
					}
					for ci := 0; ci < cpg; ci++ {
						for ky := 0; ky < kh; ky++ {
							for kx := 0; kx < kw; kx++ {
								iy, ix := oy*p.StrideH-p.PadH+ky, ox*p.StrideW-p.PadW+kx
								if iy < 0 || iy >= H || ix < 0 || ix >= W {
									continue
								}
								s += w[((o*cpg+ci)*kh+ky)*kw+kx] * x[((b*cin+gi*cpg+ci)*H+iy)*W+ix]
							}
						}
					}
					out[((b*cout+o)*ho+oy)*wo+ox] = s
				}
			}
		}
	}
	return out, ho, wo
}

// Cases returns the conformance table.
func Cases() []Case {
	var cs []Case
	for _, s := range []struct{ b, m, k, n int }{{1, 1, 1, 1}, {1, 7, 17, 63}, {3, 197, 64, 33}, {2, 5, 257, 9}, {1, 63, 1000, 17}} {
		for _, tr := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
			s, tr := s, tr
			for _, shared := range []bool{false, true} {
				shared := shared
				cs = append(cs, Case{
					Name: fmt.Sprintf("MatMul/b%d_m%d_k%d_n%d_ta%v_tb%v_shared%v", s.b, s.m, s.k, s.n, tr[0], tr[1], shared),
					Tol:  sumTol(s.k),
					Run: func(be tensor.Backend, r *rand.Rand) ([]float32, []float64) {
						a := randn(r, s.b*s.m*s.k)
						nb := s.b
						if shared {
							nb = 1
						}
						bm := randn(r, nb*s.k*s.n)
						ashape := []int{s.b, s.m, s.k}
						if tr[0] {
							ashape = []int{s.b, s.k, s.m}
						}
						bshape := []int{nb, s.k, s.n}
						if tr[1] {
							bshape = []int{nb, s.n, s.k}
						}
						if shared {
							bshape = bshape[1:]
						}
						got := be.ToHost(be.MatMul(be.FromHost(a, ashape...), be.FromHost(bm, bshape...), tr[0], tr[1]))
						var want []float64
						for i := 0; i < s.b; i++ {
							bo := i * s.k * s.n
							if shared {
								bo = 0
							}
							want = append(want, refMatMul(f64(a[i*s.m*s.k:(i+1)*s.m*s.k]), f64(bm[bo:bo+s.k*s.n]), s.m, s.n, s.k, tr[0], tr[1])...)
						}
						return got, want
					},
				})
			}
		}
	}
	for _, s := range []struct{ rows, in, out int }{{1, 1, 1}, {7, 17, 63}, {197, 64, 257}, {3, 1000, 5}} {
		for _, withBias := range []bool{true, false} {
			s, withBias := s, withBias
			cs = append(cs, Case{
				Name: fmt.Sprintf("Linear/%dx%d->%d_bias%v", s.rows, s.in, s.out, withBias),
				Tol:  sumTol(s.in),
				Run: func(be tensor.Backend, r *rand.Rand) ([]float32, []float64) {
					x, w, b := randn(r, s.rows*s.in), randn(r, s.out*s.in), randn(r, s.out)
					var bt *tensor.Tensor
					if withBias {
						bt = be.FromHost(b, s.out)
					}
					got := be.ToHost(be.Linear(be.FromHost(x, 1, s.rows, s.in), be.FromHost(w, s.out, s.in), bt))
					want := refMatMul(f64(x), f64(w), s.rows, s.out, s.in, false, true)
					if withBias {
						for i := range want {
							want[i] += float64(b[i%s.out])
						}
					}
					return got, want
				},
			})
		}
	}
	cs = append(cs, epilogueCases()...)
	type bin struct {
		name string
		f    func(be tensor.Backend, a, b *tensor.Tensor) *tensor.Tensor
		ref  func(x, y float64) float64
	}
	bins := []bin{
		{"Add", tensor.Backend.Add, func(x, y float64) float64 { return x + y }},
		{"Sub", tensor.Backend.Sub, func(x, y float64) float64 { return x - y }},
		{"Mul", tensor.Backend.Mul, func(x, y float64) float64 { return x * y }},
	}
	for _, op := range bins {
		for _, sh := range []struct{ a, b []int }{{[]int{3, 5, 7}, []int{3, 5, 7}}, {[]int{2, 9, 17}, []int{17}}, {[]int{2, 6, 4, 5}, []int{6, 1, 1}}, {[]int{4, 3, 1000}, []int{3, 1}}, {[]int{1}, []int{1}}} {
			op, sh := op, sh
			cs = append(cs, Case{
				Name: fmt.Sprintf("%s/%v+%v", op.name, sh.a, sh.b),
				Tol:  1e-6,
				Run: func(be tensor.Backend, r *rand.Rand) ([]float32, []float64) {
					a, b := randn(r, tensor.Numel(sh.a)), randn(r, tensor.Numel(sh.b))
					got := be.ToHost(op.f(be, be.FromHost(a, sh.a...), be.FromHost(b, sh.b...)))
					want := make([]float64, len(a))
					// Broadcast by aligning trailing dims.
					for i := range a {
						rem, bi, stride := i, 0, 1
						for d := len(sh.a) - 1; d >= 0; d-- {
							ix := rem % sh.a[d]
							rem /= sh.a[d]
							j := d - (len(sh.a) - len(sh.b))
							if j >= 0 {
								if sh.b[j] != 1 {
									bi += ix * stride
								}
								stride *= sh.b[j]
							}
						}
						want[i] = op.ref(float64(a[i]), float64(b[bi]))
					}
					return got, want
				},
			})
		}
	}
	cs = append(cs, Case{Name: "Scale", Tol: 1e-6, Run: func(be tensor.Backend, r *rand.Rand) ([]float32, []float64) {
		a := randn(r, 1001)
		want := make([]float64, len(a))
		for i, v := range a {
			want[i] = 2.5*float64(v) - 0.75
		}
		return be.ToHost(be.Scale(be.FromHost(a, 7, 143), 2.5, -0.75)), want
	}})
	for _, f := range []struct {
		name string
		act  tensor.Act
	}{{"GELU", tensor.GELU}, {"QuickGELU", tensor.QuickGELU}, {"ReLU", tensor.ReLU}, {"Sigmoid", tensor.Sigmoid}, {"Tanh", tensor.Tanh}, {"Exp", tensor.Exp}} {
		f := f
		cs = append(cs, Case{Name: "Activation/" + f.name, Tol: 2e-6, Run: func(be tensor.Backend, r *rand.Rand) ([]float32, []float64) {
			a := randn(r, 4099)
			for i := range a {
				a[i] *= 4 // reach the tails
			}
			a[0], a[1], a[2] = 0, -9, 9
			want := make([]float64, len(a))
			for i, v := range a {
				want[i] = refAct(f.act, float64(v))
			}
			return be.ToHost(be.Activation(be.FromHost(a, 4099), f.act)), want
		}})
	}
	for _, n := range []int{1, 7, 64, 197, 1000} {
		n := n
		cs = append(cs, Case{Name: fmt.Sprintf("LayerNorm/%d", n), Tol: 2e-5, Run: func(be tensor.Backend, r *rand.Rand) ([]float32, []float64) {
			x, w, b := randn(r, 5*n), randn(r, n), randn(r, n)
			for i := range x {
				x[i] = x[i]*0.02 + 3 // small spread on a large offset: tests the variance's precision
			}
			got := be.ToHost(be.LayerNorm(be.FromHost(x, 5, n), be.FromHost(w, n), be.FromHost(b, n), 1e-5))
			return got, refLayerNorm(f64(x), n, f64(w), f64(b), 1e-5)
		}})
		cs = append(cs, Case{Name: fmt.Sprintf("Softmax/%d", n), Tol: 1e-6, Run: func(be tensor.Backend, r *rand.Rand) ([]float32, []float64) {
			x := randn(r, 3*n)
			for i := range x {
				x[i] *= 10
			}
			want := f64(x)
			for i := 0; i < 3; i++ {
				refSoftmax(want[i*n : (i+1)*n])
			}
			return be.ToHost(be.Softmax(be.FromHost(x, 3, n))), want
		}})
		cs = append(cs, Case{Name: fmt.Sprintf("L2Normalize/%d", n), Tol: 1e-6, Run: func(be tensor.Backend, r *rand.Rand) ([]float32, []float64) {
			x := randn(r, 3*n)
			want := f64(x)
			for i := 0; i < 3; i++ {
				var s float64
				for _, v := range want[i*n : (i+1)*n] {
					s += v * v
				}
				for j := i * n; j < (i+1)*n; j++ {
					want[j] /= math.Sqrt(s)
				}
			}
			return be.ToHost(be.L2Normalize(be.FromHost(x, 3, n), 1e-12)), want
		}})
	}
	for _, s := range []struct {
		B, nq, nk, H, hd int
		causal, bias     bool
	}{{1, 1, 1, 1, 1, false, false}, {2, 17, 17, 4, 16, false, false}, {2, 77, 77, 2, 16, true, false}, {1, 197, 197, 3, 64, false, true}, {3, 5, 65, 2, 8, false, false}, {1, 130, 130, 1, 7, true, true}} {
		s := s
		cs = append(cs, Case{Name: fmt.Sprintf("Attention/B%d_q%d_k%d_H%d_hd%d_causal%v_bias%v", s.B, s.nq, s.nk, s.H, s.hd, s.causal, s.bias), Tol: 1e-5,
			Run: func(be tensor.Backend, r *rand.Rand) ([]float32, []float64) {
				D := s.H * s.hd
				q, k, v := randn(r, s.B*s.nq*D), randn(r, s.B*s.nk*D), randn(r, s.B*s.nk*D)
				var bias []float32
				opt := tensor.AttnOpts{Causal: s.causal}
				if s.bias {
					bias = randn(r, s.H*s.nq*s.nk)
					opt.Bias = be.FromHost(bias, s.H, s.nq, s.nk)
				}
				got := be.ToHost(be.Attention(be.FromHost(q, s.B, s.nq, D), be.FromHost(k, s.B, s.nk, D), be.FromHost(v, s.B, s.nk, D), s.H, opt))
				var bref []float64
				if bias != nil {
					bref = f64(bias)
				}
				return got, refAttention(f64(q), f64(k), f64(v), s.B, s.nq, s.nk, s.H, s.hd, s.causal, bref)
			}})
	}
	for _, s := range []struct {
		B, cin, H, W, cout, kh, kw int
		p                          tensor.Conv
		bias                       bool
	}{
		{2, 3, 64, 64, 8, 16, 16, tensor.Conv{StrideH: 16, StrideW: 16, Groups: 1}, false},
		{1, 3, 17, 13, 5, 3, 3, tensor.Conv{StrideH: 2, StrideW: 2, PadH: 1, PadW: 1, Groups: 1}, false},
		{2, 6, 9, 9, 4, 1, 1, tensor.Conv{StrideH: 1, StrideW: 1, Groups: 1}, true},
		{1, 8, 7, 7, 8, 7, 7, tensor.Conv{StrideH: 1, StrideW: 1, PadH: 3, PadW: 3, Groups: 8}, true},
		{2, 4, 2, 2, 4, 7, 7, tensor.Conv{StrideH: 1, StrideW: 1, PadH: 3, PadW: 3, Groups: 4}, true},
		{1, 6, 11, 10, 4, 3, 2, tensor.Conv{StrideH: 1, StrideW: 2, PadH: 1, PadW: 0, Groups: 2}, true},
		{1, 16, 8, 8, 32, 2, 2, tensor.Conv{StrideH: 2, StrideW: 2, Groups: 1}, true},
		// Stride-1 im2col with padding, and a kernel wider than the image plus its padding.
		{2, 5, 9, 8, 6, 3, 3, tensor.Conv{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, Groups: 1}, true},
		{1, 3, 6, 3, 4, 5, 5, tensor.Conv{StrideH: 1, StrideW: 1, PadH: 2, PadW: 1, Groups: 1}, false},
	} {
		s := s
		cs = append(cs, Case{Name: fmt.Sprintf("Conv2D/%dx%dx%dx%d_w%dx%dx%dx%d_s%d_p%d_g%d", s.B, s.cin, s.H, s.W, s.cout, s.cin/s.p.Groups, s.kh, s.kw, s.p.StrideH, s.p.PadH, s.p.Groups), Tol: sumTol(s.cin / s.p.Groups * s.kh * s.kw),
			Run: func(be tensor.Backend, r *rand.Rand) ([]float32, []float64) {
				x, w, b := randn(r, s.B*s.cin*s.H*s.W), randn(r, s.cout*(s.cin/s.p.Groups)*s.kh*s.kw), randn(r, s.cout)
				var bt *tensor.Tensor
				var bref []float64
				if s.bias {
					bt, bref = be.FromHost(b, s.cout), f64(b)
				}
				got := be.ToHost(be.Conv2D(be.FromHost(x, s.B, s.cin, s.H, s.W), be.FromHost(w, s.cout, s.cin/s.p.Groups, s.kh, s.kw), bt, s.p))
				want, _, _ := refConv(f64(x), f64(w), bref, s.B, s.cin, s.H, s.W, s.cout, s.kh, s.kw, s.p)
				return got, want
			}})
	}
	for _, p := range []tensor.Pool{{Kind: tensor.AvgPool, KH: 2, KW: 2, StrideH: 2, StrideW: 2}, {Kind: tensor.MaxPool, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}, {Kind: tensor.AvgPool, KH: 3, KW: 3, StrideH: 3, StrideW: 3}} {
		p := p
		cs = append(cs, Case{Name: fmt.Sprintf("Pool2D/kind%d_k%d_s%d_p%d", p.Kind, p.KH, p.StrideH, p.PadH), Tol: 1e-6, Run: func(be tensor.Backend, r *rand.Rand) ([]float32, []float64) {
			B, C, H, W := 2, 3, 11, 9
			x := randn(r, B*C*H*W)
			ho, wo := (H+2*p.PadH-p.KH)/p.StrideH+1, (W+2*p.PadW-p.KW)/p.StrideW+1
			want := make([]float64, B*C*ho*wo)
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
								v := float64(x[(bc*H+iy)*W+ix])
								if p.Kind == tensor.MaxPool {
									acc = math.Max(acc, v)
								} else {
									acc += v
								}
							}
						}
						if p.Kind == tensor.AvgPool {
							acc /= float64(p.KH * p.KW)
						}
						want[(bc*ho+oy)*wo+ox] = acc
					}
				}
			}
			return be.ToHost(be.Pool2D(be.FromHost(x, B, C, H, W), p)), want
		}})
	}
	cs = append(cs, shapeCases()...)
	cs = append(cs, backwardCases()...)
	cs = append(cs, layoutCases()...)
	return cs
}

// epilogueActs are the activations LinearAct and Conv2DAct fuse.
var epilogueActs = []struct {
	name string
	f    tensor.Act
}{{"Identity", tensor.Identity}, {"ReLU", tensor.ReLU}, {"GELU", tensor.GELU}, {"QuickGELU", tensor.QuickGELU}}

// finishRef applies y = f(y + add) to the reference in place.
func finishRef(want []float64, add []float32, f tensor.Act) {
	for i := range want {
		if add != nil {
			want[i] += float64(add[i])
		}
		if f != tensor.Identity {
			want[i] = refAct(f, want[i])
		}
	}
}

// epilogueCases checks LinearAct and Conv2DAct, channels first, with and without bias and add, for every
// fused activation; the activations add their own rounding to the product's.
func epilogueCases() []Case {
	var cs []Case
	for _, s := range []struct{ rows, in, out int }{{7, 17, 63}, {45, 130, 37}} {
		for _, act := range epilogueActs {
			for _, c := range [][2]bool{{false, false}, {true, false}, {false, true}, {true, true}} {
				s, act, withBias, withAdd := s, act, c[0], c[1]
				cs = append(cs, Case{
					Name: fmt.Sprintf("LinearAct/%dx%d->%d_bias%v_add%v_%s", s.rows, s.in, s.out, withBias, withAdd, act.name),
					Tol:  sumTol(s.in) + 4e-6,
					Run: func(be tensor.Backend, r *rand.Rand) ([]float32, []float64) {
						x, w, b, add := randn(r, 2*s.rows*s.in), randn(r, s.out*s.in), randn(r, s.out), randn(r, 2*s.rows*s.out)
						var bt, at *tensor.Tensor
						if withBias {
							bt = be.FromHost(b, s.out)
						}
						if !withAdd {
							add = nil
						} else {
							at = be.FromHost(add, 2, s.rows, s.out)
						}
						got := be.ToHost(be.LinearAct(be.FromHost(x, 2, s.rows, s.in), be.FromHost(w, s.out, s.in), bt, at, act.f))
						want := refMatMul(f64(x), f64(w), 2*s.rows, s.out, s.in, false, true)
						if withBias {
							for i := range want {
								want[i] += float64(b[i%s.out])
							}
						}
						finishRef(want, add, act.f)
						return got, want
					},
				})
			}
		}
	}
	convs := []struct {
		B, cin, H, W, cout, kh, kw int
		p                          tensor.Conv
	}{
		{2, 6, 9, 9, 20, 1, 1, tensor.Conv{StrideH: 1, StrideW: 1, Groups: 1}},
		{2, 3, 17, 13, 5, 3, 3, tensor.Conv{StrideH: 2, StrideW: 2, PadH: 1, PadW: 1, Groups: 1}},
		{1, 6, 11, 10, 4, 3, 2, tensor.Conv{StrideH: 1, StrideW: 2, PadH: 1, PadW: 0, Groups: 2}},
		{2, 8, 7, 7, 8, 3, 3, tensor.Conv{StrideH: 1, StrideW: 1, PadH: 1, PadW: 1, Groups: 8}},
	}
	for si, s := range convs {
		for ai, act := range epilogueActs {
			s, act := s, act
			// Each activation meets every bias/add combination across the shapes.
			withBias, withAdd := (si+ai)&1 != 0, (si+ai)&2 != 0
			k := s.cin / s.p.Groups * s.kh * s.kw
			cs = append(cs, Case{
				Name: fmt.Sprintf("Conv2DAct/%dx%dx%dx%d_w%dx%dx%dx%d_s%d_g%d_bias%v_add%v_%s", s.B, s.cin, s.H, s.W, s.cout, s.cin/s.p.Groups, s.kh, s.kw, s.p.StrideH, s.p.Groups, withBias, withAdd, act.name),
				Tol:  sumTol(k) + 4e-6,
				Run: func(be tensor.Backend, r *rand.Rand) ([]float32, []float64) {
					x, w, b := randn(r, s.B*s.cin*s.H*s.W), randn(r, s.cout*(s.cin/s.p.Groups)*s.kh*s.kw), randn(r, s.cout)
					var bt *tensor.Tensor
					var bref []float64
					if withBias {
						bt, bref = be.FromHost(b, s.cout), f64(b)
					}
					want, ho, wo := refConv(f64(x), f64(w), bref, s.B, s.cin, s.H, s.W, s.cout, s.kh, s.kw, s.p)
					var add []float32
					var at *tensor.Tensor
					if withAdd {
						add = randn(r, len(want))
						at = be.FromHost(add, s.B, s.cout, ho, wo)
					}
					got := be.ToHost(be.Conv2DAct(be.FromHost(x, s.B, s.cin, s.H, s.W), be.FromHost(w, s.cout, s.cin/s.p.Groups, s.kh, s.kw), bt, at, s.p, act.f))
					finishRef(want, add, act.f)
					return got, want
				}})
		}
	}
	return cs
}

func shapeCases() []Case {
	return []Case{
		{Name: "Permute/0213", Tol: 0, Run: func(be tensor.Backend, r *rand.Rand) ([]float32, []float64) {
			x := randn(r, 2*3*4*5)
			got := be.ToHost(be.Permute(be.FromHost(x, 2, 3, 4, 5), 0, 2, 1, 3))
			want := make([]float64, len(x))
			for a := 0; a < 2; a++ {
				for b := 0; b < 3; b++ {
					for c := 0; c < 4; c++ {
						for d := 0; d < 5; d++ {
							want[((a*4+c)*3+b)*5+d] = float64(x[((a*3+b)*4+c)*5+d])
						}
					}
				}
			}
			return got, want
		}},
		{Name: "Permute/NCHW_to_NHWC", Tol: 0, Run: func(be tensor.Backend, r *rand.Rand) ([]float32, []float64) {
			x := randn(r, 2*3*4*5)
			got := be.ToHost(be.Permute(be.FromHost(x, 2, 3, 4, 5), 0, 2, 3, 1))
			want := make([]float64, len(x))
			for n := 0; n < 2; n++ {
				for c := 0; c < 3; c++ {
					for h := 0; h < 4; h++ {
						for w := 0; w < 5; w++ {
							want[((n*4+h)*5+w)*3+c] = float64(x[((n*3+c)*4+h)*5+w])
						}
					}
				}
			}
			return got, want
		}},
		{Name: "Concat/axis1", Tol: 0, Run: func(be tensor.Backend, r *rand.Rand) ([]float32, []float64) {
			a, b := randn(r, 2*1*3), randn(r, 2*4*3)
			got := be.ToHost(be.Concat(1, be.FromHost(a, 2, 1, 3), be.FromHost(b, 2, 4, 3)))
			var want []float64
			for i := 0; i < 2; i++ {
				want = append(want, f64(a[i*3:(i+1)*3])...)
				want = append(want, f64(b[i*12:(i+1)*12])...)
			}
			return got, want
		}},
		{Name: "Slice/axis1", Tol: 0, Run: func(be tensor.Backend, r *rand.Rand) ([]float32, []float64) {
			x := randn(r, 2*5*3)
			got := be.ToHost(be.Slice(be.FromHost(x, 2, 5, 3), 1, 1, 4))
			var want []float64
			for i := 0; i < 2; i++ {
				want = append(want, f64(x[i*15+3:i*15+12])...)
			}
			return got, want
		}},
		{Name: "Gather", Tol: 0, Run: func(be tensor.Backend, r *rand.Rand) ([]float32, []float64) {
			x := randn(r, 10*4)
			idx := []int{3, 0, 9, 3}
			var want []float64
			for _, i := range idx {
				want = append(want, f64(x[i*4:(i+1)*4])...)
			}
			return be.ToHost(be.Gather(be.FromHost(x, 10, 4), idx)), want
		}},
		{Name: "TakeRows", Tol: 0, Run: func(be tensor.Backend, r *rand.Rand) ([]float32, []float64) {
			x := randn(r, 3*7*5)
			idx := []int{6, 0, 3}
			var want []float64
			for b, i := range idx {
				want = append(want, f64(x[(b*7+i)*5:(b*7+i+1)*5])...)
			}
			return be.ToHost(be.TakeRows(be.FromHost(x, 3, 7, 5), idx)), want
		}},
		{Name: "Reduce/all", Tol: 1e-6, Run: func(be tensor.Backend, r *rand.Rand) ([]float32, []float64) {
			x := randn(r, 3*17*5)
			t := be.FromHost(x, 3, 17, 5)
			var got []float32
			var want []float64
			for _, op := range []tensor.ReduceOp{tensor.Sum, tensor.Mean, tensor.Max, tensor.Var} {
				got = append(got, be.ToHost(be.Reduce(t, 1, op))...)
				for a := 0; a < 3; a++ {
					for c := 0; c < 5; c++ {
						var s, mx, ss float64
						mx = math.Inf(-1)
						for b := 0; b < 17; b++ {
							v := float64(x[(a*17+b)*5+c])
							s += v
							mx = math.Max(mx, v)
						}
						m := s / 17
						for b := 0; b < 17; b++ {
							d := float64(x[(a*17+b)*5+c]) - m
							ss += d * d
						}
						want = append(want, map[tensor.ReduceOp]float64{tensor.Sum: s, tensor.Mean: m, tensor.Max: mx, tensor.Var: ss / 17}[op])
					}
				}
			}
			return got, want
		}},
		{Name: "ArgMax", Tol: 0, Run: func(be tensor.Backend, r *rand.Rand) ([]float32, []float64) {
			x := randn(r, 6*33)
			x[5] = x[7] + 100
			x[7] = x[5] // tie: the first wins
			var got []float32
			for _, i := range be.ArgMax(be.FromHost(x, 6, 33)) {
				got = append(got, float32(i))
			}
			var want []float64
			for row := 0; row < 6; row++ {
				best := 0
				for j := 1; j < 33; j++ {
					if x[row*33+j] > x[row*33+best] {
						best = j
					}
				}
				want = append(want, float64(best))
			}
			return got, want
		}},
	}
}

// layoutCases check the channels-last convolution and pooling against the channels-first references, and
// attention over packed sequences against each sequence attended alone.
func layoutCases() []Case {
	var cs []Case
	for _, s := range []struct {
		B, cin, H, W, cout, kh, kw int
		p                          tensor.Conv
		add                        bool
		f                          tensor.Act
	}{
		{2, 3, 17, 13, 5, 3, 3, tensor.Conv{StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}, false, tensor.ReLU},
		{2, 6, 9, 9, 4, 1, 1, tensor.Conv{}, true, tensor.ReLU},
		{1, 5, 8, 7, 6, 1, 1, tensor.Conv{StrideH: 2, StrideW: 2}, false, tensor.Identity},
		{1, 16, 8, 8, 32, 2, 2, tensor.Conv{StrideH: 2, StrideW: 2}, false, tensor.Identity},
		{2, 3, 16, 16, 8, 4, 4, tensor.Conv{StrideH: 4, StrideW: 4}, false, tensor.Identity},
		{1, 3, 6, 3, 4, 5, 5, tensor.Conv{PadH: 2, PadW: 1}, true, tensor.GELU},
		{1, 17, 7, 7, 17, 7, 7, tensor.Conv{PadH: 3, PadW: 3, Groups: 17}, true, tensor.Identity},
		{2, 4, 2, 3, 4, 7, 7, tensor.Conv{PadH: 3, PadW: 3, Groups: 4}, false, tensor.GELU},
		{1, 6, 11, 10, 4, 3, 2, tensor.Conv{StrideW: 2, PadH: 1, Groups: 2}, false, tensor.Identity},
	} {
		s := s
		s.p.Groups, s.p.StrideH, s.p.StrideW = max(s.p.Groups, 1), max(s.p.StrideH, 1), max(s.p.StrideW, 1)
		g := s.p.Groups
		cs = append(cs, Case{Name: fmt.Sprintf("Conv2DAct/channelslast_%dx%dx%dx%d_w%dx%dx%d_s%d_p%d_g%d_add%v_act%d", s.B, s.H, s.W, s.cin, s.cout, s.kh, s.kw, s.p.StrideH, s.p.PadH, g, s.add, s.f),
			Tol: sumTol(s.cin / g * s.kh * s.kw),
			Run: func(be tensor.Backend, r *rand.Rand) ([]float32, []float64) {
				x, w, b := randn(r, s.B*s.cin*s.H*s.W), randn(r, s.cout*(s.cin/g)*s.kh*s.kw), randn(r, s.cout)
				want, ho, wo := refConv(f64(x), f64(w), f64(b), s.B, s.cin, s.H, s.W, s.cout, s.kh, s.kw, s.p)
				want = lastChannels(want, s.B, s.cout, ho, wo)
				var add *tensor.Tensor
				if s.add {
					a := randn(r, len(want))
					add = be.FromHost(a, s.B, ho, wo, s.cout)
					for i, v := range a {
						want[i] += float64(v)
					}
				}
				for i, v := range want {
					want[i] = refAct(s.f, v)
				}
				p := s.p
				p.ChannelsLast = true
				xt := be.FromHost(f32(lastChannels(f64(x), s.B, s.cin, s.H, s.W)), s.B, s.H, s.W, s.cin)
				wt := be.FromHost(f32(lastChannels(f64(w), s.cout, s.cin/g, s.kh, s.kw)), s.cout, s.kh, s.kw, s.cin/g)
				return be.ToHost(be.Conv2DAct(xt, wt, be.FromHost(b, s.cout), add, p, s.f)), want
			}})
	}
	for _, p := range []tensor.Pool{{Kind: tensor.AvgPool, KH: 2, KW: 2}, {Kind: tensor.MaxPool, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}, {Kind: tensor.AvgPool, KH: 3, KW: 2, StrideH: 1, StrideW: 2, PadH: 1}} {
		p := p
		cs = append(cs, Case{Name: fmt.Sprintf("Pool2D/channelslast_kind%d_k%dx%d_s%d_p%d", p.Kind, p.KH, p.KW, p.StrideH, p.PadH), Tol: 1e-6, Run: func(be tensor.Backend, r *rand.Rand) ([]float32, []float64) {
			B, C, H, W := 2, 19, 7, 9
			x := randn(r, B*C*H*W)
			first := be.Pool2D(be.FromHost(x, B, C, H, W), p) // checked against its own reference above
			ho, wo := first.Dim(2), first.Dim(3)
			want := lastChannels(f64(be.ToHost(first)), B, C, ho, wo)
			q := p
			q.ChannelsLast = true
			got := be.Pool2D(be.FromHost(f32(lastChannels(f64(x), B, C, H, W)), B, H, W, C), q)
			return be.ToHost(got), want
		}})
	}
	for _, s := range []struct {
		lens   []int
		H, hd  int
		causal bool
	}{{[]int{1}, 1, 4, true}, {[]int{5, 1, 17}, 2, 8, true}, {[]int{77, 3, 40, 64}, 2, 16, true}, {[]int{9, 12}, 3, 5, false}} {
		s := s
		cs = append(cs, Case{Name: fmt.Sprintf("Attention/packed%v_H%d_hd%d_causal%v", s.lens, s.H, s.hd, s.causal), Tol: 1e-5,
			Run: func(be tensor.Backend, r *rand.Rand) ([]float32, []float64) {
				D, total := s.H*s.hd, 0
				for _, n := range s.lens {
					total += n
				}
				q, k, v := randn(r, total*D), randn(r, total*D), randn(r, total*D)
				var want []float64
				off := 0
				for _, n := range s.lens {
					part := func(x []float32) []float64 { return f64(x[off*D : (off+n)*D]) }
					want = append(want, refAttention(part(q), part(k), part(v), 1, n, n, s.H, s.hd, s.causal, nil)...)
					off += n
				}
				opt := tensor.AttnOpts{Causal: s.causal, Lens: s.lens}
				got := be.Attention(be.FromHost(q, 1, total, D), be.FromHost(k, 1, total, D), be.FromHost(v, 1, total, D), s.H, opt)
				return be.ToHost(got), want
			}})
	}
	return cs
}

// lastChannels reorders x [B, C, H, W] (or weights [O, I, kh, kw]) to [B, H, W, C] ([O, kh, kw, I]).
func lastChannels(x []float64, B, C, H, W int) []float64 {
	out := make([]float64, len(x))
	for b := 0; b < B; b++ {
		for c := 0; c < C; c++ {
			for i := 0; i < H*W; i++ {
				out[(b*H*W+i)*C+c] = x[(b*C+c)*H*W+i]
			}
		}
	}
	return out
}

func f32(x []float64) []float32 {
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(v)
	}
	return out
}
