package serve

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"plp/weights"
)

//go:embed web/index.html openapi.yaml
var webFiles embed.FS

// paths are the server's routes, which openapi.yaml documents.
var paths = []string{"/", "/healthz", "/readyz", "/metrics", "/openapi.yaml", "/v1/info", "/v1/score", "/v1/embed"}

// result is one image's entry in a /v1/score or /v1/embed answer: a prediction (or an embedding), or an
// error.
type result struct {
	Top       []Class             `json:"top,omitempty"`
	Scores    map[string]Decision `json:"scores,omitempty"`
	Embedding []float32           `json:"embedding,omitempty"`
	Timings   map[string]float64  `json:"timings_ms,omitempty"`
	Batch     int                 `json:"batch_size,omitempty"`
	Error     string              `json:"error,omitempty"`

	status int    // of an error
	kind   string // of an error
}

type errorBody struct {
	Error string `json:"error"`
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/", s.handleIndex)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		if !s.Ready() {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "loading"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	mux.HandleFunc("/metrics", s.handleMetrics)
	mux.HandleFunc("/openapi.yaml", func(w http.ResponseWriter, r *http.Request) {
		if !s.only(w, r, http.MethodGet, http.MethodHead) {
			return
		}
		b, _ := webFiles.ReadFile("openapi.yaml")
		w.Header().Set("Content-Type", "application/yaml")
		w.Write(b)
	})
	mux.HandleFunc("/v1/info", s.handleInfo)
	mux.HandleFunc("/v1/score", func(w http.ResponseWriter, r *http.Request) { s.handleImages(w, r, false) })
	mux.HandleFunc("/v1/embed", func(w http.ResponseWriter, r *http.Request) { s.handleImages(w, r, true) })
	return s.instrument(mux)
}

// instrument counts every request and its latency, and turns a handler panic into a 500 answer.
func (s *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t0 := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.opt.Logger.Printf("serve: panic in %s %s: %v\n%s", r.Method, r.URL.Path, p, debug.Stack())
				s.met.error("panic")
				if !rec.wrote {
					writeJSON(rec, http.StatusInternalServerError, errorBody{"internal error"})
				}
			}
			s.met.request(handlerName(r.URL.Path), rec.code(), time.Since(t0).Seconds())
		}()
		next.ServeHTTP(rec, r)
	})
}

// handlerName bounds the label values of the request metrics.
func handlerName(path string) string {
	if slices.Contains(paths, path) {
		return path
	}
	return "other"
}

type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if !r.wrote {
		r.status, r.wrote = http.StatusOK, true
	}
	return r.ResponseWriter.Write(b)
}

func (r *statusRecorder) code() int {
	if !r.wrote {
		return http.StatusOK
	}
	return r.status
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal error: encoding the answer"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// fail answers a request-level error and counts it.
func (s *Server) fail(w http.ResponseWriter, err error) {
	status, kind := statusOf(err)
	s.met.error(kind)
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="plp"`)
	}
	msg := err.Error()
	if kind == "internal" {
		s.opt.Logger.Printf("serve: %v", err)
		msg = "internal error"
	}
	writeJSON(w, status, errorBody{msg})
}

func (s *Server) only(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	s.fail(w, errorf(http.StatusMethodNotAllowed, "method", "%s %s is not allowed: use %s", r.Method, r.URL.Path, strings.Join(methods, " or ")))
	return false
}

func (s *Server) handleIndex(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		s.fail(w, errorf(http.StatusNotFound, "not_found", "no such path %s", r.URL.Path))
		return
	}
	if !s.only(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	b, err := webFiles.ReadFile("web/index.html")
	if err != nil {
		s.fail(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' blob: data:")
	w.Write(b)
}

func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	if !s.only(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	if !s.authorized(r) {
		s.fail(w, errorf(http.StatusUnauthorized, "unauthorized", "missing or wrong bearer token"))
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	s.met.write(w)
}

// info is /v1/info: what the server computes, for clients and the web page.
type info struct {
	Model     string                 `json:"model,omitempty"`
	Embedding string                 `json:"embedding,omitempty"`
	Dim       int                    `json:"dim"`
	ImageSize int                    `json:"image_size"`
	Transform string                 `json:"transform"`
	Classes   []string               `json:"classes"`
	Methods   []string               `json:"methods"`
	Calib     map[string]Calibration `json:"calibration"`
	MaxBatch  int                    `json:"max_batch"`
	MaxImages int                    `json:"max_images"`
	MaxBytes  int64                  `json:"max_body_bytes"`
	MaxPixels int64                  `json:"max_pixels"`
}

func (s *Server) handleInfo(w http.ResponseWriter, r *http.Request) {
	if !s.only(w, r, http.MethodGet, http.MethodHead) {
		return
	}
	if !s.authorized(r) {
		s.fail(w, errorf(http.StatusUnauthorized, "unauthorized", "missing or wrong bearer token"))
		return
	}
	classes := s.det.Classes()
	if classes == nil {
		classes = []string{}
	}
	writeJSON(w, http.StatusOK, info{Model: s.opt.Model, Embedding: s.kind, Dim: s.det.Dim(), ImageSize: s.tr.Crop,
		Transform: s.tr.Name, Classes: classes, Methods: s.det.Methods(), Calib: s.det.Calibration(),
		MaxBatch: s.opt.MaxBatch, MaxImages: s.opt.MaxImages, MaxBytes: s.opt.MaxBodyBytes, MaxPixels: s.opt.MaxPixels})
}

// handleImages answers /v1/score and /v1/embed.
func (s *Server) handleImages(w http.ResponseWriter, r *http.Request, embed bool) {
	t0 := time.Now()
	if !s.only(w, r, http.MethodPost) {
		return
	}
	if !s.authorized(r) {
		s.fail(w, errorf(http.StatusUnauthorized, "unauthorized", "missing or wrong bearer token"))
		return
	}
	if !s.Ready() {
		s.fail(w, errorf(http.StatusServiceUnavailable, "not_ready", "the model is still loading"))
		return
	}
	if err := s.enter(); err != nil {
		s.fail(w, err)
		return
	}
	defer s.leave()
	ctx, cancel := context.WithTimeout(r.Context(), s.opt.RequestTimeout)
	defer cancel()
	r.Body = http.MaxBytesReader(w, r.Body, s.opt.MaxBodyBytes)
	ups, single, err := readUploads(r, s.opt.MaxImages)
	if err != nil {
		s.fail(w, err)
		return
	}
	if err := s.admit(len(ups)); err != nil {
		s.fail(w, err)
		return
	}
	res := s.process(ctx, ups, embed, t0)
	for _, x := range res {
		if x.Error != "" {
			s.met.error(x.kind)
		}
	}
	if single && res[0].Error != "" {
		if x := res[0]; x.status == http.StatusServiceUnavailable || x.status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
		}
		writeJSON(w, res[0].status, errorBody{res[0].Error})
		return
	}
	if embed && wantsSafetensors(r) {
		s.writeEmbeddings(w, res)
		return
	}
	out := struct {
		Results []result `json:"results"`
		Dim     int      `json:"dim,omitempty"`
	}{Results: res}
	if embed {
		out.Dim = s.det.Dim()
	}
	writeJSON(w, http.StatusOK, out)
}

// process decodes, preprocesses and queues every upload concurrently and collects the answers in order.
// The uploads have been admitted; each is released exactly once, here on failure before the queue, or by
// the batcher.
func (s *Server) process(ctx context.Context, ups []upload, embed bool, t0 time.Time) []result {
	out := make([]result, len(ups))
	var wg sync.WaitGroup
	for i, u := range ups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = s.one(ctx, u, embed, t0)
		}()
	}
	wg.Wait()
	return out
}

func (s *Server) one(ctx context.Context, u upload, embed bool, t0 time.Time) (res result) {
	failed := func(err error) result {
		status, kind := statusOf(err)
		msg := err.Error()
		if kind == "internal" {
			s.opt.Logger.Printf("serve: %s: %v", u.name, err)
			msg = "internal error"
		}
		return result{Error: msg, status: status, kind: kind}
	}
	queued := false
	defer func() {
		if p := recover(); p != nil {
			s.opt.Logger.Printf("serve: panic preprocessing %s: %v\n%s", u.name, p, debug.Stack())
			res = failed(errorf(http.StatusInternalServerError, "panic", "internal error"))
		}
		if !queued {
			s.decoding.Add(-1)
			s.release(1)
		}
	}()
	td := time.Now()
	pix, tp, err := s.preprocess(ctx, u)
	tq := time.Now()
	if err != nil {
		return failed(err)
	}
	it := &item{ctx: ctx, pix: *pix, embed: embed, res: make(chan itemResult, 1)}
	queued = true
	if err := s.enqueue(it); err != nil {
		s.release(1)
		s.pix.Put(pix)
		return failed(err)
	}
	var r itemResult
	select {
	case r = <-it.res:
	case <-ctx.Done():
		return failed(ctxError(ctx.Err()))
	}
	if r.err != nil {
		return failed(r.err)
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	res = result{Top: r.pred.Top, Scores: r.pred.Scores, Embedding: r.embed, Batch: r.batch, Timings: map[string]float64{
		"decode": ms(tp.Sub(td)), "preprocess": ms(tq.Sub(tp)), "queue": ms(r.queue), "encode": ms(r.encode), "score": ms(r.score),
		"total": ms(time.Since(t0)),
	}}
	return res
}

// preprocess decodes and transforms one upload into a pooled buffer, in one of the Workers decode slots;
// it returns when decoding ended, for the timings.
func (s *Server) preprocess(ctx context.Context, u upload) (*[]float32, time.Time, error) {
	select {
	case s.decode <- struct{}{}:
	case <-ctx.Done():
		return nil, time.Now(), ctxError(ctx.Err())
	}
	defer func() { <-s.decode }()
	img, err := decodeImage(u, s.opt.MaxPixels)
	tp := time.Now()
	if err != nil {
		return nil, tp, err
	}
	pix := s.pix.Get().(*[]float32)
	if err := s.tr.ApplyInto(img, *pix); err != nil {
		s.pix.Put(pix)
		return nil, tp, errorf(http.StatusBadRequest, "undecodable", "%s: preprocessing: %v", u.name, err)
	}
	return pix, tp, nil
}

func wantsSafetensors(r *http.Request) bool {
	a := r.Header.Get("Accept")
	return strings.Contains(a, "application/vnd.safetensors") || strings.Contains(a, "application/octet-stream")
}

// writeEmbeddings answers /v1/embed as safetensors: "embeddings" [n, D] float32 for the n images that
// succeeded, "index" [n] int64 their positions in the request, and the errors of the others as metadata.
func (s *Server) writeEmbeddings(w http.ResponseWriter, res []result) {
	d := s.det.Dim()
	var x []float32
	var idx []int64
	errs := map[string]string{}
	for i, r := range res {
		if r.Error != "" {
			errs[strconv.Itoa(i)] = r.Error
			continue
		}
		x = append(x, r.Embedding...)
		idx = append(idx, int64(i))
	}
	eb, _ := json.Marshal(errs)
	meta := map[string]string{"errors": string(eb), "embedding": s.kind, "model": s.opt.Model}
	var buf bytes.Buffer
	ts := []*weights.Tensor{weights.FromFloat32("embeddings", []int{len(idx), d}, x), weights.FromInt64("index", []int{len(idx)}, idx)}
	if err := weights.EncodeSafetensors(&buf, ts, meta); err != nil {
		s.fail(w, fmt.Errorf("encoding safetensors: %w", err))
		return
	}
	w.Header().Set("Content-Type", "application/vnd.safetensors")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(http.StatusOK)
	w.Write(buf.Bytes())
}
