package eval

import "math"

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
