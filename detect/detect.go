// Package detect runs the paper's OOD evaluation end to end (logit_evaluation.py): it loads an embedding
// store, turns the ID test set and every OOD set into logits with a trained probe or CLIP zero-shot
// classifier, computes the OOD scores and their metrics, and writes the reports and plots.
package detect

import (
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
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
	// Weight [Classes, d] and Bias [Classes] are the linear head behind Logits, when it is one (a probe);
	// the post-hoc methods that modify the head's input need them.
	Weight, Bias []float32
	// Text is the CLIP joint space behind zero-shot Logits, for the methods that need more text than
	// the class names (eval.NeedText); nil otherwise.
	Text *TextSpace
}

// TextSpace is a zero-shot run's joint image-text space: stored embeddings [n, d] times Projection
// ([d, EmbedDim]; nil when d == EmbedDim), L2-normalised, compared with LabelEmbeds ([Classes,
// EmbedDim], unit rows) give the zero-shot logits; Encode returns unit-norm text embeddings.
type TextSpace struct {
	EmbedDim    int
	Projection  []float32
	LabelEmbeds []float32
	Encode      func(texts []string) ([]float32, error)
	// Patches says the store holds patch features for the sets of the run (HasPatches).
	Patches bool
}

// Where a feature-space score is computed (the "on" parameter of its records).
const (
	OnFeatures    = "features"     // the stored embeddings as they are
	OnFeaturesStd = "features-std" // standardised with the train split's mean and std (the paper's --embed_norm)
	OnLogits      = "logits"       // the source's logits
)

// Options selects the sets and methods of a run. Empty lists of the feature-space choices mean the
// defaults, which are the records plp has always written: kNN with cos-sim on the features,
// Mahalanobis with the class covariance on the logits, no max-norm scores.
type Options struct {
	Embeds, Model, Dataset string
	OOD                    []string
	Temperatures           []float64
	Maha                   bool
	KNN                    []int
	Out                    string // report folder; "" writes nothing
	Plots                  bool

	KNNMetrics     []eval.KNNMetric // default cos-sim
	KNNTemperature float64          // temp-cos-sim's temperature; 0 means eval.DefaultKNNTemperature
	KNNOn          []string         // OnFeatures, OnFeaturesStd, OnLogits; default OnFeatures
	MahaOn         []string         // OnLogits, OnFeatures; default OnLogits
	MahaCov        []eval.MahaCov   // default class
	MaxNorms       []eval.Norm      // the paper's OOD_cls_max_val on the logits; default none

	Methods []eval.Setting // post-hoc methods (eval.ParseMethods with the needs Source.Offers)
}

// Scored is one method's scores on the ID test set and each OOD set.
type Scored struct {
	Method   string
	Params   map[string]float64
	Settings map[string]string // named parameters (eval.Record.Settings)
	ID       []float64
	OOD      map[string][]float64
}

// Result is what Run computed.
type Result struct {
	Records  []eval.Record
	Scores   []Scored
	Accuracy float64 // ID test accuracy of the logits (0 when the stored labels are unknown)
	// Skipped says, one line each, which methods `--methods all` chose but left out because their default
	// parameters do not fit the data, and why.
	Skipped []string
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
	// Logit scores alone (the classifier baseline) need no train split, which for ImageNet is large.
	var trainE *data.Embeddings
	if opt.Maha || len(opt.KNN) > 0 || len(opt.Methods) > 0 || src.EmbedNorm || src.TrainLabels != nil {
		var err error
		if trainE, err = load(opt.Dataset, "train"); err != nil {
			return nil, err
		}
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
		if e.D != testE.D {
			return nil, fmt.Errorf("%s embeddings have width %d, %s %d: made with different models?", name, e.D, opt.Dataset, testE.D)
		}
		oodE[name] = e
	}
	if err := opt.defaults(src); err != nil {
		return nil, err
	}
	in := &inputs{opt: opt, src: src, train: trainE, test: testE, ood: oodE}
	res := &Result{}
	if src.Logits != nil {
		if err := res.logitScores(in); err != nil {
			return nil, err
		}
	}
	if opt.Maha {
		for _, on := range opt.MahaOn {
			if on == OnLogits && src.Logits == nil {
				continue // embedding-only runs have no logits to fit
			}
			if err := res.mahaScores(in, on); err != nil {
				return nil, err
			}
		}
	}
	if len(opt.KNN) > 0 {
		for _, on := range opt.KNNOn {
			if err := res.knnScores(in, on); err != nil {
				return nil, err
			}
		}
	}
	if len(opt.Methods) > 0 {
		if err := res.methodScores(in); err != nil {
			return nil, err
		}
	}
	for _, s := range res.Scores {
		for _, name := range opt.OOD {
			r, err := eval.Evaluate(opt.Dataset, name, s.Method, s.Params, s.ID, s.OOD[name])
			if err != nil {
				return nil, err
			}
			r.Settings = maps.Clone(s.Settings)
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

// defaults fills the empty feature-space choices and checks them against the source.
func (opt *Options) defaults(src Source) error {
	if len(opt.KNNMetrics) == 0 {
		opt.KNNMetrics = []eval.KNNMetric{eval.KNNCosSim}
	}
	if opt.KNNTemperature == 0 {
		opt.KNNTemperature = eval.DefaultKNNTemperature
	}
	if len(opt.KNNOn) == 0 {
		opt.KNNOn = []string{OnFeatures}
	}
	if len(opt.MahaOn) == 0 {
		opt.MahaOn = []string{OnLogits}
	}
	if len(opt.MahaCov) == 0 {
		opt.MahaCov = []eval.MahaCov{eval.CovClass}
	}
	for _, m := range opt.KNNMetrics {
		if _, err := eval.ParseKNNMetric(string(m)); err != nil {
			return err
		}
	}
	for _, c := range opt.MahaCov {
		if _, err := eval.ParseMahaCov(string(c)); err != nil {
			return err
		}
	}
	for _, n := range opt.MaxNorms {
		if _, err := eval.MaxNormalized(nil, 1, n); err != nil {
			return err
		}
	}
	check := func(what string, on []string, allowed ...string) error {
		for _, o := range on {
			if !slices.Contains(allowed, o) {
				return fmt.Errorf("%s on %q: want one of %s", what, o, strings.Join(allowed, ", "))
			}
		}
		return nil
	}
	if err := check("kNN", opt.KNNOn, OnFeatures, OnFeaturesStd, OnLogits); err != nil {
		return err
	}
	if len(opt.KNN) > 0 && slices.Contains(opt.KNNOn, OnLogits) && src.Logits == nil {
		return fmt.Errorf("kNN on logits needs a probe, a classifier or zero-shot logits")
	}
	return check("Mahalanobis", opt.MahaOn, OnLogits, OnFeatures)
}

// inputs are a run's stored embeddings and, computed once when first needed, their logits.
type inputs struct {
	opt               Options
	src               Source
	train, test       *data.Embeddings
	ood               map[string]*data.Embeddings
	trainL, testL     []float32
	oodL              map[string][]float32
	haveL, haveTrainL bool
}

// features returns the rows of e as the source's head reads them (standardised for --embed-norm).
func (in *inputs) features(e *data.Embeddings) []float32 {
	if in.src.EmbedNorm {
		return e.Normalized(in.train.Mean, in.train.Std)
	}
	return e.X
}

// logits computes the test and OOD logits once.
func (in *inputs) logits() error {
	if in.haveL {
		return nil
	}
	var err error
	if in.testL, err = in.src.Logits(in.features(in.test), in.test.N, in.test.D); err != nil {
		return err
	}
	in.oodL = map[string][]float32{}
	for name, e := range in.ood {
		if in.oodL[name], err = in.src.Logits(in.features(e), e.N, e.D); err != nil {
			return err
		}
	}
	in.haveL = true
	return nil
}

// trainLogits computes the train split's logits once.
func (in *inputs) trainLogits() ([]float32, error) {
	if !in.haveTrainL {
		l, err := in.src.Logits(in.features(in.train), in.train.N, in.train.D)
		if err != nil {
			return nil, err
		}
		in.trainL, in.haveTrainL = l, true
	}
	return in.trainL, nil
}

// space returns the train, test and OOD rows of a feature space and their width.
func (in *inputs) space(on string) (train, test []float32, ood map[string][]float32, dim int, err error) {
	ood = map[string][]float32{}
	switch on {
	case OnLogits:
		if err := in.logits(); err != nil {
			return nil, nil, nil, 0, err
		}
		if train, err = in.trainLogits(); err != nil {
			return nil, nil, nil, 0, err
		}
		return train, in.testL, in.oodL, in.src.Classes, nil
	case OnFeaturesStd:
		for name, e := range in.ood {
			ood[name] = e.Normalized(in.train.Mean, in.train.Std)
		}
		return in.train.Normalized(in.train.Mean, in.train.Std), in.test.Normalized(in.train.Mean, in.train.Std), ood, in.train.D, nil
	}
	for name, e := range in.ood {
		ood[name] = e.X
	}
	return in.train.X, in.test.X, ood, in.train.D, nil
}

func (res *Result) logitScores(in *inputs) error {
	opt, src := in.opt, in.src
	C := src.Classes
	if err := in.logits(); err != nil {
		return err
	}
	testL, oodL := in.testL, in.oodL
	if acc, err := eval.Accuracy(testL, C, in.test.Labels); err == nil {
		res.Accuracy = acc
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
			temp := t
			if temp == 0 {
				temp = 1
			}
			s, err := scoreEach(Scored{Method: m, Params: params}, testL, oodL, func(l []float32) ([]float32, error) {
				return eval.ScoreLogits(m, l, C, temp)
			})
			if err != nil {
				return err
			}
			res.Scores = append(res.Scores, s)
		}
	}
	for _, norm := range opt.MaxNorms {
		s, err := scoreEach(Scored{Method: eval.MethodMax, Params: map[string]float64{}, Settings: map[string]string{"norm": string(norm)}},
			testL, oodL, func(l []float32) ([]float32, error) { return eval.MaxNormalized(l, C, norm) })
		if err != nil {
			return err
		}
		res.Scores = append(res.Scores, s)
	}
	return nil
}

// scoreEach applies score to the ID rows and to every OOD set's rows.
func scoreEach(s Scored, id []float32, ood map[string][]float32, score func([]float32) ([]float32, error)) (Scored, error) {
	v, err := score(id)
	if err != nil {
		return s, err
	}
	s.ID, s.OOD = widen(v), map[string][]float64{}
	for name, x := range ood {
		if v, err = score(x); err != nil {
			return s, err
		}
		s.OOD[name] = widen(v)
	}
	return s, nil
}

// mahaScores fits MahaDist on the train split in one space and scores Mahalanobis and relative
// Mahalanobis with each chosen covariance. As logit_evaluation.py, the class statistics use the labels
// the source was trained on (a PLP probe's pseudo-labels), else the stored labels.
func (res *Result) mahaScores(in *inputs, on string) error {
	train, test, ood, dim, err := in.space(on)
	if err != nil {
		return err
	}
	labels := in.train.Labels
	if in.src.TrainLabels != nil {
		labels = in.src.TrainLabels
	}
	classes := 0 // any label, for features without a source
	if in.src.Logits != nil {
		classes = in.src.Classes
	}
	md, err := eval.FitMahalanobis(train, dim, labels, classes)
	if err != nil {
		return fmt.Errorf("Mahalanobis on %s: %w", on, err)
	}
	for _, cov := range in.opt.MahaCov {
		settings := map[string]string{"on": on, "cov": string(cov)}
		maha := Scored{Method: eval.MethodMahalanobis, Params: map[string]float64{}, Settings: settings, OOD: map[string][]float64{}}
		rel := Scored{Method: eval.MethodMahalanobisRelative, Params: map[string]float64{}, Settings: maps.Clone(settings), OOD: map[string][]float64{}}
		if maha.ID, rel.ID, err = md.ScoresCov(test, cov); err != nil {
			return err
		}
		for name, x := range ood {
			if maha.OOD[name], rel.OOD[name], err = md.ScoresCov(x, cov); err != nil {
				return err
			}
		}
		res.Scores = append(res.Scores, maha, rel)
	}
	return nil
}

// knnScores scores every k and metric in one space, independent of any head unless on logits.
func (res *Result) knnScores(in *inputs, on string) error {
	train, test, ood, dim, err := in.space(on)
	if err != nil {
		return err
	}
	for _, metric := range in.opt.KNNMetrics {
		knn, err := eval.NewKNNMetric(train, dim, metric, in.opt.KNNTemperature)
		if err != nil {
			return err
		}
		id, err := knn.Scores(test, in.opt.KNN)
		if err != nil {
			return err
		}
		oodS := map[string][][]float32{}
		for name, x := range ood {
			if oodS[name], err = knn.Scores(x, in.opt.KNN); err != nil {
				return err
			}
		}
		for i, k := range in.opt.KNN {
			params := map[string]float64{"k": float64(k)}
			if metric == eval.KNNTempCosSim {
				params["temperature"] = in.opt.KNNTemperature
			}
			s := Scored{Method: eval.MethodKNN, Params: params, Settings: map[string]string{"metric": string(metric), "on": on},
				ID: widen(id[i]), OOD: map[string][]float64{}}
			for name := range ood {
				s.OOD[name] = widen(oodS[name][i])
			}
			res.Scores = append(res.Scores, s)
		}
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
		{"ood_metrics.md", func(w io.Writer) error { return markdown(w, res.Records) }},
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
		label := fileLabel(eval.LabelWith(s.Method, s.Params, s.Settings))
		title := fmt.Sprintf("%s: %s", opt.Dataset, eval.LabelWith(s.Method, s.Params, s.Settings))
		if err := eval.PlotROC(filepath.Join(dir, "roc_"+label), title, s.ID, s.OOD); err != nil {
			return err
		}
		for name, o := range s.OOD {
			if err := eval.PlotHistogram(filepath.Join(dir, "hist_"+label+"_"+fileLabel(name)), title, opt.Dataset, s.ID, name, o, 0); err != nil {
				return err
			}
		}
	}
	return res.plotLeaderboard(dir, opt)
}

// fileLabel makes a method label safe as a file name: "msp (temperature=1)" → "msp_temperature-1".
func fileLabel(s string) string {
	r := strings.NewReplacer(" (", "_", ")", "", "=", "-", ", ", "_", " ", "_", "/", "_")
	return r.Replace(s)
}
