package main

import (
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v3"

	"plp/data"
	"plp/imaging"
	"plp/tensor"
	"plp/train"
	"plp/weights"
	"plp/zoo"
)

func init() {
	register(func() *cli.Command {
		return &cli.Command{
			Name:  "adversarial",
			Usage: "make feature-space adversarial OOD images and measure how much they fool kNN OOD detection",
			Description: `The paper's notebook clip-ood-adversarial-examples.ipynb: --n images of the --source dataset's test split
are each paired with an image of the --target dataset's train split, and Adam (--lr, --steps) optimises a
perturbation p of each source image x, clamped so that x+p stays in [0, 1], to maximise the cosine
similarity of the encoder's embedding of x+p to the target's embedding, minus --smooth-lambda times the
mean squared image gradients of p (torchmetrics image_gradients; 0 gives the "patchy" examples).

The ID set is the target dataset: its train split (--bank-n images, the targets included; 0: all) is the
kNN bank and --id-n images of its test split are the ID test set. Printed and saved in OUT/results.json:
the k=1 cosine kNN AUROC (%) of ID test vs the clean source images (auroc_real) and vs the adversarial
ones (auroc_adv), and the same with the targets removed from the bank (_sub). OUT/adv/NNNNNN.png are the
perturbed images (8-bit), OUT/embeddings.safetensors the clean, adversarial, target and ID embeddings with
the chosen indices.

Example (the paper's setting):
  plp adversarial --model openclip_ViT-bigG-14/laion2b --weights open_clip_model.safetensors \
    --source CIFAR10 --target CIFAR100 --n 1000 --steps 250 --smooth-lambda 5e3 --out adv`,
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "model", Required: true, Usage: "registry `NAME` or config file"},
				&cli.StringFlag{Name: "weights", Required: true, Usage: "checkpoint `FILE`"},
				&cli.StringFlag{Name: "source", Required: true, Usage: "OOD `DATASET` whose test images are perturbed"},
				&cli.StringFlag{Name: "target", Required: true, Usage: "ID `DATASET` whose train images are the targets"},
				&cli.StringFlag{Name: "data-root", Usage: "`DIR` holding the datasets (default $" + data.EnvDataRoot + ")"},
				&cli.IntFlag{Name: "n", Validator: atLeast(1), Value: 1000, Usage: "number of adversarial images"},
				&cli.IntFlag{Name: "steps", Validator: atLeast(1), Value: 250, Usage: "Adam steps"},
				&cli.FloatFlag{Name: "lr", Validator: positive, Value: 1e-3, Usage: "Adam learning rate"},
				&cli.FloatFlag{Name: "smooth-lambda", Validator: nonNegative, Value: 5e3, Usage: "weight of the smoothness penalty"},
				&cli.FloatFlag{Name: "init-scale", Validator: nonNegative, Value: 1e-3, Usage: "std of the initial perturbation"},
				&cli.IntFlag{Name: "batch", Validator: atLeast(1), Value: 16, Usage: "image pairs per optimisation batch"},
				&cli.IntFlag{Name: "bank-n", Validator: atLeast(0), Usage: "kNN bank size from the target's train split (0: all)"},
				&cli.IntFlag{Name: "id-n", Validator: atLeast(0), Usage: "ID test images from the target's test split (0: --n)"},
				&cli.Uint64Flag{Name: "seed", Validator: anySeed, Usage: "seed of the image choice and the initial perturbations"},
				&cli.StringFlag{Name: "transform", Usage: "override the model's transform: `NAME` in " + strings.Join(imaging.TransformNames(), " ")},
				&cli.StringFlag{Name: "out", Required: true, Usage: "output `DIR`"},
				overwriteFlag(),
			},
			Action: action(func(c *Context) error {
				if err := adversarial(c); err != nil {
					return fmt.Errorf("adversarial: %w", err)
				}
				return nil
			}),
		}
	})
}

// choose picks n distinct indices of [0, total) (all of them, shuffled, when n >= total).
func choose(r *rand.Rand, total, n int) []int {
	p := r.Perm(total)
	return p[:min(n, total)]
}

func adversarial(c *Context) error {
	n, batch := c.Int("n"), c.Int("batch")
	out := c.String("out")
	outputs := []string{filepath.Join(out, "adv"), filepath.Join(out, "embeddings.safetensors"), filepath.Join(out, "results.json")}
	if err := refuseExisting(c, outputs...); err != nil {
		return err
	}
	spec, err := zoo.Resolve(c.String("model"))
	if err != nil {
		return err
	}
	root := c.String("data-root")
	src, err := data.Open(c.String("source"), root, "test")
	if err != nil {
		return err
	}
	tgt, err := data.Open(c.String("target"), root, "train")
	if err != nil {
		return err
	}
	idTest, err := data.Open(c.String("target"), root, "test")
	if err != nil {
		return err
	}
	tr, err := data.TransformFor(spec, c.String("transform"))
	if err != nil {
		return err
	}
	st, err := zoo.OpenWeights(c.String("weights"))
	if err != nil {
		return err
	}
	be := tensor.CPU{}
	enc, err := train.LoadEncoder(spec, st, be)
	st.Close()
	if err != nil {
		return err
	}

	if n > src.Len() {
		return fmt.Errorf("--n %d: the source set %s has only %d test images; pass --n %d or fewer", n, c.String("source"), src.Len(), src.Len())
	}
	if idN := c.Int("id-n"); idN > idTest.Len() {
		return fmt.Errorf("--id-n %d: the target's test split has only %d images", idN, idTest.Len())
	}
	if bankN := c.Int("bank-n"); bankN > tgt.Len() {
		return fmt.Errorf("--bank-n %d: the target's train split has only %d images (0 takes them all)", bankN, tgt.Len())
	}
	r := rand.New(rand.NewPCG(c.Uint64("seed"), 0x616476))
	srcIdx := choose(r, src.Len(), n)
	n = len(srcIdx)
	tgtIdx := choose(r, tgt.Len(), n)
	if len(tgtIdx) < n {
		return fmt.Errorf("the target set has %d images, fewer than --n %d", tgt.Len(), n)
	}
	idN := c.Int("id-n")
	if idN == 0 {
		idN = n
	}
	idIdx := choose(r, idTest.Len(), idN)
	// The bank is the targets plus other train images up to --bank-n.
	bankN := c.Int("bank-n")
	if bankN == 0 || bankN > tgt.Len() {
		bankN = tgt.Len()
	}
	isTarget := map[int]bool{}
	bankIdx := append([]int(nil), tgtIdx...)
	for _, i := range tgtIdx {
		isTarget[i] = true
	}
	for _, i := range r.Perm(tgt.Len()) {
		if len(bankIdx) >= max(bankN, n) {
			break
		}
		if !isTarget[i] {
			bankIdx = append(bankIdx, i)
		}
	}

	cfg := train.AdvConfig{Steps: c.Int("steps"), LR: c.Float("lr"), InitScale: c.Float("init-scale"),
		SmoothLambda: c.Float("smooth-lambda"), Seed: c.Uint64("seed")}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	bar := newProgressBar(c.Root().ErrWriter, "attack")
	bar.unit = "steps"
	start := time.Now()
	totalSteps := ((n + batch - 1) / batch) * cfg.Steps
	res, err := train.RunAdversarial(ctx, be, enc, src, tgt, srcIdx, tgtIdx, tr, cfg, batch, func(done, total, step int, sim float64) {
		bar.extra = fmt.Sprintf("sim=%.4f", sim)
		bar.update(data.Progress{Done: done/batch*cfg.Steps + step, Total: totalSteps, Elapsed: time.Since(start)})
	})
	bar.finish()
	if err != nil {
		return err
	}
	bank, err := train.EmbedImages(ctx, be, enc, tgt, bankIdx, tr, batch)
	if err != nil {
		return err
	}
	id, err := train.EmbedImages(ctx, be, enc, idTest, idIdx, tr, batch)
	if err != nil {
		return err
	}
	d := res.Dim
	results := map[string]float64{"smooth_lambda": cfg.SmoothLambda, "steps": float64(cfg.Steps), "n": float64(n)}
	var simSum float64
	for _, s := range res.Similarity {
		simSum += s
	}
	results["mean_similarity"] = simSum / float64(n)
	for _, b := range []struct {
		suffix string
		bank   []float32
	}{{"", bank}, {"_sub", bank[n*d:]}} {
		if len(b.bank) == 0 {
			continue
		}
		if results["auroc_real"+b.suffix], err = train.KNNAUROC(b.bank, id, res.Clean, d); err != nil {
			return err
		}
		if results["auroc_adv"+b.suffix], err = train.KNNAUROC(b.bank, id, res.Adversarial, d); err != nil {
			return err
		}
	}

	// Images of an earlier run with a larger --n would otherwise stay next to this run's.
	if err := removeStale(outputs...); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(out, "adv"), 0o755); err != nil {
		return err
	}
	S := res.Size
	for i := 0; i < n; i++ {
		if err := writePNG(filepath.Join(out, "adv", fmt.Sprintf("%06d.png", i)), res.Perturbed[i*3*S*S:(i+1)*3*S*S], S); err != nil {
			return err
		}
	}
	ints := func(name string, v []int) *weights.Tensor {
		w := make([]int64, len(v))
		for i, x := range v {
			w[i] = int64(x)
		}
		return weights.FromInt64(name, []int{len(v)}, w)
	}
	sims := make([]float32, n)
	for i, s := range res.Similarity {
		sims[i] = float32(s)
	}
	ts := []*weights.Tensor{
		weights.FromFloat32("clean", []int{n, d}, res.Clean),
		weights.FromFloat32("adversarial", []int{n, d}, res.Adversarial),
		weights.FromFloat32("target", []int{n, d}, res.Target),
		weights.FromFloat32("id_test", []int{len(idIdx), d}, id),
		weights.FromFloat32("similarity", []int{n}, sims),
		ints("source_index", srcIdx), ints("target_index", tgtIdx), ints("id_test_index", idIdx), ints("bank_index", bankIdx),
	}
	meta := map[string]string{"model": spec.Name, "source": c.String("source"), "target": c.String("target"), "transform": data.DescribeTransform(tr)}
	if err := weights.WriteSafetensors(filepath.Join(out, "embeddings.safetensors"), ts, meta); err != nil {
		return err
	}
	js, _ := json.MarshalIndent(results, "", "  ")
	if err := os.WriteFile(filepath.Join(out, "results.json"), js, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(c.Root().Writer, "mean cosine similarity to the targets: %.4f\n", results["mean_similarity"])
	fmt.Fprintf(c.Root().Writer, "kNN (k=1, cosine) AUROC: clean %.2f adversarial %.2f", results["auroc_real"], results["auroc_adv"])
	if _, ok := results["auroc_real_sub"]; ok {
		fmt.Fprintf(c.Root().Writer, "; targets left out of the bank: clean %.2f adversarial %.2f", results["auroc_real_sub"], results["auroc_adv_sub"])
	}
	fmt.Fprintln(c.Root().Writer)
	return nil
}

// writePNG stores a [3, S, S] image in [0, 1] as 8-bit RGB.
func writePNG(path string, chw []float32, S int) error {
	img := image.NewNRGBA(image.Rect(0, 0, S, S))
	q := func(v float32) uint8 { return uint8(math.Round(math.Min(math.Max(float64(v), 0), 1) * 255)) }
	for y := 0; y < S; y++ {
		for x := 0; x < S; x++ {
			p := y*S + x
			img.SetNRGBA(x, y, color.NRGBA{q(chw[p]), q(chw[S*S+p]), q(chw[2*S*S+p]), 255})
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
