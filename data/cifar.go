package data

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"plp/imaging"
)

// cifarImageBytes is one 32×32 RGB image: 1024 red, 1024 green, 1024 blue.
const cifarImageBytes = 3072

// maxCIFARFile bounds the size of a batch file the readers load into memory
// (the real files are ~30 MiB).
const maxCIFARFile = 1 << 30

// CIFAR is CIFAR-10 or CIFAR-100 held in memory, as torchvision's CIFAR10
// and CIFAR100 datasets deliver it: images in file order, HWC uint8.
type CIFAR struct {
	// Pix holds Len() images of 32×32×3 bytes (HWC), one after another.
	Pix []uint8
	// Labels are the class indices (CIFAR-100: the fine labels).
	Labels []int
	// Coarse are CIFAR-100's 20 superclass labels; nil for CIFAR-10.
	Coarse []int
	// ClassNames are the label names (CIFAR-100: the fine names).
	ClassNames []string
	// CoarseNames are CIFAR-100's superclass names, when the files have them.
	CoarseNames []string
	// Filenames are the names stored in the python batches (may be empty).
	Filenames []string
	// BatchLabels are the python batches' batch_label values, one per file.
	BatchLabels []string

	sources []cifarSource
}

// cifarSource says which file (and record) image ranges came from.
type cifarSource struct {
	file  string
	first int // index of the file's first image
}

// Len is the number of images.
func (c *CIFAR) Len() int { return len(c.Labels) }

// Label is image i's class index.
func (c *CIFAR) Label(i int) int { return c.Labels[i] }

// Classes are the class names in label order.
func (c *CIFAR) Classes() []string { return c.ClassNames }

// Load returns a copy of image i.
func (c *CIFAR) Load(i int) (*imaging.RGB, error) {
	if i < 0 || i >= c.Len() {
		return nil, fmt.Errorf("data: CIFAR image %d out of range [0, %d)", i, c.Len())
	}
	img := imaging.NewRGB(32, 32)
	copy(img.Pix, c.Pix[i*cifarImageBytes:(i+1)*cifarImageBytes])
	return img, nil
}

// Path names image i as "<batch file>#<record index in that file>".
func (c *CIFAR) Path(i int) string {
	for s := len(c.sources) - 1; s >= 0; s-- {
		if i >= c.sources[s].first {
			return fmt.Sprintf("%s#%d", c.sources[s].file, i-c.sources[s].first)
		}
	}
	return fmt.Sprintf("#%d", i)
}

// planarToHWC appends n images stored as CIFAR's R, G, B planes to dst in
// HWC order, like torchvision's reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).
func planarToHWC(dst, src []uint8) []uint8 {
	for len(src) >= cifarImageBytes {
		img := src[:cifarImageBytes]
		r, g, b := img[:1024], img[1024:2048], img[2048:3072]
		for p := 0; p < 1024; p++ {
			dst = append(dst, r[p], g[p], b[p])
		}
		src = src[cifarImageBytes:]
	}
	return dst
}

func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxCIFARFile+1))
	if err != nil {
		return nil, fmt.Errorf("data: reading %s: %w", path, err)
	}
	if len(b) > maxCIFARFile {
		return nil, fmt.Errorf("data: %s is larger than %d bytes", path, maxCIFARFile)
	}
	return b, nil
}

// OpenCIFAR reads CIFAR-10 (classes 10) or CIFAR-100 (classes 100) from
// root, which holds torchvision's python folder (cifar-10-batches-py,
// cifar-100-python) or the binary one (cifar-10-batches-bin,
// cifar-100-binary); the python folder wins when both exist. train selects
// the training batches, else the test batch.
func OpenCIFAR(root string, classes int, train bool) (*CIFAR, error) {
	var pyDir, binDir string
	switch classes {
	case 10:
		pyDir, binDir = "cifar-10-batches-py", "cifar-10-batches-bin"
	case 100:
		pyDir, binDir = "cifar-100-python", "cifar-100-binary"
	default:
		return nil, fmt.Errorf("data: CIFAR has 10 or 100 classes, not %d", classes)
	}
	if isDir(filepath.Join(root, pyDir)) {
		return readCIFARPython(filepath.Join(root, pyDir), classes, train)
	}
	if isDir(filepath.Join(root, binDir)) {
		return readCIFARBinary(filepath.Join(root, binDir), classes, train)
	}
	return nil, fmt.Errorf("data: CIFAR-%d not found: neither %s nor %s exists; download the python version from https://www.cs.toronto.edu/~kriz/cifar.html and unpack it there",
		classes, filepath.Join(root, pyDir), filepath.Join(root, binDir))
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

func readCIFARPython(dir string, classes int, train bool) (*CIFAR, error) {
	var files []string
	metaFile, namesKey, labelsKey := "batches.meta", "label_names", "labels"
	if classes == 10 {
		if train {
			for i := 1; i <= 5; i++ {
				files = append(files, fmt.Sprintf("data_batch_%d", i))
			}
		} else {
			files = []string{"test_batch"}
		}
	} else {
		metaFile, namesKey, labelsKey = "meta", "fine_label_names", "fine_labels"
		if train {
			files = []string{"train"}
		} else {
			files = []string{"test"}
		}
	}
	c := &CIFAR{}
	for _, name := range files {
		path := filepath.Join(dir, name)
		d, err := readPickleDict(path)
		if err != nil {
			return nil, err
		}
		labels, err := d.ints(labelsKey)
		if err != nil {
			return nil, fmt.Errorf("data: %s: %w", path, err)
		}
		raw, err := d.imageData()
		if err != nil {
			return nil, fmt.Errorf("data: %s: %w", path, err)
		}
		if len(raw) != len(labels)*cifarImageBytes {
			return nil, fmt.Errorf("data: %s: %d labels but %d bytes of images (want %d per image)", path, len(labels), len(raw), cifarImageBytes)
		}
		if err := checkLabels(labels, classes); err != nil {
			return nil, fmt.Errorf("data: %s: %w", path, err)
		}
		if classes == 100 {
			coarse, err := d.ints("coarse_labels")
			if err != nil {
				return nil, fmt.Errorf("data: %s: %w", path, err)
			}
			if len(coarse) != len(labels) {
				return nil, fmt.Errorf("data: %s: %d coarse labels for %d images", path, len(coarse), len(labels))
			}
			if err := checkLabels(coarse, 20); err != nil {
				return nil, fmt.Errorf("data: %s: coarse %w", path, err)
			}
			c.Coarse = append(c.Coarse, coarse...)
		}
		if names, err := d.strings("filenames"); err == nil {
			c.Filenames = append(c.Filenames, names...)
		}
		if bl, ok := d.m["batch_label"].(string); ok {
			c.BatchLabels = append(c.BatchLabels, bl)
		}
		c.sources = append(c.sources, cifarSource{file: path, first: len(c.Labels)})
		c.Labels = append(c.Labels, labels...)
		c.Pix = planarToHWC(c.Pix, raw)
	}
	if len(c.Filenames) != len(c.Labels) {
		c.Filenames = nil
	}
	metaPath := filepath.Join(dir, metaFile)
	meta, err := readPickleDict(metaPath)
	if err != nil {
		return nil, err
	}
	if c.ClassNames, err = meta.strings(namesKey); err != nil {
		return nil, fmt.Errorf("data: %s: %w", metaPath, err)
	}
	if len(c.ClassNames) != classes {
		return nil, fmt.Errorf("data: %s: %d class names, want %d", metaPath, len(c.ClassNames), classes)
	}
	if classes == 100 {
		c.CoarseNames, _ = meta.strings("coarse_label_names")
	}
	return c, nil
}

func checkLabels(labels []int, classes int) error {
	for i, l := range labels {
		if l < 0 || l >= classes {
			return fmt.Errorf("label %d of image %d outside [0, %d)", l, i, classes)
		}
	}
	return nil
}

func readPickleDict(path string) (*pyDict, error) {
	b, err := readLimited(path)
	if err != nil {
		return nil, err
	}
	v, err := unpickle(b)
	if err != nil {
		return nil, fmt.Errorf("data: %s: %w", path, err)
	}
	d, ok := v.(*pyDict)
	if !ok {
		return nil, fmt.Errorf("data: %s: pickle holds a %T, want a dict", path, v)
	}
	return d, nil
}

func (d *pyDict) ints(key string) ([]int, error) {
	l, ok := d.m[key].(*pyList)
	if !ok {
		return nil, fmt.Errorf("key %q: not a list (%T)", key, d.m[key])
	}
	out := make([]int, len(l.items))
	for i, v := range l.items {
		x, ok := v.(int64)
		if !ok || x < -1<<31 || x >= 1<<31 {
			return nil, fmt.Errorf("key %q: item %d is %v, not an int", key, i, v)
		}
		out[i] = int(x)
	}
	return out, nil
}

func (d *pyDict) strings(key string) ([]string, error) {
	l, ok := d.m[key].(*pyList)
	if !ok {
		return nil, fmt.Errorf("key %q: not a list (%T)", key, d.m[key])
	}
	out := make([]string, len(l.items))
	for i, v := range l.items {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("key %q: item %d is a %T, not a string", key, i, v)
		}
		out[i] = s
	}
	return out, nil
}

// imageData returns the "data" entry: a uint8 array of shape [n, 3072] or a
// raw byte string.
func (d *pyDict) imageData() ([]byte, error) {
	switch v := d.m["data"].(type) {
	case *npArray:
		if !v.built {
			return nil, errors.New(`key "data": numpy array without data`)
		}
		if len(v.shape) != 2 || v.shape[1] != cifarImageBytes {
			return nil, fmt.Errorf(`key "data": array shape %v, want [n, %d]`, v.shape, cifarImageBytes)
		}
		return v.data, nil
	case string:
		return []byte(v), nil
	case nil:
		return nil, errors.New(`key "data" missing`)
	default:
		return nil, fmt.Errorf(`key "data" is a %T`, v)
	}
}

func readCIFARBinary(dir string, classes int, train bool) (*CIFAR, error) {
	var files []string
	rec := 1 + cifarImageBytes
	if classes == 10 {
		if train {
			for i := 1; i <= 5; i++ {
				files = append(files, fmt.Sprintf("data_batch_%d.bin", i))
			}
		} else {
			files = []string{"test_batch.bin"}
		}
	} else {
		rec = 2 + cifarImageBytes // coarse label, fine label, pixels
		if train {
			files = []string{"train.bin"}
		} else {
			files = []string{"test.bin"}
		}
	}
	c := &CIFAR{}
	for _, name := range files {
		path := filepath.Join(dir, name)
		b, err := readLimited(path)
		if err != nil {
			return nil, err
		}
		if len(b)%rec != 0 {
			return nil, fmt.Errorf("data: %s: %d bytes is not a whole number of %d-byte records", path, len(b), rec)
		}
		c.sources = append(c.sources, cifarSource{file: path, first: len(c.Labels)})
		for ; len(b) > 0; b = b[rec:] {
			label := int(b[rec-cifarImageBytes-1])
			if label >= classes {
				return nil, fmt.Errorf("data: %s: record %d has label %d, want < %d", path, len(c.Labels)-c.sources[len(c.sources)-1].first, label, classes)
			}
			if classes == 100 {
				if b[0] >= 20 {
					return nil, fmt.Errorf("data: %s: coarse label %d, want < 20", path, b[0])
				}
				c.Coarse = append(c.Coarse, int(b[0]))
			}
			c.Labels = append(c.Labels, label)
			c.Pix = planarToHWC(c.Pix, b[rec-cifarImageBytes:rec])
		}
	}
	var err error
	if classes == 10 {
		c.ClassNames, err = readNameList(filepath.Join(dir, "batches.meta.txt"), 10)
	} else {
		c.ClassNames, err = readNameList(filepath.Join(dir, "fine_label_names.txt"), 100)
		if err == nil {
			c.CoarseNames, _ = readNameList(filepath.Join(dir, "coarse_label_names.txt"), 20)
		}
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

// readNameList reads one name per line, skipping blank lines.
func readNameList(path string, want int) ([]string, error) {
	b, err := readLimited(path)
	if err != nil {
		return nil, err
	}
	var names []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if s := strings.TrimSpace(sc.Text()); s != "" {
			names = append(names, s)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("data: %s: %w", path, err)
	}
	if len(names) != want {
		return nil, fmt.Errorf("data: %s: %d names, want %d", path, len(names), want)
	}
	return names, nil
}
