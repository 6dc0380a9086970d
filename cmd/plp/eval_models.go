package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"syscall"

	"github.com/urfave/cli/v3"

	"plp/data"
	"plp/detect"
	"plp/eval"
	"plp/imaging"
	"plp/serve"
	"plp/tensor"
	"plp/train"
	"plp/zoo"
)

// The paper's two baselines that evaluate a whole model rather than stored embeddings of a frozen one:
//
//   - Baseline 1 (baseline_fine_tuned_models.py), `plp eval --classifier`: an ImageNet classifier's own
//     logits, cached in the store as the "embeddings" of the model;
//   - Baseline 3 (notebooks/ood_ft_model.ipynb), `plp eval --finetuned DIR`: a `plp finetune` folder's
//     encoder (the EMA weights when EMA was on) and head; its features are cached in the store and the
//     head turns them into logits.
//
// Both embed whatever split the store lacks, so a second run reads the store only.

// modelEvalFlags are the flags of the two baselines.
func modelEvalFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "finetuned", Usage: "score a `plp finetune` output `DIR` (EMA weights when present) as the paper's ood_ft_model notebook"},
		&cli.BoolFlag{Name: "classifier", Usage: "score the own logits of the classifier --model/--weights (the paper's baseline_fine_tuned_models.py)"},
		&cli.StringFlag{Name: "data-root", Usage: "`DIR` holding the datasets, for --finetuned and --classifier (default $" + data.EnvDataRoot + ")"},
		&cli.IntFlag{Name: "batch", Validator: atLeast(1), Value: 64, Usage: "images per forward pass when --finetuned or --classifier embeds a split"},
	}
}

// modelSource prepares --finetuned or --classifier: it fills opt (store model key, dataset, the
// notebook's defaults for --finetuned), embeds the splits the store lacks, and returns the logit source.
func modelSource(c *Context, be tensor.Backend, opt *detect.Options) (detect.Source, error) {
	var (
		spec   *zoo.Spec
		wpath  string
		sha    string
		tr     imaging.Transform
		head   *train.Head
		logits = c.Bool("classifier")
		err    error
	)
	if dir := c.String("finetuned"); dir != "" {
		ft, err := serve.ReadFinetuned(dir, opt.Model)
		if err != nil {
			return detect.Source{}, err
		}
		if opt.Dataset == "" {
			opt.Dataset = ft.Dataset
		}
		spec, wpath, sha, tr, head = ft.Spec, ft.Weights, ft.SHA256, ft.Transform, ft.Head
		opt.Model = ft.StoreKey()
	} else {
		if opt.Model == "" || c.String("weights") == "" || opt.Dataset == "" {
			return detect.Source{}, fmt.Errorf("--classifier needs --model, --weights and --dataset")
		}
		if spec, err = zoo.Resolve(opt.Model); err != nil {
			return detect.Source{}, err
		}
		wpath = c.String("weights")
		if sha, err = data.WeightsSHA256(wpath); err != nil {
			return detect.Source{}, err
		}
		// The store key names the weights, so that a retrained model never reads another's cache.
		opt.Model = data.WeightsKey("classifier", spec.Name, sha)
	}
	if opt.Dataset == "" {
		return detect.Source{}, fmt.Errorf("pass --dataset")
	}
	if len(opt.OOD) == 0 {
		opt.OOD = detect.DefaultOOD(opt.Dataset)
	}
	model, err := zoo.LoadSpec(spec, wpath, be)
	if err != nil {
		return detect.Source{}, err
	}
	if logits {
		tr = classifierTransform(model.ImageSize())
	}
	enc, err := data.NewTowerEncoder(model, logits)
	if err != nil {
		return detect.Source{}, err
	}
	splits := [][2]string{{opt.Dataset, "test"}}
	if !logits || opt.Maha || len(opt.KNN) > 0 {
		splits = append(splits, [2]string{opt.Dataset, "train"})
	}
	for _, o := range opt.OOD {
		splits = append(splits, [2]string{o, "test"})
	}
	for _, s := range splits {
		if err := cacheSplit(c, opt.Embeds, opt.Model, spec.Name, sha, s[0], s[1], enc, tr); err != nil {
			return detect.Source{}, err
		}
	}
	if logits {
		return detect.Source{Classes: enc.Dim(), Logits: func(x []float32, n, d int) ([]float32, error) {
			return x, nil // the stored rows are the logits
		}}, nil
	}
	if head.In != enc.Dim() {
		return detect.Source{}, fmt.Errorf("the fine-tuned head takes %d features, the encoder gives %d", head.In, enc.Dim())
	}
	return detect.Source{Classes: head.Classes, Weight: head.Weight, Bias: head.Bias, Logits: func(x []float32, n, d int) ([]float32, error) {
		if d != head.In {
			return nil, fmt.Errorf("head expects width %d, embeddings have %d", head.In, d)
		}
		return head.Logits(be, x, n), nil
	}}, nil
}

// notebookDefaults sets, for flags the user left alone, what ood_ft_model.ipynb evaluates: the paper's
// eval arguments with every OOD score on (kNN temp-cos-sim with k = 1, Mahalanobis, max with the l1
// and softmax norms, logit scores at T = 1). The notebook scores the model's output, the logits; kNN is
// also run on the penultimate features, as separate records (on=features).
func notebookDefaults(c *Context, opt *detect.Options) {
	if !c.IsSet("knn") {
		opt.KNN = []int{1}
	}
	if !c.IsSet("knn-metric") {
		opt.KNNMetrics = []eval.KNNMetric{eval.KNNTempCosSim}
	}
	if !c.IsSet("knn-on") {
		opt.KNNOn = []string{detect.OnLogits, detect.OnFeatures}
	}
	if !c.IsSet("maha") {
		opt.Maha = true
	}
	if !c.IsSet("maha-on") {
		// Not on the features by default: a ViT's features leave its final LayerNorm, which puts them on a
		// hyperplane, so their covariance is singular and Mahalanobis on them is rounding noise.
		opt.MahaOn = []string{detect.OnLogits}
	}
	if !c.IsSet("max-norm") {
		opt.MaxNorms = []eval.Norm{eval.NormL1, eval.NormSoftmax}
	}
}

// classifierTransform is baseline_fine_tuned_models.py's get_transforms(size): a square resize to
// int(256·size/224) (torchvision's bilinear default), a center crop of size, ImageNet normalisation.
func classifierTransform(size int) imaging.Transform {
	return imaging.Transform{Name: fmt.Sprintf("baseline%d", size), Resize: 256 * size / 224, ResizeMode: imaging.Square,
		Interp: imaging.Bilinear, Crop: size, Mean: imaging.ImageNetMean, Std: imaging.ImageNetStd}
}

// cacheSplit embeds one split of a dataset into the store under key, unless the store has it from the
// same weights, transform and kind.
func cacheSplit(c *Context, store, key, model, sha, dataset, split string, enc *data.TowerEncoder, tr imaging.Transform) error {
	dsName := dataset
	if !slices.Contains(data.Names, dataset) {
		if err := data.CheckName(dataset); err != nil {
			return err
		}
		dsName = filepath.Base(filepath.Clean(dataset))
	}
	path := data.StorePath(store, dsName, key, split)
	settings := map[string]string{"model": model, "weights_sha256": sha, "transform": data.DescribeTransform(tr),
		"dataset": dsName, "split": split, "embedding": enc.Kind(), "plp_version": version}
	if done, err := finishedSplit(path, settings); err != nil || done != nil {
		return err
	}
	ds, err := data.Open(dataset, c.String("data-root"), split)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	partial := data.PartialDir(path)
	bar := newProgressBar(c.Root().ErrWriter, dsName+" "+split)
	res, err := data.Embed(ctx, ds, tr, enc, data.EmbedOptions{Batch: c.Int("batch"), ChunkBatches: 16,
		PartialDir: partial, Resume: true, Settings: settings, Progress: bar.update})
	bar.finish()
	if err != nil {
		return fmt.Errorf("embedding %s %s: %w (finished chunks are kept in %s for the next run)", dsName, split, err, partial)
	}
	e := res.Embeddings
	e.Meta = data.SplitMeta(settings, e.N, res.Skipped)
	if err := data.WriteEmbeddings(path, e); err != nil {
		return err
	}
	if err := data.RemovePartial(partial); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	fmt.Fprintf(c.Root().ErrWriter, "cached %s: %d×%d (%s)\n", path, e.N, e.D, enc.Kind())
	return nil
}
