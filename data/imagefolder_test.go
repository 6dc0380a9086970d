package data

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

type folderExpect struct {
	Classes []string `json:"classes"`
	Samples [][2]any `json:"samples"`
	Targets []int    `json:"targets"`
	Error   string   `json:"error"`
	Message string   `json:"message"`
}

// TestImageFolderOrder compares listing, labels and decoded pixels with
// torchvision's ImageFolder on the reference trees.
func TestImageFolderOrder(t *testing.T) {
	var expect map[string]folderExpect
	readJSON(t, "testdata/expected_imagefolder.json", &expect)
	pixels := readSafetensors(t, "testdata/expected_imagefolder.safetensors")
	for _, tree := range []string{"imagefolder", "imagefolder_hidden"} {
		t.Run(tree, func(t *testing.T) {
			want := expect[tree]
			f, err := OpenImageFolder(filepath.Join("testdata", tree))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(f.Classes(), want.Classes) {
				t.Errorf("classes %q, want %q", f.Classes(), want.Classes)
			}
			if f.Len() != len(want.Samples) {
				t.Fatalf("%d samples, want %d: %q", f.Len(), len(want.Samples), f.Files)
			}
			for i, s := range want.Samples {
				if f.Files[i] != s[0].(string) || f.Label(i) != int(s[1].(float64)) {
					t.Errorf("sample %d = (%s, %d), want (%v, %v)", i, f.Files[i], f.Label(i), s[0], s[1])
				}
			}
			if !reflect.DeepEqual(f.Labels, want.Targets) {
				t.Errorf("targets %v, want %v", f.Labels, want.Targets)
			}
			for i := 0; i < f.Len(); i++ {
				img, err := f.Load(i)
				if err != nil {
					t.Fatalf("Load(%d) %s: %v", i, f.Path(i), err)
				}
				ref := pixels[tree+"/"+strconv.Itoa(i)]
				if img.H != ref.shape[0] || img.W != ref.shape[1] || !bytes.Equal(img.Pix, ref.data) {
					t.Errorf("sample %d (%s): pixels differ from Pillow's", i, f.Files[i])
				}
			}
		})
	}
}

func TestImageFolderEmptyClass(t *testing.T) {
	var expect map[string]folderExpect
	readJSON(t, "testdata/expected_imagefolder.json", &expect)
	_, err := OpenImageFolder("testdata/imagefolder_emptyclass")
	if err == nil {
		t.Fatal("a class without images was accepted")
	}
	if want := expect["imagefolder_emptyclass"].Message; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain torchvision's %q", err, want)
	}
}

func TestImageFolderSymlinkCycle(t *testing.T) {
	root := t.TempDir()
	cls := filepath.Join(root, "a")
	if err := os.MkdirAll(cls, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cls, "x.png"), []byte("not really"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(cls, filepath.Join(cls, "loop")); err != nil {
		t.Skip("no symlinks:", err)
	}
	f, err := OpenImageFolder(root)
	if err != nil {
		t.Fatal(err)
	}
	if f.Len() != 1 || f.Files[0] != "a/x.png" {
		t.Errorf("files %q, want [a/x.png]", f.Files)
	}
	// The file is not an image: Load reports it by path.
	if _, err := f.Load(0); err == nil || !strings.Contains(err.Error(), "x.png") {
		t.Errorf("Load of a corrupt file: %v", err)
	}
}

func TestImageFolderNoClasses(t *testing.T) {
	if _, err := OpenImageFolder(t.TempDir()); err == nil || !strings.Contains(err.Error(), "class folder") {
		t.Errorf("empty root: %v", err)
	}
	if _, err := OpenImageFolder(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing root accepted")
	}
}
