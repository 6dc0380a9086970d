package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"plp/weights"
	"plp/zoo"
)

// The open_clip fixtures live in the zoo package's testdata (one copy in the repository).
const fixtureDir = "../../zoo/testdata/"

var fixtures = []string{"openclip_vit_quickgelu", "openclip_vit_gelu", "openclip_vit_f16"}

// runPLP runs the CLI with args and returns its standard output and error; standard error goes to the log.
func runPLP(t *testing.T, args ...string) (string, error) {
	t.Helper()
	out, errs, err := runCLI("", args...)
	if errs != "" {
		t.Logf("stderr: %s", errs)
	}
	return out, err
}

type parityRow struct {
	Fixture string   `json:"fixture"`
	Tensor  string   `json:"tensor"`
	MaxAbs  float64  `json:"max_abs"`
	MaxRel  *float64 `json:"max_rel"`
	Tol     float64  `json:"tol"`
	OK      bool     `json:"ok"`
}

func parseRows(t *testing.T, out string) []parityRow {
	t.Helper()
	var rows []parityRow
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r parityRow
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		rows = append(rows, r)
	}
	return rows
}

func TestParityFixtures(t *testing.T) {
	var args []string
	want := map[string]bool{}
	for _, f := range fixtures {
		p := fixtureDir + f + ".json"
		args = append(args, p)
		m, err := zoo.ReadManifest(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range m.Outputs() {
			want[f+"/"+o] = true
		}
	}
	out, err := runPLP(t, append([]string{"parity"}, args...)...)
	if err != nil {
		t.Fatalf("parity: %v\n%s", err, out)
	}
	rows := parseRows(t, out)
	got := map[string]bool{}
	for _, r := range rows {
		if !r.OK || r.MaxRel == nil || *r.MaxRel > 1 || r.Tol != 1e-4 {
			t.Errorf("%+v", r)
		}
		got[r.Fixture+"/"+r.Tensor] = true
	}
	for k := range want {
		if !got[k] {
			t.Errorf("output %s not reported", k)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d outputs reported, manifests list %d", len(got), len(want))
	}
	for _, final := range []string{"image_embed", "image_embed_preproj", "text_embed"} {
		if !got["openclip_vit_quickgelu/"+final] {
			t.Errorf("final output %s not compared", final)
		}
	}
}

// TestParityOut checks that --out writes every computed output under the manifest's names, with the
// values the comparison accepted.
func TestParityOut(t *testing.T) {
	out := filepath.Join(t.TempDir(), "outs.safetensors")
	m := fixtureDir + "openclip_vit_quickgelu.json"
	if _, err := runPLP(t, "parity", "--out", out, m); err != nil {
		t.Fatal(err)
	}
	man, err := zoo.ReadManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	st, err := weights.OpenSafetensors(out)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if !slices.Equal(st.Names(), man.Outputs()) {
		t.Fatalf("--out holds %v, want %v", st.Names(), man.Outputs())
	}
	outs := make([]zoo.Output, 0)
	for _, name := range st.Names() {
		w, _ := st.Tensor(name)
		v, err := w.Float32()
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, zoo.Output{Name: name, Shape: w.Shape, Data: v})
	}
	res, err := zoo.Check(man, outs)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if !r.OK {
			t.Errorf("written %s: %+v", r.Tensor, r)
		}
	}
}

// TestParityFails checks the non-zero exit when an expected output differs by more than the tolerance.
func TestParityFails(t *testing.T) {
	dir := t.TempDir()
	src := fixtureDir + "openclip_vit_f16"
	io, err := weights.OpenSafetensors(src + "_io.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer io.Close()
	var ts []*weights.Tensor
	for _, name := range io.Names() {
		w, _ := io.Tensor(name)
		if name == "text_embed" {
			v, _ := w.Float32()
			v = slices.Clone(v)
			v[3] += 1e-3
			w = weights.FromFloat32(name, w.Shape, v)
		}
		ts = append(ts, w)
	}
	if err := weights.WriteSafetensors(filepath.Join(dir, "bad_io.safetensors"), ts, nil); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(src + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var man map[string]any
	if err := json.Unmarshal(b, &man); err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs(src + ".safetensors")
	man["weights"].(map[string]any)["file"] = abs
	man["io"].(map[string]any)["file"] = "bad_io.safetensors"
	b, _ = json.Marshal(man)
	mp := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(mp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runPLP(t, "parity", mp)
	if err == nil || !strings.Contains(err.Error(), "1 outputs over tolerance") {
		t.Fatalf("parity of a perturbed fixture: %v", err)
	}
	for _, r := range parseRows(t, out) {
		if r.OK == (r.Tensor == "text_embed") {
			t.Errorf("%+v", r)
		}
	}

	man["family"] = "timm_unknown"
	b, _ = json.Marshal(man)
	os.WriteFile(mp, b, 0o644)
	if _, err := runPLP(t, "parity", mp); err == nil || !strings.Contains(err.Error(), `family "timm_unknown"`) {
		t.Fatalf("unknown family: %v", err)
	}
}
