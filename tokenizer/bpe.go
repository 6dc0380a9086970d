package tokenizer

// heapThreshold is the piece length (bytes) from which BPE uses the heap: the rescan is quicker for
// ordinary words, the heap keeps pathological ones (a thousand letters without a space) from
// taking quadratic time.
const heapThreshold = 48

// bpe appends the ids of one piece (raw UTF-8 bytes, not empty) to dst. The piece's bytes start as
// symbols, the last one marked end-of-word; then, as open_clip does, the adjacent pair with the
// lowest merge rank is merged, everywhere it occurs left to right, until no pair has a rank.
func (v *vocab) bpe(dst []int32, piece string) []int32 {
	if len(piece) >= heapThreshold {
		return v.bpeHeap(dst, piece)
	}
	return v.bpeScan(dst, piece)
}

func (v *vocab) symbols(piece string) []int32 {
	sym := make([]int32, len(piece))
	for i := 0; i < len(piece); i++ {
		sym[i] = v.byteID[piece[i]]
	}
	sym[len(sym)-1] += 256 // the same byte with "</w>"
	return sym
}

// bpeScan finds the best pair by scanning all pairs each round.
func (v *vocab) bpeScan(dst []int32, piece string) []int32 {
	sym := v.symbols(piece)
	for len(sym) > 1 {
		best := merge{rank: -1}
		var left, right int32
		for i := 0; i+1 < len(sym); i++ {
			m, ok := v.merges[pairKey(sym[i], sym[i+1])]
			if ok && (best.rank < 0 || m.rank < best.rank) {
				best, left, right = m, sym[i], sym[i+1]
			}
		}
		if best.rank < 0 {
			break
		}
		out := 0
		for i := 0; i < len(sym); i++ {
			if i+1 < len(sym) && sym[i] == left && sym[i+1] == right {
				sym[out] = best.id
				i++
			} else {
				sym[out] = sym[i]
			}
			out++
		}
		sym = sym[:out]
	}
	return append(dst, sym...)
}

// pairItem is a candidate merge of node pos with the node after it, valid while both still hold
// left and right.
type pairItem struct {
	rank, pos   int32
	left, right int32
}

func (a pairItem) less(b pairItem) bool {
	return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos)
}

// bpeHeap gives bpeScan's result in O(n log n). Symbols form a linked list; candidate pairs wait in
// a min-heap ordered by (rank, position), so equal-rank pairs merge left to right as in the scan.
// That is the scan's order because a merge only creates pairs of higher rank (loadVocab checks
// that every merge is built from earlier ones).
func (v *vocab) bpeHeap(dst []int32, piece string) []int32 {
	sym := v.symbols(piece)
	n := int32(len(sym))
	next := make([]int32, n)
	prev := make([]int32, n)
	for i := range n {
		next[i], prev[i] = i+1, i-1
	}
	next[n-1] = -1
	var h pairHeap
	push := func(pos int32) {
		if pos < 0 || next[pos] < 0 {
			return
		}
		nx := next[pos]
		if m, ok := v.merges[pairKey(sym[pos], sym[nx])]; ok {
			h.push(pairItem{rank: m.rank, pos: pos, left: sym[pos], right: sym[nx]})
		}
	}
	for i := int32(0); i+1 < n; i++ {
		push(i)
	}
	const dead = -2
	for len(h) > 0 {
		it := h.pop()
		nx := next[it.pos]
		if prev[it.pos] == dead || nx < 0 || sym[it.pos] != it.left || sym[nx] != it.right {
			continue // stale: one side was merged away since
		}
		sym[it.pos] = v.merges[pairKey(it.left, it.right)].id
		after := next[nx]
		next[it.pos] = after
		if after >= 0 {
			prev[after] = it.pos
		}
		prev[nx], next[nx] = dead, -1
		push(prev[it.pos])
		push(it.pos)
	}
	for i := int32(0); i >= 0; i = next[i] {
		dst = append(dst, sym[i])
	}
	return dst
}

// pairHeap is a binary min-heap of pairItems.
type pairHeap []pairItem

func (h *pairHeap) push(it pairItem) {
	*h = append(*h, it)
	s := *h
	for i := len(s) - 1; i > 0; {
		p := (i - 1) / 2
		if !s[i].less(s[p]) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *pairHeap) pop() pairItem {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s = s[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(s) && s[l].less(s[m]) {
			m = l
		}
		if r < len(s) && s[r].less(s[m]) {
			m = r
		}
		if m == i {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}
