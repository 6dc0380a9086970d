package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConvertThenParity converts a torch.save file of the timm_vit_token fixture's state dict (written by
// PyTorch 1.13) to safetensors and checks that the converted weights reproduce timm's reference outputs.
func TestConvertThenParity(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"timm_vit_token.json", "timm_vit_token_io.safetensors"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "zoo", "testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, err := runApp(t, "convert", "testdata/convert/timm_vit_token.pt", filepath.Join(dir, "timm_vit_token.safetensors"))
	if err != nil {
		t.Fatalf("convert: %v\n%s", err, out)
	}
	out, err = runApp(t, "parity", filepath.Join(dir, "timm_vit_token.json"))
	if err != nil {
		t.Fatalf("parity on converted weights: %v\n%s", err, out)
	}
	if !strings.Contains(out, `"tensor":"features"`) || strings.Contains(out, `"ok":false`) {
		t.Fatalf("parity output does not show passing features:\n%s", out)
	}
}
