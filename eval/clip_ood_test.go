package eval

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// clipOOD holds testdata/clip_ood: synthetic inputs and the reference outputs of the GL-MCM and
// NegLabel authors' code (make_reference.py).
type clipOOD struct {
	ref     *tensorFile
	metrics map[string]struct{ AUROC, FPR95 float64 }
	text    []float32 // [clipClasses, clipDim] unit class text embeddings
}

const clipDim, clipClasses = 32, 10

func openClipOOD(t *testing.T) *clipOOD {
	t.Helper()
	c := &clipOOD{ref: openTensors(t, "clip_ood/reference.safetensors")}
	b, err := os.ReadFile(filepath.Join("testdata", "clip_ood", "metrics.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &c.metrics); err != nil {
		t.Fatal(err)
	}
	c.text = c.ref.f32("text")
	return c
}

// batch returns the global image features of a set ("id" or "ood") with their zero-shot logits.
func (c *clipOOD) batch(t *testing.T, set string) Batch {
	t.Helper()
	x := c.ref.f32(set + "_global")
	logits, err := ZeroShotLogits(x, clipDim, nil, clipDim, c.text, 1)
	if err != nil {
		t.Fatal(err)
	}
	return Batch{Features: x, Logits: logits}
}

// checkMetrics compares the AUROC and FPR95 of plp's scores with those the authors' get_measures gave
// for the reference scores, within 1e-3 percentage points.
func (c *clipOOD) checkMetrics(t *testing.T, key string, id, ood []float64) {
	t.Helper()
	want, ok := c.metrics[key]
	if !ok {
		t.Fatalf("metrics.json has no %s", key)
	}
	got, err := Compute(id, ood)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(got.AUROC-100*want.AUROC) > 1e-3 || math.Abs(got.FPR95-100*want.FPR95) > 1e-3 {
		t.Errorf("%s: AUROC %.6f FPR95 %.6f, want %.6f %.6f", key, got.AUROC, got.FPR95, 100*want.AUROC, 100*want.FPR95)
	}
}

// settingsOf lists the reference settings "name[k=v,...]" of a method, with their parameters.
func (c *clipOOD) settingsOf(method string) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, name := range c.ref.st.Names() {
		key, _, _ := strings.Cut(name, "/")
		head, rest, ok := strings.Cut(strings.TrimSuffix(key, "]"), "[")
		if !ok || head != method {
			continue
		}
		params := map[string]string{}
		for _, kv := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(kv, "=")
			params[k] = v
		}
		out[key] = params
	}
	return out
}

func ints(v []int64) []int {
	out := make([]int, len(v))
	for i, x := range v {
		out[i] = int(x)
	}
	return out
}

func TestNegLabelMining(t *testing.T) {
	c := openClipOOD(t)
	nouns, adjs := c.ref.f32("neg_nouns"), c.ref.f32("neg_adjs")
	cand := append(slices.Clone(nouns), adjs...)
	settings := c.settingsOf("mining")
	if len(settings) != 2 {
		t.Fatalf("%d mining settings in the reference, want 2", len(settings))
	}
	for key, p := range settings {
		var pct, topk float64
		fmt.Sscan(p["percentile"], &pct)
		fmt.Sscan(p["neg_topk"], &topk)
		order, err := mineNegatives(c.text, cand, clipDim, len(nouns)/clipDim, pct, topk)
		if err != nil {
			t.Fatal(err)
		}
		if want := ints(c.ref.i64(key + "/order")); !slices.Equal(order, want) {
			t.Errorf("%s: kept %v,\nwant %v", key, order, want)
		}
		// The quantile itself, against torch.quantile.
		q := c.ref.f32(key + "/quantile")
		for i := range q {
			row := make([]float32, clipClasses)
			for j := range row {
				s := 0.0
				for k := range clipDim {
					s += float64(cand[i*clipDim+k]) * float64(c.text[j*clipDim+k])
				}
				row[j] = float32(s)
			}
			if got := quantile(row, pct); !closeRel(got, float64(q[i]), 1e-5, 1e-6) {
				t.Errorf("%s: quantile of candidate %d = %g, want %g", key, i, got, q[i])
			}
		}
	}
}

func TestNegLabelScores(t *testing.T) {
	c := openClipOOD(t)
	cand := append(c.ref.f32("neg_nouns"), c.ref.f32("neg_adjs")...)
	settings := c.settingsOf("neglabel")
	if len(settings) != 4 {
		t.Fatalf("%d neglabel settings in the reference, want 4", len(settings))
	}
	fit := &FitData{Dim: clipDim, EmbedDim: clipDim, Classes: clipClasses, LabelEmbeds: c.text}
	for key, p := range settings {
		t.Run(key, func(t *testing.T) {
			var tau float64
			var ngroup int
			fmt.Sscan(p["tau"], &tau)
			fmt.Sscan(p["ngroup"], &ngroup)
			mining := fmt.Sprintf("mining[neg_topk=%s,percentile=%s]", p["neg_topk"], p["percentile"])
			var neg []float32
			for _, i := range c.ref.i64(mining + "/order") {
				neg = append(neg, cand[int(i)*clipDim:int(i+1)*clipDim]...)
			}
			det, err := newNegLabel(fit, neg, tau, ngroup, ints(c.ref.i64(key+"/perm")), 0)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string][]float64{}
			for _, set := range []string{"id", "ood"} {
				// The method on the reference's own float32 similarities: 1e-5 relative.
				pos, neg := c.ref.f32("pos_cos/"+set), c.ref.f32(mining+"/neg_cos/"+set)
				want := c.ref.f64(key + "/" + set)
				checkScores(t, key+"/"+set, det.scoreSimilarities(pos, neg, len(want)), want, 1e-5, 0)
				// From the image features: plp's own float32 products differ from torch's by an ulp or
				// two, which temperature 0.01 magnifies 100-fold.
				if got[set], err = det.Score(c.batch(t, set)); err != nil {
					t.Fatal(err)
				}
				checkScores(t, key+"/"+set+" from features", got[set], want, 1e-4, 0)
			}
			c.checkMetrics(t, key, got["id"], got["ood"])
		})
	}
}

func TestNegLabelCorpus(t *testing.T) {
	nouns, adjs, err := NegLabelCorpus()
	if err != nil {
		t.Fatal(err)
	}
	if len(nouns) != 58514 || len(adjs) != 12280 {
		t.Errorf("%d nouns and %d adjectives, want 58514 and 12280", len(nouns), len(adjs))
	}
	seen := map[string]bool{}
	for _, w := range append(slices.Clone(nouns), adjs...) {
		if seen[w] || w != strings.ToLower(w) || strings.ContainsAny(w, "_\t") || strings.TrimSpace(w) != w {
			t.Fatalf("word %q repeated or not normalised", w)
		}
		seen[w] = true
	}
	for _, w := range []string{"physical entity", "refrigeration system", "christmas begonia", "abstraction"} {
		if !slices.Contains(nouns, w) {
			t.Errorf("nouns lack %q", w)
		}
	}
	for _, w := range []string{"lively", "gigantic", "uric"} {
		if !slices.Contains(adjs, w) {
			t.Errorf("adjectives lack %q", w)
		}
	}
	// noun.animal and noun.food are left out as in the authors' word files.
	for _, w := range []string{"eurasian badger", "candy bar"} {
		if seen[w] {
			t.Errorf("corpus holds %q (noun.animal or noun.food)", w)
		}
	}
	p := NegLabelPrompts([]string{"cat"}, []string{"red"})
	if !slices.Equal(p, []string{"the nice cat.", "This is a red photo"}) {
		t.Errorf("prompts %q", p)
	}
}

// TestNegLabelFit runs the registry's neglabel on the whole corpus with a stand-in text tower (a fixed
// random unit vector per prompt) and checks the counts the paper's settings give.
func TestNegLabelFit(t *testing.T) {
	c := openClipOOD(t)
	var asked []string
	encode := func(texts []string) ([]float32, error) {
		asked = texts
		out := make([]float32, len(texts)*clipDim)
		for i, s := range texts {
			h := uint64(14695981039346656037)
			for _, b := range []byte(s) {
				h = (h ^ uint64(b)) * 1099511628211
			}
			row := out[i*clipDim : (i+1)*clipDim]
			for j := range row {
				h ^= h << 13
				h ^= h >> 7
				h ^= h << 17
				row[j] = float32(int64(h>>11))/float32(1<<52) - 1
			}
		}
		normalizeRows(out, clipDim)
		return out, nil
	}
	id := c.batch(t, "id")
	fit := &FitData{Dim: clipDim, EmbedDim: clipDim, Classes: clipClasses, LabelEmbeds: c.text, ZeroShot: true,
		Logits: id.Logits, Features: id.Features, EncodeText: encode}
	s, err := negLabelMethod.NewSetting(nil)
	if err != nil {
		t.Fatal(err)
	}
	det, err := s.Fit(fit)
	if err != nil {
		t.Fatal(err)
	}
	if len(asked) != 58514+12280 || asked[0] != "the nice 'hood." || asked[len(asked)-1] != "This is a "+lastAdjective(t)+" photo" {
		t.Errorf("%d prompts, first %q last %q", len(asked), asked[0], asked[len(asked)-1])
	}
	nl := det.(*NegLabel)
	// int(58514·0.15) + int(12280·0.15) = 8777 + 1842 negatives; 100 groups of 106, 19 dropped.
	if k := len(nl.neg) / clipDim; k != 10619 || len(nl.Groups) != 100 || len(nl.Groups[0]) != 106 {
		t.Errorf("%d negatives in %d groups of %d, want 10619 in 100 of 106", k, len(nl.Groups), len(nl.Groups[0]))
	}
	scores, err := det.Score(id)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range scores {
		if !(v > 0 && v < 1) {
			t.Fatalf("score %d = %g, want in (0, 1)", i, v)
		}
	}
	// Without a text tower the method does not fit.
	fit.EncodeText = nil
	if _, err := s.Fit(fit); err == nil || !strings.Contains(err.Error(), "text tower") {
		t.Errorf("fit without a text tower: %v", err)
	}
}

func lastAdjective(t *testing.T) string {
	_, adjs, err := NegLabelCorpus()
	if err != nil {
		t.Fatal(err)
	}
	return adjs[len(adjs)-1]
}

// TestNegLabelExtremeTemperature checks that grouping never yields a NaN where the logits are far apart:
// with a tiny temperature every group's softmax is dominated by one term.
func TestNegLabelExtremeTemperature(t *testing.T) {
	c := openClipOOD(t)
	fit := &FitData{Dim: clipDim, EmbedDim: clipDim, Classes: clipClasses, LabelEmbeds: c.text}
	neg := c.ref.f32("neg_nouns")[:40*clipDim]
	det, err := newNegLabel(fit, neg, 1e-6, 4, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	scores, err := det.Score(c.batch(t, "ood"))
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range scores {
		if math.IsNaN(v) || v < 0 || v > 1 {
			t.Fatalf("score %d = %g", i, v)
		}
	}
	if _, err := newNegLabel(fit, neg, 0.01, 41, nil, 0); err == nil {
		t.Error("41 groups of 40 negatives: no error")
	}
}

func TestGLMCMScores(t *testing.T) {
	c := openClipOOD(t)
	settings := c.settingsOf("glmcm")
	if len(settings) != 2 {
		t.Fatalf("%d glmcm settings in the reference, want 2", len(settings))
	}
	fit := &FitData{Dim: clipDim, EmbedDim: clipDim, Classes: clipClasses, LabelEmbeds: c.text, ZeroShot: true}
	train := c.batch(t, "id")
	fit.Logits = train.Logits
	for key, p := range settings {
		t.Run(key, func(t *testing.T) {
			s, err := glmcmMethod.NewSetting(p)
			if err != nil {
				t.Fatal(err)
			}
			det, err := s.Fit(fit)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string][]float64{}
			for _, set := range []string{"id", "ood"} {
				b := c.batch(t, set)
				b.Patches = c.ref.f32(set + "_local")
				if got[set], err = det.Score(b); err != nil {
					t.Fatal(err)
				}
				checkScores(t, key+"/"+set, got[set], c.ref.f64(key+"/"+set), 1e-5, 0)
			}
			c.checkMetrics(t, key, got["id"], got["ood"])
		})
	}
	// The patch features must match the batch.
	det, _ := glmcmMethod.fit(Setting{}, fit)
	b := c.batch(t, "ood")
	b.Patches = c.ref.f32("ood_local")[:100]
	if _, err := det.Score(b); err == nil || !strings.Contains(err.Error(), "patch feature") {
		t.Errorf("short patches: %v", err)
	}
	if _, err := glmcmMethod.NewSetting(map[string]string{"tau": "0"}); err == nil {
		t.Error("tau 0 accepted")
	}
}
