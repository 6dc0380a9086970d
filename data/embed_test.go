package data

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"plp/imaging"
	"plp/tensor"
	"plp/zoo"
)

// The open_clip fixtures live in the zoo package's testdata (one copy in the repository): a 2-layer CLIP
// ViT on 64×64 images with a 64-wide tower and a 32-wide projection.
const (
	fixtureModel   = "../zoo/testdata/openclip_vit_quickgelu.json"
	fixtureWeights = "../zoo/testdata/openclip_vit_quickgelu.safetensors"
)

var fixture struct {
	once sync.Once
	m    *zoo.Model
	err  error
}

func loadFixture(t testing.TB) (*zoo.Model, *ModelEncoder, imaging.Transform) {
	t.Helper()
	fixture.once.Do(func() { fixture.m, fixture.err = zoo.Load(fixtureModel, fixtureWeights, tensor.CPU{}) })
	if fixture.err != nil {
		t.Fatal(fixture.err)
	}
	enc, err := NewModelEncoder(fixture.m)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := ModelTransform(fixture.m.Spec())
	if err != nil {
		t.Fatal(err)
	}
	return fixture.m, enc, tr
}

func openCIFAR10(t testing.TB, split string) Dataset {
	t.Helper()
	ds, err := Open("CIFAR10", "testdata", split)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func TestModelTransform(t *testing.T) {
	m, enc, tr := loadFixture(t)
	// A fixture manifest is an open_clip model: its family's eval transform at its image size.
	want := imaging.Transform{Name: "clip64", Resize: 64, ResizeMode: imaging.ShorterSide, Interp: imaging.Bicubic, Crop: 64,
		Mean: imaging.OpenAIMean, Std: imaging.OpenAIStd}
	if tr != want {
		t.Errorf("transform %+v, want %+v", tr, want)
	}
	if enc.Kind() != KindPreproj || enc.Dim() != 64 || enc.ImageSize() != 64 {
		t.Errorf("encoder kind %s dim %d size %d, want preproj 64 64", enc.Kind(), enc.Dim(), enc.ImageSize())
	}
	// A registry entry names its transform.
	spec, ok := zoo.Lookup("openclip_ViT-B-16/openai")
	if !ok {
		t.Fatal("registry lacks openclip_ViT-B-16/openai")
	}
	tr2, err := ModelTransform(spec)
	if err != nil {
		t.Fatal(err)
	}
	if named, _ := imaging.TransformByName("clip224"); tr2 != named {
		t.Errorf("ViT-B-16 transform %+v, want clip224", tr2)
	}
	_ = m
}

// encodeDirect is the reference: the transform and EncodeImage called one batch at a time, no pipeline.
func encodeDirect(t *testing.T, m *zoo.Model, tr imaging.Transform, ds Dataset, batch int) (preproj []float32) {
	t.Helper()
	be := m.Backend()
	s := m.ImageSize()
	for lo := 0; lo < ds.Len(); lo += batch {
		hi := min(lo+batch, ds.Len())
		var x []float32
		for i := lo; i < hi; i++ {
			img, err := ds.Load(i)
			if err != nil {
				t.Fatal(err)
			}
			_, chw, err := tr.Apply(img)
			if err != nil {
				t.Fatal(err)
			}
			x = append(x, chw...)
		}
		_, pre, err := m.EncodeImage(be.FromHost(x, hi-lo, 3, s, s))
		if err != nil {
			t.Fatal(err)
		}
		preproj = append(preproj, be.ToHost(pre)...)
	}
	return preproj
}

func TestEmbedMatchesDirectEncode(t *testing.T) {
	m, enc, tr := loadFixture(t)
	ds := openCIFAR10(t, "test")
	const batch = 8
	res, err := Embed(context.Background(), ds, tr, enc, EmbedOptions{Batch: batch, Workers: 3})
	if err != nil {
		t.Fatal(err)
	}
	e := res.Embeddings
	if e.N != ds.Len() || e.D != 64 || len(e.X) != e.N*e.D || len(res.Skipped) != 0 || res.Stats.Images != ds.Len() {
		t.Fatalf("N=%d D=%d len=%d skipped=%d images=%d, want N=%d D=64", e.N, e.D, len(e.X), len(res.Skipped), res.Stats.Images, ds.Len())
	}
	for i, l := range e.Labels {
		if int(l) != ds.Label(i) {
			t.Fatalf("label %d = %d, want %d", i, l, ds.Label(i))
		}
	}
	// Same batches as the pipeline: the same bits.
	if want := encodeDirect(t, m, tr, ds, batch); !slices.Equal(e.X, want) {
		t.Error("embeddings differ from EncodeImage on the same batches")
	}
	// One image at a time: the same vectors up to float rounding.
	one := encodeDirect(t, m, tr, ds, 1)
	for i := range one {
		if d := math.Abs(float64(e.X[i] - one[i])); d > 1e-5*(1+math.Abs(float64(one[i]))) {
			t.Fatalf("value %d: %v batched, %v alone", i, e.X[i], one[i])
		}
	}
	if res.Stats.EncodeBusy <= 0 || res.Stats.Wall < res.Stats.EncodeBusy {
		t.Errorf("stats %+v", res.Stats)
	}
}

func TestEmbedWorkerCountDoesNotChangeOutput(t *testing.T) {
	_, enc, tr := loadFixture(t)
	ds := openCIFAR10(t, "train")
	var outs [][]float32
	for _, w := range []int{1, 4} {
		res, err := Embed(context.Background(), ds, tr, enc, EmbedOptions{Batch: 16, Workers: w})
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, res.Embeddings.X)
	}
	if !slices.Equal(outs[0], outs[1]) {
		t.Error("1 and 4 workers give different embeddings")
	}
}

func TestEmbedResumeIsBitIdentical(t *testing.T) {
	_, enc, tr := loadFixture(t)
	ds := openCIFAR10(t, "train") // 100 samples: chunks of 2×8 → 7 chunks, the last one short
	settings := map[string]string{"model": "fixture", "transform": DescribeTransform(tr)}
	opt := EmbedOptions{Batch: 8, ChunkBatches: 2, Workers: 2, Settings: settings}
	full, err := Embed(context.Background(), ds, tr, enc, opt)
	if err != nil {
		t.Fatal(err)
	}

	dir := filepath.Join(t.TempDir(), "train.partial")
	ctx, cancel := context.WithCancel(context.Background())
	opt.PartialDir = dir
	opt.Progress = func(p Progress) {
		if p.Done >= 40 {
			cancel()
		}
	}
	if _, err := Embed(ctx, ds, tr, enc, opt); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v", err)
	}
	chunks, _ := filepath.Glob(filepath.Join(dir, "chunk-*.safetensors"))
	if len(chunks) != 2 {
		t.Fatalf("interrupted run left %d chunks, want 2 (samples [0, 32))", len(chunks))
	}

	opt.Progress = nil
	if _, err := Embed(context.Background(), ds, tr, enc, opt); err == nil || !strings.Contains(err.Error(), "--resume") {
		t.Fatalf("existing checkpoint without Resume: %v", err)
	}
	bad := opt
	bad.Resume = true
	bad.Settings = map[string]string{"model": "other", "transform": DescribeTransform(tr)}
	if _, err := Embed(context.Background(), ds, tr, enc, bad); err == nil || !strings.Contains(err.Error(), `model "other"`) {
		t.Fatalf("resume with another model: %v", err)
	}
	bad = opt
	bad.Resume, bad.Batch = true, 4
	if _, err := Embed(context.Background(), ds, tr, enc, bad); err == nil || !strings.Contains(err.Error(), "batch 4") {
		t.Fatalf("resume with another batch size: %v", err)
	}

	opt.Resume = true
	res, err := Embed(context.Background(), ds, tr, enc, opt)
	if err != nil {
		t.Fatal(err)
	}
	if res.Resumed != 32 || res.Stats.Images != 68 {
		t.Errorf("resumed %d samples and encoded %d, want 32 and 68", res.Resumed, res.Stats.Images)
	}
	if !slices.Equal(res.Embeddings.X, full.Embeddings.X) || !slices.Equal(res.Embeddings.Labels, full.Embeddings.Labels) {
		t.Error("resumed run differs from the uninterrupted one")
	}
}

// corruptFolder is an ImageFolder of three good images and one corrupt file.
func corruptFolder(t *testing.T) (root, badPath string) {
	t.Helper()
	root = t.TempDir()
	for _, f := range []struct{ src, dst string }{
		{"testdata/imagefolder/cat/01.png", "cat/01.png"},
		{"testdata/imagefolder/cat/2.png", "cat/2.png"},
		{"testdata/imagefolder/dog/b.jpg", "dog/b.jpg"},
	} {
		b, err := os.ReadFile(f.src)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(root, f.dst)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	badPath = filepath.Join(root, "cat", "1bad.png")
	if err := os.WriteFile(badPath, []byte("\x89PNG\r\n\x1a\ntruncated"), 0o644); err != nil {
		t.Fatal(err)
	}
	return root, badPath
}

func TestEmbedCorruptImage(t *testing.T) {
	_, enc, tr := loadFixture(t)
	root, badPath := corruptFolder(t)
	ds, err := Open(root, "", "train")
	if err != nil {
		t.Fatal(err)
	}
	for _, batch := range []int{1, 2, 4} {
		res, err := Embed(context.Background(), ds, tr, enc, EmbedOptions{Batch: batch, OnError: SkipBad, PartialDir: filepath.Join(t.TempDir(), "p"), ChunkBatches: 1})
		if err != nil {
			t.Fatal(err)
		}
		if res.Embeddings.N != 3 || len(res.Skipped) != 1 || res.Skipped[0].Path != badPath || res.Skipped[0].Index != 1 {
			t.Fatalf("batch %d: N=%d skipped=%+v, want 3 and %s", batch, res.Embeddings.N, res.Skipped, badPath)
		}
		if want := []int64{0, 0, 1}; !slices.Equal(res.Embeddings.Labels, want) {
			t.Errorf("labels %v, want %v", res.Embeddings.Labels, want)
		}
	}
	_, err = Embed(context.Background(), ds, tr, enc, EmbedOptions{Batch: 2, OnError: FailBad})
	var se *SampleError
	if !errors.As(err, &se) || se.Path != badPath || !strings.Contains(err.Error(), badPath) {
		t.Fatalf("fail mode: %v, want a SampleError naming %s", err, badPath)
	}
}

func TestEmbedRejectsMismatchedTransform(t *testing.T) {
	_, enc, _ := loadFixture(t)
	tr, _ := imaging.TransformByName("clip224")
	if _, err := Embed(context.Background(), openCIFAR10(t, "test"), tr, enc, EmbedOptions{}); err == nil || !strings.Contains(err.Error(), "224x224") {
		t.Fatalf("clip224 into a 64×64 model: %v", err)
	}
}

func TestEmbedResumeRefusesChangedDataset(t *testing.T) {
	_, enc, tr := loadFixture(t)
	root, badPath := corruptFolder(t)
	ds, err := Open(root, "", "train")
	if err != nil {
		t.Fatal(err)
	}
	opt := EmbedOptions{Batch: 1, ChunkBatches: 1, OnError: FailBad, PartialDir: filepath.Join(t.TempDir(), "p")}
	if _, err := Embed(context.Background(), ds, tr, enc, opt); err == nil {
		t.Fatal("fail mode embedded a corrupt image")
	}
	// The first chunk is saved; the user replaces the bad file by another one.
	if err := os.Rename(badPath, filepath.Join(root, "cat", "3.png")); err != nil {
		t.Fatal(err)
	}
	if ds, err = Open(root, "", "train"); err != nil {
		t.Fatal(err)
	}
	opt.Resume = true
	if _, err := Embed(context.Background(), ds, tr, enc, opt); err == nil || !strings.Contains(err.Error(), "files or labels") {
		t.Fatalf("resume over a changed dataset: %v", err)
	}
}
