package eval

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"

	"plp/kernels/cpu"
)

// headLogits returns x·Wᵀ + b ([n, classes]) in float32, as nn.Linear computes it, for features x
// ([n, dim]) and a head w ([classes, dim]), b ([classes]).
func headLogits(x []float32, n, dim int, w, b []float32, classes int) []float32 {
	out := make([]float32, n*classes)
	for i := 0; i < n; i++ {
		copy(out[i*classes:(i+1)*classes], b)
	}
	if n > 0 {
		cpu.Sgemm(false, true, n, classes, dim, 1, x, dim, w, dim, 1, out, classes)
	}
	return out
}

// logSumExpRows returns the energy score logsumexp(row) of each row of logits ([n, classes]), computed
// in float64 and rounded to float32 like torch.logsumexp on float32 logits.
func logSumExpRows(logits []float32, classes int) []float32 {
	n := len(logits) / classes
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(logSumExp(logits[i*classes : (i+1)*classes]))
	}
	return out
}

func logSumExp(row []float32) float64 {
	m := float64(maxOf(row))
	if math.IsInf(m, 0) {
		return m
	}
	s := 0.0
	for _, v := range row {
		s += math.Exp(float64(v) - m)
	}
	return m + math.Log(s)
}

// softmaxRow writes the softmax of a float32 row, computed in float64 and rounded to float32.
func softmaxRow(dst, row []float32) {
	m := float64(maxOf(row))
	s := 0.0
	for _, v := range row {
		s += math.Exp(float64(v) - m)
	}
	for j, v := range row {
		dst[j] = float32(math.Exp(float64(v)-m) / s)
	}
}

// columnMean32 returns the mean of the rows of x ([n, dim]) as numpy's float32 mean(axis=0) computes
// it: a running float32 sum down each column, divided by n in float32.
func columnMean32(x []float32, n, dim int) []float32 {
	sum := make([]float32, dim)
	for i := 0; i < n; i++ {
		for j, v := range x[i*dim : (i+1)*dim] {
			sum[j] += v
		}
	}
	for j := range sum {
		sum[j] /= float32(n)
	}
	return sum
}

// widen32 converts float32 scores to float64.
func widen32(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// workers is the number of goroutines parallel loops use.
func workers() int { return runtime.GOMAXPROCS(0) }

// parallelRows runs f(0..n-1) on GOMAXPROCS goroutines, each taking contiguous blocks of rows.
func parallelRows(n int, f func(i int)) {
	const block = 64
	w := min(workers(), (n+block-1)/block)
	if w <= 1 {
		for i := 0; i < n; i++ {
			f(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range w {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				lo := int(next.Add(block)) - block
				if lo >= n {
					return
				}
				for i := lo; i < min(lo+block, n); i++ {
					f(i)
				}
			}
		}()
	}
	wg.Wait()
}

// allFinite reports the first non-finite value of a row-major matrix, as finite does, but tests the
// exponent bits of eight values at a time: the training features of every method are checked.
func allFinite(x []float32, dim int, what string) error {
	const exp = 0x7f800000
	i := 0
	for ; i+8 <= len(x); i += 8 {
		v := x[i : i+8 : i+8]
		if math.Float32bits(v[0])&exp == exp || math.Float32bits(v[1])&exp == exp ||
			math.Float32bits(v[2])&exp == exp || math.Float32bits(v[3])&exp == exp ||
			math.Float32bits(v[4])&exp == exp || math.Float32bits(v[5])&exp == exp ||
			math.Float32bits(v[6])&exp == exp || math.Float32bits(v[7])&exp == exp {
			break
		}
	}
	for ; i < len(x); i++ {
		if math.Float32bits(x[i])&exp == exp {
			return fmt.Errorf("eval: %s %d has a non-finite value (%v) at column %d", what, i/dim, x[i], i%dim)
		}
	}
	return nil
}
