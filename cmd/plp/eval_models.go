package main

import (
	"encoding/json"
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
	"plp/tensor"
	"plp/train"
	"plp/weights"
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

// towerEncoder is a data.Encoder that stores a model's image embedding after any projection (the input of
// a fine-tuned head) or, with logits, the model's classifier logits.
type towerEncoder struct {
	m      *zoo.Model
	logits bool
	dim    int
}

func newTowerEncoder(m *zoo.Model, logits bool) (*towerEncoder, error) {
	e := &towerEncoder{m: m, logits: logits}
	s := m.ImageSize()
	if s <= 0 {
		return nil, fmt.Errorf("model %s has image size %d", m.Name(), s)
	}
	v, err := e.encode(make([]float32, 3*s*s), 1)
	if err != nil {
		return nil, err
	}
	e.dim = len(v)
	return e, nil
}

func (e *towerEncoder) kind() string {
	if e.logits {
		return "logits"
	}
	return data.KindEmbed
}

// Dim implements data.Encoder.
func (e *towerEncoder) Dim() int { return e.dim }

// ImageSize implements data.Encoder.
func (e *towerEncoder) ImageSize() int { return e.m.ImageSize() }

// Encode implements data.Encoder.
func (e *towerEncoder) Encode(x []float32, n int) ([]float32, error) {
	v, err := e.encode(x, n)
	if err == nil && len(v) != n*e.dim {
		err = fmt.Errorf("model %s returned %d values for %d images of width %d", e.m.Name(), len(v), n, e.dim)
	}
	return v, err
}

func (e *towerEncoder) encode(x []float32, n int) ([]float32, error) {
	s := e.m.ImageSize()
	be := e.m.Backend()
	xt := be.FromHost(x, n, 3, s, s)
	defer be.Free(xt)
	var out *tensor.Tensor
	if e.logits {
		l, err := e.m.Logits(xt)
		if err != nil {
			return nil, err
		}
		out = l
	} else {
		embed, preproj, err := e.m.EncodeImage(xt)
		if err != nil {
			return nil, err
		}
		if preproj != nil && preproj != embed {
			be.Free(preproj)
		}
		out = embed
	}
	defer be.Free(out)
	if out.Rank() != 2 || out.Dim(0) != n {
		return nil, fmt.Errorf("model %s returned shape %v for %d images", e.m.Name(), out.Shape(), n)
	}
	return be.ToHost(out), nil
}

// modelSource prepares --finetuned or --classifier: it fills opt (store model key, dataset, the
// notebook's defaults for --finetuned), embeds the splits the store lacks, and returns the logit source.
func modelSource(c *Context, be tensor.Backend, opt *detect.Options) (detect.Source, error) {
	var (
		spec    *zoo.Spec
		wpath   string
		tr      imaging.Transform
		head    *train.Head
		logits  = c.Bool("classifier")
		keyKind string
		err     error
	)
	if dir := c.String("finetuned"); dir != "" {
		var hp finetunedHP
		if spec, wpath, tr, head, hp, err = readFinetuned(dir, opt.Model); err != nil {
			return detect.Source{}, err
		}
		if opt.Dataset == "" {
			opt.Dataset = hp.Dataset
		}
		keyKind = "finetuned"
	} else {
		if opt.Model == "" || c.String("weights") == "" || opt.Dataset == "" {
			return detect.Source{}, fmt.Errorf("--classifier needs --model, --weights and --dataset")
		}
		if spec, err = zoo.Resolve(opt.Model); err != nil {
			return detect.Source{}, err
		}
		wpath = c.String("weights")
		keyKind = "classifier"
	}
	if opt.Dataset == "" {
		return detect.Source{}, fmt.Errorf("pass --dataset")
	}
	sha, err := fileSHA256(wpath)
	if err != nil {
		return detect.Source{}, err
	}
	// The store key names the weights, so that a retrained model never reads another's cache.
	opt.Model = fmt.Sprintf("%s_%s_%s", keyKind, data.ModelDirName(spec.Name), sha[:12])
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
	enc, err := newTowerEncoder(model, logits)
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

// finetunedHP is the part of a `plp finetune` hp.json that evaluation needs.
type finetunedHP struct {
	Model     string `json:"model"`
	Dataset   string `json:"dataset"`
	Transform string `json:"transform"`
}

// readFinetuned reads a `plp finetune` folder: its model (hp.json's, or model when not empty: a config
// file's model is named by the file), the weights to evaluate (model_ema.safetensors when EMA was on,
// else model.safetensors), the transform it was trained with, and its head.
func readFinetuned(dir, model string) (*zoo.Spec, string, imaging.Transform, *train.Head, finetunedHP, error) {
	var hp finetunedHP
	fail := func(err error) (*zoo.Spec, string, imaging.Transform, *train.Head, finetunedHP, error) {
		return nil, "", imaging.Transform{}, nil, hp, err
	}
	b, err := os.ReadFile(filepath.Join(dir, "hp.json"))
	if err != nil {
		return fail(fmt.Errorf("%s is not a plp finetune folder (no hp.json): %w", dir, err))
	}
	if err := json.Unmarshal(b, &hp); err != nil {
		return fail(fmt.Errorf("%s/hp.json: %w", dir, err))
	}
	if model == "" {
		model = hp.Model
	}
	spec, err := zoo.Resolve(model)
	if err != nil {
		return fail(fmt.Errorf("the model of %s: %w (a model made from a config file needs --model FILE)", dir, err))
	}
	// The EMA model, encoder and head, when EMA was on (the notebook loads model_ema).
	wpath, hpath := filepath.Join(dir, "model_ema.safetensors"), filepath.Join(dir, "head_ema.safetensors")
	if _, err := os.Stat(wpath); err != nil {
		wpath, hpath = filepath.Join(dir, "model.safetensors"), filepath.Join(dir, "head.safetensors")
	} else if _, err := os.Stat(hpath); err != nil {
		return fail(fmt.Errorf("%s has model_ema.safetensors but no head_ema.safetensors (written by an older plp finetune): "+
			"its EMA encoder has no matching head", dir))
	}
	if _, err := os.Stat(wpath); err != nil {
		return fail(fmt.Errorf("%s has no model.safetensors: has the fine-tuning finished?", dir))
	}
	// hp.json describes the transform; find the named one (or the model's own) it describes.
	var tr imaging.Transform
	found := false
	for _, name := range append([]string{""}, imaging.TransformNames()...) {
		t, err := data.TransformFor(spec, name)
		if err == nil && data.DescribeTransform(t) == hp.Transform {
			tr, found = t, true
			break
		}
	}
	if t := finetuneTransform(spec.Config.ImageSize()); !found && data.DescribeTransform(t) == hp.Transform {
		tr, found = t, true
	}
	if !found {
		return fail(fmt.Errorf("%s/hp.json: transform %q is none plp knows", dir, hp.Transform))
	}
	head, err := readFinetunedHead(hpath)
	if err != nil {
		return fail(err)
	}
	return spec, wpath, tr, head, hp, nil
}

// readFinetunedHead reads the linear head `plp finetune` writes (finetune_head.weight and .bias).
func readFinetunedHead(path string) (*train.Head, error) {
	st, err := weights.Open(path)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	var wt, bt *weights.Tensor
	for _, prefix := range []string{"finetune_head.", "head."} {
		if wt, err = st.Tensor(prefix + "weight"); err == nil {
			if bt, err = st.Tensor(prefix + "bias"); err == nil {
				break
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: no finetune_head.weight and .bias: %w", path, err)
	}
	if len(wt.Shape) != 2 || len(bt.Shape) != 1 || bt.Shape[0] != wt.Shape[0] {
		return nil, fmt.Errorf("%s: weight %v and bias %v are not a linear layer", path, wt.Shape, bt.Shape)
	}
	w, err := wt.Float32()
	if err != nil {
		return nil, err
	}
	bias, err := bt.Float32()
	if err != nil {
		return nil, err
	}
	return &train.Head{In: wt.Shape[1], Classes: wt.Shape[0], Weight: slices.Clone(w), Bias: slices.Clone(bias)}, nil
}

// cacheSplit embeds one split of a dataset into the store under key, unless the store has it from the
// same weights, transform and kind.
func cacheSplit(c *Context, store, key, model, sha, dataset, split string, enc *towerEncoder, tr imaging.Transform) error {
	dsName := dataset
	if !slices.Contains(data.Names, dataset) {
		if err := data.CheckName(dataset); err != nil {
			return err
		}
		dsName = filepath.Base(filepath.Clean(dataset))
	}
	path := data.StorePath(store, dsName, key, split)
	settings := map[string]string{"model": model, "weights_sha256": sha, "transform": data.DescribeTransform(tr),
		"dataset": dsName, "split": split, "embedding": enc.kind(), "plp_version": version}
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
	fmt.Fprintf(c.Root().ErrWriter, "cached %s: %d×%d (%s)\n", path, e.N, e.D, enc.kind())
	return nil
}
