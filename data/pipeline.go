package data

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"plp/imaging"
	"plp/tensor"
	"plp/zoo"
)

// Encoder embeds batches of preprocessed images.
type Encoder interface {
	// Encode embeds n images x [n, 3, S, S] (CHW, normalised) and returns n rows of Dim values. It must
	// not keep x: the caller reuses it.
	Encode(x []float32, n int) ([]float32, error)
	// Dim is the width of an embedding.
	Dim() int
	// ImageSize is the square input side S.
	ImageSize() int
}

// Embedding kinds a ModelEncoder stores.
const (
	// KindPreproj is the feature before the image tower's projection (CLIP's image_embed_preproj), which
	// the paper stores for models that have a projection.
	KindPreproj = "preproj"
	// KindEmbed is the tower's output, for towers without a projection.
	KindEmbed = "embed"
)

// ModelEncoder encodes with a zoo model's image tower and keeps what the paper stores: the pre-projection
// feature when the tower has a projection, its output otherwise.
type ModelEncoder struct {
	m    *zoo.Model
	dim  int
	kind string
}

// NewModelEncoder wraps m. It runs one zero image through the tower to learn the stored width and kind, so
// that a model that cannot encode fails here rather than hours into a run.
func NewModelEncoder(m *zoo.Model) (*ModelEncoder, error) {
	s := m.ImageSize()
	if s <= 0 {
		return nil, fmt.Errorf("data: model %s has image size %d", m.Name(), s)
	}
	be := m.Backend()
	x := be.Zeros(1, 3, s, s)
	embed, preproj, err := m.EncodeImage(x)
	be.Free(x)
	if err != nil {
		return nil, fmt.Errorf("data: model %s: %w", m.Name(), err)
	}
	e := &ModelEncoder{m: m, kind: KindEmbed}
	out := embed
	// Families return the same tensor for both when the tower has no projection.
	if preproj != nil && preproj != embed {
		out, e.kind = preproj, KindPreproj
	}
	if out == nil || out.Rank() != 2 || out.Dim(0) != 1 {
		return nil, fmt.Errorf("data: model %s returned an embedding of shape %v for one image", m.Name(), shapeOf(out))
	}
	e.dim = out.Dim(1)
	be.Free(embed)
	if preproj != embed {
		be.Free(preproj)
	}
	return e, nil
}

func shapeOf(t *tensor.Tensor) []int {
	if t == nil {
		return nil
	}
	return t.Shape()
}

// Kind is KindPreproj or KindEmbed.
func (e *ModelEncoder) Kind() string { return e.kind }

// Dim is the stored embedding width.
func (e *ModelEncoder) Dim() int { return e.dim }

// ImageSize is the model's input side.
func (e *ModelEncoder) ImageSize() int { return e.m.ImageSize() }

// Encode implements Encoder.
func (e *ModelEncoder) Encode(x []float32, n int) ([]float32, error) {
	s := e.m.ImageSize()
	if len(x) != n*3*s*s {
		return nil, fmt.Errorf("data: encode: %d values for %d images of %dx%d", len(x), n, s, s)
	}
	be := e.m.Backend()
	xt := be.FromHost(x, n, 3, s, s)
	defer be.Free(xt)
	embed, preproj, err := e.m.EncodeImage(xt)
	if err != nil {
		return nil, err
	}
	out := embed
	if e.kind == KindPreproj {
		out = preproj
	}
	if out == nil || out.Rank() != 2 || out.Dim(0) != n || out.Dim(1) != e.dim {
		return nil, fmt.Errorf("data: encode: model %s returned shape %v, want [%d %d]", e.m.Name(), shapeOf(out), n, e.dim)
	}
	v := be.ToHost(out)
	be.Free(embed)
	if preproj != embed {
		be.Free(preproj)
	}
	return v, nil
}

// ErrorPolicy says what a run does with an image that cannot be read or transformed.
type ErrorPolicy int

const (
	// SkipBad drops the sample and records it (Skipped).
	SkipBad ErrorPolicy = iota
	// FailBad stops the run with the sample's error.
	FailBad
)

// ParseErrorPolicy reads "skip" or "fail".
func ParseErrorPolicy(s string) (ErrorPolicy, error) {
	switch s {
	case "skip":
		return SkipBad, nil
	case "fail":
		return FailBad, nil
	}
	return 0, fmt.Errorf("data: unknown error policy %q (want skip or fail)", s)
}

// Skipped is a sample left out of a run because it could not be read or transformed.
type Skipped struct {
	Index int    `json:"index"`
	Path  string `json:"path"`
	Err   string `json:"error"`
}

// SampleError is the error of a run stopped by a bad sample (FailBad).
type SampleError struct {
	Index int
	Path  string
	Err   error
}

func (e *SampleError) Error() string {
	return fmt.Sprintf("data: sample %d (%s): %v", e.Index, e.Path, e.Err)
}
func (e *SampleError) Unwrap() error { return e.Err }

// Progress is the state of a run after a batch.
type Progress struct {
	Done, Total int           // samples finished (embedded or skipped) and in the split, resumed ones included
	Resumed     int           // samples taken from checkpoints of an earlier run
	Elapsed     time.Duration // since this run started
	Skipped     int
}

// PipelineStats measure how well a run fed its encoder.
type PipelineStats struct {
	Images     int           // images encoded by this run
	Wall       time.Duration // from the first decode to the last batch
	EncodeBusy time.Duration // time spent inside Encoder.Encode
}

// Busy is the fraction of the wall time the encoder was working.
func (s PipelineStats) Busy() float64 {
	if s.Wall <= 0 {
		return 0
	}
	return float64(s.EncodeBusy) / float64(s.Wall)
}

// pipeline decodes and transforms samples with parallel workers and hands complete batches, in dataset
// order, to the encoder.
type pipeline struct {
	ds      Dataset
	tr      imaging.Transform
	enc     Encoder
	batch   int
	workers int
	policy  ErrorPolicy
	per     int // floats per image
}

// batchBuf is one batch in flight: its samples are filled by workers in any order.
type batchBuf struct {
	start, n int
	pix      []float32
	errs     []error
	left     atomic.Int32
	done     chan struct{}
}

// encoded is a batch's result, in dataset order, bad samples removed.
type encoded struct {
	start, end int // dataset index range the batch covered
	x          []float32
	labels     []int64
	indices    []int64
	skipped    []Skipped
}

// run processes the dataset samples [start, end) in batches that start at start and hold p.batch samples
// (the last one fewer); start must be batch-aligned for results to match other runs. sink receives the
// batches in order; its error ends the run.
func (p *pipeline) run(ctx context.Context, start, end int, stats *PipelineStats, sink func(*encoded) error) error {
	if start >= end {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	workers := p.workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	// Two batches decode while one is encoded: enough to hide decoding whenever it is faster than the
	// encoder, and a bounded amount of memory.
	const inFlight = 3
	free := make(chan *batchBuf, inFlight)
	for i := 0; i < inFlight; i++ {
		free <- &batchBuf{pix: make([]float32, p.batch*p.per), errs: make([]error, p.batch)}
	}
	ordered := make(chan *batchBuf, inFlight)
	type job struct {
		b *batchBuf
		i int
	}
	jobs := make(chan job, p.batch)

	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				j.b.errs[j.i] = p.load(j.b.start+j.i, j.b.pix[j.i*p.per:(j.i+1)*p.per])
				if j.b.left.Add(-1) == 0 {
					close(j.b.done)
				}
			}
		}()
	}
	go func() {
		defer close(jobs)
		defer close(ordered)
		for s := start; s < end; s += p.batch {
			var b *batchBuf
			select {
			case b = <-free:
			case <-ctx.Done():
				return
			}
			b.start, b.n = s, min(p.batch, end-s)
			clear(b.errs)
			b.left.Store(int32(b.n))
			b.done = make(chan struct{})
			select {
			case ordered <- b:
			case <-ctx.Done():
				return
			}
			for i := 0; i < b.n; i++ {
				select {
				case jobs <- job{b, i}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	defer wg.Wait()
	defer cancel()

	t0 := time.Now()
	defer func() { stats.Wall += time.Since(t0) }()
	for b := range ordered {
		select {
		case <-b.done:
		case <-ctx.Done():
		}
		// select picks at random among ready cases; a cancelled run must not encode another batch.
		if err := ctx.Err(); err != nil {
			return err
		}
		e, err := p.encode(b, stats)
		if err != nil {
			return err
		}
		free <- b
		if err := sink(e); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// load reads and transforms sample i into dst; a panic in a decoder or transform becomes an error.
func (p *pipeline) load(i int, dst []float32) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	img, err := p.ds.Load(i)
	if err != nil {
		return err
	}
	return p.tr.ApplyInto(img, dst)
}

// encode compacts b's good samples (bad ones are skipped or end the run, per the policy) and encodes them.
func (p *pipeline) encode(b *batchBuf, stats *PipelineStats) (*encoded, error) {
	e := &encoded{start: b.start, end: b.start + b.n}
	n := 0
	for i := 0; i < b.n; i++ {
		idx := b.start + i
		if err := b.errs[i]; err != nil {
			if p.policy == FailBad {
				return nil, &SampleError{Index: idx, Path: p.ds.Path(idx), Err: err}
			}
			e.skipped = append(e.skipped, Skipped{Index: idx, Path: p.ds.Path(idx), Err: err.Error()})
			continue
		}
		if n != i {
			copy(b.pix[n*p.per:(n+1)*p.per], b.pix[i*p.per:(i+1)*p.per])
		}
		e.labels = append(e.labels, int64(p.ds.Label(idx)))
		e.indices = append(e.indices, int64(idx))
		n++
	}
	if n == 0 {
		return e, nil
	}
	t := time.Now()
	x, err := p.enc.Encode(b.pix[:n*p.per], n)
	stats.EncodeBusy += time.Since(t)
	if err != nil {
		return nil, fmt.Errorf("data: encoding samples %d-%d: %w", b.start, b.start+b.n-1, err)
	}
	if len(x) != n*p.enc.Dim() {
		return nil, fmt.Errorf("data: encoder returned %d values for %d images of width %d", len(x), n, p.enc.Dim())
	}
	stats.Images += n
	e.x = x
	return e, nil
}
