package serve

import (
	"bytes"
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"plp/data"
)

// gatedEncoder wraps the real encoder: each forward pass waits for hold to be released, records its batch
// size, and panics while panicking is set.
type gatedEncoder struct {
	data.Encoder
	hold    sync.RWMutex
	panicky atomic.Bool
	mu      sync.Mutex
	sizes   []int
	started chan int
}

func (g *gatedEncoder) Encode(x []float32, n int) ([]float32, error) {
	if g.started != nil {
		select {
		case g.started <- n:
		default:
		}
	}
	g.hold.RLock()
	defer g.hold.RUnlock()
	g.mu.Lock()
	g.sizes = append(g.sizes, n)
	g.mu.Unlock()
	if g.panicky.Load() {
		panic("encoder exploded")
	}
	return g.Encoder.Encode(x, n)
}

func gatedServer(t *testing.T, opt Options) (*Server, *httptest.Server, *gatedEncoder) {
	t.Helper()
	w := testWorld(t)
	l, err := Load(Setup{Probe: w.probe, Embeds: w.embeds, Detector: DetectorConfig{Methods: allMethods, KNNK: testK}})
	if err != nil {
		t.Fatal(err)
	}
	g := &gatedEncoder{Encoder: l.Encoder, started: make(chan int, 64)}
	if opt.Logger == nil {
		opt.Logger = log.New(io.Discard, "", 0)
	}
	s, err := New(g, l.Transform, l.Detector, opt)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	<-g.started // the warm-up pass
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		hs.Close()
		s.Close()
	})
	return s, hs, g
}

// TestBatching holds the encoder on one image while 12 more requests arrive: they must be answered in
// batches of at most MaxBatch, fewer passes than requests, with the right scores.
func TestBatching(t *testing.T) {
	w := testWorld(t)
	_, hs, g := gatedServer(t, Options{MaxBatch: 5, MaxWait: 50 * time.Millisecond})
	g.hold.Lock()
	var wg sync.WaitGroup
	answers := make([]scoreAnswer, 13)
	codes := make([]int, 13)
	send := func(i int) {
		defer wg.Done()
		codes[i], answers[i], _ = post(t, hs.Client(), hs.URL+"/v1/score", "image/png", w.png["CIFAR10"][i])
	}
	wg.Add(1)
	go send(0)
	<-g.started // image 0 is in the encoder
	for i := 1; i < 13; i++ {
		wg.Add(1)
		go send(i)
	}
	// Wait until all 12 are admitted and queued behind the held pass.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if d := hsQueue(t, hs); d == 13 {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	g.hold.Unlock()
	wg.Wait()
	for i := range answers {
		if codes[i] != 200 || answers[i].Results[0].Error != "" {
			t.Fatalf("[%d]: %d %+v", i, codes[i], answers[i])
		}
		checkScores(t, w, "CIFAR10", i, answers[i].Results[0].Scores)
	}
	g.mu.Lock()
	sizes := g.sizes[1:] // after the warm-up
	g.mu.Unlock()
	total := 0
	for _, n := range sizes {
		if n > 5 {
			t.Errorf("batch of %d exceeds MaxBatch 5", n)
		}
		total += n
	}
	if total != 13 || len(sizes) > 4 {
		t.Errorf("batches %v: want 13 images in at most 4 passes (1 + 5 + 5 + 2)", sizes)
	}
}

// hsQueue reads the queue depth gauge.
func hsQueue(t *testing.T, hs *httptest.Server) int {
	resp, err := hs.Client().Get(hs.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	i := bytes.Index(b, []byte("\nplp_serve_queue_depth "))
	if i < 0 {
		t.Fatalf("no queue depth in %s", b)
	}
	var d int
	rest := b[i+len("\nplp_serve_queue_depth "):]
	for _, c := range rest {
		if c < '0' || c > '9' {
			break
		}
		d = 10*d + int(c-'0')
	}
	return d
}

// TestQueueFullAndTimeout fills the queue behind a held encoder: the next request gets 429 at once, a
// queued one with a short timeout gets 503, and everything admitted is answered once the encoder runs.
func TestQueueFullAndTimeout(t *testing.T) {
	w := testWorld(t)
	_, hs, g := gatedServer(t, Options{MaxBatch: 2, MaxQueue: 3, RequestTimeout: 300 * time.Millisecond})
	g.hold.Lock()
	var wg sync.WaitGroup
	codes := make([]int, 3)
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			codes[i], _, _ = post(t, hs.Client(), hs.URL+"/v1/score", "image/png", w.png["CIFAR10"][i])
		}()
	}
	for d := 0; d != 3; d = hsQueue(t, hs) {
		time.Sleep(time.Millisecond)
	}
	code, a, hdr := post(t, hs.Client(), hs.URL+"/v1/score", "image/png", w.png["CIFAR10"][3])
	if code != http.StatusTooManyRequests || a.Error == "" || hdr.Get("Retry-After") == "" {
		t.Errorf("full queue: %d %+v %v", code, a, hdr)
	}
	wg.Wait() // the held requests time out
	for i, c := range codes {
		if c != http.StatusServiceUnavailable {
			t.Errorf("held request %d: %d, want 503 (timeout)", i, c)
		}
	}
	g.hold.Unlock()
	// The abandoned images leave the queue; then the server answers again.
	deadline := time.Now().Add(10 * time.Second)
	for hsQueue(t, hs) != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if code, a, _ := post(t, hs.Client(), hs.URL+"/v1/score", "image/png", w.png["CIFAR10"][0]); code != 200 {
		t.Errorf("after the queue drained: %d %+v", code, a)
	}
}

// TestPanicDoesNotKill makes the encoder panic: the request gets a 500 JSON error and the next one is
// answered.
func TestPanicDoesNotKill(t *testing.T) {
	w := testWorld(t)
	_, hs, g := gatedServer(t, Options{})
	g.panicky.Store(true)
	code, a, _ := post(t, hs.Client(), hs.URL+"/v1/score", "image/png", w.png["CIFAR10"][0])
	if code != http.StatusInternalServerError || a.Error == "" {
		t.Errorf("panicking encoder: %d %+v", code, a)
	}
	g.panicky.Store(false)
	code, a, _ = post(t, hs.Client(), hs.URL+"/v1/score", "image/png", w.png["CIFAR10"][0])
	if code != 200 {
		t.Fatalf("after a panic: %d %+v", code, a)
	}
	checkScores(t, w, "CIFAR10", 0, a.Results[0].Scores)
}

// TestReadiness holds the warm-up pass: /healthz answers at once, /readyz and /v1/score say 503 until the
// model has run once.
func TestReadiness(t *testing.T) {
	w := testWorld(t)
	l, err := Load(Setup{Probe: w.probe, Embeds: w.embeds})
	if err != nil {
		t.Fatal(err)
	}
	g := &gatedEncoder{Encoder: l.Encoder}
	g.hold.Lock()
	s, err := New(g, l.Transform, l.Detector, Options{Logger: log.New(io.Discard, "", 0)})
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	defer func() { hs.Close(); s.Close() }()
	get := func(p string) int {
		resp, err := hs.Client().Get(hs.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if get("/healthz") != 200 || get("/readyz") != 503 {
		t.Errorf("while warming up: healthz %d, readyz %d", get("/healthz"), get("/readyz"))
	}
	if code, _, _ := post(t, hs.Client(), hs.URL+"/v1/score", "image/png", w.png["CIFAR10"][0]); code != 503 {
		t.Errorf("score while warming up: %d", code)
	}
	g.hold.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if get("/readyz") != 200 {
		t.Errorf("readyz after warm-up: %d", get("/readyz"))
	}
}

// TestGracefulShutdown cancels Serve's context while a request is in the encoder: the request is still
// answered, Serve returns nil, and new connections are refused.
func TestGracefulShutdown(t *testing.T) {
	w := testWorld(t)
	l, err := Load(Setup{Probe: w.probe, Embeds: w.embeds})
	if err != nil {
		t.Fatal(err)
	}
	g := &gatedEncoder{Encoder: l.Encoder, started: make(chan int, 1)}
	s, err := New(g, l.Transform, l.Detector, Options{Logger: log.New(io.Discard, "", 0)})
	if err != nil {
		t.Fatal(err)
	}
	<-g.started
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln, 10*time.Second) }()
	url := "http://" + ln.Addr().String()
	if err := s.WaitReady(context.Background()); err != nil {
		t.Fatal(err)
	}
	g.hold.Lock()
	done := make(chan int, 1)
	go func() {
		code, _, _ := post(t, http.DefaultClient, url+"/v1/score", "image/png", w.png["CIFAR10"][0])
		done <- code
	}()
	<-g.started
	stop()
	time.Sleep(50 * time.Millisecond) // Shutdown has closed the listener and waits for the request
	g.hold.Unlock()
	if code := <-done; code != 200 {
		t.Errorf("in-flight request during shutdown: %d", code)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return")
	}
	if _, err := http.Get(url + "/healthz"); err == nil {
		t.Error("the server still accepts connections after shutdown")
	}
	if err := s.admit(1); err == nil {
		t.Error("Close left the server admitting images")
	} else if st, _ := statusOf(err); st != http.StatusServiceUnavailable {
		t.Errorf("admit after Close: %v", err)
	}
}

// goroutines waits for the count to fall to at most want (finished handlers and idle connections take a
// moment to exit) and returns the last count.
func goroutines(want int) int {
	n := runtime.NumGoroutine()
	for i := 0; i < 200 && n > want; i++ {
		time.Sleep(10 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	return n
}

// TestHTTPServerTimeouts checks that slow or idle clients cannot hold a connection for ever.
func TestHTTPServerTimeouts(t *testing.T) {
	s := stubServer(t, Options{RequestTimeout: 7 * time.Second})
	hs := s.HTTPServer("127.0.0.1:0")
	if hs.ReadHeaderTimeout <= 0 || hs.ReadTimeout < 7*time.Second || hs.WriteTimeout < 7*time.Second || hs.IdleTimeout <= 0 || hs.MaxHeaderBytes <= 0 {
		t.Errorf("timeouts: header %v, read %v, write %v, idle %v, max header %d", hs.ReadHeaderTimeout, hs.ReadTimeout, hs.WriteTimeout, hs.IdleTimeout, hs.MaxHeaderBytes)
	}
}
