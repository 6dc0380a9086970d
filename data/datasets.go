// Package data opens the image datasets the paper uses — CIFAR-10/100 from
// torchvision's python or binary files, ImageNet-1k and the OOD sets as
// torchvision ImageFolders — by the paper's names under one data root, and
// ships the CIFAR and ImageNet class names.
//
// Layout under the data root (--data-root or $PLP_DATA_ROOT), as in the
// paper's loaders/datasets.py:
//
//	CIFAR10   cifar-10-batches-py/ (or cifar-10-batches-bin/)
//	CIFAR100  cifar-100-python/    (or cifar-100-binary/)
//	IN1K      ILSVRC/Data/CLS-LOC/train, ILSVRC/Data/CLS-LOC/val_structured
//	          (or imagenet/train, imagenet/val)
//	inat      iNaturalist/
//	SUN       SUN/
//	Places    Places/
//	IN_O      imagenet-o/
//	texture   dtd_test/
//	NINCO     NINCO/NINCO_OOD_classes/
//
// Every folder dataset has one sub-folder per class; the OOD sets use the
// same folder for the train and test splits.
package data

import (
	"embed"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"plp/imaging"
	"plp/spelling"
)

// Dataset is an indexed, labelled image collection.
type Dataset interface {
	Len() int
	// Label is sample i's class index into Classes.
	Label(i int) int
	// Load returns sample i as RGB; the caller owns the result.
	Load(i int) (*imaging.RGB, error)
	// Path identifies sample i (a file path, or file#record for CIFAR).
	Path(i int) string
	Classes() []string
}

// EnvDataRoot names the environment variable that gives the data root when
// no root is passed explicitly.
const EnvDataRoot = "PLP_DATA_ROOT"

// Names are the paper's dataset names that Open resolves.
var Names = []string{"CIFAR10", "CIFAR100", "IN1K", "inat", "SUN", "Places", "IN_O", "texture", "NINCO"}

// folderLayout is where an ImageFolder dataset lives under the data root,
// mirroring the paper's loaders/datasets.py paths.
type folderLayout struct {
	train, test []string // candidate folders, first existing wins
	source      string
}

var folderLayouts = map[string]folderLayout{
	"IN1K": {
		train:  []string{"ILSVRC/Data/CLS-LOC/train", "imagenet/train"},
		test:   []string{"ILSVRC/Data/CLS-LOC/val_structured", "imagenet/val"},
		source: "ImageNet-1k (ILSVRC 2012) from https://image-net.org; the validation images must be sorted into one folder per class (the paper's val_structured)",
	},
	"inat": {
		train: []string{"iNaturalist"}, test: []string{"iNaturalist"},
		source: "the iNaturalist OOD subset of Huang & Li (MOS, CVPR 2021), https://github.com/deeplearning-wisc/large_scale_ood",
	},
	"SUN": {
		train: []string{"SUN"}, test: []string{"SUN"},
		source: "the SUN OOD subset of Huang & Li (MOS, CVPR 2021), https://github.com/deeplearning-wisc/large_scale_ood",
	},
	"Places": {
		train: []string{"Places"}, test: []string{"Places"},
		source: "the Places OOD subset of Huang & Li (MOS, CVPR 2021), https://github.com/deeplearning-wisc/large_scale_ood",
	},
	"IN_O": {
		train: []string{"imagenet-o"}, test: []string{"imagenet-o"},
		source: "ImageNet-O (Hendrycks et al. 2021), https://github.com/hendrycks/natural-adv-examples",
	},
	"texture": {
		train: []string{"dtd_test"}, test: []string{"dtd_test"},
		source: "the Describable Textures Dataset, https://www.robots.ox.ac.uk/~vgg/data/dtd/ (its images/ folder: one folder per texture class)",
	},
	"NINCO": {
		train: []string{"NINCO/NINCO_OOD_classes"}, test: []string{"NINCO/NINCO_OOD_classes"},
		source: "NINCO (Bitterwolf et al. 2023), https://github.com/j-cb/NINCO",
	},
}

// DataRoot returns root, or $PLP_DATA_ROOT when root is empty.
func DataRoot(root string) (string, error) {
	if root != "" {
		return root, nil
	}
	if env := os.Getenv(EnvDataRoot); env != "" {
		return env, nil
	}
	return "", fmt.Errorf("data: no data root: pass --data-root or set %s", EnvDataRoot)
}

func normSplit(split string) (train bool, err error) {
	switch split {
	case "train":
		return true, nil
	case "test", "val":
		return false, nil
	}
	return false, fmt.Errorf("data: unknown split %q (want train or test)", split)
}

// Resolve returns the folder that Open(name, root, split) reads: the CIFAR
// data root itself for CIFAR10/CIFAR100, the ImageFolder root otherwise.
func Resolve(name, root, split string) (string, error) {
	train, err := normSplit(split)
	if err != nil {
		return "", err
	}
	if name == "CIFAR10" || name == "CIFAR100" {
		return DataRoot(root)
	}
	l, ok := folderLayouts[name]
	if !ok {
		if isDir(name) {
			return folderSplit(name, train), nil
		}
		return "", CheckName(name)
	}
	root, err = DataRoot(root)
	if err != nil {
		return "", err
	}
	cands := l.test
	if train {
		cands = l.train
	}
	for _, c := range cands {
		p := filepath.Join(root, filepath.FromSlash(c))
		if isDir(p) {
			return p, nil
		}
	}
	tried := make([]string, len(cands))
	for i, c := range cands {
		tried[i] = filepath.Join(root, filepath.FromSlash(c))
	}
	return "", fmt.Errorf("data: dataset %s (%s split) not found: missing folder %s; it comes from %s",
		name, split, strings.Join(tried, " or "), l.source)
}

// folderSplit picks a split of an image folder given by path: its train/ or test/ (or val/) sub-folder
// when it has both a train/ and a test or val folder, else the folder itself, which is then one split.
func folderSplit(dir string, train bool) string {
	tr := filepath.Join(dir, "train")
	te := ""
	for _, name := range []string{"test", "val"} {
		if p := filepath.Join(dir, name); isDir(p) {
			te = p
			break
		}
	}
	if !isDir(tr) || te == "" {
		return dir
	}
	if train {
		return tr
	}
	return te
}

// CheckName accepts one of Names or an existing folder. Otherwise the error suggests the closest of
// Names ("cifar10": did you mean CIFAR10?), or, for a name that is a path, says the folder is missing.
func CheckName(name string) error {
	if slices.Contains(Names, name) || isDir(name) {
		return nil
	}
	if strings.ContainsAny(name, `/\`) || filepath.IsAbs(name) {
		return fmt.Errorf("data: dataset folder %s: no such directory", name)
	}
	hint := spelling.Hint(name, Names)
	bare := strings.NewReplacer("-", "", "_", "", " ", "", ".", "")
	for _, n := range Names {
		if strings.EqualFold(bare.Replace(n), bare.Replace(name)) {
			hint = "; did you mean " + n + "?" // only case or separators differ: other close names are noise
		}
	}
	return fmt.Errorf("data: unknown dataset %q%s (the names are %s; an image folder path works too)",
		name, hint, strings.Join(Names, " "))
}

// Open opens a dataset by the paper's name (see Names) under root (or
// $PLP_DATA_ROOT), or any folder path as an ImageFolder. split is "train"
// or "test" ("val" is a synonym of "test"); the OOD sets have one folder
// used for both.
func Open(name, root, split string) (Dataset, error) {
	train, err := normSplit(split)
	if err != nil {
		return nil, err
	}
	switch name {
	case "CIFAR10", "CIFAR100":
		root, err := DataRoot(root)
		if err != nil {
			return nil, err
		}
		classes := 10
		if name == "CIFAR100" {
			classes = 100
		}
		return OpenCIFAR(root, classes, train)
	}
	dir, err := Resolve(name, root, split)
	if err != nil {
		return nil, err
	}
	return OpenImageFolder(dir)
}

// DefaultTransform is the paper's default_prepro choice for a dataset:
// "in224" when the name contains "IN" (meant for ImageNet-derived sets, but
// the paper's substring test also catches NINCO), else "plain224".
func DefaultTransform(name string) string {
	if strings.Contains(name, "IN") {
		return "in224"
	}
	return "plain224"
}

//go:embed classnames/*.txt
var classNameFiles embed.FS

var classNameFile = map[string]string{
	"CIFAR10":  "classnames/cifar10.txt",
	"CIFAR100": "classnames/cifar100.txt",
	"IN1K":     "classnames/imagenet1k.txt",
}

// ClassNames returns the class names the paper prompts with, in label
// order, for CIFAR10, CIFAR100 and IN1K: CIFAR's original label names
// (underscores kept) and, for ImageNet, the text before the first comma of
// each class description (case kept, not unique).
func ClassNames(name string) ([]string, error) {
	file, ok := classNameFile[name]
	if !ok {
		known := make([]string, 0, len(classNameFile))
		for k := range classNameFile {
			known = append(known, k)
		}
		sort.Strings(known)
		return nil, fmt.Errorf("data: no built-in class names for %q (have %s)", name, strings.Join(known, ", "))
	}
	b, err := classNameFiles.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n"), nil
}
