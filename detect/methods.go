package detect

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"plp/eval"
)

// Offers returns the inputs of the post-hoc methods that a run with this source has: features always
// (the head's input: the stored embeddings, standardised for --embed-norm), train labels (stored or
// pseudo-labels), logits with a source, the head with a linear one, CLIP cosine logits for zero-shot, and
// the text tower with Source.Text.
func (src Source) Offers() eval.Needs {
	have := eval.NeedFeatures | eval.NeedLabels
	if src.Logits != nil {
		have |= eval.NeedLogits
		if src.ZeroShot {
			have |= eval.NeedZeroShot
			if src.Text != nil {
				have |= eval.NeedText
				if src.Text.Patches {
					have |= eval.NeedPatches
				}
			}
		}
		if src.Weight != nil && src.Bias != nil {
			have |= eval.NeedHead
		}
	}
	return have
}

// methodScores fits every post-hoc method on the ID train split and scores the ID test and OOD sets.
func (res *Result) methodScores(in *inputs) error {
	have := in.src.Offers()
	fit := &eval.FitData{Dim: in.train.D, Features: in.features(in.train), ZeroShot: in.src.ZeroShot,
		Labels: in.train.Labels, Weight: in.src.Weight, Bias: in.src.Bias}
	if in.src.TrainLabels != nil {
		fit.Labels = in.src.TrainLabels
	}
	if t := in.src.Text; t != nil {
		fit.EmbedDim, fit.Projection, fit.LabelEmbeds, fit.EncodeText = t.EmbedDim, t.Projection, t.LabelEmbeds, t.Encode
	}
	test := eval.Batch{Features: in.features(in.test)}
	ood := map[string]eval.Batch{}
	for name, e := range in.ood {
		ood[name] = eval.Batch{Features: in.features(e)}
	}
	if have&eval.NeedLogits != 0 {
		fit.Classes = in.src.Classes
		if err := in.logits(); err != nil {
			return err
		}
		l, err := in.trainLogits()
		if err != nil {
			return err
		}
		fit.Logits, test.Logits = l, in.testL
		for name, b := range ood {
			b.Logits = in.oodL[name]
			ood[name] = b
		}
	} else {
		// Feature-only runs: the classes are the labels present.
		for _, l := range fit.Labels {
			fit.Classes = max(fit.Classes, int(l)+1)
		}
	}
	if in.opt.needsPatches() {
		var err error
		if test.Patches, err = in.patches(in.opt.Dataset, in.test); err != nil {
			return err
		}
		for name, b := range ood {
			if b.Patches, err = in.patches(name, in.ood[name]); err != nil {
				return err
			}
			ood[name] = b
		}
	}
	for _, s := range in.opt.Methods {
		if !s.Method.Applies(have) {
			return fmt.Errorf("%s needs %s; this run has %s", s.Method.Name, s.Method.Needs, have)
		}
		det, err := s.Fit(fit)
		if err != nil && s.Optional {
			res.Skipped = append(res.Skipped, fmt.Sprintf("%s left out of --methods all: %s", s.Label(), strings.TrimPrefix(err.Error(), "eval: ")))
			continue
		}
		if err != nil {
			return err
		}
		sc := Scored{Method: s.Method.Name, Params: s.NumericParams(), Settings: s.NamedParams(), OOD: map[string][]float64{}}
		if sc.ID, err = det.Score(test); err != nil {
			return fmt.Errorf("%s on %s: %w", s.Label(), in.opt.Dataset, err)
		}
		for _, name := range slices.Sorted(maps.Keys(ood)) {
			if sc.OOD[name], err = det.Score(ood[name]); err != nil {
				return fmt.Errorf("%s on %s: %w", s.Label(), name, err)
			}
		}
		res.Scores = append(res.Scores, sc)
	}
	return nil
}
