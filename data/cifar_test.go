package data

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

type cifarExpect struct {
	Len        int            `json:"len"`
	Classes    []string       `json:"classes"`
	ClassToIdx map[string]int `json:"class_to_idx"`
	Targets    []int          `json:"targets"`
	Row0Red    []int          `json:"first_image_row0_red"`
}

func TestCIFARMatchesTorchvision(t *testing.T) {
	tensors := readSafetensors(t, "testdata/expected_cifar.safetensors")
	var expect map[string]json.RawMessage
	readJSON(t, "testdata/expected.json", &expect)
	cases := []struct {
		key     string
		classes int
		train   bool
		binary  bool
	}{
		{"c10_train", 10, true, false},
		{"c10_test", 10, false, false},
		{"c100_train", 100, true, false},
		{"c100_test", 100, false, false},
		{"c10_train", 10, true, true},
		{"c10_test", 10, false, true},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("%s/binary=%v", tc.key, tc.binary), func(t *testing.T) {
			var want cifarExpect
			if err := json.Unmarshal(expect[tc.key], &want); err != nil {
				t.Fatal(err)
			}
			root := "testdata"
			if tc.binary {
				// Only the binary folder: copy it so the python one is absent.
				root = t.TempDir()
				copyTree(t, "testdata/cifar-10-batches-bin", filepath.Join(root, "cifar-10-batches-bin"))
			}
			c, err := OpenCIFAR(root, tc.classes, tc.train)
			if err != nil {
				t.Fatal(err)
			}
			if c.Len() != want.Len {
				t.Fatalf("Len = %d, want %d", c.Len(), want.Len)
			}
			if !reflect.DeepEqual(c.Classes(), want.Classes) {
				t.Errorf("classes = %q, want %q", c.Classes(), want.Classes)
			}
			if !reflect.DeepEqual(c.Labels, want.Targets) {
				t.Errorf("labels = %v, want %v", c.Labels, want.Targets)
			}
			if got := tensors[tc.key+"_targets"].int64s(t); !reflect.DeepEqual(c.Labels, got) {
				t.Errorf("labels differ from the reference tensor")
			}
			data := tensors[tc.key+"_data"]
			if !bytes.Equal(c.Pix, data.data) {
				t.Errorf("pixels differ from torchvision's dataset.data")
			}
			first, err := c.Load(0)
			if err != nil {
				t.Fatal(err)
			}
			if first.W != 32 || first.H != 32 || !bytes.Equal(first.Pix, tensors[tc.key+"_first_image"].data) {
				t.Errorf("Load(0) differs from torchvision's dataset[0]")
			}
			for x, r := range want.Row0Red {
				if int(first.Pix[x*3]) != r {
					t.Fatalf("first image red[0][%d] = %d, want %d", x, first.Pix[x*3], r)
				}
			}
			if tc.classes == 100 {
				if got := tensors[tc.key+"_coarse"].int64s(t); !reflect.DeepEqual(c.Coarse, got) {
					t.Errorf("coarse labels = %v, want %v", c.Coarse, got)
				}
			}
			if _, err := c.Load(c.Len()); err == nil {
				t.Error("Load past the end succeeded")
			}
			if p := c.Path(c.Len() - 1); !strings.Contains(p, "#") {
				t.Errorf("Path = %q, want file#record", p)
			}
		})
	}
}

// TestCIFARPickleContents checks the per-file contents torchvision does not
// expose: batch labels and stored filenames.
func TestCIFARPickleContents(t *testing.T) {
	var expect struct {
		Pickle map[string]struct {
			Keys       []string `json:"keys_in_order"`
			BatchLabel string   `json:"batch_label"`
			Filenames  []string `json:"filenames"`
		} `json:"pickle_contents"`
	}
	readJSON(t, "testdata/expected.json", &expect)
	for name, want := range expect.Pickle {
		d, err := readPickleDict(filepath.Join("testdata", name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !reflect.DeepEqual(d.keys, want.Keys) {
			t.Errorf("%s: keys %q, want %q", name, d.keys, want.Keys)
		}
		if want.BatchLabel != "" && d.m["batch_label"] != want.BatchLabel {
			t.Errorf("%s: batch_label %v, want %q", name, d.m["batch_label"], want.BatchLabel)
		}
		if want.Filenames != nil {
			got, err := d.strings("filenames")
			if err != nil || !reflect.DeepEqual(got, want.Filenames) {
				t.Errorf("%s: filenames %q (%v), want %q", name, got, err, want.Filenames)
			}
		}
	}
}

// TestCIFAR100Binary writes the python CIFAR-100 data in the binary record
// format (coarse byte, fine byte, 3072 planar pixels) and reads it back.
func TestCIFAR100Binary(t *testing.T) {
	ref, err := OpenCIFAR("testdata", 100, false)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := readPickleDict("testdata/cifar-100-python/test")
	if err != nil {
		t.Fatal(err)
	}
	planar, err := raw.imageData()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "cifar-100-binary")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var rec []byte
	for i := 0; i < ref.Len(); i++ {
		rec = append(rec, byte(ref.Coarse[i]), byte(ref.Labels[i]))
		rec = append(rec, planar[i*3072:(i+1)*3072]...)
	}
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("test.bin", rec)
	write("fine_label_names.txt", []byte(strings.Join(ref.ClassNames, "\n")+"\n\n"))
	write("coarse_label_names.txt", []byte(strings.Join(ref.CoarseNames, "\n")+"\n"))
	got, err := OpenCIFAR(filepath.Dir(dir), 100, false)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Pix, ref.Pix) || !reflect.DeepEqual(got.Labels, ref.Labels) ||
		!reflect.DeepEqual(got.Coarse, ref.Coarse) || !reflect.DeepEqual(got.ClassNames, ref.ClassNames) {
		t.Error("binary CIFAR-100 differs from the python version")
	}
	// A truncated record is an error.
	write("test.bin", rec[:len(rec)-1])
	if _, err := OpenCIFAR(filepath.Dir(dir), 100, false); err == nil {
		t.Error("truncated binary file accepted")
	}
}

func TestCIFARMissing(t *testing.T) {
	_, err := OpenCIFAR(t.TempDir(), 10, true)
	if err == nil || !strings.Contains(err.Error(), "cifar-10-batches-py") || !strings.Contains(err.Error(), "cs.toronto.edu") {
		t.Errorf("error %v should name the folder and the source", err)
	}
	if _, err := OpenCIFAR("testdata", 7, true); err == nil {
		t.Error("7 classes accepted")
	}
}

func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
