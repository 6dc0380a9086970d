package data

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"plp/atomicfile"
	"plp/imaging"
	"plp/weights"
	"plp/zoo"
)

// ModelTransform is the evaluation transform a model's images get: the named transform its registry entry
// gives (spec.Preprocess.Transform, e.g. "clip224"), or, for a name imaging does not know (a model built
// from a config file), the family's eval transform built from the spec's preprocessing record at its
// image size (open_clip: resize the shorter side, center crop, the recorded mean and std).
func ModelTransform(spec *zoo.Spec) (imaging.Transform, error) {
	p := spec.Preprocess
	if t, err := imaging.TransformByName(p.Transform); err == nil {
		// A named transform (plain224, in224, ...) is stated for 224-pixel models; a config with another
		// image size gets the same recipe at its own size.
		return t.AtSize(spec.Config.ImageSize()), nil
	}
	size := p.Size
	if size == 0 {
		size = spec.Config.ImageSize()
	}
	interp, err := imaging.ParseInterpolation(p.Interpolation)
	if err != nil {
		return imaging.Transform{}, fmt.Errorf("data: model %s: %w", spec.Name, err)
	}
	var mode imaging.ResizeMode
	switch p.ResizeMode {
	case "shortest", "":
		mode = imaging.ShorterSide
	case "squash":
		mode = imaging.Square
	default:
		return imaging.Transform{}, fmt.Errorf("data: model %s: resize mode %q is not supported (want shortest or squash)", spec.Name, p.ResizeMode)
	}
	name := p.Transform
	if name == "" || name == "custom" {
		name = ModelDirName(spec.Name) + "-eval"
	}
	return imaging.NewEvalTransform(name, imaging.EvalConfig{ImageSize: size, Interp: interp, Mean: p.Mean, Std: p.Std, Mode: mode})
}

// TransformFor is the transform a command uses for spec: the model's own (ModelTransform) when name is
// empty, else the named transform at the model's image size.
func TransformFor(spec *zoo.Spec, name string) (imaging.Transform, error) {
	if name == "" {
		return ModelTransform(spec)
	}
	t, err := imaging.TransformByName(name)
	if err != nil {
		return imaging.Transform{}, err
	}
	return t.AtSize(spec.Config.ImageSize()), nil
}

// DescribeTransform spells out every parameter of t, for metadata and for checking that a resumed run
// preprocesses as the interrupted one did.
func DescribeTransform(t imaging.Transform) string {
	return fmt.Sprintf("%s: resize %s %d %s, crop %d, mean %v, std %v", t.Name, t.ResizeMode, t.Resize, t.Interp, t.Crop, t.Mean, t.Std)
}

// EmbedOptions configure Embed.
type EmbedOptions struct {
	Batch   int // images per forward pass; default 64
	Workers int // decode and preprocess goroutines; default GOMAXPROCS
	OnError ErrorPolicy
	// ChunkBatches is the number of batches in a checkpoint chunk; default 16.
	ChunkBatches int
	// PartialDir holds the checkpoint: the run's manifest and one safetensors file per finished chunk.
	// Empty disables checkpointing.
	PartialDir string
	// Resume continues the run checkpointed in PartialDir. Without it, an existing PartialDir is an error.
	Resume bool
	// Settings identify the run (model, weights hash, transform, dataset, ...). They go into the manifest
	// and a resumed run must present the same ones.
	Settings map[string]string
	// Progress, if set, is called after every batch from the goroutine that called Embed.
	Progress func(Progress)
	// Start and End restrict the run to the samples [Start, End) of the dataset; End 0 means the dataset's
	// end. Start must be a multiple of Batch so that the run's batches are those of a whole-dataset run
	// and its embeddings the same bits. Checkpoint chunks are counted from Start. A range that leaves
	// every sample skipped is not an error (a whole-dataset run is).
	Start, End int
}

// EmbedResult is a finished split.
type EmbedResult struct {
	Embeddings *Embeddings // X, Labels, N, D; Meta and statistics left to the caller
	Skipped    []Skipped   // in dataset order, resumed chunks included
	Resumed    int         // samples (embedded or skipped) taken from an earlier run's checkpoint
	Stats      PipelineStats
}

// Embed preprocesses every sample of ds with tr and encodes it with enc, in batches of opt.Batch samples
// taken in dataset order, so that the result does not depend on the number of workers. With a PartialDir,
// every ChunkBatches batches are saved as one chunk (written atomically; the last chunk, which the result
// completes, is not) and a resumed run continues after the last saved chunk with the same batch
// boundaries, so its result is bit-identical to an uninterrupted run's. The caller removes PartialDir
// (which a run shorter than one chunk never creates) once it has stored the result.
func Embed(ctx context.Context, ds Dataset, tr imaging.Transform, enc Encoder, opt EmbedOptions) (*EmbedResult, error) {
	if opt.Batch == 0 {
		opt.Batch = 64
	}
	if opt.ChunkBatches == 0 {
		opt.ChunkBatches = 16
	}
	if opt.Batch < 0 || opt.ChunkBatches < 0 {
		return nil, fmt.Errorf("data: embed: batch %d and chunk %d must be positive", opt.Batch, opt.ChunkBatches)
	}
	s := enc.ImageSize()
	// A transform without a crop keeps the aspect ratio; only fixed-size outputs can be batched.
	for _, wh := range [][2]int{{640, 480}, {480, 640}} {
		if w, h := tr.OutputSize(wh[0], wh[1]); w != s || h != s {
			return nil, fmt.Errorf("data: transform %s gives %dx%d images for a %dx%d input; the model takes %dx%d",
				tr.Name, w, h, wh[0], wh[1], s, s)
		}
	}
	n, d := ds.Len(), enc.Dim()
	if n == 0 {
		return nil, errors.New("data: embed: the dataset has no samples")
	}
	lo, hi := opt.Start, opt.End
	if hi == 0 {
		hi = n
	}
	if lo < 0 || lo > hi || hi > n || lo%opt.Batch != 0 {
		return nil, fmt.Errorf("data: embed: range [%d, %d) of %d samples: want 0 ≤ start ≤ end ≤ %d with start a multiple of the batch %d",
			lo, hi, n, n, opt.Batch)
	}
	whole := lo == 0 && hi == n
	res := &EmbedResult{Embeddings: &Embeddings{D: d}}
	ck := &checkpoint{dir: opt.PartialDir, chunk: opt.Batch * opt.ChunkBatches, d: d, base: lo}
	start := lo
	if ck.dir != "" {
		man := embedManifest{Format: 1, Settings: opt.Settings, Batch: opt.Batch, ChunkBatches: opt.ChunkBatches, Samples: n, Dim: d,
			SamplesSHA256: SamplesDigest(ds)}
		if !whole {
			// A whole-dataset manifest keeps the format of runs checkpointed before ranges existed.
			man.Start, man.End = lo, hi
		}
		var err error
		if start, err = ck.open(man, opt.Resume, res); err != nil {
			return nil, err
		}
		res.Resumed = start - lo
	}
	p := &pipeline{ds: ds, tr: tr, enc: enc, batch: opt.Batch, workers: opt.Workers, policy: opt.OnError, per: 3 * s * s}
	t0 := time.Now()
	var cur []*encoded
	err := p.run(ctx, start, hi, &res.Stats, func(e *encoded) error {
		cur = append(cur, e)
		res.add(e)
		// The run's last chunk is not saved: the result it completes is returned at once, and a kill
		// before the caller has stored it costs at most that chunk's work.
		if ck.dir != "" && (e.end-lo)%ck.chunk == 0 && e.end < hi {
			if err := ck.write(e.end, cur); err != nil {
				return err
			}
			cur = cur[:0]
		}
		if opt.Progress != nil {
			opt.Progress(Progress{Done: e.end - lo, Total: hi - lo, Resumed: start - lo, Elapsed: time.Since(t0), Skipped: len(res.Skipped)})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if res.Embeddings.N == 0 && whole {
		return nil, fmt.Errorf("data: embed: all %d samples were skipped (first: %s: %s)", n, res.Skipped[0].Path, res.Skipped[0].Err)
	}
	return res, nil
}

// add appends a batch's (or chunk's) samples.
func (r *EmbedResult) add(e *encoded) {
	r.Embeddings.X = append(r.Embeddings.X, e.x...)
	r.Embeddings.Labels = append(r.Embeddings.Labels, e.labels...)
	r.Embeddings.N += len(e.labels)
	r.Skipped = append(r.Skipped, e.skipped...)
}

// embedManifest is the checkpoint's run.json: what must hold for a run to continue the checkpoint.
type embedManifest struct {
	Format       int               `json:"format"`
	Settings     map[string]string `json:"settings"`
	Batch        int               `json:"batch"`
	ChunkBatches int               `json:"chunk_batches"`
	Samples      int               `json:"samples"`
	Dim          int               `json:"dim"`
	// SamplesSHA256 digests every sample's path and label, so that a dataset whose files changed but
	// not their number is not taken for the checkpointed one.
	SamplesSHA256 string `json:"samples_sha256"`
	// Start and End are the sample range of a run over part of the dataset; both 0 for the whole.
	Start int `json:"start,omitempty"`
	End   int `json:"end,omitempty"`
}

// SamplesDigest is the hex SHA-256 of the samples' paths and labels, in order: two runs that agree on it
// saw the same files under the same labels.
func SamplesDigest(ds Dataset) string {
	h := sha256.New()
	var buf []byte
	for i := 0; i < ds.Len(); i++ {
		buf = append(buf[:0], ds.Path(i)...)
		buf = append(buf, 0)
		buf = strconv.AppendInt(buf, int64(ds.Label(i)), 10)
		buf = append(buf, '\n')
		h.Write(buf)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// diff lists the settings in which m and o differ.
func (m embedManifest) diff(o embedManifest) []string {
	var out []string
	keys := map[string]bool{}
	for k := range m.Settings {
		keys[k] = true
	}
	for k := range o.Settings {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		if m.Settings[k] != o.Settings[k] {
			out = append(out, fmt.Sprintf("%s %q (checkpoint %q)", k, o.Settings[k], m.Settings[k]))
		}
	}
	for _, f := range []struct {
		name string
		a, b int
	}{{"format", m.Format, o.Format}, {"batch", m.Batch, o.Batch}, {"chunk batches", m.ChunkBatches, o.ChunkBatches},
		{"samples", m.Samples, o.Samples}, {"embedding width", m.Dim, o.Dim},
		{"range start", m.Start, o.Start}, {"range end", m.End, o.End}} {
		if f.a != f.b {
			out = append(out, fmt.Sprintf("%s %d (checkpoint %d)", f.name, f.b, f.a))
		}
	}
	if m.SamplesSHA256 != o.SamplesSHA256 {
		out = append(out, "the dataset's files or labels")
	}
	return out
}

const manifestName = "run.json"

// checkpoint is a run's PartialDir.
type checkpoint struct {
	dir   string
	chunk int // samples per chunk
	d     int
	base  int // the run's first sample: chunk i holds [base+i*chunk, base+(i+1)*chunk)
	// pending is the manifest of a new checkpoint, written with its first chunk.
	pending []byte
}

func (c *checkpoint) chunkPath(i int) string {
	return filepath.Join(c.dir, fmt.Sprintf("chunk-%06d.safetensors", i))
}

// open creates the checkpoint, or with resume loads its finished chunks into res and returns the sample
// index to continue from (c.base when nothing is finished).
func (c *checkpoint) open(man embedManifest, resume bool, res *EmbedResult) (int, error) {
	mpath := filepath.Join(c.dir, manifestName)
	// The manifest is written before the first chunk, so a folder without one holds no finished chunk.
	_, statErr := os.Stat(mpath)
	exists := statErr == nil
	if exists && !resume {
		return 0, fmt.Errorf("data: %s holds an interrupted run: pass --resume to continue it, or remove the folder to start over", c.dir)
	}
	if !exists {
		// The folder and manifest are made with the first chunk: a run shorter than a chunk (a small
		// shard) writes nothing here.
		b, _ := json.MarshalIndent(man, "", "  ")
		c.pending = append(b, '\n')
		return c.base, nil
	}
	b, err := os.ReadFile(mpath)
	if err != nil {
		return 0, fmt.Errorf("data: cannot resume from %s: %w", c.dir, err)
	}
	var old embedManifest
	if err := json.Unmarshal(b, &old); err != nil {
		return 0, fmt.Errorf("data: cannot resume: %s: %w", mpath, err)
	}
	if d := old.diff(man); len(d) > 0 {
		return 0, fmt.Errorf("data: cannot resume %s: this run differs from the checkpointed one in %s; remove the folder to start over",
			c.dir, strings.Join(d, ", "))
	}
	// Temporary files of a write that was killed are garbage.
	ents, err := os.ReadDir(c.dir)
	if err != nil {
		return 0, fmt.Errorf("data: checkpoint: %w", err)
	}
	var chunks []string
	for _, e := range ents {
		switch name := e.Name(); {
		case strings.HasPrefix(name, "."):
			os.Remove(filepath.Join(c.dir, name))
		case strings.HasPrefix(name, "chunk-"):
			chunks = append(chunks, name)
		}
	}
	sort.Strings(chunks)
	end := man.Samples
	if man.End != 0 {
		end = man.End
	}
	next := c.base
	for i, name := range chunks {
		if filepath.Join(c.dir, name) != c.chunkPath(i) {
			return 0, fmt.Errorf("data: checkpoint %s: unexpected file %s (chunks must be numbered from 0 without gaps); remove the folder to start over", c.dir, name)
		}
		e, err := c.read(i, next, min(next+c.chunk, end))
		if err != nil {
			return 0, err
		}
		res.add(e)
		next = e.end
	}
	return next, nil
}

// write saves the batches that end at sample end as the chunk holding [end-chunk, end).
func (c *checkpoint) write(end int, batches []*encoded) error {
	if c.pending != nil {
		if err := os.MkdirAll(c.dir, 0o755); err != nil {
			return fmt.Errorf("data: checkpoint: %w", err)
		}
		if err := atomicfile.WriteBytes(filepath.Join(c.dir, manifestName), c.pending); err != nil {
			return fmt.Errorf("data: checkpoint: %w", err)
		}
		c.pending = nil
	}
	i := (end - 1 - c.base) / c.chunk
	var x []float32
	var labels, idx []int64
	var skipped []Skipped
	for _, e := range batches {
		x = append(x, e.x...)
		labels = append(labels, e.labels...)
		idx = append(idx, e.indices...)
		skipped = append(skipped, e.skipped...)
	}
	sk, _ := json.Marshal(skipped)
	meta := map[string]string{"start": strconv.Itoa(c.base + i*c.chunk), "end": strconv.Itoa(end), "skipped": string(sk)}
	ts := []*weights.Tensor{
		weights.FromFloat32("embeddings", []int{len(labels), c.d}, x),
		weights.FromInt64("labels", []int{len(labels)}, labels),
		weights.FromInt64("indices", []int{len(idx)}, idx),
	}
	if err := weights.WriteSafetensors(c.chunkPath(i), ts, meta); err != nil {
		return fmt.Errorf("data: checkpoint: %w", err)
	}
	return nil
}

// read loads chunk i, which must cover samples [start, end).
func (c *checkpoint) read(i, start, end int) (*encoded, error) {
	path := c.chunkPath(i)
	bad := func(format string, a ...any) error {
		return fmt.Errorf("data: checkpoint chunk %s: %s; remove the folder to start over", path, fmt.Sprintf(format, a...))
	}
	st, err := weights.OpenSafetensors(path)
	if err != nil {
		return nil, bad("%v", err)
	}
	defer st.Close()
	meta := st.Metadata()
	if meta["start"] != strconv.Itoa(start) || meta["end"] != strconv.Itoa(end) {
		return nil, bad("covers samples [%s, %s), want [%d, %d)", meta["start"], meta["end"], start, end)
	}
	e := &encoded{start: start, end: end}
	if err := json.Unmarshal([]byte(meta["skipped"]), &e.skipped); err != nil {
		return nil, bad("skipped list: %v", err)
	}
	xt, err := st.Tensor("embeddings")
	if err != nil {
		return nil, bad("%v", err)
	}
	lt, err := st.Tensor("labels")
	if err != nil {
		return nil, bad("%v", err)
	}
	it, err := st.Tensor("indices")
	if err != nil {
		return nil, bad("%v", err)
	}
	m := end - start - len(e.skipped)
	if !slices.Equal(xt.Shape, []int{m, c.d}) || !slices.Equal(lt.Shape, []int{m}) || !slices.Equal(it.Shape, []int{m}) {
		return nil, bad("shapes %v %v %v, want [%d %d] for %d samples less %d skipped", xt.Shape, lt.Shape, it.Shape, m, c.d, end-start, len(e.skipped))
	}
	x, err := xt.Float32()
	if err != nil {
		return nil, bad("%v", err)
	}
	e.x = slices.Clone(x)
	if e.labels, err = lt.Int64(); err != nil {
		return nil, bad("%v", err)
	}
	if e.indices, err = it.Int64(); err != nil {
		return nil, bad("%v", err)
	}
	return e, nil
}

// PartialDir is the checkpoint folder of the split stored at storePath: <split>.partial next to it.
func PartialDir(storePath string) string {
	return strings.TrimSuffix(storePath, ".safetensors") + ".partial"
}

// RemovePartial deletes a checkpoint folder once its run's result is stored; a missing folder is fine.
func RemovePartial(dir string) error {
	if err := os.RemoveAll(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("data: removing checkpoint: %w", err)
	}
	return nil
}
