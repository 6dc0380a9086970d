package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"plp/data"
	"plp/spelling"
)

// storeHint explains a missing split of an embedding store by what the store does hold: the closest
// dataset or model folder names, or the list of them. "" when the store folder itself is missing.
func storeHint(store, dataset, model string) string {
	dirs := func(p string) []string {
		ents, err := os.ReadDir(p)
		if err != nil {
			return nil
		}
		var out []string
		for _, e := range ents {
			if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
				out = append(out, e.Name())
			}
		}
		return out
	}
	sets := dirs(store)
	if len(sets) == 0 {
		return ""
	}
	ds := data.ModelDirName(dataset)
	if !slices.Contains(sets, ds) {
		if h := spelling.Hint(ds, sets); h != "" {
			return fmt.Sprintf(" (the store has no %s%s)", ds, h)
		}
		return fmt.Sprintf(" (the store holds %s)", strings.Join(sets, ", "))
	}
	models := dirs(filepath.Join(store, ds))
	md := data.ModelDirName(model)
	if len(models) > 0 && !slices.Contains(models, md) {
		if h := spelling.Hint(md, models); h != "" {
			return fmt.Sprintf(" (no embeddings of %s under %s%s)", md, ds, h)
		}
		return fmt.Sprintf(" (%s holds embeddings of %s)", ds, strings.Join(models, ", "))
	}
	return ""
}
