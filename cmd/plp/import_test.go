package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"plp/data"
	"plp/serve"
	"plp/weights"
)

// testdata/paper holds files written by torch.save as the paper's gen_embeds.py and linear_probing.py
// write them (CIFAR100's embeddings in torch's legacy, pre-1.6 format), and expected.safetensors the
// same tensors as torch held them.
const paperDir = "testdata/paper"

func expectedTensor(t *testing.T, name string) *weights.Tensor {
	t.Helper()
	st, err := weights.OpenSafetensors(filepath.Join(paperDir, "expected.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	x, err := st.Tensor(name)
	if err != nil {
		t.Fatal(err)
	}
	x.Data = slices.Clone(x.Data)
	return x
}

// sameBits compares a stored tensor with torch's bytes.
func sameBits(t *testing.T, what string, got *weights.Tensor, want *weights.Tensor) {
	t.Helper()
	if got.DType != want.DType || !slices.Equal(got.Shape, want.Shape) || !bytes.Equal(got.Data, want.Data) {
		t.Errorf("%s: %s %v differs from torch's %s %v", what, got.DType, got.Shape, want.DType, want.Shape)
	}
}

func TestImportEmbeds(t *testing.T) {
	store := t.TempDir()
	out, err := runPLP(t, "import", "embeds", filepath.Join(paperDir, "embeds"), "--out", store)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, c := range []struct{ ds, split string }{{"CIFAR10", "train"}, {"CIFAR10", "test"}, {"CIFAR100", "test"}} {
		p := data.StorePath(store, c.ds, "openclip_ViT-B-16/openai", c.split)
		st, err := weights.OpenSafetensors(p)
		if err != nil {
			t.Fatalf("%s/%s not imported: %v", c.ds, c.split, err)
		}
		for _, name := range []string{"embeddings", "labels", "mean", "std"} {
			got, err := st.Tensor(name)
			if err != nil {
				t.Fatal(err)
			}
			sameBits(t, c.ds+"/"+c.split+"/"+name, got, expectedTensor(t, c.ds+"/"+c.split+"/"+name))
		}
		if m := st.Metadata(); m["source"] != "gen_embeds.py" || m["split"] != c.split {
			t.Errorf("%s metadata %v", p, m)
		}
		st.Close()
	}
	if _, err := runPLP(t, "import", "embeds", filepath.Join(paperDir, "embeds"), "--out", store); err == nil || !strings.Contains(err.Error(), "--overwrite") {
		t.Errorf("a second import into the same store: %v, want a refusal naming --overwrite", err)
	}
	// One <dataset>/<arch> folder, renamed.
	one := t.TempDir()
	if _, err := runPLP(t, "import", "embeds", filepath.Join(paperDir, "embeds", "CIFAR10", "openclip_ViT-B-16_openai"), "--out", one,
		"--dataset", "C10", "--model", "m"); err != nil {
		t.Fatal(err)
	}
	if _, err := data.ReadEmbeddings(data.StorePath(one, "C10", "m", "test")); err != nil {
		t.Error(err)
	}
	if _, err := runPLP(t, "import", "embeds", paperDir, "--out", t.TempDir()); err == nil {
		t.Error("a folder without <dataset>/<arch>/embeddings.pt: no error")
	}
}

func TestImportProbe(t *testing.T) {
	store, probe := t.TempDir(), filepath.Join(t.TempDir(), "probe")
	if _, err := runPLP(t, "import", "embeds", filepath.Join(paperDir, "embeds"), "--out", store); err != nil {
		t.Fatal(err)
	}
	out, err := runPLP(t, "import", "probe", filepath.Join(paperDir, "probe"), "--out", probe)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	st, err := weights.OpenSafetensors(filepath.Join(probe, "head.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"weight", "bias"} {
		got, err := st.Tensor(n)
		if err != nil {
			t.Fatal(err)
		}
		sameBits(t, n, got, expectedTensor(t, "probe/"+n))
	}
	st.Close()
	pl, err := serve.ReadPseudoLabels(filepath.Join(probe, "pseudo_labels.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := expectedTensor(t, "probe/pseudo_labels").Int64()
	if !slices.Equal(pl, want) {
		t.Errorf("pseudo-labels %v, want %v", pl, want)
	}
	var hp probeHP
	b, _ := os.ReadFile(filepath.Join(probe, "hp.json"))
	if err := json.Unmarshal(b, &hp); err != nil {
		t.Fatal(err)
	}
	if hp.Model != "openclip_ViT-B-16/openai" || hp.Dataset != "CIFAR10" || !hp.EmbedNorm || !hp.PseudoLabels || hp.Classes != 10 ||
		hp.Batch != 256 || hp.Epochs != 100 || hp.Steps != 400 || hp.Optimizer != "adam" || hp.ValAcc != 0.8125 || hp.Seed != 42 {
		t.Errorf("hp.json %+v", hp)
	}
	// plp eval reads the imported probe on the imported store.
	if out, err := runPLP(t, "eval", "--probe", probe, "--embeds", store, "--no-plots"); err != nil {
		t.Fatalf("eval of the imported probe: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(probe, "ood_metrics.json")); err != nil {
		t.Error(err)
	}
}
