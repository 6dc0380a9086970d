package zoo

import (
	"strings"
	"testing"
)

// TestTimmIN1KClassifiers checks the registry entries of the paper's Baseline 1: ImageNet-21k models
// fine-tuned on ImageNet-1k, with their 1000-class heads, at the size their timm names say.
func TestTimmIN1KClassifiers(t *testing.T) {
	for _, c := range []struct {
		name, arch string
		size, dim  int
	}{
		{"timm_convnext_base_in22ft1k", "convnext", 224, 1024},
		{"timm_convnext_base_384_in22ft1k", "convnext", 384, 1024},
		{"timm_convnext_large_in22ft1k", "convnext", 224, 1536},
		{"timm_convnext_large_384_in22ft1k", "convnext", 384, 1536},
		{"timm_vit_large_patch16_224", "vit", 224, 1024},
		{"timm_vit_base_patch16_384", "vit", 384, 768},
		{"timm_vit_large_patch16_384", "vit", 384, 1024},
		{"timm_beit_large_patch16_224_in22ft1k", "beit", 224, 1024},
		{"timm_beit_large_patch16_384_in22ft1k", "beit", 384, 1024},
	} {
		s, ok := Lookup(c.name)
		if !ok {
			t.Errorf("%s is not registered", c.name)
			continue
		}
		cfg := s.Config.(*TimmConfig)
		if err := cfg.Validate(); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		if cfg.Arch() != c.arch || cfg.ImageSize() != c.size || cfg.EmbedDim() != c.dim || cfg.NumClasses() != 1000 {
			t.Errorf("%s: arch %s size %d embed %d classes %d, want %s %d %d 1000", c.name, cfg.Arch(), cfg.ImageSize(), cfg.EmbedDim(), cfg.NumClasses(), c.arch, c.size, c.dim)
		}
		if !strings.Contains(s.Checkpoint.HFHub, "in1k") || !strings.Contains(s.Checkpoint.HFHub, s.Pretrained) {
			t.Errorf("%s: hub %q, tag %q", c.name, s.Checkpoint.HFHub, s.Pretrained)
		}
		if c.size == 384 && !strings.Contains(s.Checkpoint.HFHub, "384") {
			t.Errorf("%s: hub %q is not a 384-pixel checkpoint", c.name, s.Checkpoint.HFHub)
		}
	}
}

// TestPaperLoadsTimmModels checks the registry against the paper's load_backbone and timm_utils.py:
// every timm model of its lists is preprocessed with plain224, and the iBOT names fetch the
// checkpoints it downloads.
func TestPaperLoadsTimmModels(t *testing.T) {
	for _, n := range []string{"timm_vit_small_patch16_224", "timm_vit_base_patch16_224", "timm_vit_large_patch16_224",
		"timm_vit_large_patch16_224_in21k", "timm_vit_huge_patch14_224_in21k", "timm_resnet50", "timm_convnext_base_in22k"} {
		if s, ok := Lookup(n); !ok || s.Preprocess.Transform != "plain224" {
			t.Errorf("%s: preprocess %+v, want plain224", n, s.Preprocess)
		}
	}
	for n, url := range map[string]string{
		"ibot_vit_large":       "vitl_16_rand_mask/checkpoint_teacher.pth",
		"ibot_vit_large_in21k": "vitl_16_pt22k/checkpoint_student.pth",
	} {
		if s, ok := Lookup(n); !ok || !strings.HasSuffix(s.Checkpoint.URL, url) || !strings.HasSuffix(url, s.Checkpoint.Files[0]) {
			t.Errorf("%s: checkpoint %+v, want %s", n, s.Checkpoint, url)
		}
	}
}
