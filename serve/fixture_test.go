package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"plp/data"
	"plp/detect"
	"plp/eval"
	"plp/imaging"
	"plp/tensor"
	"plp/train"
	"plp/weights"
	"plp/zoo"
)

// The tiny random-weight CLIP model and the fake CIFAR files that `plp demo` runs on.
var (
	tinyManifest = filepath.Join("..", "zoo", "testdata", "openclip_vit_quickgelu.json")
	tinyWeights  = filepath.Join("..", "zoo", "testdata", "openclip_vit_quickgelu.safetensors")
	dataRoot     = filepath.Join("..", "data", "testdata")
)

// world is a store, a probe and the reference scores of `plp eval` on them, made once per test binary the
// way `plp embed`, `plp probe` and `plp eval` make them.
type world struct {
	dir, embeds, probe string
	// ref[set][method] are the scores detect.Run (plp eval) gives the test split of set, in dataset order.
	ref map[string]map[string][]float64
	// png[set][i] is test image i of set as a PNG file: lossless, so it decodes to the stored pixels.
	png map[string][][]byte
	err error
}

var (
	worldOnce sync.Once
	theWorld  world
)

func testWorld(t testing.TB) *world {
	t.Helper()
	worldOnce.Do(func() { theWorld.err = theWorld.build() })
	if theWorld.err != nil {
		t.Fatal(theWorld.err)
	}
	return &theWorld
}

func TestMain(m *testing.M) {
	code := m.Run()
	if theWorld.dir != "" {
		os.RemoveAll(theWorld.dir)
	}
	os.Exit(code)
}

var allMethods = []string{eval.MethodMSP, eval.MethodEnergy, eval.MethodMaxLogit, eval.MethodL1Norm,
	eval.MethodMahalanobis, eval.MethodMahalanobisRelative, eval.MethodKNN}

const testK = 10

func (w *world) build() error {
	var err error
	if w.dir, err = os.MkdirTemp("", "plp-serve-test-"); err != nil {
		return err
	}
	w.embeds, w.probe = filepath.Join(w.dir, "embeddings"), filepath.Join(w.dir, "probe")
	be := tensor.CPU{}
	spec, err := zoo.Resolve(tinyManifest)
	if err != nil {
		return err
	}
	m, err := zoo.LoadSpec(spec, tinyWeights, be)
	if err != nil {
		return err
	}
	tr, err := data.ModelTransform(spec)
	if err != nil {
		return err
	}
	enc, err := data.NewModelEncoder(m)
	if err != nil {
		return err
	}
	sum, err := data.WeightsSHA256(tinyWeights)
	if err != nil {
		return err
	}
	w.png = map[string][][]byte{}
	stored := map[string]*data.Embeddings{}
	for _, s := range []struct{ set, split string }{{"CIFAR10", "train"}, {"CIFAR10", "test"}, {"CIFAR100", "test"}} {
		ds, err := data.Open(s.set, dataRoot, s.split)
		if err != nil {
			return err
		}
		res, err := data.Embed(context.Background(), ds, tr, enc, data.EmbedOptions{Batch: 16, OnError: data.FailBad})
		if err != nil {
			return err
		}
		e := res.Embeddings
		e.Meta = map[string]string{"model": spec.Name, "weights_sha256": sum, "transform": data.DescribeTransform(tr),
			"transform_name": tr.Name, "dataset": s.set, "split": s.split, "embedding": enc.Kind()}
		if err := os.MkdirAll(filepath.Dir(data.StorePath(w.embeds, s.set, tinyManifest, s.split)), 0o755); err != nil {
			return err
		}
		if err := data.WriteEmbeddings(data.StorePath(w.embeds, s.set, tinyManifest, s.split), e); err != nil {
			return err
		}
		stored[s.set+"/"+s.split] = e
		if s.split == "test" {
			for i := 0; i < ds.Len(); i++ {
				img, err := ds.Load(i)
				if err != nil {
					return err
				}
				w.png[s.set] = append(w.png[s.set], pngOf(img))
			}
		}
	}
	// A probe as `plp probe --embed-norm` trains it, on the true labels.
	trainE := stored["CIFAR10/train"]
	head, err := train.TrainProbe(be, trainE.Normalized(trainE.Mean, trainE.Std), trainE.N, trainE.D, trainE.IntLabels(), 10,
		train.ProbeConfig{Epochs: 20, Batch: 32, LR: 1e-3, WD: 1e-3, Optimizer: "adam", Seed: 42}, nil)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(w.probe, 0o755); err != nil {
		return err
	}
	hp, _ := json.Marshal(map[string]any{"model": tinyManifest, "dataset": "CIFAR10", "embeds": w.embeds, "embed_norm": true,
		"pseudo_labels": false, "weights": tinyWeights, "classes": 10})
	if err := os.WriteFile(filepath.Join(w.probe, "hp.json"), hp, 0o644); err != nil {
		return err
	}
	if err := weights.WriteSafetensors(filepath.Join(w.probe, "head.safetensors"), []*weights.Tensor{
		weights.FromFloat32("weight", []int{head.Classes, head.In}, head.Weight),
		weights.FromFloat32("bias", []int{head.Classes}, head.Bias)}, nil); err != nil {
		return err
	}
	// `plp eval --probe DIR --embeds STORE --knn 10`: the reference scores.
	res, err := detect.Run(detect.Options{Embeds: w.embeds, Model: tinyManifest, Dataset: "CIFAR10", OOD: []string{"CIFAR100"},
		Temperatures: []float64{1}, Maha: true, KNN: []int{testK}},
		detect.Source{Classes: 10, EmbedNorm: true, Logits: func(x []float32, n, d int) ([]float32, error) {
			return head.Logits(be, x, n), nil
		}})
	if err != nil {
		return err
	}
	w.ref = map[string]map[string][]float64{"CIFAR10": {}, "CIFAR100": {}}
	for _, s := range res.Scores {
		w.ref["CIFAR10"][s.Method] = s.ID
		w.ref["CIFAR100"][s.Method] = s.OOD["CIFAR100"]
	}
	for _, m := range allMethods {
		if w.ref["CIFAR10"][m] == nil {
			return fmt.Errorf("plp eval gave no %s scores", m)
		}
	}
	return nil
}

func pngOf(img *imaging.RGB) []byte {
	m := image.NewNRGBA(image.Rect(0, 0, img.W, img.H))
	for i := 0; i < img.W*img.H; i++ {
		copy(m.Pix[4*i:4*i+3], img.Pix[3*i:3*i+3])
		m.Pix[4*i+3] = 255
	}
	var b bytes.Buffer
	png.Encode(&b, m)
	return b.Bytes()
}

// newTestServer loads the world's probe and store with every method and serves it on loopback.
func newTestServer(t testing.TB, opt Options, methods ...string) (*Server, *httptest.Server) {
	t.Helper()
	w := testWorld(t)
	if len(methods) == 0 {
		methods = allMethods
	}
	l, err := Load(Setup{Probe: w.probe, Embeds: w.embeds, Detector: DetectorConfig{Methods: methods, KNNK: testK}})
	if err != nil {
		t.Fatal(err)
	}
	if opt.Logger == nil {
		opt.Logger = log.New(io.Discard, "", 0)
	}
	opt.Model = l.Model
	s, err := New(l.Encoder, l.Transform, l.Detector, opt)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30e9)
	defer cancel()
	if err := s.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	t.Cleanup(func() {
		hs.Close()
		s.Close()
	})
	return s, hs
}
