package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"image"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"plp/data"
	"plp/tensor"
	"plp/weights"
	"plp/zoo"
)

const (
	embedModel   = fixtureDir + "openclip_vit_quickgelu.json"
	embedWeights = fixtureDir + "openclip_vit_quickgelu.safetensors"
	embedData    = "../../data/testdata" // fake CIFAR-10: 100 train, 20 test images
)

func TestEmbedCIFAR10(t *testing.T) {
	out := t.TempDir()
	stdout, err := runPLP(t, "embed", "--model", embedModel, "--weights", embedWeights, "--dataset", "CIFAR10",
		"--data-root", embedData, "--out", out, "--batch", "8", "--workers", "3", "--knn")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "encoder busy") || !strings.Contains(stdout, "k-NN accuracy (k=20, T=0.02)") {
		t.Errorf("output lacks the busy fraction or the k-NN accuracy:\n%s", stdout)
	}
	m, err := zoo.Load(embedModel, embedWeights, tensor.CPU{})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := data.ModelTransform(m.Spec())
	if err != nil {
		t.Fatal(err)
	}
	wb, err := os.ReadFile(embedWeights)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(wb)
	absRoot, _ := filepath.Abs(embedData)
	splits := map[string]*data.Embeddings{}
	for _, split := range []string{"train", "test"} {
		path := filepath.Join(out, "CIFAR10", "openclip_vit_quickgelu", split+".safetensors")
		e, err := data.ReadEmbeddings(path)
		if err != nil {
			t.Fatal(err)
		}
		splits[split] = e
		ds, err := data.Open("CIFAR10", embedData, split)
		if err != nil {
			t.Fatal(err)
		}
		if e.N != ds.Len() || e.D != 64 {
			t.Fatalf("%s: %d×%d, want %d×64 (the tower's pre-projection width)", split, e.N, e.D, ds.Len())
		}
		for i, l := range e.Labels {
			if int(l) != ds.Label(i) {
				t.Fatalf("%s: label %d = %d, want %d", split, i, l, ds.Label(i))
			}
		}
		want := map[string]string{
			"model": "openclip_vit_quickgelu", "weights_sha256": hex.EncodeToString(sum[:]), "transform_name": "clip64",
			"embedding": "preproj", "count": itoa(ds.Len()), "dataset": "CIFAR10", "dataset_root": absRoot,
			"split": split, "plp_version": version, "skipped_count": "0", "skipped": "[]",
		}
		for k, v := range want {
			if e.Meta[k] != v {
				t.Errorf("%s: metadata %s = %q, want %q", split, k, e.Meta[k], v)
			}
		}
		// The stored rows are EncodeImage's pre-projection output for the same batches of 8.
		s := m.ImageSize()
		for lo := 0; lo < ds.Len(); lo += 8 {
			hi := min(lo+8, ds.Len())
			var x []float32
			for i := lo; i < hi; i++ {
				img, _ := ds.Load(i)
				_, chw, err := tr.Apply(img)
				if err != nil {
					t.Fatal(err)
				}
				x = append(x, chw...)
			}
			_, pre, err := m.EncodeImage(tensor.CPU{}.FromHost(x, hi-lo, 3, s, s))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(tensor.Host(pre), e.X[lo*64:hi*64]) {
				t.Fatalf("%s: rows %d-%d differ from EncodeImage's pre-projection feature", split, lo, hi-1)
			}
		}
		if _, err := os.Stat(data.PartialDir(path)); !os.IsNotExist(err) {
			t.Errorf("%s: checkpoint folder left behind (%v)", split, err)
		}
	}
	// Each test sample's first neighbour is its most cosine-similar train sample.
	st, err := weights.OpenSafetensors(filepath.Join(out, "CIFAR10", "openclip_vit_quickgelu", "knn.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	it, err := st.Tensor("indices")
	if err != nil {
		t.Fatal(err)
	}
	idx, _ := it.Int64()
	if !slices.Equal(it.Shape, []int{20, 20}) {
		t.Fatalf("indices shape %v, want [20 20]", it.Shape)
	}
	tr0, te := splits["train"], splits["test"]
	for i := 0; i < te.N; i++ {
		best, bestSim := -1, math.Inf(-1)
		for j := 0; j < tr0.N; j++ {
			if s := cosine(te.X[i*64:(i+1)*64], tr0.X[j*64:(j+1)*64]); s > bestSim {
				best, bestSim = j, s
			}
		}
		if idx[i*20] != int64(best) {
			t.Errorf("test %d: nearest train sample %d, want %d", i, idx[i*20], best)
		}
	}
}

func cosine(a, b []float32) float64 {
	var ab, aa, bb float64
	for i := range a {
		ab += float64(a[i]) * float64(b[i])
		aa += float64(a[i]) * float64(a[i])
		bb += float64(b[i]) * float64(b[i])
	}
	return ab / math.Sqrt(aa*bb)
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// noiseFolder writes an ImageFolder of n random-noise PNGs (side×side) in two classes, plus the given
// extra files.
func noiseFolder(t *testing.T, n, side int, extra map[string][]byte) string {
	t.Helper()
	root := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	img := image.NewNRGBA(image.Rect(0, 0, side, side))
	for i := range img.Pix {
		img.Pix[i] = uint8(rng.Uint32())
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < n; i++ {
		p := filepath.Join(root, []string{"a", "b"}[i%2], "img"+itoa(1000+i)+".png")
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, b := range extra {
		if err := os.WriteFile(filepath.Join(root, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// TestEmbedKilledRunResumes SIGKILLs a plp process (the test binary running main) after its first checkpoint chunk and shows that
// --resume completes the run with a file byte-identical to an uninterrupted run's.
func TestEmbedKilledRunResumes(t *testing.T) {
	tmp := t.TempDir()
	plp := func(args ...string) *exec.Cmd {
		cmd := exec.Command(os.Args[0], args...)
		cmd.Env = append(os.Environ(), envRunMain+"=1")
		return cmd
	}
	root := noiseFolder(t, 120, 192, nil)
	args := func(out string) []string {
		return []string{"embed", "--model", embedModel, "--weights", embedWeights, "--dataset", root, "--split", "train",
			"--out", out, "--batch", "2", "--chunk", "1", "--workers", "1"}
	}
	ref := filepath.Join(tmp, "ref")
	if _, err := runPLP(t, args(ref)...); err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(data.StorePath(ref, filepath.Base(root), embedModel, "train"))
	if err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(tmp, "out")
	final := data.StorePath(out, filepath.Base(root), embedModel, "train")
	partial := data.PartialDir(final)
	cmd := plp(args(out)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(partial, "chunk-000000.safetensors")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("no checkpoint chunk after 30 s; stderr:\n%s", stderr.String())
		}
		time.Sleep(time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if _, err := os.Stat(final); err == nil {
		t.Fatal("the run finished before it was killed; the test needs a slower dataset")
	}
	chunks, _ := filepath.Glob(filepath.Join(partial, "chunk-*.safetensors"))
	t.Logf("killed with %d of 60 chunks written", len(chunks))
	t0 := time.Now()

	if _, err := runPLP(t, args(out)...); err == nil || !strings.Contains(err.Error(), "--resume") {
		t.Fatalf("rerun without --resume: %v, want an error suggesting --resume", err)
	}
	resumed := plp(append(args(out), "--resume")...)
	b, err := resumed.CombinedOutput()
	if err != nil {
		t.Fatalf("resume: %v\n%s", err, b)
	}
	t.Logf("resumed run: %v", time.Since(t0))
	if !strings.Contains(string(b), "resumed") {
		t.Errorf("resume output: %s", b)
	}
	got, err := os.ReadFile(final)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("the resumed run's file differs from the uninterrupted run's")
	}
	if _, err := os.Stat(partial); !os.IsNotExist(err) {
		t.Errorf("checkpoint folder left behind (%v)", err)
	}
}

func TestEmbedCorruptImage(t *testing.T) {
	root := noiseFolder(t, 4, 16, map[string][]byte{"a/img0999.png": []byte("\x89PNG\r\n\x1a\nbroken")})
	bad := filepath.Join(root, "a", "img0999.png")
	out := t.TempDir()
	common := []string{"embed", "--model", embedModel, "--weights", embedWeights, "--dataset", root, "--split", "test", "--out", out, "--batch", "2"}
	if _, err := runPLP(t, append(common, "--on-error", "fail")...); err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("fail mode: %v, want an error naming %s", err, bad)
	}
	// The failed run's checkpoint stays for --resume; start over.
	os.RemoveAll(out)
	if _, err := runPLP(t, common...); err != nil {
		t.Fatal(err)
	}
	e, err := data.ReadEmbeddings(data.StorePath(out, filepath.Base(root), embedModel, "test"))
	if err != nil {
		t.Fatal(err)
	}
	var skipped []data.Skipped
	if err := json.Unmarshal([]byte(e.Meta["skipped"]), &skipped); err != nil {
		t.Fatal(err)
	}
	if e.N != 4 || e.Meta["count"] != "4" || len(skipped) != 1 || skipped[0].Path != bad || skipped[0].Index != 0 {
		t.Errorf("N=%d count=%s skipped=%+v, want 4 images and %s skipped", e.N, e.Meta["count"], skipped, bad)
	}
}

func TestEmbedErrors(t *testing.T) {
	empty := t.TempDir()
	base := []string{"embed", "--model", embedModel}
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"no weights", []string{"--dataset", "CIFAR10", "--data-root", embedData}, []string{"--weights FILE is required", "--random-weights"}},
		{"both weights", []string{"--weights", embedWeights, "--random-weights", "--dataset", "CIFAR10", "--data-root", embedData}, []string{"exclude"}},
		{"on-error", []string{"--random-weights", "--dataset", "CIFAR10", "--data-root", embedData, "--on-error", "ignore"}, []string{"ignore"}},
		{"device", []string{"--random-weights", "--dataset", "CIFAR10", "--data-root", embedData, "--device", "cuda"}, []string{"cuda"}},
		{"split", []string{"--random-weights", "--dataset", "CIFAR10", "--data-root", embedData, "--split", "val2"}, []string{"val2"}},
		{"missing SUN folder", []string{"--random-weights", "--dataset", "SUN", "--data-root", empty}, []string{filepath.Join(empty, "SUN"), "large_scale_ood"}},
		{"missing CIFAR folder", []string{"--random-weights", "--dataset", "CIFAR10", "--data-root", empty}, []string{empty, "cifar-10-batches-py", "cs.toronto.edu"}},
		{"missing image folder", []string{"--random-weights", "--dataset", filepath.Join(empty, "nope")}, []string{filepath.Join(empty, "nope")}},
	}
	for _, c := range cases {
		_, err := runPLP(t, append(slices.Clone(base), append(c.args, "--out", t.TempDir())...)...)
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", c.name, err, w)
			}
		}
	}
}

func TestEmbedProgressLine(t *testing.T) {
	b := newProgressBar(&bytes.Buffer{}, "train")
	cases := []struct {
		p    data.Progress
		bar  bool
		want string
	}{
		{data.Progress{Done: 50, Total: 100, Elapsed: 10 * time.Second}, false, "train 50/100  50% 5.0 images/s ETA 10s"},
		// Resumed samples count as done but not towards the rate.
		{data.Progress{Done: 60, Total: 100, Resumed: 40, Elapsed: 4 * time.Second, Skipped: 2}, false, "train 60/100  60% 5.0 images/s ETA 8s (2 skipped)"},
		{data.Progress{Done: 10, Total: 10, Elapsed: time.Second}, true, "train 10/10 100% [==============================] 10.0 images/s ETA 0s"},
	}
	for _, c := range cases {
		if got := b.line(c.p, c.bar); got != c.want {
			t.Errorf("line(%+v) = %q, want %q", c.p, got, c.want)
		}
	}
}

// --knn on a run of the test split alone reads the train split from the store.
func TestEmbedKNNReadsStoredTrainSplit(t *testing.T) {
	out := t.TempDir()
	args := []string{"embed", "--model", embedModel, "--weights", embedWeights, "--dataset", "CIFAR10", "--data-root", embedData, "--out", out, "--knn"}
	if _, err := runPLP(t, append(args, "--split", "test")...); err == nil || !strings.Contains(err.Error(), "train.safetensors") {
		t.Fatalf("--knn without a train split: %v", err)
	}
	all, err := runPLP(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	alone, err := runPLP(t, append(args, "--split", "test", "--overwrite")...)
	if err != nil {
		t.Fatal(err)
	}
	acc := func(s string) string { return s[strings.Index(s, "k-NN accuracy"):] }
	if acc(all) != acc(alone) {
		t.Errorf("k-NN with both splits: %q; with the stored train split: %q", acc(all), acc(alone))
	}
}

// TestEmbedNamedTransformAtModelSize embeds with a named 224-pixel transform on a 64-pixel model: the
// transform is scaled to the model's size (clip224 at 64 resizes and crops to 64) instead of failing.
func TestEmbedNamedTransformAtModelSize(t *testing.T) {
	out := t.TempDir()
	if _, err := runPLP(t, "embed", "--model", embedModel, "--weights", embedWeights, "--dataset", "CIFAR10", "--data-root", embedData,
		"--split", "test", "--out", out, "--transform", "in224"); err != nil {
		t.Fatal(err)
	}
	e, err := data.ReadEmbeddings(data.StorePath(out, "CIFAR10", embedModel, "test"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := e.Meta["transform_name"], "in224@64"; got != want {
		t.Errorf("transform_name %q, want %q", got, want)
	}
	// in224 resizes to 256 and crops 224; at 64 the resize keeps that ratio: floor(256·64/224) = 73.
	if !strings.Contains(e.Meta["transform"], "resize squash 73") || !strings.Contains(e.Meta["transform"], "crop 64") {
		t.Errorf("transform %q, want a squash resize to 73 and a 64 crop", e.Meta["transform"])
	}
}

// TestEmbedOutputRules checks plp's output rule on embed: an existing split is refused without --overwrite,
// --resume keeps a finished split instead of embedding it again, and a single image folder is not
// embedded as both train and test.
func TestEmbedOutputRules(t *testing.T) {
	out := t.TempDir()
	args := []string{"embed", "--model", embedModel, "--weights", embedWeights, "--dataset", "CIFAR10", "--data-root", embedData, "--out", out}
	if _, err := runPLP(t, args...); err != nil {
		t.Fatal(err)
	}
	path := data.StorePath(out, "CIFAR10", embedModel, "train")
	before, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := runPLP(t, args...); err == nil || !strings.Contains(err.Error(), "--overwrite") {
		t.Fatalf("second run into the same store: err = %v, want a refusal naming --overwrite", err)
	}
	stdout, err := runPLP(t, append(args, "--resume")...)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(stdout, "kept ") != 2 || strings.Contains(stdout, "images/s") {
		t.Errorf("--resume after a finished run embedded again:\n%s", stdout)
	}
	other := append(slices.Clone(args), "--resume", "--transform", "in224")
	if _, err := runPLP(t, other...); err == nil || !strings.Contains(err.Error(), "transform") {
		t.Errorf("--resume with another transform: err = %v, want a refusal naming the transform", err)
	}
	if _, err := runPLP(t, append(args, "--overwrite")...); err != nil {
		t.Fatal(err)
	}
	after, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(before, after) {
		t.Error("--overwrite with the same settings wrote a different file")
	}

	folder := noiseFolder(t, 4, 16, nil)
	_, err = runPLP(t, "embed", "--model", embedModel, "--weights", embedWeights, "--dataset", folder, "--out", t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "--split test") {
		t.Errorf("a single image folder as train and test: err = %v, want a refusal suggesting --split test", err)
	}
	split := t.TempDir()
	for _, s := range []string{"train", "val"} {
		if err := os.Rename(noiseFolder(t, 4, 16, nil), filepath.Join(split, s)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := runPLP(t, "embed", "--model", embedModel, "--weights", embedWeights, "--dataset", split, "--out", t.TempDir()); err != nil {
		t.Errorf("a folder with train/ and val/: %v", err)
	}
}
