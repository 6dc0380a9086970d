// Package serve is plp's HTTP server: it answers "which class, and is it out of distribution?" for images
// sent over HTTP, with the encoder, head and OOD scores of a `plp eval` run and thresholds calibrated on
// held-out ID data. It adds transport, dynamic batching, limits and metrics; decoding and preprocessing
// are the pipeline's (imaging), the forward pass is the model's (data.Encoder) and the scores are eval's.
//
// Concurrent requests are decoded and preprocessed in their own goroutines, bounded by Options.Workers,
// while a single batcher goroutine gathers the preprocessed images, up to Options.MaxBatch or until
// Options.MaxWait has passed, and runs them through the encoder in one forward pass.
package serve

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"plp/data"
	"plp/imaging"
)

// Options are the server's batching and limits. Zero values take the defaults in brackets.
type Options struct {
	MaxBatch       int           // images per forward pass [32]
	MaxWait        time.Duration // how long a batch waits for more images while some are being decoded [5ms]
	MaxQueue       int           // images admitted (decoding or queued) at once; more get 429 [8×MaxBatch]
	Workers        int           // concurrent decodes [GOMAXPROCS]
	MaxBodyBytes   int64         // request body limit [32 MiB]
	MaxPixels      int64         // declared pixels per image, checked before decoding [imaging.MaxImagePixels]
	MaxImages      int           // images per request [64]
	RequestTimeout time.Duration // per request, from the first byte read to the answer [30s]
	TopK           int           // classes in each answer [5]
	Token          string        // bearer token required on /v1/ and /metrics when not empty
	Model          string        // model name reported by /v1/info
	Logger         *log.Logger   // nil: the standard logger
}

func (o *Options) defaults() {
	if o.MaxBatch <= 0 {
		o.MaxBatch = 32
	}
	if o.MaxWait <= 0 {
		o.MaxWait = 5 * time.Millisecond
	}
	if o.MaxQueue <= 0 {
		o.MaxQueue = 8 * o.MaxBatch
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 32 << 20
	}
	if o.MaxPixels <= 0 {
		o.MaxPixels = imaging.MaxImagePixels
	}
	if o.MaxImages <= 0 {
		o.MaxImages = 64
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = 30 * time.Second
	}
	if o.TopK <= 0 {
		o.TopK = 5
	}
	if o.Logger == nil {
		o.Logger = log.Default()
	}
}

// Server answers the HTTP API. Create it with New, serve Handler (or call Serve), and Close it after the
// HTTP server has shut down.
type Server struct {
	enc  data.Encoder
	tr   imaging.Transform
	det  *Detector
	opt  Options
	per  int // floats per preprocessed image
	kind string

	ready   atomic.Bool
	decode  chan struct{} // decode slots
	pix     sync.Pool     // preprocessed image buffers
	met     *metrics
	handler http.Handler

	mu       sync.Mutex // guards requests, admitted, closed and sends on queue
	requests int        // image requests being read or answered
	admitted int
	closed   bool
	queue    chan *item
	decoding atomic.Int64       // admitted images not yet queued
	scores   chan *encodedBatch // from the batcher to the scorer
	done     chan struct{}      // closed when the batcher and the scorer have finished
	warm     chan struct{}      // closed after the warm-up pass, with warmErr set if it failed
	warmErr  error
}

// item is one preprocessed image waiting for the encoder.
type item struct {
	ctx   context.Context
	pix   []float32
	embed bool // only the embedding is wanted
	enq   time.Time
	res   chan itemResult // buffered: the batcher and the scorer never block on it
}

type itemResult struct {
	pred   Prediction
	embed  []float32
	err    error
	queue  time.Duration
	encode time.Duration // the batch's forward pass
	score  time.Duration // the batch's scores
	batch  int
}

// encodedBatch is a batch after its forward pass, on its way to the scorer.
type encodedBatch struct {
	items  []*item
	emb    []float32
	t0     time.Time // when the forward pass started
	encode time.Duration
}

// New builds a server around an encoder, the transform its embeddings were made with and a detector for
// those embeddings. It starts the batcher and warms the encoder up in the background: /readyz answers 200
// once one forward pass has run; WaitReady waits for it.
func New(enc data.Encoder, tr imaging.Transform, det *Detector, opt Options) (*Server, error) {
	opt.defaults()
	if enc.Dim() != det.Dim() {
		return nil, fmt.Errorf("serve: the encoder gives embeddings of width %d, the detector takes %d", enc.Dim(), det.Dim())
	}
	if s := enc.ImageSize(); tr.Crop != s {
		return nil, fmt.Errorf("serve: transform %s makes %dx%d images, the encoder takes %dx%d", tr.Name, tr.Crop, tr.Crop, s, s)
	}
	s := &Server{enc: enc, tr: tr, det: det, opt: opt, per: 3 * tr.Crop * tr.Crop,
		decode: make(chan struct{}, opt.Workers), queue: make(chan *item, opt.MaxQueue), scores: make(chan *encodedBatch, 1), done: make(chan struct{}),
		warm: make(chan struct{})}
	if k, ok := enc.(interface{ Kind() string }); ok {
		s.kind = k.Kind()
	}
	s.pix.New = func() any { b := make([]float32, s.per); return &b }
	s.met = newMetrics(s.queueDepth, opt.MaxBatch)
	s.handler = s.routes()
	go s.batcher()
	return s, nil
}

func (s *Server) queueDepth() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.admitted
}

// Ready reports whether the model is loaded and warmed up.
func (s *Server) Ready() bool { return s.ready.Load() }

// WaitReady blocks until the warm-up pass has run, and returns its error, or until ctx ends.
func (s *Server) WaitReady(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-s.warm:
		return s.warmErr
	}
}

// Handler is the HTTP API.
func (s *Server) Handler() http.Handler { return s.handler }

// Close stops admitting images, lets the batcher finish what was queued and waits for it. Call it after
// http.Server.Shutdown so that no request is cut off.
func (s *Server) Close() {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.queue)
	}
	s.mu.Unlock()
	<-s.done
}

// enter counts a request in before its body is read, so that at most MaxQueue bodies are held in memory
// at once; more get 429.
func (s *Server) enter() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.requests >= s.opt.MaxQueue {
		return errorf(http.StatusTooManyRequests, "queue_full", "too many requests in flight (%d): retry later", s.opt.MaxQueue)
	}
	s.requests++
	return nil
}

func (s *Server) leave() {
	s.mu.Lock()
	s.requests--
	s.mu.Unlock()
}

// admit reserves n queue places, or fails with 429 when the queue is full or 503 when closing.
func (s *Server) admit(n int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errorf(http.StatusServiceUnavailable, "shutting_down", "the server is shutting down")
	}
	if s.admitted+n > s.opt.MaxQueue {
		if n > s.opt.MaxQueue {
			return errorf(http.StatusRequestEntityTooLarge, "too_many_images", "%d images exceed the queue of %d", n, s.opt.MaxQueue)
		}
		return errorf(http.StatusTooManyRequests, "queue_full", "the queue is full (%d images): retry later", s.opt.MaxQueue)
	}
	s.admitted += n
	s.decoding.Add(int64(n))
	return nil
}

func (s *Server) release(n int) {
	s.mu.Lock()
	s.admitted -= n
	s.mu.Unlock()
}

// enqueue hands a preprocessed image to the batcher. The image was admitted, so the queue has room.
func (s *Server) enqueue(it *item) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.decoding.Add(-1)
	if s.closed {
		return errorf(http.StatusServiceUnavailable, "shutting_down", "the server is shutting down")
	}
	it.enq = time.Now()
	s.queue <- it
	return nil
}

// batcher runs every forward pass: it warms the encoder up, then gathers queued images into batches. A
// scorer goroutine computes the scores of one batch while the next is encoded.
func (s *Server) batcher() {
	scored := make(chan struct{})
	go func() {
		defer close(scored)
		for eb := range s.scores {
			s.score(eb)
		}
	}()
	defer func() {
		close(s.scores)
		<-scored
		close(s.done)
	}()
	buf := make([]float32, s.opt.MaxBatch*s.per)
	if _, err := s.safeEncode(buf[:s.per], 1); err != nil {
		s.warmErr = fmt.Errorf("serve: warm-up forward pass: %w", err)
	} else {
		s.ready.Store(true)
	}
	close(s.warm)
	batch := make([]*item, 0, s.opt.MaxBatch)
	for {
		it, ok := <-s.queue
		if !ok {
			return
		}
		batch = append(batch[:0], it)
		batch = s.gather(batch)
		s.run(batch, buf)
		clear(batch)
	}
}

// gather adds queued images to batch until it is full, or until the queue is empty and either no admitted
// image is still being decoded or MaxWait has passed: a lone request does not wait.
func (s *Server) gather(batch []*item) []*item {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for len(batch) < s.opt.MaxBatch {
		select {
		case it, ok := <-s.queue:
			if !ok {
				return batch
			}
			batch = append(batch, it)
			continue
		default:
		}
		if s.decoding.Load() == 0 {
			return batch
		}
		if timer == nil {
			timer = time.NewTimer(s.opt.MaxWait)
		}
		select {
		case it, ok := <-s.queue:
			if !ok {
				return batch
			}
			batch = append(batch, it)
		case <-timer.C:
			return batch
		}
	}
	return batch
}

// run encodes one batch and hands it to the scorer. Images whose request has gone are dropped before the
// forward pass.
func (s *Server) run(batch []*item, buf []float32) {
	var live []*item
	for _, it := range batch {
		if err := it.ctx.Err(); err != nil {
			s.answer(it, itemResult{err: ctxError(err)})
			continue
		}
		live = append(live, it)
	}
	n := len(live)
	if n == 0 {
		return
	}
	t0 := time.Now()
	for i, it := range live {
		copy(buf[i*s.per:(i+1)*s.per], it.pix)
		p := it.pix
		it.pix = nil
		s.pix.Put(&p)
	}
	emb, err := s.safeEncode(buf[:n*s.per], n)
	dt := time.Since(t0)
	s.met.batchDone(n, dt.Seconds())
	if err != nil {
		for _, it := range live {
			s.answer(it, itemResult{err: err, queue: t0.Sub(it.enq), encode: dt, batch: n})
		}
		return
	}
	s.scores <- &encodedBatch{items: live, emb: emb, t0: t0, encode: dt}
}

// score computes a batch's predictions and answers its images.
func (s *Server) score(eb *encodedBatch) {
	n := len(eb.items)
	t1 := time.Now()
	var preds []Prediction
	var err error
	for _, it := range eb.items {
		if !it.embed {
			preds, err = s.safeScore(eb.emb, n)
			break
		}
	}
	ds := time.Since(t1)
	d := s.det.Dim()
	for i, it := range eb.items {
		r := itemResult{err: err, queue: eb.t0.Sub(it.enq), encode: eb.encode, score: ds, batch: n}
		if err == nil {
			if it.embed {
				r.embed = eb.emb[i*d : (i+1)*d : (i+1)*d]
			} else {
				r.pred = preds[i]
			}
		}
		s.answer(it, r)
	}
}

// answer returns an image's buffer to the pool (unless the batcher did) and its queue place, and sends r.
func (s *Server) answer(it *item, r itemResult) {
	if it.pix != nil {
		p := it.pix
		it.pix = nil
		s.pix.Put(&p)
	}
	s.release(1)
	it.res <- r
}

// safeEncode runs the encoder; a panic in it (a bug, or a device failure) fails the batch, not the server.
func (s *Server) safeEncode(x []float32, n int) (emb []float32, err error) {
	defer func() {
		if r := recover(); r != nil {
			s.opt.Logger.Printf("serve: encoder panic: %v\n%s", r, debug.Stack())
			emb, err = nil, errorf(http.StatusInternalServerError, "panic", "internal error in the encoder")
		}
	}()
	emb, err = s.enc.Encode(x, n)
	if err == nil && len(emb) != n*s.det.Dim() {
		err = fmt.Errorf("serve: encoder returned %d values for %d images", len(emb), n)
	}
	return emb, err
}

func (s *Server) safeScore(emb []float32, n int) (p []Prediction, err error) {
	defer func() {
		if r := recover(); r != nil {
			s.opt.Logger.Printf("serve: scoring panic: %v\n%s", r, debug.Stack())
			p, err = nil, errorf(http.StatusInternalServerError, "panic", "internal error in the scores")
		}
	}()
	return s.det.Score(emb, n, s.opt.TopK)
}

func ctxError(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return errorf(http.StatusServiceUnavailable, "timeout", "the request timed out")
	}
	return errorf(http.StatusServiceUnavailable, "canceled", "the request was canceled")
}

// HTTPServer returns an http.Server for the handler with its timeouts set: slow or idle clients cannot
// hold connections for ever.
func (s *Server) HTTPServer(addr string) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       s.opt.RequestTimeout + 10*time.Second,
		WriteTimeout:      s.opt.RequestTimeout + 10*time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          s.opt.Logger,
	}
}

// Serve answers on ln until ctx ends, then shuts down gracefully: it stops accepting connections, waits up
// to drain for in-flight requests to be answered, and closes the server. A clean shutdown returns nil.
func (s *Server) Serve(ctx context.Context, ln net.Listener, drain time.Duration) error {
	hs := s.HTTPServer(ln.Addr().String())
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		s.Close()
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	err := hs.Shutdown(sctx)
	if e := <-errc; !errors.Is(e, http.ErrServerClosed) && err == nil {
		err = e
	}
	s.Close()
	return err
}

// authorized checks the bearer token in constant time.
func (s *Server) authorized(r *http.Request) bool {
	if s.opt.Token == "" {
		return true
	}
	const prefix = "Bearer "
	h := r.Header.Get("Authorization")
	if len(h) < len(prefix) || h[:len(prefix)] != prefix {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(h[len(prefix):]), []byte(s.opt.Token)) == 1
}
