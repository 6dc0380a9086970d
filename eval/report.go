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
			return fmt.Errorf("eval: record %s/%s/%s has a non-finite metric", r.ID, r.OOD, r.Label())
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
// params is "key=value" pairs (numeric and named parameters) joined by ';' (keys sorted), metrics in
// percent rounded to two decimals as the paper's ood_metrics.csv (ood_metrics.json keeps full precision).
func WriteCSV(w io.Writer, records []Record) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"id", "ood", "method", "params", "auroc", "fpr95", "aupr_in", "aupr_out"}); err != nil {
		return err
	}
	for _, r := range records {
		row := []string{r.ID, r.OOD, r.Method, settingString(r.Params, r.Settings, ";"), percent(r.AUROC), percent(r.FPR95), percent(r.AUPRIn), percent(r.AUPROut)}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// percent formats a metric in percent with two decimals, as every table of the paper does.
func percent(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }

// metricColumns are the per-OOD-set tables' metric columns, in order.
var metricColumns = []struct {
	name string
	get  func(Record) float64
}{
	{"AUROC", func(r Record) float64 { return r.AUROC }},
	{"FPR95", func(r Record) float64 { return r.FPR95 }},
	{"AUPR-In", func(r Record) float64 { return r.AUPRIn }},
	{"AUPR-Out", func(r Record) float64 { return r.AUPROut }},
}

// WriteMarkdown writes, per ID set under a "## ID: <set>" heading, the summary as the paper presents its
// results (WriteLeaderboard's table: a row per method label, AUROC and FPR95 per OOD set and their means
// over the sets the method was scored on, best per column in bold), followed by one table per OOD set (a
// row per method label scored on it, in order of first appearance; AUROC, FPR95, AUPR-In and AUPR-Out
// columns). Values are in percent with two decimals, means taken before rounding. Two records for the
// same cell are an error.
func WriteMarkdown(w io.Writer, records []Record) error {
	ids, groups := byID(records)
	var sb strings.Builder
	for n, id := range ids {
		if n > 0 {
			sb.WriteString("\n")
		}
		fmt.Fprintf(&sb, "## ID: %s\n\n", escapeCell(id))
		if err := WriteLeaderboard(&sb, groups[id]); err != nil {
			return err
		}
		if err := oodTables(&sb, id, groups[id]); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, sb.String())
	return err
}

// oodTables writes the table of every OOD set of one ID set's records.
func oodTables(sb *strings.Builder, id string, records []Record) error {
	var oods, methods []string
	cells := map[[2]string]Record{}
	for _, r := range records {
		label := r.Label()
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
	for _, ood := range oods {
		fmt.Fprintf(sb, "\n### %s vs %s\n\n| method |", escapeCell(id), escapeCell(ood))
		for _, c := range metricColumns {
			fmt.Fprintf(sb, " %s |", c.name)
		}
		sb.WriteString("\n|---|")
		sb.WriteString(strings.Repeat("---:|", len(metricColumns)))
		sb.WriteString("\n")
		for _, m := range methods {
			r, ok := cells[[2]string{ood, m}]
			if !ok {
				continue
			}
			fmt.Fprintf(sb, "| %s |", escapeCell(m))
			for _, c := range metricColumns {
				fmt.Fprintf(sb, " %s |", percent(c.get(r)))
			}
			sb.WriteString("\n")
		}
	}
	return nil
}

// escapeCell keeps a name from breaking the table.
func escapeCell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.NewReplacer("\n", " ", "\r", " ").Replace(s)
}
