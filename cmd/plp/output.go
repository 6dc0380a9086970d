package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// plp's output rule, the same for every command: outputs are written to a temporary name and renamed into
// place (package atomicfile), an existing output is refused unless --overwrite is given (resume flags
// aside), and files of an earlier run that this run would not rewrite (plots, images) are removed first.

// refuseExisting returns an error naming the first of paths that exists, unless --overwrite was given.
func refuseExisting(c *Context, paths ...string) error {
	if c.Bool("overwrite") {
		return nil
	}
	var found []string
	for _, p := range paths {
		if _, err := os.Lstat(p); err == nil {
			found = append(found, p)
		}
	}
	switch len(found) {
	case 0:
		return nil
	case 1:
		return fmt.Errorf("%s already exists: pass --overwrite to replace it", found[0])
	}
	return fmt.Errorf("%s and %d more outputs of an earlier run exist: pass --overwrite to replace them", found[0], len(found)-1)
}

// removeStale deletes outputs of an earlier run (files or whole folders) before they are rewritten, so that
// no plot or image of that run survives next to this run's.
func removeStale(paths ...string) error {
	for _, p := range paths {
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("removing the earlier run's %s: %w", p, err)
		}
	}
	return nil
}

// setAside moves the outputs of an earlier run that exist out of the way, into a hidden folder next to the
// first of them, so that this run's files cannot mix with them. keep(true) deletes them once this run has
// written its own; keep(false) puts them back, so that a failed run loses nothing that was there.
func setAside(paths ...string) (keep func(replaced bool), err error) {
	var moved [][2]string
	var tmp string
	restore := func() {
		for _, m := range moved {
			os.RemoveAll(m[0])
			os.Rename(m[1], m[0])
		}
		if tmp != "" {
			os.RemoveAll(tmp)
		}
	}
	for _, p := range paths {
		if _, err := os.Lstat(p); err != nil {
			continue
		}
		if tmp == "" {
			if tmp, err = os.MkdirTemp(filepath.Dir(p), ".plp-earlier-run-"); err != nil {
				return nil, err
			}
		}
		dst := filepath.Join(tmp, fmt.Sprintf("%d-%s", len(moved), filepath.Base(p)))
		if err := os.Rename(p, dst); err != nil {
			restore()
			return nil, fmt.Errorf("moving the earlier run's %s aside: %w", p, err)
		}
		moved = append(moved, [2]string{p, dst})
	}
	return func(replaced bool) {
		if !replaced {
			restore()
			return
		}
		if tmp != "" {
			os.RemoveAll(tmp)
		}
	}, nil
}

// createdDir makes dir (and its parents) and returns a cleanup that removes what this call created if the
// run fails, so that a failed run leaves no empty output folder behind. A folder that existed is kept.
func createdDir(dir string) (cleanup func(failed bool), err error) {
	var first string // the outermost folder this call creates
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		first = d
		if parent := filepath.Dir(d); parent == d {
			break
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return func(failed bool) {
		if failed && first != "" && isEmptyTree(first) {
			os.RemoveAll(first)
		}
	}, nil
}

// isEmptyTree reports whether dir holds no files, only (possibly nested) empty folders.
func isEmptyTree(dir string) bool {
	empty := true
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			empty = false
			return filepath.SkipAll
		}
		return nil
	})
	return empty
}

// describeDiff lists the keys whose values differ between two flat JSON-like maps, for errors that refuse
// to resume a run with other settings.
func describeDiff(old, cur map[string]any) string {
	var diffs []string
	for k, v := range cur {
		if fmt.Sprint(old[k]) != fmt.Sprint(v) {
			diffs = append(diffs, fmt.Sprintf("%s %v (was %v)", k, v, old[k]))
		}
	}
	if len(diffs) == 0 {
		return ""
	}
	slices.Sort(diffs)
	return strings.Join(diffs, ", ")
}
