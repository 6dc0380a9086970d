package cpu

import (
	"math/rand/v2"
	"strings"
	"testing"
)

func TestSgemmBatched(t *testing.T) {
	defer SetThreads(0)
	rng := rand.New(rand.NewPCG(15, 16))
	tests := []struct {
		name           string
		g              gemmCase
		batch          int
		shareB         bool
		threads, extra int // extra: gap between consecutive matrices
		forks          bool
	}{
		{"serial", gemmCase{m: 7, n: 9, k: 5, pad: 1, alpha: 1, beta: 0}, 3, false, 2, 3, false},
		{"parallel QKᵀ", gemmCase{m: 40, n: 40, k: 64, alpha: 0.125, beta: 0, transB: true}, 48, false, 2, 0, true},
		{"parallel shared B", gemmCase{m: 33, n: 50, k: 70, pad: 2, alpha: 1, beta: 0.5}, 40, true, 3, 5, true},
		{"parallel transposed A", gemmCase{m: 30, n: 31, k: 65, alpha: -1, beta: 1, transA: true}, 80, false, 2, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			SetThreads(tt.threads)
			g := tt.g
			if tt.forks != (2*g.m*g.n*g.k*tt.batch >= minParallelFlops) {
				t.Fatalf("batch does not take the path it tests")
			}
			var as, bs, cs, c0s [][]float32
			var lda, ldb, ldc int
			for i := 0; i < tt.batch; i++ {
				a, la, b, lb, c, lc := g.operands(rng)
				lda, ldb, ldc = la, lb, lc
				as, bs, cs = append(as, a), append(bs, b), append(cs, c)
				c0s = append(c0s, append([]float32(nil), c...))
			}
			if tt.shareB {
				for i := range bs {
					bs[i] = bs[0]
				}
			}
			flat := func(ms [][]float32) ([]float32, int) {
				stride := len(ms[0]) + tt.extra
				out := make([]float32, stride*len(ms))
				for i, m := range ms {
					copy(out[i*stride:], m)
				}
				return out, stride
			}
			a, sa := flat(as)
			b, sb := flat(bs[:1])
			if !tt.shareB {
				b, sb = flat(bs)
			} else {
				sb = 0
			}
			c, sc := flat(cs)
			SgemmBatched(g.transA, g.transB, g.m, g.n, g.k, g.alpha, a, lda, sa, b, ldb, sb, g.beta, c, ldc, sc, tt.batch)
			for i := 0; i < tt.batch; i++ {
				want, mag := refGemm(g, as[i], lda, bs[i], ldb, c0s[i], ldc)
				checkGemm(t, g, c[i*sc:i*sc+len(cs[i])], ldc, c0s[i], want, mag)
			}
		})
	}
}

func TestSgemmBatchedPanics(t *testing.T) {
	buf := make([]float32, 64)
	tests := []struct {
		name string
		call func()
		msg  string
	}{
		{"overlapping C", func() { SgemmBatched(false, false, 2, 2, 2, 1, buf, 2, 4, buf, 2, 4, 0, buf, 2, 3, 2) }, "overlap"},
		{"negative stride", func() { SgemmBatched(false, false, 2, 2, 2, 1, buf, 2, -4, buf, 2, 4, 0, buf, 2, 4, 2) }, "negative"},
		{"last A past end", func() { SgemmBatched(false, false, 2, 2, 2, 1, buf, 2, 40, buf, 2, 4, 0, buf, 2, 4, 3) }, "len(A)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if s, _ := recover().(string); !strings.Contains(s, tt.msg) {
					t.Fatalf("panic %q, want message containing %q", s, tt.msg)
				}
			}()
			tt.call()
		})
	}
}
