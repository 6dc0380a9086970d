package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/urfave/cli/v3"

	"plp/data"
	"plp/imaging"
	"plp/shard"
	"plp/tensor"
	"plp/weights"
	"plp/zoo"
)

// kNN parameters of the paper's gen_embeds.py (--classifier-k, --temperature).
const (
	knnK = 20
	knnT = 0.02
)

func init() {
	register(func() *cli.Command {
		return &cli.Command{
			Name:  "embed",
			Usage: "encode a dataset's images and store the embeddings (one safetensors file per split)",
			Description: `Writes OUT/<dataset>/<model>/<split>.safetensors with embeddings [N,D] float32, labels [N] int64 and
the split's mean and unbiased std [D], plus metadata (model, weights sha256, transform, dataset root,
count, embedding kind, skipped images, plp version). <model> is the registry name with "/" replaced by
"_", or the config file's stem; a dataset given as a folder is named by the folder. Several --dataset
values (CIFAR10,CIFAR100 or the flag repeated) are embedded one after the other with one model load, as
gen_embeds.py --dataset A B does; every output is checked before the first image is read.

Stored feature: the pre-projection feature for models with a projection (CLIP: image_embed_preproj, as
the paper stores), the tower's output otherwise; metadata "embedding" says which (preproj or embed).

Transform: the model's registry entry names it (open_clip models: clip224); a model built from a
config file gets its family's eval transform at its image size; --transform overrides it (plain224 and
in224 are the paper's defaults for non-ImageNet and ImageNet-derived datasets).

Work is checkpointed every --chunk batches in <split>.partial/ next to the output. After an interruption
(Ctrl-C, kill -9, power loss) rerun the same command with --resume: the result is bit-identical to an
uninterrupted run. Images that cannot be decoded are reported by path and, with --on-error skip (the
default), left out and listed in the metadata; --on-error fail stops the run.

Sharded runs (a Slurm array, a Kubernetes Indexed Job, or several machines by hand): --shard I/N embeds
only task I's contiguous range of every split (whole batches, the same ranges on every machine) into
<split>.shards/ next to the split; without --shard the task comes from $SLURM_ARRAY_TASK_ID and
$SLURM_ARRAY_TASK_COUNT, or from $JOB_COMPLETION_INDEX with --shards N (the Job's completions), and the
log says which. A task checkpoints like a whole run and always continues its own checkpoint, so a task
the scheduler restarts resumes with the same command; a task whose shard is finished does nothing. Once
all tasks are done, plp merge OUT writes the usual <split>.safetensors, the same bytes a one-machine run
writes. All tasks must use the same flags (--batch decides the ranges).

--knn prints the paper's k-NN accuracy (k=20, T=0.02, cosine, weighted vote) of the test split against
the train split and saves the neighbour indices in knn.safetensors.

Example: CIFAR-10 unpacked as ~/data/cifar-10-batches-py, the ViT-B/16 OpenAI weights downloaded from
the Hugging Face repository timm/vit_base_patch16_clip_224.openai (open_clip_model.safetensors):
  plp embed --model openclip_ViT-B-16/openai --weights open_clip_model.safetensors \
    --dataset CIFAR10 --data-root ~/data --out ~/embeddings --knn
writes ~/embeddings/CIFAR10/openclip_ViT-B-16_openai/{train,test,knn}.safetensors.`,
			Flags: []cli.Flag{
				deviceFlag(),
				&cli.StringFlag{Name: "model", Required: true, Usage: "registry `NAME` or path of an open_clip_config.json, open_clip model config or fixture manifest"},
				&cli.StringFlag{Name: "weights", Usage: "checkpoint `FILE` (.safetensors, .bin, .pt, .pth)"},
				&cli.BoolFlag{Name: "random-weights", Usage: "use seeded random weights instead of a checkpoint (tests and demos only)"},
				&cli.StringSliceFlag{Name: "dataset", Required: true, Usage: "dataset `NAME` (" + strings.Join(data.Names, " ") + ") or an image folder path; " +
					"several (a comma list, or the flag repeated) are embedded in turn with one model load, as gen_embeds.py --dataset A B"},
				&cli.StringFlag{Name: "data-root", Usage: "`DIR` holding the datasets (default $" + data.EnvDataRoot + ")"},
				&cli.StringFlag{Name: "split", Value: "train,test", Usage: "comma-separated `SPLITS` (train, test)"},
				&cli.StringFlag{Name: "out", Required: true, Usage: "embedding store `DIR`"},
				&cli.IntFlag{Name: "batch", Validator: atLeast(1), Value: 64, Usage: "images per forward pass (gen_embeds.py uses 256; the batch size changes no embedding beyond float rounding, and 64 bounds the memory)"},
				&cli.IntFlag{Name: "workers", Validator: atLeast(0), Usage: "decode and preprocess goroutines (default: one per core)"},
				&cli.StringFlag{Name: "transform", Usage: "override the model's transform: `NAME` in " + strings.Join(imaging.TransformNames(), " ")},
				&cli.BoolFlag{Name: "resume", Usage: "continue an interrupted run from its checkpoint; splits it finished are kept"},
				overwriteFlag(),
				&cli.IntFlag{Name: "chunk", Validator: atLeast(1), Value: 16, Usage: "batches per checkpoint chunk"},
				&cli.StringFlag{Name: "on-error", Value: "skip", Usage: "`skip` or fail on an image that cannot be decoded"},
				&cli.BoolFlag{Name: "knn", Usage: "compute the k-NN accuracy (k=20, T=0.02) of test against train (gen_embeds.py does unless --no_eval_knn; off by default here, as its run script passes --no_eval_knn)"},
				&cli.BoolFlag{Name: "patch-features", Usage: "also store each image's patch tokens projected into the joint space (GL-MCM's local features, for plp eval --methods glmcm) " +
					"in <split>.patches.safetensors; CLIP ViTs only; N×patches×embed floats (ViT-B/16: 400 KB an image), so usually with --split test"},
				shardFlag(),
				shardsFlag(),
			},
			Action: action(embed),
		}
	})
}

func embed(c *Context) (err error) {
	defer tensor.RecoverDeviceError(&err) // a GPU failure (e.g. out of memory) becomes an error
	policy, err := data.ParseErrorPolicy(c.String("on-error"))
	if err != nil {
		return fmt.Errorf("embed: --on-error: %w", err)
	}
	if c.Int("batch") <= 0 || c.Int("chunk") <= 0 || c.Int("workers") < 0 {
		return fmt.Errorf("embed: --batch and --chunk must be positive and --workers not negative")
	}
	wpath, random := c.String("weights"), c.Bool("random-weights")
	switch {
	case wpath == "" && !random:
		return fmt.Errorf("embed: --weights FILE is required: the checkpoint of %s (embedding with random weights needs --random-weights, for tests and demos)", c.String("model"))
	case wpath != "" && random:
		return fmt.Errorf("embed: --weights and --random-weights exclude each other")
	}
	splits := strings.Split(c.String("split"), ",")
	for _, s := range splits {
		if s != "train" && s != "test" {
			return fmt.Errorf("embed: --split %q: want train, test or train,test", c.String("split"))
		}
	}
	task, sharded, err := embedTask(c)
	if err != nil {
		return fmt.Errorf("embed: %w", err)
	}
	if sharded && c.Bool("patch-features") {
		return fmt.Errorf("embed: --patch-features needs whole splits; run it without sharding (usually --split test)")
	}
	if sharded && c.Bool("knn") {
		return fmt.Errorf("embed: --knn needs whole splits, a shard task has only part of them: run plp merge once all tasks are done, then plp embed --resume --knn with the same flags")
	}
	if c.Bool("resume") && c.Bool("overwrite") {
		return fmt.Errorf("embed: --resume keeps finished work and --overwrite replaces it: pass one")
	}
	datasets := c.StringSlice("dataset")
	if len(datasets) > 1 && sharded {
		return fmt.Errorf("embed: a shard task embeds one --dataset; run one job per dataset")
	}
	dsNames := make([]string, len(datasets))
	for i, dataset := range datasets {
		if dsNames[i], err = checkEmbedTarget(c, dataset, splits, sharded); err != nil {
			return err
		}
	}

	spec, err := zoo.Resolve(c.String("model"))
	if err != nil {
		return fmt.Errorf("embed: %w", err)
	}
	be, err := backendFromFlag(c)
	if err != nil {
		return fmt.Errorf("embed: %w", err)
	}
	var model *zoo.Model
	wid := "random (seed 0)"
	if random {
		model, err = zoo.NewRandomParts(spec, be, 0, zoo.ImageTower)
	} else {
		if wid, err = data.WeightsSHA256(wpath); err != nil {
			return fmt.Errorf("embed: %w", err)
		}
		model, err = zoo.LoadSpec(spec, wpath, be)
	}
	if err != nil {
		return fmt.Errorf("embed: %w", err)
	}
	tr, err := data.TransformFor(spec, c.String("transform"))
	if err != nil {
		return fmt.Errorf("embed: %w", err)
	}
	enc, err := data.NewModelEncoder(model)
	if err != nil {
		return fmt.Errorf("embed: %w", err)
	}
	var patches *data.PatchEncoder
	if c.Bool("patch-features") {
		if patches, err = data.NewPatchEncoder(enc); err != nil {
			return fmt.Errorf("embed: --patch-features: %w", err)
		}
	}

	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	for i, dataset := range datasets {
		if err := embedTarget(c, ctx, dataset, dsNames[i], splits, embedRun{spec: spec, wid: wid, wpath: wpath, tr: tr, enc: enc,
			policy: policy, task: task, sharded: sharded, patches: patches}); err != nil {
			return err
		}
	}
	return nil
}

// embedRun is what every --dataset of one plp embed call shares: the model and the run's settings.
type embedRun struct {
	spec    *zoo.Spec
	wid     string
	wpath   string
	tr      imaging.Transform
	enc     *data.ModelEncoder
	policy  data.ErrorPolicy
	task    shard.Task
	sharded bool
	patches *data.PatchEncoder // with --patch-features
}

// embedTarget embeds the splits of one dataset (and, with --knn, classifies its test split).
func embedTarget(c *Context, ctx context.Context, dataset, dsName string, splits []string, r embedRun) error {
	spec, wid, wpath, tr, enc, policy, task, sharded := r.spec, r.wid, r.wpath, r.tr, r.enc, r.policy, r.task, r.sharded
	out := c.Root().Writer
	results := map[string]*data.Embeddings{}
	var classes int
	for _, split := range splits {
		ds, err := data.Open(dataset, c.String("data-root"), split)
		if err != nil {
			return fmt.Errorf("embed: %w", err)
		}
		root, err := data.Resolve(dataset, c.String("data-root"), split)
		if err != nil {
			return fmt.Errorf("embed: %w", err)
		}
		if abs, err := filepath.Abs(root); err == nil {
			root = abs
		}
		classes = len(ds.Classes())
		path := data.StorePath(c.String("out"), dsName, c.String("model"), split)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("embed: %w", err)
		}
		settings := map[string]string{
			"model":          spec.Name,
			"weights_sha256": wid,
			"transform":      data.DescribeTransform(tr),
			"dataset":        dsName,
			"dataset_root":   root,
			"split":          split,
			"embedding":      enc.Kind(),
			"plp_version":    version,
		}
		// The split's metadata: the run's settings and what else describes its inputs.
		meta := maps.Clone(settings)
		if wpath != "" {
			meta["weights"] = filepath.Base(wpath)
		}
		meta["transform_name"] = tr.Name
		if sharded {
			bar := newProgressBar(c.Root().ErrWriter, split)
			err := embedShard(c, ctx, ds, tr, enc, task, split, path, meta, data.EmbedOptions{
				Batch: c.Int("batch"), Workers: c.Int("workers"), OnError: policy, ChunkBatches: c.Int("chunk"), Progress: bar.update,
			})
			bar.finish()
			if err != nil {
				return err
			}
			continue
		}
		var encoder data.Encoder = enc
		if r.patches != nil {
			// Runs with and without patches checkpoint rows of different widths: never mix them.
			settings["patch_features"] = "true"
			encoder = r.patches
		}
		if c.Bool("resume") {
			done, err := finishedSplit(path, settings)
			if err != nil {
				return fmt.Errorf("embed: %w", err)
			}
			if done != nil && r.patches != nil {
				if _, err := os.Stat(data.PatchesPath(path)); err != nil {
					done = nil // the split is done but its patches are not: embed it again
				}
			}
			if done != nil {
				fmt.Fprintf(out, "kept %s: %d×%d, finished by an earlier run with the same settings\n", path, done.N, done.D)
				results[split] = done
				continue
			}
		}
		partial := data.PartialDir(path)
		bar := newProgressBar(c.Root().ErrWriter, split)
		res, err := data.Embed(ctx, ds, tr, encoder, data.EmbedOptions{
			Batch: c.Int("batch"), Workers: c.Int("workers"), OnError: policy, ChunkBatches: c.Int("chunk"),
			PartialDir: partial, Resume: c.Bool("resume"), Settings: settings, Progress: bar.update,
		})
		bar.finish()
		if errors.Is(err, context.Canceled) {
			return fmt.Errorf("embed: interrupted; finished chunks are in %s: rerun with --resume to continue", partial)
		}
		if err != nil {
			return fmt.Errorf("embed: %w", err)
		}
		for _, s := range res.Skipped {
			fmt.Fprintf(c.Root().ErrWriter, "skipped %s: %s\n", s.Path, s.Err)
		}
		e := res.Embeddings
		e.Meta = data.SplitMeta(meta, e.N, res.Skipped)
		if r.patches != nil {
			// The patches first: a split file without its patches is never left behind as finished.
			p, err := r.patches.Split(e, e.Meta)
			if err != nil {
				return fmt.Errorf("embed: %w", err)
			}
			if err := data.WritePatches(data.PatchesPath(path), p); err != nil {
				return fmt.Errorf("embed: %w", err)
			}
			fmt.Fprintf(out, "wrote %s: %d×%d×%d patch features\n", data.PatchesPath(path), p.N, p.P, p.D)
		}
		if err := data.WriteEmbeddings(path, e); err != nil {
			return fmt.Errorf("embed: %w", err)
		}
		if err := data.RemovePartial(partial); err != nil {
			return fmt.Errorf("embed: %w", err)
		}
		results[split] = e
		st := res.Stats
		rate := 0.0
		if st.Wall > 0 {
			rate = float64(st.Images) / st.Wall.Seconds()
		}
		fmt.Fprintf(out, "wrote %s: %d×%d (%s), %d skipped, %d resumed; %.1f images/s, encoder busy %.0f%%\n",
			path, e.N, e.D, enc.Kind(), len(res.Skipped), res.Resumed, rate, 100*st.Busy())
	}
	if c.Bool("knn") {
		return embedKNN(c, results, classes, dsName)
	}
	return nil
}

// checkEmbedTarget checks one --dataset before any work starts and returns its store name.
func checkEmbedTarget(c *Context, dataset string, splits []string, sharded bool) (dsName string, err error) {
	dsName = dataset
	if !slices.Contains(data.Names, dataset) {
		if err := data.CheckName(dataset); err != nil {
			return "", fmt.Errorf("embed: %w", err)
		}
		dsName = filepath.Base(filepath.Clean(dataset))
	}

	roots := map[string]string{}
	for _, split := range splits {
		if roots[split], err = data.Resolve(dataset, c.String("data-root"), split); err != nil {
			return "", fmt.Errorf("embed: %w", err)
		}
	}
	if len(splits) == 2 && roots["train"] == roots["test"] && !slices.Contains(data.Names, dataset) {
		return "", fmt.Errorf("embed: %s has no train/ and test/ (or val/) sub-folders, so it is a single split; embedding it as "+
			"both would let a probe be evaluated on its own training data: pass --split test (an OOD or test set) or --split train", dataset)
	}
	if c.Bool("knn") {
		for _, s := range []string{"train", "test"} {
			p := data.StorePath(c.String("out"), dsName, c.String("model"), s)
			if _, err := os.Stat(p); err != nil && !slices.Contains(splits, s) {
				return "", fmt.Errorf("embed: --knn needs the train and test splits: %s is not in the store; add %s to --split", p, s)
			}
		}
	}
	// A shard task's output is its shard file, which shard.Run checks; the split is plp merge's to write.
	if !c.Bool("resume") && !sharded {
		var outs []string
		for _, split := range splits {
			outs = append(outs, data.StorePath(c.String("out"), dsName, c.String("model"), split))
		}
		if c.Bool("knn") {
			outs = append(outs, filepath.Join(filepath.Dir(outs[0]), "knn.safetensors"))
		}
		if err := refuseExisting(c, outs...); err != nil {
			return "", fmt.Errorf("embed: %w (or --resume to keep finished splits)", err)
		}
	}
	return dsName, nil
}

// embedKNN classifies the test split by its neighbours in the train split, reading a split this run did
// not produce from the store.
func embedKNN(c *Context, results map[string]*data.Embeddings, classes int, dsName string) error {
	for _, s := range []string{"train", "test"} {
		if results[s] != nil {
			continue
		}
		p := data.StorePath(c.String("out"), dsName, c.String("model"), s)
		e, err := data.ReadEmbeddings(p)
		if err != nil {
			return fmt.Errorf("embed: --knn needs the train and test splits: %w", err)
		}
		results[s] = e
	}
	r, err := data.KNNClassify(results["train"], results["test"], classes, knnK, knnT)
	if err != nil {
		return fmt.Errorf("embed: %w", err)
	}
	dir := filepath.Dir(data.StorePath(c.String("out"), dsName, c.String("model"), "test"))
	path := filepath.Join(dir, "knn.safetensors")
	ntest := results["test"].N
	meta := map[string]string{
		"k": strconv.Itoa(knnK), "T": strconv.FormatFloat(knnT, 'g', -1, 64),
		"top1": strconv.FormatFloat(r.Top1, 'f', -1, 64), "top5": strconv.FormatFloat(r.Top5, 'f', -1, 64),
		"indices": "for each test sample, the train samples most cosine-similar, most similar first",
	}
	ts := []*weights.Tensor{
		weights.FromInt64("indices", []int{ntest, knnK}, r.Neighbors),
		weights.FromFloat32("votes", []int{ntest, classes}, r.Votes),
	}
	if err := weights.WriteSafetensors(path, ts, meta); err != nil {
		return fmt.Errorf("embed: %w", err)
	}
	fmt.Fprintf(c.Root().Writer, "k-NN accuracy (k=%d, T=%g): top-1 %.2f%%, top-5 %.2f%% (%s)\n", knnK, knnT, r.Top1, r.Top5, path)
	return nil
}

// finishedSplit reads the split a run already finished at path, when it was made with settings (model,
// weights, transform, dataset, split); nil when there is none. A finished split made otherwise is an error:
// resuming must not mix two runs.
func finishedSplit(path string, settings map[string]string) (*data.Embeddings, error) {
	st, err := weights.OpenSafetensors(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	meta := st.Metadata()
	st.Close()
	for _, k := range []string{"model", "weights_sha256", "transform", "dataset", "split", "embedding"} {
		if meta[k] != settings[k] {
			return nil, fmt.Errorf("--resume: %s was made with %s %q, this run uses %q; pass --overwrite to replace it", path, k, meta[k], settings[k])
		}
	}
	return data.ReadEmbeddings(path)
}
