package serve

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSoak serves the test world for PLP_SERVE_SOAK (e.g. 10m; skipped when unset) to 8 loopback clients
// sending good and hostile requests at about 20 requests/s each, and samples the live heap (after a
// collection) and the resident set every 30 s. After a warm-up of a fifth of the run, the peaks of the
// second half may not exceed those of the first by more than 5% (or 2 MiB, for a heap so small that 5%
// is less than the requests in flight at one instant hold).
//
//	PLP_SERVE_SOAK=10m go test ./serve -run TestSoak -v -timeout 20m
func TestSoak(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv("PLP_SERVE_SOAK"))
	if err != nil || d <= 0 {
		t.Skip("set PLP_SERVE_SOAK to a duration to run the soak test")
	}
	w := testWorld(t)
	s, _ := newTestServer(t, Options{MaxBatch: 8, MaxPixels: 1 << 20}, allMethods...)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := s.HTTPServer(ln.Addr().String())
	go hs.Serve(ln)
	defer hs.Shutdown(context.Background())
	url := "http://" + ln.Addr().String() + "/v1/score"
	c := &http.Client{Timeout: 30 * time.Second}
	bad := hostile(w)

	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	sent := 0
	for cl := 0; cl < 8; cl++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(50 * time.Millisecond)
			defer tick.Stop()
			for k := cl; ctx.Err() == nil; k += 8 {
				if k%5 == 4 {
					h := bad[k%len(bad)]
					if code, _, _ := post(t, c, url, h.ctype, h.body); code != h.status {
						t.Errorf("%s: %d, want %d", h.name, code, h.status)
					}
				} else {
					i := k % len(w.png["CIFAR10"])
					code, a, _ := post(t, c, url, "image/png", w.png["CIFAR10"][i])
					if code != 200 {
						t.Errorf("good image: %d %+v", code, a)
					} else {
						checkScores(t, w, "CIFAR10", i, a.Results[0].Scores)
					}
				}
				mu.Lock()
				sent++
				mu.Unlock()
				select {
				case <-tick.C:
				case <-ctx.Done():
				}
			}
		}()
	}
	type sample struct {
		at        time.Duration
		heap, rss uint64
	}
	var samples []sample
	start := time.Now()
	every := min(30*time.Second, d/10)
	for tk := time.NewTicker(every); ctx.Err() == nil; {
		select {
		case <-tk.C:
		case <-ctx.Done():
			continue
		}
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		smp := sample{time.Since(start).Round(time.Second), ms.HeapAlloc, rss()}
		samples = append(samples, smp)
		mu.Lock()
		t.Logf("%v: %d requests, live heap %s, RSS %s, goroutines %d", smp.at, sent, mib(smp.heap), mib(smp.rss), runtime.NumGoroutine())
		mu.Unlock()
	}
	wg.Wait()
	// Compare the peaks of the first and second halves after the warm-up: single samples move with the
	// requests in flight at that instant.
	var steady []sample
	for _, smp := range samples {
		if smp.at >= d/5 {
			steady = append(steady, smp)
		}
	}
	if len(steady) < 4 {
		t.Fatalf("too few samples (%d after the warm-up) for a run of %v", len(steady), d)
	}
	peak := func(ss []sample) (heap, rss uint64) {
		for _, smp := range ss {
			heap, rss = max(heap, smp.heap), max(rss, smp.rss)
		}
		return heap, rss
	}
	h1, r1 := peak(steady[:len(steady)/2])
	h2, r2 := peak(steady[len(steady)/2:])
	grew := func(from, to uint64) bool { return float64(to) > max(1.05*float64(from), float64(from)+2<<20) }
	if grew(h1, h2) {
		t.Errorf("peak live heap grew from %s to %s", mib(h1), mib(h2))
	}
	if grew(r1, r2) {
		t.Errorf("peak RSS grew from %s to %s", mib(r1), mib(r2))
	}
	t.Logf("peaks after the warm-up, first half → second half: live heap %s → %s, RSS %s → %s", mib(h1), mib(h2), mib(r1), mib(r2))
}

// rss is the resident set size from /proc/self/status (0 where there is none).
func rss() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
