package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"plp/tensor"
	"plp/weights"
	"plp/zoo"
)

// TestFinetuneCLI fine-tunes the CLIP fixture's image tower on fake CIFAR-10, resumes it for one more
// epoch, and loads the exported checkpoint with the inference loader.
func TestFinetuneCLI(t *testing.T) {
	out := t.TempDir()
	args := []string{"finetune", "--model", embedModel, "--weights", embedWeights, "--dataset", "CIFAR10", "--data-root", embedData,
		"--out", out, "--batch", "8", "--accum", "2", "--limit", "16", "--lr", "1e-3", "--warmup-epochs", "1", "--clip-grad", "1"}
	stdout, err := runPLP(t, append(args, "--epochs", "2")...)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(stdout, "loss=") != 2 {
		t.Fatalf("want two epoch lines:\n%s", stdout)
	}
	if _, err := runPLP(t, append(args, "--epochs", "3")...); err == nil {
		t.Fatal("a second run into the same directory without --resume succeeded")
	}
	// Resuming with another --epochs would change the cosine schedule of the epochs already trained.
	if _, err := runPLP(t, append(args, "--epochs", "3", "--resume")...); err == nil || !strings.Contains(err.Error(), "config.Epochs 3 (was 2)") {
		t.Fatalf("--resume with another --epochs: err = %v, want a refusal naming config.Epochs", err)
	}
	if _, err := runPLP(t, append(args, "--epochs", "2", "--resume")...); err != nil {
		t.Fatal(err)
	}
	log, err := os.ReadFile(filepath.Join(out, "log.txt"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(log)), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[1], "epoch=2 loss=") {
		t.Fatalf("log.txt:\n%s", log)
	}
	var hp map[string]any
	b, err := os.ReadFile(filepath.Join(out, "hp.json"))
	if err != nil || json.Unmarshal(b, &hp) != nil {
		t.Fatalf("hp.json: %v", err)
	}

	// The export keeps every key of the original checkpoint: the text tower unchanged, the image tower tuned.
	for _, name := range []string{"model.safetensors", "model_ema.safetensors"} {
		if _, err := zoo.Load(embedModel, filepath.Join(out, name), tensor.CPU{}); err != nil {
			t.Fatalf("%s does not load: %v", name, err)
		}
	}
	orig, err := weights.OpenSafetensors(embedWeights)
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	tuned, err := weights.OpenSafetensors(filepath.Join(out, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer tuned.Close()
	if len(orig.Names()) != len(tuned.Names()) {
		t.Fatalf("export has %d tensors, the checkpoint %d", len(tuned.Names()), len(orig.Names()))
	}
	changed := map[bool]int{}
	for _, name := range orig.Names() {
		a, _ := orig.Tensor(name)
		b, err := tuned.Tensor(name)
		if err != nil {
			t.Fatal(err)
		}
		av, _ := a.Float32()
		bv, _ := b.Float32()
		diff := false
		for i := range av {
			diff = diff || av[i] != bv[i]
		}
		if diff && !strings.HasPrefix(name, "visual.") {
			t.Fatalf("%s changed", name)
		}
		changed[diff]++
	}
	if changed[true] == 0 {
		t.Fatal("no tensor changed")
	}
}

// TestAdversarialCLI attacks the CLIP fixture with CIFAR-10 images towards CIFAR-100 images.
func TestAdversarialCLI(t *testing.T) {
	out := t.TempDir()
	stdout, err := runPLP(t, "adversarial", "--model", embedModel, "--weights", embedWeights, "--source", "CIFAR10", "--target", "CIFAR100",
		"--data-root", embedData, "--n", "3", "--steps", "15", "--lr", "1e-2", "--batch", "2", "--bank-n", "10", "--id-n", "4", "--out", out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(stdout, "kNN (k=1, cosine) AUROC") {
		t.Fatalf("output:\n%s", stdout)
	}
	var res map[string]float64
	b, err := os.ReadFile(filepath.Join(out, "results.json"))
	if err != nil || json.Unmarshal(b, &res) != nil {
		t.Fatalf("results.json: %v", err)
	}
	for _, k := range []string{"auroc_real", "auroc_adv", "auroc_real_sub", "auroc_adv_sub"} {
		if v, ok := res[k]; !ok || v < 0 || v > 100 {
			t.Errorf("%s = %v", k, v)
		}
	}
	if v, ok := res["mean_similarity"]; !ok || v < -1 || v > 1 {
		t.Errorf("mean_similarity = %v", v)
	}
	for i := 0; i < 3; i++ {
		if _, err := os.Stat(filepath.Join(out, "adv", "00000"+string(rune('0'+i))+".png")); err != nil {
			t.Error(err)
		}
	}
	st, err := weights.OpenSafetensors(filepath.Join(out, "embeddings.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, k := range []string{"clean", "adversarial", "target", "id_test", "similarity", "source_index", "target_index"} {
		if _, err := st.Tensor(k); err != nil {
			t.Error(err)
		}
	}
	if _, err := runPLP(t, "adversarial", "--model", embedModel, "--weights", embedWeights, "--source", "CIFAR10", "--target", "CIFAR100",
		"--data-root", embedData, "--n", "0", "--out", out); err == nil {
		t.Error("--n 0: no error")
	}
}
