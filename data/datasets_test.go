package data

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestOpenByName(t *testing.T) {
	root := t.TempDir()
	copyTree(t, "testdata/cifar-10-batches-py", filepath.Join(root, "cifar-10-batches-py"))
	copyTree(t, "testdata/imagefolder_hidden", filepath.Join(root, "NINCO", "NINCO_OOD_classes"))
	copyTree(t, "testdata/imagefolder", filepath.Join(root, "ILSVRC", "Data", "CLS-LOC", "val_structured"))

	cases := []struct {
		name, split string
		wantLen     int
		wantErr     []string // substrings of the error
	}{
		{"CIFAR10", "train", 100, nil},
		{"CIFAR10", "test", 20, nil},
		{"NINCO", "test", 3, nil},
		{"NINCO", "train", 3, nil},
		{"IN1K", "val", 11, nil},
		{"IN1K", "train", 0, []string{"IN1K", "ILSVRC/Data/CLS-LOC/train", "image-net.org"}},
		{"CIFAR100", "train", 0, []string{"cifar-100-python"}},
		{"texture", "test", 0, []string{"dtd_test", "Describable Textures"}},
		{"inat", "test", 0, []string{"iNaturalist"}},
		{"SUN", "test", 0, []string{filepath.Join(root, "SUN")}},
		{"Places", "test", 0, []string{"Places"}},
		{"IN_O", "test", 0, []string{"imagenet-o"}},
		{"MNIST", "test", 0, []string{"unknown dataset", "CIFAR10 CIFAR100 IN1K"}},
		// Names typed as people type them get the paper's spelling back; a missing folder is missing.
		{"cifar10", "test", 0, []string{`unknown dataset "cifar10"; did you mean CIFAR10? (the names are`}},
		{"Cifar-100", "test", 0, []string{"did you mean CIFAR100?"}},
		{"IN-1K", "val", 0, []string{"did you mean IN1K?"}},
		{"ninco", "test", 0, []string{"did you mean NINCO?"}},
		{"no/such/folder", "test", 0, []string{"dataset folder no/such/folder: no such directory"}},
		{"CIFAR10", "holdout", 0, []string{"unknown split"}},
	}
	for _, c := range cases {
		t.Run(c.name+"/"+c.split, func(t *testing.T) {
			ds, err := Open(c.name, root, c.split)
			if c.wantErr != nil {
				if err == nil {
					t.Fatal("no error")
				}
				for _, w := range c.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not mention %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ds.Len() != c.wantLen {
				t.Errorf("Len = %d, want %d", ds.Len(), c.wantLen)
			}
		})
	}
}

func TestOpenDataRootEnv(t *testing.T) {
	root := t.TempDir()
	copyTree(t, "testdata/cifar-10-batches-py", filepath.Join(root, "cifar-10-batches-py"))
	t.Setenv(EnvDataRoot, root)
	ds, err := Open("CIFAR10", "", "test")
	if err != nil {
		t.Fatal(err)
	}
	if ds.Len() != 20 {
		t.Errorf("Len = %d, want 20", ds.Len())
	}
	t.Setenv(EnvDataRoot, "")
	if _, err := Open("CIFAR10", "", "test"); err == nil || !strings.Contains(err.Error(), EnvDataRoot) {
		t.Errorf("missing root: %v", err)
	}
}

// TestOpenFolderPath: a path that is not a dataset name opens as an
// ImageFolder.
func TestOpenFolderPath(t *testing.T) {
	ds, err := Open("testdata/imagefolder", "", "test")
	if err != nil {
		t.Fatal(err)
	}
	if ds.Len() != 11 || !reflect.DeepEqual(ds.Classes(), []string{"Zebra", "cat", "dog"}) {
		t.Errorf("got %d samples, classes %q", ds.Len(), ds.Classes())
	}
	if p := ds.Path(0); p != filepath.Join("testdata", "imagefolder", "Zebra", "img_a.JPG") {
		t.Errorf("Path(0) = %q", p)
	}
}

func TestClassNames(t *testing.T) {
	var expect map[string]json.RawMessage
	readJSON(t, "testdata/expected.json", &expect)
	for name, key := range map[string]string{"CIFAR10": "c10_test", "CIFAR100": "c100_test"} {
		var want struct{ Classes []string }
		if err := json.Unmarshal(expect[key], &want); err != nil {
			t.Fatal(err)
		}
		got, err := ClassNames(name)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want.Classes) {
			t.Errorf("%s: %q, want %q", name, got, want.Classes)
		}
	}
	in, err := ClassNames("IN1K")
	if err != nil {
		t.Fatal(err)
	}
	spot := map[int]string{0: "tench", 134: "crane", 517: "crane", 638: "maillot", 639: "maillot", 948: "Granny Smith", 999: "toilet tissue"}
	if len(in) != 1000 {
		t.Fatalf("%d ImageNet names", len(in))
	}
	for i, w := range spot {
		if in[i] != w {
			t.Errorf("IN1K[%d] = %q, want %q", i, in[i], w)
		}
	}
	if _, err := ClassNames("SUN"); err == nil {
		t.Error("class names for SUN")
	}
}

func TestDefaultTransform(t *testing.T) {
	for name, want := range map[string]string{"IN1K": "in224", "IN_O": "in224", "CIFAR10": "plain224", "inat": "plain224", "SUN": "plain224",
		// The paper tests `"IN" in dataset`, so NINCO takes the ImageNet pipeline too.
		"NINCO": "in224"} {
		if got := DefaultTransform(name); got != want {
			t.Errorf("DefaultTransform(%s) = %s, want %s", name, got, want)
		}
	}
}

func TestMain(m *testing.M) {
	// Tests that rely on the environment set it themselves.
	os.Unsetenv(EnvDataRoot)
	os.Exit(m.Run())
}
