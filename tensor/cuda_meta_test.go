package tensor

import (
	"math/rand/v2"
	"testing"
)

// emulateStrided runs plp_copy's index arithmetic on the host: for i < prod(dims), dst[dstOff(i)] =
// src[srcOff(i)] with the offsets decoded from the kernel words exactly as the PTX does.
func emulateStrided(meta []uint32, n int, src, dst []float32, binary bool) {
	for i := 0; i < n; i++ {
		rem, so, do := uint32(i), uint32(0), uint32(0)
		remD := uint32(i)
		for d := 0; d < maxKernelRank; d++ {
			c := rem % meta[d]
			rem /= meta[d]
			so += c * meta[maxKernelRank+d]
			if !binary {
				cd := remD % meta[d]
				remD /= meta[d]
				do += cd * meta[2*maxKernelRank+d]
			}
		}
		if binary {
			dst[i] = src[so]
		} else {
			dst[do] = src[so]
		}
	}
}

// TestStridedMetaMatchesCPU checks the word layout the CUDA backend gives plp_copy and plp_binary against
// the CPU backend's Permute and broadcasting, by running the kernels' index arithmetic on the host.
func TestStridedMetaMatchesCPU(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	rnd := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
		return v
	}
	for _, c := range []struct {
		shape []int
		perm  []int
	}{
		{[]int{2, 3, 4, 5}, []int{0, 2, 1, 3}},
		{[]int{2, 5, 3, 4, 8}, []int{2, 0, 3, 1, 4}}, // ViT qkv split: [B,N,3,H,hd] -> [3,B,H,N,hd]
		{[]int{2, 3, 4, 5, 6, 7, 2}, []int{6, 5, 4, 3, 2, 1, 0}},
		{[]int{1, 3, 1, 4}, []int{3, 1, 2, 0}},
	} {
		x := CPU{}.FromHost(rnd(Numel(c.shape)), c.shape...)
		want := host(CPU{}.Permute(x, c.perm...))
		in := contiguousStrides(c.shape)
		outShape, src := make([]int, len(c.shape)), make([]int, len(c.shape))
		for i, p := range c.perm {
			outShape[i], src[i] = c.shape[p], in[p]
		}
		meta, ok := stridedMeta(outShape, src, contiguousStrides(outShape))
		if !ok {
			if len(c.shape) <= maxKernelRank {
				t.Errorf("Permute %v %v: no meta", c.shape, c.perm)
			}
			continue
		}
		got := make([]float32, len(want))
		emulateStrided(meta, len(want), host(x), got, false)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("Permute %v %v: element %d = %v, want %v", c.shape, c.perm, i, got[i], want[i])
			}
		}
	}
	for _, c := range []struct{ a, b []int }{
		{[]int{2, 3, 4}, []int{4}},
		{[]int{2, 3, 4}, []int{3, 1}},
		{[]int{2, 3, 4}, []int{2, 1, 4}},
		{[]int{5, 6, 7, 8}, []int{6, 1, 1}},
		{[]int{2, 3, 4}, []int{2, 3, 4}},
		{[]int{2, 3, 4}, []int{1}},
	} {
		a := CPU{}.FromHost(rnd(Numel(c.a)), c.a...)
		b := CPU{}.FromHost(rnd(Numel(c.b)), c.b...)
		want := host(CPU{}.Sub(a, b))
		p := planBroadcast("Sub", c.a, c.b)
		meta, ok := stridedMeta(c.a, p.bStrides)
		if !ok {
			t.Fatalf("broadcast %v onto %v: no meta", c.b, c.a)
		}
		bExp := make([]float32, len(want))
		emulateStrided(meta, len(want), host(b), bExp, true)
		for i, av := range host(a) {
			if got := av - bExp[i]; got != want[i] {
				t.Fatalf("Sub %v - %v: element %d = %v, want %v", c.a, c.b, i, got, want[i])
			}
		}
	}
}
