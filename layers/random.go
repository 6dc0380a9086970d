package layers

import (
	"math/rand/v2"
	"slices"

	"plp/tensor"
)

// Dist gives the normal distribution a random tensor is drawn from, by key and shape; std 0 makes the
// tensor the constant mean.
type Dist func(key string, shape []int) (mean, std float64)

// RandomHost fills every tensor of table with seeded normal draws from dist, for benchmarks and tests that
// need no checkpoint. It is deterministic: keys are visited in sorted order and every element takes one
// draw, whatever its std.
func RandomHost(table map[string][]int, seed uint64, dist Dist) map[string][]float32 {
	out := make(map[string][]float32, len(table))
	random(table, seed, dist, func(k string, shape []int) []float32 {
		out[k] = make([]float32, tensor.Numel(shape))
		return out[k]
	}, nil)
	return out
}

// RandomTensors is RandomHost with the tensors placed on be; the values are the same. A backend that
// aliases host memory gets the weights in one off-heap block that is never freed, as a memory-mapped
// checkpoint would be; others get them through one scratch buffer, so building costs no transient memory
// beyond the largest tensor.
func RandomTensors(table map[string][]int, be tensor.Backend, seed uint64, dist Dist) map[string]*tensor.Tensor {
	out := make(map[string]*tensor.Tensor, len(table))
	var block, scratch []float32
	_, alias := be.(hostWrapper)
	if alias {
		total := 0
		for _, shape := range table {
			total += tensor.Numel(shape)
		}
		block = offHeap(total)
	}
	random(table, seed, dist, func(_ string, shape []int) []float32 {
		n := tensor.Numel(shape)
		if alias {
			var v []float32
			v, block = block[:n:n], block[n:]
			return v
		}
		if cap(scratch) < n {
			scratch = make([]float32, n)
		}
		return scratch[:n]
	}, func(k string, v []float32, shape []int) {
		out[k] = Upload(be, v, shape...)
	})
	return out
}

// random draws each tensor of table, in sorted key order, into the buffer alloc returns and hands it to
// done (if not nil).
func random(table map[string][]int, seed uint64, dist Dist, alloc func(key string, shape []int) []float32, done func(key string, v []float32, shape []int)) {
	r := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	keys := make([]string, 0, len(table))
	for k := range table {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		shape := table[k]
		v := alloc(k, shape)
		mean, std := dist(k, shape)
		for i := range v {
			v[i] = float32(mean + std*r.NormFloat64())
		}
		if done != nil {
			done(k, v, shape)
		}
	}
}
