package eval

import (
	"math"
	"slices"

	"plp/kernels/cpu"
)

// bankTile is the query-rows × bank-rows tile of topInnerProducts (a variable so tests can shrink it).
var bankTile = [2]int{512, 8192}

// topInnerProducts returns, for each query row q ([n, dim]), the k largest values of q·t + add[j] over
// the bank rows t ([m, dim]; add may be nil), in decreasing order ([n, k], float32). It is faiss's
// exhaustive search: one SGEMM per tile, a running top-k per query row.
func topInnerProducts(q []float32, n int, bank []float32, m, dim int, add []float32, k int) []float32 {
	out := make([]float32, n*k)
	rowTile, colTile := bankTile[0], bankTile[1]
	sim := make([]float32, min(rowTile, n)*min(colTile, m))
	heaps := make([][]float32, min(rowTile, n))
	for lo := 0; lo < n; lo += rowTile {
		b := min(rowTile, n-lo)
		for i := range heaps[:b] {
			heaps[i] = heaps[i][:0]
		}
		for c0 := 0; c0 < m; c0 += colTile {
			nc := min(colTile, m-c0)
			cpu.Sgemm(false, true, b, nc, dim, 1, q[lo*dim:], dim, bank[c0*dim:], dim, 0, sim, nc)
			parallelRows(b, func(i int) {
				row := sim[i*nc : (i+1)*nc]
				if add != nil {
					for j, a := range add[c0 : c0+nc] {
						row[j] += a
					}
				}
				heaps[i] = pushTop(heaps[i], row, k)
			})
		}
		parallelRows(b, func(i int) {
			h := heaps[i]
			slices.Sort(h)
			slices.Reverse(h)
			copy(out[(lo+i)*k:], h)
		})
	}
	return out
}

// pushTop adds values to h, a min-heap of at most k values, keeping the k largest.
func pushTop(h, values []float32, k int) []float32 {
	for _, x := range values {
		if len(h) < k {
			h = append(h, x)
			for c := len(h) - 1; c > 0; { // sift up
				p := (c - 1) / 2
				if h[p] <= h[c] {
					break
				}
				h[p], h[c] = h[c], h[p]
				c = p
			}
			continue
		}
		if x <= h[0] {
			continue
		}
		h[0] = x
		for i := 0; ; { // sift down
			l := 2*i + 1
			if l >= len(h) {
				break
			}
			c := l
			if r := l + 1; r < len(h) && h[r] < h[l] {
				c = r
			}
			if h[i] <= h[c] {
				break
			}
			h[i], h[c] = h[c], h[i]
			i = c
		}
	}
	return h
}

// normalizeOpenOOD is OpenOOD's normalizer for kNN banks and queries: x/‖x‖₂ + 1e-10 per element, in
// float32 (the constant is added after the division).
func normalizeOpenOOD(x []float32, dim int) []float32 {
	out := make([]float32, len(x))
	const eps = float32(1e-10)
	for i := 0; i+dim <= len(x); i += dim {
		s := 0.0
		for _, v := range x[i : i+dim] {
			s += float64(v) * float64(v)
		}
		norm := float32(math.Sqrt(s))
		for j, v := range x[i : i+dim] {
			out[i+j] = v/norm + eps
		}
	}
	return out
}
