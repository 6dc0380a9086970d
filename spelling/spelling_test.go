package spelling

import (
	"slices"
	"testing"
)

func TestDistance(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"embed", "embed", 0},
		{"embd", "embed", 1},
		{"ebmed", "embed", 1}, // one transposition
		{"kitten", "sitting", 3},
		{"", "abc", 3},
		{"größe", "grosse", 3}, // ß is one rune, ss two,
	} {
		if got := Distance(c.a, c.b); got != c.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
		if got := Distance(c.b, c.a); got != c.want {
			t.Errorf("Distance(%q, %q) = %d, want %d (symmetry)", c.b, c.a, got, c.want)
		}
	}
}

func TestClosest(t *testing.T) {
	models := []string{"openclip_ViT-B-16/openai", "openclip_ViT-L-14/openai", "openclip_RN50/openai", "timm_resnet50"}
	for _, c := range []struct {
		word       string
		candidates []string
		want       []string
	}{
		{"openclip_ViT-B16/openai", models, []string{"openclip_ViT-B-16/openai"}},
		{"openclip_vit-b-16/OPENAI", models, []string{"openclip_ViT-B-16/openai"}},
		{"cifar10", []string{"CIFAR10", "CIFAR100", "IN1K"}, []string{"CIFAR10", "CIFAR100"}},
		{"embd", []string{"embed", "eval", "merge", "models"}, []string{"embed"}},
		{"zzzzzz", []string{"embed", "eval"}, nil},
	} {
		if got := Closest(c.word, c.candidates, 3); !slices.Equal(got, c.want) {
			t.Errorf("Closest(%q) = %q, want %q", c.word, got, c.want)
		}
	}
	if h := Hint("embd", []string{"embed", "eval"}); h != "; did you mean embed?" {
		t.Errorf("Hint = %q", h)
	}
	if h := Hint("qqqqqq", []string{"embed"}); h != "" {
		t.Errorf("Hint with no match = %q, want empty", h)
	}
}
