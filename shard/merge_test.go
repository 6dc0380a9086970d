package shard

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"plp/data"
	"plp/imaging"
	"plp/tensor"
	"plp/zoo"
)

// The tiny random-weight CLIP ViT of zoo/testdata (64×64 images, 64-wide features) and the fake CIFAR
// files of data/testdata, which plp demo uses too.
const (
	fixtureModel   = "../zoo/testdata/openclip_vit_quickgelu.json"
	fixtureWeights = "../zoo/testdata/openclip_vit_quickgelu.safetensors"
	cifarRoot      = "../data/testdata"
	testBatch      = 8
)

var fixture struct {
	once sync.Once
	enc  *data.ModelEncoder
	tr   imaging.Transform
	err  error
}

func loadFixture(t testing.TB) (*data.ModelEncoder, imaging.Transform) {
	t.Helper()
	fixture.once.Do(func() {
		m, err := zoo.Load(fixtureModel, fixtureWeights, tensor.CPU{})
		if err != nil {
			fixture.err = err
			return
		}
		if fixture.enc, fixture.err = data.NewModelEncoder(m); fixture.err != nil {
			return
		}
		fixture.tr, fixture.err = data.ModelTransform(m.Spec())
	})
	if fixture.err != nil {
		t.Fatal(fixture.err)
	}
	return fixture.enc, fixture.tr
}

func openCIFAR(t testing.TB, split string) data.Dataset {
	t.Helper()
	ds, err := data.Open("CIFAR10", cifarRoot, split)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func runMeta(split string) map[string]string {
	return map[string]string{"model": "openclip_vit_quickgelu", "weights_sha256": "abc", "transform": "clip64",
		"plp_version": "test", "dataset": "CIFAR10", "split": split}
}

// unsharded writes the split as an unsharded run does (data.Embed, data.SplitMeta, data.WriteEmbeddings)
// and returns the file's bytes.
func unsharded(t testing.TB, ds data.Dataset, path string, meta map[string]string) []byte {
	t.Helper()
	enc, tr := loadFixture(t)
	res, err := data.Embed(context.Background(), ds, tr, enc, data.EmbedOptions{Batch: testBatch, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	e := res.Embeddings
	e.Meta = data.SplitMeta(meta, e.N, res.Skipped)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := data.WriteEmbeddings(path, e); err != nil {
		t.Fatal(err)
	}
	return readFile(t, path)
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// runTask runs task i of n over ds into the split stored at path.
func runTask(t testing.TB, ds data.Dataset, path string, task Task, meta map[string]string) *Result {
	t.Helper()
	enc, tr := loadFixture(t)
	res, err := Run(context.Background(), ds, tr, enc, Job{Task: task, StorePath: path, Meta: meta,
		Options: data.EmbedOptions{Batch: testBatch, Workers: 2, ChunkBatches: 1}})
	if err != nil {
		t.Fatalf("task %s: %v", task, err)
	}
	return res
}

func TestMergeIsBitIdenticalToUnsharded(t *testing.T) {
	for _, split := range []string{"train", "test"} {
		ds := openCIFAR(t, split)
		want := unsharded(t, ds, filepath.Join(t.TempDir(), split+".safetensors"), runMeta(split))
		for _, n := range []int{1, 2, 3, 4, 7} {
			path := filepath.Join(t.TempDir(), "CIFAR10", "m", split+".safetensors")
			rows := 0
			// Tasks finish in any order on a cluster: run them backwards.
			for i := n - 1; i >= 0; i-- {
				res := runTask(t, ds, path, Task{i, n}, runMeta(split))
				if res.Done || res.Rows != res.Range.Len() {
					t.Errorf("%s task %d/%d: %+v", split, i, n, res)
				}
				rows += res.Rows
			}
			if rows != ds.Len() {
				t.Errorf("%s N=%d: tasks embedded %d rows, want %d", split, n, rows, ds.Len())
			}
			if _, upToDate, err := Write(path, false); err != nil || upToDate {
				t.Fatalf("%s N=%d: merge: %v (up to date %v)", split, n, err, upToDate)
			}
			if got := readFile(t, path); !bytes.Equal(got, want) {
				t.Errorf("%s N=%d: merged store (%d bytes) differs from the unsharded one (%d bytes)", split, n, len(got), len(want))
			}
		}
	}
}

// TestMergeWithSkippedSamples: a folder with a corrupt image, in batches of 1 over 3 tasks, so that the
// skipped sample falls in the middle task and the merged skip list must be the unsharded one.
func TestMergeWithSkippedSamples(t *testing.T) {
	root := t.TempDir()
	for _, f := range []string{"cat/01.png", "cat/2.png", "dog/b.jpg", "dog/c.PNG"} {
		b := readFile(t, filepath.Join(cifarRoot, "imagefolder", f))
		os.MkdirAll(filepath.Join(root, filepath.Dir(f)), 0o755)
		if err := os.WriteFile(filepath.Join(root, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "cat", "1bad.png"), []byte("\x89PNG\r\n\x1a\ntruncated"), 0o644); err != nil {
		t.Fatal(err)
	}
	ds, err := data.Open(root, "", "train")
	if err != nil {
		t.Fatal(err)
	}
	enc, tr := loadFixture(t)
	meta := runMeta("train")
	ref, err := data.Embed(context.Background(), ds, tr, enc, data.EmbedOptions{Batch: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(ref.Skipped) != 1 {
		t.Fatalf("unsharded run skipped %v, want the corrupt file", ref.Skipped)
	}
	ref.Embeddings.Meta = data.SplitMeta(meta, ref.Embeddings.N, ref.Skipped)
	var want bytes.Buffer
	if err := data.EncodeEmbeddings(&want, ref.Embeddings); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "train.safetensors")
	for i := 0; i < 3; i++ {
		if _, err := Run(context.Background(), ds, tr, enc, Job{Task: Task{i, 3}, StorePath: path, Meta: meta,
			Options: data.EmbedOptions{Batch: 1}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := Write(path, false); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readFile(t, path), want.Bytes()) {
		t.Error("merged store with a skipped sample differs from the unsharded one")
	}
}

func TestMergeTwiceIsHarmless(t *testing.T) {
	ds := openCIFAR(t, "test")
	path := filepath.Join(t.TempDir(), "test.safetensors")
	for i := 0; i < 2; i++ {
		runTask(t, ds, path, Task{i, 2}, runMeta("test"))
	}
	if _, upToDate, err := Write(path, false); err != nil || upToDate {
		t.Fatalf("first merge: %v, up to date %v", err, upToDate)
	}
	first := readFile(t, path)
	st0, _ := os.Stat(path)
	if _, upToDate, err := Write(path, false); err != nil || !upToDate {
		t.Fatalf("second merge: %v, up to date %v; want nothing to do", err, upToDate)
	}
	if st1, _ := os.Stat(path); !os.SameFile(st0, st1) || !bytes.Equal(readFile(t, path), first) {
		t.Error("second merge rewrote the store")
	}
	// A finished task run again finds its shard and does nothing but drop a checkpoint left behind.
	os.MkdirAll(PartialDir(path, Task{1, 2}), 0o755)
	if res := runTask(t, ds, path, Task{1, 2}, runMeta("test")); !res.Done {
		t.Errorf("rerun of a finished task: %+v, want Done", res)
	}
	if _, err := os.Stat(PartialDir(path, Task{1, 2})); err == nil {
		t.Error("rerun of a finished task left its stale checkpoint")
	}
	// A store that is not the merge of its shards is not replaced silently.
	first[len(first)-1] ^= 1
	if err := os.WriteFile(path, first, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Write(path, false); err == nil || !strings.Contains(err.Error(), "differs from the merge") {
		t.Fatalf("merge over a different store: %v", err)
	}
	if _, upToDate, err := Write(path, true); err != nil || upToDate {
		t.Fatalf("merge with overwrite: %v, %v", err, upToDate)
	}
	first[len(first)-1] ^= 1
	if !bytes.Equal(readFile(t, path), first) {
		t.Error("overwriting merge did not restore the store")
	}
}

func TestMergeRefusesMissingAndMismatchedShards(t *testing.T) {
	ds := openCIFAR(t, "test")
	fresh := func(n int) string {
		path := filepath.Join(t.TempDir(), "test.safetensors")
		for i := 0; i < n; i++ {
			runTask(t, ds, path, Task{i, n}, runMeta("test"))
		}
		return path
	}
	path := fresh(4)
	os.Remove(File(path, Task{2, 4}))
	os.MkdirAll(PartialDir(path, Task{2, 4}), 0o755)
	os.Remove(File(path, Task{3, 4}))
	_, err := Merge(path)
	for _, want := range []string{"2 of 4 shards", "2/4 (" + File(path, Task{2, 4}) + ") is unfinished", "3/4 (" + File(path, Task{3, 4})} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing shards: %v; want %q", err, want)
		}
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("a failed merge wrote the store")
	}

	for _, key := range []string{"model", "weights_sha256", "transform", "plp_version", "dataset"} {
		path := fresh(3)
		other := runMeta("test")
		other[key] = "other"
		enc, tr := loadFixture(t)
		job := Job{Task: Task{1, 3}, StorePath: path, Meta: other, Options: data.EmbedOptions{Batch: testBatch}}
		if _, err := Run(context.Background(), ds, tr, enc, job); err == nil || !strings.Contains(err.Error(), key+` "`) {
			t.Errorf("%s: a finished shard of another run was replaced without Overwrite: %v", key, err)
		}
		job.Overwrite = true
		if _, err := Run(context.Background(), ds, tr, enc, job); err != nil {
			t.Fatal(err)
		}
		_, err := Merge(path)
		want := fmt.Sprintf("shard 1/3 (%s) was made by another run than shard 0/3: it has %s \"other\"", File(path, Task{1, 3}), key)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v; want %q", key, err, want)
		}
	}

	// Another batch size moves the ranges; the file of a task run with it does not belong to this plan.
	path = fresh(2)
	enc, tr := loadFixture(t)
	if _, err := Run(context.Background(), ds, tr, enc, Job{Task: Task{1, 2}, StorePath: path, Meta: runMeta("test"), Overwrite: true,
		Options: data.EmbedOptions{Batch: 4}}); err != nil {
		t.Fatal(err)
	}
	if _, err := Merge(path); err == nil || !strings.Contains(err.Error(), "shard_batch") {
		t.Errorf("shards of two batch sizes: %v", err)
	}

	// Leftovers of a run split another way.
	path = fresh(2)
	runTask(t, ds, path, Task{0, 3}, runMeta("test"))
	if _, err := Merge(path); err == nil || !strings.Contains(err.Error(), "split 2 and 3 ways") {
		t.Errorf("shards of 2 and 3 tasks: %v", err)
	}
	// A shard file renamed to another task's name.
	path = fresh(2)
	os.Rename(File(path, Task{0, 2}), File(path, Task{1, 2}))
	runTask(t, ds, path, Task{0, 2}, runMeta("test"))
	os.Rename(File(path, Task{0, 2}), File(path, Task{1, 2})+".x")
	os.Rename(File(path, Task{1, 2}), File(path, Task{0, 2}))
	os.Rename(File(path, Task{1, 2})+".x", File(path, Task{1, 2}))
	if _, err := Merge(path); err == nil || !strings.Contains(err.Error(), "holds shard") {
		t.Errorf("swapped shard files: %v", err)
	}
	if _, err := Merge(filepath.Join(t.TempDir(), "none.safetensors")); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("no shards: %v", err)
	}
}

func TestFind(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"CIFAR10/m/train.shards", "CIFAR10/m/test.shards", "CIFAR100/m/test.shards/00000-of-00002.partial", "CIFAR10/m/x.partial"} {
		os.MkdirAll(filepath.Join(root, d), 0o755)
	}
	got, err := Find(root)
	want := []string{"CIFAR10/m/test.safetensors", "CIFAR10/m/train.safetensors", "CIFAR100/m/test.safetensors"}
	if err != nil || len(got) != len(want) {
		t.Fatalf("Find: %v, %v; want %v", got, err, want)
	}
	for i := range want {
		if got[i] != filepath.Join(root, want[i]) {
			t.Errorf("Find[%d] = %s, want %s", i, got[i], want[i])
		}
	}
	if got, _ := Find(filepath.Join(root, "CIFAR10/m/test.shards")); len(got) != 1 || got[0] != filepath.Join(root, "CIFAR10/m/test.safetensors") {
		t.Errorf("Find of a .shards folder: %v", got)
	}
	if _, err := Find(filepath.Join(root, "CIFAR10/m/x.partial")); err == nil {
		t.Error("Find in a folder without shards succeeded")
	}
}
