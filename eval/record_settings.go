package eval

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// recordJSON is a Record as ood_metrics.json holds it: numeric and named parameters in one object.
type recordJSON struct {
	ID      string         `json:"id"`
	OOD     string         `json:"ood"`
	Method  string         `json:"method"`
	Params  map[string]any `json:"params"`
	AUROC   float64        `json:"auroc"`
	FPR95   float64        `json:"fpr95"`
	AUPRIn  float64        `json:"aupr_in"`
	AUPROut float64        `json:"aupr_out"`
}

// MarshalJSON writes Params and Settings as one "params" object, keys sorted. A key in both is an
// error.
func (r Record) MarshalJSON() ([]byte, error) {
	p := make(map[string]any, len(r.Params)+len(r.Settings))
	for k, v := range r.Params {
		p[k] = v
	}
	for k, v := range r.Settings {
		if _, dup := r.Params[k]; dup {
			return nil, fmt.Errorf("eval: record %s/%s/%s: parameter %s is both a number and a name", r.ID, r.OOD, r.Method, k)
		}
		p[k] = v
	}
	return json.Marshal(recordJSON{ID: r.ID, OOD: r.OOD, Method: r.Method, Params: p,
		AUROC: r.AUROC, FPR95: r.FPR95, AUPRIn: r.AUPRIn, AUPROut: r.AUPROut})
}

// UnmarshalJSON reads a record as MarshalJSON writes it: numeric parameters go to Params, string ones
// to Settings (nil when there are none). Unknown fields and other parameter types are errors.
func (r *Record) UnmarshalJSON(b []byte) error {
	var j struct {
		recordJSON
		Params map[string]json.RawMessage `json:"params"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return err
	}
	out := Record{ID: j.ID, OOD: j.OOD, Method: j.Method, Params: map[string]float64{},
		AUROC: j.AUROC, FPR95: j.FPR95, AUPRIn: j.AUPRIn, AUPROut: j.AUPROut}
	for k, raw := range j.Params {
		var f float64
		if err := json.Unmarshal(raw, &f); err == nil {
			out.Params[k] = f
			continue
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return fmt.Errorf("parameter %s of %s is neither a number nor a string: %s", k, j.Method, raw)
		}
		if out.Settings == nil {
			out.Settings = map[string]string{}
		}
		out.Settings[k] = s
	}
	*r = out
	return nil
}

// Label names the record's method with all its parameters, e.g. "knn (k=10, metric=l2, on=logits)".
func (r Record) Label() string { return LabelWith(r.Method, r.Params, r.Settings) }

// LabelWith is Label for a method, its numeric parameters and its named ones, keys sorted together.
func LabelWith(method string, params map[string]float64, settings map[string]string) string {
	p := settingString(params, settings, ", ")
	if p == "" {
		return method
	}
	return method + " (" + p + ")"
}

// settingString joins "key=value" pairs of both maps, keys sorted.
func settingString(params map[string]float64, settings map[string]string, sep string) string {
	all := make(map[string]string, len(params)+len(settings))
	for k, v := range params {
		all[k] = strconv.FormatFloat(v, 'g', -1, 64)
	}
	maps.Copy(all, settings)
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(all)) {
		parts = append(parts, k+"="+all[k])
	}
	return strings.Join(parts, sep)
}
