package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v3"

	"plp/atomicfile"
	"plp/data"
	"plp/tensor"
	"plp/train"
	"plp/weights"
	"plp/zoo"
)

func init() {
	register(func() *cli.Command {
		return &cli.Command{
			Name:  "probe",
			Usage: "train a linear probe on stored embeddings, on true labels or on CLIP pseudo-labels (PLP)",
			Description: "Reads EMBEDS/<dataset>/<model>/{train,test}.safetensors (written by `plp embed`) and writes\n" +
				"OUT/head.safetensors (weight [C,D], bias [C], as PyTorch's nn.Linear), OUT/hp.json (every setting and the\n" +
				"validation accuracy) and, with --pseudo-labels, OUT/pseudo_labels.safetensors. With --pseudo-labels the\n" +
				"train labels are CLIP's zero-shot predictions from the model's text tower and a prompt ensemble (the\n" +
				"paper's PLP); --weights must then name the CLIP checkpoint. `plp eval --probe OUT` scores OOD sets with it.",
			Flags: []cli.Flag{
				deviceFlag(),
				&cli.StringFlag{Name: "embeds", Required: true, Usage: "embedding store `DIR` (as given to plp embed --out)"},
				&cli.StringFlag{Name: "model", Required: true, Usage: "model registry name or config file the embeddings were made with"},
				&cli.StringFlag{Name: "dataset", Required: true, Usage: "ID dataset name (e.g. CIFAR10, IN1K) as stored"},
				&cli.StringFlag{Name: "out", Required: true, Usage: "output `DIR` for the probe"},
				&cli.StringFlag{Name: "weights", Usage: "CLIP checkpoint `FILE`, needed for --pseudo-labels"},
				&cli.BoolFlag{Name: "pseudo-labels", Usage: "train on CLIP zero-shot pseudo-labels instead of the true labels"},
				&cli.StringSliceFlag{Name: "prompts", Usage: "prompt templates with {c} (default: the paper's five)"},
				&cli.StringFlag{Name: "classes", Usage: "class-name `FILE`, one per line (default: built in for CIFAR10/100 and IN1K)"},
				&cli.IntFlag{Name: "epochs", Validator: atLeast(1), Value: 100, Usage: "training epochs (ignored when --steps is set)"},
				&cli.IntFlag{Name: "steps", Validator: atLeast(0), Usage: "training steps (overrides --epochs)"},
				&cli.IntFlag{Name: "batch", Validator: atLeast(0), Usage: "mini-batch size (default 0: the paper's run_plp.sh, 8192 for IN1K and 256 for every other dataset)"},
				&cli.FloatFlag{Name: "lr", Validator: positive, Value: 1e-3, Usage: "peak learning rate of the cosine schedule with 10% warm-up, not scaled by the batch size: " +
					"linear_probing.py builds its optimizer with lr × batch/256, but its schedule sets every step's lr to the unscaled value, so this is the lr the paper trains with"},
				&cli.FloatFlag{Name: "wd", Validator: nonNegative, Value: 1e-3, Usage: "weight decay"},
				&cli.StringFlag{Name: "optimizer", Value: "adam", Usage: "adam, adamw or sgd"},
				&cli.BoolFlag{Name: "embed-norm", Value: true, Usage: "standardise embeddings with the train mean/std first (--embed-norm=false to disable)"},
				&cli.IntFlag{Name: "shots", Validator: atLeast(0), Usage: "train on K random samples per class (few-shot)"},
				&cli.Uint64Flag{Name: "seed", Validator: anySeed, Value: 42, Usage: "seed for initialisation, shuffling and shot selection"},
				&cli.BoolFlag{Name: "overwrite", Usage: "replace an existing probe in --out"},
				&cli.BoolFlag{Name: "quiet", Usage: "no progress bar"},
			},
			Action: action(runProbe),
		}
	})
}

// probeHP is hp.json: the settings a probe was trained with, read back by `plp eval --probe`.
type probeHP struct {
	Model        string   `json:"model"`
	Dataset      string   `json:"dataset"`
	Embeds       string   `json:"embeds"`
	Weights      string   `json:"weights,omitempty"`
	PseudoLabels bool     `json:"pseudo_labels"`
	Prompts      []string `json:"prompts,omitempty"`
	EmbedNorm    bool     `json:"embed_norm"`
	Epochs       int      `json:"epochs"`
	Steps        int      `json:"steps,omitempty"`
	Batch        int      `json:"batch_size"`
	LR           float64  `json:"lr"`
	WD           float64  `json:"wd"`
	Optimizer    string   `json:"optimizer"`
	Shots        int      `json:"shots,omitempty"`
	Seed         uint64   `json:"seed"`
	Classes      int      `json:"classes"`
	TrainSamples int      `json:"train_samples"`
	PseudoAcc    *float64 `json:"pseudo_label_acc,omitempty"`
	ValAcc       float64  `json:"val_acc"`
	Version      string   `json:"plp_version"`
}

func runProbe(c *Context) (err error) {
	embeds, model, dataset, out := c.String("embeds"), c.String("model"), c.String("dataset"), c.String("out")
	hpPath := filepath.Join(out, "hp.json")
	if _, err := os.Stat(hpPath); err == nil && !c.Bool("overwrite") {
		return fmt.Errorf("%s already holds a probe; pass --overwrite to replace it", out)
	}
	// The reports of `plp eval` on the old probe would describe another head.
	if err := removeStale(append(evalOutputs(out), filepath.Join(out, "pseudo_labels.safetensors"))...); err != nil {
		return err
	}
	trainE, err := data.ReadEmbeddings(data.StorePath(embeds, dataset, model, "train"))
	if err != nil {
		return fmt.Errorf("reading train embeddings (run `plp embed` first): %w%s", err, storeHint(embeds, dataset, model))
	}
	testE, err := data.ReadEmbeddings(data.StorePath(embeds, dataset, model, "test"))
	if err != nil {
		return fmt.Errorf("reading test embeddings: %w", err)
	}
	if testE.D != trainE.D {
		return fmt.Errorf("train embeddings have width %d but test embeddings %d", trainE.D, testE.D)
	}
	classNames, err := probeClassNames(c.String("classes"), dataset)
	if err != nil {
		return err
	}
	classes := len(classNames)
	if classes == 0 {
		classes = maxLabel(trainE.Labels, testE.Labels) + 1
	} else if m := maxLabel(trainE.Labels, testE.Labels); m >= classes {
		return fmt.Errorf("the stored labels go up to %d but there are %d class names: pass a --classes file with one name per class", m, classes)
	}
	hp := probeHP{Model: model, Dataset: dataset, Embeds: embeds, PseudoLabels: c.Bool("pseudo-labels"),
		EmbedNorm: c.Bool("embed-norm"), Epochs: c.Int("epochs"), Steps: c.Int("steps"), Batch: probeBatch(c.Int("batch"), c.String("dataset")),
		LR: c.Float("lr"), WD: c.Float("wd"), Optimizer: strings.ToLower(c.String("optimizer")),
		Shots: c.Int("shots"), Seed: c.Uint64("seed"), Classes: classes, Version: version}
	be := tensor.CPU{}
	labels := trainE.IntLabels()
	cleanup, err := createdDir(out)
	if err != nil {
		return err
	}
	defer func() { cleanup(err != nil) }()
	if hp.PseudoLabels {
		if c.String("weights") == "" {
			return fmt.Errorf("--pseudo-labels needs --weights: the CLIP checkpoint whose text tower makes the labels")
		}
		if len(classNames) == 0 {
			return fmt.Errorf("--pseudo-labels needs class names: pass --classes FILE for %s", dataset)
		}
		hp.Weights = c.String("weights")
		hp.Prompts = c.StringSlice("prompts")
		if len(hp.Prompts) == 0 {
			hp.Prompts = train.PaperPrompts
		}
		dev, err := backendFromFlag(c)
		if err != nil {
			return err
		}
		m, err := zoo.Load(model, hp.Weights, dev)
		if err != nil {
			return err
		}
		lab, E, err := train.LabelEmbeddings(m, classNames, hp.Prompts, true)
		if err != nil {
			return err
		}
		pl, err := train.PseudoLabels(m, trainE.X, trainE.N, trainE.D, lab, E)
		if err != nil {
			return err
		}
		agree := 0
		for i, l := range pl {
			if l == trainE.Labels[i] {
				agree++
			}
			labels[i] = int(l)
		}
		acc := float64(agree) / float64(max(len(pl), 1))
		hp.PseudoAcc = &acc
		fmt.Fprintf(c.Root().ErrWriter, "pseudo-labels agree with the true labels on %.2f%% of %d train samples\n", 100*acc, len(pl))
		if err := weights.WriteSafetensors(filepath.Join(out, "pseudo_labels.safetensors"),
			[]*weights.Tensor{weights.FromInt64("labels", []int{len(pl)}, pl)}, map[string]string{"model": model, "dataset": dataset}); err != nil {
			return err
		}
	}
	x, testX := trainE.X, testE.X
	if hp.EmbedNorm {
		x, testX = trainE.Normalized(trainE.Mean, trainE.Std), testE.Normalized(trainE.Mean, trainE.Std)
	}
	n := trainE.N
	if hp.Shots > 0 {
		x, labels, n, err = fewShot(x, labels, trainE.D, classes, hp.Shots, hp.Seed)
		if err != nil {
			return err
		}
	}
	hp.TrainSamples = n
	cfg := train.ProbeConfig{Epochs: hp.Epochs, Steps: hp.Steps, Batch: hp.Batch, LR: hp.LR, WD: hp.WD, Optimizer: hp.Optimizer, Seed: hp.Seed}
	var bar *progressBar
	if !c.Bool("quiet") {
		bar = newProgressBar(c.Root().ErrWriter, "probe")
		bar.unit = "steps"
	}
	t0 := time.Now()
	head, err := train.TrainProbe(be, x, n, trainE.D, labels, classes, cfg, func(step, total int, loss float64) {
		if bar != nil {
			bar.extra = fmt.Sprintf("loss %.4f", loss)
			bar.update(data.Progress{Done: step, Total: total, Elapsed: time.Since(t0)})
		}
	})
	if bar != nil {
		bar.finish()
	}
	if err != nil {
		return err
	}
	hp.ValAcc = train.Accuracy(head.Logits(be, testX, testE.N), classes, testE.IntLabels())
	if err := weights.WriteSafetensors(filepath.Join(out, "head.safetensors"), []*weights.Tensor{
		weights.FromFloat32("weight", []int{classes, trainE.D}, head.Weight),
		weights.FromFloat32("bias", []int{classes}, head.Bias),
	}, map[string]string{"model": model, "dataset": dataset}); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(hp, "", "  ")
	if err := atomicfile.WriteBytes(hpPath, append(b, '\n')); err != nil {
		return err
	}
	fmt.Fprintf(c.Root().Writer, "validation accuracy %.2f%% (%d test samples); probe written to %s\n", 100*hp.ValAcc, testE.N, out)
	return nil
}

// probeClassNames reads a class-name file, or the built-in names of a known dataset; nil when neither.
func probeClassNames(file, dataset string) ([]string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, err
		}
		var names []string
		for _, l := range strings.Split(strings.TrimRight(string(b), "\r\n"), "\n") {
			names = append(names, strings.TrimRight(l, "\r"))
		}
		if len(names) == 1 && names[0] == "" {
			return nil, fmt.Errorf("--classes %s: the file is empty; want one class name per line", file)
		}
		// A built-in dataset's labels index its own classes: another count would train a head whose rows
		// are not the dataset's classes.
		if builtin, err := data.ClassNames(dataset); err == nil && len(builtin) != len(names) {
			return nil, fmt.Errorf("--classes %s has %d names but %s has %d classes", file, len(names), dataset, len(builtin))
		}
		return names, nil
	}
	names, err := data.ClassNames(dataset)
	if err != nil {
		return nil, nil
	}
	return names, nil
}

func maxLabel(ls ...[]int64) int {
	m := 0
	for _, l := range ls {
		for _, v := range l {
			m = max(m, int(v))
		}
	}
	return m
}

// fewShot keeps shots random samples of every class, as the paper's few_shot_mask (in dataset order).
func fewShot(x []float32, labels []int, d, classes, shots int, seed uint64) ([]float32, []int, int, error) {
	r := rand.New(rand.NewPCG(seed, 2))
	keep := make([]bool, len(labels))
	for c := 0; c < classes; c++ {
		var idx []int
		for i, l := range labels {
			if l == c {
				idx = append(idx, i)
			}
		}
		if len(idx) < shots {
			return nil, nil, 0, fmt.Errorf("class %d has %d samples, fewer than --shots %d", c, len(idx), shots)
		}
		r.Shuffle(len(idx), func(i, j int) { idx[i], idx[j] = idx[j], idx[i] })
		for _, i := range idx[:shots] {
			keep[i] = true
		}
	}
	var xs []float32
	var ys []int
	for i, k := range keep {
		if k {
			xs = append(xs, x[i*d:(i+1)*d]...)
			ys = append(ys, labels[i])
		}
	}
	return xs, ys, len(ys), nil
}

// probeBatch is the --batch default of the paper's run_plp.sh: 8192 for ImageNet, 256 (linear_probing.py's
// own default) for the CIFAR sets and any other dataset.
func probeBatch(batch int, dataset string) int {
	if batch > 0 {
		return batch
	}
	if dataset == "IN1K" {
		return 8192
	}
	return 256
}
