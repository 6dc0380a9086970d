package tensor

import (
	"cmp"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"

	"plp/kernels/cpu"
)

// attnRows caps the queries scored at once: the score buffer is attnRows×Nk per worker, so no B×H×N×N
// tensor is ever materialised. Larger blocks pack each head's keys and values fewer times (a ViT-B/16
// sequence of 197 tokens runs as one block); causal blocks are smaller so that more of the keys a block
// cannot see are skipped.
const (
	attnRows       = 256
	attnRowsCausal = 64
	// attnBlock is the query block of AttentionBackward.
	attnBlock = 256
)

// attnSeq locates one sequence: its queries are rows q0..q0+nq of q, its keys and values rows k0..k0+nk
// of k and v.
type attnSeq struct{ q0, nq, k0, nk int }

// attnTask is one block of queries of one head of one sequence.
type attnTask struct{ seq, head, i0, rows int }

// Attention implements Backend. Batched and packed sequences run through one kernel that reads q, k and
// v in place: each task scores a block of queries of one head against the keys it can see, and the
// tasks are handed out one at a time across the cores, the longest first.
func (c CPU) Attention(q, k, v *Tensor, heads int, opt AttnOpts) *Tensor {
	if q.Rank() != 3 || k.Rank() != 3 || v.Rank() != 3 || !SameShape(k.shape, v.shape) ||
		q.shape[0] != k.shape[0] || q.shape[2] != k.shape[2] || heads <= 0 || q.shape[2]%heads != 0 {
		panic(fmt.Sprintf("tensor: Attention of q %v k %v v %v with %d heads", q.shape, k.shape, v.shape, heads))
	}
	B, nq, D := q.shape[0], q.shape[1], q.shape[2]
	nk := k.shape[1]
	var seqs []attnSeq
	if opt.Lens != nil {
		packedGeom(q, k, opt)
		off := 0
		for _, n := range opt.Lens {
			seqs = append(seqs, attnSeq{q0: off, nq: n, k0: off, nk: n})
			off += n
		}
	} else {
		for b := range B {
			seqs = append(seqs, attnSeq{q0: b * nq, nq: nq, k0: b * nk, nk: nk})
		}
	}
	var bias []float32
	if opt.Bias != nil {
		if !SameShape(opt.Bias.shape, []int{heads, nq, nk}) {
			panic(fmt.Sprintf("tensor: Attention bias %v, want [%d %d %d]", opt.Bias.shape, heads, nq, nk))
		}
		bias = host(opt.Bias)
	}
	out := make([]float32, B*nq*D)
	attend(out, host(q), host(k), host(v), D, heads, seqs, opt.Causal, bias)
	return c.wrap(out, B, nq, D)
}

// attend writes softmax(q·kᵀ/√hd + bias)·v for every sequence and head into out (rows D apart, like q).
// bias, when not nil, is [heads, nq, nk] of the (equal-length) sequences.
func attend(out, qd, kd, vd []float32, D, heads int, seqs []attnSeq, causal bool, bias []float32) {
	hd := D / heads
	maxRows := attnRows
	if causal {
		maxRows = attnRowsCausal
	}
	var tasks []attnTask
	maxNk, maxBq := 0, 0
	for s, sq := range seqs {
		if sq.nq == 0 {
			continue
		}
		blocks := (sq.nq + maxRows - 1) / maxRows
		rows := (sq.nq + blocks - 1) / blocks
		maxNk, maxBq = max(maxNk, sq.nk), max(maxBq, rows)
		for h := range heads {
			for i0 := 0; i0 < sq.nq; i0 += rows {
				tasks = append(tasks, attnTask{seq: s, head: h, i0: i0, rows: min(rows, sq.nq-i0)})
			}
		}
	}
	visible := func(t attnTask) int {
		sq := seqs[t.seq]
		if causal {
			return min(sq.nk, t.i0+t.rows)
		}
		return sq.nk
	}
	// Longest first, so that the last tasks to be handed out are short and the cores finish together.
	slices.SortStableFunc(tasks, func(a, b attnTask) int {
		return cmp.Compare(b.rows*visible(b), a.rows*visible(a))
	})
	scale := float32(1 / math.Sqrt(float64(hd)))
	var next atomic.Int64
	work := func() {
		scores := make([]float32, maxBq*maxNk)
		inv := make([]float32, maxBq)
		for {
			ti := int(next.Add(1)) - 1
			if ti >= len(tasks) {
				return
			}
			t := tasks[ti]
			sq := seqs[t.seq]
			n := visible(t)
			qo := (sq.q0+t.i0)*D + t.head*hd
			ko := sq.k0*D + t.head*hd
			if n == 0 {
				continue // no keys: the rows stay zero
			}
			s := scores[:t.rows*n]
			sgemm(false, true, t.rows, n, hd, scale, qd[qo:], D, kd[ko:], D, 0, s, n)
			for i := range t.rows {
				row := s[i*n : (i+1)*n]
				if bias != nil {
					br := bias[(t.head*sq.nq+t.i0+i)*sq.nk:]
					for j := range row {
						row[j] += br[j]
					}
				}
				lim := n
				if causal {
					lim = min(n, t.i0+i+1)
				}
				m := cpu.MaxVal(row[:lim])
				inv[i] = 1 / cpu.ExpSub(row[:lim], row[:lim], m)
				clear(row[lim:])
			}
			sgemm(false, false, t.rows, hd, n, 1, s, n, vd[ko:], D, 0, out[qo:], D)
			// Normalising the hd outputs of a row is cheaper than normalising its n probabilities.
			for i := range t.rows {
				cpu.Scale(inv[i], out[qo+i*D:qo+i*D+hd])
			}
		}
	}
	workers := min(runtime.GOMAXPROCS(0), len(tasks))
	var wg sync.WaitGroup
	for range workers - 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			work()
		}()
	}
	work()
	wg.Wait()
}
