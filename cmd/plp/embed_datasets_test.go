package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"plp/data"
)

// TestEmbedSeveralDatasets embeds two datasets in one call, as gen_embeds.py --dataset A B does: each
// split is the file a call per dataset writes.
func TestEmbedSeveralDatasets(t *testing.T) {
	both, one := t.TempDir(), t.TempDir()
	common := []string{"embed", "--model", embedModel, "--weights", embedWeights, "--data-root", embedData, "--split", "test", "--batch", "8"}
	if out, err := runPLP(t, append(common, "--dataset", "CIFAR10,CIFAR100", "--out", both)...); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, ds := range []string{"CIFAR10", "CIFAR100"} {
		if out, err := runPLP(t, append(common, "--dataset", ds, "--out", one)...); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		a, err := os.ReadFile(data.StorePath(both, ds, embedModel, "test"))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(data.StorePath(one, ds, embedModel, "test"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s: the two-dataset call wrote other bytes than a call for %s alone", ds, ds)
		}
	}
	// An existing output of the second dataset is refused before the first is embedded.
	fresh := t.TempDir()
	if _, err := runPLP(t, append(common, "--dataset", "CIFAR100", "--out", fresh)...); err != nil {
		t.Fatal(err)
	}
	if _, err := runPLP(t, append(common, "--dataset", "CIFAR10,CIFAR100", "--out", fresh)...); err == nil {
		t.Fatal("an existing CIFAR100 split was not refused")
	}
	if _, err := os.Stat(filepath.Join(fresh, "CIFAR10")); err == nil {
		t.Error("CIFAR10 was embedded although the run was refused")
	}
}
