package eval

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Needs says which inputs a post-hoc method uses. A run offers the methods whose needs its inputs meet.
type Needs uint8

const (
	NeedLogits   Needs = 1 << iota // logits of the ID train split and of the samples to score
	NeedFeatures                   // penultimate features (the classifier head's input)
	NeedHead                       // the linear head's weight and bias, applied to the features
	NeedLabels                     // labels of the ID train split
	NeedZeroShot                   // the logits are CLIP cosine similarities to class text embeddings
	NeedText                       // the CLIP text tower and the joint space (FitData's EncodeText, LabelEmbeds, Projection)
	NeedPatches                    // projected patch features of the images (Batch.Patches) and the class text embeddings
)

// String lists the needs in words, e.g. "features, head".
func (n Needs) String() string {
	var parts []string
	for _, x := range []struct {
		bit  Needs
		name string
	}{{NeedLogits, "logits"}, {NeedFeatures, "features"}, {NeedHead, "head"}, {NeedLabels, "train labels"}, {NeedZeroShot, "zero-shot logits"}, {NeedText, "text tower"}, {NeedPatches, "patch features"}} {
		if n&x.bit != 0 {
			parts = append(parts, x.name)
		}
	}
	return strings.Join(parts, ", ")
}

// FitData is the in-distribution training split a post-hoc method fits on (OpenOOD fits on its ID
// loaders; plp uses the ID train split), with the classifier head. Fields a method does not need may
// be empty. Matrices are row-major.
type FitData struct {
	Dim, Classes int
	Features     []float32 // [n, Dim] penultimate features: the input of the head
	Logits       []float32 // [n, Classes]
	Labels       []int64   // [n], in [0, Classes)
	Weight       []float32 // [Classes, Dim] the head's weight (nn.Linear layout)
	Bias         []float32 // [Classes]
	// ZeroShot marks Logits as CLIP cosine similarities to one text embedding per class.
	ZeroShot bool
	// The joint image-text space of a zero-shot run, for methods that need more text than the class
	// names: Features·Projection ([Dim, EmbedDim]; nil when Dim == EmbedDim and the features are already
	// in the joint space), L2-normalised, is what Logits compares with LabelEmbeds ([Classes, EmbedDim],
	// unit rows); EncodeText returns the unit-norm text embeddings [len(texts), EmbedDim] of any texts.
	EmbedDim    int
	Projection  []float32
	LabelEmbeds []float32
	EncodeText  func(texts []string) ([]float32, error)

	// memo keeps statistics that several methods fit identically (mds and rmds share the class
	// covariance), so that a run computes them once. Fits on one FitData must not run concurrently, and
	// its slices must not change between them.
	memo map[string]any
}

// memoize returns the value stored under key, computing it with f the first time.
func memoize[T any](d *FitData, key string, f func() (T, error)) (T, error) {
	if v, ok := d.memo[key]; ok {
		return v.(T), nil
	}
	v, err := f()
	if err != nil {
		return v, err
	}
	if d.memo == nil {
		d.memo = map[string]any{}
	}
	d.memo[key] = v
	return v, nil
}

// Batch holds the samples to score: features [n, Dim] and logits [n, Classes], as the method needs.
// Patches holds projected patch features [n, patches, EmbedDim] (NeedPatches).
type Batch struct {
	Features []float32
	Logits   []float32
	Patches  []float32
}

// Detector is a fitted post-hoc method. Score returns one score per sample, higher = more
// in-distribution.
type Detector interface {
	Score(b Batch) ([]float64, error)
}

// ParamKind is the type of a method parameter.
type ParamKind int

// The parameter kinds; values are given as strings (NAME.KEY=VALUE) and checked against the kind.
const (
	IntParam    ParamKind = iota // an integer in [Min, Max]
	FloatParam                   // a number in [Min, Max]
	BoolParam                    // true or false (strconv.ParseBool's spellings)
	ChoiceParam                  // one of Choices
)

// ParamSpec describes one hyper-parameter of a method, named as OpenOOD names it.
type ParamSpec struct {
	Name     string
	Kind     ParamKind
	Default  string
	Min, Max float64  // inclusive range of Int and Float parameters
	Choices  []string // values of a Choice parameter
	Doc      string
}

// Method is one entry of the post-hoc registry.
type Method struct {
	Name   string
	Paper  string // the paper the method comes from
	Needs  Needs
	Params []ParamSpec
	// ReLU marks methods that assume non-negative (post-ReLU) features, as ReAct, ASH, SCALE and DICE do.
	ReLU bool
	fit  func(s Setting, d *FitData) (Detector, error)
}

// Setting is a method with every parameter resolved (defaults filled in, values checked).
type Setting struct {
	Method *Method
	// Optional marks a method that `all` chose and the user neither named nor gave parameters: when its
	// defaults do not fit the data (vim's dim above the feature width, say), the run leaves it out with a
	// note instead of failing.
	Optional bool
	values   map[string]string
}

// Methods returns the registry in the order reports list the methods.
func Methods() []*Method {
	return methods
}

// LookupMethod returns the registered method of that name.
func LookupMethod(name string) (*Method, error) {
	for _, m := range methods {
		if m.Name == name {
			return m, nil
		}
	}
	names := make([]string, len(methods))
	for i, m := range methods {
		names[i] = m.Name
	}
	return nil, fmt.Errorf("eval: unknown post-hoc method %q (known: %s)", name, strings.Join(names, ", "))
}

// Applies reports whether inputs with the given needs satisfied are enough for the method.
func (m *Method) Applies(have Needs) bool {
	return m.Needs&^have == 0
}

func (m *Method) spec(key string) *ParamSpec {
	for i := range m.Params {
		if m.Params[i].Name == key {
			return &m.Params[i]
		}
	}
	return nil
}

// NewSetting resolves a method's parameters from key → value strings (missing keys take defaults).
func (m *Method) NewSetting(values map[string]string) (Setting, error) {
	s := Setting{Method: m, values: map[string]string{}}
	for _, p := range m.Params {
		s.values[p.Name] = p.Default
	}
	for _, k := range slices.Sorted(maps.Keys(values)) {
		p := m.spec(k)
		if p == nil {
			var known []string
			for _, q := range m.Params {
				known = append(known, q.Name)
			}
			if len(known) == 0 {
				return Setting{}, fmt.Errorf("eval: %s takes no parameters (got %s)", m.Name, k)
			}
			return Setting{}, fmt.Errorf("eval: %s has no parameter %q (it has %s)", m.Name, k, strings.Join(known, ", "))
		}
		v, err := p.check(values[k])
		if err != nil {
			return Setting{}, fmt.Errorf("eval: %s.%s: %w", m.Name, k, err)
		}
		s.values[k] = v
	}
	return s, nil
}

// check validates a value and returns it in canonical form.
func (p *ParamSpec) check(v string) (string, error) {
	switch p.Kind {
	case IntParam:
		i, err := strconv.Atoi(v)
		if err != nil {
			return "", fmt.Errorf("%q is not an integer", v)
		}
		if float64(i) < p.Min || float64(i) > p.Max {
			return "", fmt.Errorf("%d is outside [%g, %g]", i, p.Min, p.Max)
		}
		return strconv.Itoa(i), nil
	case FloatParam:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || math.IsNaN(f) {
			return "", fmt.Errorf("%q is not a number", v)
		}
		if f < p.Min || f > p.Max {
			return "", fmt.Errorf("%g is outside [%g, %g]", f, p.Min, p.Max)
		}
		return strconv.FormatFloat(f, 'g', -1, 64), nil
	case BoolParam:
		b, err := strconv.ParseBool(v)
		if err != nil {
			return "", fmt.Errorf("%q is not true or false", v)
		}
		return strconv.FormatBool(b), nil
	case ChoiceParam:
		if !slices.Contains(p.Choices, v) {
			return "", fmt.Errorf("%q is not one of %s", v, strings.Join(p.Choices, ", "))
		}
		return v, nil
	}
	return "", errors.New("unknown parameter kind")
}

// Int returns a resolved integer parameter (0 for an unknown name).
func (s Setting) Int(name string) int { i, _ := strconv.Atoi(s.values[name]); return i }

// Float returns a resolved numeric parameter (0 for an unknown name).
func (s Setting) Float(name string) float64 { f, _ := strconv.ParseFloat(s.values[name], 64); return f }

// Bool returns a resolved boolean parameter (false for an unknown name).
func (s Setting) Bool(name string) bool { b, _ := strconv.ParseBool(s.values[name]); return b }

// Choice returns a resolved choice parameter ("" for an unknown name).
func (s Setting) Choice(name string) string { return s.values[name] }

// Values returns every parameter as key → canonical value string.
func (s Setting) Values() map[string]string { return maps.Clone(s.values) }

// Label names the setting with its parameters, e.g. "gen (M=100, gamma=0.1)", keys sorted.
func (s Setting) Label() string {
	if len(s.values) == 0 {
		return s.Method.Name
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(s.values)) {
		parts = append(parts, k+"="+s.values[k])
	}
	return s.Method.Name + " (" + strings.Join(parts, ", ") + ")"
}

// NumericParams returns the numeric and boolean parameters as numbers (booleans as 0 or 1), the form
// of a Record's parameters; choice parameters are left out.
func (s Setting) NumericParams() map[string]float64 {
	out := map[string]float64{}
	for _, p := range s.Method.Params {
		switch p.Kind {
		case IntParam, FloatParam:
			out[p.Name] = s.Float(p.Name)
		case BoolParam:
			out[p.Name] = 0
			if s.Bool(p.Name) {
				out[p.Name] = 1
			}
		}
	}
	return out
}

// NamedParams returns the choice parameters (names rather than numbers, e.g. she's metric), the form of
// a Record's Settings.
func (s Setting) NamedParams() map[string]string {
	out := map[string]string{}
	for _, p := range s.Method.Params {
		if p.Kind == ChoiceParam {
			out[p.Name] = s.values[p.Name]
		}
	}
	return out
}

// Fit fits the method on the ID training split.
func (s Setting) Fit(d *FitData) (Detector, error) {
	if s.Method == nil {
		return nil, errors.New("eval: empty method setting")
	}
	if err := d.check(s.Method.Needs); err != nil {
		return nil, fmt.Errorf("eval: %s: %w", s.Method.Name, err)
	}
	det, err := s.Method.fit(s, d)
	if err != nil {
		return nil, fmt.Errorf("eval: %s: %w", s.Method.Name, err)
	}
	return det, nil
}

// ParseMethods turns a list of method names ("all" for every method whose needs have meets) and
// NAME.KEY=VALUE parameter assignments into settings, in registry order for "all" and in the given
// order otherwise. A parameter for a method that is not selected is an error.
func ParseMethods(names []string, params []string, have Needs) ([]Setting, error) {
	var selected []*Method
	named := map[*Method]bool{}
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if n == "all" {
			for _, m := range methods {
				if m.Applies(have) && !slices.Contains(selected, m) {
					selected = append(selected, m)
				}
			}
			continue
		}
		m, err := LookupMethod(n)
		if err != nil {
			return nil, err
		}
		if !m.Applies(have) {
			return nil, fmt.Errorf("eval: %s needs %s; this run has %s", m.Name, m.Needs, have)
		}
		named[m] = true
		if !slices.Contains(selected, m) {
			selected = append(selected, m)
		}
	}
	values := map[string]map[string]string{}
	for _, p := range params {
		name, kv, ok := strings.Cut(p, ".")
		key, v, ok2 := strings.Cut(kv, "=")
		if !ok || !ok2 || name == "" || key == "" {
			return nil, fmt.Errorf("eval: method parameter %q is not NAME.KEY=VALUE", p)
		}
		m, err := LookupMethod(name)
		if err != nil {
			return nil, err
		}
		if !slices.Contains(selected, m) {
			return nil, fmt.Errorf("eval: parameter %q for %s, which is not among the selected methods", p, name)
		}
		if values[name] == nil {
			values[name] = map[string]string{}
		}
		values[name][key] = v
	}
	out := make([]Setting, 0, len(selected))
	for _, m := range selected {
		s, err := m.NewSetting(values[m.Name])
		if err != nil {
			return nil, err
		}
		s.Optional = !named[m] && values[m.Name] == nil
		out = append(out, s)
	}
	return out, nil
}

// check validates the sizes of the inputs a method needs.
func (d *FitData) check(needs Needs) error {
	if d == nil {
		return errors.New("no training data")
	}
	n := -1
	count := func(values, cols int, what string) error {
		r, err := rows(values, cols, what)
		if err != nil {
			return err
		}
		if r == 0 {
			return fmt.Errorf("no training %s", what)
		}
		if n >= 0 && r != n {
			return fmt.Errorf("%d training %s rows for %d samples", r, what, n)
		}
		n = r
		return nil
	}
	if needs&(NeedFeatures|NeedHead) != 0 {
		if err := count(len(d.Features), d.Dim, "features"); err != nil {
			return err
		}
		// Every method checks the features it fits on; one scan serves them all.
		if _, err := memoize(d, "finite/features", func() (bool, error) {
			return true, allFinite(d.Features, d.Dim, "training feature")
		}); err != nil {
			return err
		}
	}
	if needs&(NeedLogits|NeedHead|NeedZeroShot) != 0 || d.Logits != nil {
		if d.Classes <= 0 {
			return fmt.Errorf("%d classes", d.Classes)
		}
	}
	if needs&(NeedLogits|NeedZeroShot) != 0 {
		if err := count(len(d.Logits), d.Classes, "logits"); err != nil {
			return err
		}
		if err := finite(d.Logits, d.Classes, "training logit"); err != nil {
			return err
		}
	}
	if needs&NeedZeroShot != 0 && !d.ZeroShot {
		return errors.New("needs zero-shot logits (CLIP cosine similarities), not a trained head's")
	}
	if needs&(NeedText|NeedPatches) != 0 {
		if err := d.checkText(needs&NeedText != 0); err != nil {
			return err
		}
	}
	if needs&NeedHead != 0 {
		if len(d.Weight) != d.Classes*d.Dim || len(d.Bias) != d.Classes {
			return fmt.Errorf("head has %d weights and %d biases, want %d×%d and %d", len(d.Weight), len(d.Bias), d.Classes, d.Dim, d.Classes)
		}
		if err := finite(d.Weight, d.Dim, "head weight row"); err != nil {
			return err
		}
		if err := finite(d.Bias, d.Classes, "head bias"); err != nil {
			return err
		}
	}
	if needs&NeedLabels != 0 {
		if len(d.Labels) != n {
			return fmt.Errorf("%d training labels for %d samples", len(d.Labels), n)
		}
		for i, l := range d.Labels {
			if l < 0 || l >= int64(d.Classes) {
				return fmt.Errorf("training label %d of sample %d is outside [0, %d)", l, i, d.Classes)
			}
		}
	}
	return nil
}

// checkText validates the joint-space inputs of NeedText (with encoder) and NeedPatches.
func (d *FitData) checkText(encoder bool) error {
	switch {
	case encoder && d.EncodeText == nil:
		return errors.New("needs the model's text tower")
	case d.EmbedDim <= 0 || len(d.LabelEmbeds) != d.Classes*d.EmbedDim:
		return fmt.Errorf("%d label embedding values for %d classes of width %d", len(d.LabelEmbeds), d.Classes, d.EmbedDim)
	case d.Projection == nil && d.Dim != d.EmbedDim:
		return fmt.Errorf("features of width %d need a projection to the joint width %d", d.Dim, d.EmbedDim)
	case d.Projection != nil && len(d.Projection) != d.Dim*d.EmbedDim:
		return fmt.Errorf("projection has %d values, want %d×%d", len(d.Projection), d.Dim, d.EmbedDim)
	}
	return finite(d.LabelEmbeds, d.EmbedDim, "label embedding")
}

// batchRows validates the part of a batch a method uses and returns its number of rows.
func batchRows(b Batch, needs Needs, dim, classes int) (int, error) {
	n := -1
	check := func(x []float32, cols int, what string) error {
		r, err := rows(len(x), cols, what)
		if err != nil {
			return err
		}
		if n >= 0 && r != n {
			return fmt.Errorf("eval: %d %s rows for %d samples", r, what, n)
		}
		n = r
		return allFinite(x, cols, what)
	}
	if needs&(NeedFeatures|NeedHead) != 0 {
		if err := check(b.Features, dim, "features"); err != nil {
			return 0, err
		}
	}
	if needs&(NeedLogits|NeedZeroShot) != 0 {
		if err := check(b.Logits, classes, "logits"); err != nil {
			return 0, err
		}
	}
	return max(n, 0), nil
}

// methods is the registry, in report order: logit scores, head-based scores, feature scores, zero-shot.
var methods = []*Method{
	genMethod, klmMethod,
	vimMethod, reactMethod, ashMethodB, ashMethodP, ashMethodS, scaleMethod, diceMethod, fdbdMethod,
	knnKthMethod, nnguideMethod, mdsMethod, rmdsMethod, sheMethod,
	mcmMethod, glmcmMethod, negLabelMethod,
}
