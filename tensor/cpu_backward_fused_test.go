package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestActivationBiasBackward checks the fused pass against the separate activation gradient (checked
// against PyTorch in TestBackwardOpsFixtures) and a float64 column sum of it.
func TestActivationBiasBackward(t *testing.T) {
	be := CPU{}
	for _, c := range []struct {
		name  string
		shape []int
		f     Act
	}{
		{"identity", []int{3, 37, 5}, Identity},
		{"gelu", []int{2, 70, 33}, GELU},
		{"quickgelu", []int{129, 7}, QuickGELU},
		{"relu", []int{1, 9}, ReLU},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(3, uint64(len(c.name))))
			n := Numel(c.shape)
			xs, gs := make([]float32, n), make([]float32, n)
			for i := range xs {
				xs[i], gs[i] = float32(2*r.NormFloat64()), float32(r.NormFloat64())
			}
			x, dy := be.FromHost(xs, c.shape...), be.FromHost(gs, c.shape...)
			want := gs
			if c.f != Identity {
				want = be.ToHost(be.ActivationBackward(x, dy, c.f))
			}
			dx, db := be.ActivationBiasBackward(x, dy, c.f)
			got := be.ToHost(dx)
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("dx[%d] = %v, want %v", i, got[i], want[i])
				}
			}
			cols := c.shape[len(c.shape)-1]
			if !SameShape(db.Shape(), []int{cols}) {
				t.Fatalf("db shape %v, want [%d]", db.Shape(), cols)
			}
			sums := make([]float64, cols)
			for i, v := range want {
				sums[i%cols] += float64(v)
			}
			for j, v := range be.ToHost(db) {
				if math.Abs(float64(v)-sums[j]) > 1e-6*(1+math.Abs(sums[j])) {
					t.Errorf("db[%d] = %v, want %v", j, v, sums[j])
				}
			}
		})
	}
}

// BenchmarkAttentionBackward times the attention backward pass of one ViT-B/16 block at batch 8.
func BenchmarkAttentionBackward(b *testing.B) {
	be := CPU{}
	const B, N, D, heads = 8, 197, 768, 12
	r := rand.New(rand.NewPCG(1, 2))
	mk := func() *Tensor {
		d := make([]float32, B*N*D)
		for i := range d {
			d[i] = float32(r.NormFloat64())
		}
		return be.FromHost(d, B, N, D)
	}
	q, k, v, dy := mk(), mk(), mk(), mk()
	for i := 0; i < b.N; i++ {
		be.AttentionBackward(q, k, v, dy, heads, AttnOpts{})
	}
}

// TestAttentionBackwardPacked checks the packed pass against AttentionBackward on q, k and v sliced out of
// the packed projection (checked against PyTorch in TestBackwardOpsFixtures).
func TestAttentionBackwardPacked(t *testing.T) {
	be := CPU{}
	for _, c := range []struct {
		name             string
		B, N, D, nq, hds int
	}{
		{"all_queries", 2, 70, 24, 70, 3},
		{"first_query", 3, 9, 16, 1, 2},
		{"some_queries", 1, 130, 8, 67, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(5, uint64(c.N)))
			rnd := func(n int) []float32 {
				d := make([]float32, n)
				for i := range d {
					d[i] = float32(r.NormFloat64())
				}
				return d
			}
			qkv := be.FromHost(rnd(c.B*c.N*3*c.D), c.B, c.N, 3*c.D)
			dy := be.FromHost(rnd(c.B*c.nq*c.D), c.B, c.nq, c.D)
			q := be.Slice(be.Slice(qkv, 1, 0, c.nq), 2, 0, c.D)
			k, v := be.Slice(qkv, 2, c.D, 2*c.D), be.Slice(qkv, 2, 2*c.D, 3*c.D)
			dq, dk, dv := be.AttentionBackward(q, k, v, dy, c.hds, AttnOpts{})
			want := be.Concat(2, be.Concat(1, dq, be.Zeros(c.B, c.N-c.nq, c.D)), dk, dv)
			got := be.AttentionBackwardPacked(qkv, dy, c.hds, AttnOpts{})
			if !SameShape(got.Shape(), want.Shape()) {
				t.Fatalf("shape %v, want %v", got.Shape(), want.Shape())
			}
			g, w := be.ToHost(got), be.ToHost(want)
			for i := range w {
				if math.Abs(float64(g[i]-w[i])) > 1e-6*(1+math.Abs(float64(w[i]))) {
					t.Fatalf("element %d = %v, want %v", i, g[i], w[i])
				}
			}
		})
	}
}

// TestAttentionProbs checks the training attention against Attention on q, k and v sliced out of the
// packed projection, and its backward pass against AttentionBackwardPacked.
func TestAttentionProbs(t *testing.T) {
	be := CPU{}
	for _, c := range []struct {
		name             string
		B, N, D, nq, hds int
	}{
		{"all_queries", 2, 70, 24, 70, 3},
		{"first_query", 3, 9, 16, 1, 2},
		{"some_queries", 1, 130, 8, 67, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(6, uint64(c.N)))
			rnd := func(n int) []float32 {
				d := make([]float32, n)
				for i := range d {
					d[i] = float32(r.NormFloat64())
				}
				return d
			}
			qkv := be.FromHost(rnd(c.B*c.N*3*c.D), c.B, c.N, 3*c.D)
			dy := be.FromHost(rnd(c.B*c.nq*c.D), c.B, c.nq, c.D)
			q := be.Slice(be.Slice(qkv, 1, 0, c.nq), 2, 0, c.D)
			k, v := be.Slice(qkv, 2, c.D, 2*c.D), be.Slice(qkv, 2, 2*c.D, 3*c.D)
			y, probs := be.AttentionProbs(qkv, c.hds, c.nq)
			near := func(what string, got, want *Tensor) {
				t.Helper()
				if !SameShape(got.Shape(), want.Shape()) {
					t.Fatalf("%s: shape %v, want %v", what, got.Shape(), want.Shape())
				}
				g, w := be.ToHost(got), be.ToHost(want)
				for i := range w {
					if math.Abs(float64(g[i]-w[i])) > 1e-6*(1+math.Abs(float64(w[i]))) {
						t.Fatalf("%s: element %d = %v, want %v", what, i, g[i], w[i])
					}
				}
			}
			near("y", y, be.Attention(q, k, v, c.hds, AttnOpts{}))
			near("dqkv", be.AttentionProbsBackward(qkv, probs, dy, c.hds), be.AttentionBackwardPacked(qkv, dy, c.hds, AttnOpts{}))
		})
	}
}

// BenchmarkAttentionTrain times attention's forward and backward passes over one ViT-B/16 block's packed
// projection at batch 8: slicing q, k and v for Attention and AttentionBackwardPacked, against
// AttentionProbs and AttentionProbsBackward.
func BenchmarkAttentionTrain(b *testing.B) {
	be := CPU{}
	const B, N, D, heads = 8, 197, 768, 12
	r := rand.New(rand.NewPCG(1, 2))
	rnd := func(n int) []float32 {
		d := make([]float32, n)
		for i := range d {
			d[i] = float32(r.NormFloat64())
		}
		return d
	}
	qkv := be.FromHost(rnd(B*N*3*D), B, N, 3*D)
	dy := be.FromHost(rnd(B*N*D), B, N, D)
	b.Run("sliced", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			q, k, v := be.Slice(qkv, 2, 0, D), be.Slice(qkv, 2, D, 2*D), be.Slice(qkv, 2, 2*D, 3*D)
			be.Free(be.Attention(q, k, v, heads, AttnOpts{}))
			be.Free(be.AttentionBackwardPacked(qkv, dy, heads, AttnOpts{}))
			be.Free(q)
			be.Free(k)
			be.Free(v)
		}
	})
	b.Run("probs", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			y, p := be.AttentionProbs(qkv, heads, N)
			be.Free(y)
			be.Free(be.AttentionProbsBackward(qkv, p, dy, heads))
			be.Free(p)
		}
	})
}
