package eval

import (
	"flag"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"
)

// The default benchmark size is the paper's CIFAR scale with a ViT-L embedding: 50 000 training and
// 10 000 test embeddings of 1024 dimensions, 100 classes. Smaller runs: -eval.dim 256 and so on.
var (
	benchTrain   = flag.Int("eval.train", 50000, "benchmark training embeddings")
	benchTest    = flag.Int("eval.test", 10000, "benchmark test embeddings")
	benchDim     = flag.Int("eval.dim", 1024, "benchmark embedding dimension")
	benchClasses = flag.Int("eval.classes", 100, "benchmark classes")
)

// cpuTime is the process's user+system CPU time. The benchmarks report it per operation because wall
// time on a shared machine also counts other processes.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric((cpuTime()-start).Seconds()/float64(b.N), "cpu-s/op")
}

// benchData returns Gaussian class clusters: train rows with labels, and test rows.
func benchData(b *testing.B) (train []float32, labels []int64, test []float32) {
	b.Helper()
	n, m, d, c := *benchTrain, *benchTest, *benchDim, *benchClasses
	rng := rand.New(rand.NewPCG(7, 11))
	means := make([]float32, c*d)
	for i := range means {
		means[i] = float32(rng.NormFloat64()) * 2
	}
	sample := func(rows int, labels []int64) []float32 {
		x := make([]float32, rows*d)
		for i := 0; i < rows; i++ {
			y := rng.IntN(c)
			if labels != nil {
				labels[i] = int64(y)
			}
			for j := 0; j < d; j++ {
				x[i*d+j] = means[y*d+j] + float32(rng.NormFloat64())
			}
		}
		return x
	}
	labels = make([]int64, n)
	train = sample(n, labels)
	test = sample(m, nil)
	return train, labels, test
}

// BenchmarkKNN scores the test set with k = 1 and 10 against the training set, normalisation included.
func BenchmarkKNN(b *testing.B) {
	train, _, test := benchData(b)
	b.ResetTimer()
	defer reportCPU(b, cpuTime())
	for i := 0; i < b.N; i++ {
		knn, err := NewKNN(train, *benchDim)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := knn.Scores(test, []int{1, 10}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMahalanobis fits the class statistics on the training set and scores the test set (both the
// plain and the relative score).
func BenchmarkMahalanobis(b *testing.B) {
	train, labels, test := benchData(b)
	b.ResetTimer()
	defer reportCPU(b, cpuTime())
	for i := 0; i < b.N; i++ {
		m, err := FitMahalanobis(train, *benchDim, labels, *benchClasses)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := m.Scores(test); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMetrics computes all four metrics for 10 000 ID against 10 000 OOD scores.
func BenchmarkMetrics(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 5))
	id, ood := make([]float32, 10000), make([]float32, 10000)
	for i := range id {
		id[i] = float32(rng.NormFloat64() + 1)
		ood[i] = float32(rng.NormFloat64())
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Compute(id, ood); err != nil {
			b.Fatal(err)
		}
	}
}
