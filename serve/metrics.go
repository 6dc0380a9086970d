package serve

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// metrics are the server's counters, written in the Prometheus text exposition format (version 0.0.4).
type metrics struct {
	mu       sync.Mutex
	requests map[[2]string]uint64 // (handler, code) → count
	errors   map[string]uint64    // error kind → count
	latency  map[string]*histogram
	batch    *histogram
	images   atomic.Uint64
	queue    func() int // images admitted and not yet answered
	encode   *histogram
}

// histogram is a cumulative Prometheus histogram with fixed upper bounds.
type histogram struct {
	bounds []float64
	counts []uint64 // per bucket, not cumulative; the last is +Inf
	sum    float64
	n      uint64
}

func newHistogram(bounds []float64) *histogram {
	return &histogram{bounds: bounds, counts: make([]uint64, len(bounds)+1)}
}

func (h *histogram) observe(v float64) {
	i := sort.SearchFloat64s(h.bounds, v) // first bound >= v: Prometheus buckets are le
	h.counts[i]++
	h.sum += v
	h.n++
}

var latencyBounds = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

func newMetrics(queue func() int, maxBatch int) *metrics {
	var bb []float64
	for b := 1; b < maxBatch; b *= 2 {
		bb = append(bb, float64(b))
	}
	bb = append(bb, float64(maxBatch))
	return &metrics{requests: map[[2]string]uint64{}, errors: map[string]uint64{}, latency: map[string]*histogram{},
		batch: newHistogram(bb), encode: newHistogram(latencyBounds), queue: queue}
}

func (m *metrics) request(handler string, code int, seconds float64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests[[2]string{handler, strconv.Itoa(code)}]++
	h := m.latency[handler]
	if h == nil {
		h = newHistogram(latencyBounds)
		m.latency[handler] = h
	}
	h.observe(seconds)
}

func (m *metrics) error(kind string) {
	m.mu.Lock()
	m.errors[kind]++
	m.mu.Unlock()
}

func (m *metrics) batchDone(n int, seconds float64) {
	m.mu.Lock()
	m.batch.observe(float64(n))
	m.encode.observe(seconds)
	m.mu.Unlock()
	m.images.Add(uint64(n))
}

// write renders every metric; series are sorted so that the output is stable.
func (m *metrics) write(w io.Writer) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	var b strings.Builder
	header := func(name, typ, help string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	header("plp_serve_requests_total", "counter", "HTTP requests by handler and status code.")
	keys := make([][2]string, 0, len(m.requests))
	for k := range m.requests {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		return keys[i][0] < keys[j][0] || keys[i][0] == keys[j][0] && keys[i][1] < keys[j][1]
	})
	for _, k := range keys {
		fmt.Fprintf(&b, "plp_serve_requests_total{handler=%q,code=%q} %d\n", k[0], k[1], m.requests[k])
	}
	header("plp_serve_errors_total", "counter", "Failed requests and images by kind of error.")
	kinds := make([]string, 0, len(m.errors))
	for k := range m.errors {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		fmt.Fprintf(&b, "plp_serve_errors_total{kind=%q} %d\n", k, m.errors[k])
	}
	header("plp_serve_request_duration_seconds", "histogram", "Time from request to response, by handler.")
	handlers := make([]string, 0, len(m.latency))
	for h := range m.latency {
		handlers = append(handlers, h)
	}
	sort.Strings(handlers)
	for _, h := range handlers {
		m.latency[h].write(&b, "plp_serve_request_duration_seconds", fmt.Sprintf("handler=%q,", h))
	}
	header("plp_serve_batch_size", "histogram", "Images per encoder forward pass.")
	m.batch.write(&b, "plp_serve_batch_size", "")
	header("plp_serve_encode_duration_seconds", "histogram", "Time of one forward pass.")
	m.encode.write(&b, "plp_serve_encode_duration_seconds", "")
	header("plp_serve_images_total", "counter", "Images encoded.")
	fmt.Fprintf(&b, "plp_serve_images_total %d\n", m.images.Load())
	header("plp_serve_queue_depth", "gauge", "Images admitted (decoding or waiting for the encoder) and not yet answered.")
	fmt.Fprintf(&b, "plp_serve_queue_depth %d\n", m.queue())
	_, err := io.WriteString(w, b.String())
	return err
}

func (h *histogram) write(b *strings.Builder, name, labels string) {
	var cum uint64
	for i, le := range h.bounds {
		cum += h.counts[i]
		fmt.Fprintf(b, "%s_bucket{%sle=%q} %d\n", name, labels, formatFloat(le), cum)
	}
	cum += h.counts[len(h.bounds)]
	fmt.Fprintf(b, "%s_bucket{%sle=\"+Inf\"} %d\n", name, labels, cum)
	l := strings.TrimSuffix(labels, ",")
	if l != "" {
		l = "{" + l + "}"
	}
	fmt.Fprintf(b, "%s_sum%s %s\n%s_count%s %d\n", name, l, formatFloat(h.sum), name, l, h.n)
}

func formatFloat(v float64) string {
	if math.IsInf(v, 1) {
		return "+Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
