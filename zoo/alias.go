package zoo

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"plp/spelling"
)

// aliases maps the libraries' own spellings of the registered models to registry names: open_clip's
// "ARCH/TAG" (ViT-B-16/openai, ViT-B-16/laion2b_s34b_b88k) and timm's model names (vit_base_patch16_224,
// vit_base_patch16_224.augreg2_in21k_ft_in1k, timm/vit_base_patch16_224.augreg2_in21k_ft_in1k). A spelling
// that fits several registered models maps to all of them and is refused as ambiguous.
var aliases = sync.OnceValue(func() map[string][]string {
	out := map[string][]string{}
	for _, name := range Names() {
		for _, a := range specAliases(registry[name]) {
			if a != name && !slices.Contains(out[a], name) {
				out[a] = append(out[a], name)
			}
		}
	}
	return out
})

// specAliases lists the spellings of s that open_clip or timm users type.
func specAliases(s *Spec) []string {
	var out []string
	switch s.Config.(type) {
	case *OpenCLIPConfig:
		if short, ok := strings.CutPrefix(s.Name, "openclip_"); ok {
			out = append(out, short) // ViT-B-16/openai, ViT-B-16/laion2b
		}
		if s.Pretrained != "" {
			out = append(out, s.Arch+"/"+s.Pretrained) // open_clip's full tag: ViT-B-16/laion2b_s34b_b88k
		}
	case *TimmConfig:
		hub, isTimm := strings.CutPrefix(s.Checkpoint.HFHub, "timm/")
		if !isTimm {
			break // the self-supervised releases (MAE, MSN, iBOT) have no timm name
		}
		out = append(out, hub, s.Checkpoint.HFHub)
		if arch, _, ok := strings.Cut(hub, "."); ok {
			out = append(out, arch) // vit_base_patch16_224
		}
		if short, ok := strings.CutPrefix(s.Name, "timm_"); ok {
			out = append(out, short) // convnext_base_in22k
		}
	}
	return out
}

// Aliases lists the other spellings that Resolve accepts for the registered model name, sorted; a
// spelling shared with another registered model is not among them.
func Aliases(name string) []string {
	var out []string
	for a, names := range aliases() {
		if len(names) == 1 && names[0] == name {
			out = append(out, a)
		}
	}
	slices.Sort(out)
	return out
}

// lookupAlias resolves a library's spelling of a registered model; ambiguous spellings are an error
// naming the candidates.
func lookupAlias(name string) (*Spec, bool, error) {
	names := aliases()[name]
	switch len(names) {
	case 0:
		return nil, false, nil
	case 1:
		s, _ := Lookup(names[0])
		return s, true, nil
	}
	return nil, false, fmt.Errorf("zoo: %q is ambiguous: it may mean %s", name, strings.Join(names, " or "))
}

// looksLikePath reports whether the user meant a config file rather than a model name.
func looksLikePath(s string) bool {
	return strings.EqualFold(filepath.Ext(s), ".json") || filepath.IsAbs(s) ||
		strings.HasPrefix(s, "./") || strings.HasPrefix(s, "../") || strings.HasPrefix(s, "~")
}

// unknownModel explains a name that is neither registered, an alias nor a file: the closest registered
// names (found through their aliases too), or where the list is.
func unknownModel(name string) error {
	spellings := Names()
	for a := range aliases() {
		spellings = append(spellings, a)
	}
	slices.Sort(spellings)
	var hits []string
	for _, c := range spelling.Closest(name, spellings, 6) {
		canon := []string{c}
		if _, registered := registry[c]; !registered {
			canon = aliases()[c]
		}
		for _, n := range canon {
			if !slices.Contains(hits, n) && len(hits) < 3 {
				hits = append(hits, n)
			}
		}
	}
	switch len(hits) {
	case 0:
		return fmt.Errorf("zoo: unknown model %q: not a registered name (plp models lists them) nor a config file", name)
	case 1:
		return fmt.Errorf("zoo: unknown model %q; did you mean %s?", name, hits[0])
	}
	return fmt.Errorf("zoo: unknown model %q; did you mean one of %s?", name, strings.Join(hits, ", "))
}

// Canonical returns the registry name that name stands for: the name itself when registered, the one model
// an alias names, or name unchanged (a config file, or nothing known). Store paths and reports use it, so
// `--model ViT-B-16/openai` and `--model openclip_ViT-B-16/openai` find the same embeddings.
func Canonical(name string) string {
	if _, ok := Lookup(name); ok {
		return name
	}
	if names := aliases()[name]; len(names) == 1 {
		return names[0]
	}
	return name
}
