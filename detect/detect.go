// Package detect runs the paper's OOD evaluation end to end (logit_evaluation.py): it loads an embedding
// store, turns the ID test set and every OOD set into logits with a trained probe or CLIP zero-shot
// classifier, computes the OOD scores and their metrics, and writes the reports and plots.
package detect

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"plp/atomicfile"
	"plp/data"
	"plp/eval"
)

// DefaultOOD returns the paper's OOD sets for an ID set.
func DefaultOOD(id string) []string {
	switch id {
	case "CIFAR10":
		return []string{"CIFAR100"}
	case "CIFAR100":
		return []string{"CIFAR10"}
	case "IN1K":
		return []string{"inat", "SUN", "Places", "IN_O", "texture", "NINCO"}
	}
	return nil
}

// Logits maps stored embeddings x [n, d] to logits [n, classes].
type Logits func(x []float32, n, d int) ([]float32, error)

// Source describes where logits come from.
type Source struct {
	Logits  Logits
	Classes int
	// EmbedNorm standardises embeddings with the train split's mean and std before Logits (probes trained
	// with --embed-norm).
	EmbedNorm bool
	// TrainLabels replaces the stored train labels (PLP probes: the pseudo-labels) for Mahalanobis.
	TrainLabels []int64
	// ZeroShot names the MSP score pseudo_msp, the paper's zero-shot baseline.
	ZeroShot bool
}

// Options selects the sets and methods of a run.
type Options struct {
	Embeds, Model, Dataset string
	OOD                    []string
	Temperatures           []float64
	Maha                   bool
	KNN                    []int
	Out                    string // report folder; "" writes nothing
	Plots                  bool
}

// Scored is one method's scores on the ID test set and each OOD set.
type Scored struct {
	Method string
	Params map[string]float64
	ID     []float64
	OOD    map[string][]float64
}

// Result is what Run computed.
type Result struct {
	Records  []eval.Record
	Scores   []Scored
	Accuracy float64 // ID test accuracy of the logits (0 when the stored labels are unknown)
}

// Run evaluates src on the ID test set against every OOD set.
func Run(opt Options, src Source) (*Result, error) {
	if len(opt.OOD) == 0 {
		opt.OOD = DefaultOOD(opt.Dataset)
		if len(opt.OOD) == 0 {
			return nil, fmt.Errorf("no OOD sets given for %s: pass --ood", opt.Dataset)
		}
	}
	if len(opt.Temperatures) == 0 {
		opt.Temperatures = []float64{1}
	}
	load := func(set, split string) (*data.Embeddings, error) {
		p := data.StorePath(opt.Embeds, set, opt.Model, split)
		e, err := data.ReadEmbeddings(p)
		if err != nil {
			return nil, fmt.Errorf("%s %s embeddings of %s (make them with `plp embed --dataset %s`): %w", set, split, opt.Model, set, err)
		}
		return e, nil
	}
	trainE, err := load(opt.Dataset, "train")
	if err != nil {
		return nil, err
	}
	testE, err := load(opt.Dataset, "test")
	if err != nil {
		return nil, err
	}
	oodE := map[string]*data.Embeddings{}
	for _, name := range opt.OOD {
		// OOD sets are scored on their test split, as the paper's load_embeds(test=True).
		e, err := load(name, "test")
		if err != nil {
			return nil, err
		}
		if e.D != trainE.D {
			return nil, fmt.Errorf("%s embeddings have width %d, %s %d: made with different models?", name, e.D, opt.Dataset, trainE.D)
		}
		oodE[name] = e
	}
	feats := func(e *data.Embeddings) []float32 {
		if src.EmbedNorm {
			return e.Normalized(trainE.Mean, trainE.Std)
		}
		return e.X
	}
	res := &Result{}
	if src.Logits != nil {
		if err := res.logitScores(opt, src, trainE, testE, oodE, feats); err != nil {
			return nil, err
		}
	}
	if len(opt.KNN) > 0 {
		if err := res.knnScores(opt, trainE, testE, oodE); err != nil {
			return nil, err
		}
	}
	for _, s := range res.Scores {
		for _, name := range opt.OOD {
			r, err := eval.Evaluate(opt.Dataset, name, s.Method, s.Params, s.ID, s.OOD[name])
			if err != nil {
				return nil, err
			}
			res.Records = append(res.Records, r)
		}
	}
	if opt.Out != "" {
		if err := res.write(opt); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func (res *Result) logitScores(opt Options, src Source, trainE, testE *data.Embeddings, oodE map[string]*data.Embeddings, feats func(*data.Embeddings) []float32) error {
	C := src.Classes
	testL, err := src.Logits(feats(testE), testE.N, testE.D)
	if err != nil {
		return err
	}
	if acc, err := eval.Accuracy(testL, C, testE.Labels); err == nil {
		res.Accuracy = acc
	}
	oodL := map[string][]float32{}
	for name, e := range oodE {
		if oodL[name], err = src.Logits(feats(e), e.N, e.D); err != nil {
			return err
		}
	}
	methods := []string{eval.MethodMSP, eval.MethodEnergy, eval.MethodL1Norm, eval.MethodMaxLogit}
	if src.ZeroShot {
		methods[0] = eval.MethodPseudoMSP
	}
	for _, m := range methods {
		temps := opt.Temperatures
		if m == eval.MethodL1Norm || m == eval.MethodMaxLogit {
			temps = []float64{0} // temperature-free scores
		}
		for _, t := range temps {
			params := map[string]float64{"temperature": t}
			if t == 0 {
				params = map[string]float64{}
			}
			s := Scored{Method: m, Params: params, OOD: map[string][]float64{}}
			temp := t
			if temp == 0 {
				temp = 1
			}
			id, err := eval.ScoreLogits(m, testL, C, temp)
			if err != nil {
				return err
			}
			s.ID = widen(id)
			for name, l := range oodL {
				o, err := eval.ScoreLogits(m, l, C, temp)
				if err != nil {
					return err
				}
				s.OOD[name] = widen(o)
			}
			res.Scores = append(res.Scores, s)
		}
	}
	if !opt.Maha {
		return nil
	}
	// As logit_evaluation.py: Mahalanobis on the logits, class statistics from the train logits with
	// the labels the probe was trained on.
	trainL, err := src.Logits(feats(trainE), trainE.N, trainE.D)
	if err != nil {
		return err
	}
	labels := trainE.Labels
	if src.TrainLabels != nil {
		labels = src.TrainLabels
	}
	md, err := eval.FitMahalanobis(trainL, C, labels, C)
	if err != nil {
		return err
	}
	maha := Scored{Method: eval.MethodMahalanobis, Params: map[string]float64{}, OOD: map[string][]float64{}}
	rel := Scored{Method: eval.MethodMahalanobisRelative, Params: map[string]float64{}, OOD: map[string][]float64{}}
	if maha.ID, rel.ID, err = md.Scores(testL); err != nil {
		return err
	}
	for name, l := range oodL {
		if maha.OOD[name], rel.OOD[name], err = md.Scores(l); err != nil {
			return err
		}
	}
	res.Scores = append(res.Scores, maha, rel)
	return nil
}

// knnScores uses the stored embeddings themselves (cosine similarity), independent of any head.
func (res *Result) knnScores(opt Options, trainE, testE *data.Embeddings, oodE map[string]*data.Embeddings) error {
	knn, err := eval.NewKNN(trainE.X, trainE.D)
	if err != nil {
		return err
	}
	id, err := knn.Scores(testE.X, opt.KNN)
	if err != nil {
		return err
	}
	ood := map[string][][]float32{}
	for name, e := range oodE {
		if ood[name], err = knn.Scores(e.X, opt.KNN); err != nil {
			return err
		}
	}
	for i, k := range opt.KNN {
		s := Scored{Method: eval.MethodKNN, Params: map[string]float64{"k": float64(k)}, ID: widen(id[i]), OOD: map[string][]float64{}}
		for name := range oodE {
			s.OOD[name] = widen(ood[name][i])
		}
		res.Scores = append(res.Scores, s)
	}
	return nil
}

func widen(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// write stores ood_metrics.{json,csv,md} and, if asked, plots/ with ROC curves and histograms.
func (res *Result) write(opt Options) error {
	if err := os.MkdirAll(opt.Out, 0o755); err != nil {
		return err
	}
	for _, f := range []struct {
		name  string
		write func(io.Writer) error
	}{
		{"ood_metrics.json", func(w io.Writer) error { return eval.WriteJSON(w, res.Records) }},
		{"ood_metrics.csv", func(w io.Writer) error { return eval.WriteCSV(w, res.Records) }},
		{"ood_metrics.md", func(w io.Writer) error { return eval.WriteMarkdown(w, res.Records) }},
	} {
		if err := atomicfile.Write(filepath.Join(opt.Out, f.name), f.write); err != nil {
			return err
		}
	}
	if !opt.Plots {
		return nil
	}
	dir := filepath.Join(opt.Out, "plots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, s := range res.Scores {
		label := fileLabel(eval.Label(s.Method, s.Params))
		title := fmt.Sprintf("%s: %s", opt.Dataset, eval.Label(s.Method, s.Params))
		if err := eval.PlotROC(filepath.Join(dir, "roc_"+label), title, s.ID, s.OOD); err != nil {
			return err
		}
		for name, o := range s.OOD {
			if err := eval.PlotHistogram(filepath.Join(dir, "hist_"+label+"_"+fileLabel(name)), title, opt.Dataset, s.ID, name, o, 0); err != nil {
				return err
			}
		}
	}
	return nil
}

// fileLabel makes a method label safe as a file name: "msp (temperature=1)" → "msp_temperature-1".
func fileLabel(s string) string {
	r := strings.NewReplacer(" (", "_", ")", "", "=", "-", ", ", "_", " ", "_", "/", "_")
	return r.Replace(s)
}
