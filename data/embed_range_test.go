package data

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestEmbedRangeIsSliceOfWholeRun(t *testing.T) {
	_, enc, tr := loadFixture(t)
	ds := openCIFAR10(t, "train") // 100 samples
	const batch = 8
	full, err := Embed(context.Background(), ds, tr, enc, EmbedOptions{Batch: batch, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	d := full.Embeddings.D
	for _, r := range []struct{ lo, hi int }{{0, 24}, {16, 48}, {88, 100}, {96, 100}, {40, 40}} {
		dir := filepath.Join(t.TempDir(), "p")
		res, err := Embed(context.Background(), ds, tr, enc, EmbedOptions{Batch: batch, Workers: 2, ChunkBatches: 1,
			PartialDir: dir, Start: r.lo, End: r.hi})
		if err != nil {
			t.Fatalf("[%d, %d): %v", r.lo, r.hi, err)
		}
		e := res.Embeddings
		if e.N != r.hi-r.lo || !slices.Equal(e.X, full.Embeddings.X[r.lo*d:r.hi*d]) || !slices.Equal(e.Labels, full.Embeddings.Labels[r.lo:r.hi]) {
			t.Errorf("[%d, %d): %d rows differ from the whole run's rows", r.lo, r.hi, e.N)
		}
		// One chunk per batch but the last, which the returned result completes.
		chunks, _ := filepath.Glob(filepath.Join(dir, "chunk-*.safetensors"))
		if want := max(0, (r.hi-r.lo+batch-1)/batch-1); len(chunks) != want {
			t.Errorf("[%d, %d): %d chunks, want %d", r.lo, r.hi, len(chunks), want)
		}
		if _, err := os.Stat(filepath.Join(dir, "run.json")); (err == nil) != (len(chunks) > 0) {
			t.Errorf("[%d, %d): manifest %v with %d chunks; want one exactly when there are chunks", r.lo, r.hi, err, len(chunks))
		}
	}
	if _, err := Embed(context.Background(), ds, tr, enc, EmbedOptions{Batch: batch, Start: 4, End: 20}); err == nil || !strings.Contains(err.Error(), "multiple of the batch") {
		t.Errorf("unaligned start: %v", err)
	}
	if _, err := Embed(context.Background(), ds, tr, enc, EmbedOptions{Batch: batch, Start: 8, End: 101}); err == nil {
		t.Error("a range past the end was accepted")
	}
}

func TestEmbedRangeResumes(t *testing.T) {
	_, enc, tr := loadFixture(t)
	ds := openCIFAR10(t, "train")
	opt := EmbedOptions{Batch: 4, ChunkBatches: 2, Workers: 2, Start: 36, End: 76, PartialDir: filepath.Join(t.TempDir(), "p")}
	want, err := Embed(context.Background(), ds, tr, enc, EmbedOptions{Batch: 4, Start: 36, End: 76})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	opt.Progress = func(p Progress) {
		if p.Total != 40 {
			t.Errorf("progress total %d, want the range's 40", p.Total)
		}
		if p.Done >= 20 {
			cancel()
		}
	}
	if _, err := Embed(ctx, ds, tr, enc, opt); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v", err)
	}
	opt.Progress, opt.Resume = nil, true
	moved := opt
	moved.Start = 32
	if _, err := Embed(context.Background(), ds, tr, enc, moved); err == nil || !strings.Contains(err.Error(), "range start 32") {
		t.Fatalf("resume with another range: %v", err)
	}
	res, err := Embed(context.Background(), ds, tr, enc, opt)
	if err != nil {
		t.Fatal(err)
	}
	if res.Resumed < 16 || res.Resumed%8 != 0 || res.Resumed+res.Stats.Images != 40 {
		t.Errorf("resumed %d and encoded %d, want whole chunks of 8 adding up to 40", res.Resumed, res.Stats.Images)
	}
	if !slices.Equal(res.Embeddings.X, want.Embeddings.X) || !slices.Equal(res.Embeddings.Labels, want.Embeddings.Labels) {
		t.Error("resumed range differs from the uninterrupted one")
	}
}
