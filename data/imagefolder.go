package data

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"plp/imaging"
)

// ImageExtensions are torchvision's IMG_EXTENSIONS; a file is an image when
// its lower-cased name ends with one of them.
var ImageExtensions = []string{".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp"}

// ImageFolder is torchvision 0.14's ImageFolder: one class per directory
// under the root, samples in torchvision's order, images decoded to RGB on
// Load.
type ImageFolder struct {
	Root       string
	ClassNames []string
	// Files are the samples' paths relative to Root, with '/' separators.
	Files  []string
	Labels []int
}

// Len is the number of samples.
func (f *ImageFolder) Len() int { return len(f.Files) }

// Label is sample i's class index.
func (f *ImageFolder) Label(i int) int { return f.Labels[i] }

// Classes are the class folder names, sorted.
func (f *ImageFolder) Classes() []string { return f.ClassNames }

// Path is sample i's file path (Root joined with the relative path).
func (f *ImageFolder) Path(i int) string {
	return filepath.Join(f.Root, filepath.FromSlash(f.Files[i]))
}

// Load decodes sample i to RGB the way Pillow's Image.open(f).convert('RGB')
// does; errors name the file.
func (f *ImageFolder) Load(i int) (*imaging.RGB, error) {
	if i < 0 || i >= f.Len() {
		return nil, fmt.Errorf("data: sample %d out of range [0, %d)", i, f.Len())
	}
	return imaging.DecodeFile(f.Path(i))
}

// hasImageExtension is torchvision's has_file_allowed_extension.
func hasImageExtension(name string) bool {
	lower := strings.ToLower(name)
	for _, ext := range ImageExtensions {
		if strings.HasSuffix(lower, ext) {
			return true
		}
	}
	return false
}

// OpenImageFolder lists root like torchvision's ImageFolder(root):
//   - classes are the directories directly under root (hidden ones too; files
//     at the root are ignored), sorted by code point;
//   - each class directory is walked following symlinks, the directories in
//     sorted path order (so "sub-2" precedes "sub/deeper", as Python's
//     sorted(os.walk(...)) gives) and the files of each directory sorted by
//     name;
//   - a file is a sample when hasImageExtension says so;
//   - a class without any sample is an error, as in torchvision.
func OpenImageFolder(root string) (*ImageFolder, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("data: image folder: %w", err)
	}
	var classes []string
	for _, e := range entries {
		if isDirEntry(root, e) {
			classes = append(classes, e.Name())
		}
	}
	if len(classes) == 0 {
		return nil, fmt.Errorf("data: couldn't find any class folder in %s", root)
	}
	sort.Strings(classes)
	f := &ImageFolder{Root: root, ClassNames: classes}
	var empty []string
	for ci, class := range classes {
		dirs, err := walkDirs(root, class)
		if err != nil {
			return nil, err
		}
		n := 0
		for _, d := range dirs {
			for _, name := range d.files {
				if hasImageExtension(name) {
					f.Files = append(f.Files, d.rel+"/"+name)
					f.Labels = append(f.Labels, ci)
					n++
				}
			}
		}
		if n == 0 {
			empty = append(empty, class)
		}
	}
	if len(empty) > 0 {
		return nil, fmt.Errorf("data: %s: Found no valid file for the classes %s. Supported extensions are: %s",
			root, strings.Join(empty, ", "), strings.Join(ImageExtensions, ", "))
	}
	return f, nil
}

// isDirEntry reports whether e is a directory, following a symlink like
// Python's DirEntry.is_dir().
func isDirEntry(parent string, e os.DirEntry) bool {
	if e.Type()&os.ModeSymlink != 0 {
		st, err := os.Stat(filepath.Join(parent, e.Name()))
		return err == nil && st.IsDir()
	}
	return e.IsDir()
}

type walkedDir struct {
	rel   string // relative to the dataset root, '/'-separated
	files []string
}

// walkDirs lists every directory under root/class (itself included) with
// its non-directory entries, sorted like sorted(os.walk(...)). Symlinked
// directories are followed; one that leads back to a directory already on
// the current path is not entered again, which ends cycles.
func walkDirs(root, class string) ([]walkedDir, error) {
	var out []walkedDir
	var walk func(rel string, ancestors []os.FileInfo) error
	walk = func(rel string, ancestors []os.FileInfo) error {
		abs := filepath.Join(root, filepath.FromSlash(rel))
		st, err := os.Stat(abs)
		if err != nil {
			return fmt.Errorf("data: image folder: %w", err)
		}
		for _, a := range ancestors {
			if os.SameFile(a, st) {
				return nil
			}
		}
		entries, err := os.ReadDir(abs)
		if err != nil {
			return fmt.Errorf("data: image folder: %w", err)
		}
		d := walkedDir{rel: rel}
		var subdirs []string
		for _, e := range entries {
			if isDirEntry(abs, e) {
				subdirs = append(subdirs, e.Name())
			} else {
				d.files = append(d.files, e.Name())
			}
		}
		sort.Strings(d.files)
		out = append(out, d)
		for _, s := range subdirs {
			if err := walk(rel+"/"+s, append(ancestors, st)); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(class, nil); err != nil {
		return nil, err
	}
	// Python sorts the walk's (dirpath, ...) tuples by dirpath string.
	sort.SliceStable(out, func(i, j int) bool { return out[i].rel < out[j].rel })
	return out, nil
}
