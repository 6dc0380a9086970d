package shard

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"plp/data"
	"plp/imaging"
	"plp/weights"
)

// Metadata keys a shard file adds to its split's metadata. The merge checks them and leaves them out of
// the store.
const (
	keyIndex   = "shard_index"
	keyCount   = "shard_count"
	keyStart   = "shard_start"
	keyEnd     = "shard_end"
	keySamples = "shard_samples"        // samples in the whole split
	keyBatch   = "shard_batch"          // the batch size the plan was made for
	keyDigest  = "shard_samples_sha256" // data.SamplesDigest of the whole split
)

// Dir is the folder holding the shards of the split stored at storePath: <split>.shards next to it.
func Dir(storePath string) string {
	return strings.TrimSuffix(storePath, ".safetensors") + ".shards"
}

// File is task t's shard file of the split stored at storePath: <split>.shards/I-of-N.safetensors.
func File(storePath string, t Task) string {
	return filepath.Join(Dir(storePath), t.fileStem()+".safetensors")
}

// PartialDir is the checkpoint folder of task t's unfinished shard.
func PartialDir(storePath string, t Task) string {
	return filepath.Join(Dir(storePath), t.fileStem()+".partial")
}

func (t Task) fileStem() string { return fmt.Sprintf("%05d-of-%05d", t.Index, t.Count) }

// Job is one task's share of one split.
type Job struct {
	Task Task
	// StorePath is where the merged split goes (data.StorePath); the shard is written in Dir(StorePath).
	StorePath string
	// Meta is the metadata an unsharded run stores with the split, less the keys data.SplitMeta adds
	// (model, weights_sha256, transform, plp_version, ...). It identifies the run: a resumed task's
	// checkpoint and every shard of a merge must agree on it, and the merge stores it.
	Meta map[string]string
	// Options of the embedding run: Batch, Workers, OnError, ChunkBatches and Progress are used; Start,
	// End, PartialDir, Resume and Settings are Run's to set.
	Options data.EmbedOptions
	// Overwrite replaces a finished shard file that another run made; without it that is an error.
	Overwrite bool
}

// Result is what Run did.
type Result struct {
	Path    string // the shard file
	Range   Range  // the task's samples
	Rows    int    // embeddings in the shard
	Skipped []data.Skipped
	Resumed int // samples taken from the task's own checkpoint
	Stats   data.PipelineStats
	// Done reports that the shard file was already there, made by the same run: nothing was embedded.
	// A scheduler that reruns a finished task gets this.
	Done bool
}

// Run embeds the job's range of ds and writes the shard file atomically. The task always continues its
// own checkpoint when one exists (a preempted task restarted by the scheduler resumes; a checkpoint of a
// different run is an error naming the difference), and removes it once the shard file is written.
func Run(ctx context.Context, ds data.Dataset, tr imaging.Transform, enc data.Encoder, job Job) (*Result, error) {
	opt := job.Options
	if opt.Batch == 0 {
		opt.Batch = 64 // data.Embed's default, needed here for the plan
	}
	n := ds.Len()
	r, err := job.Task.Range(n, opt.Batch)
	if err != nil {
		return nil, err
	}
	res := &Result{Path: File(job.StorePath, job.Task), Range: r}
	meta := maps.Clone(job.Meta)
	if meta == nil {
		meta = map[string]string{}
	}
	for k := range meta {
		if strings.HasPrefix(k, "shard_") || splitKeys[k] {
			return nil, fmt.Errorf("shard: metadata key %q is reserved", k)
		}
	}
	for k, v := range map[string]int{keyIndex: job.Task.Index, keyCount: job.Task.Count, keyStart: r.Start, keyEnd: r.End,
		keySamples: n, keyBatch: opt.Batch} {
		meta[k] = strconv.Itoa(v)
	}
	meta[keyDigest] = data.SamplesDigest(ds)

	if old, err := readMeta(res.Path); err == nil {
		diff := metaDiff(old, meta, "this run")
		if len(diff) == 0 {
			// A task killed between writing its shard and removing its checkpoint leaves the latter behind.
			if err := data.RemovePartial(PartialDir(job.StorePath, job.Task)); err != nil {
				return nil, fmt.Errorf("shard: %w", err)
			}
			res.Done = true
			res.Rows, _ = strconv.Atoi(old["count"])
			return res, nil
		}
		if !job.Overwrite {
			return nil, fmt.Errorf("shard: %s exists, made by another run (it has %s): remove it or overwrite it",
				res.Path, strings.Join(diff, ", "))
		}
	} else if !errors.Is(err, fs.ErrNotExist) && !job.Overwrite {
		return nil, fmt.Errorf("shard: %s exists but cannot be read (%v): remove it or overwrite it", res.Path, err)
	}
	if err := os.MkdirAll(Dir(job.StorePath), 0o755); err != nil {
		return nil, fmt.Errorf("shard: %w", err)
	}

	e := &data.Embeddings{D: enc.Dim()}
	partial := PartialDir(job.StorePath, job.Task)
	if r.Len() > 0 {
		opt.Start, opt.End = r.Start, r.End
		opt.PartialDir, opt.Resume, opt.Settings = partial, true, job.Meta
		er, err := data.Embed(ctx, ds, tr, enc, opt)
		if err != nil {
			return nil, err
		}
		e = er.Embeddings
		res.Skipped, res.Resumed, res.Stats = er.Skipped, er.Resumed, er.Stats
	}
	res.Rows = e.N
	e.Meta = data.SplitMeta(meta, e.N, res.Skipped)
	if err := data.WriteEmbeddings(res.Path, e); err != nil {
		return nil, fmt.Errorf("shard: %w", err)
	}
	if err := data.RemovePartial(partial); err != nil {
		return nil, fmt.Errorf("shard: %w", err)
	}
	return res, nil
}

// splitKeys are the metadata keys data.SplitMeta adds: they describe a shard's own rows, not the run.
var splitKeys = map[string]bool{"count": true, "skipped_count": true, "skipped": true}

// readMeta returns the metadata of the safetensors file at path.
func readMeta(path string) (map[string]string, error) {
	st, err := weights.OpenSafetensors(path)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	return st.Metadata(), nil
}

// metaDiff lists the keys that identify a run (all but splitKeys and ignore) in which got differs from
// want, as `key "got" (wantName "want")`, in sorted order; a missing key reads as none.
func metaDiff(got, want map[string]string, wantName string, ignore ...string) []string {
	keys := map[string]bool{}
	for k := range got {
		keys[k] = true
	}
	for k := range want {
		keys[k] = true
	}
	val := func(m map[string]string, k string) string {
		if v, ok := m[k]; ok {
			return strconv.Quote(v)
		}
		return "none"
	}
	var out []string
	for k := range keys {
		if splitKeys[k] || slices.Contains(ignore, k) {
			continue
		}
		if g, w := val(got, k), val(want, k); g != w {
			out = append(out, fmt.Sprintf("%s %s (%s: %s)", k, g, wantName, w))
		}
	}
	sort.Strings(out)
	return out
}
