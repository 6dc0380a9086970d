package serve

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"plp/data"
	"plp/tensor"
	"plp/zoo"
)

// The benchmarks serve PLP_SERVE_BENCH_MODEL (a registry name, random weights; default the tiny fixture
// model) on PLP_SERVE_BENCH_DEVICE (default cpu) with --max-batch benchBatch, fed 224×224 JPEGs. Compare
// BenchmarkServe16Clients with BenchmarkEncoder/batch16 (the encoder alone, as `plp bench --model`), and
// BenchmarkServeLatency with BenchmarkEncoder/batch1.
const benchBatch = 16

type benchSetup struct {
	enc  data.Encoder
	srv  *Server
	hs   *httptest.Server
	jpgs [][]byte
}

var (
	benchOnce sync.Once
	bench     benchSetup
	benchErr  error
)

func benchServer(b *testing.B) *benchSetup {
	b.Helper()
	benchOnce.Do(func() { benchErr = bench.build() })
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return &bench
}

func (s *benchSetup) build() error {
	name := os.Getenv("PLP_SERVE_BENCH_MODEL")
	if name == "" {
		name = tinyManifest
	}
	dev := os.Getenv("PLP_SERVE_BENCH_DEVICE")
	if dev == "" {
		dev = "cpu"
	}
	be, _, err := tensor.ParseDevice(dev)
	if err != nil {
		return err
	}
	spec, err := zoo.Resolve(name)
	if err != nil {
		return err
	}
	m, err := zoo.NewRandomParts(spec, be, 0, zoo.ImageTower)
	if err != nil {
		return err
	}
	tr, err := data.ModelTransform(spec)
	if err != nil {
		return err
	}
	enc, err := data.NewModelEncoder(m)
	if err != nil {
		return err
	}
	s.enc = enc
	// Statistics and head do not affect the speed: random embeddings and a random 10-class head.
	r := rand.New(rand.NewPCG(1, 2))
	d := enc.Dim()
	emb := func(n int) *data.Embeddings {
		e := &data.Embeddings{N: n, D: d, X: make([]float32, n*d), Labels: make([]int64, n)}
		for i := range e.X {
			e.X[i] = float32(r.NormFloat64())
		}
		for i := range e.Labels {
			e.Labels[i] = int64(i % 10)
		}
		e.Mean, e.Std = data.Stats(e.X, n, d)
		return e
	}
	w := make([]float32, 10*d)
	for i := range w {
		w[i] = float32(r.NormFloat64()) / 30
	}
	head := &Head{Classes: numbered(10), Logits: func(x []float32, n, dim int) ([]float32, error) {
		out := make([]float32, n*10)
		for i := 0; i < n; i++ {
			for c := 0; c < 10; c++ {
				var s float32
				for j := 0; j < dim; j++ {
					s += x[i*dim+j] * w[c*dim+j]
				}
				out[i*10+c] = s
			}
		}
		return out, nil
	}}
	det, err := NewDetector(DetectorConfig{Head: head, Train: emb(200), Calib: emb(100)})
	if err != nil {
		return err
	}
	if s.srv, err = New(enc, tr, det, Options{MaxBatch: benchBatch, MaxQueue: 4 * benchBatch, Logger: log.New(io.Discard, "", 0)}); err != nil {
		return err
	}
	if err := s.srv.WaitReady(context.Background()); err != nil {
		return err
	}
	s.hs = httptest.NewServer(s.srv.Handler())
	// 224×224 JPEGs of smooth colour fields with noise, quality 90: photo-like decoding work.
	for k := 0; k < 32; k++ {
		img := image.NewRGBA(image.Rect(0, 0, 224, 224))
		for y := 0; y < 224; y++ {
			for x := 0; x < 224; x++ {
				n := uint8(r.IntN(24))
				img.Set(x, y, color.RGBA{uint8(x+k*7) + n, uint8(y*k) + n, uint8((x+y)/2) + n, 255})
			}
		}
		var buf bytes.Buffer
		if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
			return err
		}
		s.jpgs = append(s.jpgs, buf.Bytes())
	}
	return nil
}

// BenchmarkEncoder is the encoder alone on preprocessed images: the ceiling the server is measured against.
func BenchmarkEncoder(b *testing.B) {
	s := benchServer(b)
	for _, n := range []int{1, benchBatch} {
		b.Run("batch"+strconv.Itoa(n), func(b *testing.B) {
			side := s.enc.ImageSize()
			x := make([]float32, n*3*side*side)
			for b.Loop() {
				if _, err := s.enc.Encode(x, n); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "images/s")
		})
	}
}

// BenchmarkServe16Clients sends one JPEG per request from 16 concurrent loopback clients; an op is one
// image.
func BenchmarkServe16Clients(b *testing.B) {
	s := benchServer(b)
	var next atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	for c := 0; c < 16; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				if err := benchPost(s, s.jpgs[i%int64(len(s.jpgs))]); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "images/s")
}

// BenchmarkServeLatency is one request at a time on an otherwise idle server.
func BenchmarkServeLatency(b *testing.B) {
	s := benchServer(b)
	for i := 0; b.Loop(); i++ {
		if err := benchPost(s, s.jpgs[i%len(s.jpgs)]); err != nil {
			b.Fatal(err)
		}
	}
}

func benchPost(s *benchSetup, img []byte) error {
	resp, err := s.hs.Client().Post(s.hs.URL+"/v1/score", "image/jpeg", bytes.NewReader(img))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return &apiError{status: resp.StatusCode, msg: string(b)}
	}
	return nil
}
