package tensor_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"plp/tensor"
)

func attnInput(be tensor.CPU, r *rand.Rand, shape ...int) *tensor.Tensor {
	x := make([]float32, tensor.Numel(shape))
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return be.FromHost(x, shape...)
}

// TestAttentionPacked checks packed sequences (AttnOpts.Lens) against running each sequence on its own,
// for odd lengths, sequences longer than one query block, and a sequence of one token.
func TestAttentionPacked(t *testing.T) {
	be := tensor.CPU{}
	r := rand.New(rand.NewPCG(3, 5))
	for _, tc := range []struct {
		lens   []int
		heads  int
		hd     int
		causal bool
	}{
		{[]int{5, 1, 77, 13}, 2, 16, true},
		{[]int{5, 1, 77, 13}, 2, 16, false},
		{[]int{130, 3, 65}, 3, 7, true},
		{[]int{197, 31}, 4, 64, false},
		{[]int{1}, 1, 1, true},
	} {
		t.Run(fmt.Sprintf("%v_H%d_hd%d_causal%v", tc.lens, tc.heads, tc.hd, tc.causal), func(t *testing.T) {
			D := tc.heads * tc.hd
			total := 0
			for _, n := range tc.lens {
				total += n
			}
			q, k, v := attnInput(be, r, 1, total, D), attnInput(be, r, 1, total, D), attnInput(be, r, 1, total, D)
			got := be.ToHost(be.Attention(q, k, v, tc.heads, tensor.AttnOpts{Causal: tc.causal, Lens: tc.lens}))
			off := 0
			for s, n := range tc.lens {
				part := func(x *tensor.Tensor) *tensor.Tensor { return be.Slice(x, 1, off, off+n) }
				want := be.ToHost(be.Attention(part(q), part(k), part(v), tc.heads, tensor.AttnOpts{Causal: tc.causal}))
				for i, w := range want {
					if g := got[off*D+i]; math.Abs(float64(g-w)) > 1e-5*(1+math.Abs(float64(w))) {
						t.Fatalf("sequence %d row %d feature %d: %v packed, %v alone", s, i/D, i%D, g, w)
					}
				}
				off += n
			}
		})
	}
}

// TestAttentionPackedBad checks that packed lengths that do not cover q, or come with a bias, are refused.
func TestAttentionPackedBad(t *testing.T) {
	be := tensor.CPU{}
	q := be.Zeros(1, 6, 4)
	for _, opt := range []tensor.AttnOpts{
		{Lens: []int{2, 3}},
		{Lens: []int{6, 0}},
		{Lens: []int{6}, Bias: be.Zeros(1, 6, 6)},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Attention with %+v did not panic", opt)
				}
			}()
			be.Attention(q, q, q, 1, opt)
		}()
	}
}

// BenchmarkAttention times attention at the sizes of the CLIP towers: ViT-B/16 (16 images of 197 tokens,
// 12 heads of 64) and the packed text tower (16 texts ending at random positions, 8 heads of 64, causal).
// GFLOP/s counts the 4·hd multiply-adds of each visible query-key pair.
func BenchmarkAttention(b *testing.B) {
	be := tensor.CPU{}
	r := rand.New(rand.NewPCG(1, 2))
	lens := make([]int, 16)
	for i := range lens {
		lens[i] = 1 + r.IntN(77)
	}
	for _, bc := range []struct {
		name   string
		B, N   int
		heads  int
		causal bool
		lens   []int
	}{
		{"vit_b16", 16, 197, 12, false, nil},
		{"text_packed", 1, 0, 8, true, lens},
	} {
		b.Run(bc.name, func(b *testing.B) {
			N, pairs := bc.N, bc.B*bc.N*bc.N
			if bc.lens != nil {
				N, pairs = 0, 0
				for _, n := range bc.lens {
					N += n
					pairs += n * (n + 1) / 2
				}
			}
			D := bc.heads * 64
			q := attnInput(be, r, bc.B, N, D)
			opt := tensor.AttnOpts{Causal: bc.causal, Lens: bc.lens}
			for b.Loop() {
				be.Attention(q, q, q, bc.heads, opt)
			}
			b.ReportMetric(float64(4*pairs*D)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
