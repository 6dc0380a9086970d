package tensor

import (
	"fmt"
	"math"
)

// attnBlock is the number of queries scored at once: the score buffer is attnBlock×Nk per worker, so no
// B×H×N×N tensor is ever materialised.
const attnBlock = 64

// Attention implements Backend.
func (c CPU) Attention(q, k, v *Tensor, heads int, opt AttnOpts) *Tensor {
	if q.Rank() != 3 || k.Rank() != 3 || v.Rank() != 3 || !SameShape(k.shape, v.shape) ||
		q.shape[0] != k.shape[0] || q.shape[2] != k.shape[2] || heads <= 0 || q.shape[2]%heads != 0 {
		panic(fmt.Sprintf("tensor: Attention of q %v k %v v %v with %d heads", q.shape, k.shape, v.shape, heads))
	}
	if opt.Lens != nil {
		return c.attentionPacked(q, k, v, heads, opt)
	}
	B, nq, D := q.shape[0], q.shape[1], q.shape[2]
	nk := k.shape[1]
	hd := D / heads
	var bias []float32
	if opt.Bias != nil {
		if !SameShape(opt.Bias.shape, []int{heads, nq, nk}) {
			panic(fmt.Sprintf("tensor: Attention bias %v, want [%d %d %d]", opt.Bias.shape, heads, nq, nk))
		}
		bias = host(opt.Bias)
	}
	qd, kd, vd := host(q), host(k), host(v)
	out := make([]float32, B*nq*D)
	scale := float32(1 / math.Sqrt(float64(hd)))
	blocks := (nq + attnBlock - 1) / attnBlock
	tasks := B * heads * blocks
	parallelFor(tasks, 1, func(lo, hi int) {
		scores := make([]float32, attnBlock*nk)
		for t := lo; t < hi; t++ {
			b, h, blk := t/(heads*blocks), (t/blocks)%heads, t%blocks
			i0 := blk * attnBlock
			bq := min(attnBlock, nq-i0)
			qo := (b*nq+i0)*D + h*hd
			ko := b*nk*D + h*hd
			s := scores[:bq*nk]
			sgemm(false, true, bq, nk, hd, scale, qd[qo:], D, kd[ko:], D, 0, s, nk)
			for i := 0; i < bq; i++ {
				row := s[i*nk : (i+1)*nk]
				if bias != nil {
					br := bias[(h*nq+i0+i)*nk:]
					for j := range row {
						row[j] += br[j]
					}
				}
				if opt.Causal {
					for j := i0 + i + 1; j < nk; j++ {
						row[j] = float32(math.Inf(-1))
					}
				}
				softmaxRow(row)
			}
			sgemm(false, false, bq, hd, nk, 1, s, nk, vd[ko:], D, 0, out[qo:], D)
		}
	})
	return c.wrap(out, B, nq, D)
}

// attentionPacked runs Attention on sequences packed back to back (opt.Lens), one sequence at a time.
func (c CPU) attentionPacked(q, k, v *Tensor, heads int, opt AttnOpts) *Tensor {
	packedGeom(q, k, opt)
	parts := make([]*Tensor, len(opt.Lens))
	off := 0
	for i, n := range opt.Lens {
		parts[i] = c.Attention(c.Slice(q, 1, off, off+n), c.Slice(k, 1, off, off+n), c.Slice(v, 1, off, off+n), heads, AttnOpts{Causal: opt.Causal})
		off += n
	}
	return c.Concat(1, parts...)
}
