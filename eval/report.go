package eval

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
)

// Method names used in Records.
const (
	MethodMSP                 = "msp"
	MethodEnergy              = "energy"
	MethodL1Norm              = "l1_norm"
	MethodMaxLogit            = "max_logit"
	MethodMahalanobis         = "mahalanobis"
	MethodMahalanobisRelative = "mahalanobis_relative"
	MethodKNN                 = "knn"
	MethodPseudoMSP           = "pseudo_msp"
)

// Record is one line of ood_metrics.json: the metrics, in percent, of one method with one parameter
// setting (e.g. {"temperature": 1} or {"k": 10}; empty when the method has none) on one OOD set.
// Settings holds the parameters that are names rather than numbers (e.g. {"metric": "l2"}); JSON
// carries both in one "params" object (see MarshalJSON). A parameter a record leaves out means the
// method's default (e.g. a knn record without "metric" is cos-sim on the stored features).
type Record struct {
	ID       string             `json:"id"`
	OOD      string             `json:"ood"`
	Method   string             `json:"method"`
	Params   map[string]float64 `json:"params"`
	Settings map[string]string  `json:"-"`
	AUROC    float64            `json:"auroc"`
	FPR95    float64            `json:"fpr95"`
	AUPRIn   float64            `json:"aupr_in"`
	AUPROut  float64            `json:"aupr_out"`
}

// Evaluate scores one method on one OOD set: ID set name id with scores idScores, OOD set name ood
// with scores oodScores (higher = more in-distribution).
func Evaluate[S Score](id, ood, method string, params map[string]float64, idScores, oodScores []S) (Record, error) {
	if method == "" {
		return Record{}, errors.New("eval: empty method name")
	}
	m, err := Compute(idScores, oodScores)
	if err != nil {
		return Record{}, fmt.Errorf("%s on %s vs %s: %w", Label(method, params), id, ood, err)
	}
	p := maps.Clone(params)
	if p == nil {
		p = map[string]float64{}
	}
	return Record{ID: id, OOD: ood, Method: method, Params: p,
		AUROC: m.AUROC, FPR95: m.FPR95, AUPRIn: m.AUPRIn, AUPROut: m.AUPROut}, nil
}

// EvaluateAll scores one method on several OOD sets, returning one Record per set in order of the
// sorted set names.
func EvaluateAll[S Score](id, method string, params map[string]float64, idScores []S, ood map[string][]S) ([]Record, error) {
	var out []Record
	for _, name := range slices.Sorted(maps.Keys(ood)) {
		r, err := Evaluate(id, name, method, params, idScores, ood[name])
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// Label names a method with its parameters, e.g. "msp (temperature=1)" or "knn (k=10)", keys sorted.
func Label(method string, params map[string]float64) string {
	p := paramString(params, ", ")
	if p == "" {
		return method
	}
	return method + " (" + p + ")"
}

func paramString(params map[string]float64, sep string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(params)) {
		parts = append(parts, k+"="+strconv.FormatFloat(params[k], 'g', -1, 64))
	}
	return strings.Join(parts, sep)
}

// WriteJSON writes records as an indented JSON array (ood_metrics.json).
func WriteJSON(w io.Writer, records []Record) error {
	if records == nil {
		records = []Record{}
	}
	for _, r := range records {
		if err := r.finite(); err != nil {
			return err
		}
	}
	b, err := json.MarshalIndent(records, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// ReadJSON reads a JSON array of records as WriteJSON writes it.
func ReadJSON(r io.Reader) ([]Record, error) {
	var out []Record
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		return nil, fmt.Errorf("eval: reading records: %w", err)
	}
	return out, nil
}

// finite rejects values JSON cannot carry.
func (r Record) finite() error {
	for _, v := range []float64{r.AUROC, r.FPR95, r.AUPRIn, r.AUPROut} {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("eval: record %s/%s/%s has a non-finite metric", r.ID, r.OOD, Label(r.Method, r.Params))
		}
	}
	for k, v := range r.Params {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("eval: record %s/%s/%s: parameter %s is not finite", r.ID, r.OOD, r.Method, k)
		}
	}
	return nil
}

// WriteCSV writes one row per record with the header id,ood,method,params,auroc,fpr95,aupr_in,aupr_out;
// params is "key=value" pairs joined by ';' (keys sorted), metrics at full precision.
func WriteCSV(w io.Writer, records []Record) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"id", "ood", "method", "params", "auroc", "fpr95", "aupr_in", "aupr_out"}); err != nil {
		return err
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	for _, r := range records {
		row := []string{r.ID, r.OOD, r.Method, paramString(r.Params, ";"), f(r.AUROC), f(r.FPR95), f(r.AUPRIn), f(r.AUPROut)}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// metricColumns are the Markdown table's metric columns, in order.
var metricColumns = []struct {
	name string
	get  func(Record) float64
}{
	{"AUROC", func(r Record) float64 { return r.AUROC }},
	{"FPR95", func(r Record) float64 { return r.FPR95 }},
	{"AUPR-In", func(r Record) float64 { return r.AUPRIn }},
	{"AUPR-Out", func(r Record) float64 { return r.AUPROut }},
}

// WriteMarkdown writes one table per ID set: a row per OOD set and a final "mean" row, a column per
// method label × metric (AUROC, FPR95, AUPR-In, AUPR-Out), values in percent with two decimals. Rows
// and columns keep the order in which they first appear in records; a missing cell is "–" and the mean
// is taken over the OOD sets present. Two records for the same cell are an error.
func WriteMarkdown(w io.Writer, records []Record) error {
	var ids []string
	byID := map[string][]Record{}
	for _, r := range records {
		if _, ok := byID[r.ID]; !ok {
			ids = append(ids, r.ID)
		}
		byID[r.ID] = append(byID[r.ID], r)
	}
	var sb strings.Builder
	for n, id := range ids {
		if n > 0 {
			sb.WriteString("\n")
		}
		if err := markdownTable(&sb, id, byID[id]); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, sb.String())
	return err
}

func markdownTable(sb *strings.Builder, id string, records []Record) error {
	var oods, methods []string
	cells := map[[2]string]Record{}
	for _, r := range records {
		label := Label(r.Method, r.Params)
		if !slices.Contains(oods, r.OOD) {
			oods = append(oods, r.OOD)
		}
		if !slices.Contains(methods, label) {
			methods = append(methods, label)
		}
		key := [2]string{r.OOD, label}
		if _, dup := cells[key]; dup {
			return fmt.Errorf("eval: two records for %s on %s vs %s", label, id, r.OOD)
		}
		cells[key] = r
	}
	fmt.Fprintf(sb, "ID: %s\n\n| OOD |", escapeCell(id))
	for _, m := range methods {
		for _, c := range metricColumns {
			fmt.Fprintf(sb, " %s %s |", escapeCell(m), c.name)
		}
	}
	sb.WriteString("\n|---|")
	sb.WriteString(strings.Repeat("---:|", len(methods)*len(metricColumns)))
	sb.WriteString("\n")
	sums := make([]float64, len(methods)*len(metricColumns))
	counts := make([]int, len(sums))
	for _, ood := range oods {
		fmt.Fprintf(sb, "| %s |", escapeCell(ood))
		for i, m := range methods {
			r, ok := cells[[2]string{ood, m}]
			for j, c := range metricColumns {
				if !ok {
					sb.WriteString(" – |")
					continue
				}
				v := c.get(r)
				sums[i*len(metricColumns)+j] += v
				counts[i*len(metricColumns)+j]++
				fmt.Fprintf(sb, " %.2f |", v)
			}
		}
		sb.WriteString("\n")
	}
	sb.WriteString("| mean |")
	for k, s := range sums {
		if counts[k] == 0 {
			sb.WriteString(" – |")
			continue
		}
		fmt.Fprintf(sb, " %.2f |", s/float64(counts[k]))
	}
	sb.WriteString("\n")
	return nil
}

// escapeCell keeps a name from breaking the table.
func escapeCell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.NewReplacer("\n", " ", "\r", " ").Replace(s)
}
