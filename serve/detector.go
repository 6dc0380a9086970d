package serve

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"plp/data"
	"plp/eval"
)

// Logits maps embeddings x [n, d] to logits [n, classes], as detect.Logits does for `plp eval`.
type Logits func(x []float32, n, d int) ([]float32, error)

// Head is the classifier on top of the encoder: a probe's linear layer or CLIP's zero-shot classifier.
type Head struct {
	Logits  Logits
	Classes []string // one name per logit
	// EmbedNorm standardises embeddings with the train split's mean and std before Logits (probes trained
	// with --embed-norm), as `plp eval` does.
	EmbedNorm bool
	// TrainLabels replaces the stored train labels (PLP probes: the pseudo-labels) when fitting Mahalanobis.
	TrainLabels []int64
}

// DetectorConfig selects the scores a Detector computes and the data it fits and calibrates them on.
type DetectorConfig struct {
	Head *Head // nil: embedding-only scores (knn)
	// Methods are plp's method names: msp (pseudo_msp is accepted as its zero-shot name), energy,
	// max_logit, l1_norm, mahalanobis, mahalanobis_relative, knn. Default: msp.
	Methods     []string
	Temperature float64 // for msp and energy; default 1
	KNNK        int     // k of the knn score; default 10 (clamped to the train split's size)
	// Train is the ID train split of the embedding store: the mean and std of --embed-norm, the class
	// statistics of Mahalanobis and the neighbour bank of knn.
	Train *data.Embeddings
	// Calib is held-out ID data (by default the store's ID test split); each score's threshold is set on it.
	Calib *data.Embeddings
	TPR   float64 // fraction of Calib kept as ID by each threshold; default 0.95
	Bins  int     // histogram bins of the calibration scores; default 40
}

// Detector turns embeddings into class probabilities and OOD scores with calibrated thresholds. It holds
// no model: it is the part of `plp eval` that applies to one batch. Score is safe for concurrent use.
type Detector struct {
	head    *Head
	dim     int
	classes int
	methods []string
	temp    float64
	k       int
	mean    []float32
	std     []float32
	maha    *eval.Mahalanobis
	knn     *eval.KNN
	calib   map[string]Calibration
	tpr     float64
}

// Calibration is a score's operating point on the held-out ID data and the histogram of its ID scores.
type Calibration struct {
	Threshold float64   `json:"threshold"`
	TPR       float64   `json:"tpr"`     // fraction of the held-out ID scores at or above Threshold
	Samples   int       `json:"samples"` // held-out ID images
	Edges     []float64 `json:"edges"`   // Bins+1 histogram edges, ascending
	Counts    []int     `json:"counts"`  // ID scores per bin
}

// Decision is one score of one image against its threshold; OOD is score < threshold (higher means more
// in-distribution, as in `plp eval`).
type Decision struct {
	Score     float64 `json:"score"`
	Threshold float64 `json:"threshold"`
	OOD       bool    `json:"ood"`
}

// Class is one of an image's most probable classes.
type Class struct {
	Index int     `json:"index"`
	Class string  `json:"class"`
	Prob  float64 `json:"prob"`
}

// Prediction is what a Detector says about one image.
type Prediction struct {
	Top    []Class             `json:"top"`
	Scores map[string]Decision `json:"scores"`
}

var logitMethods = []string{eval.MethodMSP, eval.MethodEnergy, eval.MethodMaxLogit, eval.MethodL1Norm}

// MethodNames lists the scores a Detector knows.
func MethodNames() []string {
	return append(slices.Clone(logitMethods), eval.MethodMahalanobis, eval.MethodMahalanobisRelative, eval.MethodKNN)
}

// NewDetector fits the statistics the chosen scores need and calibrates every threshold on cfg.Calib.
func NewDetector(cfg DetectorConfig) (*Detector, error) {
	if cfg.Train == nil || cfg.Calib == nil {
		return nil, fmt.Errorf("serve: the detector needs the ID train split and held-out ID embeddings")
	}
	if cfg.Train.D != cfg.Calib.D {
		return nil, fmt.Errorf("serve: train embeddings have width %d, held-out ones %d", cfg.Train.D, cfg.Calib.D)
	}
	if cfg.Calib.N == 0 {
		return nil, fmt.Errorf("serve: no held-out ID embeddings to calibrate the thresholds on")
	}
	d := &Detector{head: cfg.Head, dim: cfg.Train.D, temp: cfg.Temperature, k: cfg.KNNK, tpr: cfg.TPR}
	if d.temp == 0 {
		d.temp = 1
	}
	if d.temp < 0 || math.IsNaN(d.temp) || math.IsInf(d.temp, 0) {
		return nil, fmt.Errorf("serve: temperature %v is not positive", cfg.Temperature)
	}
	if d.k == 0 {
		d.k = min(10, cfg.Train.N)
	}
	if d.tpr == 0 {
		d.tpr = 0.95
	}
	if !(d.tpr > 0 && d.tpr <= 1) {
		return nil, fmt.Errorf("serve: TPR %v is not in (0, 1]", cfg.TPR)
	}
	methods := cfg.Methods
	if len(methods) == 0 {
		methods = []string{eval.MethodMSP}
	}
	for _, m := range methods {
		m = strings.TrimSpace(strings.ToLower(m))
		if m == eval.MethodPseudoMSP {
			m = eval.MethodMSP
		}
		if !slices.Contains(MethodNames(), m) {
			return nil, fmt.Errorf("serve: unknown score %q (want one of %s)", m, strings.Join(MethodNames(), ", "))
		}
		if m != eval.MethodKNN && cfg.Head == nil {
			return nil, fmt.Errorf("serve: score %s needs a classifier head (a probe or --zeroshot)", m)
		}
		if !slices.Contains(d.methods, m) {
			d.methods = append(d.methods, m)
		}
	}
	if h := cfg.Head; h != nil {
		if h.Logits == nil || len(h.Classes) == 0 {
			return nil, fmt.Errorf("serve: the head has no logits function or no classes")
		}
		d.classes = len(h.Classes)
		if h.EmbedNorm {
			d.mean, d.std = cfg.Train.Mean, cfg.Train.Std
			if len(d.mean) != d.dim || len(d.std) != d.dim {
				return nil, fmt.Errorf("serve: the train split has no mean and std of width %d for --embed-norm", d.dim)
			}
		}
	}
	if d.uses(eval.MethodMahalanobis) || d.uses(eval.MethodMahalanobisRelative) {
		// As `plp eval`: class statistics of the train logits with the labels the probe was trained on.
		trainL, err := d.logits(cfg.Train.X, cfg.Train.N)
		if err != nil {
			return nil, err
		}
		labels := cfg.Train.Labels
		if cfg.Head.TrainLabels != nil {
			labels = cfg.Head.TrainLabels
		}
		if d.maha, err = eval.FitMahalanobis(trainL, d.classes, labels, d.classes); err != nil {
			return nil, fmt.Errorf("serve: mahalanobis: %w", err)
		}
	}
	if d.uses(eval.MethodKNN) {
		if d.k < 1 || d.k > cfg.Train.N {
			return nil, fmt.Errorf("serve: knn k=%d is outside 1..%d (the train split's size)", d.k, cfg.Train.N)
		}
		var err error
		if d.knn, err = eval.NewKNN(cfg.Train.X, d.dim); err != nil {
			return nil, fmt.Errorf("serve: knn: %w", err)
		}
	}
	if err := d.calibrate(cfg.Calib, cfg.Bins); err != nil {
		return nil, err
	}
	return d, nil
}

func (d *Detector) uses(m string) bool { return slices.Contains(d.methods, m) }

// Methods are the scores the detector computes, in the order they were asked for.
func (d *Detector) Methods() []string { return slices.Clone(d.methods) }

// Dim is the embedding width the detector takes.
func (d *Detector) Dim() int { return d.dim }

// Classes are the head's class names (nil without a head).
func (d *Detector) Classes() []string {
	if d.head == nil {
		return nil
	}
	return slices.Clone(d.head.Classes)
}

// Calibration returns the operating point of every score.
func (d *Detector) Calibration() map[string]Calibration { return d.calib }

// logits applies the head to raw embeddings, standardising them first when the probe asks for it.
func (d *Detector) logits(x []float32, n int) ([]float32, error) {
	feats := x
	if d.mean != nil {
		feats = (&data.Embeddings{N: n, D: d.dim, X: x}).Normalized(d.mean, d.std)
	}
	l, err := d.head.Logits(feats, n, d.dim)
	if err != nil {
		return nil, err
	}
	if len(l) != n*d.classes {
		return nil, fmt.Errorf("serve: head returned %d logits for %d images of %d classes", len(l), n, d.classes)
	}
	return l, nil
}

// raw computes every score of n embeddings x [n, dim]; it returns the logits too (nil without a head).
func (d *Detector) raw(x []float32, n int) (logits []float32, scores map[string][]float64, err error) {
	if len(x) != n*d.dim {
		return nil, nil, fmt.Errorf("serve: %d values for %d embeddings of width %d", len(x), n, d.dim)
	}
	scores = map[string][]float64{}
	if d.head != nil {
		if logits, err = d.logits(x, n); err != nil {
			return nil, nil, err
		}
	}
	for _, m := range d.methods {
		switch m {
		case eval.MethodMSP, eval.MethodEnergy, eval.MethodMaxLogit, eval.MethodL1Norm:
			s, err := eval.ScoreLogits(m, logits, d.classes, d.temp)
			if err != nil {
				return nil, nil, err
			}
			scores[m] = widen(s)
		case eval.MethodMahalanobis, eval.MethodMahalanobisRelative:
			if _, ok := scores[m]; ok {
				continue
			}
			maha, rel, err := d.maha.Scores(logits)
			if err != nil {
				return nil, nil, err
			}
			scores[eval.MethodMahalanobis], scores[eval.MethodMahalanobisRelative] = maha, rel
		case eval.MethodKNN:
			s, err := d.knn.Scores(x, []int{d.k})
			if err != nil {
				return nil, nil, err
			}
			scores[m] = widen(s[0])
		}
	}
	for k := range scores {
		if !d.uses(k) {
			delete(scores, k)
		}
	}
	return logits, scores, nil
}

// calibrate sets each threshold to the largest value that keeps at least a fraction tpr of the held-out ID
// scores at or above it.
func (d *Detector) calibrate(e *data.Embeddings, bins int) error {
	_, scores, err := d.raw(e.X, e.N)
	if err != nil {
		return fmt.Errorf("serve: scoring the held-out ID embeddings: %w", err)
	}
	if bins <= 0 {
		bins = 40
	}
	d.calib = map[string]Calibration{}
	for m, s := range scores {
		sorted := slices.Clone(s)
		for _, v := range sorted {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("serve: %s score of a held-out ID embedding is %v", m, v)
			}
		}
		sort.Sort(sort.Reverse(sort.Float64Slice(sorted)))
		i := max(int(math.Ceil(d.tpr*float64(len(sorted))))-1, 0)
		th := sorted[i]
		kept := 0
		for _, v := range sorted {
			if v >= th {
				kept++
			}
		}
		c := Calibration{Threshold: th, TPR: float64(kept) / float64(len(sorted)), Samples: len(sorted)}
		c.Edges, c.Counts = binScores(sorted[len(sorted)-1], sorted[0], sorted, bins)
		d.calib[m] = c
	}
	return nil
}

func binScores(lo, hi float64, v []float64, bins int) ([]float64, []int) {
	if hi <= lo {
		lo, hi = lo-0.5, hi+0.5
	}
	edges := make([]float64, bins+1)
	for i := range edges {
		edges[i] = lo + (hi-lo)*float64(i)/float64(bins)
	}
	counts := make([]int, bins)
	for _, x := range v {
		b := int((x - lo) / (hi - lo) * float64(bins))
		counts[min(max(b, 0), bins-1)]++
	}
	return edges, counts
}

// Score predicts n images from their embeddings x [n, dim]: the topK most probable classes (softmax of
// the logits at temperature 1) and every score against its threshold.
func (d *Detector) Score(x []float32, n, topK int) ([]Prediction, error) {
	logits, scores, err := d.raw(x, n)
	if err != nil {
		return nil, err
	}
	var probs []float32
	if logits != nil {
		if probs, err = eval.Softmax(logits, d.classes); err != nil {
			return nil, err
		}
	}
	out := make([]Prediction, n)
	for i := range out {
		p := Prediction{Top: []Class{}, Scores: map[string]Decision{}}
		if probs != nil {
			p.Top = top(probs[i*d.classes:(i+1)*d.classes], d.head.Classes, topK)
		}
		for m, s := range scores {
			c := d.calib[m]
			p.Scores[m] = Decision{Score: s[i], Threshold: c.Threshold, OOD: s[i] < c.Threshold}
		}
		out[i] = p
	}
	return out, nil
}

// top returns the k largest probabilities, ties broken by the lower index.
func top(p []float32, names []string, k int) []Class {
	idx := make([]int, len(p))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return p[idx[a]] > p[idx[b]] })
	k = min(max(k, 1), len(p))
	out := make([]Class, k)
	for i, j := range idx[:k] {
		out[i] = Class{Index: j, Class: names[j], Prob: float64(p[j])}
	}
	return out
}

func widen(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}
