package eval

import (
	"math"
	"sync"
)

// percentile returns numpy.percentile(a, p) with the default linear interpolation for float32 data:
// the value at the virtual index p/100·(n−1) between its two neighbours in sorted order. a is reordered.
func percentile(a []float32, p float64) float64 {
	n := len(a)
	idx := p / 100 * float64(n-1)
	lo := int(math.Floor(idx))
	lo = min(max(lo, 0), n-1)
	t := idx - float64(lo)
	lower := selectNth(a, lo)
	upper := lower
	if lo+1 < n {
		// After selection every value right of lo is >= a[lo]; the next order statistic is their minimum.
		upper = a[lo+1]
		for _, v := range a[lo+2:] {
			upper = min(upper, v)
		}
	}
	// numpy's _lerp: the difference is taken in the data's dtype, the rest in float64, and from the upper
	// end when t >= 0.5.
	diff := float64(upper - lower)
	if t >= 0.5 {
		return float64(upper) - diff*(1-t)
	}
	return float64(lower) + diff*t
}

// selectNth reorders a so that a[k] is the k-th smallest value, no larger value before it and no
// smaller after it, and returns a[k]. It partitions three ways, so runs of equal values (the zeros of
// post-ReLU features) cost nothing extra.
func selectNth(a []float32, k int) float32 {
	lo, hi := 0, len(a)-1
	for lo < hi {
		// Median of three as the pivot.
		m := lo + (hi-lo)/2
		x, y, z := a[lo], a[m], a[hi]
		pivot := max(min(x, y), min(max(x, y), z))
		// Partition into < pivot | == pivot | > pivot.
		lt, i, gt := lo, lo, hi
		for i <= gt {
			switch v := a[i]; {
			case v < pivot:
				a[lt], a[i] = a[i], a[lt]
				lt++
				i++
			case v > pivot:
				a[gt], a[i] = a[i], a[gt]
				gt--
			default:
				i++
			}
		}
		switch {
		case k < lt:
			hi = lt - 1
		case k > gt:
			lo = gt + 1
		default:
			return a[k]
		}
	}
	return a[k]
}

// roundHalfEven is numpy.round: halves go to the even neighbour.
func roundHalfEven(x float64) int {
	return int(math.RoundToEven(x))
}

// percentileInPlace is percentile without reordering or copying a: the two order statistics come from a
// radix selection on the float32 bit patterns (two counting passes each), so that the percentile of all
// training activations (ReAct) costs no second copy of the training features. a must be finite.
func percentileInPlace(a []float32, p float64) float64 {
	n := len(a)
	idx := p / 100 * float64(n-1)
	lo := min(max(int(math.Floor(idx)), 0), n-1)
	t := idx - float64(lo)
	lower := rankValue(a, lo)
	upper := lower
	if lo+1 < n {
		upper = rankValue(a, lo+1)
	}
	diff := float64(upper - lower)
	if t >= 0.5 {
		return float64(upper) - diff*(1-t)
	}
	return float64(lower) + diff*t
}

// sortKey maps a float32 to a uint32 whose order is the float's (−0 just below +0).
func sortKey(v float32) uint32 {
	u := math.Float32bits(v)
	if u&(1<<31) != 0 {
		return ^u
	}
	return u | 1<<31
}

func fromSortKey(k uint32) float32 {
	if k&(1<<31) != 0 {
		return math.Float32frombits(k &^ (1 << 31))
	}
	return math.Float32frombits(^k)
}

// rankValue returns the value of rank r (0-based, ascending) of a: a histogram of the keys' high 16 bits
// finds the bucket holding rank r, a second one of the low 16 bits within that bucket the key itself.
func rankValue(a []float32, r int) float32 {
	count := func(bucket func(k uint32) (int, bool)) []int {
		w := workersFor(len(a))
		parts := make([][]int, w)
		var wg sync.WaitGroup
		for g := 0; g < w; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				h := make([]int, 1<<16)
				for _, v := range a[g*len(a)/w : (g+1)*len(a)/w] {
					if b, ok := bucket(sortKey(v)); ok {
						h[b]++
					}
				}
				parts[g] = h
			}(g)
		}
		wg.Wait()
		for _, h := range parts[1:] {
			for i, c := range h {
				parts[0][i] += c
			}
		}
		return parts[0]
	}
	find := func(h []int, r int) (int, int) {
		for b, c := range h {
			if r < c {
				return b, r
			}
			r -= c
		}
		panic("eval: rank outside the data")
	}
	hi, r := find(count(func(k uint32) (int, bool) { return int(k >> 16), true }), r)
	low, _ := find(count(func(k uint32) (int, bool) { return int(k & 0xffff), int(k>>16) == hi }), r)
	return fromSortKey(uint32(hi)<<16 | uint32(low))
}
