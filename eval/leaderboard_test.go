package eval

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteLeaderboard(t *testing.T) {
	recs := []Record{
		{ID: "C10", OOD: "C100", Method: "msp", Params: map[string]float64{"temperature": 1}, AUROC: 80, FPR95: 60},
		{ID: "C10", OOD: "SVHN", Method: "msp", Params: map[string]float64{"temperature": 1}, AUROC: 90, FPR95: 40},
		{ID: "C10", OOD: "C100", Method: "vim", Params: map[string]float64{"dim": 8}, AUROC: 85, FPR95: 70},
		{ID: "C10", OOD: "SVHN", Method: "vim", Params: map[string]float64{"dim": 8}, AUROC: 95, FPR95: 30},
		{ID: "C10", OOD: "C100", Method: "she", Params: map[string]float64{}, Settings: map[string]string{"metric": "cosine"}, AUROC: 85.001, FPR95: 50},
	}
	var sb strings.Builder
	if err := WriteLeaderboard(&sb, recs); err != nil {
		t.Fatal(err)
	}
	// she's mean is over the one set it was scored on (85.001 ranks it above msp's 85); printed ties are
	// all bold.
	got := sb.String()
	want := `Leaderboard, ID: C10 (sorted by mean AUROC; best per column in bold)

| method | C100 AUROC ↑ | C100 FPR95 ↓ | SVHN AUROC ↑ | SVHN FPR95 ↓ | mean AUROC ↑ | mean FPR95 ↓ |
|---|---:|---:|---:|---:|---:|---:|
| vim (dim=8) | **85.00** | 70.00 | **95.00** | **30.00** | **90.00** | **50.00** |
| she (metric=cosine) | **85.00** | **50.00** | – | – | 85.00 | **50.00** |
| msp (temperature=1) | 80.00 | 60.00 | 90.00 | 40.00 | 85.00 | **50.00** |
`
	if got != want {
		t.Errorf("leaderboard:\n%s\nwant:\n%s", got, want)
	}
	if strings.Contains(got, "post-ReLU") {
		t.Error("the ReLU note appears without ReLU methods")
	}
	sb.Reset()
	if err := WriteLeaderboard(&sb, append(recs, Record{ID: "C10", OOD: "C100", Method: "react", Params: map[string]float64{"percentile": 90}})); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(sb.String(), "Note: react assumes non-negative (post-ReLU) features") {
		t.Errorf("no ReLU note with react:\n%s", sb.String())
	}
	recs = append(recs, recs[0])
	if err := WriteLeaderboard(&sb, recs); err == nil {
		t.Error("two records for one cell were accepted")
	}
}

func TestPlotLeaderboard(t *testing.T) {
	var recs []Record
	for i, m := range []string{"gen", "klm", "vim", "react", "ash", "scale", "dice", "fdbd", "knn_kth", "nnguide", "mds", "rmds", "she"} {
		for _, set := range []string{"near", "far"} {
			recs = append(recs, Record{ID: "ref", OOD: set, Method: m, Params: map[string]float64{}, AUROC: 50 + 3*float64(i), FPR95: 50})
		}
	}
	base := filepath.Join(t.TempDir(), "leaderboard")
	if err := PlotLeaderboard(base, "ref: mean AUROC per method", recs); err != nil {
		t.Fatal(err)
	}
	for _, ext := range []string{".png", ".svg"} {
		if st, err := os.Stat(base + ext); err != nil || st.Size() < 1000 {
			t.Errorf("%s%s: %v", base, ext, err)
		}
	}
	svg, err := os.ReadFile(base + ".svg")
	if err != nil {
		t.Fatal(err)
	}
	for _, label := range []string{"knn_kth", "nnguide", "she"} {
		if !strings.Contains(string(svg), label) {
			t.Errorf("the plot lacks the label %s", label)
		}
	}
	if err := PlotLeaderboard(base, "empty", nil); err == nil {
		t.Error("an empty leaderboard plot was drawn")
	}
}
