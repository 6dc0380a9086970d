package main

import (
	"strings"
	"testing"
)

// TestSuggestions types model and dataset names as people do: the error names what they meant.
func TestSuggestions(t *testing.T) {
	out := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"embed", "--model", "openclip_ViT-B16/openai", "--weights", "w.safetensors", "--dataset", "CIFAR10", "--data-root", "../../data/testdata", "--out", out},
			"did you mean openclip_ViT-B-16/openai?"},
		{[]string{"embed", "--model", "configs/missing.json", "--weights", "w.safetensors", "--dataset", "CIFAR10", "--data-root", "../../data/testdata", "--out", out},
			"config file configs/missing.json: no such file"},
		{[]string{"embed", "--model", fixtureDir + "openclip_vit_quickgelu.json", "--weights", "w.safetensors", "--dataset", "cifar10", "--out", out},
			"did you mean CIFAR10?"},
		{[]string{"models", "ViT-B16/openai"}, "did you mean openclip_ViT-B-16/openai?"},
	} {
		_, err := runPLP(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("plp %s: %v, want an error containing %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
}
