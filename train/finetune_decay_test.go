package train

import (
	"strings"
	"testing"

	"plp/tensor"
)

// TestTimmNoWeightDecay checks the default weight-decay split against timm's param_groups_weight_decay
// as finetune.py reaches it: rank ≤ 1 or a ".bias" name is exempt; position embeddings and the class
// token (rank 3 in timm) are decayed, since nn.Sequential hides the ViT's no_weight_decay().
func TestTimmNoWeightDecay(t *testing.T) {
	m := fixtureViT(t)
	no := m.Params().TimmNoWeightDecay()
	for _, v := range m.Params().List() {
		want := v.Value.Rank() <= 1 || strings.HasSuffix(v.Name, ".bias")
		if no[v] != want {
			t.Errorf("%s (rank %d): exempt %v, want %v", v.Name, v.Value.Rank(), no[v], want)
		}
	}
	for _, name := range []string{"pos_embed", "cls_token", "blocks.0.attn.qkv.weight"} {
		if v := m.Params().Get(name); v == nil || no[v] {
			t.Errorf("%s must be decayed", name)
		}
	}
	for _, name := range []string{"norm.weight", "blocks.0.norm1.weight", "blocks.0.attn.qkv.bias"} {
		if v := m.Params().Get(name); v == nil || !no[v] {
			t.Errorf("%s must be exempt", name)
		}
	}

	// The finetuner's optimizer uses that split by default, all parameters with DecayAll, the wider
	// name-based one with NoDecayBiasNorm; the head's bias is exempt unless DecayAll.
	cfg := smallConfig()
	for _, c := range []struct {
		decayAll, byName bool
		want             func(*Var) bool
	}{
		{false, false, func(v *Var) bool { return no[v] || v.Name == "finetune_head.bias" }},
		{true, false, func(*Var) bool { return false }},
		{false, true, func(v *Var) bool { return m.Params().NoWeightDecay()[v] || v.Name == "finetune_head.bias" }},
	} {
		cfg.DecayAll, cfg.NoDecayBiasNorm = c.decayAll, c.byName
		m = fixtureViT(t)
		no = m.Params().TimmNoWeightDecay()
		f, err := NewFinetuner(m, cfg, tensor.CPU{})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range f.params {
			if got := f.opt.cfg.NoDecay[v]; got != c.want(v) {
				t.Errorf("decayAll=%v byName=%v: %s exempt %v", c.decayAll, c.byName, v.Name, got)
			}
		}
	}
}
