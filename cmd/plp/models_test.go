package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"plp/zoo"
)

// TestModels lists every model name of the paper's zoo, in the table and as JSON.
func TestModels(t *testing.T) {
	names := []string{
		"openclip_RN50/openai", "openclip_convnext_base/laion400m_s13b_b51k", "openclip_convnext_base_w/laion2b",
		"openclip_convnext_large_d/laion2b", "timm_convnext_base_in22k", "timm_resnet50",
		"timm_vit_base_patch16_224", "timm_vit_large_patch16_224", "timm_vit_large_patch16_224_in21k",
		"timm_vit_huge_patch14_224_in21k", "timm_vit_small_patch16_224",
		"mae_vit_base", "mae_vit_large", "mae_vit_huge", "msn_vit_base", "ibot_vit_large", "ibot_vit_large_in21k",
		"beit_vit_large_in21k",
	}
	out, err := runPLP(t, "models")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if !strings.Contains(out, n+" ") {
			t.Errorf("plp models does not list %s", n)
		}
	}
	// The table fits a 120-column terminal; the details are one command away.
	for _, line := range strings.Split(out, "\n") {
		if n := utf8.RuneCountInString(line); n > 120 {
			t.Errorf("line of %d columns: %q", n, line)
		}
	}
	if !strings.Contains(out, "TEXT") || !strings.Contains(out, "plp models NAME") {
		t.Errorf("table without a TEXT column or the pointer to details:\n%s", out)
	}

	// One model in full; --long gives the same block for every model.
	one, err := runPLP(t, "models", "msn_vit_base")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"msn_vit_base\n", "family      msn (image tower vit)", "squash to 224×224, bicubic",
		"state dict  \"target_encoder\"", "drops       fc.*", "text tower  no"} {
		if !strings.Contains(one, want) {
			t.Errorf("plp models msn_vit_base lacks %q:\n%s", want, one)
		}
	}
	long, err := runPLP(t, "models", "--long")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(long, one) || strings.Count(long, "\n  preprocess") != len(zoo.Names()) {
		t.Errorf("--long does not hold every model's block:\n%s", long)
	}
	if _, err := runPLP(t, "models", "no_such_model"); err == nil {
		t.Error("unknown name: no error")
	}
	// open_clip's spelling names the registered model, and the details list it.
	vit, err := runPLP(t, "models", "ViT-B-16/openai")
	if err != nil || !strings.HasPrefix(vit, "openclip_ViT-B-16/openai\n") || !strings.Contains(vit, "also as     ViT-B-16/openai") {
		t.Errorf("plp models ViT-B-16/openai: %v\n%s", err, vit)
	}

	out, err = runPLP(t, "models", "--json")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]modelInfo{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var m modelInfo
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		got[m.Name] = m
		var raw any
		if err := json.Unmarshal([]byte(line), &raw); err != nil {
			t.Fatal(err)
		}
		checkSnakeCase(t, m.Name, raw)
	}
	for _, n := range names {
		m, ok := got[n]
		if !ok || m.ImageSize <= 0 || m.EmbedDim <= 0 || len(m.Files) == 0 || m.Preprocess.Transform == "" {
			t.Errorf("%s: %+v", n, m)
		}
	}
	if m := got["msn_vit_base"]; m.Family != "msn" || m.StateDict != "target_encoder" || !strings.Contains(m.Dropped, "fc.") {
		t.Errorf("msn_vit_base: %+v", m)
	}
	if m := got["openclip_convnext_large_d/laion2b"]; m.ImageSize != 256 || m.EmbedDim != 768 || !m.Text ||
		m.Tower != "convnext" || m.Preprocess.Size != 256 || m.Preprocess.ResizeMode != "shortest" {
		t.Errorf("convnext_large_d: %+v", m)
	}
}

var snakeCase = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// checkSnakeCase walks a decoded JSON value and reports any object key that is not snake_case.
func checkSnakeCase(t *testing.T, where string, v any) {
	t.Helper()
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if !snakeCase.MatchString(k) {
				t.Errorf("%s: JSON key %q is not snake_case", where, k)
			}
			checkSnakeCase(t, where+"."+k, x)
		}
	case []any:
		for _, x := range v {
			checkSnakeCase(t, where, x)
		}
	}
}

// TestParityModelFixtures runs `plp parity` on the fixtures of the ModifiedResNet, ConvNeXt and timm
// families: every listed output is computed and within tolerance.
func TestParityModelFixtures(t *testing.T) {
	dir := t.TempDir()
	var args []string
	for _, f := range []string{"openclip_rn", "openclip_convnext_linear", "openclip_convnext_mlp",
		"timm_vit_token", "timm_vit_avg", "timm_vit_head", "timm_beit", "timm_convnext"} {
		b, err := os.ReadFile(fixtureDir + f + ".json")
		if err != nil {
			t.Fatal(err)
		}
		// The manifest goes to a temporary folder with absolute file names; timm_vit_token's weights are
		// the weights package's copy.
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		w := fixtureDir + f + ".safetensors"
		if f == "timm_vit_token" {
			w = "../../weights/testdata/models/timm_vit_token.safetensors"
		}
		abs := func(p string) string { a, _ := filepath.Abs(p); return a }
		m["weights"].(map[string]any)["file"] = abs(w)
		m["io"].(map[string]any)["file"] = abs(fixtureDir + f + "_io.safetensors")
		b, _ = json.Marshal(m)
		p := filepath.Join(dir, f+".json")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, p)
	}
	out, err := runPLP(t, append([]string{"parity"}, args...)...)
	if err != nil {
		t.Fatalf("parity: %v\n%s", err, out)
	}
	rows := parseRows(t, out)
	perFixture := map[string]int{}
	for _, r := range rows {
		if !r.OK || r.MaxRel == nil || *r.MaxRel > 1 {
			t.Errorf("%s/%s: %+v", r.Fixture, r.Tensor, r)
		}
		perFixture[r.Fixture]++
	}
	want := map[string]int{"openclip_rn": 9, "openclip_convnext_linear": 8, "openclip_convnext_mlp": 8,
		"timm_vit_token": 2, "timm_vit_avg": 2, "timm_vit_head": 3, "timm_beit": 4, "timm_convnext": 4}
	for f, n := range want {
		if perFixture[f] != n {
			t.Errorf("%s: %d outputs checked, want %d", f, perFixture[f], n)
		}
	}
}
