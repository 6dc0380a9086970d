package detect

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"plp/eval"
	"plp/weights"
)

// TestRunMethods runs every post-hoc method that applies to a probe-like source (logits, features, the
// head and train labels) with OpenOOD's parameters through Run, and compares each record with OpenOOD's
// AUROC and FPR95 (x100) to 1e-3.
func TestRunMethods(t *testing.T) {
	in := readTensors(t, "inputs.safetensors")
	dir := store(t, in, readLabels(t))
	byRows := map[int][]float32{3000: in["train_logits"], 1000: in["test_logits"], 800: in["near_logits"], 600: in["far_logits"]}
	src := Source{Classes: 10, Weight: in["W"], Bias: in["b"], Logits: func(x []float32, n, d int) ([]float32, error) {
		if l, ok := byRows[n]; ok && d == 48 {
			return slices.Clone(l), nil
		}
		return nil, fmt.Errorf("no logits for %d rows", n)
	}}
	b, err := os.ReadFile(filepath.Join(refDir, "openood.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Methods map[string]struct {
			Params    map[string]any
			Near, Far refMetric
		}
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	var params []string
	for name, m := range ref.Methods {
		for k, v := range m.Params {
			params = append(params, fmt.Sprintf("%s.%s=%v", name, k, v))
		}
	}
	methods, err := eval.ParseMethods([]string{"all"}, params, src.Offers())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range methods {
		names = append(names, s.Method.Name)
	}
	// Everything but the zero-shot methods (mcm, neglabel) applies to a probe.
	want := 0
	for _, m := range eval.Methods() {
		if m.Needs&eval.NeedZeroShot == 0 {
			want++
		}
	}
	if len(methods) != want || slices.Contains(names, "mcm") || slices.Contains(names, "neglabel") {
		t.Fatalf("all = %v, want the %d methods other than the zero-shot ones", names, want)
	}
	out := filepath.Join(t.TempDir(), "report")
	res, err := Run(Options{Embeds: dir, Model: "m", Dataset: "ref", OOD: []string{"near", "far"}, Out: out, Methods: methods}, src)
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, r := range res.Records {
		want, ok := ref.Methods[r.Method]
		if !ok {
			continue
		}
		w := map[string]refMetric{"near": want.Near, "far": want.Far}[r.OOD]
		if math.Abs(r.AUROC-w.AUROC) > 1e-3 || math.Abs(r.FPR95-w.FPR95) > 1e-3 {
			t.Errorf("%s vs %s: AUROC %.6f FPR95 %.6f, want %.6f %.6f", r.Label(), r.OOD, r.AUROC, r.FPR95, w.AUROC, w.FPR95)
		}
		checked++
	}
	if want := 2 * len(ref.Methods); checked != want {
		t.Errorf("%d records checked against OpenOOD, want %d", checked, want)
	}
	md, err := os.ReadFile(filepath.Join(out, "ood_metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	// OpenOOD's best near-OOD AUROC here is rmds's (89.48).
	if !strings.Contains(string(md), "Leaderboard, ID: ref") || !strings.Contains(string(md), "| rmds | **89.48** |") {
		t.Errorf("ood_metrics.md lacks the leaderboard with rmds first:\n%s", md)
	}
	// The plots of every method take seconds; the leaderboard's alone show that it is drawn.
	plots := t.TempDir()
	if err := res.plotLeaderboard(plots, Options{Dataset: "ref"}); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(plots, "leaderboard.svg")); err != nil || st.Size() == 0 {
		t.Errorf("leaderboard plot: %v", err)
	}
	j, err := os.ReadFile(filepath.Join(out, "ood_metrics.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"method": "nnguide"`, `"alpha": 1`, `"metric": "inner_product"`, `"distance_as_normalizer": 1`} {
		if !strings.Contains(string(j), want) {
			t.Errorf("ood_metrics.json lacks %s", want)
		}
	}
}

// TestRunMethodsNeeds checks that a method whose inputs the run lacks is refused with its needs.
func TestRunMethodsNeeds(t *testing.T) {
	if _, err := eval.ParseMethods([]string{"vim"}, nil, Source{}.Offers()); err == nil || !strings.Contains(err.Error(), "head") {
		t.Errorf("vim without a head: %v", err)
	}
	got, err := eval.ParseMethods([]string{"all"}, nil, Source{}.Offers())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range got {
		names = append(names, s.Method.Name)
	}
	if want := []string{"knn_kth", "mds", "rmds"}; !slices.Equal(names, want) {
		t.Errorf("all on embeddings alone = %v, want %v", names, want)
	}
}

// TestRunMCM runs mcm through Run with zero-shot logits and checks its records against the metrics of the
// MCM authors' scores in posthoc_extra.safetensors.
func TestRunMCM(t *testing.T) {
	in := readTensors(t, "inputs.safetensors")
	dir := store(t, in, readLabels(t))
	zs := readTensors(t, "zeroshot.safetensors")
	byRows := map[int][]float32{3000: zs["zs_logits/train_features"], 1000: zs["zs_logits/test_features"],
		800: zs["zs_logits/test_features_ood_near"], 600: zs["zs_logits/test_features_ood_far"]}
	src := Source{Classes: 10, ZeroShot: true, Logits: func(x []float32, n, d int) ([]float32, error) {
		if l, ok := byRows[n]; ok {
			return slices.Clone(l), nil
		}
		return nil, fmt.Errorf("no logits for %d rows", n)
	}}
	methods, err := eval.ParseMethods([]string{"mcm"}, []string{"mcm.tau=10"}, src.Offers())
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(Options{Embeds: dir, Model: "m", Dataset: "ref", OOD: []string{"near", "far"}, Methods: methods}, src)
	if err != nil {
		t.Fatal(err)
	}
	st, err := weights.OpenSafetensors(filepath.Join(refDir, "posthoc_extra.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ref := func(set string) []float64 {
		x, err := st.Tensor("mcm[tau=10]/" + set)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]float64, len(x.Data)/8)
		for i := range out {
			out[i] = math.Float64frombits(binary.LittleEndian.Uint64(x.Data[8*i:]))
		}
		return out
	}
	n := 0
	for _, r := range res.Records {
		if r.Method != "mcm" {
			continue
		}
		n++
		want, err := eval.Compute(ref("id"), ref(r.OOD))
		if err != nil {
			t.Fatal(err)
		}
		if r.Params["tau"] != 10 || math.Abs(r.AUROC-want.AUROC) > 1e-3 || math.Abs(r.FPR95-want.FPR95) > 1e-3 {
			t.Errorf("%s vs %s: AUROC %.6f FPR95 %.6f, want %.6f %.6f", r.Label(), r.OOD, r.AUROC, r.FPR95, want.AUROC, want.FPR95)
		}
	}
	if n != 2 {
		t.Errorf("%d mcm records, want 2", n)
	}
}
