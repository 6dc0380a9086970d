package train

import (
	"testing"

	"plp/tensor"
	"plp/weights"
	"plp/zoo"
)

// The tiny open_clip fixture (reference outputs of open_clip) lives with the zoo's tests.
const clipManifest = "../zoo/testdata/openclip_vit_quickgelu.json"

func TestLabelEmbeddingsAndZeroShot(t *testing.T) {
	man, err := zoo.ReadManifest(clipManifest)
	if err != nil {
		t.Fatal(err)
	}
	m, err := zoo.Load(clipManifest, man.Path("openclip_vit_quickgelu.safetensors"), tensor.CPU{})
	if err != nil {
		t.Fatal(err)
	}
	io, err := weights.OpenSafetensors(man.Path("openclip_vit_quickgelu_io.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer io.Close()
	classes := []string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}
	for _, scaled := range []bool{false, true} {
		got, E, err := LabelEmbeddings(m, classes, PaperPrompts, scaled)
		if err != nil {
			t.Fatal(err)
		}
		want := "label_embed"
		if scaled {
			want = "label_embed_scaled"
		}
		within(t, want, got, f32(t, io, want), 1e-4, 1e-4)
		if E != 32 {
			t.Fatalf("embed width %d, want 32", E)
		}
	}
	labels, E, _ := LabelEmbeddings(m, classes, nil, false)
	x := f32(t, io, "image_embed_preproj")
	d := len(x) / 3
	logits, err := ZeroShotLogits(m, x, d, labels, E)
	if err != nil {
		t.Fatal(err)
	}
	within(t, "image_label_cosine", logits, f32(t, io, "image_label_cosine"), 1e-4, 1e-4)

	scaled, _, _ := LabelEmbeddings(m, classes, nil, true)
	pl, err := PseudoLabels(m, x, 3, d, scaled, E)
	if err != nil {
		t.Fatal(err)
	}
	want := f32(t, io, "image_label_logits_scaled")
	for i, l := range pl {
		row := want[i*10 : (i+1)*10]
		best := 0
		for j := range row {
			if row[j] > row[best] {
				best = j
			}
		}
		if int(l) != best {
			t.Fatalf("pseudo-label %d = %d, want %d (reference logits %v)", i, l, best, row)
		}
	}
	if _, err := PseudoLabels(m, x[:2*(d-1)], 2, d-1, scaled, E); err == nil {
		t.Fatal("embeddings of the wrong width accepted")
	}
	if _, _, err := LabelEmbeddings(m, classes, []string{"no placeholder"}, false); err == nil {
		t.Fatal("prompt without {c} accepted")
	}
}
