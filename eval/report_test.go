package eval

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// referenceRecords evaluates stored reference scores of two methods on both OOD sets.
func referenceRecords(t *testing.T) []Record {
	t.Helper()
	ref := openTensors(t, "scores.safetensors")
	var recs []Record
	for _, m := range []struct {
		key, method string
		params      map[string]float64
	}{
		{"logits/msp[temp=1.0]", MethodMSP, map[string]float64{"temperature": 1}},
		{"features/knn[k=10,metric=cos-sim]", MethodKNN, map[string]float64{"k": 10}},
	} {
		r, err := EvaluateAll("CIFAR10", m.method, m.params, ref.f32(m.key+"/id"),
			map[string][]float32{"near": ref.f32(m.key + "/near"), "far": ref.f32(m.key + "/far")})
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r...)
	}
	return recs
}

func TestEvaluate(t *testing.T) {
	recs := referenceRecords(t)
	ref := loadMetrics(t)
	if len(recs) != 4 || recs[0].OOD != "far" || recs[1].OOD != "near" {
		t.Fatalf("records %+v: want 4, OOD sets sorted", recs)
	}
	keys := map[string]string{MethodMSP: "logits/msp[temp=1.0]", MethodKNN: "features/knn[k=10,metric=cos-sim]"}
	for _, r := range recs {
		want := ref[keys[r.Method]][r.OOD]
		if r.ID != "CIFAR10" || math.Abs(r.AUROC-want.AUROC) > 1e-9 || math.Abs(r.FPR95-want.FPR95) > 1e-9 {
			t.Errorf("%+v: want AUROC %v FPR95 %v", r, want.AUROC, want.FPR95)
		}
		if !(r.AUPRIn > 0 && r.AUPRIn <= 100 && r.AUPROut > 0 && r.AUPROut <= 100) {
			t.Errorf("%+v: AUPR out of range", r)
		}
	}
	params := map[string]float64{"k": 1}
	r, err := Evaluate("a", "b", MethodKNN, params, []float64{1, 2}, []float64{0})
	if err != nil {
		t.Fatal(err)
	}
	params["k"] = 5
	if r.Params["k"] != 1 || r.AUROC != 100 || r.FPR95 != 0 {
		t.Errorf("record %+v: params must be copied, AUROC 100, FPR95 0", r)
	}
	if r, _ := Evaluate("a", "b", MethodMahalanobis, nil, []float64{1}, []float64{0}); r.Params == nil {
		t.Error("nil params must become an empty map")
	}
	if _, err := Evaluate("a", "b", "", nil, []float64{1}, []float64{0}); err == nil {
		t.Error("empty method: no error")
	}
	if _, err := EvaluateAll("a", MethodMSP, nil, []float64{1}, map[string][]float64{"x": nil}); err == nil {
		t.Error("empty OOD set: no error")
	}
}

func TestJSONRoundTrip(t *testing.T) {
	recs := referenceRecords(t)
	var buf bytes.Buffer
	if err := WriteJSON(&buf, recs); err != nil {
		t.Fatal(err)
	}
	var raw []map[string]json.RawMessage
	if err := json.Unmarshal(buf.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	wantKeys := []string{"aupr_in", "aupr_out", "auroc", "fpr95", "id", "method", "ood", "params"}
	for _, obj := range raw {
		var keys []string
		for k := range obj {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if !slices.Equal(keys, wantKeys) {
			t.Fatalf("keys %v, want %v", keys, wantKeys)
		}
	}
	var params map[string]float64
	if err := json.Unmarshal(raw[0]["params"], &params); err != nil || string(raw[0]["method"]) != `"msp"` || !reflect.DeepEqual(params, map[string]float64{"temperature": 1}) {
		t.Errorf("first record %s %s", raw[0]["method"], raw[0]["params"])
	}
	back, err := ReadJSON(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, recs) {
		t.Errorf("round trip changed records:\n%+v\n%+v", back, recs)
	}

	buf.Reset()
	if err := WriteJSON(&buf, nil); err != nil || strings.TrimSpace(buf.String()) != "[]" {
		t.Errorf("no records: %q, %v", buf.String(), err)
	}
	if err := WriteJSON(&buf, []Record{{Method: "msp", AUROC: math.NaN()}}); err == nil {
		t.Error("NaN metric: no error")
	}
	for _, bad := range []string{`{"id":1}`, `[{"id":"a","bogus":1}]`, `[{"auroc":"x"}]`, `[`} {
		if _, err := ReadJSON(strings.NewReader(bad)); err == nil {
			t.Errorf("ReadJSON(%s): no error", bad)
		}
	}
}

func TestWriteCSV(t *testing.T) {
	recs := referenceRecords(t)
	var buf bytes.Buffer
	if err := WriteCSV(&buf, recs); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(recs)+1 || strings.Join(rows[0], ",") != "id,ood,method,params,auroc,fpr95,aupr_in,aupr_out" {
		t.Fatalf("rows %v", rows)
	}
	for i, r := range recs {
		row := rows[i+1]
		if row[0] != r.ID || row[1] != r.OOD || row[2] != r.Method || row[3] != paramString(r.Params, ";") {
			t.Errorf("row %d: %v for %+v", i, row, r)
		}
		for j, want := range []float64{r.AUROC, r.FPR95, r.AUPRIn, r.AUPROut} {
			if got, err := strconv.ParseFloat(row[4+j], 64); err != nil || got != want {
				t.Errorf("row %d col %d: %q, want %v", i, 4+j, row[4+j], want)
			}
		}
	}
	if rows[1][3] != "temperature=1" || rows[3][3] != "k=10" {
		t.Errorf("params cells %q %q", rows[1][3], rows[3][3])
	}
}

// tableRows parses a Markdown table into its cells by row label.
func tableRows(t *testing.T, md string) (header []string, rowsByLabel map[string][]string) {
	t.Helper()
	rowsByLabel = map[string][]string{}
	for _, line := range strings.Split(md, "\n") {
		if !strings.HasPrefix(line, "|") || strings.HasPrefix(line, "|---") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if header == nil {
			header = cells
			continue
		}
		rowsByLabel[cells[0]] = cells[1:]
	}
	return header, rowsByLabel
}

func TestWriteMarkdown(t *testing.T) {
	recs := referenceRecords(t)
	// Drop kNN on "near" so one cell is missing and its mean covers "far" only.
	recs = slices.DeleteFunc(recs, func(r Record) bool { return r.Method == MethodKNN && r.OOD == "near" })
	var buf bytes.Buffer
	if err := WriteMarkdown(&buf, recs); err != nil {
		t.Fatal(err)
	}
	md := buf.String()
	header, rows := tableRows(t, md)
	wantHeader := []string{"OOD",
		"msp (temperature=1) AUROC", "msp (temperature=1) FPR95", "msp (temperature=1) AUPR-In", "msp (temperature=1) AUPR-Out",
		"knn (k=10) AUROC", "knn (k=10) FPR95", "knn (k=10) AUPR-In", "knn (k=10) AUPR-Out"}
	if !slices.Equal(header, wantHeader) {
		t.Fatalf("header %q\nwant %q", header, wantHeader)
	}
	if len(rows) != 3 || rows["mean"] == nil || !strings.HasPrefix(md, "ID: CIFAR10\n") {
		t.Fatalf("table:\n%s", md)
	}
	byKey := map[string]Record{}
	for _, r := range recs {
		byKey[r.Method+"/"+r.OOD] = r
	}
	get := []func(Record) float64{
		func(r Record) float64 { return r.AUROC }, func(r Record) float64 { return r.FPR95 },
		func(r Record) float64 { return r.AUPRIn }, func(r Record) float64 { return r.AUPROut },
	}
	for j, g := range get {
		mspMean := (g(byKey["msp/near"]) + g(byKey["msp/far"])) / 2
		if got, want := rows["mean"][j], fmt.Sprintf("%.2f", mspMean); got != want {
			t.Errorf("msp mean col %d = %s, want %s", j, got, want)
		}
		if got, want := rows["mean"][4+j], fmt.Sprintf("%.2f", g(byKey["knn/far"])); got != want {
			t.Errorf("knn mean col %d = %s, want %s", j, got, want)
		}
		if got, want := rows["far"][j], fmt.Sprintf("%.2f", g(byKey["msp/far"])); got != want {
			t.Errorf("far msp col %d = %s, want %s", j, got, want)
		}
		if rows["near"][4+j] != "–" {
			t.Errorf("missing knn/near cell = %q", rows["near"][4+j])
		}
	}

	dup := append(slices.Clone(recs), recs[0])
	if err := WriteMarkdown(&buf, dup); err == nil {
		t.Error("duplicate cell: no error")
	}
	buf.Reset()
	other := recs[0]
	other.ID = "CIFAR100"
	if err := WriteMarkdown(&buf, append(slices.Clone(recs), other)); err != nil {
		t.Fatal(err)
	}
	if strings.Count(buf.String(), "| mean |") != 2 || !strings.Contains(buf.String(), "ID: CIFAR100\n") {
		t.Errorf("two ID sets need two tables:\n%s", buf.String())
	}
}

func TestPlots(t *testing.T) {
	ref := openTensors(t, "scores.safetensors")
	id := ref.f32("logits/msp[temp=1.0]/id")
	ood := map[string][]float32{"near": ref.f32("logits/msp[temp=1.0]/near"), "far": ref.f32("logits/msp[temp=1.0]/far")}
	dir := t.TempDir()
	roc := filepath.Join(dir, "roc_msp")
	if err := PlotROC(roc, "MSP", id, ood); err != nil {
		t.Fatal(err)
	}
	hist := filepath.Join(dir, "hist_msp_near")
	if err := PlotHistogram(hist, "MSP: CIFAR10 vs near", "CIFAR10", id, "near", ood["near"], 40); err != nil {
		t.Fatal(err)
	}
	flat := filepath.Join(dir, "hist_flat")
	if err := PlotHistogram(flat, "all equal", "a", []float64{1, 1}, "b", []float64{1}, 0); err != nil {
		t.Fatal(err)
	}
	for _, base := range []string{roc, hist, flat} {
		f, err := os.Open(base + ".png")
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s.png: %v", base, err)
		}
		if b := img.Bounds(); b.Dx() < 100 || b.Dy() < 100 {
			t.Errorf("%s.png is %v", base, b)
		}
		svg, err := os.ReadFile(base + ".svg")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(svg, []byte("<svg")) || !bytes.Contains(svg, []byte("</svg>")) {
			t.Errorf("%s.svg is not an SVG document (%d bytes)", base, len(svg))
		}
	}
	if err := PlotROC(filepath.Join(dir, "x"), "", id, map[string][]float32{}); err == nil {
		t.Error("no OOD sets: no error")
	}
	if err := PlotHistogram(filepath.Join(dir, "y"), "", "a", []float64{math.NaN()}, "b", []float64{1}, 10); err == nil {
		t.Error("NaN score: no error")
	}
	if err := PlotROC(filepath.Join(dir, "missing", "z"), "", id, ood); err == nil {
		t.Error("unwritable path: no error")
	}
}
