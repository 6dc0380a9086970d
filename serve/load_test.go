package serve

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestLoad runs many concurrent loopback clients against a real listener with a mix of good images (raw,
// multipart, JSON) and hostile requests, in two rounds. Every request must be answered (none lost), every
// good image's scores must equal plp eval's, every hostile request must get its 4xx, and neither
// goroutines nor the live heap may grow from the first round to the second.
func TestLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	w := testWorld(t)
	const clients, perClient = 24, 12
	s, _ := newTestServer(t, Options{MaxBatch: 8, MaxQueue: 4 * clients, MaxPixels: 1 << 20})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := s.HTTPServer(ln.Addr().String())
	go hs.Serve(ln)
	defer hs.Shutdown(context.Background())
	url := "http://" + ln.Addr().String() + "/v1/score"
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	c := &http.Client{Transport: tr, Timeout: 60 * time.Second}
	bad := hostile(w)
	ids := w.png["CIFAR10"]

	round := func() (sent, answered int64) {
		var wg sync.WaitGroup
		var nSent, nAnswered atomic.Int64
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		for cl := 0; cl < clients; cl++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for r := 0; r < perClient && ctx.Err() == nil; r++ {
					k := cl*perClient + r
					nSent.Add(1)
					switch k % 4 {
					case 0, 1: // one raw image
						i := k % len(ids)
						code, a, _ := post(t, c, url, "image/png", ids[i])
						if code != 200 || len(a.Results) != 1 || a.Results[0].Error != "" {
							t.Errorf("raw %d: %d %+v", i, code, a)
						} else {
							checkScores(t, w, "CIFAR10", i, a.Results[0].Scores)
						}
					case 2: // three images, as multipart or JSON, with a bad one in the middle
						i := k % (len(ids) - 2)
						files := [][]byte{ids[i], []byte("junk"), ids[i+2]}
						body, ct := multipartBody(t, files)
						if k%8 == 6 {
							body, ct = jsonBody(files), "application/json"
						}
						code, a, _ := post(t, c, url, ct, body)
						if code != 200 || len(a.Results) != 3 || a.Results[1].Error == "" {
							t.Errorf("batch %d: %d %+v", i, code, a)
						} else {
							checkScores(t, w, "CIFAR10", i, a.Results[0].Scores)
							checkScores(t, w, "CIFAR10", i+2, a.Results[2].Scores)
						}
					case 3: // hostile
						h := bad[k%len(bad)]
						code, a, _ := post(t, c, url, h.ctype, h.body)
						if code != h.status || a.Error == "" {
							t.Errorf("%s: %d %+v, want %d", h.name, code, a, h.status)
						}
					}
					nAnswered.Add(1)
				}
			}()
		}
		wg.Wait()
		return nSent.Load(), nAnswered.Load()
	}
	live := func() (int, uint64) {
		tr.CloseIdleConnections()
		var ms runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return runtime.NumGoroutine(), ms.HeapAlloc
	}
	sent, answered := round()
	if sent != answered || sent != clients*perClient {
		t.Fatalf("round 1: %d requests sent, %d answered, want %d", sent, answered, clients*perClient)
	}
	g1, h1 := live()
	sent, answered = round()
	if sent != answered || sent != clients*perClient {
		t.Fatalf("round 2: %d requests sent, %d answered, want %d", sent, answered, clients*perClient)
	}
	tr.CloseIdleConnections()
	g2 := goroutines(g1)
	_, h2 := live()
	if g2 > g1 {
		t.Errorf("goroutines grew from %d to %d", g1, g2)
	}
	if float64(h2) > 1.05*float64(h1)+512<<10 {
		t.Errorf("live heap grew from %d to %d bytes", h1, h2)
	}
	if d := s.queueDepth(); d != 0 {
		t.Errorf("queue depth %d after the load", d)
	}
	t.Logf("%d requests per round; goroutines %d → %d; live heap %s → %s", sent, g1, g2, mib(h1), mib(h2))
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
