package eval

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

// TestRecordSettings checks that named parameters share the "params" object with the numeric ones,
// survive a round trip, and appear in labels.
func TestRecordSettings(t *testing.T) {
	r := Record{ID: "CIFAR10", OOD: "CIFAR100", Method: MethodKNN, Params: map[string]float64{"k": 10},
		Settings: map[string]string{"metric": "l2", "on": "logits"}, AUROC: 90.5, FPR95: 40}
	var buf bytes.Buffer
	if err := WriteJSON(&buf, []Record{r}); err != nil {
		t.Fatal(err)
	}
	if want := `"params": {
      "k": 10,
      "metric": "l2",
      "on": "logits"
    },`; !strings.Contains(buf.String(), want) {
		t.Errorf("JSON\n%s\nlacks\n%s", buf.String(), want)
	}
	got, err := ReadJSON(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || !reflect.DeepEqual(got[0], r) {
		t.Errorf("round trip: %+v, want %+v", got, r)
	}
	if l := r.Label(); l != "knn (k=10, metric=l2, on=logits)" {
		t.Errorf("label %q", l)
	}
	// Today's records: no settings, a nil map after reading.
	old := `[{"id":"a","ood":"b","method":"knn","params":{"k":1},"auroc":1,"fpr95":2,"aupr_in":3,"aupr_out":4}]`
	recs, err := ReadJSON(strings.NewReader(old))
	if err != nil || len(recs) != 1 || recs[0].Settings != nil || recs[0].Params["k"] != 1 || recs[0].Label() != "knn (k=1)" {
		t.Errorf("old record: %+v, %v", recs, err)
	}
	for _, bad := range []string{
		`[{"id":"a","ood":"b","method":"knn","params":{"k":[1]},"auroc":1,"fpr95":2,"aupr_in":3,"aupr_out":4}]`,
		`[{"id":"a","ood":"b","method":"knn","params":{},"extra":1,"auroc":1,"fpr95":2,"aupr_in":3,"aupr_out":4}]`,
	} {
		if _, err := ReadJSON(strings.NewReader(bad)); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
	r.Settings["k"] = "x"
	if err := WriteJSON(&buf, []Record{r}); err == nil {
		t.Error("a parameter both numeric and named: no error")
	}
}
