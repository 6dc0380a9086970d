package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v3"

	"plp/data"
	"plp/imaging"
	"plp/serve"
	"plp/tensor"
	"plp/train"
	"plp/weights"
	"plp/zoo"
)

func init() {
	register(func() *cli.Command {
		return &cli.Command{
			Name:  "finetune",
			Usage: "fine-tune a whole image encoder with a new linear head (the paper's fine-tuning baseline)",
			Description: `Trains the encoder of --model (timm ViT or ConvNeXt, or the ViT image tower of an open_clip model) plus
a new linear head on the train split of --dataset, with true labels or --pseudo-labels (an int64 "labels"
tensor, e.g. OUT/pseudo_labels.safetensors of plp probe --pseudo-labels). The recipe is the paper's
finetune.py (DeiT's): AdamW, a per-epoch cosine schedule with linear warm-up from --warmup-lr, label
smoothing, mixup/cutmix with soft targets, EMA of the weights, optional gradient clipping, frozen blocks,
head init scale; --lr 0 means finetune.py's 5e-4 × batch/512. Weight decay spares biases and rank-1
tensors, as timm's optimizer factory that finetune.py calls. --augment adds a random resized crop and a
flip (finetune.py itself trains on its eval transform, so it is off by default). Deliberate differences:
plp trains in float32 (finetune.py uses CUDA autocast) and draws every image once per epoch (finetune.py's
multi-GPU RASampler repeats each drawn image 3 times and keeps a third of the epoch).

Every epoch OUT/checkpoint.safetensors (model, EMA, optimizer state, step) is replaced and a
"epoch=E loss=L lr=R" line is appended to OUT/log.txt; --resume continues an interrupted run from the
last finished epoch, bit-identical to an uninterrupted run. At the end OUT/model.safetensors (and
OUT/model_ema.safetensors) hold the tuned encoder under the checkpoint's own key names, so
  plp embed --model NAME --weights OUT/model.safetensors ...
embeds with it; OUT/head.safetensors holds the new head (OUT/head_ema.safetensors its EMA), and
  plp eval --finetuned OUT ...
scores the EMA model (encoder and head) as the paper's ood_ft_model notebook does.`,
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "model", Required: true, Usage: "registry `NAME` or config file"},
				&cli.StringFlag{Name: "weights", Required: true, Usage: "checkpoint `FILE`"},
				&cli.StringFlag{Name: "dataset", Required: true, Usage: "dataset `NAME` (" + strings.Join(data.Names, " ") + ") or an image folder path"},
				&cli.StringFlag{Name: "data-root", Usage: "`DIR` holding the datasets (default $" + data.EnvDataRoot + ")"},
				&cli.StringFlag{Name: "pseudo-labels", Usage: "train on the int64 \"labels\" of `FILE` instead of the true labels"},
				&cli.StringFlag{Name: "out", Required: true, Usage: "output `DIR`"},
				&cli.IntFlag{Name: "epochs", Validator: atLeast(1), Required: true, HideDefault: true, Usage: "training epochs (required, the paper uses 100; --resume needs the same value)"},
				&cli.IntFlag{Name: "batch", Validator: atLeast(1), Value: 256, Usage: "images per optimizer step: fine_tune.sh's 64 per GPU × 4 GPUs (use --accum to fit memory)"},
				&cli.IntFlag{Name: "accum", Validator: atLeast(1), Value: 1, Usage: "gradient accumulation: micro-batches per step (batch must be a multiple)"},
				&cli.Uint64Flag{Name: "seed", Validator: anySeed, Value: 42, Usage: "seed of the head initialisation, shuffling, mixup/cutmix and augmentation"},
				&cli.FloatFlag{Name: "lr", Validator: nonNegative, Usage: "peak learning rate (0: finetune.py's 5e-4 × batch/512, with batch the images of all GPUs' step)"},
				&cli.FloatFlag{Name: "min-lr", Validator: nonNegative, Value: 1e-5, Usage: "learning rate at the end of the cosine schedule"},
				&cli.FloatFlag{Name: "warmup-lr", Validator: nonNegative, Value: 1e-6, Usage: "learning rate at the start of the linear warm-up"},
				&cli.IntFlag{Name: "warmup-epochs", Validator: atLeast(0), Value: 5, Usage: "epochs of linear warm-up from --warmup-lr to --lr"},
				&cli.FloatFlag{Name: "weight-decay", Validator: nonNegative, Value: 0.05, Usage: "AdamW weight decay"},
				&cli.BoolFlag{Name: "no-decay-bias-norm", Usage: "no weight decay on biases, norms and embeddings by name (default, as timm's optimizer factory in finetune.py: none on biases and rank-1 tensors only)"},
				&cli.BoolFlag{Name: "decay-all", Usage: "weight decay on every parameter, biases and norms included (not the paper's)"},
				&cli.FloatFlag{Name: "smoothing", Validator: between(0.0, 1.0), Value: 0.1, Usage: "label smoothing"},
				&cli.FloatFlag{Name: "clip-grad", Validator: nonNegative, Usage: "max gradient norm (0: no clipping)"},
				&cli.IntFlag{Name: "freeze-blocks", Validator: atLeast(0), Usage: "freeze the embedding and the first `K` blocks"},
				&cli.FloatFlag{Name: "init-scale", Validator: positive, Value: 1, Usage: "scale of the head's initial weights"},
				&cli.FloatFlag{Name: "ema-decay", Validator: between(0.0, 1.0), Value: 0.99996, Usage: "EMA decay per step (0: no EMA)"},
				&cli.FloatFlag{Name: "mixup", Validator: nonNegative, Value: 0.8, Usage: "mixup α (0: off)"},
				&cli.FloatFlag{Name: "cutmix", Validator: nonNegative, Value: 1.0, Usage: "cutmix α (0: off)"},
				&cli.BoolFlag{Name: "augment", Usage: "random resized crop and horizontal flip (off by default: finetune.py trains on its eval transform)"},
				&cli.StringFlag{Name: "transform", Usage: "transform `NAME` in " + strings.Join(imaging.TransformNames(), " ") +
					" (default: finetune.py's build_transform for every model: the shorter side to 256·S/224 bicubic, a centre crop of S, ImageNet statistics)"},
				&cli.IntFlag{Name: "limit", Validator: atLeast(0), Usage: "train on the first `N` images only (0: all)"},
				&cli.BoolFlag{Name: "resume", Usage: "continue from OUT/checkpoint.safetensors (every other setting must be the run's own)"},
				overwriteFlag(),
			},
			Action: action(finetune),
		}
	})
}

// subset restricts a dataset to its first n images.
type subset struct {
	data.Dataset
	n int
}

func (s subset) Len() int { return s.n }

func finetune(c *Context) error {
	err := runFinetune(c)
	if err != nil {
		return fmt.Errorf("finetune: %w", err)
	}
	return nil
}

func runFinetune(c *Context) (err error) {
	spec, err := zoo.Resolve(c.String("model"))
	if err != nil {
		return err
	}
	ds, err := data.Open(c.String("dataset"), c.String("data-root"), "train")
	if err != nil {
		return err
	}
	var images train.Images = ds
	n := ds.Len()
	if l := c.Int("limit"); l > 0 && l < n {
		n = l
		images = subset{ds, n}
	}
	labels := make([]int, n)
	for i := range labels {
		labels[i] = ds.Label(i)
	}
	classes := len(ds.Classes())
	if pl := c.String("pseudo-labels"); pl != "" {
		v, err := serve.ReadPseudoLabels(pl)
		if err != nil {
			return err
		}
		if len(v) != ds.Len() {
			return fmt.Errorf("%s has %d labels for %d images", pl, len(v), ds.Len())
		}
		for i := range labels {
			labels[i] = int(v[i])
		}
	}
	tr := train.FinetuneTransform(spec.Config.ImageSize())
	if name := c.String("transform"); name != "" {
		if tr, err = data.TransformFor(spec, name); err != nil {
			return err
		}
	}
	st, err := zoo.OpenWeights(c.String("weights"))
	if err != nil {
		return err
	}
	defer st.Close()
	be := tensor.CPU{}
	enc, err := train.LoadEncoder(spec, st, be)
	if err != nil {
		return err
	}
	cfg := train.DefaultFinetuneConfig(classes)
	cfg.Epochs, cfg.Batch, cfg.Accum, cfg.Seed = c.Int("epochs"), c.Int("batch"), c.Int("accum"), c.Uint64("seed")
	cfg.LR = c.Float("lr")
	if cfg.LR == 0 {
		cfg.LR = 5e-4 * float64(cfg.Batch) / 512
	}
	cfg.MinLR, cfg.WarmupLR, cfg.WarmupEpochs = c.Float("min-lr"), c.Float("warmup-lr"), c.Int("warmup-epochs")
	cfg.WeightDecay, cfg.NoDecayBiasNorm, cfg.DecayAll = c.Float("weight-decay"), c.Bool("no-decay-bias-norm"), c.Bool("decay-all")
	if cfg.NoDecayBiasNorm && cfg.DecayAll {
		return fmt.Errorf("--no-decay-bias-norm and --decay-all are alternatives: pass one")
	}
	cfg.Smoothing, cfg.ClipGrad, cfg.FreezeBlocks = c.Float("smoothing"), c.Float("clip-grad"), c.Int("freeze-blocks")
	cfg.InitScale, cfg.EMADecay = c.Float("init-scale"), c.Float("ema-decay")
	cfg.Mixup, cfg.Cutmix, cfg.Augment, cfg.Transform = c.Float("mixup"), c.Float("cutmix"), c.Bool("augment"), tr
	f, err := train.NewFinetuner(enc, cfg, be)
	if err != nil {
		return err
	}
	out := c.String("out")
	if c.Bool("resume") && c.Bool("overwrite") {
		return fmt.Errorf("--resume continues the run in %s and --overwrite replaces it: pass one", out)
	}
	hpMap := map[string]any{"model": spec.Name, "weights": c.String("weights"), "dataset": c.String("dataset"),
		"pseudo_labels": c.String("pseudo-labels"), "images": n, "transform": data.DescribeTransform(tr), "config": cfg}
	hp, _ := json.MarshalIndent(hpMap, "", "  ")
	ckpt := train.CheckpointPath(out)
	outputs := []string{ckpt, filepath.Join(out, "hp.json"), filepath.Join(out, "log.txt"), filepath.Join(out, "model.safetensors"),
		filepath.Join(out, "model_ema.safetensors"), filepath.Join(out, "head.safetensors"), filepath.Join(out, "head_ema.safetensors")}
	if _, err := os.Stat(ckpt); err == nil && c.Bool("resume") {
		if err := sameFinetuneSettings(filepath.Join(out, "hp.json"), hp); err != nil {
			return err
		}
		if err := f.LoadCheckpoint(ckpt); err != nil {
			return err
		}
		fmt.Fprintf(c.Root().ErrWriter, "resuming after epoch %d\n", f.Epoch())
	} else if c.Bool("resume") {
		return fmt.Errorf("--resume: no checkpoint in %s", out)
	} else {
		if err := refuseExisting(c, outputs...); err != nil {
			return fmt.Errorf("%w (or --resume to continue that run)", err)
		}
		if err := removeStale(outputs...); err != nil {
			return err
		}
	}
	cleanup, err := createdDir(out)
	if err != nil {
		return err
	}
	defer func() { cleanup(err != nil) }()
	if err := os.WriteFile(filepath.Join(out, "hp.json"), hp, 0o644); err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(out, "log.txt"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()

	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	for f.Epoch() < cfg.Epochs {
		e := f.Epoch()
		bar := newProgressBar(c.Root().ErrWriter, fmt.Sprintf("epoch %d/%d", e+1, cfg.Epochs))
		bar.unit = "steps"
		start := time.Now()
		loss, err := f.RunEpoch(ctx, images, labels, func(s train.StepStatus) {
			bar.extra = fmt.Sprintf("loss=%.4f lr=%.3g %.1f img/s", s.Loss, s.LR, s.ImagesPerSec)
			bar.update(data.Progress{Done: s.Step, Total: s.Steps, Elapsed: time.Since(start)})
		})
		bar.finish()
		if errors.Is(err, context.Canceled) {
			return fmt.Errorf("interrupted in epoch %d; rerun with --resume to continue after epoch %d", e+1, e)
		}
		if err != nil {
			return err
		}
		line := fmt.Sprintf("epoch=%d loss=%.6f lr=%.6g", e+1, loss, cfg.EpochLR(e))
		fmt.Fprintln(c.Root().Writer, line)
		fmt.Fprintln(logf, line)
		if err := f.SaveCheckpoint(ckpt); err != nil {
			return err
		}
	}
	var original weights.Store
	if _, ok := spec.Config.(*zoo.OpenCLIPConfig); ok {
		original = st // keep the text tower and everything else the loader expects
	}
	if err := f.ExportWeights(filepath.Join(out, "model.safetensors"), original, false); err != nil {
		return err
	}
	if cfg.EMADecay > 0 {
		if err := f.ExportWeights(filepath.Join(out, "model_ema.safetensors"), original, true); err != nil {
			return err
		}
		if err := f.ExportHeadEMA(filepath.Join(out, "head_ema.safetensors")); err != nil {
			return err
		}
	}
	return f.ExportHead(filepath.Join(out, "head.safetensors"))
}

// sameFinetuneSettings refuses to resume a run with settings other than its own: a different --epochs, for
// instance, would silently change the cosine schedule of the epochs already trained.
func sameFinetuneSettings(path string, cur []byte) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--resume: reading the run's settings: %w", err)
	}
	var old, now map[string]any
	if err := json.Unmarshal(b, &old); err != nil {
		return fmt.Errorf("--resume: %s: %w", path, err)
	}
	if err := json.Unmarshal(cur, &now); err != nil {
		return err
	}
	flat := func(m map[string]any) map[string]any {
		out := map[string]any{}
		for k, v := range m {
			if sub, ok := v.(map[string]any); ok {
				for k2, v2 := range sub {
					out[k+"."+k2] = v2
				}
				continue
			}
			out[k] = v
		}
		return out
	}
	if d := describeDiff(flat(old), flat(now)); d != "" {
		return fmt.Errorf("--resume with other settings than the run in progress: %s; rerun with that run's flags, or start a new run with --overwrite", d)
	}
	return nil
}
