package eval

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
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
			// Two decimals, rounded (not truncated): the cell is within 0.005 of the value.
			got, err := strconv.ParseFloat(row[4+j], 64)
			if err != nil || math.Abs(got-want) > 0.005+1e-12 || !twoDecimals.MatchString(row[4+j]) {
				t.Errorf("row %d col %d: %q, want %v rounded to two decimals", i, 4+j, row[4+j], want)
			}
		}
	}
	if rows[1][3] != "temperature=1" || rows[3][3] != "k=10" {
		t.Errorf("params cells %q %q", rows[1][3], rows[3][3])
	}

	// A sum of percentages that lands just below a half: the cell is 50.50, not 50.499999999999986.
	buf.Reset()
	if err := WriteCSV(&buf, []Record{{ID: "a", OOD: "b", Method: MethodMSP, AUROC: 50.499999999999986, FPR95: 100, AUPRIn: 1.0 / 3 * 100, AUPROut: 0}}); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Split(strings.TrimSpace(buf.String()), "\n")[1], "a,b,msp,,50.50,100.00,33.33,0.00"; got != want {
		t.Errorf("row %q, want %q", got, want)
	}
}

var twoDecimals = regexp.MustCompile(`^-?[0-9]+\.[0-9]{2}$`)

// mdTable is one Markdown table of a report: the heading above it, its header cells and its rows.
type mdTable struct {
	heading string
	header  []string
	rows    [][]string
}

// parseTables splits a Markdown document into its tables, each under the last heading before it.
func parseTables(t *testing.T, md string) []mdTable {
	t.Helper()
	var out []mdTable
	heading := ""
	inTable := false
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "#") {
			heading = strings.TrimSpace(strings.TrimLeft(line, "#"))
		}
		if !strings.HasPrefix(line, "|") {
			inTable = false
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		switch {
		case !inTable:
			out = append(out, mdTable{heading: heading, header: cells})
			inTable = true
		case strings.HasPrefix(line, "|---"):
			if want := len(out[len(out)-1].header); len(cells) != want {
				t.Errorf("table %q: separator has %d cells, header %d", heading, len(cells), want)
			}
		default:
			tb := &out[len(out)-1]
			if len(cells) != len(tb.header) {
				t.Errorf("table %q: row %q has %d cells, header %d", heading, line, len(cells), len(tb.header))
			}
			tb.rows = append(tb.rows, cells)
		}
	}
	return out
}

// row finds a table's row by its first cell.
func (tb mdTable) row(label string) []string {
	for _, r := range tb.rows {
		if r[0] == label {
			return r[1:]
		}
	}
	return nil
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
	tables := parseTables(t, md)
	if len(tables) != 3 || !strings.HasPrefix(md, "## ID: CIFAR10\n") {
		t.Fatalf("want a summary and two OOD tables:\n%s", md)
	}
	byKey := map[string]Record{}
	for _, r := range recs {
		byKey[r.Method+"/"+r.OOD] = r
	}
	const msp, knn = "msp (temperature=1)", "knn (k=10)"
	f := func(v float64) string { return fmt.Sprintf("%.2f", v) }

	// The summary is the leaderboard: AUROC and FPR95 per OOD set and their means, best first.
	sum := tables[0]
	if want := []string{"method", "far AUROC ↑", "far FPR95 ↓", "near AUROC ↑", "near FPR95 ↓", "mean AUROC ↑", "mean FPR95 ↓"}; !slices.Equal(sum.header, want) {
		t.Errorf("summary header %q, want %q", sum.header, want)
	}
	// kNN's mean covers "far" alone (91.57), above MSP's mean over both sets.
	if len(sum.rows) != 2 || sum.rows[0][0] != knn || sum.rows[1][0] != msp {
		t.Fatalf("summary rows %q: want knn then msp", sum.rows)
	}
	plain := func(cells []string) []string {
		out := make([]string, len(cells))
		for i, c := range cells {
			out[i] = strings.Trim(c, "*")
		}
		return out
	}
	mf, mn := byKey["msp/far"], byKey["msp/near"]
	wantMSP := []string{f(mf.AUROC), f(mf.FPR95), f(mn.AUROC), f(mn.FPR95), f((mf.AUROC + mn.AUROC) / 2), f((mf.FPR95 + mn.FPR95) / 2)}
	if got := plain(sum.row(msp)); !slices.Equal(got, wantMSP) {
		t.Errorf("summary msp %q, want %q", got, wantMSP)
	}
	kf := byKey["knn/far"]
	wantKNN := []string{f(kf.AUROC), f(kf.FPR95), "–", "–", f(kf.AUROC), f(kf.FPR95)}
	if got := plain(sum.row(knn)); !slices.Equal(got, wantKNN) {
		t.Errorf("summary knn %q, want %q", got, wantKNN)
	}

	for i, ood := range []string{"far", "near"} {
		tb := tables[1+i]
		if tb.heading != "CIFAR10 vs "+ood {
			t.Errorf("table %d heading %q", 1+i, tb.heading)
		}
		if want := []string{"method", "AUROC", "FPR95", "AUPR-In", "AUPR-Out"}; !slices.Equal(tb.header, want) {
			t.Errorf("%s header %q, want %q", ood, tb.header, want)
		}
		for _, m := range []struct{ label, key string }{{msp, "msp"}, {knn, "knn"}} {
			r, ok := byKey[m.key+"/"+ood]
			got := tb.row(m.label)
			if !ok {
				if got != nil {
					t.Errorf("%s: row %q for a method without a record", ood, got)
				}
				continue
			}
			if want := []string{f(r.AUROC), f(r.FPR95), f(r.AUPRIn), f(r.AUPROut)}; !slices.Equal(got, want) {
				t.Errorf("%s %s: %q, want %q", ood, m.label, got, want)
			}
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
	if strings.Count(buf.String(), "| mean AUROC ↑ |") != 2 || !strings.Contains(buf.String(), "## ID: CIFAR100\n") ||
		strings.Count(buf.String(), "### CIFAR10 vs ") != 2 || strings.Count(buf.String(), "### CIFAR100 vs ") != 1 {
		t.Errorf("two ID sets need two summaries and their own OOD tables:\n%s", buf.String())
	}
}

// The legend sits in its own band under the axes, so it covers neither bars nor curves, however many
// entries it has.
func TestFigureLayout(t *testing.T) {
	for _, n := range []int{0, 2, 6} {
		p := plot.New()
		p.Title.Text = "title"
		p.X.Label.Text, p.Y.Label.Text = "x", "y"
		legend := plot.NewLegend()
		legend.Top, legend.Left = true, true
		for i := range n {
			legend.Add(fmt.Sprintf("an OOD set with a long name %d (AUROC 99.99)", i), &plotter.Histogram{FillColor: color.Black})
		}
		whole := draw.New(vgimg.New(plotWidth, plotHeight))
		plotC, legendC := figureLayout(whole, &legend)
		data := p.DataCanvas(plotC)
		lr := legendC.Rectangle
		const eps = 1e-9
		inside := func(r vg.Rectangle) bool {
			return r.Min.X >= plotMargin-eps && r.Min.Y >= plotMargin-eps && r.Max.X <= plotWidth-plotMargin+eps && r.Max.Y <= plotHeight-plotMargin+eps
		}
		if !inside(plotC.Rectangle) || !inside(lr) {
			t.Errorf("%d entries: plot %v or legend %v reaches into the margin", n, plotC.Rectangle, lr)
		}
		if n == 0 {
			if plotC.Rectangle != draw.Crop(whole, plotMargin, -plotMargin, plotMargin, -plotMargin).Rectangle {
				t.Errorf("no legend: plot area %v, want the whole figure less the margin", plotC.Rectangle)
			}
			continue
		}
		if lr.Max.Y+legendGap > plotC.Min.Y+eps || lr.Max.Y >= data.Min.Y {
			t.Errorf("%d entries: legend %v overlaps the plot area %v (data %v)", n, lr, plotC.Rectangle, data.Rectangle)
		}
		if w := legend.Rectangle(whole); lr.Max.Y-lr.Min.Y < w.Max.Y-w.Min.Y || lr.Min.X <= plotMargin {
			t.Errorf("%d entries: legend band %v is lower than the legend %v or not centred", n, lr, w)
		}
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
		if b := img.Bounds(); b.Dx() != 900 || b.Dy() != 675 {
			t.Errorf("%s.png is %v, want 900×675 (6×4.5 inches at 150 dpi)", base, b)
		}
		// The 0.2-inch margin (30 pixels) is blank: no title, label or legend touches the edge. Strokes
		// on the data area's border may spill half their width into it, hence 28.
		const m = 28
		b := img.Bounds()
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				if x >= m && x < b.Max.X-m && y >= m && y < b.Max.Y-m {
					continue
				}
				if r, g, bl, _ := img.At(x, y).RGBA(); r != 0xffff || g != 0xffff || bl != 0xffff {
					t.Fatalf("%s.png: pixel (%d,%d) in the margin is not white", base, x, y)
				}
			}
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
