package eval

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"

	"plp/kernels/cpu"
)

var negLabelMethod = &Method{
	Name:  "neglabel",
	Paper: "Jiang et al., Negative Label Guided OOD Detection with Pretrained Vision-Language Models, ICLR 2024",
	Needs: NeedZeroShot | NeedFeatures | NeedText,
	Params: []ParamSpec{
		{Name: "neg_topk", Kind: FloatParam, Default: "0.15", Min: 1e-6, Max: 1,
			Doc: "fraction of the candidate nouns and of the adjectives kept as negative labels (0.15: about 10 600 of 70 794)"},
		{Name: "percentile", Kind: FloatParam, Default: "0.95", Min: 0, Max: 1,
			Doc: "a candidate's closeness to the ID labels is this quantile of its cosine similarities to them (NegMining's 1-eta)"},
		{Name: "ngroup", Kind: IntParam, Default: "100", Min: 1, Max: 1e6,
			Doc: "the negatives are split at random into this many groups; the score is the mean over groups"},
		{Name: "tau", Kind: FloatParam, Default: "0.01", Min: 1e-6, Max: 1e6,
			Doc: "softmax temperature on the cosine similarities (the authors' t=1 on 100·cosine)"},
		{Name: "seed", Kind: IntParam, Default: "0", Min: 0, Max: math.MaxInt32, Doc: "seed of the grouping permutation"},
	},
	fit: func(s Setting, d *FitData) (Detector, error) {
		nouns, adjectives, err := NegLabelCorpus()
		if err != nil {
			return nil, err
		}
		cand, err := d.EncodeText(NegLabelPrompts(nouns, adjectives))
		if err != nil {
			return nil, err
		}
		if len(cand) != (len(nouns)+len(adjectives))*d.EmbedDim {
			return nil, fmt.Errorf("text tower gave %d values for %d candidate labels of width %d", len(cand), len(nouns)+len(adjectives), d.EmbedDim)
		}
		order, err := mineNegatives(d.LabelEmbeds, cand, d.EmbedDim, len(nouns), s.Float("percentile"), s.Float("neg_topk"))
		if err != nil {
			return nil, err
		}
		neg := make([]float32, 0, len(order)*d.EmbedDim)
		for _, i := range order {
			neg = append(neg, cand[i*d.EmbedDim:(i+1)*d.EmbedDim]...)
		}
		return newNegLabel(d, neg, s.Float("tau"), s.Int("ngroup"), nil, uint64(s.Int("seed")))
	},
}

// The candidate corpus: the first lemma of every WordNet 3.0 noun and adjective synset, lower case,
// underscores as spaces, each word once (a word that is both counts as a noun), sorted. Nouns of the
// lexicographer files noun.animal and noun.food are left out, as in the NegLabel authors' word files;
// that leaves 58 514 nouns and 12 280 adjectives, the paper's "about 70 000 words". testdata/clip_ood
// has the script that builds it from Debian's wordnet-base.
//
//go:embed neglabel_words.txt.gz
var negLabelWordsGz []byte

var negLabelCorpus = sync.OnceValues(func() ([2][]string, error) {
	zr, err := gzip.NewReader(bytes.NewReader(negLabelWordsGz))
	if err != nil {
		return [2][]string{}, fmt.Errorf("eval: neglabel corpus: %w", err)
	}
	var words [2][]string
	part := -1
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		switch line := sc.Text(); line {
		case "# nouns":
			part = 0
		case "# adjectives":
			part = 1
		case "":
		default:
			if part < 0 {
				return [2][]string{}, errors.New("eval: neglabel corpus: a word before the first section")
			}
			words[part] = append(words[part], line)
		}
	}
	if err := sc.Err(); err != nil {
		return [2][]string{}, fmt.Errorf("eval: neglabel corpus: %w", err)
	}
	return words, nil
})

// NegLabelCorpus returns the candidate negative labels of neglabel: WordNet nouns and adjectives.
func NegLabelCorpus() (nouns, adjectives []string, err error) {
	w, err := negLabelCorpus()
	return slices.Clone(w[0]), slices.Clone(w[1]), err
}

// NegLabelPrompts puts the candidates into the authors' prompts: nouns as "the nice NOUN." (the
// template their configuration also uses for the ID labels), adjectives as "This is a ADJ photo".
func NegLabelPrompts(nouns, adjectives []string) []string {
	out := make([]string, 0, len(nouns)+len(adjectives))
	for _, w := range nouns {
		out = append(out, "the nice "+w+".")
	}
	for _, w := range adjectives {
		out = append(out, "This is a "+w+" photo")
	}
	return out
}

// mineNegatives is NegMining: every candidate (rows of cand [m, e], the first nouns of them nouns, the
// rest adjectives) is as close to the ID labels (pos [classes, e]) as the percentile quantile of its
// cosine similarities to them; the nouns and the adjectives are each sorted by that, farthest first, and
// the first int(count·topk) of each are kept. It returns the kept rows of cand, nouns first.
func mineNegatives(pos, cand []float32, e, nouns int, percentile, topk float64) ([]int, error) {
	classes, err := rows(len(pos), e, "label embeddings")
	if err != nil {
		return nil, err
	}
	m, err := rows(len(cand), e, "candidate embeddings")
	if err != nil {
		return nil, err
	}
	if classes == 0 || nouns < 0 || nouns > m {
		return nil, fmt.Errorf("eval: %d classes, %d candidates of which %d nouns", classes, m, nouns)
	}
	sim := make([]float32, m*classes)
	cpu.Sgemm(false, true, m, classes, e, 1, cand, e, pos, e, 0, sim, classes)
	closeness := make([]float64, m)
	parallelRows(m, func(i int) {
		closeness[i] = quantile(sim[i*classes:(i+1)*classes], percentile)
	})
	pick := func(lo, hi int) []int {
		idx := make([]int, hi-lo)
		for i := range idx {
			idx[i] = lo + i
		}
		slices.SortStableFunc(idx, func(a, b int) int { return cmpFloat(closeness[a], closeness[b]) })
		// Python's int(len(ind) * neg_topk): the float product, truncated.
		return idx[:int(float64(hi-lo)*topk)]
	}
	order := append(pick(0, nouns), pick(nouns, m)...)
	if len(order) == 0 {
		return nil, fmt.Errorf("eval: neg_topk %g keeps no negative label of %d candidates", topk, m)
	}
	return order, nil
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// quantile is torch.quantile's default (linear) interpolation of the q-quantile of x, in float32 as
// torch computes it for float32 input: the sorted values at floor and ceil of q·(n-1), blended by lerp.
func quantile(x []float32, q float64) float64 {
	s := slices.Clone(x)
	slices.Sort(s)
	rank := float32(q) * float32(len(s)-1)
	lo := int(rank)
	hi := min(lo+1, len(s)-1)
	w := rank - float32(lo)
	a, b := s[lo], s[hi]
	// torch.lerp's two-sided form, exact at both ends.
	if w < 0.5 {
		return float64(a + w*(b-a))
	}
	return float64(b - (b-a)*(1-w))
}

// NegLabel is the NegLabel score: with ID similarities s_c (the zero-shot logits) and the similarities
// n_j of the image to the negative labels of one group, sum_c e^{s_c/τ} / (sum_c e^{s_c/τ} + sum_j
// e^{n_j/τ}), the softmax mass of the ID labels, averaged over the groups of negatives.
type NegLabel struct {
	Tau float64
	// Groups lists the negatives' rows in neg, one slice per group, all of one size.
	Groups  [][]int
	neg     []float32 // [k, embedDim] unit rows
	proj    []float32
	dim     int
	e       int
	classes int
}

// newNegLabel groups the negatives as the authors' grouping does: the last k mod ngroup are dropped,
// the rest permuted (perm, or plp's seeded permutation when perm is nil) and cut into ngroup runs.
func newNegLabel(d *FitData, neg []float32, tau float64, ngroup int, perm []int, seed uint64) (*NegLabel, error) {
	k := len(neg) / d.EmbedDim
	if ngroup < 1 || ngroup > k {
		return nil, fmt.Errorf("%d groups of %d negative labels: raise neg_topk or lower ngroup", ngroup, k)
	}
	kept := k - k%ngroup
	if perm == nil {
		perm = rand.New(rand.NewPCG(seed, 0x6e65676c6162656c)).Perm(kept)
	}
	if len(perm) != kept {
		return nil, fmt.Errorf("permutation of %d negatives, want %d", len(perm), kept)
	}
	size := kept / ngroup
	groups := make([][]int, ngroup)
	for g := range groups {
		groups[g] = perm[g*size : (g+1)*size]
	}
	return &NegLabel{Tau: tau, Groups: groups, neg: neg, proj: d.Projection, dim: d.Dim, e: d.EmbedDim, classes: d.Classes}, nil
}

// Score implements Detector on b.Features (image features) and b.Logits (their zero-shot logits).
func (m *NegLabel) Score(b Batch) ([]float64, error) {
	n, err := batchRows(b, NeedFeatures|NeedZeroShot, m.dim, m.classes)
	if err != nil {
		return nil, err
	}
	y, _, err := project(b.Features, m.dim, m.proj, m.e, false)
	if err != nil {
		return nil, err
	}
	normalizeRows(y, m.e)
	k := len(m.neg) / m.e
	sim := make([]float32, n*k)
	if n > 0 {
		cpu.Sgemm(false, true, n, k, m.e, 1, y, m.e, m.neg, m.e, 0, sim, k)
	}
	return m.scoreSimilarities(b.Logits, sim, n), nil
}

// scoreSimilarities scores n images from their cosine similarities to the ID labels (pos [n, classes])
// and to the negative labels (neg [n, k]).
func (m *NegLabel) scoreSimilarities(pos, neg []float32, n int) []float64 {
	c, k := m.classes, len(m.neg)/m.e
	out := make([]float64, n)
	parallelRows(n, func(i int) {
		pos, negs := pos[i*c:(i+1)*c], neg[i*k:(i+1)*k]
		// Each group's softmax is shifted by its own maximum, so that no sum underflows to 0/0.
		top := float64(maxOf(pos))
		p := 0.0
		for _, v := range pos {
			p += math.Exp((float64(v) - top) / m.Tau)
		}
		total := 0.0
		for _, g := range m.Groups {
			gtop := top
			for _, j := range g {
				gtop = max(gtop, float64(negs[j]))
			}
			q := 0.0
			for _, j := range g {
				q += math.Exp((float64(negs[j]) - gtop) / m.Tau)
			}
			pg := p * math.Exp((top-gtop)/m.Tau)
			total += pg / (pg + q)
		}
		out[i] = total / float64(len(m.Groups))
	})
	return out
}
