package main

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"plp/weights"
	"plp/zoo"
)

// TestEncodeText tokenizes the fixture's prompts and checks the embeddings against open_clip's
// (text_embed, and its L2-normalised form with --normalize).
func TestEncodeText(t *testing.T) {
	for _, f := range []string{"openclip_vit_quickgelu", "openclip_vit_f16"} {
		man, err := zoo.ReadManifest(fixtureDir + f + ".json")
		if err != nil {
			t.Fatal(err)
		}
		io, err := weights.OpenSafetensors(fixtureDir + f + "_io.safetensors")
		if err != nil {
			t.Fatal(err)
		}
		defer io.Close()
		for _, norm := range []bool{false, true} {
			args := []string{"encode-text", "--model", fixtureDir + f + ".json", "--weights", fixtureDir + f + ".safetensors"}
			name := "text_embed"
			if norm {
				args = append(args, "--normalize")
				name = "text_embed_normalized"
			}
			out, err := runPLP(t, append(args, man.Prompts...)...)
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			w, _ := io.Tensor(name)
			want, _ := w.Float32()
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != len(man.Prompts) || len(man.Prompts) != w.Shape[0] {
				t.Fatalf("%s: %d lines for %d prompts", f, len(lines), len(man.Prompts))
			}
			dim := w.Shape[1]
			for i, line := range lines {
				var got []float32
				if err := json.Unmarshal([]byte(line), &got); err != nil || len(got) != dim {
					t.Fatalf("%s line %d %q: %v", f, i, line, err)
				}
				for j, g := range got {
					x := float64(want[i*dim+j])
					if d := math.Abs(float64(g) - x); d > 1e-4+1e-4*math.Abs(x) {
						t.Fatalf("%s %s prompt %d [%d] = %v, want %v", f, name, i, j, g, x)
					}
				}
			}
		}
	}
}

func TestEncodeTextErrors(t *testing.T) {
	f := fixtureDir + "openclip_vit_f16"
	for _, args := range [][]string{
		{"encode-text", "--model", f + ".json", "--weights", f + ".safetensors"},
		{"encode-text", "--model", "nope", "--weights", f + ".safetensors", "a"},
		{"encode-text", "--model", f + ".json", "--weights", fixtureDir + "openclip_vit_gelu.safetensors", "a"},
	} {
		if _, err := runPLP(t, args...); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}
