package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"math"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"plp/data"
	"plp/detect"
	"plp/eval"
	"plp/imaging"
	"plp/tensor"
	"plp/train"
	"plp/weights"
	"plp/zoo"
)

// startServe runs `plp serve args...` in-process on a loopback port and returns its URL; the server is
// stopped, as SIGTERM stops it, when the test ends, and must then return without error.
func startServe(t *testing.T, args ...string) string {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	app := newApp()
	app.Writer, app.ErrWriter = io.Discard, pw
	done := make(chan error, 1)
	go func() {
		done <- app.Run(ctx, append([]string{"plp", "serve", "--addr", "127.0.0.1:0", "--device", "cpu"}, args...))
		pw.Close()
	}()
	ready := regexp.MustCompile(`ready on (http://127\.0\.0\.1:\d+)`)
	var url string
	var log strings.Builder
	sc := bufio.NewScanner(pr)
	for url == "" && sc.Scan() {
		log.WriteString(sc.Text() + "\n")
		if m := ready.FindStringSubmatch(sc.Text()); m != nil {
			url = m[1]
		}
	}
	go io.Copy(io.Discard, pr)
	if url == "" {
		stop()
		t.Fatalf("serve did not start: %v\n%s", <-done, log.String())
	}
	t.Cleanup(func() {
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve after the stop signal: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
		}
	})
	return url
}

// servedAnswer is the part of a /v1/score answer the fine-tuned test reads.
type servedAnswer struct {
	Results []struct {
		Top []struct {
			Index int     `json:"index"`
			Prob  float64 `json:"prob"`
		} `json:"top"`
		Scores map[string]struct {
			Score     float64 `json:"score"`
			Threshold float64 `json:"threshold"`
			OOD       bool    `json:"ood"`
		} `json:"scores"`
		Error string `json:"error"`
	} `json:"results"`
}

// TestServeFinetuned fine-tunes the CLIP fixture's tower for two epochs, lets `plp eval --finetuned` cache
// the EMA model's embeddings, then serves the folder with `plp serve --finetuned` and sends every ID and OOD
// test image: each served score must equal plp eval's score of the same image within 1e-5 (relative above
// 1, as serve's own tests), the top class must be the head's argmax, and each threshold must be calibrated
// on the fine-tuned model's ID test split.
func TestServeFinetuned(t *testing.T) {
	dir := t.TempDir()
	ft, store, rep := filepath.Join(dir, "ft"), filepath.Join(dir, "store"), filepath.Join(dir, "rep")
	if out, err := runPLP(t, "finetune", "--model", embedModel, "--weights", embedWeights, "--dataset", "CIFAR10", "--data-root", embedData,
		"--out", ft, "--batch", "8", "--limit", "16", "--epochs", "2", "--lr", "1e-3", "--ema-decay", "0.5"); err != nil {
		t.Fatalf("finetune: %v\n%s", err, out)
	}
	if out, err := runPLP(t, "eval", "--finetuned", ft, "--model", embedModel, "--data-root", embedData, "--embeds", store,
		"--out", rep, "--no-plots"); err != nil {
		t.Fatalf("eval --finetuned: %v\n%s", err, out)
	}

	// plp eval's per-image scores: its logit and Mahalanobis scores recomputed from the store it filled and
	// the EMA head, checked against its report (every AUROC and FPR95 the same).
	sha, err := data.WeightsSHA256(filepath.Join(ft, "model_ema.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	spec, err := zoo.Resolve(embedModel)
	if err != nil {
		t.Fatal(err)
	}
	head := readHeadFile(t, filepath.Join(ft, "head_ema.safetensors"), "finetune_head.")
	be := tensor.CPU{}
	res, err := detect.Run(detect.Options{Embeds: store, Model: "finetuned_" + data.ModelDirName(spec.Name) + "_" + sha[:12],
		Dataset: "CIFAR10", OOD: []string{"CIFAR100"}, Temperatures: []float64{1}, Maha: true},
		detect.Source{Classes: head.Classes, Logits: func(x []float32, n, d int) ([]float32, error) { return head.Logits(be, x, n), nil }})
	if err != nil {
		t.Fatal(err)
	}
	reported := map[string]eval.Record{}
	for _, r := range readRecords(t, rep) {
		reported[r.Label()] = r
	}
	for _, r := range res.Records {
		want, ok := reported[r.Label()]
		if !ok || math.Abs(r.AUROC-want.AUROC) > 1e-9 || math.Abs(r.FPR95-want.FPR95) > 1e-9 {
			t.Fatalf("%s: recomputed AUROC %v FPR95 %v, plp eval reported %+v", r.Label(), r.AUROC, r.FPR95, want)
		}
	}
	methods := []string{eval.MethodMSP, eval.MethodEnergy, eval.MethodMaxLogit, eval.MethodL1Norm, eval.MethodMahalanobis, eval.MethodMahalanobisRelative}
	ref := map[string]map[string][]float64{"CIFAR10": {}, "CIFAR100": {}}
	for _, s := range res.Scores {
		if slices.Contains(methods, s.Method) {
			ref["CIFAR10"][s.Method], ref["CIFAR100"][s.Method] = s.ID, s.OOD["CIFAR100"]
		}
	}
	test, err := data.ReadEmbeddings(data.StorePath(store, "CIFAR10", "finetuned_"+data.ModelDirName(spec.Name)+"_"+sha[:12], "test"))
	if err != nil {
		t.Fatal(err)
	}
	testLogits := head.Logits(be, test.X, test.N)

	url := startServe(t, "--finetuned", ft, "--model", embedModel, "--embeds", store, "--methods", strings.Join(methods, ","))
	for _, set := range []string{"CIFAR10", "CIFAR100"} {
		ds, err := data.Open(set, embedData, "test")
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < ds.Len(); i++ {
			img, err := ds.Load(i)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.Post(url+"/v1/score", "image/png", bytes.NewReader(losslessPNG(img)))
			if err != nil {
				t.Fatal(err)
			}
			var a servedAnswer
			err = json.NewDecoder(resp.Body).Decode(&a)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK || len(a.Results) != 1 || a.Results[0].Error != "" {
				t.Fatalf("%s[%d]: %d %v %+v", set, i, resp.StatusCode, err, a)
			}
			r := a.Results[0]
			for _, m := range methods {
				want, got := ref[set][m][i], r.Scores[m]
				if math.Abs(got.Score-want) > 1e-5*math.Max(1, math.Abs(want)) {
					t.Errorf("%s[%d] %s: served %.9g, plp eval %.9g", set, i, m, got.Score, want)
				}
				if got.OOD != (got.Score < got.Threshold) {
					t.Errorf("%s[%d] %s: ood %v for score %v, threshold %v", set, i, m, got.OOD, got.Score, got.Threshold)
				}
			}
			if set == "CIFAR10" {
				row := testLogits[i*head.Classes : (i+1)*head.Classes]
				if best := slices.Index(row, slices.Max(row)); len(r.Top) == 0 || r.Top[0].Index != best {
					t.Errorf("CIFAR10[%d]: top %+v, the head's argmax is %d", i, r.Top, best)
				}
			}
			if i > 0 || set != "CIFAR10" {
				continue
			}
			// The thresholds come from the fine-tuned model's ID test scores: the largest value that keeps
			// at least 95% of them.
			for _, m := range methods {
				th, id := r.Scores[m].Threshold, ref["CIFAR10"][m]
				tol := 1e-5 * math.Max(1, math.Abs(th))
				kept, above := 0, 0
				for _, v := range id {
					if v >= th-tol {
						kept++
					}
					if v > th+tol {
						above++
					}
				}
				if float64(kept) < 0.95*float64(len(id)) || float64(above) >= 0.95*float64(len(id)) {
					t.Errorf("%s threshold %v: %d of %d ID test scores at or above it, %d above", m, th, kept, len(id), above)
				}
			}
		}
	}
}

// TestServeFinetunedRefusals: a fine-tuned folder with another head or its own weights, or with a store
// that plp eval --finetuned has not filled, is refused with a clear error.
func TestServeFinetunedRefusals(t *testing.T) {
	dir := t.TempDir()
	ft := filepath.Join(dir, "ft")
	if out, err := runPLP(t, "finetune", "--model", embedModel, "--weights", embedWeights, "--dataset", "CIFAR10", "--data-root", embedData,
		"--out", ft, "--batch", "8", "--limit", "8", "--epochs", "1"); err != nil {
		t.Fatalf("finetune: %v\n%s", err, out)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--finetuned", ft, "--probe", dir}, "alternatives"},
		{[]string{"--finetuned", ft, "--zeroshot"}, "alternatives"},
		{[]string{"--finetuned", ft, "--weights", embedWeights}, "brings its own weights"},
		{[]string{"--finetuned", ft}, "a config file needs --model"},
		{[]string{"--finetuned", ft, "--model", embedModel}, "plp eval --finetuned " + ft},
		{[]string{"--finetuned", dir, "--model", embedModel}, "not a plp finetune folder"},
	} {
		_, err := runPLP(t, append([]string{"serve", "--embeds", filepath.Join(dir, "store"), "--addr", "127.0.0.1:0"}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: err = %v, want one saying %q", c.args, err, c.want)
		}
	}
}

// readHeadFile reads a linear head's prefix+weight and prefix+bias.
func readHeadFile(t *testing.T, path, prefix string) *train.Head {
	t.Helper()
	st, err := weights.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	wt, err := st.Tensor(prefix + "weight")
	if err != nil {
		t.Fatal(err)
	}
	bt, err := st.Tensor(prefix + "bias")
	if err != nil {
		t.Fatal(err)
	}
	w, err := wt.Float32()
	if err != nil {
		t.Fatal(err)
	}
	b, err := bt.Float32()
	if err != nil {
		t.Fatal(err)
	}
	return &train.Head{In: wt.Shape[1], Classes: wt.Shape[0], Weight: slices.Clone(w), Bias: slices.Clone(b)}
}

// losslessPNG encodes img as a PNG, which decodes to the same pixels the store was made from.
func losslessPNG(img *imaging.RGB) []byte {
	m := image.NewNRGBA(image.Rect(0, 0, img.W, img.H))
	for i := 0; i < img.W*img.H; i++ {
		copy(m.Pix[4*i:4*i+3], img.Pix[3*i:3*i+3])
		m.Pix[4*i+3] = 255
	}
	var b bytes.Buffer
	png.Encode(&b, m)
	return b.Bytes()
}
