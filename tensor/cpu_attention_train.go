package tensor

import (
	"fmt"
	"math"
)

// Attention for training: the forward pass keeps the attention probabilities, so the backward pass
// need not score the queries against the keys a second time, and both read q, k and v in place from the
// packed projection.

// AttentionProbs is multi-head attention without bias or mask over q, k and v packed one after the other
// in the last dimension of qkv [B, N, 3D] (PyTorch's in_proj layout), where only the first queries
// positions are queries. It returns y [B, queries, D] and the probabilities [B, heads, queries, N] that
// AttentionProbsBackward takes.
func (c CPU) AttentionProbs(qkv *Tensor, heads, queries int) (y, probs *Tensor) {
	B, N, D := packedAttnGeom("AttentionProbs", qkv, heads, queries)
	x := host(qkv)
	hd := D / heads
	scale := float32(1 / math.Sqrt(float64(hd)))
	y, yd := c.newResult(B, queries, D)
	probs, pd := c.newResult(B, heads, queries, N)
	parallelFor(B*heads, 1, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			b, h := t/heads, t%heads
			base := b*N*3*D + h*hd
			p := pd[t*queries*N : (t+1)*queries*N]
			sgemm(false, true, queries, N, hd, scale, x[base:], 3*D, x[base+D:], 3*D, 0, p, N)
			for i := 0; i < queries; i++ {
				softmaxRow(p[i*N : (i+1)*N])
			}
			sgemm(false, false, queries, hd, N, 1, p, N, x[base+2*D:], 3*D, 0, yd[b*queries*D+h*hd:], D)
		}
	})
	return y, probs
}

// AttentionProbsBackward is the backward pass of AttentionProbs: from qkv, the probabilities and dy
// [B, queries, D] it returns the gradient of qkv, packed the same way, with zeros in the q part of the
// rows that were not queries.
func (c CPU) AttentionProbsBackward(qkv, probs, dy *Tensor, heads int) *Tensor {
	if dy.Rank() != 3 {
		panic(fmt.Sprintf("tensor: AttentionProbsBackward of qkv %v with gradient %v", qkv.shape, dy.shape))
	}
	queries := dy.shape[1]
	B, N, D := packedAttnGeom("AttentionProbsBackward", qkv, heads, queries)
	if !SameShape(dy.shape, []int{B, queries, D}) || !SameShape(probs.shape, []int{B, heads, queries, N}) {
		panic(fmt.Sprintf("tensor: AttentionProbsBackward of qkv %v, probabilities %v, gradient %v", qkv.shape, probs.shape, dy.shape))
	}
	x, pd, gd := host(qkv), host(probs), host(dy)
	hd := D / heads
	scale := float32(1 / math.Sqrt(float64(hd)))
	res, out := c.newResult(qkv.shape...)
	if queries < N {
		// Rows that were not queries get no q gradient; everything else is written below.
		for b := 0; b < B; b++ {
			for r := queries; r < N; r++ {
				clear(out[(b*N+r)*3*D : (b*N+r)*3*D+D])
			}
		}
	}
	parallelFor(B*heads, 1, func(lo, hi int) {
		dp := make([]float32, queries*N)
		for t := lo; t < hi; t++ {
			b, h := t/heads, t%heads
			base := b*N*3*D + h*hd
			p := pd[t*queries*N : (t+1)*queries*N]
			g := gd[b*queries*D+h*hd:]
			// dV = Pᵀ dY; dP = dY Vᵀ; dS = P∘(dP - rowsum(P∘dP)); dQ = scale·dS K; dK = scale·dSᵀ Q.
			sgemm(true, false, N, hd, queries, 1, p, N, g, D, 0, out[base+2*D:], 3*D)
			sgemm(false, true, queries, N, hd, 1, g, D, x[base+2*D:], 3*D, 0, dp, N)
			for i := 0; i < queries; i++ {
				softmaxGradRow(dp[i*N:(i+1)*N], p[i*N:(i+1)*N], dp[i*N:(i+1)*N])
			}
			sgemm(false, false, queries, hd, N, scale, dp, N, x[base+D:], 3*D, 0, out[base:], 3*D)
			sgemm(true, false, N, hd, queries, scale, dp, N, x[base:], 3*D, 0, out[base+D:], 3*D)
		}
	})
	return res
}

// packedAttnGeom checks a packed projection [B, N, 3D] for heads heads and 1..N queries.
func packedAttnGeom(op string, qkv *Tensor, heads, queries int) (B, N, D int) {
	if qkv.Rank() != 3 || qkv.shape[2]%3 != 0 || heads <= 0 || (qkv.shape[2]/3)%heads != 0 || queries < 1 || queries > qkv.shape[1] {
		panic(fmt.Sprintf("tensor: %s of %v with %d heads and %d queries", op, qkv.shape, heads, queries))
	}
	return qkv.shape[0], qkv.shape[1], qkv.shape[2] / 3
}
