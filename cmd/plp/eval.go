package main

import (
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v3"

	"plp/detect"
	"plp/eval"
	"plp/serve"
	"plp/train"
	"plp/zoo"
)

func init() {
	register(func() *cli.Command {
		return &cli.Command{
			Name:  "eval",
			Usage: "score OOD sets with a trained probe or CLIP zero-shot, and report AUROC, FPR95, AUPR",
			Description: "With --probe DIR (written by `plp probe`), logits come from the probe on the stored embeddings\n" +
				"(standardised first when the probe was trained with --embed-norm), as the paper's logit_evaluation.py.\n" +
				"With --zeroshot, logits are CLIP's cosine similarities to the prompt-ensemble label embeddings of\n" +
				"--model/--weights, and MSP on them is the pseudo-MSP baseline. --maha scores Mahalanobis distances of the\n" +
				"logits (--maha-on, --maha-cov choose others); --knn scores the embeddings by k-NN (--knn-metric, --knn-on).\n" +
				"Every record of ood_metrics.json names its parameters, e.g. knn {\"k\": 10, \"metric\": \"l2\", \"on\": \"logits\"}.\n" +
				"With --finetuned DIR (a `plp finetune` output), the fine-tuned encoder (EMA weights when EMA was on) embeds\n" +
				"the ID and OOD sets into --embeds (once; later runs read the store) and its head gives the logits; the\n" +
				"defaults are the paper's ood_ft_model notebook: logit scores at T=1, max with the l1 and softmax norms,\n" +
				"kNN temp-cos-sim k=1 on the logits (the notebook's) and on the features, and Mahalanobis on the logits.\n" +
				"With --classifier, --model/--weights is an ImageNet classifier whose own logits are cached and scored\n" +
				"(the paper's baseline_fine_tuned_models.py, with its square-resize transform at the model's size).\n" +
				"Writes OUT/ood_metrics.{json,csv,md} and OUT/plots/." + methodsHelp(),
			Flags: append([]cli.Flag{
				deviceFlag(),
				&cli.StringFlag{Name: "probe", Usage: "probe `DIR` (head.safetensors + hp.json)"},
				&cli.BoolFlag{Name: "zeroshot", Usage: "CLIP zero-shot logits instead of a probe (needs --model, --weights, --dataset)"},
				&cli.StringFlag{Name: "model", Usage: "model name or config (default: the probe's)"},
				&cli.StringFlag{Name: "weights", Usage: "CLIP checkpoint `FILE` for --zeroshot"},
				&cli.StringFlag{Name: "embeds", Required: true, Usage: "embedding store `DIR`"},
				&cli.StringFlag{Name: "dataset", Usage: "ID dataset (default: the probe's)"},
				&cli.StringSliceFlag{Name: "ood", Usage: "OOD sets in the store (default: the paper's for the ID set)"},
				&cli.FloatSliceFlag{Name: "temperatures", Validator: each(positive), Value: []float64{1}, Usage: "temperatures for MSP and energy"},
				&cli.BoolFlag{Name: "maha", Usage: "Mahalanobis and relative Mahalanobis on the logits (default: on unless the ID set is IN1K, as the paper)"},
				&cli.IntSliceFlag{Name: "knn", Validator: each(atLeast(1)), Usage: "k values for k-NN scores (the mean similarity of the k nearest train samples), e.g. 1,10"},
				&cli.StringSliceFlag{Name: "knn-metric", Value: []string{"cos-sim"}, Validator: each(oneOf(knnMetricNames()...)),
					Usage: "k-NN similarities, a comma list of cos-sim (exp of the cosine, as the paper), temp-cos-sim (exp(cos/T)), l1, l2, norm-l1, norm-l2 (negated distances, norm- after normalising rows)"},
				&cli.FloatFlag{Name: "knn-temperature", Value: eval.DefaultKNNTemperature, Validator: positive, Usage: "temperature T of temp-cos-sim (the paper's eval default)"},
				&cli.StringSliceFlag{Name: "knn-on", Value: []string{detect.OnFeatures}, Validator: each(oneOf(detect.OnFeatures, detect.OnFeaturesStd, detect.OnLogits)),
					Usage: "where k-NN looks: features (the stored embeddings), features-std (standardised with the train mean/std, the paper's --embed_norm), logits"},
				&cli.StringSliceFlag{Name: "maha-on", Value: []string{detect.OnLogits}, Validator: each(oneOf(detect.OnLogits, detect.OnFeatures)),
					Usage: "where Mahalanobis is fitted: logits (logit_evaluation.py), features (the stored embeddings)"},
				&cli.StringSliceFlag{Name: "maha-cov", Value: []string{string(eval.CovClass)}, Validator: each(oneOf(string(eval.CovClass), string(eval.CovGlobal))),
					Usage: "Mahalanobis covariance: class (mean of the class covariances) or global (of all train samples, the paper's std_all)"},
				&cli.StringSliceFlag{Name: "max-norm", Validator: each(oneOf(string(eval.NormSoftmax), string(eval.NormL2), string(eval.NormL1), string(eval.NormNone))),
					Usage: "also score the row maximum of the logits after softmax, l2, l1 or no normalisation (the paper's OOD_cls_max_val), a comma list"},
				&cli.StringSliceFlag{Name: "prompts", Usage: "prompt templates for --zeroshot (default: the paper's five)"},
				&cli.StringFlag{Name: "classes", Usage: "class-name `FILE` for --zeroshot on datasets without built-in names"},
				&cli.StringFlag{Name: "out", Usage: "report `DIR` (default: the probe folder)"},
				&cli.BoolFlag{Name: "no-plots", Usage: "skip the ROC and histogram plots"},
				overwriteFlag(),
			}, append(methodFlags(), modelEvalFlags()...)...),
			Action: action(runEval),
		}
	})
}

func runEval(c *Context) (err error) {
	opt := detect.Options{Embeds: c.String("embeds"), Model: c.String("model"), Dataset: c.String("dataset"),
		OOD: c.StringSlice("ood"), Temperatures: c.FloatSlice("temperatures"), KNN: c.IntSlice("knn"),
		Out: c.String("out"), Plots: !c.Bool("no-plots")}
	var src detect.Source
	be, err := backendFromFlag(c)
	if err != nil {
		return err
	}
	switch {
	case countSet(c.String("probe") != "", c.Bool("zeroshot"), c.String("finetuned") != "", c.Bool("classifier")) > 1:
		return fmt.Errorf("--probe, --zeroshot, --finetuned and --classifier are alternatives: pass one")
	case c.String("finetuned") != "" || c.Bool("classifier"):
		// Prepared below (modelSource), once the scores to compute are known.
		if opt.Out == "" {
			opt.Out = c.String("finetuned")
		}
	case c.String("probe") != "":
		dir := c.String("probe")
		p, err := serve.ReadProbe(dir)
		if err != nil {
			return err
		}
		if opt.Model == "" {
			opt.Model = p.Model
		}
		if opt.Dataset == "" {
			opt.Dataset = p.Dataset
		}
		if opt.Out == "" {
			opt.Out = dir
		}
		head := p.Head
		src = detect.Source{Classes: head.Classes, EmbedNorm: p.EmbedNorm, Logits: func(x []float32, n, d int) ([]float32, error) {
			if d != head.In {
				return nil, fmt.Errorf("probe expects width %d, embeddings have %d", head.In, d)
			}
			return head.Logits(be, x, n), nil
		}, Weight: head.Weight, Bias: head.Bias, TrainLabels: p.TrainLabels} // TrainLabels: a PLP probe's pseudo-labels
	case c.Bool("zeroshot"):
		if opt.Model == "" || c.String("weights") == "" || opt.Dataset == "" {
			return fmt.Errorf("--zeroshot needs --model, --weights and --dataset")
		}
		names, err := probeClassNames(c.String("classes"), opt.Dataset)
		if err != nil {
			return err
		}
		if len(names) == 0 {
			return fmt.Errorf("no class names for %s: pass --classes FILE", opt.Dataset)
		}
		m, err := zoo.Load(opt.Model, c.String("weights"), be)
		if err != nil {
			return err
		}
		lab, E, err := train.LabelEmbeddings(m, names, c.StringSlice("prompts"), false)
		if err != nil {
			return err
		}
		src = detect.Source{Classes: len(names), ZeroShot: true, Logits: func(x []float32, n, d int) ([]float32, error) {
			return train.ZeroShotLogits(m, x, d, lab, E)
		}, Text: textSpace(c, m, lab, E, detect.HasPatches(opt))}
	default:
		if len(opt.KNN) == 0 && len(c.StringSlice("methods")) == 0 {
			return fmt.Errorf("pass --probe DIR or --zeroshot (or --knn or --methods alone for embedding-only scores)")
		}
	}
	modelEval := c.String("finetuned") != "" || c.Bool("classifier")
	if !modelEval && (opt.Dataset == "" || opt.Model == "") {
		return fmt.Errorf("--dataset and --model are needed without --probe")
	}
	for _, m := range c.StringSlice("knn-metric") {
		opt.KNNMetrics = append(opt.KNNMetrics, eval.KNNMetric(m))
	}
	opt.KNNTemperature = c.Float("knn-temperature")
	opt.KNNOn, opt.MahaOn = c.StringSlice("knn-on"), c.StringSlice("maha-on")
	for _, v := range c.StringSlice("maha-cov") {
		opt.MahaCov = append(opt.MahaCov, eval.MahaCov(v))
	}
	for _, v := range c.StringSlice("max-norm") {
		opt.MaxNorms = append(opt.MaxNorms, eval.Norm(v))
	}
	opt.Maha = opt.Dataset != "IN1K"
	if c.IsSet("maha") {
		opt.Maha = c.Bool("maha")
	}
	if modelEval {
		if c.String("finetuned") != "" {
			notebookDefaults(c, &opt)
		} else if !c.IsSet("maha") {
			opt.Maha = false // baseline_fine_tuned_models.py scores the logits only
		}
		if src, err = modelSource(c, be, &opt); err != nil {
			return err
		}
	}
	if opt.Methods, err = eval.ParseMethods(c.StringSlice("methods"), c.StringSlice("method-param"), src.Offers()); err != nil {
		return err
	}
	if opt.Out != "" {
		if err := refuseExisting(c, evalOutputs(opt.Out)[0]); err != nil {
			return err
		}
		keep, aerr := setAside(evalOutputs(opt.Out)...)
		if aerr != nil {
			return aerr
		}
		defer func() { keep(err == nil) }() // err: runEval's result
	}
	res, err := detect.Run(opt, src)
	if err != nil {
		return err
	}
	if src.Logits != nil && res.Accuracy > 0 {
		fmt.Fprintf(c.Root().Writer, "ID test accuracy %.2f%%\n\n", res.Accuracy) // already a percentage
	}
	for _, note := range res.Skipped {
		fmt.Fprintln(c.Root().ErrWriter, "eval:", note)
	}
	printSummary(c.Root().Writer, res.Records)
	if opt.Out != "" {
		fmt.Fprintf(c.Root().ErrWriter, "reports written to %s (ood_metrics.json, .csv, .md with AUPR, plots/)\n", opt.Out)
	}
	return nil
}

// evalOutputs are the files and folders `plp eval` writes into its report folder, ood_metrics.json first.
func evalOutputs(dir string) []string {
	return []string{filepath.Join(dir, "ood_metrics.json"), filepath.Join(dir, "ood_metrics.csv"),
		filepath.Join(dir, "ood_metrics.md"), filepath.Join(dir, "plots")}
}

// printSummary prints one row per method and one AUROC / FPR95 column pair per OOD set, plus their mean:
// the shape of the paper's tables, narrow enough for a terminal.
func printSummary(w io.Writer, recs []eval.Record) {
	var methods, sets []string
	cell := map[[2]string]eval.Record{}
	for _, r := range recs {
		m := r.Label()
		if !slices.Contains(methods, m) {
			methods = append(methods, m)
		}
		if !slices.Contains(sets, r.OOD) {
			sets = append(sets, r.OOD)
		}
		cell[[2]string{m, r.OOD}] = r
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "method\t")
	for _, s := range append(sets, "mean") {
		fmt.Fprintf(tw, "%s AUROC\t%s FPR95\t", s, s)
	}
	fmt.Fprintln(tw)
	for _, m := range methods {
		fmt.Fprintf(tw, "%s\t", m)
		var sa, sf float64
		n := 0
		for _, s := range sets {
			r, ok := cell[[2]string{m, s}]
			if !ok {
				fmt.Fprint(tw, "-\t-\t")
				continue
			}
			fmt.Fprintf(tw, "%.2f\t%.2f\t", r.AUROC, r.FPR95)
			sa, sf, n = sa+r.AUROC, sf+r.FPR95, n+1
		}
		fmt.Fprintf(tw, "%.2f\t%.2f\t\n", sa/float64(max(n, 1)), sf/float64(max(n, 1)))
	}
	tw.Flush()
}

// knnMetricNames lists the --knn-metric values.
func knnMetricNames() []string {
	var out []string
	for _, m := range eval.KNNMetrics() {
		out = append(out, string(m))
	}
	return out
}

// oneOf accepts the given names only.
func oneOf(names ...string) func(string) error {
	return func(v string) error {
		if !slices.Contains(names, v) {
			return fmt.Errorf("want one of %s, got %q", strings.Join(names, ", "), v)
		}
		return nil
	}
}

// countSet counts the true values.
func countSet(v ...bool) int {
	n := 0
	for _, b := range v {
		if b {
			n++
		}
	}
	return n
}
